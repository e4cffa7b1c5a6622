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
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS, EXPORTED, PENDING, REJECTED
from xl_pmpm.core.export import ExportPart, import_frame
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.review import PLACEHOLDER_ROLES, placeholder_rows
from xl_pmpm.core.values import member_key
from xl_pmpm.io.ledger._db import Ledger, has_pending_files, opened
from xl_pmpm.io.ledger._tables import (
    ADDED_COLUMNS,
    ENTRIES,
    FILE_VALUES,
    entry_value,
    exports,
    files,
    pending_files,
)
from xl_pmpm.io.ledger._versions import _table_columns
from xl_pmpm.io.memory import release_unused

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


# Entries built and inserted, or read for the already-exported check, at a time: a
# million-row export (or a statewide ledger's month) is never held as Python rows whole.
ENTRY_ROWS = 20_000


def _texts(table: pd.DataFrame, column: str, at: np.ndarray) -> pa.ChunkedArray:
    """The column's values at positions `at`, stripped, blank for none (as recorded)."""
    values = pa.chunked_array(
        [pa.array(table[column].iloc[at], type=pa.string(), from_pandas=True)]
    )
    return pc.fill_null(pc.utf8_trim_whitespace(values), "")


def _python(values: np.ndarray | pa.ChunkedArray, first: int, count: int) -> list:
    """`count` values from `first` as Python values (None for none) for the driver."""
    if isinstance(values, np.ndarray):
        return values[first : first + count].tolist()
    return values.slice(first, count).to_pylist()


def _member_order(members: pa.ChunkedArray) -> np.ndarray:
    """An order of `members` close to the database's (bytes compared): by their first 8
    bytes, ties in their own order. The pages an insert touches only need to come in key
    order, not each key: this takes 0.1 s at a million members, a full sort of the text
    0.7 s."""
    text = members.combine_chunks()
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[
        text.offset : text.offset + len(text) + 1
    ]
    data = text.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, np.uint8)
    raw = raw if len(raw) else np.zeros(1, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    key = np.zeros(len(text), dtype=np.uint64)
    for k in range(8):
        byte = raw[np.minimum(starts + k, len(raw) - 1)].astype(np.uint64)
        key = (key << np.uint64(8)) | np.where(lengths > k, byte, np.uint64(0))
    return np.argsort(key, kind="stable")


def _numbers(values: pd.Series, order: np.ndarray, kind: str) -> np.ndarray | pa.ChunkedArray:
    """A flag column in member order: numpy when it has no gap (its `tolist` is the fastest
    way to Python numbers), else Arrow (a gap read as None)."""
    values = values.astype(kind).take(order)
    if not values.isna().any():
        return values.to_numpy(dtype="int64" if kind == "Int64" else "float64")
    return pa.chunked_array([pa.array(values, from_pandas=True)])


def export_entries(
    parts: list[ExportPart],
    file_ids: list[int],
    table: pd.DataFrame,
    flags: pd.DataFrame,
    layout: Layout,
    corrections: Iterable[int],
    hashes: list[np.ndarray] | None = None,
) -> Iterator[list[list]]:
    """Every row of `parts` as the ledger records it (`INSERTED`, a list per column; the
    part's file is `file_ids`' of the same place), ENTRY_ROWS rows at a time, in member
    order.
    `hashes`: each part's fingerprints, when no longer in the parts.

    In member order, the month's index and the uniqueness rules (both keyed by the member)
    take their new keys in key order: each index page is read and written once, not once
    per row at random (at a million rows the inserts in extract order took twice the CPU).
    The columns are made once for the whole export (Arrow and numpy, no row objects); the
    Python values the driver takes, a chunk at a time.
    """
    counts = [len(p.lines) for p in parts]
    total = sum(counts)
    if not total:
        return
    lines = np.concatenate([np.asarray(p.lines, dtype=np.int64) for p in parts])
    at = table.index.get_indexer(lines)
    members = _texts(table, layout.name_of("patient_number"), at)
    order = _member_order(members)
    if hashes is None and all(len(p.hashes) == len(p.lines) for p in parts):
        hashes = [np.asarray(p.hashes, dtype=np.uint64) for p in parts]
    if hashes is not None:  # fingerprinted as the files were made
        fingerprints = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    else:
        frame = import_frame(table.iloc[at], layout)
        fingerprints = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        del frame
    sources = [c for c in _source_columns(table, layout) if c != layout.name_of("patient_number")]
    held = placeholder_rows(table[sources].iloc[at], layout).to_numpy()
    absent = pd.Series(pd.NA, index=lines)
    columns: list[np.ndarray | pa.ChunkedArray] = [
        members.take(order),
        _texts(table, layout.name_of("contract"), at).take(order),
        lines[order],
        _numbers(flags["tier"].reindex(lines) if "tier" in flags else absent, order, "Int64"),
        _numbers(flags["rate"].reindex(lines) if "rate" in flags else absent, order, "Float64"),
        pa.chunked_array([pa.array(fingerprints[order]).cast(pa.string())]),
        np.isin(lines, list(set(corrections))).astype(np.int64)[order],
        held.astype(np.int64)[order],
        np.repeat(np.asarray(file_ids, dtype=np.int64), counts)[order],
    ]
    del members, fingerprints, held
    release_unused()  # the columns' scratch, before the rows are made
    for first in range(0, total, ENTRY_ROWS):
        count = min(ENTRY_ROWS, total - first)
        yield [_python(c, first, count) for c in columns]


def _source_columns(table: pd.DataFrame, layout: Layout) -> list[str]:
    """The table's columns an entry is built from, fingerprint apart."""
    names = [layout.name_of("patient_number"), layout.name_of("contract")]
    for role in PLACEHOLDER_ROLES:
        column = layout.column(role)
        if column is not None:
            names.append(column.name)
    return [c for c in dict.fromkeys(names) if c in table.columns]


# The columns of an entry given per row (`export_entries`), in their order; the month and
# status are the export's, the file's values its `files` row's (blank in the entry).
INSERTED = (
    "patient_number",
    "contract",
    "line",
    "tier",
    "rate",
    "row_hash",
    "correction",
    "placeholder",
    "file_id",
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def insert_files(
    conn: Connection, batch: str, directory: str, at: datetime, names: list[tuple[str, str]]
) -> list[int]:
    """One `files` row per file of the export ((name, sha256) of each); their ids."""
    stamp = at.isoformat(timespec="seconds")
    return [
        conn.execute(
            sa.insert(files)
            .values(batch=batch, directory=directory, file_name=n, exported_at=stamp, sha256=sha)
            .returning(files.c.id)
        ).scalar_one()
        for n, sha in names
    ]


# Rows given per INSERT statement on SQLite: one statement per row pays SQLite's
# per-statement work (the AUTOINCREMENT counter read and written, the statement reset) a
# million times; 100 rows a statement took 3.1 s of CPU at a million rows against 3.7-4.1 s.
ROWS_PER_STATEMENT = 100


def insert_statements(month: str, status: str, mark: str = "?") -> tuple[str, str]:
    """The INSERTs of entries of `month` with `status` (the month and status written in
    the statement, the file's values blank): of ROWS_PER_STATEMENT rows, and of one."""
    names = ", ".join([*INSERTED, "month", "status", *FILE_VALUES])
    values = (
        [mark] * len(INSERTED) + [_literal(month), _literal(status)] + ["''"] * len(FILE_VALUES)
    )
    one = f"({', '.join(values)})"
    head = f"INSERT INTO exports ({names}) VALUES "
    return head + ", ".join([one] * ROWS_PER_STATEMENT), head + one


def grouped_rows(columns: list[list]) -> tuple[list[tuple], list[tuple]]:
    """A chunk's columns (`export_entries`) as the values of the statements of
    `insert_statements`: ROWS_PER_STATEMENT rows' values each, then the rows left, one each
    (numpy lays them out: no Python loop per value)."""
    count = len(columns[0]) if columns else 0
    rows = np.empty((count, len(columns)), dtype=object)
    for j, values in enumerate(columns):
        rows[:, j] = values
    whole = count - count % ROWS_PER_STATEMENT
    grouped = rows[:whole].reshape(whole // ROWS_PER_STATEMENT, -1).tolist() if whole else []
    return list(map(tuple, grouped)), list(map(tuple, rows[whole:].tolist()))


def insert_entries(conn: Connection, chunks: Iterable[list[list]], month: str, status: str) -> None:
    """Insert the entries (`export_entries`' chunks, a list per `INSERTED` column) of
    `month` with `status`: plain values straight to the driver (`executemany` of
    ROWS_PER_STATEMENT rows a statement, the month and status written in it; PostgreSQL's
    `COPY`), no per-row dict or SQL compiled.

    `pending` entries are stored as `exported`: their files go in `pending_files`
    (`hold_files`, the caller's part), and confirming them rewrites no entry.
    """
    status = EXPORTED if status == PENDING else status
    if status not in (EXPORTED, REJECTED):
        raise ValueError(f"not an entry status: {status!r}")
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        import psycopg

        driver = conn.connection.driver_connection
        if not isinstance(driver, psycopg.Connection):  # the dialect said psycopg
            raise TypeError(f"not a psycopg connection: {type(driver).__name__}")
        names = ", ".join([*INSERTED, "month", "status", *FILE_VALUES])
        same = (month, status, *[""] * len(FILE_VALUES))  # the file's: in `files`
        cursor = driver.cursor()
        try:
            with cursor.copy(f"COPY exports ({names}) FROM STDIN") as copy:
                for columns in chunks:
                    for row in zip(*columns, strict=True):
                        copy.write_row((*row, *same))
        except psycopg.Error as exc:  # said as SQLAlchemy says it (IntegrityError: a conflict)
            raise sa.exc.DBAPIError.instance(
                "COPY exports", None, exc, psycopg.Error, hide_parameters=True
            ) from None
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    many, one = insert_statements(month, status, mark)
    for columns in chunks:
        grouped, left = grouped_rows(columns)
        if grouped:
            conn.exec_driver_sql(many, grouped)
        if left:
            conn.exec_driver_sql(one, left)


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


def link_placeholders(conn: Connection, batch: str) -> None:
    """Link each confirmed entry of `batch` to the open placeholder of its member-month.

    `replaces` = the id of the newest placeholder entry (pending or exported) of the
    same member and month recorded before it; NULL where there is none. Runs inside
    the caller's transaction.
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
    any_placeholder = sa.select(exports.c.id).where(
        exports.c.placeholder == 1, exports.c.status.in_(BLOCKING)
    )
    if conn.execute(any_placeholder.limit(1)).first() is None:
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
            query = query.where(exports.c.month.in_(list(months)))
        return pd.read_sql_query(query, conn)
