"""The import-ready CSV: exactly the layout's columns, dates in its format, split under the limit.

Pure: builds the files' names and bytes. Writing them (atomically, never over an
existing file) is the shell's job (files.py).
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xl_pmpm.core.errors import ExportRefused, PmpmInputError
from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.parallel import made_ahead, side_by_side
from xl_pmpm.core.report import written_headers
from xl_pmpm.core.row_checks import blank_rows
from xl_pmpm.core.value_checks import parse_datetimes
from xl_pmpm.core.values import per_value, text_chunks

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


SLUG_LIMIT = 40  # characters of the contract in an import file's name
TAG_LENGTH = 6  # hex digits of the tag that tells apart contracts whose names would meet


def slug(text: str, limit: int = SLUG_LIMIT) -> str:
    """A file-name-safe form of a contract name: ASCII letters, digits and '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")
    return cleaned[:limit].rstrip("-") or "contract"


def fold(text: str) -> str:
    """A name as file systems that ignore case compare it (Windows, macOS, OneDrive):
    Unicode compatibility-normalised (NFKC) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def contract_tag(contract: str, length: int = TAG_LENGTH) -> str:
    """A short stable tag of a contract's full name, as the extract spells it (the same
    name, the same tag; names that differ in any character, differ)."""
    digest = hashlib.sha256(contract.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:length]


def contract_file_parts(contracts: Iterable[str], limit: int = SLUG_LIMIT) -> dict[str, str]:
    """The `<contract>` part of each contract's import file names, unique ignoring case
    and Unicode normalisation (`fold`), at most `limit` characters.

    A contract's part is its `slug`; where two contracts' slugs would meet (names equal
    but for case, punctuation or accents, or in their first `limit` characters), each
    of them gets a short tag of its full name (`contract_tag`) after a shortened slug,
    so every file stays within `PMPM_<contract>_<YYYY-MM>_<timestamp>_<part>.csv` and
    tells its contract apart.
    """
    names = sorted(set(contracts))
    base = {c: slug(c, limit) for c in names}
    by_fold: dict[str, list[str]] = {}
    for c in names:
        by_fold.setdefault(fold(base[c]), []).append(c)
    out = dict(base)
    for length in range(TAG_LENGTH, 65):
        for group in by_fold.values():
            if len(group) > 1:
                for c in group:
                    tag = contract_tag(c, length)
                    out[c] = f"{base[c][: limit - len(tag) - 1].rstrip('-')}-{tag}"
        folded = [fold(v) for v in out.values()]
        if len(set(folded)) == len(folded):
            return out
        by_fold = {}
        for c in names:
            by_fold.setdefault(fold(out[c]), []).append(c)
    raise AssertionError("unreachable: full SHA-256 tags of distinct names differ")


def import_frame(table: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """The rows as the import file holds them: layout columns, formats normalised.

    An informational column the file does not have is left out (the extract is
    itself the import: a file of only the import's fields is exported as such).
    """
    names, columns = export_columns(table, layout)
    frame = pa.table(dict(zip(names, columns, strict=True))).to_pandas()
    frame.index = table.index
    return frame


def export_columns(table: pd.DataFrame, layout: Layout) -> tuple[list[str], list[pa.ChunkedArray]]:
    """The import file's columns of the whole table as Arrow text, values as the file holds them.

    Each column is checked once (edges to strip, dates not in the export format) and
    rewritten only where a value needs it: a column of a million rows is not copied.
    """
    cols = [c for c in layout.export_columns if c.name in table.columns or not c.informational]
    missing = [c.name for c in cols if c.name not in table.columns]
    if missing:
        raise PmpmInputError(
            f"The table lacks the column(s) {', '.join(missing)}.",
            fix="Restore the missing columns before exporting.",
        )
    texts = [(_arrow_text(table[c.name]), c) for c in cols]
    return [c.name for c in cols], side_by_side(lambda tc: _export_array(*tc), texts, len(table))


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """A column's text as Arrow (no copy of Arrow-backed text), missing values empty."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        arr = values.array.__arrow_array__()
        arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
        arr = arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
        return pc.fill_null(arr, "") if arr.null_count else arr
    text = values.fillna("").astype(str).to_numpy(dtype=object)
    return pa.chunked_array([pa.array(text, pa.large_string())], pa.large_string())


# A value that starts or ends with what Python's str.isspace calls white space.
_EDGE_SPACE = r"^[\t-\r\x{1c}-\x{20}\x{85}\p{Z}]|[\t-\r\x{1c}-\x{20}\x{85}\p{Z}]$"


def _export_array(values: pa.ChunkedArray, column: Column) -> pa.ChunkedArray:
    """One column's text as the import file holds it: stripped, dates in the export format."""
    if _edge_space(values):
        values = _arrow_text(_pandas_text(values).str.strip())
    if column.type == "datetime":
        distinct = pc.unique(values)  # a month has few: each tested once
        exact = pc.match_substring_regex(distinct, f"^(?:{column.format_patterns()[0][1:-1]})$")
        if pc.any(pc.and_(pc.invert(exact), pc.not_equal(distinct, ""))).as_py():
            # rewritten once per distinct value: a month has few
            text = per_value(_pandas_text(values), lambda u: _export_dates(u, column))
            values = _arrow_text(text)
    return values


def _rows_holding(
    values: pa.Array | pa.ChunkedArray, chars: bytes
) -> pa.Array | pa.ChunkedArray | None:
    """Per row of `values` (Arrow text), whether it holds one of the bytes `chars` (ASCII, so
    a byte is the character in UTF-8), chunked as `values`; None when no row does. One pass
    of byte compares over the text, where a regular expression costs several times more."""
    masks, found = [], False
    for offsets, data in text_chunks(values):
        hit = np.zeros(len(data), dtype=bool)
        for byte in chars:
            hit |= data == byte
        mask = np.zeros(len(offsets) - 1, dtype=bool)
        where = np.flatnonzero(hit)
        if len(where):
            mask[np.searchsorted(offsets, where, side="right") - 1] = True
            found = True
        masks.append(pa.array(mask))
    if not found:
        return None
    return masks[0] if isinstance(values, pa.Array) else pa.chunked_array(masks, pa.bool_())


def _edge_space(values: pa.ChunkedArray) -> bool:
    """Whether a value starts or ends with white space (Python's `str.isspace`): only values
    whose first or last byte is not printable ASCII are tested against `_EDGE_SPACE`."""
    masks, found = [], False
    for offsets, data in text_chunks(values):
        size = np.diff(offsets)
        some = size > 0
        first = data[offsets[:-1][some]]
        last = data[offsets[1:][some] - 1]
        odd = (first <= 0x20) | (first >= 0x80) | (last <= 0x20) | (last >= 0x80)
        mask = np.zeros(len(size), dtype=bool)
        mask[some] = odd
        found = found or bool(odd.any())
        masks.append(pa.array(mask))
    if not found:
        return False
    suspects = pc.filter(values, pa.chunked_array(masks, pa.bool_()))
    return bool(pc.any(pc.match_substring_regex(suspects, _EDGE_SPACE)).as_py())


def _pandas_text(values: pa.ChunkedArray) -> pd.Series:
    return values.to_pandas().astype("str")


def _export_values(values: pd.Series, column: Column) -> pd.Series:
    """One column's text as the import file holds it (see _export_array)."""
    return _pandas_text(_export_array(_arrow_text(values), column)).set_axis(values.index)


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


@functools.cache
def _quoted_by_csv(delimiter: str, terminator: str) -> str:
    """The characters that make Python's csv writer (pandas' to_csv, QUOTE_MINIMAL) quote
    a value: the delimiter, the quote, and the line-break characters this Python quotes."""
    found = ""
    for char in dict.fromkeys([delimiter, '"', "\r", "\n", *terminator]):
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator=terminator).writerow([f"a{char}b", "c"])
        found += char if out.getvalue().startswith('"') else ""
    return found


def csv_line_array(
    columns: list[pa.Array] | list[pa.ChunkedArray], terminator: str, delimiter: str = ","
) -> pa.LargeStringArray | pa.ChunkedArray:
    """Each row of `columns` (Arrow text) as one CSV line, its terminator included, quoted
    exactly as pandas' to_csv quotes (QUOTE_MINIMAL, RFC 4180): only a value holding the
    delimiter, a quote or a line break, its quotes doubled; in a one-column file, an empty
    value as "" (so its line is not blank)."""
    quoted = _quoted_by_csv(delimiter, terminator)
    special = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in quoted) + "]"
    quote, empty = _text('"'), _text("")

    def quoted_cells(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        if quoted.isascii():
            need = _rows_holding(values, quoted.encode("ascii"))
        else:
            need = pc.match_substring_regex(values, special)
        if len(columns) == 1:
            blank = pc.equal(values, "")
            need = blank if need is None else pc.or_(need, blank)
        if need is not None and pc.any(need).as_py():
            doubled = pc.replace_substring(values, '"', '""')
            values = pc.if_else(
                need, pc.binary_join_element_wise(quote, doubled, quote, empty), values
            )
        return values

    cells = side_by_side(quoted_cells, columns, len(columns[0]) if columns else 0)
    cells[-1] = pc.binary_join_element_wise(cells[-1], _text(terminator), empty)
    if len(cells) == 1:
        return cells[0]
    return pc.binary_join_element_wise(*cells, _text(delimiter))


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _line_bytes(lines: pa.LargeStringArray) -> tuple[memoryview, np.ndarray]:
    """The bytes of `lines` one after another (no copy), and the offset just past each."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    data = memoryview(lines.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    return data, offsets[1:] - offsets[0]


def csv_lines(rows: pd.DataFrame, layout: Layout, encoder: codecs.IncrementalEncoder) -> bytes:
    """`rows` of text as CSV lines, no header, in the layout's encoding and line ends:
    pandas' to_csv bytes, written by Arrow (csv_line_array)."""
    if rows.empty:
        return b""
    columns = [_arrow_text(rows[c]).combine_chunks() for c in rows.columns]
    data, _ = _line_bytes(csv_line_array(columns, layout.line_terminator))
    return _encoded(data, layout, encoder)


def csv_file(frame: pd.DataFrame, layout: Layout) -> bytes:
    """`frame` (text) as a CSV file, header first, in the layout's encoding and line ends:
    the bytes of pandas' to_csv(index=False), written by Arrow."""
    header = _encode(frame.iloc[0:0], layout, header=True)
    encoder = codecs.getincrementalencoder(layout.encoding)()
    return header + csv_lines(frame, layout, encoder)


def _encoded(data: memoryview, layout: Layout, encoder: codecs.IncrementalEncoder) -> bytes:
    if codecs.lookup(layout.encoding).name == "utf-8":
        return bytes(data)
    return encoder.encode(str(data, "utf-8"))


# Rows taken and written at a time: a contract of a million rows is never copied whole.
_ENCODE_ROWS = 50_000


# Bytes scanned at a time for line ends (bounded scratch memory on a large file).
_SCAN_BYTES = 1 << 23


def _line_ends(body: bytes | memoryview, terminator: bytes) -> np.ndarray:
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


def row_fingerprints(rows: list[pa.Array] | list[pa.ChunkedArray]) -> np.ndarray:
    """pandas' hash of each row of the import file's columns `rows` (its values as the file
    holds them), the ledger's fingerprint of a row (`hash_pandas_object`, no index)."""
    frame = pd.DataFrame({i: r.to_pandas() for i, r in enumerate(rows)})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _fingerprints(columns: list[pa.ChunkedArray]) -> np.ndarray:
    """`row_fingerprints` of every row of `columns`, made `_ENCODE_ROWS` rows at a time (a
    row's fingerprint is its own: the pieces' scratch stays small)."""
    size = len(columns[0]) if columns else 0
    out = np.empty(size, dtype=np.uint64)
    for first in range(0, size, _ENCODE_ROWS):
        rows = [c.slice(first, _ENCODE_ROWS) for c in columns]
        out[first : first + len(rows[0])] = row_fingerprints(rows)
    return out


def _refuse_line_breaks(columns: list[pa.ChunkedArray], terminator: str) -> None:
    """PmpmInputError when a value holds the line terminator (its rows would break the file).
    Only the values holding the terminator's last character are searched for it."""
    last = terminator[-1:]

    def holds_one(values: pa.ChunkedArray) -> bool:
        if last.isascii():
            near = _rows_holding(values, last.encode("ascii"))
            if near is None:
                return False
            values = pc.filter(values, near)
        return bool(pc.any(pc.match_substring(values, terminator)).as_py())

    if any(side_by_side(holds_one, columns, len(columns[0]) if columns else 0)):
        raise PmpmInputError("A cell holds a line break.", fix="Validate and fix it first.")


# Rows whose CSV lines are made, and held, as one array: the lines of a large table are
# joined a piece at a time, so the joined text is never held twice.
_LINE_PIECE_ROWS = 1 << 17


def _line_pieces(
    columns: list[pa.ChunkedArray], terminator: str
) -> tuple[list[pa.LargeStringArray], np.ndarray]:
    """Each row's CSV line (`csv_line_array`), at most `_LINE_PIECE_ROWS` rows to an array,
    and the first row of each piece (and the row count last).

    A piece lies within one Arrow chunk of every column (the reader's blocks), so its lines
    are made as one array: no copy to join chunks.
    """
    size = len(columns[0]) if columns else 0
    edges = {0, size}
    for values in columns:
        edges.update(np.cumsum([len(c) for c in values.chunks]).tolist())
    starts = [0]
    for edge in sorted(e for e in edges if 0 < e <= size):
        while edge - starts[-1] > _LINE_PIECE_ROWS:
            starts.append(starts[-1] + _LINE_PIECE_ROWS)
        starts.append(edge)

    def piece(span: tuple[int, int]) -> pa.LargeStringArray:
        first, stop = span
        lines = csv_line_array([c.slice(first, stop - first) for c in columns], terminator)
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.chunk(0) if lines.num_chunks == 1 else lines.combine_chunks()
        return lines

    pieces = side_by_side(piece, zip(starts[:-1], starts[1:], strict=True), size)
    return pieces, np.array(starts if size else [0], dtype=np.int64)


def _lines_of(
    pieces: list[pa.LargeStringArray], starts: np.ndarray, rows: np.ndarray
) -> pa.LargeStringArray:
    """The lines of `rows` (ascending) from `_line_pieces` (`starts`: each piece's first row):
    views where the rows follow each other, else one take per piece they fall in."""
    bounds = np.searchsorted(rows, starts)
    taken = []
    for k, piece in enumerate(pieces):
        wanted = rows[bounds[k] : bounds[k + 1]] - starts[k]
        if not len(wanted):
            continue
        if wanted[-1] - wanted[0] + 1 == len(wanted):
            taken.append(piece.slice(int(wanted[0]), len(wanted)))
        else:
            taken.append(piece.take(pa.array(wanted)))
    return taken[0] if len(taken) == 1 else pa.concat_arrays(taken)


def _contract_parts(
    lines: list[pa.LargeStringArray],
    starts: np.ndarray,
    start: int,
    picked: np.ndarray | None,
    lines_of: np.ndarray,
    hashes: np.ndarray | None,
    layout: Layout,
    header: bytes,
    name: str,
    contract: str,
) -> Iterator[ExportPart]:
    """The import files of one contract's rows, one at a time: rows `picked` of `lines` (each
    row's CSV line, `_line_pieces`, the pieces' first rows `starts`), or the `len(lines_of)`
    rows from `start` on when the table is already in contract order; their report lines
    `lines_of`; with `hashes` (every row's ledger fingerprint), each part carries its rows'.

    Taken `_ENCODE_ROWS` lines at a time straight into files under the upload limit, each
    taking as many rows as fit: the contract's whole text is never held.
    """
    budget = layout.max_upload_bytes - len(header) - 1
    encoder = codecs.getincrementalencoder(layout.encoding)()
    term = layout.line_terminator.encode(layout.encoding)
    utf8 = codecs.lookup(layout.encoding).name == "utf-8"
    count = 0
    pieces: list[memoryview] = []  # views of the encoded slices: copied once, into the part
    lines_in: list[int] = []
    hashes_in: list[int] = []
    size = 0

    def flush() -> ExportPart:
        nonlocal pieces, lines_in, hashes_in, size, count
        count += 1
        data = b"".join([header, *pieces])
        part = ExportPart(f"{name}_{count:02d}.csv", data, contract, lines_in, hashes_in)
        pieces, lines_in, hashes_in, size = [], [], [], 0
        return part

    def taken(first: int) -> tuple[np.ndarray, memoryview, np.ndarray]:
        """The rows of the slice from `first` on, and their lines' bytes and line ends."""
        count = min(_ENCODE_ROWS, len(lines_of) - first)
        if picked is None:
            rows = np.arange(start + first, start + first + count)
        else:
            rows = picked[first : first + count]
        return rows, *_line_bytes(_lines_of(lines, starts, rows))

    # Each slice's lines taken (Arrow, the interpreter's lock let go) while the one before is
    # cut into files.
    slices = range(0, len(lines_of), _ENCODE_ROWS)
    for first, (rows, data, ends) in zip(
        slices, made_ahead(taken, slices, len(lines_of)), strict=True
    ):
        index = lines_of[first : first + _ENCODE_ROWS]
        found = None if hashes is None else hashes[rows]
        if not utf8:
            data = memoryview(encoder.encode(str(data, "utf-8")))
            ends = _line_ends(data, term)
        done = 0
        while done < len(ends):
            begin = int(ends[done - 1]) if done else 0
            stop = int(np.searchsorted(ends, begin + budget - size, side="right"))
            if stop <= done:
                if not size:
                    raise PmpmInputError(
                        f"Row {first + done + 1} alone is larger than the "
                        f"{layout.max_upload_bytes:,}-byte upload limit.",
                        fix="Shorten its values.",
                    )
                yield flush()
                continue
            pieces.append(data[begin : int(ends[stop - 1])])
            lines_in.extend(index[done:stop].tolist())
            if found is not None:
                hashes_in.extend(found[done:stop].tolist())
            size += int(ends[stop - 1]) - begin
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
    fingerprints: bool = True,
) -> Iterator[ExportPart]:
    """The import files for a validated table, one set per contract, built one at a time
    as they are taken (a caller that writes each and lets its bytes go never holds them all).

    Refused at once (ExportRefused, nothing built) while `report` holds errors. `blank`:
    the blank rows validation found (found again when not given). `fingerprints`: each
    part carries its rows' ledger fingerprints (`ExportPart.hashes`; an export without
    the ledger does without).
    """
    blocking = report.errors[~report.errors["code"].isin(CURED_BY_EXPORT)]
    if not blocking.empty:
        raise ExportRefused(
            report,
            f"Export refused: {len(blocking)} error(s) remain "
            f"({', '.join(sorted(set(blocking['code'])))}). Fix them and validate again.",
        )
    blank = blank_rows(table) if blank is None else blank
    return _parts(table, layout, month, stamp, prefix, blank, fingerprints)


def _parts(
    table: pd.DataFrame,
    layout: Layout,
    month: str,
    stamp: datetime,
    prefix: str,
    blank: pd.Series,
    fingerprints: bool,
) -> Iterator[ExportPart]:
    live = table[~blank] if blank.any() else table  # a mask would copy the whole table
    contract_col = layout.name_of("contract")
    # The header as the biller's file had it (the extract is itself the import).
    heading = import_frame(live.iloc[0:0], layout)
    heading.columns = written_headers(table, layout, list(heading.columns))
    header = _encode(heading, layout, header=True)
    names, columns = export_columns(live, layout)
    _refuse_line_breaks(columns, layout.line_terminator)
    keys = _pandas_text(columns[names.index(contract_col)])
    when = stamp.strftime("%Y%m%dT%H%M%S")
    # Each row's CSV line made once over the whole table (the cost does not grow with the
    # number of contracts); the rows in contract order found once, and each contract's
    # lines then taken a slice at a time (none taken where the table is in that order).
    codes, contracts = pd.factorize(keys, sort=True)
    del keys
    # (codes as narrow as the contracts allow: numpy sorts 8 and 16 bits by radix)
    narrow = np.int16 if len(contracts) <= np.iinfo(np.int16).max else np.int64
    order = np.argsort(codes.astype(narrow, copy=False), kind="stable")
    counts = np.bincount(codes, minlength=len(contracts))
    del codes
    line_numbers = live.index.to_numpy()
    picked: np.ndarray | None = order
    if not (order != np.arange(len(order))).any():
        picked = None
    else:
        line_numbers = line_numbers[order]
    del order
    hashes = _fingerprints(columns) if fingerprints else None
    lines, piece_starts = _line_pieces(columns, layout.line_terminator)
    del columns
    in_name = contract_file_parts(str(k) for k in contracts)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for k, key in enumerate(contracts):
        if counts[k]:
            name = f"{prefix}_{in_name[str(key)]}_{month}_{when}"
            run = slice(int(starts[k]), int(starts[k + 1]))
            yield from _contract_parts(
                lines,
                piece_starts,
                run.start,
                None if picked is None else picked[run],
                line_numbers[run],
                hashes,
                layout,
                header,
                name,
                str(key),
            )
