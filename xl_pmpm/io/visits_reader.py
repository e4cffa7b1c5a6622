"""Visit-level data in: the column mapping file and the visits CSV, read as text.

The rules (normalizing, aggregating to a tier report) are :mod:`xl_pmpm.core.visits`.
"""

from __future__ import annotations

import codecs
import io
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from xl_pmpm.core.cells import unreadable_csv
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.visits import VisitsMapping, normalize_visits, parse_mapping
from xl_pmpm.io import files
from xl_pmpm.io.csv_reader import decode_text, sniff_binary


def load_mapping(path: str | Path | None = None) -> VisitsMapping:
    """The visits column mapping from a TOML file (the bundled one when `path` is None)."""
    p = Path(path) if path else files.bundled("visits_columns.toml")
    try:
        raw = tomllib.loads(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise PmpmInputError(
            "Mapping file not found.", file=str(p), fix="Check the name."
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PmpmInputError(
            f"Not valid TOML: {exc}", file=str(p), fix="Compare it with visits_columns.toml."
        ) from None
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


def read_visits_bytes(data: bytes, mapping: VisitsMapping, source: str = "visits") -> pd.DataFrame:
    """Normalized visits from a CSV file's bytes (index = file line numbers)."""
    binary = sniff_binary(data)
    if binary:
        raise PmpmInputError(
            f"The visits file is {binary}, not a CSV file.",
            file=source,
            fix="In Excel use File > Save As > CSV UTF-8.",
        )
    if not data.strip():
        raise PmpmInputError("The visits file is empty.", file=source, fix="Export it again.")
    # Line numbers: header = 1. Exact unless a quoted cell holds a line break.
    physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    raw = None
    try:  # pyarrow's reader first (fast); it skips blank lines, so check the count
        fast = pd.read_csv(io.BytesIO(data), engine="pyarrow", dtype=str, keep_default_na=False)
        if physical == len(fast) + 1:
            raw = fast
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        pass  # ragged rows, not UTF-8, ...: the C reader below says what is wrong
    if raw is None:
        raw = _read_slow(data, source)
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    name = "line" if physical == len(raw) + 1 else "row"  # record numbers, not lines
    raw.index = pd.RangeIndex(2, len(raw) + 2, name=name)
    if len(raw.columns):
        maybe = raw.iloc[:, 0].to_numpy() == ""  # a blank line has an empty first cell
        if maybe.any():
            blank = np.zeros(len(raw), dtype=bool)
            blank[maybe] = (raw[maybe] == "").all(axis=1).to_numpy()
            raw = raw[~blank]
    return normalize_visits(raw, mapping, source)


def read_visits(path: str | Path, mapping: VisitsMapping) -> pd.DataFrame:
    """Read and normalize a visits CSV; PmpmInputError (file, line, column) on bad cells."""
    data = files.read_input(path, "The visits file")
    return read_visits_bytes(data, mapping, source=str(path))


# --- large files, chunk by chunk (issue 16: `xl-pmpm unbilled` over months of visits) ------

# Files above this size are read chunk by chunk by `iter_visits`; smaller ones at once.
STREAM_BYTES = 64_000_000
CHUNK_ROWS = 200_000  # about 150 MiB of normalized visits at a time
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
    binary = sniff_binary(head)
    if binary:
        raise PmpmInputError(
            f"The visits file is {binary}, not a CSV file.",
            file=source,
            fix="In Excel use File > Save As > CSV UTF-8.",
        )
    options = {"dtype": str, "keep_default_na": False, "skip_blank_lines": False}
    try:
        reader = pd.read_csv(path, encoding=_file_encoding(path), chunksize=chunk_rows, **options)
        with reader:
            for chunk in reader:
                chunk.columns = [str(c).strip().lstrip("\ufeff") for c in chunk.columns]
                chunk.index = pd.RangeIndex(
                    chunk.index.start + 2, chunk.index.stop + 2, name="line"
                )
                blank = (chunk.fillna("") == "").all(axis=1)
                yield normalize_visits(chunk[~blank.to_numpy()], mapping, source)
    except (pd.errors.ParserError, ValueError) as exc:
        fix = "Make every line hold one value per column."
        raise unreadable_csv(exc, "The visits file", source, fix) from None
