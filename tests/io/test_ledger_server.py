"""A ledger a team shares: PostgreSQL through SQLAlchemy, and what both backends share.

- Two `xl-pmpm export` processes started together on the same member-months, 20
  rounds: exactly one exports each time, the other gets `already-exported`, writes
  nothing.
- The database alone stops a second billing (the lock bypassed): the uniqueness rule
  and the one transaction that checks and records.
- A process killed mid-export leaves no entry without its file and no file without
  its entries.
- An unreachable server, a refused password, a missing database or table: exit 2,
  saying which, nothing exported, no password anywhere.
- history / kpi / validate --ledger / reconcile give the same answers on both backends.
- `ledger backup`, schema upgrades of current-release SQLite ledgers, the network-path
  warning, the workbook's Settings URL without a password.

The PostgreSQL cases need the server of .ci/postgres.sh (skipped without it).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from cli_helpers import (  # noqa: F401 (fixtures)
    EXTRACT_ROWS,
    extract_fixture,
    no_env_ledger_fixture,
    run,
)
from core_helpers import AS_OF, BOOK, LAYOUT, MONTH, valid_table
from ledger_backends import (  # noqa: F401 (fixtures)
    OLD_V1,
    OLD_V2,
    OLD_V2_REPLACES,
    PG_ENV,
    backend_fixture,
    drop_database,
    needs_postgres,
    new_database,
    pg_ledger_fixture,
)
from test_crash import each_kill

from xl_pmpm.cli import app as cli
from xl_pmpm.core.errors import ExportRefused
from xl_pmpm.io import ledger, workflow
from xl_pmpm.io.ledger import LEDGER_ENV
from xl_pmpm.io.ledger import _address as ledger_address
from xl_pmpm.io.ledger import _db as ledger_db
from xl_pmpm.io.ledger import _lock as ledger_lock
from xl_pmpm.io.ledger import _recording as ledger_files

EXTRACT_AS_OF = "2026-11-05"
ROWS = EXTRACT_ROWS
ROUNDS = 20


def csv_rows(folder: Path) -> int:
    return sum(len(f.read_bytes().splitlines()) - 1 for f in folder.glob("*.csv"))


def consistent(db: str | Path, folders: list[Path]) -> None:
    """No entry without its file, no file without its entries (pending ones count)."""
    entries = ledger.history(db)
    for (directory, name), group in entries.groupby(["directory", "file_name"]):
        final = Path(directory) / name
        if (group["status"] == "exported").any():
            data = final.read_bytes()
            assert set(group["sha256"]) == {ledger.sha256_hex(data)}
            assert len(group) == data.count(b"\r\n") - 1
    recorded = set(zip(entries["directory"], entries["file_name"], strict=True))
    for folder in folders:
        for f in folder.glob("*.csv") if folder.exists() else []:
            assert (str(f.parent.resolve()), f.name) in recorded, f"{f.name} has no entries"
            mine = entries[(entries["file_name"] == f.name)]
            assert len(mine) == f.read_bytes().count(b"\r\n") - 1


# --- concurrency -----------------------------------------------------------------------


def _export_process(extract: Path, out: Path, url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != LEDGER_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "xl_pmpm.cli", "export", str(extract), "--out", str(out)]
        + ["--ledger", url, "--as-of", EXTRACT_AS_OF, "--wait", "60", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _export_forked(extract: Path, out: Path, logs: Path, url: str) -> int:
    """`xl-pmpm export` in a child forked from this process (pid): a process of its own
    with its own connections and locks, without paying Python's start-up again."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.environ.pop(LEDGER_ENV, None)
            sys.stdout = open(logs.with_suffix(".out"), "w", encoding="utf-8")  # noqa: SIM115
            sys.stderr = open(logs.with_suffix(".err"), "w", encoding="utf-8")  # noqa: SIM115
            code = cli.main(
                ["export", str(extract), "--out", str(out), "--ledger", url]
                + ["--as-of", EXTRACT_AS_OF, "--wait", "60", "--format", "json"]
            )
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def _finished(pid: int, logs: Path, timeout: float = 180) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of a forked export."""
    deadline = time.monotonic() + timeout
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"export {pid} still running after {timeout} s")
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(done[1])
    read = [logs.with_suffix(s).read_text(encoding="utf-8") for s in (".out", ".err")]
    return code, read[0], read[1]


@needs_postgres
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_two_exports_at_once_on_postgresql_give_one_winner_every_round(
    tmp_path, extract, pg_ledger
):
    """Two export processes forked together (separate processes, connections and
    locks; the package already imported, so each round costs the exports, not two
    Python start-ups: `test_killed_at_random_moments_on_postgresql` starts real ones)."""
    engine = sa.create_engine(ledger_address.address(pg_ledger).url, poolclass=sa.pool.NullPool)
    figures = []
    for n in range(ROUNDS):
        with engine.begin() as conn:  # each round starts from an empty ledger
            conn.execute(sa.delete(ledger_db.exports))
        outs = [tmp_path / f"round{n}" / who for who in ("a", "b")]
        logs = [tmp_path / f"round{n}_{who}" for who in ("a", "b")]
        started = time.monotonic()
        pids = [_export_forked(extract, *both, pg_ledger) for both in zip(outs, logs, strict=True)]
        results = [_finished(pid, log) for pid, log in zip(pids, logs, strict=True)]
        figures.append(time.monotonic() - started)
        codes = [code for code, _, _ in results]
        assert sorted(codes) == [0, 1], results
        assert all("Traceback" not in err for _, _, err in results)
        winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
        lost = json.loads(results[loser][1])
        assert lost["refused"] is True and lost["files"] == []
        assert {e["code"] for e in lost["errors"]} == {"already-exported"}
        assert len(lost["errors"]) == ROWS
        assert csv_rows(outs[winner]) == ROWS
        assert not outs[loser].exists() or not list(outs[loser].iterdir())  # nothing written
        entries = ledger.history(pg_ledger)
        assert len(entries) == ROWS and set(entries["status"]) == {"exported"}
        assert entries["patient_number"].is_unique
    engine.dispose()
    print(
        f"\n{ROUNDS} rounds of two concurrent exports: {ROUNDS} single winners, "
        f"{ROUNDS} already-exported losers; per round {min(figures):.2f}-{max(figures):.2f} s"
    )


def test_the_database_alone_stops_a_second_billing(backend, tmp_path, monkeypatch):
    """No lock: both exports pass the first check, the database lets one record."""
    monkeypatch.setattr(ledger_lock, "locked", lambda *a, **k: contextlib.nullcontext())
    table = valid_table(3)
    workflow.export_import_file(  # the ledger exists, the month is still free for lines 2-4
        valid_table(5).loc[[6]], tmp_path / "first", LAYOUT, BOOK,
        month=MONTH, as_of=AS_OF, at=datetime(2025, 4, 15), ledger=backend,
    )  # fmt: skip
    rounds = 5
    for n in range(rounds):
        both_checked = threading.Barrier(2, timeout=60)
        monkeypatch.setattr(
            ledger_files,
            "_checkpoint",
            lambda stage, b=both_checked: b.wait() if stage == "temp-written" else None,
        )
        outcome: dict[str, object] = {}

        def one(who: str, n=n, outcome=outcome) -> None:
            try:
                outcome[who] = workflow.export_import_file(
                    table,
                    tmp_path / f"r{n}" / who,
                    LAYOUT,
                    BOOK,
                    month=MONTH,
                    as_of=AS_OF,
                    at=datetime(2025, 4, 15, 9, n),
                    ledger=backend,
                )
            except Exception as exc:  # noqa: BLE001 - kept for the assertions
                outcome[who] = exc

        threads = [threading.Thread(target=one, args=(w,)) for w in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        kinds = sorted(type(v).__name__ for v in outcome.values())
        assert kinds == ["ExportRefused", "Exported"], outcome
        refused = next(v for v in outcome.values() if isinstance(v, ExportRefused))
        assert set(refused.report.errors["code"]) == {"already-exported"}
        assert sorted(refused.report.errors["row"]) == [2, 3, 4]
        loser = next(w for w, v in outcome.items() if isinstance(v, ExportRefused))
        assert not list((tmp_path / f"r{n}" / loser).iterdir())  # not even a temp file
        entries = ledger.history(backend)
        assert len(entries) == 3 + 1 and set(entries["status"]) == {"exported"}
        with ledger.opened(backend) as db, db.begin() as conn:  # next round: free again
            conn.execute(
                sa.delete(ledger_db.exports).where(ledger_db.exports.c.line.in_([2, 3, 4]))
            )


def test_the_uniqueness_rule_refuses_a_second_record(backend, tmp_path):
    """Even a writer that skips every check cannot record a member-month twice."""
    from sqlalchemy.exc import IntegrityError

    from xl_pmpm.core.export import import_parts
    from xl_pmpm.core.validation import validate_table

    table = valid_table(2)
    report, flags = validate_table(table, LAYOUT, BOOK, month=MONTH, as_of=AS_OF)
    parts = list(import_parts(table, LAYOUT, report, month=MONTH, stamp=datetime(2025, 4, 15)))
    assert ledger.record_export(backend, parts, table, flags, MONTH, datetime(2025, 4, 15)) == 2
    with pytest.raises(IntegrityError):
        ledger.record_export(backend, parts, table, flags, MONTH, datetime(2025, 4, 16))
    assert len(ledger.history(backend)) == 2  # all or nothing
    # As corrections the same rows go in; as another month too.
    ledger.record_export(
        backend, parts, table, flags, MONTH, datetime(2025, 4, 17), corrections=[2, 3]
    )
    ledger.record_export(backend, parts, table, flags, "2025-04", datetime(2025, 5, 17))
    assert len(ledger.history(backend)) == 6


@needs_postgres
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_killed_mid_export_on_postgresql_leaves_files_and_entries_together(
    tmp_path, extract, pg_ledger
):
    out = tmp_path / "upload"
    argv = ["export", str(extract), "--out", str(out), "--as-of", EXTRACT_AS_OF]
    argv += ["--ledger", pg_ledger]
    kills = each_kill(lambda step: argv, lambda step: consistent(pg_ledger, [out]))
    assert kills >= 4  # killed before, between and after the ledger's transactions
    print(f"\nkilled at each of {kills} file-system steps of an export: consistent each time")
    assert cli.main(argv) in (0, 1)  # finishes, or finds it all exported
    entries = ledger.history(pg_ledger)
    assert len(entries) == ROWS and set(entries["status"]) == {"exported"}
    assert csv_rows(out) == ROWS and not list(out.glob(".*"))
    consistent(pg_ledger, [out])


@needs_postgres
def test_killed_at_random_moments_on_postgresql(tmp_path, extract, pg_ledger):
    out = tmp_path / "upload"
    rng = random.Random(17)
    for _ in range(8):
        proc = _export_process(extract, out, pg_ledger)
        time.sleep(rng.uniform(0.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        consistent(pg_ledger, [out])
    ledger.reconcile_pending(pg_ledger)
    consistent(pg_ledger, [out])
    entries = ledger.history(pg_ledger)
    assert len(entries) in (0, ROWS) and csv_rows(out) == len(entries)


# --- server problems and credentials ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_postgres
def test_server_problems_exit_2_saying_which(capsys, tmp_path, extract, pg_ledger, monkeypatch):
    url = sa.engine.make_url(pg_ledger)
    secret = os.environ.get("PGPASSWORD", "")
    cases = {
        "unreachable": (str(url.set(port=_free_port())), "cannot be reached"),
        "no-database": (str(url.set(database="xl_no_such_db")), "has no database xl_no_such_db"),
    }
    empty = new_database()
    try:
        cases["no-table"] = (empty, "Not an xl-pmpm ledger: the database has no exports table")
        for what, (where, says) in cases.items():
            for argv in (
                ["history"],
                ["kpi"],
                ["validate", str(extract), "--as-of", EXTRACT_AS_OF],
                ["export", str(extract), "--out", str(tmp_path / what), "--as-of", EXTRACT_AS_OF],
            ):
                code, out, err = run(capsys, *argv, "--ledger", where)
                assert code == 2, (what, argv, out, err)
                assert says in err and "Traceback" not in err
                assert secret not in out + err
            assert not list((tmp_path / what).glob("*.csv")) if (tmp_path / what).exists() else 1
        # A wrong password, from the environment.
        with monkeypatch.context() as env:
            env.setenv("PGPASSWORD", "not-the-password")
            code, out, err = run(capsys, "history", "--ledger", pg_ledger)
            assert code == 2 and "refused the password of user postgres" in err
            assert "not-the-password" not in out + err and "PGPASSWORD" in err
            code, out, err = run(
                capsys, "export", str(extract), "--out", str(tmp_path / "pw"), "--ledger", pg_ledger
            )
            assert code == 2 and "refused the password" in err
        assert not (tmp_path / "pw").exists() or not list((tmp_path / "pw").glob("*.csv"))
    finally:
        drop_database(empty)


@needs_postgres
def test_a_password_in_the_url_is_never_shown(capsys, tmp_path, extract, pg_ledger, monkeypatch):
    secret = os.environ["PGPASSWORD"]
    monkeypatch.delenv("PGPASSWORD")  # the password comes with the URL only
    with_password = str(sa.engine.make_url(pg_ledger).set(password=secret).render_as_string(False))
    assert secret in with_password
    out_dir = tmp_path / "up"
    seen = []
    for argv in (
        ["export", str(extract), "--out", str(out_dir), "--as-of", EXTRACT_AS_OF],
        ["export", str(extract), "--out", str(out_dir), "--as-of", EXTRACT_AS_OF],  # refused
        ["history"],
        ["kpi"],
        ["validate", str(extract), "--as-of", EXTRACT_AS_OF],
        ["ledger", "backup", "--to", str(tmp_path / "copy.sqlite3")],
    ):
        for fmt in ("text", "json"):
            code, out, err = run(capsys, *argv, "--ledger", with_password, "--format", fmt)
            seen.append(code)
            assert secret not in out + err and "Traceback" not in err
            if argv[0] == "ledger":
                break
    assert seen[0] == 0 and 1 in seen
    wrong = str(sa.engine.make_url(pg_ledger).set(password="wr0ng-s3cret").render_as_string(False))
    code, out, err = run(capsys, "history", "--ledger", wrong)
    assert code == 2 and "refused the password" in err and "wr0ng-s3cret" not in out + err
    # Nothing of it in the files written either.
    for f in [*out_dir.rglob("*"), tmp_path / "copy.sqlite3"]:
        if f.is_file():
            assert secret.encode() not in f.read_bytes()


def test_the_settings_sheet_never_holds_a_password():
    pytest.importorskip("xlwings")
    from xl_pmpm.core.errors import PmpmInputError
    from xl_pmpm.excel import frontend

    url = "postgresql://biller@db.example.org/pmpm"
    assert frontend.ledger_path({"ledger file": url}) == url
    with pytest.raises(PmpmInputError) as refused:
        frontend.ledger_path({"ledger file": "postgresql://biller:hunter2@db.example.org/pmpm"})
    assert "hunter2" not in str(refused.value) and "PGPASSWORD" in str(refused.value)


# --- the same answers on both backends -------------------------------------------------


def _same_answers(capsys, tmp_path: Path, extract: Path, where: str | Path) -> dict:
    """Export, refuse, mark a failed row, and read everything back: comparable payloads."""
    out = tmp_path / "up"
    answers: dict = {}
    for step, argv in {
        "export": ["export", str(extract), "--out", str(out), "--as-of", EXTRACT_AS_OF],
        "again": ["export", str(extract), "--out", str(out), "--as-of", EXTRACT_AS_OF],
        "validate": ["validate", str(extract), "--as-of", EXTRACT_AS_OF],
    }.items():
        code, text, _ = run(capsys, *argv, "--ledger", str(where), "--format", "json")
        payload = json.loads(text)
        answers[step] = (code, payload["rows"], payload.get("summary"), payload.get("error_count"))
    head, first = extract.read_text(encoding="utf-8-sig").splitlines()[:2]
    results = tmp_path / "failed_rows.csv"
    results.write_text(f"{head},Failed Reason\r\n{first},Invalid Service Code\r\n")
    code, text, _ = run(
        capsys, "reconcile", str(results), "--ledger", str(where), "--format", "json"
    )
    payload = json.loads(text)
    waiting = [(r["patient_number"], r["reason"]) for r in payload["outstanding"]]
    answers["reconcile"] = (code, payload["marked"], waiting)
    code, text, _ = run(capsys, "history", "--ledger", str(where), "--format", "json")
    entries = pd.DataFrame(json.loads(text)["entries"])
    keep = ["id", "patient_number", "contract", "month", "line", "tier", "rate", "status"]
    answers["history"] = (code, entries[keep + ["reason", "placeholder"]].to_dict("records"))
    code, text, _ = run(capsys, "kpi", "--ledger", str(where), "--format", "json")
    kpis = json.loads(text)
    kpis.pop("ledger")
    answers["kpi"] = (code, kpis)
    return answers


@needs_postgres
def test_history_reconcile_kpi_and_validate_answer_the_same_on_both_backends(
    capsys, tmp_path, extract, pg_ledger
):
    local = _same_answers(capsys, tmp_path / "sqlite", extract, tmp_path / "l.sqlite3")
    server = _same_answers(capsys, tmp_path / "pg", extract, pg_ledger)
    assert local["export"][0] == 0 and local["again"][0] == 1
    assert local["history"][1] and local["kpi"][1]["entries"]["exported"] == ROWS - 1
    for step in local:
        assert local[step] == server[step], step


# --- backup -----------------------------------------------------------------------------


def test_backup_writes_a_consistent_copy_from_either_backend(capsys, tmp_path, backend):
    workflow.export_import_file(
        valid_table(4), tmp_path / "out", LAYOUT, BOOK,
        month=MONTH, as_of=AS_OF, at=datetime(2025, 4, 15), ledger=backend,
    )  # fmt: skip
    copy = tmp_path / "backups" / "ledger-2025-04.sqlite3"
    code, text, err = run(capsys, "ledger", "backup", "--ledger", str(backend), "--to", str(copy))
    assert code == 0 and "Backed up 4 ledger entries" in text, err
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    pd.testing.assert_frame_equal(ledger.history(copy), ledger.history(backend))
    with sqlite3.connect(copy) as conn:
        version = conn.execute("SELECT version FROM ledger_version").fetchone()
        assert version == (ledger_db.SCHEMA_VERSION,)
    conn.close()
    before = copy.read_bytes()
    code, _, err = run(capsys, "ledger", "backup", "--ledger", str(backend), "--to", str(copy))
    assert code == 2 and "never replaces" in err and copy.read_bytes() == before
    # The copy is a ledger of its own: an export against it is refused the same way.
    with pytest.raises(ExportRefused):
        workflow.export_import_file(
            valid_table(4), tmp_path / "out2", LAYOUT, BOOK,
            month=MONTH, as_of=AS_OF, at=datetime(2025, 4, 16), ledger=copy,
        )  # fmt: skip
    assert not list(tmp_path.glob("backups/.*"))  # no temporary file left


# --- schema versions ---------------------------------------------------------------------


def _old_ledger(path: Path, schema: str, entries: int) -> list[tuple]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(schema)
        cols = "batch, patient_number, contract, month, directory, file_name, exported_at, "
        cols += "line, tier, rate, sha256, status, reason"
        rows = [
            (
                "old",
                f"{n:010d}",
                "Metro MLTC",
                "2026-09",
                str(path.parent),
                f"PMPM_{n // 50}.csv",
                "2026-10-02T10:00:00",
                n + 2,
                1 + n % 3,
                146.45,
                "0" * 64,
                "rejected" if n % 7 == 0 else "exported",
                "Invalid Service Code" if n % 7 == 0 else "",
            )
            for n in range(entries)
        ]
        conn.executemany(f"INSERT INTO exports ({cols}) VALUES ({', '.join('?' * 13)})", rows)
        kept = conn.execute("SELECT * FROM exports ORDER BY id").fetchall()
    conn.close()
    return kept


@pytest.mark.parametrize(
    "schema",
    [OLD_V1, OLD_V2, OLD_V2_REPLACES],
    ids=["first-release", "with-placeholder", "with-replaces"],
)
def test_an_older_sqlite_ledger_is_upgraded_in_one_go_keeping_every_entry(capsys, tmp_path, schema):
    db = tmp_path / "team" / "pmpm-ledger.sqlite3"
    kept = _old_ledger(db, schema, 500)
    before = db.read_bytes()
    code, text, _ = run(capsys, "history", "--ledger", str(db), "--format", "json")
    assert code == 0 and len(json.loads(text)["entries"]) == 500
    assert db.read_bytes() == before  # reading never upgrades

    code, text, _ = run(capsys, "ledger", "init", "--ledger", str(db))
    assert code == 0 and "Upgraded the ledger" in text and "every entry kept" in text
    with sqlite3.connect(db) as conn:
        now = conn.execute(f"SELECT {', '.join(['*'])} FROM exports ORDER BY id").fetchall()
        columns = [r[1] for r in conn.execute("PRAGMA table_info(exports)")]
        version = conn.execute("SELECT version FROM ledger_version").fetchall()
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(exports)")}
    conn.close()
    width = len(kept[0])
    assert [r[:width] for r in now] == kept  # every entry, every value
    placeholder, replaces = columns.index("placeholder"), columns.index("replaces")
    assert all(r[placeholder] == 0 for r in now)  # old entries read as confirmed
    assert all(r[replaces] is None for r in now)  # and replace no placeholder
    assert version == [(ledger_db.SCHEMA_VERSION,)] and set(ledger_db.UNIQUE_RULES) <= indexes
    code, text, _ = run(capsys, "ledger", "init", "--ledger", str(db))
    assert code == 0 and "is ready" in text


def test_a_version_3_ledger_gains_replaces_and_links_a_correction(capsys, tmp_path):
    """Issue 17's first schema (version 3) had no `replaces`: the next write adds it."""
    db = tmp_path / "pmpm-ledger.sqlite3"
    placeholders = valid_table(2)
    placeholders[[LAYOUT.name_of("visit_start"), LAYOUT.name_of("visit_end")]] = ""
    workflow.export_import_file(
        placeholders, tmp_path / "out", LAYOUT, BOOK,
        month=MONTH, as_of=AS_OF, at=datetime(2025, 4, 15), ledger=db,
    )  # fmt: skip
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE exports DROP COLUMN replaces")
        conn.execute("UPDATE ledger_version SET version = 3")
    conn.close()
    before = db.read_bytes()
    assert ledger.history(db)["replaces"].isna().all() and db.read_bytes() == before
    workflow.export_import_file(
        valid_table(2), tmp_path / "out", LAYOUT, BOOK, month=MONTH, as_of=AS_OF,
        at=datetime(2025, 4, 16), ledger=db, corrections=[2, 3],
    )  # fmt: skip
    entries = ledger.history(db)
    assert entries["replaces"].tolist()[2:] == entries["id"].tolist()[:2]
    with sqlite3.connect(db) as conn:
        version = conn.execute("SELECT version FROM ledger_version").fetchall()
    conn.close()
    assert version == [(ledger_db.SCHEMA_VERSION,)]


def test_an_upgrade_that_cannot_be_done_changes_nothing(capsys, tmp_path):
    db = tmp_path / "pmpm-ledger.sqlite3"
    _old_ledger(db, OLD_V2, 3)
    with sqlite3.connect(db) as conn:  # the same member-month exported twice
        conn.execute(
            "INSERT INTO exports (batch, patient_number, contract, month, directory, file_name, "
            "exported_at, sha256, status) SELECT batch, patient_number, contract, month, "
            "directory, 'again.csv', exported_at, sha256, 'exported' FROM exports WHERE id = 2"
        )
    conn.close()
    before = db.read_bytes()
    code, _, err = run(capsys, "ledger", "init", "--ledger", str(db))
    assert code == 2 and "1 member-month(s) with two confirmed entries" in err
    assert "nothing was changed" in err and db.read_bytes() == before


# --- a SQLite ledger on a network path --------------------------------------------------


def test_a_sqlite_ledger_on_a_network_path_gets_a_warning(capsys, tmp_path):
    for unc in ("//fileserver/billing/pmpm-ledger.sqlite3", r"\\fileserver\billing\l.sqlite3"):
        warning = ledger.network_warning(unc)
        assert warning and "network path" in warning and "Working as a team" in warning
    assert ledger.network_warning(tmp_path / "local.sqlite3") is None
    assert ledger.network_warning("postgresql://biller@db.example.org/pmpm") is None
    code, _, err = run(capsys, "history", "--ledger", "//fileserver/billing/pmpm-ledger.sqlite3")
    assert "warning: the ledger //fileserver/billing/pmpm-ledger.sqlite3 is on a network" in err
    assert "Working as a team" in err and code == 2  # the share is not there here


@pytest.mark.skipif(sys.platform != "win32", reason="mapped drives are a Windows matter")
def test_a_mapped_drive_windows_reports_remote_is_a_network_path():  # pragma: no cover
    import ctypes
    import string

    remote = [
        d
        for d in string.ascii_uppercase
        if ctypes.windll.kernel32.GetDriveTypeW(f"{d}:\\") == 4  # DRIVE_REMOTE
    ]
    if not remote:
        pytest.skip("no mapped network drive on this machine")
    assert ledger_address.on_network_path(f"{remote[0]}:\\pmpm-ledger.sqlite3")


def test_pg_env_is_documented_in_the_ci_script():
    script = (Path(__file__).resolve().parents[2] / ".ci" / "postgres.sh").read_text()
    assert f"export {PG_ENV}=" in script and "initdb" in script and "127.0.0.1" in script


def _entry_columns_by_pandas(where, columns: tuple, months: list[str] | None) -> pd.DataFrame:
    """`ledger.entry_columns` as pandas' read_sql_query reads the same query."""
    from xl_pmpm.io.ledger import _records

    with ledger_db.opened(where, read_only=True) as db, db.connect() as conn:
        query = (
            sa.select(*_records._columns(conn, columns))
            .select_from(_records._entries_from(conn))
            .order_by(_records.exports.c.id)
        )
        if months is not None:
            query = query.where(_records.exports.c.month.in_(months))
        return pd.read_sql_query(query, conn)


@pytest.mark.parametrize("scan", [True, False], ids=["whole-table", "month-index"])
def test_entry_columns_read_by_the_driver_are_pandas_own(backend, tmp_path, monkeypatch, scan):
    # The driver's cursor and Arrow give the frame pandas gives (values, order, dtypes), on
    # both backends, by the table or the index, for no month, a month without entries, an
    # old ledger missing columns (read as their default), an empty ledger.
    from xl_pmpm.io.ledger import _records

    monkeypatch.setattr(_records, "_by_scan", lambda conn, months: scan)
    monkeypatch.setattr(_records, "_BATCH", 3)  # batches, the last one short
    columns = ("patient_number", "month", "status", "placeholder", "line", "rate", "replaces")
    ledger.init(backend)
    empty = _entry_columns_by_pandas(backend, columns, [MONTH])
    pd.testing.assert_frame_equal(ledger.entry_columns(backend, columns, [MONTH]), empty)
    table = valid_table(4)
    table.loc[[4, 5], LAYOUT.name_of("contract")] = "UPR - Hudson Valley MLTC"
    workflow.export_import_file(
        table, tmp_path / "out", LAYOUT, BOOK, month=MONTH, as_of=AS_OF, at=datetime(2025, 4, 15),
        ledger=backend,
    )  # fmt: skip
    rejected = pd.DataFrame(
        {
            "patient_number": [str(table.at[3, LAYOUT.name_of("patient_number")])],
            "contract": [str(table.at[3, LAYOUT.name_of("contract")])],
            "month": [MONTH],
            "reason": ["Invalid Service Code"],
        }
    )
    ledger.mark_rejected(backend, rejected, at=datetime(2025, 4, 20))
    for months in ([MONTH], ["2024-12", MONTH], ["2024-12"], None):
        ours = ledger.entry_columns(backend, columns, months)
        pd.testing.assert_frame_equal(ours, _entry_columns_by_pandas(backend, columns, months))
    assert set(ours["status"]) == {"exported", "rejected"} and len(ours) == 4
    old = tmp_path / "old" / "ledger.sqlite3"
    _old_ledger(old, OLD_V1, 20)
    for months in (["2026-09"], None):
        ours = ledger.entry_columns(old, columns, months)
        pd.testing.assert_frame_equal(ours, _entry_columns_by_pandas(old, columns, months))
    with sqlite3.connect(old) as conn:  # SQLite keeps text in an INTEGER column: pandas reads it
        conn.execute("UPDATE exports SET line = 'two' WHERE id = 17")
    conn.close()
    ours = ledger.entry_columns(old, columns, None)
    pd.testing.assert_frame_equal(ours, _entry_columns_by_pandas(old, columns, None))
    assert ours["line"].iloc[16] == "two"
