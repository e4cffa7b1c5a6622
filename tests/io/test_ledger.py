"""The export ledger: refusal of a second export, file modes, crash safety.

Every test that takes `backend` runs on a SQLite file and on a PostgreSQL database
(skipped without a server: see tests/support/ledger_backends.py).
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime

import pandas as pd
import pytest
from core_helpers import AS_OF, BOOK, CONTRACT, LAYOUT, MONTH, valid_table
from ledger_backends import backend_fixture, pg_ledger_fixture  # noqa: F401 (fixtures)

from xl_pmpm.cli.commands_month import add_commands
from xl_pmpm.cli.parser import Parser
from xl_pmpm.core.errors import ExportRefused
from xl_pmpm.io import files, ledger, workflow
from xl_pmpm.io.ledger import _recording as ledger_files

AT = datetime(2025, 4, 15, 9, 30)
STAGES = ["temp-written", "pending-recorded", "linked", "confirmed"]


def two_contract_table() -> pd.DataFrame:
    table = valid_table(4)
    table.loc[[4, 5], CONTRACT] = "UPR - Hudson Valley MLTC"
    return table


def export(table, tmp_path, where, at=AT, **kw):
    return workflow.export_import_file(
        table,
        tmp_path / "out",
        LAYOUT,
        BOOK,
        month=MONTH,
        as_of=AS_OF,
        at=at,
        ledger=where,
        **kw,
    )


def test_ledger_file_is_private(tmp_path):
    db = tmp_path / "private" / "ledger.sqlite3"
    export(valid_table(2), tmp_path, db)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db.parent).st_mode) == 0o700


def test_history_records_every_member_month(backend, tmp_path):
    table = two_contract_table()
    done = export(table, tmp_path, backend)
    entries = ledger.history(backend)
    assert len(done.files) == 2 and len(entries) == 4
    assert set(entries["status"]) == {"exported"} and set(entries["month"]) == {MONTH}
    assert sorted(entries["line"]) == [2, 3, 4, 5]
    assert list(entries["tier"]) == [1, 1, 1, 1] and set(entries["rate"]) == {146.45}
    for path in done.files:
        mine = entries[entries["file_name"] == path.name]
        assert set(mine["sha256"]) == {ledger.sha256_hex(path.read_bytes())}
        assert len(mine) == path.read_bytes().count(b"\r\n") - 1


def test_same_member_month_twice_is_refused(backend, tmp_path):
    table = valid_table(3)
    export(table, tmp_path, backend)
    again = valid_table(4)  # lines 2-4 are the same members; line 5 is new
    with pytest.raises(ExportRefused) as refused:
        export(again, tmp_path, backend, at=datetime(2025, 4, 16))
    errors = refused.value.report.errors
    assert set(errors["code"]) == {"already-exported"}
    assert sorted(errors["row"]) == [2, 3, 4]
    assert len(ledger.history(backend)) == 3  # nothing recorded
    assert len(list((tmp_path / "out").glob("*.csv"))) == 1  # nothing written
    # Findings without writing: the same answer.
    found = ledger.already_exported(backend, again, MONTH, LAYOUT)
    assert sorted(found["row"]) == [2, 3, 4] and (found["severity"] == "error").all()
    # Another month is not blocked.
    assert ledger.already_exported(backend, again, "2025-02", LAYOUT).empty


def test_corrections_are_let_through(backend, tmp_path):
    export(valid_table(2), tmp_path, backend)
    done = export(valid_table(2), tmp_path, backend, at=datetime(2025, 4, 16), corrections=[2, 3])
    entries = ledger.history(backend)
    assert done.rows == 2 and len(entries) == 4
    assert list(entries["correction"]) == [0, 0, 1, 1]


def test_rejected_entries_do_not_block(backend, tmp_path):
    export(valid_table(2), tmp_path, backend)
    rows = pd.DataFrame(
        {
            "patient_number": ["0001000001"],
            "contract": [valid_table(2).at[3, CONTRACT]],
            "month": [MONTH],
            "reason": ["Invalid Service Code"],
        }
    )
    marked = ledger.mark_rejected(backend, rows, at=datetime(2025, 4, 20))
    assert marked["id"].notna().all()
    entries = ledger.history(backend)
    assert list(entries["status"]) == ["exported", "rejected"]
    assert entries.at[1, "reason"] == "Invalid Service Code"
    found = ledger.already_exported(backend, valid_table(2), MONTH, LAYOUT)
    assert list(found["row"]) == [2]


def _invariant(backend, tmp_path) -> None:
    """Every confirmed entry names a file that exists with its hash; no file lacks entries."""
    entries = ledger.history(backend)
    out = tmp_path / "out"
    for name, group in entries[entries["status"] == "exported"].groupby("file_name"):
        data = (out / name).read_bytes()
        assert set(group["sha256"]) == {ledger.sha256_hex(data)}
        assert len(group) == data.count(b"\r\n") - 1  # the file's entries are complete
    finals = [p for p in out.glob("*.csv")] if out.exists() else []
    confirmed = set(entries.loc[entries["status"] == "exported", "file_name"])
    pending = set(entries.loc[entries["status"] == "pending", "file_name"])
    for p in finals:
        assert p.name in confirmed | pending  # a file on disk is always in the ledger


@pytest.mark.parametrize("stage", STAGES)
def test_crash_between_steps_is_consistent_and_rerun_finishes(
    backend, tmp_path, monkeypatch, stage
):
    table = two_contract_table()

    def crash(at: str) -> None:
        if at == stage:
            raise KeyboardInterrupt(f"killed at {at}")

    monkeypatch.setattr(ledger_files, "_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        export(table, tmp_path, backend)
    _invariant(backend, tmp_path)
    monkeypatch.setattr(ledger_files, "_checkpoint", lambda at: None)

    done = ledger.reconcile_pending(backend, tmp_path / "out")
    entries = ledger.history(backend)
    assert "pending" not in set(entries["status"])
    _invariant(backend, tmp_path)
    assert not list((tmp_path / "out").glob(".*"))  # no temp file left behind
    if stage == "temp-written":  # nothing was recorded: the files never appear
        assert entries.empty and not list((tmp_path / "out").glob("*.csv"))
        assert done.temp_removed and not done.confirmed
        rerun = export(table, tmp_path, backend, at=datetime(2025, 4, 15, 10))
        assert rerun.rows == 4
    else:  # recorded as pending: the batch is finished (files linked, entries confirmed)
        assert len(entries) == 4
        assert done.rolled_forward or done.confirmed or stage == "confirmed"
        with pytest.raises(ExportRefused):  # finished: the rows are already exported
            export(table, tmp_path, backend, at=datetime(2025, 4, 15, 10))
    entries = ledger.history(backend)
    assert len(entries) == 4 and set(entries["status"]) == {"exported"}
    assert len(list((tmp_path / "out").glob("*.csv"))) == 2
    _invariant(backend, tmp_path)


def test_next_export_reconciles_first(backend, tmp_path, monkeypatch):
    def crash(at: str) -> None:
        if at == "pending-recorded":
            raise KeyboardInterrupt

    monkeypatch.setattr(ledger_files, "_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        export(valid_table(2), tmp_path, backend)
    monkeypatch.setattr(ledger_files, "_checkpoint", lambda at: None)
    other = valid_table(4).loc[[4, 5]]  # different members
    done = export(other, tmp_path, backend, at=datetime(2025, 4, 15, 10))
    assert len(done.recovered.rolled_forward) == 1
    entries = ledger.history(backend)
    assert len(entries) == 4 and set(entries["status"]) == {"exported"}
    _invariant(backend, tmp_path)


def test_pending_entry_without_any_file_is_dropped(backend, tmp_path, monkeypatch):
    def crash(at: str) -> None:
        if at == "pending-recorded":
            raise KeyboardInterrupt

    monkeypatch.setattr(ledger_files, "_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        export(valid_table(2), tmp_path, backend)
    for temp in (tmp_path / "out").glob(".*"):
        temp.unlink()  # the temp file is lost too (e.g. the disk was cleaned)
    done = ledger.reconcile_pending(backend)
    assert len(done.dropped) == 1 and ledger.history(backend).empty


def _run(argv: list[str]) -> int:
    parser = Parser()  # the commands are declared for xl-pmpm's parser (example=, group=)
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_history_command(backend, tmp_path, capsys):
    export(two_contract_table(), tmp_path, backend)
    assert _run(["history", "--ledger", str(backend), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["entries"]) == 4 and len(payload["files"]) == 2
    assert _run(["history", "--ledger", str(backend)]) == 0
    text = capsys.readouterr().out
    assert "4 ledger entries" in text and "0001000000" not in text
    assert _run(["history", "--ledger", str(tmp_path / "none.sqlite3")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()


def test_record_export_one_transaction(backend, tmp_path):
    """record_export on its own (files written by someone else): all rows or none."""
    from xl_pmpm.core.export import import_parts
    from xl_pmpm.core.validation import validate_table

    table = valid_table(3)
    report, flags = validate_table(table, LAYOUT, BOOK, month=MONTH, as_of=AS_OF)
    parts = list(import_parts(table, LAYOUT, report, month=MONTH, stamp=AT))
    for p in parts:
        files.write_new_file(tmp_path / "out", p.name, p.data)
    n = ledger.record_export(backend, parts, table, flags, MONTH, AT, layout=LAYOUT)
    assert n == 3 and len(ledger.history(backend)) == 3
    bad = table.drop(columns=[CONTRACT])
    with pytest.raises(KeyError):
        ledger.record_export(backend, parts, bad, flags, MONTH, AT, layout=LAYOUT)
    assert len(ledger.history(backend)) == 3


def deferred(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with its visit times cleared: placeholders (seed 001)."""
    out = table.copy()
    out[[LAYOUT.name_of("visit_start"), LAYOUT.name_of("visit_end")]] = ""
    return out


def test_a_confirmed_row_over_an_exported_placeholder_is_placeholder_open(backend, tmp_path):
    export(deferred(valid_table(2)), tmp_path, backend)
    with pytest.raises(ExportRefused) as refused:
        export(valid_table(3), tmp_path, backend, at=datetime(2025, 4, 16))
    errors = refused.value.report.errors
    assert list(zip(errors["code"], errors["row"], strict=True)) == [
        ("placeholder-open", 2),
        ("placeholder-open", 3),
    ]  # line 4 is a new member: not held
    assert len(ledger.history(backend)) == 2  # nothing recorded
    found = ledger.open_placeholders(backend, valid_table(3), MONTH, LAYOUT)
    assert list(found["row"]) == [2, 3] and (found["severity"] == "error").all()
    # Another placeholder of the same member-month is already-exported, not placeholder-open.
    again = ledger.open_placeholders(backend, deferred(valid_table(2)), MONTH, LAYOUT)
    assert again.empty


def test_only_the_lines_named_as_corrections_are_let_through(backend, tmp_path):
    export(deferred(valid_table(2)), tmp_path, backend)
    with pytest.raises(ExportRefused) as refused:
        export(valid_table(2), tmp_path, backend, at=datetime(2025, 4, 16), corrections=[3])
    errors = refused.value.report.errors
    assert list(zip(errors["code"], errors["row"], strict=True)) == [("placeholder-open", 2)]
    assert len(ledger.history(backend)) == 2


def test_a_correction_of_every_held_row_goes_out_and_names_the_placeholder(backend, tmp_path):
    export(deferred(valid_table(2)), tmp_path, backend)
    export(valid_table(2), tmp_path, backend, at=datetime(2025, 4, 16), corrections=[2, 3])
    entries = ledger.history(backend)
    assert entries["placeholder"].tolist() == [1, 1, 0, 0]
    assert entries["replaces"].tolist()[2:] == entries["id"].tolist()[:2]
    # Once confirmed, the member-month is already exported: no placeholder is open.
    assert ledger.open_placeholders(backend, valid_table(2), MONTH, LAYOUT).empty
    found = ledger.already_exported(backend, valid_table(2), MONTH, LAYOUT)
    assert list(found["row"]) == [2, 3]
