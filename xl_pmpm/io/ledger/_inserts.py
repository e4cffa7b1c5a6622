"""Entries as an export records them: its rows made into the ledger's values (columns made
once, in member order, a chunk of Python values at a time) and inserted (`executemany` of
many rows a statement on SQLite, PostgreSQL's `COPY`), and the export's `files` rows.
`_records.record_export` and `_recording` record through these."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xl_pmpm.core.entries import EXPORTED, PENDING, REJECTED
from xl_pmpm.core.export import ExportPart, import_frame
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.review import PLACEHOLDER_ROLES, placeholder_rows
from xl_pmpm.io.ledger._tables import FILE_VALUES, files
from xl_pmpm.io.memory import release_unused

# Entries built and inserted, or read for the already-exported check, at a time: a
# million-row export (or a statewide ledger's month) is never held as Python rows whole.
ENTRY_ROWS = 20_000


def _texts(table: pd.DataFrame, column: str) -> pa.Array:
    """The column's values, stripped, blank for none (as recorded), in the table's order
    (taken once, in the entries' order, by the caller)."""
    return _trimmed(_arrow(table, column))


def _trimmed(values: pa.Array) -> pa.Array:
    return pc.fill_null(pc.utf8_trim_whitespace(values), "")


def _arrow(table: pd.DataFrame, column: str) -> pa.Array:
    """The column's text as Arrow's, as it is (none where there is none)."""
    series = table[column]
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        values = pa.array(series)  # Arrow's own text (large_string): no copy into string
    else:
        values = pa.array(series, type=pa.string(), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values


class Distinct:
    """A text column of few distinct values (`_arrow`'s, at positions `order`): each
    stripped, blank for none, and made a Python value once (`objects`), and each row's
    position among them (`codes`)."""

    def __init__(self, values: pa.Array, order: np.ndarray) -> None:
        encoded = values.dictionary_encode(null_encoding="encode")
        self.objects = np.empty(len(encoded.dictionary), dtype=object)
        self.objects[:] = _trimmed(encoded.dictionary).to_pylist()
        self.codes = encoded.indices.to_numpy(zero_copy_only=False)[order]


Column: TypeAlias = np.ndarray | pa.Array | pa.ChunkedArray | Distinct


def _python(values: Column, first: int, count: int) -> np.ndarray:
    """`count` values from `first` for the driver: Python values (None for none) in a numpy
    object array (its items are the Python objects themselves), or numbers without a gap
    as numpy's (made Python's as they are laid out for the driver: `grouped_rows`)."""
    if isinstance(values, Distinct):  # each distinct value made once: a look-up per row
        return values.objects[values.codes[first : first + count]]
    if isinstance(values, np.ndarray):  # numbers: made Python numbers where they are laid out
        return values[first : first + count]
    out = np.empty(count, dtype=object)
    out[:] = values.slice(first, count).to_pylist()
    return out


def _member_order(members: pa.Array, at: np.ndarray) -> np.ndarray:
    """An order of `members` at positions `at` close to the database's (bytes compared):
    by their first 8 bytes, ties in their order in `at`. The pages an insert touches only
    need to come in key order, not each key: this takes 0.1 s at a million members, a full
    sort of the text 0.7 s."""
    text = members
    wide = pa.types.is_large_string(text.type)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64 if wide else np.int32)[
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
    return _stable_order(key[at])


def _stable_order(key: np.ndarray) -> np.ndarray:
    """`np.argsort(key, kind="stable")` of 64-bit keys, by 16 bits at a time from the lowest
    (numpy's radix sort of 16-bit keys; a digit every key shares needs no pass): 0.05-0.1 s
    at a million keys where the sort of the whole key took 0.12."""
    order: np.ndarray | None = None
    for shift in range(0, 64 if len(key) > 1 else 0, 16):
        digit = ((key >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.uint16)
        if digit.min() == digit.max():
            continue  # the same for every key: the order stands
        step = np.argsort(digit if order is None else digit[order], kind="stable")
        order = step if order is None else order[step]
    return np.arange(len(key)) if order is None else order


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
) -> Iterator[list[np.ndarray]]:
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
    members = _texts(table, layout.name_of("patient_number"))
    order = _member_order(members, at)
    pick = at[order]  # the table's rows in member order
    if hashes is None and all(len(p.hashes) == len(p.lines) for p in parts):
        hashes = [np.asarray(p.hashes, dtype=np.uint64) for p in parts]
    if hashes is not None:  # fingerprinted as the files were made
        fingerprints = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    else:
        frame = import_frame(table.iloc[at], layout)
        fingerprints = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        del frame
    sources = [c for c in _source_columns(table, layout) if c != layout.name_of("patient_number")]
    held = placeholder_rows(table[sources], layout).to_numpy()[at]  # row by row: no take
    absent = pd.Series(pd.NA, index=lines)
    claimed = flags[[c for c in ("tier", "rate") if c in flags]].reindex(lines)  # one look-up
    columns: list[Column] = [
        members.take(pick),
        Distinct(_arrow(table, layout.name_of("contract")), pick),
        lines[order],
        _numbers(claimed.get("tier", absent), order, "Int64"),
        _numbers(claimed.get("rate", absent), order, "Float64"),
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


def grouped_rows(columns: list[np.ndarray]) -> tuple[list[list], list[list]]:
    """A chunk's columns (`export_entries`) as the values of the statements of
    `insert_statements`: ROWS_PER_STATEMENT rows' values each, then the rows left, one each
    (numpy lays them out: no Python loop per value; the driver takes a list as it takes a
    tuple, so none is made)."""
    count = len(columns[0]) if columns else 0
    rows = np.empty((count, len(columns)), dtype=object)
    for j, values in enumerate(columns):
        rows[:, j] = values
    whole = count - count % ROWS_PER_STATEMENT
    grouped = rows[:whole].reshape(whole // ROWS_PER_STATEMENT, -1).tolist() if whole else []
    return grouped, rows[whole:].tolist()


def insert_entries(
    conn: Connection, chunks: Iterable[list[np.ndarray]], month: str, status: str
) -> bool:
    """Insert the entries (`export_entries`' chunks, an array per `INSERTED` column) of
    `month` with `status`: plain values straight to the driver (`executemany` of
    ROWS_PER_STATEMENT rows a statement, the month and status written in it; PostgreSQL's
    `COPY`), no per-row dict or SQL compiled. Whether any of them is a placeholder.

    `pending` entries are stored as `exported`: their files go in `pending_files`
    (`hold_files`, the caller's part), and confirming them rewrites no entry.
    """
    status = EXPORTED if status == PENDING else status
    if status not in (EXPORTED, REJECTED):
        raise ValueError(f"not an entry status: {status!r}")
    held = [False]

    def noted(chunks: Iterable[list[np.ndarray]]) -> Iterator[list[np.ndarray]]:
        for columns in chunks:
            held[0] = held[0] or bool(np.any(columns[PLACEHOLDER]))
            yield columns

    _insert(conn, noted(chunks), month, status)
    return held[0]


PLACEHOLDER = INSERTED.index("placeholder")


def _insert(conn: Connection, chunks: Iterable[list[np.ndarray]], month: str, status: str) -> None:
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
                    for row in zip(*[c.tolist() for c in columns], strict=True):
                        copy.write_row((*row, *same))
        except psycopg.Error as exc:  # said as SQLAlchemy says it (IntegrityError: a conflict)
            raise sa.exc.DBAPIError.instance(
                "COPY exports", None, exc, psycopg.Error, hide_parameters=True
            ) from None
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    many, one = insert_statements(month, status, mark)
    if conn.dialect.name == "sqlite":
        _sqlite_insert(conn, chunks, many, one)
        return
    for columns in chunks:
        grouped, left = grouped_rows(columns)
        if grouped:
            conn.exec_driver_sql(many, list(map(tuple, grouped)))
        if left:
            conn.exec_driver_sql(one, list(map(tuple, left)))


def _sqlite_insert(
    conn: Connection, chunks: Iterable[list[np.ndarray]], many: str, one: str
) -> None:
    """The chunks' rows by `sqlite3`'s own cursor, in the caller's transaction: it takes
    each statement's values as the list `grouped_rows` makes (SQLAlchemy would want a
    tuple made of each). An error is said as SQLAlchemy says it."""
    import sqlite3

    driver = conn.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):  # the dialect said sqlite
        raise TypeError(f"not a sqlite3 connection: {type(driver).__name__}")
    cursor = driver.cursor()
    statement = many
    try:
        for columns in chunks:
            grouped, left = grouped_rows(columns)
            statement = many
            cursor.executemany(many, grouped)
            statement = one
            cursor.executemany(one, left)
    except sqlite3.Error as exc:  # IntegrityError: a conflict; OperationalError: a full disk
        raise sa.exc.DBAPIError.instance(
            statement, None, exc, sqlite3.Error, hide_parameters=True
        ) from None
    finally:
        cursor.close()
