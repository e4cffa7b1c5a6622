"""`xl-pmpm export` and `validate` with the export ledger: refusal, corrections, the lock."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cli_helpers import (  # noqa: F401 (fixtures)
    EXTRACT_ROWS,
    extract_fixture,
    no_env_ledger_fixture,
    run,
)
from filelock import FileLock
from ledger_backends import OLD_V1

from xl_pmpm.io import files, ledger
from xl_pmpm.io.ledger import LEDGER_ENV, LEDGER_NAME, default_ledger

AS_OF = "2026-11-05"
ROWS = EXTRACT_ROWS


def export(capsys, file: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    code, text, err = run(
        capsys, "export", str(file), "--out", str(out), "--as-of", AS_OF, "--format", "json", *extra
    )
    return code, json.loads(text) if text.strip() else {}, err


def csvs(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.csv")}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_ledger_is_the_agencys_unless_the_env_names_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_ledger() == tmp_path / "data" / "xl-pmpm" / LEDGER_NAME
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "one.sqlite3"))
    assert default_ledger() == tmp_path / "one.sqlite3"


def test_same_member_month_twice_is_refused_then_passes_as_correction(capsys, tmp_path, extract):
    out = tmp_path / "upload"
    code, first, _ = export(capsys, extract, out)
    assert code == 0 and first["rows"] == ROWS
    db = default_ledger()
    assert first["ledger"] == str(db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert len(ledger.history(db)) == ROWS
    written, before = csvs(out), digest(db)

    code, again, _ = export(capsys, extract, out)
    assert code == 1 and again["refused"] is True and again["files"] == []
    assert {e["code"] for e in again["errors"]} == {"already-exported"}
    assert sorted(e["row"] for e in again["errors"]) == list(range(2, ROWS + 2))
    assert csvs(out) == written  # nothing written
    assert digest(db) == before and len(ledger.history(db)) == ROWS  # ledger unchanged

    # Some lines as corrections: the others still block, still nothing written.
    code, partial, _ = export(capsys, extract, out, "--correction", "2,5-6")
    assert code == 1 and len(partial["errors"]) == ROWS - 3
    assert 2 not in {e["row"] for e in partial["errors"]}
    assert csvs(out) == written and digest(db) == before

    code, fixed, _ = export(capsys, extract, out, "--correction", f"2-{ROWS + 1}")
    assert code == 0 and fixed["rows"] == ROWS and fixed["corrections"][:2] == [2, 3]
    assert not set(map(lambda f: Path(f).name, fixed["files"])) & written
    entries = ledger.history(db)
    assert len(entries) == 2 * ROWS
    assert list(entries["correction"]) == [0] * ROWS + [1] * ROWS


def test_entries_read_and_recorded_a_few_at_a_time_bill_each_member_once(
    capsys, tmp_path, extract, monkeypatch
):
    from xl_pmpm.io.ledger import _records as ledger_records

    monkeypatch.setattr(ledger_records, "ENTRY_ROWS", 3)  # a million rows' chunks, in small
    header, *lines = extract.read_bytes().splitlines(keepends=True)
    half = tmp_path / "first-half.csv"
    half.write_bytes(header + b"".join(lines[: ROWS // 2]))
    out = tmp_path / "upload"
    assert export(capsys, half, out)[0] == 0
    entries = ledger.history(default_ledger())
    assert sorted(entries["line"]) == list(range(2, ROWS // 2 + 2))  # every row, once

    code, whole, _ = export(capsys, extract, out)
    assert code == 1 and {e["code"] for e in whole["errors"]} == {"already-exported"}
    assert sorted(e["row"] for e in whole["errors"]) == list(range(2, ROWS // 2 + 2))
    assert len(ledger.history(default_ledger())) == ROWS // 2


def test_refusal_text_hides_member_ids(capsys, tmp_path, extract):
    out = tmp_path / "upload"
    assert export(capsys, extract, out)[0] == 0
    code, text, _ = run(capsys, "export", str(extract), "--out", str(out), "--as-of", AS_OF)
    assert code == 1 and "already-exported" in text and "No file was written" in text
    table = files.read_tier_report(extract, files.load_layout()).table
    for pid in table["Patient Number"]:
        assert pid not in text


def test_validate_with_the_ledger_reports_already_exported(capsys, tmp_path, extract):
    out = tmp_path / "upload"
    db = str(default_ledger())
    code, text, _ = run(capsys, "validate", str(extract), "--as-of", AS_OF, "--ledger", db)
    assert code == 0 and "not there yet" in text
    assert export(capsys, extract, out)[0] == 0
    code, text, _ = run(
        capsys, "validate", str(extract), "--as-of", AS_OF, "--ledger", db, "--format", "json"
    )
    report = json.loads(text)
    assert code == 1 and report["summary"]["already-exported"] == ROWS
    assert {e["code"] for e in report["errors"]} == {"already-exported"}
    code, text, _ = run(capsys, "validate", str(extract), "--as-of", AS_OF)
    assert code == 1 and "already-exported" in text  # the agency's ledger, checked unasked
    code, text, _ = run(
        capsys,
        "validate",
        str(extract),
        "--as-of",
        AS_OF,
        "--ledger",
        db,
        "--correction",
        f"2-{ROWS + 1}",
    )
    assert code == 0 and "Valid" in text


def test_bad_correction_lines_are_usage_errors(capsys, tmp_path, extract):
    out = tmp_path / "upload"
    code, _, err = export(capsys, extract, out, "--correction", "two")
    assert code == 2 and "--correction 'two'" in err and "Traceback" not in err
    code, _, err = export(capsys, extract, out, "--correction", "999")
    assert code == 2 and "999" in err
    code, _, err = export(capsys, extract, out, "--no-ledger", "--correction", "2")
    assert code == 2 and "--no-ledger" in err
    assert not csvs(out) if out.exists() else True


def test_a_held_lock_makes_a_second_export_wait_then_fail(capsys, tmp_path, extract):
    out = tmp_path / "upload"
    db = default_ledger()
    out.mkdir()
    with FileLock(ledger.lock_path(db)):  # the first export, still running
        started = time.monotonic()
        code, payload, err = export(capsys, extract, out, "--wait", "0.5")
        waited = time.monotonic() - started
    assert code == 2 and payload == {}
    assert "Another export" in err and "nothing was written" in err and "Traceback" not in err
    assert waited >= 0.5
    assert not csvs(out) and not db.exists()
    code, payload, _ = export(capsys, extract, out)  # lock released: goes through
    assert code == 0 and payload["rows"] == ROWS


HOLD = textwrap.dedent(
    """
    import sys, time
    from filelock import FileLock
    with FileLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_another_process_holding_the_lock_is_waited_for(capsys, tmp_path, extract):
    out = tmp_path / "upload"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(ledger.lock_path(default_ledger())), "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        code, payload, _ = export(capsys, extract, out, "--wait", "20")
        assert time.monotonic() - started > 0.5  # it waited for the other process
    finally:
        holder.wait(timeout=30)
    assert code == 0 and payload["rows"] == ROWS


def test_two_exports_at_once_bill_each_member_once(tmp_path, extract):
    out = tmp_path / "upload"
    env = {k: v for k, v in os.environ.items() if k != LEDGER_ENV}
    argv = [sys.executable, "-m", "xl_pmpm.cli", "export", str(extract), "--out", str(out)]
    procs = [
        subprocess.Popen(
            [*argv, "--as-of", AS_OF, "--wait", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results  # one exported; the other found the rows already exported
    assert all("Traceback" not in err for _, _, err in results)
    entries = ledger.history(default_ledger())
    assert len(entries) == ROWS and set(entries["status"]) == {"exported"}
    assert entries["patient_number"].is_unique
    exported = sum(len(f.read_bytes().splitlines()) - 1 for f in out.glob("*.csv"))
    assert exported == ROWS


# --- deferred placeholders ---------------------------------------------------------------


def _rows(file: Path, out: Path, name: str, lines: list[int], *, defer: bool) -> Path:
    """A report of some `lines` of `file` (as they are, or deferred: visit times cleared)."""
    layout = files.load_layout()
    table = files.read_tier_report(file, layout).table.loc[lines].copy()
    if defer:
        table[[layout.name_of("visit_start"), layout.name_of("visit_end")]] = ""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_bytes(table.to_csv(index=False, lineterminator="\r\n").encode())
    return path


def test_a_deferred_placeholder_holds_the_confirmed_export_until_said_removed(
    capsys, tmp_path, extract
):
    work, out = tmp_path / "work", tmp_path / "upload"
    db = default_ledger()
    deferred = _rows(extract, work, "deferred.csv", [2, 3, 4], defer=True)
    code, first, _ = export(capsys, deferred, out)
    assert code == 0 and first["rows"] == 3
    assert ledger.history(db)["placeholder"].tolist() == [1, 1, 1]

    # The same placeholders again: still in pre-billing, a second one is refused.
    code, again, _ = export(capsys, deferred, out)
    assert code == 1 and [e["row"] for e in again["errors"]] == [2, 3, 4]
    assert all("exported placeholder" in e["message"] for e in again["errors"])

    # The unbilled hours are billed. A confirmed row over the placeholder would be a second
    # PMPM visit for the month: refused (confirm the placeholder in HHAeXchange instead).
    confirmed = _rows(extract, work, "confirmed.csv", [2, 3], defer=False)
    written, before = csvs(out), digest(db)
    code, held, _ = export(capsys, confirmed, out)
    assert code == 1 and held["files"] == []
    assert [(e["code"], e["row"]) for e in held["errors"]] == [
        ("placeholder-open", 2),
        ("placeholder-open", 3),
    ]
    assert all("second PMPM visit" in e["message"] for e in held["errors"])
    assert csvs(out) == written and digest(db) == before

    # The placeholders were removed in HHAeXchange: exported as corrections, linked to them.
    code, billed, _ = export(capsys, confirmed, out, "--correction", "2,3")
    assert code == 0 and billed["rows"] == 2 and billed["errors"] == []
    entries = ledger.history(db)
    assert entries["placeholder"].tolist() == [1, 1, 1, 0, 0]
    assert (entries["status"] == ledger.EXPORTED).all()
    by_member = entries.set_index(["patient_number", "placeholder"])["id"]
    for _, entry in entries[entries["placeholder"] == 0].iterrows():
        assert entry["replaces"] == by_member[(entry["patient_number"], 1)]
    assert entries.loc[entries["placeholder"] == 1, "replaces"].isna().all()

    # A second confirmed export of a member-month is refused, ledger and folder unchanged.
    written, before = csvs(out), digest(db)
    code, twice, _ = export(capsys, confirmed, out)
    assert code == 1 and twice["files"] == []
    assert [(e["code"], e["row"]) for e in twice["errors"]] == [
        ("already-exported", 2),
        ("already-exported", 3),
    ]
    assert all("exported placeholder" not in e["message"] for e in twice["errors"])
    assert csvs(out) == written and digest(db) == before

    # Once billed, a placeholder of that member-month is refused too.
    code, late, _ = export(capsys, _rows(extract, work, "late.csv", [3], defer=True), out)
    assert code == 1 and [e["row"] for e in late["errors"]] == [2]

    code, text, _ = run(capsys, "history", "--ledger", str(db))
    shown = re.findall(r"(\d+) placeholder\(s\), not billed", text)
    assert code == 0 and sum(int(n) for n in shown) == 3  # per import file (by contract)
    code, text, _ = run(capsys, "kpi", "--ledger", str(db), "--format", "json")
    payload = json.loads(text)
    assert payload["entries"]["exported"] == 2 and payload["entries"]["placeholder"] == 3
    assert sum(r["members"] for r in payload["by_month"]) == 2


def test_a_ledger_from_before_placeholders_is_read_as_is_and_migrated_on_write(
    capsys, tmp_path, extract
):
    import sqlite3

    out = tmp_path / "upload"
    out.mkdir()
    db = out / LEDGER_NAME  # an earlier release's ledger, in the export folder, named
    layout = files.load_layout()
    first = files.read_tier_report(extract, layout).table.loc[2]
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_V1)
        conn.execute(
            "INSERT INTO exports (batch, patient_number, contract, month, directory, "
            "file_name, exported_at, line, sha256, status) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                "old",
                first[layout.name_of("patient_number")],
                first[layout.name_of("contract")],
                "2026-10",
                str(out.resolve()),
                "PMPM_old.csv",
                "2026-11-01T10:00:00",
                2,
                "0" * 64,
                "exported",
            ),
        )
    conn.close()
    before = digest(db)
    code, text, _ = run(capsys, "history", "--ledger", str(db), "--format", "json")
    assert code == 0 and digest(db) == before  # read-only: not migrated by reading
    assert [e["placeholder"] for e in json.loads(text)["entries"]] == [0]

    # The old entry stays confirmed: it blocks its member-month; the rest are exported.
    code, refused, _ = export(capsys, extract, out, "--ledger", str(db))
    assert code == 1 and [e["row"] for e in refused["errors"]] == [2]
    code, done, _ = export(capsys, extract, out, "--ledger", str(db), "--correction", "2")
    assert code == 0 and done["rows"] == ROWS
    entries = ledger.history(db)
    assert len(entries) == ROWS + 1 and entries.at[0, "file_name"] == "PMPM_old.csv"
    assert entries["placeholder"].tolist() == [0] * (ROWS + 1)


@pytest.mark.parametrize("command", ["history", "kpi", "validate", "export", "reconcile"])
def test_another_programs_database_is_never_written_to(capsys, tmp_path, extract, command):
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (member TEXT)")
    conn.close()
    before = digest(other)
    head, first = extract.read_text(encoding="utf-8-sig").splitlines()[:2]
    results = tmp_path / "failed_rows.csv"
    results.write_text(f"{head},Failed Reason\r\n{first},Invalid Service Code\r\n")
    argv = {
        "history": ["history"],
        "kpi": ["kpi"],
        "validate": ["validate", str(extract), "--as-of", AS_OF],
        "export": ["export", str(extract), "--out", str(tmp_path / "up"), "--as-of", AS_OF],
        "reconcile": ["reconcile", str(results)],
    }[command]
    code, out, err = run(capsys, *argv, "--ledger", str(other))
    assert code == 2, (out, err)
    assert f"{other}: Not an xl-pmpm ledger: the database has no exports table." in err
    assert "Traceback" not in err
    assert digest(other) == before
    assert not list((tmp_path / "up").glob("*.csv")) if (tmp_path / "up").exists() else True
