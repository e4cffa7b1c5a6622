"""The ledger's tables, their indexes and rules, as SQLAlchemy Core describes them (the
same on SQLite and a server); how each version stores them: see `_db`.

Version 6 keeps an export's files apart: one `files` row per import file (its batch,
folder, name, time and sha256), and each entry of it names it (`file_id`) and holds
those values blank. Entries recorded before (and entries merged in) hold them
themselves, with `file_id` NULL. `ENTRIES` and `entry_value` read both alike.
"""

from __future__ import annotations

import sqlalchemy as sa

from xl_pmpm.core.entries import BLOCKING

metadata = sa.MetaData()
# The statuses an entry may have. Up to version 5 written `status IN (...)`: SQLite checks
# a list of three by building a table of it for every row inserted (1.5-2.4 s of CPU at a
# million rows); version 6 writes the same rule as comparisons (no cost measured).
V5_STATUS_CHECK = "status IN ('pending', 'exported', 'rejected')"
STATUS_CHECK = "status = 'pending' OR status = 'exported' OR status = 'rejected'"
_blocking = ", ".join(f"'{s}'" for s in BLOCKING)
CONFIRMED_ONCE = f"placeholder = 0 AND correction = 0 AND status IN ({_blocking})"
PLACEHOLDER_ONCE = f"placeholder = 1 AND correction = 0 AND status IN ({_blocking})"
exports = sa.Table(
    "exports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.Text, nullable=False),
    sa.Column("patient_number", sa.Text, nullable=False),
    sa.Column("contract", sa.Text, nullable=False),
    sa.Column("month", sa.Text, nullable=False),
    sa.Column("directory", sa.Text, nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("exported_at", sa.Text, nullable=False),
    sa.Column("line", sa.Integer),
    sa.Column("tier", sa.Integer),
    sa.Column("rate", sa.Float),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("row_hash", sa.Text, nullable=False, server_default=""),
    sa.Column("correction", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", sa.Text, nullable=False, server_default=""),
    sa.Column("placeholder", sa.Integer, nullable=False, server_default="0"),
    sa.Column("replaces", sa.Integer),  # a correction over a placeholder: the placeholder's id
    # Version 6: the entry's file in `files` (its batch, folder, name, time and sha256 are
    # there, and blank here); NULL: the entry holds them itself (recorded before, or merged).
    sa.Column("file_id", sa.Integer),
    sa.CheckConstraint(STATUS_CHECK, name="exports_status_ok"),
    sqlite_autoincrement=True,
)
# The indexes the queries use (each costs its share of every insert: measured in
# benchmarks/README.md): a month's entries (the check, `reconcile`'s matching, a member's
# placeholder for `link_placeholders`), a folder's files (the names taken, a file's
# entries); and the uniqueness rules below.
sa.Index("exports_month", exports.c.month, exports.c.patient_number)
# Only the entries that hold their file themselves (`file_id` NULL): the files of version 6's
# entries are found in `files`, and their entries by `file_id` (no index entry per row).
HOLDS_ITS_FILE = "file_id IS NULL"
sa.Index(
    "exports_file",
    exports.c.directory,
    exports.c.file_name,
    sqlite_where=sa.text(HOLDS_ITS_FILE),
    postgresql_where=sa.text(HOLDS_ITS_FILE),
)
# Version 4's, dropped by version 5: the member index (the month index serves its
# queries) and the status index (pending entries are found through `pending_files`).
V4_INDEXES = {
    "exports_member": "CREATE INDEX exports_member ON exports (patient_number, month)",
    "exports_status": "CREATE INDEX exports_status ON exports (status)",
}
V5_FILE_INDEX = "exports_file ON exports (directory, file_name)"  # versions up to 5
UNIQUE_RULES = {
    "exports_confirmed_once": CONFIRMED_ONCE,
    "exports_placeholder_once": PLACEHOLDER_ONCE,
}
for _name, _where in UNIQUE_RULES.items():
    sa.Index(
        _name,
        exports.c.patient_number,
        exports.c.month,
        unique=True,
        sqlite_where=sa.text(_where),
        postgresql_where=sa.text(_where),
    )
ledger_version = sa.Table(
    "ledger_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)
# The files of an export not yet confirmed in place (their entries read as pending).
pending_files = sa.Table(
    "pending_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.Text, nullable=False),
    sa.Column("directory", sa.Text, nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.UniqueConstraint("directory", "file_name", name="pending_files_once"),
)
# Version 6: one row per exported file, its values said once (an entry's `file_id`).
files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.Text, nullable=False),
    sa.Column("directory", sa.Text, nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("exported_at", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sqlite_autoincrement=True,
)
sa.Index("files_name", files.c.directory, files.c.file_name)
# An entry's values that are its file's: in `files` (version 6), else in the entry itself.
FILE_VALUES = ("batch", "directory", "file_name", "exported_at", "sha256")
# The entries as read: each with its file (`entry_value`).
ENTRIES = exports.outerjoin(files, files.c.id == exports.c.file_id)
# Columns added after the first release: name -> the value old entries read as.
ADDED_COLUMNS: dict[str, int | None] = {"placeholder": 0, "replaces": None, "file_id": None}


def entry_value(name: str) -> sa.ColumnElement:
    """An entry's column as read from `ENTRIES`: a file's value from its `files` row when
    it has one, else from the entry."""
    if name in FILE_VALUES:
        return sa.func.coalesce(files.c[name], exports.c[name])
    return exports.c[name]
