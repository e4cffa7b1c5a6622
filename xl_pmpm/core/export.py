"""The import-ready CSV: exactly the layout's columns, dates in its format, split under the limit.

Pure: builds the files' names and bytes. Writing them (atomically, never over an
existing file) is the shell's job (files.py).
"""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from xl_pmpm.core.errors import ExportRefused, PmpmInputError
from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.report import written_headers
from xl_pmpm.core.validation import blank_rows, parse_datetimes
from xl_pmpm.core.values import per_value

# Findings that export itself cures, so they do not block it.
CURED_BY_EXPORT = {"file-too-large"}


@dataclass
class ExportPart:
    """One file of an export: its name, bytes, and the report lines it holds."""

    name: str
    data: bytes
    contract: str
    lines: list[int] = field(default_factory=list)
    # Each line's fingerprint as the file holds it (`pd.util.hash_pandas_object` of its
    # import_frame row): the ledger's `row_hash`, made while the row is at hand.
    hashes: list[int] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.lines)


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe form of a contract name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")
    return cleaned[:limit].rstrip("-") or "contract"


def import_frame(table: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """The rows as the import file holds them: layout columns, formats normalised.

    An informational column the file does not have is left out (the extract is
    itself the import: a file of only the import's fields is exported as such).
    """
    cols = [c for c in layout.export_columns if c.name in table.columns or not c.informational]
    missing = [c.name for c in cols if c.name not in table.columns]
    if missing:
        raise PmpmInputError(
            f"The table lacks the column(s) {', '.join(missing)}.",
            fix="Restore the missing columns before exporting.",
        )
    out = table[[c.name for c in cols]].fillna("").astype(str).copy()
    for c in cols:
        out[c.name] = _export_values(out[c.name], c)
    return out


def _export_values(values: pd.Series, column: Column) -> pd.Series:
    """One column's text as the import file holds it: stripped, dates in the export format."""
    # Stripped only when some value needs it: a column of a million rows is not copied.
    if (values.str[:1].str.isspace() | values.str[-1:].str.isspace()).any():
        values = values.str.strip()
    if column.type == "datetime":
        other = ~values.str.fullmatch(column.format_patterns()[0][1:-1]) & (values != "")
        if other.any():  # rewritten once per distinct value: a month has few
            values = per_value(values, lambda u: _export_dates(u, column))
    return values


def _export_dates(values: pd.Series, column: Column) -> pd.Series:
    """Dates and times in the column's export format (values that parse; others as they are)."""
    other = ~values.str.fullmatch(column.format_patterns()[0][1:-1]) & (values != "")
    if not other.any():
        return values
    stamps = parse_datetimes(values[other], column)
    values = values.copy()
    values[other] = stamps.dt.strftime(column.export_format).where(stamps.notna(), values[other])
    return values


def _encode(frame: pd.DataFrame, layout: Layout, header: bool) -> bytes:
    text = frame.to_csv(index=False, header=header, lineterminator=layout.line_terminator)
    return text.encode(layout.encoding)


def csv_lines(rows: pd.DataFrame, layout: Layout, encoder: codecs.IncrementalEncoder) -> bytes:
    """`rows` of text as CSV lines, no header, in the layout's encoding and line ends.

    Arrow's writer, unquoted, gives pandas' bytes exactly while no value needs quoting
    (a delimiter, quote or line break in it: Arrow then refuses) and takes a twentieth
    of the time; pandas' writer quotes the rest. Arrow writes UTF-8 only.
    """
    if codecs.lookup(layout.encoding).name == "utf-8" and rows.shape[1] > 1:
        # (one column: pandas writes an empty value as "" so the line is not blank)
        sink = io.BytesIO()
        options = pa_csv.WriteOptions(
            include_header=False, quoting_style="none", eol=layout.line_terminator
        )
        try:
            unnamed = rows.set_axis([str(i) for i in range(rows.shape[1])], axis=1)  # no header
            pa_csv.write_csv(pa.Table.from_pandas(unnamed, preserve_index=False), sink, options)
            return sink.getvalue()
        except pa.ArrowInvalid:
            pass  # a value needs quoting
    text = rows.to_csv(index=False, header=False, lineterminator=layout.line_terminator)
    return encoder.encode(text)


# Rows taken and written at a time: a contract of a million rows is never copied whole.
_ENCODE_ROWS = 50_000


def split_rows(body: bytes, header: bytes, limit: int, terminator: bytes) -> list[tuple[int, int]]:
    """Cut `body` (one record per line) into (first_row, end_row) spans under `limit` bytes each."""
    if not body:
        return []
    return _spans(_line_ends(body, terminator), header, limit)


# Bytes scanned at a time for line ends (bounded scratch memory on a large file).
_SCAN_BYTES = 1 << 23


def _line_ends(body: bytes, terminator: bytes) -> np.ndarray:
    """The offset just past each line of `body`."""
    buf = np.frombuffer(body, dtype=np.uint8)
    last = terminator[-1]
    found = [
        np.flatnonzero(buf[a : a + _SCAN_BYTES] == last) + (a + 1)
        for a in range(0, len(buf), _SCAN_BYTES)
    ]
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def _spans(ends: np.ndarray, header: bytes, limit: int) -> list[tuple[int, int]]:
    budget = limit - len(header) - 1
    spans = []
    start_row, start_byte = 0, 0
    while start_row < len(ends):
        stop = int(np.searchsorted(ends, start_byte + budget, side="right"))
        if stop <= start_row:
            raise PmpmInputError(
                f"Row {start_row + 1} alone is larger than the {limit:,}-byte upload limit.",
                fix="Shorten its values.",
            )
        spans.append((start_row, stop))
        start_byte = int(ends[stop - 1])
        start_row = stop
    return spans


def _contract_parts(
    table: pd.DataFrame,
    positions: np.ndarray,
    layout: Layout,
    header: bytes,
    name: str,
    contract: str,
) -> Iterator[ExportPart]:
    """The import files of one contract's rows (at `positions` of `table`), one at a time.

    Written slice by slice straight into files under the upload limit, each
    taking as many rows as fit: the contract's whole text is never held.
    """
    term = layout.line_terminator.encode(layout.encoding)
    budget = layout.max_upload_bytes - len(header) - 1
    encoder = codecs.getincrementalencoder(layout.encoding)()
    count = 0
    pieces: list[memoryview] = []  # views of the encoded slices: copied once, into the part
    lines: list[int] = []
    hashes: list[int] = []
    size = 0

    def flush() -> ExportPart:
        nonlocal pieces, lines, hashes, size, count
        count += 1
        data = b"".join([header, *pieces])
        part = ExportPart(f"{name}_{count:02d}.csv", data, contract, lines, hashes)
        pieces, lines, hashes, size = [], [], [], 0
        return part

    for first in range(0, len(positions), _ENCODE_ROWS):
        chunk = positions[first : first + _ENCODE_ROWS]
        rows = import_frame(table.iloc[chunk], layout)
        data = csv_lines(rows, layout, encoder)
        if data.count(term) != len(chunk):
            raise PmpmInputError("A cell holds a line break.", fix="Validate and fix it first.")
        ends = _line_ends(data, term)
        view = memoryview(data)
        index = rows.index
        fingerprints = pd.util.hash_pandas_object(rows, index=False).to_numpy()
        done = 0
        while done < len(ends):
            start = int(ends[done - 1]) if done else 0
            stop = int(np.searchsorted(ends, start + budget - size, side="right"))
            if stop <= done:
                if not size:
                    raise PmpmInputError(
                        f"Row {first + done + 1} alone is larger than the "
                        f"{layout.max_upload_bytes:,}-byte upload limit.",
                        fix="Shorten its values.",
                    )
                yield flush()
                continue
            pieces.append(view[start : int(ends[stop - 1])])
            lines.extend(index[done:stop].tolist())
            hashes.extend(fingerprints[done:stop].tolist())
            size += int(ends[stop - 1]) - start
            done = stop
            if done < len(ends):
                yield flush()  # the next row does not fit
    if size:
        yield flush()


def import_parts(
    table: pd.DataFrame,
    layout: Layout,
    report: ValidationReport,
    *,
    month: str,
    stamp: datetime,
    prefix: str = "PMPM",
    blank: pd.Series | None = None,
) -> Iterator[ExportPart]:
    """The import files for a validated table, one set per contract, built one at a time
    as they are taken (a caller that writes each and lets its bytes go never holds them all).

    Refused at once (ExportRefused, nothing built) while `report` holds errors. `blank`:
    the blank rows validation found (found again when not given).
    """
    blocking = report.errors[~report.errors["code"].isin(CURED_BY_EXPORT)]
    if not blocking.empty:
        raise ExportRefused(
            report,
            f"Export refused: {len(blocking)} error(s) remain "
            f"({', '.join(sorted(set(blocking['code'])))}). Fix them and validate again.",
        )
    return _parts(
        table, layout, month, stamp, prefix, blank_rows(table) if blank is None else blank
    )


def _parts(
    table: pd.DataFrame,
    layout: Layout,
    month: str,
    stamp: datetime,
    prefix: str,
    blank: pd.Series,
) -> Iterator[ExportPart]:
    live = table[~blank] if blank.any() else table  # a mask would copy the whole table
    contract_col = layout.name_of("contract")
    # The header as the biller's file had it (the extract is itself the import).
    heading = import_frame(live.iloc[0:0], layout)
    heading.columns = written_headers(table, layout, list(heading.columns))
    header = _encode(heading, layout, header=True)
    contract = layout.column("contract")
    keys = _export_values(live[contract_col].fillna("").astype(str), contract)
    when = stamp.strftime("%Y%m%dT%H%M%S")
    # One contract's rows at a time (iterating a groupby would sort a copy of the whole
    # table), each freed before the next is taken.
    groups = keys.groupby(keys, sort=True).indices
    del keys
    for key in sorted(groups):
        positions = groups.pop(key)
        if len(positions):
            name = f"{prefix}_{slug(str(key))}_{month}_{when}"
            yield from _contract_parts(live, positions, layout, header, name, str(key))
