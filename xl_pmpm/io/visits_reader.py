"""Visit-level data in: the column mapping file and the visits CSV, read as text.

The rules (normalizing, aggregating to a tier report) are :mod:`xl_pmpm.core.visits`.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from xl_pmpm.core.cells import unreadable_csv
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.groups import a_row_of_each, combined_codes
from xl_pmpm.core.parallel import side_by_side
from xl_pmpm.core.visits import (
    ENGINE_GROUP_COLUMNS,
    ENGINE_READS,
    VisitsMapping,
    combine_visit_sums,
    engine_sums,
    normalize_visits,
    parse_mapping,
    read_values,
    visit_headers,
    visit_sums,
)
from xl_pmpm.io import files, sniff
from xl_pmpm.io.csv_reader import decode_text
from xl_pmpm.io.memory import release_unused


def load_mapping(path: str | Path | None = None) -> VisitsMapping:
    """The visits column mapping from a TOML file (the bundled one when `path` is None)."""
    p = Path(path) if path else files.bundled("visits_columns.toml")
    raw = sniff.load_toml(p, "The mapping file", "Compare it with the bundled visits_columns.toml.")
    return parse_mapping(raw, source=str(p))


def _read_slow(data: bytes, source: str) -> pd.DataFrame:
    options = {"dtype": str, "keep_default_na": False, "skip_blank_lines": False}
    try:
        try:
            return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", **options)
        except UnicodeDecodeError:
            return pd.read_csv(io.StringIO(decode_text(data)[0]), **options)
    except (pd.errors.ParserError, ValueError) as exc:
        fix = "Make every line hold one value per column."
        raise unreadable_csv(exc, "The visits file", source, fix) from None


# --- the fast reader: Arrow's CSV parser, every column dictionary-encoded text -------------

_TEXT = pa.dictionary(pa.int32(), pa.string())


def _header_names(data: bytes) -> list[str] | None:
    """The header's cells (as Arrow will name the columns); None when unsure."""
    line = data[: data.find(b"\n") if b"\n" in data else len(data)]
    try:
        names = next(csv.reader([line.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return names if len(set(names)) == len(names) else None  # repeated names: pandas' way


def _arrow_options(names: list[str], block_size: int | None = None) -> dict:
    read = pacsv.ReadOptions(block_size=block_size) if block_size else pacsv.ReadOptions()
    return {
        "read_options": read,
        # A blank line stays a row (of ''), so row numbers are line numbers.
        "parse_options": pacsv.ParseOptions(ignore_empty_lines=False),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, _TEXT), strings_can_be_null=False
        ),
    }


def _as_frame(table: pa.Table, first_line: int) -> pd.DataFrame:
    """An Arrow table of dictionary columns as Categoricals (no Python string per cell)."""
    table = table.unify_dictionaries()
    columns = {}
    for i, column in enumerate(table.columns):
        chunks = column.chunks
        words = chunks[0].dictionary if chunks else pa.array([], pa.string())
        codes = pa.chunked_array([c.indices for c in chunks], pa.int32())
        if codes.null_count:
            codes = codes.fill_null(-1)
        categories = pd.Index(words.to_pandas(), dtype="str")
        columns[i] = pd.Categorical.from_codes(
            codes.to_numpy(), categories=categories, validate=False
        )
    frame = pd.DataFrame(columns)
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in table.column_names]
    frame.index = pd.RangeIndex(first_line, first_line + len(frame), name="line")
    return frame


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty (a blank line, Excel's trailing ',,,')."""
    blank = np.ones(len(frame), dtype=bool)
    for _, column in frame.items():
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy()
            empty = np.flatnonzero(column.cat.categories == "")
            blank &= (codes < 0) | (codes == (empty[0] if len(empty) else -1))
        else:
            blank &= column.fillna("").astype(str).to_numpy() == ""
        if not blank.any():
            break
    return blank


def _ascii_only(table: pa.Table) -> bool:
    return all(
        pc.all(pc.string_is_ascii(chunk.dictionary)).as_py() is not False
        for column in table.columns
        for chunk in column.chunks
    )


def read_visits_bytes(data: bytes, mapping: VisitsMapping, source: str = "visits") -> pd.DataFrame:
    """Normalized visits from a CSV file's bytes (index = file line numbers)."""
    kind = sniff.identify(data)
    if kind is not None:
        raise sniff.refuse(kind, "The visits file", source)
    if not data[:65536].strip() and not data.strip():
        raise PmpmInputError("The visits file is empty.", file=source, fix="Export it again.")
    too_long = sniff.too_long_line(data, "The visits file", source)
    if too_long is not None:
        raise too_long
    # Line numbers: header = 1. Exact unless a quoted cell holds a line break.
    physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    raw = None
    names = _header_names(data)
    if names:
        try:  # Arrow's reader first (fast); a quoted line break changes the count
            # Large blocks: fewer dictionaries to unify afterwards.
            table = pacsv.read_csv(pa.py_buffer(data), **_arrow_options(names, 2 * _BLOCK))
            if physical == table.num_rows + 1:
                raw = _as_frame(table, 2)
            del table
        except (pa.ArrowInvalid, ValueError):
            pass  # ragged rows, not UTF-8, ...: the C reader below says what is wrong
    if raw is None:
        raw = _read_slow(data, source)
        raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
        name = "line" if physical == len(raw) + 1 else "row"  # record numbers, not lines
        raw.index = pd.RangeIndex(2, len(raw) + 2, name=name)
    if len(raw.columns):
        blank = _blank_rows(raw)
        if blank.any():
            raw = raw[~blank]
    return normalize_visits(raw, mapping, source)


def read_visits(path: str | Path, mapping: VisitsMapping) -> pd.DataFrame:
    """Read and normalize a visits CSV; PmpmInputError (file, line, column) on bad cells."""
    data = sniff.read_bytes(path, "The visits file")
    return read_visits_bytes(data, mapping, source="stdin" if sniff.is_stdin(path) else str(path))


# --- large files, chunk by chunk (issue 16: `xl-pmpm unbilled` over months of visits) ------

# Files above this size are read chunk by chunk by `iter_visits`; smaller ones at once.
STREAM_BYTES = 64_000_000
CHUNK_ROWS = 500_000  # about 80 MiB of parsed visits at a time
_BLOCK = 8 << 20


def _file_encoding(path: Path) -> str:
    """The encoding `decode_text` would pick for the whole file, found block by block."""
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := fh.read(_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def iter_visits(
    path: str | Path,
    mapping: VisitsMapping,
    *,
    chunk_rows: int | None = None,
    stream_above: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Normalized visits of a CSV file, a chunk of rows at a time (index = file lines).

    A file up to `stream_above` bytes (STREAM_BYTES) is one chunk (`read_visits`); a
    larger one is read `chunk_rows` (CHUNK_ROWS) rows at a time, so memory holds one
    chunk, never the whole file.
    The same errors as `read_visits` (file, line, column), raised at the chunk holding
    the bad cell.
    """
    if sniff.is_stdin(path):  # standard input is read whole: it cannot be re-opened
        yield read_visits(path, mapping)
        return
    path = Path(path)
    chunk_rows = chunk_rows or CHUNK_ROWS
    stream_above = STREAM_BYTES if stream_above is None else stream_above
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PmpmInputError(
            "Visits file not found.", file=str(path), fix="Check the name."
        ) from None
    if size <= stream_above or path.is_dir():
        yield read_visits(path, mapping)
        return
    source = str(path)
    with path.open("rb") as fh:
        head = fh.read(65536)
    kind = sniff.identify(head)
    if kind is not None:
        raise sniff.refuse(kind, "The visits file", source)
    too_long = sniff.too_long_line(head[: head.rfind(b"\n") + 1], "The visits file", source)
    if too_long is not None:
        raise too_long
    names = _header_names(head)
    done = 0  # rows (and blank lines) read so far: the next row's line is done + 2
    if names:
        rows_per_byte = max(head.count(b"\n"), 1) / max(len(head), 1)
        block = max(int(chunk_rows / rows_per_byte), 1 << 14)
        ascii_so_far = True
        try:
            reader = pacsv.open_csv(path, **_arrow_options(names, block))
        except pa.ArrowInvalid:
            reader = None  # not UTF-8, a ragged row, ... in the first block
        while reader is not None:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                reader.close()
                if done and not ascii_so_far and "utf8" in str(exc).lower():
                    raise PmpmInputError(
                        f"The visits file is UTF-8 up to line {done + 1}, then not: it "
                        "mixes encodings.",
                        file=source,
                        fix="Save it again in one encoding (Excel: File > Save As > CSV UTF-8).",
                    ) from None
                break
            table = pa.Table.from_batches([batch])
            ascii_so_far = ascii_so_far and _ascii_only(table)
            chunk = _as_frame(table, done + 2)
            done += len(chunk)
            del batch, table
            yield normalize_visits(chunk[~_blank_rows(chunk)], mapping, source)
    # Not UTF-8, a ragged row, a quoted line break...: pandas' C reader goes on from the
    # first row not read and says what is wrong, as it did for the whole file before.
    yield from _read_chunks_slow(path, mapping, chunk_rows, skip=done)


def read_visit_sums(path: str | Path, mapping: VisitsMapping, month: str) -> pd.DataFrame:
    """`core.visits.visit_sums` of a visits file.

    A file above ENGINE_ABOVE bytes is summed by an engine (`_engine_sums`: Arrow and numpy
    up to ARROW_UP_TO bytes, DuckDB when installed above) where the file is plain UTF-8
    CSV and every cell reads as the core's rules read it; otherwise (and for every bad
    cell, so the message names it) a chunk at a time (`iter_visits`): memory holds one
    chunk and the sums, never the whole file's visits."""
    if not sniff.is_stdin(path):
        sums = _engine_sums(Path(path), mapping, month)
        if sums is not None:
            return sums
    parts = []
    for chunk in iter_visits(path, mapping):
        parts.append(visit_sums(chunk, month))
        del chunk
        release_unused()  # the chunk's text and codes, back before the next is read
    return combine_visit_sums(parts)


def _read_chunks_slow(
    path: Path, mapping: VisitsMapping, chunk_rows: int, skip: int
) -> Iterator[pd.DataFrame]:
    """`iter_visits` by pandas' C reader (any encoding `decode_text` accepts), from row
    `skip` on."""
    source = str(path)
    options = {"dtype": str, "keep_default_na": False, "skip_blank_lines": False}
    if skip:
        options["skiprows"] = range(1, skip + 1)
    try:
        reader = pd.read_csv(path, encoding=_file_encoding(path), chunksize=chunk_rows, **options)
        with reader:
            for chunk in reader:
                chunk.columns = [str(c).strip().lstrip("\ufeff") for c in chunk.columns]
                chunk.index = pd.RangeIndex(
                    chunk.index.start + skip + 2, chunk.index.stop + skip + 2, name="line"
                )
                yield normalize_visits(chunk[~_blank_rows(chunk)], mapping, source)
    except (pd.errors.ParserError, ValueError) as exc:
        fix = "Make every line hold one value per column."
        raise unreadable_csv(exc, "The visits file", source, fix) from None


# --- large files, summed by DuckDB -----------------------------------------------------------

# Files above this size are summed by an engine (`_engine_sums`); smaller ones by the reader
# above (pandas), whose start is quicker. Up to ARROW_UP_TO bytes by Arrow and numpy (about
# two thirds of DuckDB's CPU seconds, but the file's codes in memory: 2,000,000 visits, 194 MB,
# peak 450 MiB against DuckDB's 250); larger files by DuckDB (a pass over the file in
# constant memory), so the peak stays within twice DuckDB's.
ENGINE_ABOVE = 16_000_000
ARROW_UP_TO = 256_000_000


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _engine_query(
    names: list[str], header: dict[str, str], mapping: VisitsMapping, month: str
) -> str:
    """DuckDB's SQL for `core.visits.engine_sums`: one pass over the file (`$path`), every
    column text; the date forms, the billed status words and the month are the mapping's
    and the command's. What it reads in each distinct cell is checked by the core."""
    col = {f: f"c{names.index(h)}" for f, h in header.items()}
    period = pd.Period(month, freq="M")
    start, end = period.start_time.date(), (period + 1).start_time.date()
    forms = "[" + ", ".join(_sql_text(f) for f in mapping.date_formats) + "]"
    billed = ", ".join(_sql_text(w) for w, s in mapping.statuses.items() if s == "billed")
    hours = "TRY_CAST(trim({}) AS DOUBLE)"
    reads = {
        "visit_date": f"CAST(try_strptime(trim({col['visit_date']}), {forms}) AS DATE)",
        "hours": hours.format(col["hours"]),
        "status": f"lower(trim({col['status']})) IN ({billed})",
    }
    if "authorized_hours" in col:
        reads["authorized_hours"] = hours.format(col["authorized_hours"])
    typed = ", ".join(f"{sql} AS r_{f}" for f, sql in reads.items())
    blank = " AND ".join(f"coalesce(c{i}, '') = ''" for i in range(len(names)))
    inside = f"r_visit_date >= DATE '{start}' AND r_visit_date < DATE '{end}'"
    month_hours = "sum(r_hours) FILTER (WHERE inside AND {}r_status)"
    authorized = (
        "max(r_authorized_hours) FILTER (WHERE inside)" if "authorized_hours" in col else "NULL"
    )
    # One group per contract, patient number and the member's name and IDs as written:
    # a member whose name or IDs change within the month has two groups (the core then
    # leaves the file to the reader that keeps the file's order).
    texts = [f for f in ("patient_name", "agency_id", "office_id") if f in col]
    keys = [col[f] for f in ("contract", "patient_number", *texts)]
    named = ", ".join(
        f"{col[f]} AS {f}" if f in col else f"NULL AS {f}"
        for f in ("contract", "patient_number", "patient_name", "agency_id", "office_id")
    )
    # And every distinct cell of the fields read, with what the SQL read in it: the
    # dates, hours and statuses as one set (a few thousand combinations), the authorized
    # hours (one a member, often) apart.
    together = [col[f] for f in reads if f != "authorized_hours"]
    sets = [keys, together] + ([[col["authorized_hours"]]] if "authorized_hours" in col else [])
    grouping = ", ".join("(" + ", ".join(s) + ")" for s in sets)
    distinct = ", ".join(
        f"GROUPING({col[f]}) AS g_{f}, {col[f]} AS d_{f}, any_value(r_{f}) AS v_{f}" for f in reads
    )
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names)))
    return f"""
        WITH v AS (
            SELECT *, {typed}
            FROM read_csv($path, columns = {{{columns}}}, header = true, auto_detect = false,
                          delim = ',', quote = '"', escape = '"', strict_mode = true)
            WHERE NOT ({blank})
        ), m AS (SELECT *, coalesce({inside}, false) AS inside FROM v)
        SELECT GROUPING({", ".join(keys)}) AS g, {named},
            coalesce({month_hours.format("")}, 0) AS billed,
            coalesce({month_hours.format("NOT ")}, 0) AS unbilled,
            {authorized} AS authorized,
            count(*) AS visits, count(*) FILTER (WHERE inside) AS in_month, {distinct}
        FROM m
        GROUP BY GROUPING SETS ({grouping})
    """


def _engine_sums(path: Path, mapping: VisitsMapping, month: str) -> pd.DataFrame | None:
    """`visit_sums` of the file by Arrow and numpy (up to ARROW_UP_TO bytes) or DuckDB (see
    read_visit_sums), or None."""
    try:
        size = path.stat().st_size
        if size <= ENGINE_ABOVE or not path.is_file():
            return None
    except OSError:
        return None
    with path.open("rb") as fh:
        head = fh.read(65536)
    if sniff.identify(head) is not None or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    if sniff.too_long_line(head[: head.rfind(b"\n") + 1], "The visits file", str(path)):
        return None
    written = _header_names(head)
    if not written:
        return None
    names = [n.strip().lstrip("\ufeff") for n in written]
    try:
        header = visit_headers(names, mapping)
    except PmpmInputError:
        return None
    typed = {header[f] for f in ENGINE_READS if f in header}
    if typed & {header[f] for f in header if f not in ENGINE_READS}:
        return None  # a column both read and grouped by: the sets could not be told apart
    if size <= ARROW_UP_TO:
        return _arrow_sums(path, written, names, header, mapping, month)
    try:
        import duckdb
    except ImportError:
        return None
    query = _engine_query(names, header, mapping, month)
    try:
        with duckdb.connect() as con:
            con.execute("SET enable_progress_bar = false")
            found = con.sql(query, params={"path": str(path)}).to_arrow_table()
    except duckdb.Error:
        return None  # not UTF-8, a ragged row, ...: the chunked reader says what is wrong
    return engine_sums(*_engine_parts(found), mapping, set(header))


def _engine_parts(found: pa.Table) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The query's result split in Arrow (its groups; each field's distinct cells) and only
    those parts made pandas frames (DuckDB's own .df() converts its text columns slower)."""
    whole = pc.equal(found["g"], 0)
    groups = found.filter(whole).select(list(ENGINE_GROUP_COLUMNS)).to_pandas()
    rest = found.filter(pc.invert(whole))
    distinct = {}
    for f, read in ENGINE_READS.items():
        if f"d_{f}" in found.column_names:
            one = rest.filter(pc.equal(rest[f"g_{f}"], 0)).select([f"d_{f}", f"v_{f}"])
            frame = one.rename_columns(["raw", read]).to_pandas()
            distinct[f] = frame.drop_duplicates("raw").reset_index(drop=True)
    return groups, distinct


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pd.Series]:
    """(codes, values) of a column of text or of dictionary chunks: every cell is
    `values[codes]` (-1 where null), one code a distinct value over the whole column, every
    value some row's, in the order the rows first hold them (text encoded by Arrow in one
    pass over its chunks, no copy of them first; dictionary chunks by Arrow's
    `unify_dictionaries`, a block's dictionary holding only the block's values)."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    chunks = column.chunks
    if not _one_dictionary(chunks):  # Arrow's reader: a dictionary per block
        chunks = column.unify_dictionaries().chunks
    if not chunks:
        return np.empty(0, dtype=np.int32), pd.Series([], dtype="str")
    codes = np.concatenate(
        [
            c.indices.fill_null(-1).to_numpy() if c.null_count else c.indices.to_numpy()
            for c in chunks
        ]
    ).astype(np.int32, copy=False)
    return codes, pd.Series(chunks[0].dictionary.to_pandas(), dtype="str")


def _one_dictionary(chunks: list[pa.DictionaryArray]) -> bool:
    """Whether every chunk holds the very same dictionary (its buffers, offset and length), as
    `dictionary_encode` of a chunked column gives them: then there is nothing to unify
    (`unify_dictionaries` would hash every value again)."""

    def held(d: pa.Array) -> tuple:
        return d.offset, len(d), *(b.address if b is not None else None for b in d.buffers())

    first = held(chunks[0].dictionary) if chunks else None
    return all(held(c.dictionary) == first for c in chunks[1:])


def _group_ids(parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """One id (0, 1, ...) a distinct combination of the code columns `parts` ((codes, how many
    values))."""
    key, width = combined_codes(parts, len(parts[0][0]))
    if width <= 4 * len(key) + 1024:  # numbered through a table of every key (no hashing)
        seen = np.zeros(width, dtype=bool)
        seen[key] = True
        present = np.flatnonzero(seen)
        number = np.empty(width, dtype=np.int32)
        number[present] = np.arange(len(present), dtype=np.int32)
        return number[key]
    return pd.factorize(key)[0]


def _arrow_sums(
    path: Path,
    written: list[str],
    names: list[str],
    header: dict[str, str],
    mapping: VisitsMapping,
    month: str,
) -> pd.DataFrame | None:
    """The groups and distinct cells `engine_sums` takes (as DuckDB's query gives them) from
    the file read by Arrow (`written`: its header's cells; `names`: stripped, as `header`
    names them), every column dictionary-encoded: each field's distinct cells
    read by the core's rules (`read_values`), the visits summed by numpy over the codes.
    None where the file is not for it (a bad cell, a ragged row, not UTF-8): the chunked
    reader then names what is wrong."""
    # A member's number and name are read as text and encoded once, whole: tens of thousands
    # of distinct values, which a dictionary per block would hash again in every block. The
    # types are keyed by the header's cells as written: Arrow's names.
    whole = {header[f] for f in ("patient_number", "patient_name") if f in header}
    types = {w: pa.string() if n in whole else _TEXT for w, n in zip(written, names, strict=True)}
    try:
        table = pacsv.read_csv(
            path,
            # Parsed on every core, in blocks of 1 MB: larger blocks side by side take more
            # memory (2,000,000 visits, 194 MB: 4 MB blocks peak 130 MiB higher, no faster).
            read_options=pacsv.ReadOptions(block_size=_BLOCK // 8, use_threads=True),
            # A blank line stays a row (Excel's ',,,' too). Blocks are cut at any line end
            # (0.15 s less at 2,000,000 visits): a line break inside quotes is part of its
            # cell where its block holds it whole, and stops Arrow where a cut falls inside
            # the quotes (the chunked reader then reads the file).
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    if table.schema.types != [types[w] for w in written]:
        return None  # a header cell Arrow names otherwise: every column must be as asked
    # The columns' codes found side by side (Arrow's hashing and numpy's copies let go of
    # the interpreter's lock), each column let go once its codes are copied out. The
    # parser's scratch goes back first: threads allocate from arenas of their own, which
    # could not reuse it (2,000,000 visits: peak 435 MiB, not 338).
    lines = table.num_rows
    held = [[column] for column in table.columns]
    del table
    release_unused()
    cells = side_by_side(lambda one: _codes(one.pop()), held, lines)
    release_unused()
    blank = np.ones(len(cells[0][0]) if cells else 0, dtype=bool)
    for codes, values in cells:  # a blank line, Excel's trailing ',,,': every cell empty
        empty = np.flatnonzero(values.to_numpy() == "")
        blank &= (codes < 0) | (codes == (empty[0] if len(empty) else -1))
        if not blank.any():
            break
    keep = np.flatnonzero(~blank) if blank.any() else None
    field = {f: cells[names.index(h)] for f, h in header.items()}
    del cells
    if keep is not None:
        field = {f: (codes[keep], values) for f, (codes, values) in field.items()}
    if any((codes < 0).any() for codes, _ in field.values()):
        return None  # a row short of a cell
    period = pd.Period(month, freq="M")
    rows: dict[str, np.ndarray] = {}
    distinct = {}
    for f, read in ENGINE_READS.items():
        if f not in field:
            continue
        codes, values = field[f]
        # Every value is some row's (`_codes`), unless blank rows were left out.
        used = np.ones(len(values), dtype=bool)
        if keep is not None:
            used[:] = False
            used[codes] = True
        typed, bad = read_values(f, values, mapping)
        if (bad.to_numpy(dtype=bool) & used).any():
            return None
        if f == "visit_date":
            day = typed.to_numpy()
            reading = typed
            inside = (day >= period.start_time.to_datetime64()) & (
                day < (period + 1).start_time.to_datetime64()
            )
            rows["inside"] = inside[codes]
        elif f == "status":
            reading = typed == "billed"
            rows["billed"] = reading.to_numpy(dtype=bool)[codes]
        else:
            reading = typed.astype("float64")
            rows[f] = reading.to_numpy()[codes]
        distinct[f] = pd.DataFrame({"raw": values[used], read: reading[used]}).reset_index(
            drop=True
        )
    texts = [f for f in ("contract", "patient_number", *_NAMED) if f in field]
    ids = _group_ids([(field[f][0], len(field[f][1])) for f in texts[:2]])
    count = int(ids.max(initial=-1)) + 1
    row = a_row_of_each(ids, count)
    for f in texts[2:]:  # a member's name and IDs as written: one a member, or groups by them
        codes = field[f][0]
        if not np.array_equal(codes[row][ids], codes):
            ids = _group_ids([(field[f][0], len(field[f][1])) for f in texts])
            count = int(ids.max(initial=-1)) + 1
            row = a_row_of_each(ids, count)
            break
    groups: dict[str, object] = dict.fromkeys(("contract", "patient_number", *_NAMED))
    for f in texts:  # every row of a group holds its texts' codes
        codes, values = field.pop(f)
        groups[f] = values.to_numpy()[codes[row]]
    inside = rows.pop("inside")
    hours = rows.pop("hours")  # each row's own array: zeroed in place, not copied
    hours[~inside] = 0.0
    billed = rows.pop("billed")
    groups["billed"] = np.bincount(ids, hours * billed, count)
    hours[billed] = 0.0
    groups["unbilled"] = np.bincount(ids, hours, count)
    del hours, billed
    if "authorized_hours" in rows:
        authorized = pd.Series(np.where(inside, rows["authorized_hours"], np.nan))
        groups["authorized"] = authorized.groupby(ids).max().to_numpy()
    else:
        groups["authorized"] = np.full(count, np.nan)
    groups["visits"] = np.bincount(ids, minlength=count)
    groups["in_month"] = np.bincount(ids, inside, count).astype(np.int64)
    frame = pd.DataFrame({c: groups[c] for c in ENGINE_GROUP_COLUMNS})
    return engine_sums(frame, distinct, mapping, set(header))


_NAMED = ("patient_name", "agency_id", "office_id")
