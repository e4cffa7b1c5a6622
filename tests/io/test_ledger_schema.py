"""The ledger's schema version 5: pending entries' files kept apart, so the confirm of an
export rewrites no entry; a version 4 ledger upgraded and taken back exactly."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest
import sqlalchemy as sa
from core_helpers import AS_OF, BOOK, CONTRACT, LAYOUT, MONTH, valid_table
from ledger_backends import backend_fixture, pg_ledger_fixture  # noqa: F401 (fixtures)

from xl_pmpm.core.errors import ExportRefused
from xl_pmpm.io import ledger, workflow
from xl_pmpm.io.ledger import _db as ledger_db
from xl_pmpm.io.ledger import _recording as ledger_files
from xl_pmpm.io.ledger import _tables as ledger_tables

AT = datetime(2025, 4, 15, 9, 30)


def export(table, tmp_path, db, at=AT):
    return workflow.export_import_file(
        table, tmp_path / "out", LAYOUT, BOOK, month=MONTH, as_of=AS_OF, at=at, ledger=db
    )


def crash_after_recording(monkeypatch) -> None:
    def crash(at: str) -> None:
        if at == "pending-recorded":
            raise KeyboardInterrupt(at)

    monkeypatch.setattr(ledger_files, "_checkpoint", crash)


def raw(db) -> dict:
    with sqlite3.connect(db) as conn:
        found = {
            "rows": conn.execute("SELECT * FROM exports ORDER BY id").fetchall(),
            "version": conn.execute("SELECT version FROM ledger_version").fetchall(),
            "tables": {r[0] for r in conn.execute("SELECT name FROM sqlite_master")},
        }
    conn.close()
    return found


def test_an_export_confirms_without_rewriting_any_entry(tmp_path):
    db = tmp_path / "ledger.sqlite3"
    export(valid_table(2), tmp_path, db)  # makes the ledger
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE rewritten (id INTEGER)")
        conn.execute(
            "CREATE TRIGGER count_rewrites AFTER UPDATE ON exports "
            "BEGIN INSERT INTO rewritten VALUES (new.id); END"
        )
    conn.close()
    table = valid_table(6).loc[[4, 5, 6, 7]]
    table.loc[[6, 7], CONTRACT] = "UPR - Hudson Valley MLTC"
    done = export(table, tmp_path, db, at=datetime(2025, 4, 15, 10))
    assert done.rows == 4 and len(done.files) == 2
    entries = ledger.history(db)
    assert len(entries) == 6 and set(entries["status"]) == {"exported"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM rewritten").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM pending_files").fetchone() == (0,)
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(exports)")}
    conn.close()
    assert "exports_status" not in indexes and "exports_member" not in indexes
    assert {"exports_month", "exports_file", *ledger_db.UNIQUE_RULES} <= indexes


def test_pending_entries_read_as_pending_until_the_next_export_finishes_them(tmp_path, monkeypatch):
    db = tmp_path / "ledger.sqlite3"
    crash_after_recording(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        export(valid_table(2), tmp_path, db)
    monkeypatch.setattr(ledger_files, "_checkpoint", lambda at: None)
    assert set(ledger.history(db)["status"]) == {"pending"}
    with pytest.raises(ExportRefused):  # pending entries block their member-months
        export(valid_table(2), tmp_path, db, at=datetime(2025, 4, 15, 10))
    entries = ledger.history(db)
    assert len(entries) == 2 and set(entries["status"]) == {"exported"}  # rolled forward


def ledger_with_pending(tmp_path, monkeypatch):
    """A ledger holding confirmed entries and the pending ones of an export killed after
    recording; its history as shown then."""
    db = tmp_path / "ledger.sqlite3"
    export(valid_table(4).loc[[4, 5]], tmp_path, db)  # confirmed entries
    crash_after_recording(monkeypatch)
    with pytest.raises(KeyboardInterrupt):  # and pending ones
        export(valid_table(2), tmp_path, db, at=datetime(2025, 4, 15, 10))
    monkeypatch.setattr(ledger_files, "_checkpoint", lambda at: None)
    return db, ledger.history(db)


def test_a_version_4_ledger_with_pending_entries_is_upgraded_and_taken_back_exactly(
    tmp_path, monkeypatch
):
    db, shown = ledger_with_pending(tmp_path, monkeypatch)
    engine = ledger_db._sqlite_engine(db, read_only=False)
    try:
        assert ledger_db.downgrade(engine, 4) == ledger_db.SCHEMA_VERSION
    finally:
        engine.dispose()
    v4 = raw(db)
    assert v4["version"] == [(4,)] and "pending_files" not in v4["tables"]
    assert {"exports_member", "exports_status"} <= v4["tables"]
    statuses = [r[14] for r in v4["rows"]]  # as version 4 stores them
    assert statuses == ["exported", "exported", "pending", "pending"]
    assert ledger.history(db).equals(shown)  # read as it is (not upgraded by reading)

    code = ledger.init(db)
    assert code == ("upgraded", 4)
    v5 = raw(db)
    assert v5["version"] == [(ledger_db.SCHEMA_VERSION,)] and "pending_files" in v5["tables"]
    assert [r[14] for r in v5["rows"]] == ["exported"] * 4
    # (version 6 adds a column at the end: each entry's file, none for these)
    assert [r[:14] + r[15:19] for r in v5["rows"]] == [r[:14] + r[15:] for r in v4["rows"]]
    assert ledger.history(db).equals(shown)
    engine = ledger_db._sqlite_engine(db, read_only=False)
    try:
        ledger_db.downgrade(engine, 4)
        with engine.connect() as conn:
            assert ledger_db.stored_version(conn) == 4
    finally:
        engine.dispose()
    assert raw(db) == v4  # every entry, value and index as it was

    with pytest.raises(ExportRefused):  # the next export upgrades and finishes the batch
        export(valid_table(2), tmp_path, db, at=datetime(2025, 4, 15, 11))
    entries = ledger.history(db)
    assert len(entries) == 4 and set(entries["status"]) == {"exported"}
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        assert ledger_db.stored_version(conn) == ledger_db.SCHEMA_VERSION


# --- version 6: an export's files said once ----------------------------------------------


def test_an_exports_files_are_said_once_and_its_entries_name_them(tmp_path):
    db = tmp_path / "ledger.sqlite3"
    table = valid_table(4)
    table.loc[[4, 5], CONTRACT] = "UPR - Hudson Valley MLTC"
    done = export(table, tmp_path, db)
    with sqlite3.connect(db) as conn:
        files = conn.execute("SELECT id, directory, file_name FROM files ORDER BY id").fetchall()
        stored = conn.execute(
            "SELECT batch, directory, file_name, exported_at, sha256, file_id FROM exports"
        ).fetchall()
        check = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'exports'").fetchone()
    conn.close()
    assert [f[2] for f in files] == [p.name for p in done.files]
    assert all(r[:5] == ("", "", "", "", "") for r in stored)  # said in `files`, once
    assert sorted({r[5] for r in stored}) == [f[0] for f in files]
    assert ledger_tables.V5_STATUS_CHECK not in check[0]  # the rule as comparisons
    entries = ledger.history(db)
    assert sorted(set(entries["file_name"])) == sorted(p.name for p in done.files)
    assert set(entries["directory"]) == {str((tmp_path / "out").resolve())}
    assert entries["sha256"].str.len().eq(64).all() and entries["batch"].ne("").all()
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError):  # the status rule still holds
        conn.execute("UPDATE exports SET status = 'billed' WHERE id = 1")
    conn.close()


def test_a_version_6_ledger_is_taken_back_to_version_5_and_upgraded_exactly(tmp_path, monkeypatch):
    db, shown = ledger_with_pending(tmp_path, monkeypatch)
    engine = ledger_db._sqlite_engine(db, read_only=False)
    try:
        assert ledger_db.downgrade(engine, 5) == 6
    finally:
        engine.dispose()
    v5 = raw(db)
    assert v5["version"] == [(5,)] and "files" not in v5["tables"]
    assert len(v5["rows"][0]) == 19  # no file_id: each entry holds its file again
    assert {r[6] for r in v5["rows"]} == set(shown["file_name"])
    with sqlite3.connect(db) as conn:
        check = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'exports'").fetchone()
    conn.close()
    assert ledger_tables.V5_STATUS_CHECK in check[0]
    assert ledger.history(db).equals(shown)  # read as it is

    assert ledger.init(db) == ("upgraded", 5)
    v6 = raw(db)
    assert v6["version"] == [(6,)] and "files" in v6["tables"]
    assert [r[:19] for r in v6["rows"]] == v5["rows"]  # every entry as it was
    assert ledger.history(db).equals(shown)
    engine = ledger_db._sqlite_engine(db, read_only=False)
    try:
        ledger_db.downgrade(engine, 5)
    finally:
        engine.dispose()
    assert raw(db) == v5

    with pytest.raises(ExportRefused):  # the next export upgrades and finishes the batch
        export(valid_table(2), tmp_path, db, at=datetime(2025, 4, 15, 11))
    entries = ledger.history(db)
    assert len(entries) == 4 and set(entries["status"]) == {"exported"}
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        assert ledger_db.stored_version(conn) == 6


def test_version_6_and_back_reads_the_same_entries_on_both_backends(backend, tmp_path, monkeypatch):
    export(valid_table(4).loc[[4, 5]], tmp_path, backend)  # confirmed entries
    crash_after_recording(monkeypatch)
    with pytest.raises(KeyboardInterrupt):  # and pending ones
        export(valid_table(2), tmp_path, backend, at=datetime(2025, 4, 15, 10))
    monkeypatch.setattr(ledger_files, "_checkpoint", lambda at: None)
    shown = ledger.history(backend)
    engine = ledger_db._engine(ledger.address(backend), read_only=False)
    try:
        assert ledger_db.downgrade(engine, 5) == 6
        with engine.connect() as conn:
            assert not ledger_db.has_files(conn) and ledger_db.stored_version(conn) == 5
    finally:
        engine.dispose()
    assert ledger.history(backend).equals(shown)  # each entry holds its file again
    assert ledger.init(backend) == ("upgraded", 5)
    assert ledger.history(backend).equals(shown)
    with pytest.raises(ExportRefused):  # the next export finishes the batch
        export(valid_table(2), tmp_path, backend, at=datetime(2025, 4, 15, 11))
    entries = ledger.history(backend)
    assert len(entries) == 4 and set(entries["status"]) == {"exported"}
