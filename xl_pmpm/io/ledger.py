"""A local SQLite ledger of what was exported: one entry per member-month per import file.

The ledger answers "was this member already billed for this month?" before an
export, keeps the history (`xl-pmpm history`), and takes the import results back
(`mark_rejected`). The database file is created owner-only (0600) in an
owner-only folder (0700): it holds member IDs.

Entry status: `pending` (recorded, file not yet confirmed in place), `exported`,
`rejected` (HHAeXchange's import failed the row; `reason` says why). A member-month
is *already exported* while it has a `pending` or `exported` entry; a `rejected`
entry does not block a resubmission.

Placeholders: a deferred row (its visit start and end blank, `review.placeholder_rows`
by the layout's roles) is exported as an unconfirmed placeholder, not billed. Its
entry has `placeholder = 1`. Another placeholder of the same member-month is
`already-exported` (the first one is still in pre-billing); a confirmed row is
`placeholder-open` (`open_placeholders`): the biller confirms the placeholder in
HHAeXchange instead, or, once it was removed there, exports the row as a correction,
whose entry then names the placeholder's id in `replaces`. A confirmed entry blocks
both. KPIs count confirmed entries only.

Reading (`history`, the ledger check, `kpi`) opens the database read-only and never
changes it; a file without the `exports` table is refused as "not an xl-pmpm ledger"
(it may be another program's database), when reading and when writing; a file
SQLite cannot read is called a damaged ledger when it was one (SQLite's header, the
ledger's name, or its backup beside it), with how to restore it. Before each export
the ledger is copied to `<ledger>.backup` (`backup_ledger`, SQLite's online backup). A ledger
written before placeholders existed gets the `placeholder` column (0 for its entries:
they stay confirmed) the next time it is written to, in one transaction.

Corrections: a row that must be exported again although its member-month is in
the ledger (e.g. the visit was deleted in HHAeXchange to fix it) is named by its
line in `corrections` (an iterable of table lines, `--correction 5,9` in a CLI).
Its entry is recorded with `correction = 1`.

Crash safety (`write_and_record`, which `workflow.export_import_file` calls when
given a ledger): the import files are first written to hidden temp files
(`.NAME.pending`, fsync'd); then every entry is recorded as `pending` in ONE
transaction; then each temp file is linked to its final name (atomic, never over
an existing file); then the batch is confirmed in one transaction.
`reconcile_pending` (run at the start of every export, or on its own) finishes an
interrupted batch: a pending entry whose final file exists with the recorded
sha256 is confirmed; one whose temp file survives with that hash is rolled forward
(linked, then confirmed); one with neither is deleted. Temp files no entry refers
to are removed. After it, every entry names a file that exists with its recorded
hash, and every file written has all its entries.

One at a time (`locked`): an export, or a reconcile, holds an OS file lock on
`<ledger>.lock` from its first look at the ledger to its last write, so two
exports can never both find a member-month free and both bill it. A second one
waits `LOCK_TIMEOUT` seconds, then gives up with ExportBusy, having done nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS, EXPORTED, PENDING, REJECTED
from xl_pmpm.core.errors import PmpmError, PmpmInputError
from xl_pmpm.core.export import ExportPart, import_frame
from xl_pmpm.core.findings import CODES, FINDING_COLUMNS, ValidationReport, combine, empty_findings
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.review import placeholder_rows
from xl_pmpm.core.values import member_key

FILE_MODE = 0o600
TEMP_SUFFIX = ".pending"
LOCK_TIMEOUT = 10.0  # seconds a second export waits for the first before giving up

# Finding codes this module adds; the owner folds them into findings.CODES.
LEDGER_CODES: dict[str, tuple[str, str]] = {
    "already-exported": (
        "error",
        "Delete the row (it was billed already), or export it as a correction "
        "if the earlier visit was removed in HHAeXchange.",
    ),
    "still-rejected": (
        "warning",
        "Correct the row as the failed reason says; it is left out of the resubmission "
        "and stays rejected until then.",
    ),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch TEXT NOT NULL,
    patient_number TEXT NOT NULL,
    contract TEXT NOT NULL,
    month TEXT NOT NULL,
    directory TEXT NOT NULL,
    file_name TEXT NOT NULL,
    exported_at TEXT NOT NULL,
    line INTEGER,
    tier INTEGER,
    rate REAL,
    sha256 TEXT NOT NULL,
    row_hash TEXT NOT NULL DEFAULT '',
    correction INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'exported', 'rejected')),
    reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT '',
    placeholder INTEGER NOT NULL DEFAULT 0,
    replaces INTEGER
);
CREATE INDEX IF NOT EXISTS exports_member ON exports (patient_number, month);
CREATE INDEX IF NOT EXISTS exports_status ON exports (status);
CREATE INDEX IF NOT EXISTS exports_file ON exports (directory, file_name);
"""
# Entry columns `_insert` does not take from the entries: the id, batch and status it
# is given, and what `mark_rejected` sets later.
SET_ON_INSERT = ("id", "batch", "status", "reason", "updated_at", "replaces")
# Columns added after the first release: name -> its definition for ALTER TABLE and the
# value old entries read as. An old ledger gains them when next written to.
ADDED_COLUMNS: dict[str, tuple[str, str]] = {
    "placeholder": ("INTEGER NOT NULL DEFAULT 0", "0"),
    "replaces": ("INTEGER", "NULL"),
}
NOT_A_LEDGER_FIX = (
    "Give the ledger file xl-pmpm export writes (pmpm-ledger.sqlite3 by default), "
    "not another program's database."
)


# --- findings ------------------------------------------------------------------------------


def ledger_findings(
    code: str, rows: pd.Index, field_name: str | None, values: pd.Series, message: pd.Series | str
) -> pd.DataFrame:
    """`findings.finding_rows` for codes that may not be in findings.CODES yet."""
    n = len(rows)
    if n == 0:
        return empty_findings()
    severity, fix = CODES.get(code) or LEDGER_CODES[code]
    text = (
        (message.astype(str) + " " + fix).to_numpy()
        if isinstance(message, pd.Series)
        else [f"{message} {fix}"] * n
    )
    return pd.DataFrame(
        {
            "code": pd.array([code] * n, dtype="string"),
            "severity": pd.array([severity] * n, dtype="string"),
            "row": pd.array(pd.Index(rows).to_numpy(), dtype="Int64"),
            "field": pd.array([field_name] * n, dtype="string"),
            "value": pd.array(values.astype(str).to_numpy(), dtype="string"),
            "message": pd.array(text, dtype="string"),
        }
    )[FINDING_COLUMNS]


# --- the database --------------------------------------------------------------------------


def _table_columns(conn: sqlite3.Connection) -> set[str]:
    return {r[1] for r in conn.execute("PRAGMA table_info(exports)")}


def _has_tables(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1")
    return found.fetchone() is not None


def _check_ledger(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database without the ledger's table (another program's, or an empty one)."""
    have = _table_columns(conn)
    if not have or set(ENTRY_COLUMNS) - set(ADDED_COLUMNS) - have:
        what = "has no exports table" if not have else "has an exports table of another kind"
        raise PmpmInputError(
            f"Not an xl-pmpm ledger: the database {what}.", file=str(path), fix=NOT_A_LEDGER_FIX
        )


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns an older ledger lacks, in one transaction; no entry is lost."""
    if not set(ADDED_COLUMNS) - _table_columns(conn):
        return
    with _transaction(conn):
        have = _table_columns(conn)  # again, under the write lock
        for name, (definition, _) in ADDED_COLUMNS.items():
            if name not in have:
                conn.execute(f"ALTER TABLE exports ADD COLUMN {name} {definition}")


def connect(
    db_path: str | Path, *, create: bool = True, read_only: bool = False
) -> sqlite3.Connection:
    """Open the ledger; autocommit mode.

    `create`: a missing file is created (0600 in a 0700 folder) with the ledger's
    table; else a missing file, or a database without the table, is a PmpmInputError.
    `read_only`: opened with `mode=ro`, nothing is ever written (no table, no
    migration). A database of another program is never changed: with `create`, the
    table is only made in a database that holds no table yet.
    Writes go through `with _transaction(conn):` (BEGIN IMMEDIATE ... COMMIT).
    """
    path = Path(db_path)
    create = create and not read_only
    if not path.exists():
        if not create:
            raise PmpmInputError(
                "No ledger here yet.", file=str(path), fix="Give the ledger of your exports."
            )
        from xl_pmpm.io.files import ensure_private_dir

        ensure_private_dir(path.parent if str(path.parent) else ".")
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    conn = None
    try:
        if read_only:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA synchronous = FULL")
        if create and not _has_tables(conn):
            conn.executescript(SCHEMA)
        _check_ledger(conn, path)
        if not read_only:
            _migrate(conn)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise unreadable_ledger(path, exc) from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


# --- damage and the backup kept before each export (issue 14) -------------------------------

BACKUP_SUFFIX = ".backup"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def backup_path(db_path: str | Path) -> Path:
    """Where the ledger's backup is kept: beside it, `<ledger>.backup`."""
    path = Path(db_path)
    return path.with_name(path.name + BACKUP_SUFFIX)


def restore_fix(db_path: str | Path) -> str:
    """How to restore a damaged ledger (never: start a new one)."""
    path, backup = Path(db_path), backup_path(db_path)
    keep = f"Move the damaged {path.name} aside (keep it), then "
    if backup.exists():
        how = (
            f"copy {backup.name} (the copy xl-pmpm made before the last export) to "
            f"{path.name}. The rows of the import files that last export wrote are not in the "
            "copy: see them in the export folder and do not export them again"
        )
    else:
        how = f"copy {path.name} back from your own backup (file history, OneDrive, ...)"
    return (
        keep + how + ". Do not start a new ledger: it would forget every member-month "
        "already billed, and the guard against billing twice with it."
    )


def unreadable_ledger(path: Path, exc: sqlite3.DatabaseError) -> PmpmInputError:
    """The error for a ledger SQLite cannot read: damaged if it was ever one of ours."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError:
        head = b""
    if head == _SQLITE_MAGIC or path.name == LEDGER_NAME or backup_path(path).exists():
        return PmpmInputError(
            f"The xl-pmpm ledger is damaged: SQLite cannot read it ({exc}).",
            file=str(path),
            fix=restore_fix(path),
        )
    return PmpmInputError(
        f"Not an xl-pmpm ledger: not an SQLite database ({exc}). If it is your ledger, it is "
        "damaged beyond recognition.",
        file=str(path),
        fix=f"{NOT_A_LEDGER_FIX} If it is your ledger: {restore_fix(path)}",
    )


def backup_ledger(db_path: str | Path) -> Path | None:
    """Copy the ledger to `<ledger>.backup` (SQLite's online backup), replacing the last copy.

    Made before each export, so a ledger damaged later can be restored. The copy is
    checked (`PRAGMA quick_check`) before it replaces the previous one: a damaged
    ledger never overwrites a good backup. None when there is no ledger yet.
    """
    path = Path(db_path)
    if not path.exists():
        return None
    target = backup_path(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    try:
        with contextlib.closing(connect(path, read_only=True)) as src:
            with contextlib.closing(sqlite3.connect(temp)) as dst:
                try:
                    src.backup(dst)
                    ok = dst.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                except sqlite3.DatabaseError as exc:
                    raise unreadable_ledger(path, exc) from None
            if not ok:
                raise unreadable_ledger(path, sqlite3.DatabaseError("quick_check failed"))
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def _writing(db_path: str | Path, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """The ledger opened for ONE transaction (all of it or none), closed afterwards."""
    with contextlib.closing(connect(db_path, create=create)) as conn, _transaction(conn):
        yield conn


def _entries(conn: sqlite3.Connection, where: str = "", params: tuple = ()) -> pd.DataFrame:
    have = _table_columns(conn)
    columns = [
        c if c in have or c not in ADDED_COLUMNS else f"{ADDED_COLUMNS[c][1]} AS {c}"
        for c in ENTRY_COLUMNS
    ]  # an old ledger opened read-only has not been migrated
    sql = f"SELECT {', '.join(columns)} FROM exports {where} ORDER BY id"
    frame = pd.read_sql_query(sql, conn, params=params)
    for c in ("patient_number", "contract", "month", "file_name", "status", "reason"):
        frame[c] = frame[c].astype(str)
    frame["replaces"] = frame["replaces"].astype("Int64")  # an entry id, or <NA>
    return frame


def history(db_path: str | Path) -> pd.DataFrame:
    """Every ledger entry, oldest first (columns: ENTRY_COLUMNS)."""
    with contextlib.closing(connect(db_path, read_only=True)) as conn:
        return _entries(conn)


# --- recording -----------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def row_hashes(table: pd.DataFrame, layout: Layout) -> pd.Series:
    """A fingerprint of each row as the import file holds it (to spot untouched rows)."""
    frame = import_frame(table, layout)
    return pd.util.hash_pandas_object(frame, index=False).astype(str)


def _part_entries(
    parts: list[ExportPart],
    table: pd.DataFrame,
    flags: pd.DataFrame,
    layout: Layout,
    month: str,
    at: datetime,
    directory: str,
    corrections: Iterable[int],
) -> pd.DataFrame:
    lines = [n for p in parts for n in p.lines]
    counts = [len(p.lines) for p in parts]
    rows = table.loc[lines]
    entries = pd.DataFrame(
        {
            "patient_number": rows[layout.name_of("patient_number")].fillna("").str.strip(),
            "contract": rows[layout.name_of("contract")].fillna("").str.strip(),
            "file_name": pd.Series([p.name for p in parts]).repeat(counts).to_numpy(),
            "sha256": pd.Series([sha256_hex(p.data) for p in parts]).repeat(counts).to_numpy(),
            "line": pd.Index(lines).astype("int64"),
            "row_hash": row_hashes(rows, layout).to_numpy(),
        },
        index=rows.index,
    )
    tier = flags["tier"].reindex(lines) if "tier" in flags else pd.Series(pd.NA, index=lines)
    rate = flags["rate"].reindex(lines) if "rate" in flags else pd.Series(pd.NA, index=lines)
    entries["tier"] = tier.astype("Int64").to_numpy()
    entries["rate"] = rate.astype("Float64").to_numpy()
    entries["correction"] = entries["line"].isin(set(corrections)).astype(int).to_numpy()
    entries["placeholder"] = placeholder_rows(rows, layout).astype(int).to_numpy()
    entries["month"] = month
    entries["directory"] = directory
    entries["exported_at"] = at.isoformat(timespec="seconds")
    return entries


def _insert(conn: sqlite3.Connection, entries: pd.DataFrame, batch: str, status: str) -> None:
    cols = [c for c in ENTRY_COLUMNS if c not in SET_ON_INSERT]
    values = entries[cols].astype(object).where(entries[cols].notna(), None)
    sql = (
        f"INSERT INTO exports (batch, status, {', '.join(cols)}) "
        f"VALUES (?, ?, {', '.join('?' * len(cols))})"
    )
    conn.executemany(sql, ((batch, status, *r) for r in values.itertuples(index=False)))


def record_export(
    db_path: str | Path,
    parts: list[ExportPart],
    table: pd.DataFrame,
    flags: pd.DataFrame,
    month: str,
    at: datetime,
    *,
    layout: Layout | None = None,
    directory: str | Path = "",
    corrections: Iterable[int] = (),
    status: str = EXPORTED,
    batch: str | None = None,
) -> int:
    """Record every row of `parts` (files already written) in ONE transaction; returns the count.

    `flags` (from validation) supplies tier and rate; `layout` defaults to the bundled one.
    """
    if layout is None:
        from xl_pmpm.io.files import load_layout

        layout = load_layout()
    entries = _part_entries(
        parts, table, flags, layout, str(month), at, str(directory), corrections
    )
    batch = batch or f"{at.isoformat(timespec='seconds')}:{os.getpid()}"
    with _writing(db_path) as conn:
        _insert(conn, entries, batch, status)
        link_placeholders(conn, batch)
    return len(entries)


def already_exported(
    db_path: str | Path,
    table: pd.DataFrame,
    month: str | pd.Period,
    layout: Layout,
    *,
    corrections: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Findings (`already-exported`, error) for rows whose member-month is in the ledger.

    A member-month is the patient number and the month, whatever the contract (a
    PMPM is billed once per member per month). A confirmed entry blocks every row of
    its member-month; a placeholder entry blocks only another placeholder row (see
    the module doc). Rows whose line is in `corrections` are let through. A ledger
    that does not exist yet holds nothing; the ledger is only read.
    """
    if not Path(db_path).exists():
        return empty_findings()
    month = str(pd.Period(month, freq="M"))
    with contextlib.closing(connect(db_path, read_only=True)) as conn:
        done = _entries(conn, "WHERE month = ? AND status IN (?, ?)", (month, *BLOCKING))
    if done.empty:
        return empty_findings()
    col = layout.name_of("patient_number")
    ids = member_key(table[col])
    done["patient_number"] = member_key(done["patient_number"])
    keep = ~table.index.isin(list(corrections or ()))
    rows = pd.DataFrame(
        {
            "patient_number": ids[keep],
            "line": table.index[keep],
            "row_placeholder": placeholder_rows(table, layout)[keep],
        }
    )
    hit = rows.merge(
        done[["id", "patient_number", "file_name", "exported_at", "contract", "status"]].assign(
            entry_placeholder=done["placeholder"].astype(int).eq(1)
        ),
        on="patient_number",
        how="inner",
    )
    hit = hit[~hit["entry_placeholder"] | hit["row_placeholder"]]
    # One finding per row: the newest confirmed entry if any, else the newest placeholder.
    hit = hit.sort_values(["line", "entry_placeholder", "id"], ascending=[True, False, True])
    hit = hit.drop_duplicates("line", keep="last").reset_index(drop=True)
    if hit.empty:
        return empty_findings()
    kind = hit["status"].where(~hit["entry_placeholder"], hit["status"] + " placeholder")
    message = (
        f"Already exported for {month}: "
        + hit["file_name"]
        + " ("
        + hit["contract"]
        + ", "
        + hit["exported_at"].str[:10]
        + ", "
        + kind
        + ")."
    )
    return ledger_findings(
        "already-exported", pd.Index(hit["line"]), col, table.loc[hit["line"], col], message
    )


# --- placeholders (issue 13) --------------------------------------------------------------


def link_placeholders(conn: sqlite3.Connection, batch: str) -> None:
    """Link each confirmed entry of `batch` to the open placeholder of its member-month.

    `replaces` = the id of the newest placeholder entry (pending or exported) of
    the same member and month recorded before it; NULL where there is none.
    Runs inside the caller's transaction.
    """
    conn.execute(
        "UPDATE exports SET replaces = ("
        " SELECT MAX(p.id) FROM exports AS p"
        " WHERE p.placeholder = 1 AND p.patient_number = exports.patient_number"
        " AND p.month = exports.month AND p.status IN (?, ?) AND p.id < exports.id)"
        " WHERE batch = ? AND placeholder = 0 AND replaces IS NULL",
        (*BLOCKING, batch),
    )


def open_placeholders(
    db_path: str | Path,
    table: pd.DataFrame,
    month: str | pd.Period,
    layout: Layout,
    *,
    corrections: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Findings (`placeholder-open`, error) for confirmed rows over an exported placeholder.

    A deferred row went out as a placeholder (an unconfirmed visit in HHAeXchange's
    pre-billing, seed 001); a confirmed row for the same member-month now would make
    a second PMPM visit for that month. Members with a confirmed entry already get
    `already-exported` instead. Rows whose line is in `corrections` (the biller says
    the placeholder was removed in HHAeXchange) are let through; the ledger then
    links the new entry to the placeholder (`replaces`). The ledger is only read.
    """
    if not Path(db_path).exists():
        return empty_findings()
    month = str(pd.Period(month, freq="M"))
    with contextlib.closing(connect(db_path, read_only=True)) as conn:
        done = _entries(conn, "WHERE month = ? AND status IN (?, ?)", (month, *BLOCKING))
    if done.empty:
        return empty_findings()
    is_placeholder = done["placeholder"].astype(int).eq(1)
    confirmed = set(done.loc[~is_placeholder, "patient_number"])
    open_ = done[is_placeholder & ~done["patient_number"].isin(confirmed)]
    if open_.empty:
        return empty_findings()
    newest = open_.sort_values("id").drop_duplicates("patient_number", keep="last")
    col = layout.name_of("patient_number")
    ids = table[col].fillna("").astype(str).str.strip()
    rows = ~placeholder_rows(table, layout) & ~table.index.isin(list(corrections or ()))
    hit = (
        pd.DataFrame({"patient_number": ids[rows], "line": table.index[rows]})
        .merge(newest[["patient_number", "file_name", "exported_at"]], on="patient_number")
        .sort_values("line")
    )
    if hit.empty:
        return empty_findings()
    message = (
        f"A placeholder for {month} went out in "
        + hit["file_name"]
        + " ("
        + hit["exported_at"].str[:10]
        + "): importing this row would make a second PMPM visit for the month."
    )
    return ledger_findings(
        "placeholder-open", pd.Index(hit["line"]), col, table.loc[hit["line"], col], message
    )


def match_entries(rows: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """`rows` (patient_number, contract, month [, reason] [, file_name]) with their entry's id.

    For each row: the newest entry of the same member, contract and month (and
    file, when `rows` names one) that is already rejected for the same reason
    (so reading the same results twice changes nothing, even after a
    resubmission), else the newest exported one, else the newest rejected one.
    `id` is <NA> where none matches. Pure.
    """
    keys = ["patient_number", "contract", "month"]
    if "file_name" in rows.columns and rows["file_name"].astype(str).str.strip().ne("").any():
        keys = [*keys, "file_name"]
    live = entries[entries["status"].isin([EXPORTED, REJECTED])]
    right = live[[*keys, "id", "line", "tier", "rate", "status", "row_hash", "reason"]].rename(
        columns={"line": "exported_line", "status": "ledger_status", "reason": "ledger_reason"}
    )
    drop = [c for c in right.columns if c in rows.columns and c not in keys]
    left = rows.drop(columns=drop).reset_index(names="_at")
    left["_row"] = range(len(left))
    merged = left.merge(right, on=keys, how="left")
    reason = merged["reason"] if "reason" in merged else pd.Series("", index=merged.index)
    same = (merged["ledger_status"] == REJECTED) & (merged["ledger_reason"] == reason)
    rejected = merged["ledger_status"] == REJECTED
    exported = merged["ledger_status"] == EXPORTED
    merged["_rank"] = np.select([same, exported, rejected], [3, 2, 1], default=0)
    merged = merged[(merged["_rank"] > 0) | merged["id"].isna()]
    best = merged.sort_values(["_row", "_rank", "id"]).drop_duplicates("_row", keep="last")
    out = left[["_row"]].merge(best, on="_row", how="left", suffixes=("_x", ""))
    out = out.drop(columns=[c for c in out.columns if c.endswith("_x")])
    for c in left.columns:
        if c not in out or out[c].isna().any():
            out[c] = left[c].to_numpy()
    out["id"] = out["id"].astype("Int64")
    out = out.set_index("_at").drop(columns=["_row", "_rank", "ledger_reason"])
    out.index.name = rows.index.name
    return out


def mark_rejected(
    db_path: str | Path, rows: pd.DataFrame, at: datetime | None = None
) -> pd.DataFrame:
    """Mark the entries of failed import rows as rejected, with their reason; one transaction.

    `rows`: patient_number, contract, month, reason (and optionally file_name or id).
    Returns `rows` with the `id` of the entry marked (<NA> where none matched).
    Marking an already rejected entry again just updates its reason.
    """
    at = at or datetime.now()
    with _writing(db_path, create=False) as conn:  # read and mark in one transaction
        if "id" in rows.columns:
            matched = rows.copy()
        else:
            months = tuple(sorted(set(rows["month"].astype(str))))
            marks = ", ".join("?" * len(months))
            entries = _entries(conn, f"WHERE month IN ({marks})", months) if months else None
            matched = match_entries(rows, entries) if entries is not None else rows.assign(id=None)
        hit = matched[matched["id"].notna()]
        stamp = at.isoformat(timespec="seconds")
        conn.executemany(
            "UPDATE exports SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
            (
                (REJECTED, str(r), stamp, int(i))
                for r, i in zip(hit["reason"], hit["id"], strict=True)
            ),
        )
    return matched


# --- crash-safe export ---------------------------------------------------------------------


def _checkpoint(stage: str) -> None:
    """Between the steps of `write_and_record`; tests replace it to simulate a crash."""


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_path(directory: Path, name: str) -> Path:
    return directory / f".{name}{TEMP_SUFFIX}"


def _write_temp(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _file_sha(path: Path) -> str | None:
    try:
        return sha256_hex(path.read_bytes())
    except OSError:
        return None


@dataclass
class Reconciled:
    """What `reconcile_pending` did, by file name."""

    confirmed: list[str] = field(default_factory=list)
    rolled_forward: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    temp_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.confirmed or self.rolled_forward or self.dropped or self.temp_removed)


def reconcile_pending(db_path: str | Path, out_dir: str | Path | None = None) -> Reconciled:
    """Finish interrupted exports (all folders, or only `out_dir`); see the module doc."""
    done = Reconciled()
    if not Path(db_path).exists():
        return done
    only = str(Path(out_dir).resolve()) if out_dir is not None else None
    with contextlib.closing(connect(db_path, create=False)) as conn:
        pending = _entries(conn, "WHERE status = ?", (PENDING,))
        if only is not None:
            pending = pending[pending["directory"] == only]
        files = pending.drop_duplicates(["directory", "file_name"])
        confirm: list[tuple[str, str]] = []
        drop: list[tuple[str, str]] = []
        for directory, name, sha in zip(
            files["directory"], files["file_name"], files["sha256"], strict=True
        ):
            final, temp = Path(directory) / name, _temp_path(Path(directory), name)
            if final.exists():
                if _file_sha(final) == sha:
                    confirm.append((directory, name))
                    done.confirmed.append(name)
                else:  # someone else's file under that name: ours never got there
                    drop.append((directory, name))
                    done.dropped.append(name)
            elif _file_sha(temp) == sha:
                os.link(temp, final)
                _fsync_dir(Path(directory))
                confirm.append((directory, name))
                done.rolled_forward.append(name)
            else:
                drop.append((directory, name))
                done.dropped.append(name)
        with _transaction(conn):
            conn.executemany(
                "UPDATE exports SET status = ? "
                "WHERE status = ? AND directory = ? AND file_name = ?",
                ((EXPORTED, PENDING, d, n) for d, n in confirm),
            )
            conn.executemany(
                "DELETE FROM exports WHERE status = ? AND directory = ? AND file_name = ?",
                ((PENDING, d, n) for d, n in drop),
            )
    # Every pending entry of these folders is resolved: their temp files are leftovers
    # (rolled forward, confirmed, or written before the crash and never recorded).
    folders = {only} if only is not None else set(files["directory"])
    for folder in folders:
        d = Path(folder)
        if not d.is_dir():
            continue
        for temp in d.glob(f".*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)
            done.temp_removed.append(temp.name)
    return done


def _free_name(directory: Path, name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 1
    while True:
        candidate = name if n == 1 else f"{stem}-{n}{dot}{ext}"
        if (
            candidate not in taken
            and not (directory / candidate).exists()
            and not _temp_path(directory, candidate).exists()
        ):
            return candidate
        n += 1


def check_against_ledger(
    report: ValidationReport,
    db_path: str | Path,
    table: pd.DataFrame,
    layout: Layout,
    *,
    corrections: Iterable[int] = (),
) -> ValidationReport:
    """`report` with `already-exported` (and `placeholder-open`) errors from the ledger.

    Needs the report's billing month; without one (a `no-month` error is already
    there) nothing is added.
    """
    if report.month is None:
        return report
    seen = combine(
        [
            already_exported(db_path, table, report.month, layout, corrections=corrections),
            open_placeholders(db_path, table, report.month, layout, corrections=corrections),
        ]
    )
    if seen.empty:
        return report
    return ValidationReport(
        combine([report.findings, seen]), report.rows, report.source, report.month, report.as_of
    )


def write_and_record(
    parts: list[ExportPart],
    out_dir: str | Path,
    db_path: str | Path,
    table: pd.DataFrame,
    flags: pd.DataFrame,
    layout: Layout,
    *,
    month: str,
    at: datetime,
    corrections: Iterable[int] = (),
) -> list[Path]:
    """Write the import files and record their rows, crash-safely (see the module doc).

    Temp files first, then every entry as `pending` in one transaction, then each
    file linked to its final name (never over an existing file), then the batch
    confirmed in one transaction. Call it holding `locked(db_path)`, after
    `reconcile_pending`. Returns the files written, in the order of `parts`.
    """
    from xl_pmpm.io.files import ensure_private_dir, folder_errors

    directory = ensure_private_dir(out_dir).resolve()
    backup_ledger(db_path)
    with contextlib.closing(connect(db_path)) as conn:
        known = set(_entries(conn, "WHERE directory = ?", (str(directory),))["file_name"])
    taken: set[str] = set()
    for p in parts:
        p.name = _free_name(directory, p.name, taken | known)
        taken.add(p.name)

    temps = [_temp_path(directory, p.name) for p in parts]
    try:
        with folder_errors(directory):  # a full disk, a folder not writable: exit 2
            for p, temp in zip(parts, temps, strict=True):
                _write_temp(temp, p.data)
            _fsync_dir(directory)
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    _checkpoint("temp-written")

    batch = f"{at.isoformat(timespec='seconds')}:{os.getpid()}:{parts[0].name if parts else ''}"
    try:
        record_export(
            db_path,
            parts,
            table,
            flags,
            month,
            at,
            layout=layout,
            directory=directory,
            corrections=corrections,
            status=PENDING,
            batch=batch,
        )
    except BaseException:
        # Nothing was recorded (one transaction): no entry refers to the temp files, which
        # hold member rows. A crash (no exception) leaves them for reconcile_pending.
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    _checkpoint("pending-recorded")

    written = []
    for p, temp in zip(parts, temps, strict=True):
        final = directory / p.name
        os.link(temp, final)  # atomic; fails rather than replace
        written.append(final)
        _checkpoint("linked")
    _fsync_dir(directory)
    with _writing(db_path) as conn:
        conn.execute(
            "UPDATE exports SET status = ? WHERE batch = ? AND status = ?",
            (EXPORTED, batch, PENDING),
        )
    _checkpoint("confirmed")
    for temp in temps:
        temp.unlink(missing_ok=True)
    return written


# --- one export at a time ------------------------------------------------------------------


class ExportBusy(PmpmError):
    """Another export (or reconcile) holds the ledger's lock; nothing was done."""


def lock_path(db_path: str | Path) -> Path:
    """The lock file of a ledger: beside it, named `<ledger>.lock`."""
    path = Path(db_path).resolve()
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def locked(db_path: str | Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the ledger's lock: one export or reconcile at a time per ledger.

    Waits up to `timeout` seconds, then raises ExportBusy. The lock is an OS file
    lock (the `filelock` package): a process that dies releases it, so a lock is
    never left stale. Re-entrant within one thread (an export inside a reconcile).
    """
    from xl_pmpm.io.files import ensure_private_dir

    path = lock_path(db_path)
    ensure_private_dir(path.parent)
    lock = FileLock(path, mode=FILE_MODE, is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise ExportBusy(
            f"Another export or reconcile is using the ledger {db_path} (waited {timeout:g} s "
            f"for its lock {path.name}). Wait for it to finish, then run this again; "
            "nothing was written."
        ) from None
    try:
        yield
    finally:
        lock.release()


LEDGER_NAME = "pmpm-ledger.sqlite3"


LEDGER_ENV = "XL_PMPM_LEDGER"


def default_ledger(folder: str | Path | None = None) -> Path:
    """Where the export ledger is when no --ledger is given.

    $XL_PMPM_LEDGER if set (one ledger for every export folder), else
    `pmpm-ledger.sqlite3` in `folder` (the export folder), else in the current folder.
    """
    env = os.environ.get(LEDGER_ENV, "").strip()
    if env:
        return Path(env)
    return Path(folder if folder is not None else ".") / LEDGER_NAME
