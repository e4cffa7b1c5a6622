"""The ledger's entries: reading them, recording an export, marking rejected rows. SQL
through SQLAlchemy Core, the same on SQLite and a server. The already-exported and
open-placeholder checks over the entries read here are `_checks`'.

Entry status: `pending` (recorded, file not yet confirmed in place), `exported`,
`rejected` (HHAeXchange's import failed the row; `reason` says why). A member-month
is *already exported* while it has a `pending` or `exported` entry; a `rejected`
entry does not block a resubmission.

Placeholders: a deferred row (its visit start and end blank, `review.placeholder_rows`
by the layout's roles) is exported as an unconfirmed placeholder, not billed. Its
entry has `placeholder = 1`. A correction exported once the placeholder was removed in
HHAeXchange names the placeholder's id in `replaces` (`link_placeholders`). What a
placeholder entry blocks: `_checks`. KPIs count confirmed entries only.

Corrections: a row that must be exported again although its member-month is in
the ledger (e.g. the visit was deleted in HHAeXchange to fix it) is named by its
line in `corrections` (an iterable of table lines, `--correction 5,9` in a CLI).
Its entry is recorded with `correction = 1`.

Members are compared by `core.values.member_key` (one member, one ID, whatever
invisible characters or look-alike digits the extract put around it).

Reading (`history`, the ledger check, `kpi`) never changes the database; a database
without the `exports` table is refused as "not an xl-pmpm ledger".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS, EXPORTED, PENDING, REJECTED
from xl_pmpm.core.export import ExportPart, import_frame
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.values import member_key
from xl_pmpm.io.ledger._db import Ledger, has_pending_files, opened
from xl_pmpm.io.ledger._inserts import ENTRY_ROWS, export_entries, insert_entries, insert_files
from xl_pmpm.io.ledger._tables import (
    ADDED_COLUMNS,
    ENTRIES,
    entry_value,
    exports,
    files,
    pending_files,
)
from xl_pmpm.io.ledger._versions import _table_columns

TEXT_COLUMNS = ("patient_number", "contract", "month", "file_name", "status", "reason")


def status_column(conn: Connection) -> sa.ColumnElement:
    """The entries' status as read: `pending` while the entry's file is in `pending_files`
    (version 5, see db), else as stored."""
    if not has_pending_files(conn):  # an older ledger, opened read-only: stored as it reads
        return exports.c.status
    if conn.execute(sa.select(pending_files.c.id).limit(1)).first() is None:
        return exports.c.status  # nothing pending (nearly always): no look-up per entry
    p = pending_files.c
    value = entry_value if "file_id" in _table_columns(conn) else exports.c.__getitem__
    waiting = sa.exists().where(
        p.batch == value("batch"),
        p.directory == value("directory"),
        p.file_name == value("file_name"),
    )
    return sa.case(
        (sa.and_(exports.c.status == EXPORTED, waiting), PENDING), else_=exports.c.status
    )


def _columns(conn: Connection, names: Iterable[str]) -> list[sa.ColumnElement]:
    """`names` of the entries as read (an old ledger opened read-only has not been upgraded:
    its missing columns read as their default)."""
    have = _table_columns(conn)
    value = entry_value if "file_id" in have else exports.c.__getitem__
    return [
        status_column(conn).label(c)
        if c == "status"
        else value(c).label(c)
        if c in have
        else sa.literal(ADDED_COLUMNS[c]).label(c)
        for c in names
    ]


def _entries_from(conn: Connection) -> sa.FromClause:
    """The entries with their files (version 6 on), or the entries alone (an older ledger
    read as it is)."""
    return ENTRIES if "file_id" in _table_columns(conn) else exports


def _entries_query(conn: Connection, *where: sa.ColumnElement[bool]) -> sa.Select:
    return (
        sa.select(*_columns(conn, ENTRY_COLUMNS))
        .select_from(_entries_from(conn))
        .where(*where)
        .order_by(exports.c.id)
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for c in TEXT_COLUMNS:
        frame[c] = frame[c].astype(str)
    for c in ("correction", "placeholder"):
        frame[c] = frame[c].astype("int64")
    frame["replaces"] = frame["replaces"].astype("Int64")  # an entry id, or <NA>
    return frame


def read_entries(conn: Connection, *where: sa.ColumnElement[bool]) -> pd.DataFrame:
    """The entries matching `where` (all of them without), oldest first; ENTRY_COLUMNS."""
    return _typed(pd.read_sql_query(_entries_query(conn, *where), conn))


def history(db_path: str | Path | Ledger) -> pd.DataFrame:
    """Every ledger entry, oldest first (columns: ENTRY_COLUMNS)."""
    with opened(db_path, read_only=True) as db, db.connect() as conn:
        return read_entries(conn)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def row_hashes(table: pd.DataFrame, layout: Layout) -> pd.Series:
    """A fingerprint of each row as the import file holds it (to spot untouched rows)."""
    frame = import_frame(table, layout)
    return pd.util.hash_pandas_object(frame, index=False).astype(str)


def hold_files(conn: Connection, batch: str, files: Iterable[tuple[str, str, str]]) -> None:
    """Files of `batch` (folder, name, sha256) not yet confirmed: their entries read as
    pending until `confirm_files` (or a reconcile) takes them out."""
    rows = [{"batch": batch, "directory": d, "file_name": n, "sha256": h} for d, n, h in files]
    if rows:
        conn.execute(sa.insert(pending_files), rows)


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
    shas = [sha256_hex(p.data) for p in parts]
    batch = batch or f"{at.isoformat(timespec='seconds')}:{os.getpid()}"
    names = [(p.name, h) for p, h in zip(parts, shas, strict=True)]
    with opened(db_path) as db, db.begin() as conn:
        ids = insert_files(conn, batch, str(directory), at, names)
        rows = export_entries(parts, ids, table, flags, layout, corrections)
        insert_entries(conn, rows, str(month), status)
        if status == PENDING:
            hold_files(conn, batch, [(str(directory), n, h) for n, h in names])
        link_placeholders(conn, batch)
    return sum(len(p.lines) for p in parts)


def blocking_entries(conn: Connection, month: str, members: pd.Index | None = None) -> pd.DataFrame:
    """The entries that block a member-month of `month` (pending or exported).

    With `members` (unique `member_key`s), only those members' entries, read ENTRY_ROWS
    at a time: the month of a statewide ledger is never held whole.
    """
    where = (exports.c.month == month, exports.c.status.in_(BLOCKING))
    if members is None or not any_blocking(conn, month):
        return read_entries(conn, *where)
    query = _entries_query(conn, *where).execution_options(stream_results=True)
    kept = [
        chunk[members.get_indexer(member_key(chunk["patient_number"])) >= 0]
        for chunk in pd.read_sql_query(query, conn, chunksize=ENTRY_ROWS)
    ]
    return _typed(pd.concat(kept, ignore_index=True))


def any_blocking(conn: Connection, month: str) -> bool:
    """Whether any entry blocks a member-month of `month` (one look at the month's index:
    the first export of a month finds none, and has no member to compare)."""
    where = (exports.c.month == month, exports.c.status.in_(BLOCKING))
    return conn.execute(sa.select(exports.c.id).where(*where).limit(1)).first() is not None


def members_of(table: pd.DataFrame, layout: Layout) -> pd.Index:
    return pd.Index(member_key(table[layout.name_of("patient_number")]).unique())


# --- placeholders (issue 13) --------------------------------------------------------------


def any_placeholder(conn: Connection) -> bool:
    """Whether the ledger holds a placeholder entry that is pending or exported (a look at
    every entry: no index has the placeholder first)."""
    placeholder = sa.select(exports.c.id).where(
        exports.c.placeholder == 1, exports.c.status.in_(BLOCKING)
    )
    return conn.execute(placeholder.limit(1)).first() is not None


def link_placeholders(conn: Connection, batch: str, placeholders: bool | None = None) -> None:
    """Link each confirmed entry of `batch` to the open placeholder of its member-month.

    `replaces` = the id of the newest placeholder entry (pending or exported) of the
    same member and month recorded before it; NULL where there is none. Runs inside
    the caller's transaction.
    `placeholders`: whether the ledger holds one (`any_placeholder`), when the caller
    knows (e.g. it looked before recording the batch, and knows whether the batch held one:
    the look then reads the entries before the batch's, not the batch's too).
    """
    p = exports.alias("p")
    newest_placeholder = (
        sa.select(sa.func.max(p.c.id))
        .where(
            p.c.placeholder == 1,
            p.c.patient_number == exports.c.patient_number,
            p.c.month == exports.c.month,
            p.c.status.in_(BLOCKING),
            p.c.id < exports.c.id,
        )
        .scalar_subquery()
    )
    if not (any_placeholder(conn) if placeholders is None else placeholders):
        return  # nothing to link to (most ledgers most months): every `replaces` stays NULL
    batch_files = sa.select(files.c.id).where(files.c.batch == batch)
    where = [
        exports.c.file_id.in_(batch_files),
        exports.c.placeholder == 0,
        exports.c.replaces.is_(None),
    ]
    if conn.dialect.name == "sqlite":
        # Only members with a blocking placeholder at all can be linked: SQLite reads that
        # set once (most months have none) and looks up the newest placeholder for them
        # alone. (PostgreSQL, without statistics for the rows this transaction added,
        # would join the set row by row: there the indexed look-up per entry is faster.)
        q = exports.alias("q")
        with_placeholder = sa.select(q.c.patient_number).where(
            q.c.placeholder == 1, q.c.status.in_(BLOCKING)
        )
        where.append(exports.c.patient_number.in_(with_placeholder))
    conn.execute(sa.update(exports).where(*where).values(replaces=newest_placeholder))


def match_entries(rows: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """`rows` (patient_number, contract, month [, reason] [, file_name]) with their entry's id.

    For each row: the newest entry of the same member (`member_key`: an ID with an
    invisible character or look-alike digits is the same member), contract and month (and
    file, when `rows` names one) that is already rejected for the same reason
    (so reading the same results twice changes nothing, even after a
    resubmission), else the newest exported one, else the newest rejected one.
    `id` is <NA> where none matches. Pure.
    """
    keys = ["_member", "contract", "month"]  # members by member_key, as the ledger checks
    if "file_name" in rows.columns and rows["file_name"].astype(str).str.strip().ne("").any():
        keys = [*keys, "file_name"]
    live = entries[entries["status"].isin([EXPORTED, REJECTED])]
    live = live.assign(_member=member_key(live["patient_number"].astype(str)).to_numpy())
    right = live[[*keys, "id", "line", "tier", "rate", "status", "row_hash", "reason"]].rename(
        columns={"line": "exported_line", "status": "ledger_status", "reason": "ledger_reason"}
    )
    drop = [c for c in right.columns if c in rows.columns and c not in keys]
    left = rows.drop(columns=drop).reset_index(names="_at")
    left["_member"] = member_key(left["patient_number"].astype(str)).to_numpy()
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
    out = out.set_index("_at").drop(columns=["_row", "_rank", "ledger_reason", "_member"])
    out.index.name = rows.index.name
    return out


def mark_rejected(
    db_path: str | Path | Ledger, rows: pd.DataFrame, at: datetime | None = None
) -> pd.DataFrame:
    """Mark the entries of failed import rows as rejected, with their reason; one transaction.

    `rows`: patient_number, contract, month, reason (and optionally file_name or id).
    Returns `rows` with the `id` of the entry marked (<NA> where none matched).
    Marking an already rejected entry again just updates its reason.
    """
    at = at or datetime.now()
    # read and mark in one transaction
    with opened(db_path, create=False) as db, db.begin() as conn:
        if "id" in rows.columns:
            matched = rows.copy()
        else:
            months = sorted(set(rows["month"].astype(str)))
            entries = read_entries(conn, exports.c.month.in_(months)) if months else None
            matched = match_entries(rows, entries) if entries is not None else rows.assign(id=None)
        hit = matched[matched["id"].notna()]
        stamp = at.isoformat(timespec="seconds")
        marks = [
            {"entry": int(i), "new_reason": str(r)}
            for r, i in zip(hit["reason"], hit["id"], strict=True)
        ]
        if marks:
            conn.execute(
                sa.update(exports)
                .where(exports.c.id == sa.bindparam("entry"))
                .values(status=REJECTED, reason=sa.bindparam("new_reason"), updated_at=stamp),
                marks,
            )
    return matched


def entry_columns(
    db_path: str | Path, columns: Iterable[str], months: Iterable[str] | None = None
) -> pd.DataFrame:
    """Only `columns` of the entries (of `months` if given), oldest first: a statewide
    ledger read whole would hold hundreds of MB of file names and hashes."""
    with opened(db_path, read_only=True) as db, db.connect() as conn:
        query = (
            sa.select(*_columns(conn, columns))
            .select_from(_entries_from(conn))
            .order_by(exports.c.id)
        )
        if months is not None:
            months = list(months)
            month = exports.c.month.concat("") if _by_scan(conn, months) else exports.c.month
            query = query.where(month.in_(months))
        return _frame(conn, query)


def _by_scan(conn: Connection, months: list[str]) -> bool:
    """Whether SQLite should read the months' entries by a pass over the whole table rather
    than through the month index (`month || ''` keeps it off the index): each entry found
    by the index is a look-up of its own (725,000 entries, all of the table: 1.8 s against
    0.6 s), so the pass is quicker once they are a third of the table. A server has the
    statistics to choose itself."""
    if conn.dialect.name != "sqlite" or not months:
        return False
    count = sa.select(sa.func.count()).select_from(exports)
    wanted = conn.execute(count.where(exports.c.month.in_(months))).scalar_one()
    return wanted * 3 > conn.execute(count).scalar_one()


_ARROW_TYPES = {str: pa.string(), int: pa.int64(), float: pa.float64()}


def _arrow_type(column: sa.ColumnElement) -> pa.DataType | None:
    try:
        return _ARROW_TYPES.get(column.type.python_type)
    except NotImplementedError:  # NULL, ...
        return None


def _series(values: pa.ChunkedArray) -> pd.Series:
    if values.null_count == len(values):  # pandas makes nothing but NULL a column of None
        return pd.Series([None] * len(values), dtype=object)
    return values.to_pandas()


_BATCH = 50_000  # rows fetched at a time: a batch's Python objects, never the whole result's


def _frame(conn: Connection, query: sa.Select) -> pd.DataFrame:
    """The rows of `query` as `pd.read_sql_query` gives them, taken from the driver's own
    cursor (SQLite's or psycopg's: no SQLAlchemy row per entry) and typed by Arrow a batch
    at a time (no Python list per column); by pandas itself where a column's type is not
    known, a value is not of it (SQLite keeps what it was given) or there is no row."""
    names = [c.name for c in query.selected_columns]
    types = [_arrow_type(c) for c in query.selected_columns]
    parts: list[pa.StructArray] | None = None
    if all(t is not None for t in types):
        struct = pa.struct(list(zip(names, types, strict=True)))
        result = conn.execute(query)
        try:
            parts = []
            while batch := result.cursor.fetchmany(_BATCH):
                parts.append(pa.array(batch, type=struct))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            parts = None
        finally:
            result.close()
    if not parts:
        return pd.read_sql_query(query, conn)
    return pd.DataFrame(
        {n: _series(pa.chunked_array([p.field(i) for p in parts])) for i, n in enumerate(names)}
    )
