"""The ledger's schema versions: the step that makes a ledger of each version from the
one before (`MIGRATIONS`), and back (`DOWNGRADES`); `_db.upgrade` and `_db.downgrade`
run them in one transaction.

Version 1 was the first table; 2 added `placeholder` (and maybe `replaces`); 3 the
version table and the uniqueness rules; 4 the `replaces` column; 5 the `pending_files`
table and only the indexes the queries use; 6 the `files` table (an export's files said
once, each entry naming its own: `_tables`) and the status rule as comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io.ledger._tables import (
    FILE_VALUES,
    STATUS_CHECK,
    UNIQUE_RULES,
    V4_INDEXES,
    V5_FILE_INDEX,
    V5_STATUS_CHECK,
    exports,
    files,
    ledger_version,
    pending_files,
)


def _table_columns(conn: Connection) -> set[str]:
    inspector = sa.inspect(conn)
    if not inspector.has_table("exports"):
        return set()
    return {c["name"] for c in inspector.get_columns("exports")}


def _add_placeholder(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE exports ADD COLUMN placeholder INTEGER NOT NULL DEFAULT 0")


def _version_and_unique_rules(conn: Connection) -> None:
    """The version table, and the database's own guard against double billing."""
    for name, where in UNIQUE_RULES.items():
        twice = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM (SELECT patient_number, month FROM exports WHERE {where} "
            "GROUP BY patient_number, month HAVING COUNT(*) > 1) AS twice"
        ).scalar()
        if twice:
            kind = "confirmed" if name == "exports_confirmed_once" else "placeholder"
            raise PmpmInputError(
                f"The ledger holds {twice} member-month(s) with two {kind} entries that are "
                "not corrections; it cannot be upgraded until each has one.",
                fix="Run `xl-pmpm history --format json` to find them and mark the extra "
                "entries rejected with `xl-pmpm reconcile`; nothing was changed.",
            )
    ledger_version.create(conn, checkfirst=True)
    for index in exports.indexes:
        if index.name in UNIQUE_RULES:
            index.create(conn, checkfirst=True)


def _add_replaces(conn: Connection) -> None:
    if "replaces" not in _table_columns(conn):  # a ledger of issue 13's release has it
        conn.exec_driver_sql("ALTER TABLE exports ADD COLUMN replaces INTEGER")


def _pending_files_and_fewer_indexes(conn: Connection) -> None:
    """Version 5: pending entries' files in `pending_files`, the entries stored exported;
    the month index instead of the member and status ones."""
    pending_files.create(conn, checkfirst=True)
    store_pending_apart(conn)
    for name in V4_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    for index in exports.indexes:
        if index.name != "exports_file":  # version 6's differs
            index.create(conn, checkfirst=True)
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {V5_FILE_INDEX}")


def store_pending_apart(conn: Connection) -> None:
    """Entries stored `pending` (version 4) stored `exported`, their files in `pending_files`."""
    conn.exec_driver_sql(
        "INSERT INTO pending_files (batch, directory, file_name, sha256) "
        "SELECT batch, directory, file_name, MIN(sha256) FROM exports WHERE status = 'pending' "
        "GROUP BY batch, directory, file_name ORDER BY MIN(id)"
    )
    conn.exec_driver_sql("UPDATE exports SET status = 'exported' WHERE status = 'pending'")


def _back_to_version_4(conn: Connection) -> None:
    """The reverse of version 5's step: pending entries stored as pending again, version
    4's indexes, no `pending_files`."""
    conn.exec_driver_sql(
        "UPDATE exports SET status = 'pending' WHERE status = 'exported' AND EXISTS ("
        "SELECT 1 FROM pending_files p WHERE p.batch = exports.batch "
        "AND p.directory = exports.directory AND p.file_name = exports.file_name)"
    )
    pending_files.drop(conn)
    conn.exec_driver_sql("DROP INDEX IF EXISTS exports_month")
    for sql in V4_INDEXES.values():
        conn.exec_driver_sql(sql)


def _rebuild_exports(conn: Connection, old: str, new: str) -> None:
    """SQLite: the entries' table made again with its rule `old` written `new` (ALTER TABLE
    cannot change a CHECK): SQLite's own procedure, in the caller's transaction: a new
    table of the same columns, every row copied with its id, the old one dropped, the new
    one renamed, its indexes and triggers made again, its AUTOINCREMENT counter kept."""
    if conn.dialect.name != "sqlite":
        return  # a server checks a list of three at no cost: its table stays
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'exports'"
    ).scalar()
    if not sql or old not in sql:
        return
    made = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND tbl_name = 'exports' AND sql IS NOT NULL ORDER BY type, name"
    ).scalars()
    again = list(made)
    seq = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'exports'").scalar()
    head = re.match(r'\s*CREATE\s+TABLE\s+("exports"|exports)', sql, re.IGNORECASE)
    if head is None:
        raise PmpmInputError("The ledger's table of entries is not as xl-pmpm made it.")
    conn.exec_driver_sql("CREATE TABLE exports_rebuilt" + sql[head.end() :].replace(old, new))
    conn.exec_driver_sql("INSERT INTO exports_rebuilt SELECT * FROM exports")
    conn.exec_driver_sql("DROP TABLE exports")
    conn.exec_driver_sql("ALTER TABLE exports_rebuilt RENAME TO exports")
    for statement in again:
        conn.exec_driver_sql(statement)
    if seq is not None:  # the ids of entries deleted since are never given again
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'exports'")
        conn.exec_driver_sql(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('exports', "
            f"(SELECT MAX({int(seq)}, COALESCE(MAX(id), 0)) FROM exports))"
        )


def _files_apart(conn: Connection) -> None:
    """Version 6: the `files` table and the entries' `file_id`; the file index only over
    the entries that hold their file themselves; the status rule as comparisons (on
    SQLite, the table made again). Every entry stays as it is."""
    _rebuild_exports(conn, V5_STATUS_CHECK, STATUS_CHECK)
    files.create(conn, checkfirst=True)
    if "file_id" not in _table_columns(conn):
        conn.exec_driver_sql("ALTER TABLE exports ADD COLUMN file_id INTEGER")
    conn.exec_driver_sql("DROP INDEX IF EXISTS exports_file")
    for index in exports.indexes:
        if index.name == "exports_file":
            index.create(conn)


def _back_to_version_5(conn: Connection) -> None:
    """The reverse of version 6's step: each entry holds its file's values again, no
    `file_id`, no `files`, version 5's file index."""
    names = ", ".join(FILE_VALUES)
    conn.exec_driver_sql(
        f"UPDATE exports SET ({names}) = (SELECT {names} FROM files "
        "WHERE files.id = exports.file_id) WHERE file_id IS NOT NULL"
    )
    conn.exec_driver_sql("DROP INDEX IF EXISTS exports_file")
    conn.exec_driver_sql("ALTER TABLE exports DROP COLUMN file_id")
    files.drop(conn)
    if conn.dialect.name == "sqlite":  # its counter, as version 5 never had one
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'files'")
    conn.exec_driver_sql(f"CREATE INDEX {V5_FILE_INDEX}")
    _rebuild_exports(conn, STATUS_CHECK, V5_STATUS_CHECK)


# version -> the step that makes a ledger of the version before it into one of this version.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _add_placeholder,
    3: _version_and_unique_rules,
    4: _add_replaces,
    5: _pending_files_and_fewer_indexes,
    6: _files_apart,
}
# version -> the step that makes a ledger of this version into one of the version before.
DOWNGRADES: dict[int, Callable[[Connection], None]] = {
    5: _back_to_version_4,
    6: _back_to_version_5,
}
