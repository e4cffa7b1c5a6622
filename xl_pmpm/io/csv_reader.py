"""Reading a CDPAP PMPM Tier Report/Extract: bytes in, an all-text table out.

Every cell stays text (no lost leading zeros, no float IDs). The table's index
is the line of the file each row starts on, so every finding points at the line
the biller sees. Problems with the file itself become findings, never a silent
change: a renamed header is read but reported, a blank row is kept and reported.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import csv as pacsv

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import combine, file_finding, finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.parallel import side_by_side
from xl_pmpm.core.report import TierReport, header_hits, header_need, match_header
from xl_pmpm.io import sniff
from xl_pmpm.io.sniff import MAX_LINE_CHARS, identify

# Excel's first-line delimiter hint ("sep=;"), which Excel itself hides.
_SEP_HINT = re.compile(r"sep=([,;\t|])")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a CSV's bytes: UTF-16 by BOM, else UTF-8 (BOM or not), else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass  # a BOM but no valid UTF-16 (a file cut short?): read it as bytes below
    try:
        enc = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        return data.decode("utf-8-sig"), enc
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def not_a_report(data: bytes) -> str | None:
    """What a file that cannot be a tier report is, with the fix; None if it may be one
    (text, or an .xlsx / .xlsm workbook). Said through `sniff.identify`, as every reader."""
    kind = identify(data)
    if kind is None or kind.code == "workbook":
        return None
    return (
        f"This is {kind.what}; a tier report is a CSV file or an .xlsx / .xlsm workbook. {kind.fix}"
    )


def lone_cr_lines(text: str) -> list[int]:
    """Lines ended by a carriage return alone (CR, no LF) in a file whose lines end in LF/CRLF.

    The reader, like Excel, takes such a CR as a line break; line numbers count it.
    (A file of CR-only line ends, old Mac style, has none: all its breaks are CRs.)
    """
    if "\n" not in text or "\r" not in text.replace("\r\n", ""):
        return []
    out = []
    for line, brk in enumerate(re.findall(r"\r\n|\r|\n", text), start=1):
        if brk == "\r":
            out.append(line)
    return out


_LONE_CR = re.compile(rb"\r(?!\n)")


def _lone_cr_in(data: bytes, encoding: str, plan: _Plan) -> list[int]:
    """The lines a lone CR ends, numbered as the table's lines (decoded only if there is one)."""
    if encoding == "utf-16":
        text = data.decode("utf-16")
    elif _LONE_CR.search(data) is None:
        return []
    else:
        text = data.decode(encoding, errors="replace")
    shift = plan.first_line - 1 - plan.skip
    return [n + shift for n in lone_cr_lines(text) if n > plan.skip]


def _lone_cr_findings(lines: list[int]) -> pd.DataFrame:
    after = pd.Series(lines, index=lines) + 1
    message = (
        "A carriage return (CR) alone ends line "
        + after.sub(1).astype(str)
        + " inside the text: it is read as a line break, so the text after it is line "
        + after.astype(str)
        + " and every later line is numbered one more than in an editor that breaks "
        "lines only at CRLF or LF."
    )
    return finding_rows("lone-cr", pd.Index(lines), None, "", message)


def _records_with_lines(text: str, sep: str) -> tuple[list[list[str]], list[int]]:
    """Parse with the csv module, keeping the line each record starts on."""
    # One cell may hold the rest of the file (a quote never closed): allow it, so that
    # the line-break finding reports it instead of the csv module refusing.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    records: list[list[str]] = []
    lines: list[int] = []
    last = 0
    for rec in reader:
        records.append(rec)
        lines.append(last + 1)
        last = reader.line_num
    return records, lines


# How much of the file is decoded to find the header, the delimiter and title lines.
_HEAD_BYTES = 1 << 16
# Bytes scanned at a time for line ends, delimiters and quotes (bounded scratch memory).
_SCAN_BYTES = 1 << 23
# pyarrow's read block (its default is 1 MB): each block is a chunk of every column, and
# every later pass over a column pays a little per chunk (a 200 MB file: 24 chunks, not 187).
_BLOCK_BYTES = 1 << 23
# About a tier report's line: the rows a scan of bytes is weighed as (`side_by_side`).
_LINE_BYTES = 200
# Lines searched for the header when the first line is a title.
_TITLE_SCAN_LINES = 200
# Windows-1252 leaves these bytes undefined: a file holding one is read as Latin-1.
_CP1252_HOLES = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_NL, _CR, _QUOTE = 10, 13, 34


@dataclass
class _Plan:
    """Where the table starts, what separates its values, and what reading the top found."""

    skip: int  # lines before the header (a delimiter hint, title lines)
    first_line: int  # the line number the header gets
    sep: str
    header: str  # the header's line


def _plan(text: str, layout: Layout, findings: list[pd.DataFrame]) -> _Plan:
    """Read the top of the file (`text`, lines ended by '\\n'): hint, title, delimiter."""
    first, _, rest = text.partition("\n")
    skip, first_line = 0, 1
    hint = _SEP_HINT.fullmatch(first.strip().strip("\ufeff"))
    if hint and rest.strip():
        findings.append(
            file_finding(
                "delimiter",
                f"The first line '{first.strip()}' is Excel's delimiter hint: it is skipped, "
                "and lines are numbered from the header, as Excel shows them.",
                value=hint.group(1),
            )
        )
        skip = 1
        first = rest.split("\n", 1)[0]
    sep = hint.group(1) if hint and rest.strip() else ","
    lines = text.split("\n", skip + _TITLE_SCAN_LINES)[skip : skip + _TITLE_SCAN_LINES]
    title = _title_lines(lines, sep, layout)
    if title:
        findings.append(
            file_finding(
                "title-line",
                f"The header is on line {title + 1}: the line(s) above it are a title, "
                "not rows, and are skipped; lines keep the file's numbering.",
                row=title + 1,
            )
        )
        first = lines[title]
        skip += title
        first_line = title + 1
    for cand in (";", "\t"):
        if sep != ",":
            break
        if cand in first and first.count(cand) > first.count(","):
            sep = cand
            findings.append(
                file_finding(
                    "delimiter",
                    f"Values are separated by {'semicolons' if cand == ';' else 'tabs'}.",
                    value=cand,
                )
            )
            break
    return _Plan(skip, first_line, sep, first)


def _title_lines(lines: list[str], sep: str, layout: Layout) -> int:
    """How many title lines stand above the header (0 when the first line is the header).

    Only when the first line does not look like a header and a later line of the
    top does (as a workbook's header is searched for).
    """
    if not lines or header_hits(_cells(lines[0], sep), layout) >= header_need(layout):
        return 0
    for k, line in enumerate(lines[1:], start=1):
        cells = _cells(line, sep)
        if any(header_hits(_cells(line, cand), layout) >= header_need(layout) for cand in ";\t"):
            return k
        if header_hits(cells, layout) >= header_need(layout):
            return k
    return 0


def _cells(line: str, sep: str) -> list[str]:
    """A line's cells (none for a line too long to be a header: the csv module refuses a
    field over its limit, and no header is that long). Longer records are read by
    `_records_with_lines`, which raises the limit to the file's size."""
    if len(line) > MAX_LINE_CHARS:
        return []
    return next(csv.reader([line], delimiter=sep), [])


def _byte_encoding(data: bytes) -> str:
    """The encoding decode_text would find, without decoding a copy of the file."""
    offsets = np.array([0, len(data)], dtype=np.int64)
    whole = pa.Array.from_buffers(
        pa.large_string(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    try:
        whole.validate(full=True)  # UTF-8 checked in place
    except pa.ArrowInvalid:
        return "latin-1" if any(b in data for b in _CP1252_HOLES) else "cp1252"
    return "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"


def _line_ends(buf: np.ndarray, start: int, sep: int) -> np.ndarray | None:
    """Positions of the line ends from `start`, or None where a quote is not at a field's edge.

    A quote inside a value (5'10", O"Brien) is read differently by CSV readers:
    such a file goes the exact way (the csv module). Scanned in slices (side by side on a
    large file), so scratch memory stays bounded whatever the file's size.
    """
    n = len(buf)

    def scan(a: int) -> np.ndarray | None:
        chunk = buf[a : a + _SCAN_BYTES]
        quotes = np.flatnonzero(chunk == _QUOTE) + a
        if len(quotes):
            edge = (quotes == start) | (quotes == n - 1)
            prev = buf[np.maximum(quotes - 1, 0)]
            nxt = buf[np.minimum(quotes + 1, n - 1)]
            edge |= np.isin(prev, (_NL, _QUOTE, sep)) | np.isin(nxt, (_NL, _CR, _QUOTE, sep))
            if not edge.all():
                return None
        return np.flatnonzero(chunk == _NL) + a

    scanned = side_by_side(scan, range(start, n, _SCAN_BYTES), (n - start) // _LINE_BYTES)
    ends = [e for e in scanned if e is not None]
    if len(ends) < len(scanned):
        return None
    out = np.concatenate(ends) if ends else np.empty(0, dtype=np.int64)
    if n > start and buf[-1] != _NL:
        out = np.append(out, n)  # a last line without a line end
    return out


def _has_lone_cr(data: bytes) -> bool:
    """Whether a CR not followed by an LF is in `data`: one byte compare per slice (a file
    without any CR is told by one `in`)."""
    if b"\r" not in data:
        return False
    buf = np.frombuffer(data, dtype=np.uint8)
    for a in range(0, len(buf), _SCAN_BYTES):
        cr = np.flatnonzero(buf[a : a + _SCAN_BYTES] == _CR) + a
        if len(cr) and (cr[-1] == len(buf) - 1 or (buf[cr + 1] != _NL).any()):
            return True
    return False


def _lone_cr_after(buf: np.ndarray, start: int, ends: np.ndarray) -> bool:
    """Whether a CR not followed by an LF is in `buf` from `start` on, `ends` its line ends
    (`_line_ends`): CRs counted (in slices, side by side as `_line_ends` scans), against the
    line ends with a CR before them."""
    crs = sum(
        side_by_side(
            lambda a: int(np.count_nonzero(buf[a : a + _SCAN_BYTES] == _CR)),
            range(start, len(buf), _SCAN_BYTES),
            (len(buf) - start) // _LINE_BYTES,
        )
    )
    newlines = ends[(ends > start) & (ends < len(buf))]  # (the last end may be the file's end)
    return crs != int(np.count_nonzero(buf[newlines - 1] == _CR))


def _parse_bytes(data: bytes, encoding: str, plan: _Plan) -> pd.DataFrame | None:
    """The table straight from the bytes (pyarrow), or None when only the csv module is exact.

    Exact when each record is one line: no lone CR, every quote at a field's edge,
    pyarrow finds every record as wide as the header, and as many records as
    non-blank lines. Blank lines become rows of empty values, as the csv module
    reads them. Index: each record's line.
    """
    start = 3 if encoding == "utf-8-sig" else 0
    for _ in range(plan.skip):
        end = data.find(b"\n", start)
        if end < 0:
            return None  # the lines skipped end in a lone CR: the csv module's way
        start = end + 1
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = _line_ends(buf, start, ord(plan.sep))
    if ends is None or not len(ends):
        return None
    if b"\r" in data and (_has_lone_cr(data[:start]) or _lone_cr_after(buf, start, ends)):
        return None  # a lone CR ends a line for the csv module, not for pyarrow
    starts = np.concatenate([[start], ends[:-1] + 1])
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (buf[np.minimum(starts, len(buf) - 1)] == _CR))
    del buf, starts, length
    lines = np.arange(plan.first_line, plan.first_line + len(ends))
    if blank[0]:
        return None
    quoted = b'"' in data
    names = [f"c{k}" for k in range(len(_cells(plan.header, plan.sep)))]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data)[start:],
            read_options=pacsv.ReadOptions(
                column_names=names, encoding=encoding, block_size=_BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=plan.sep,
                quote_char='"' if quoted else False,
                double_quote=True,
                # Blocks cut at any line end, quotes or not (0.2 s of CPU less at 1M rows): a
                # line break inside quotes either parses whole within its block or stops
                # Arrow (the parser and the block cut disagree), and in both cases the
                # records are fewer than the lines, so the csv module reads the file.
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.large_string()),  # pandas' own: no copy
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                # The whole buffer was checked as UTF-8 (`_byte_encoding`), or is transcoded to
                # it: each value, cut at ASCII bytes, is too, so Arrow need not check each again.
                check_utf8=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None  # rows of other widths, a quote never closed: the csv module reports them
    if table.num_rows != int((~blank).sum()):
        return None
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    frame.columns = range(frame.shape[1])
    frame.index = pd.Index(lines[~blank])
    if blank.any():
        frame = frame.reindex(lines, fill_value="")
    return frame


def parse_tier_report(data: bytes, layout: Layout, source: str = "tier report") -> TierReport:
    """Read a tier report's bytes against `layout`.

    A file whose every record is one line is parsed from its bytes by pyarrow
    (no decoded copy of the file); any other (quoted line breaks, rows of other
    widths, a quote inside a value, UTF-16) by the csv module, which keeps each
    record's own length and line. Both give the same table and findings.
    """
    findings: list[pd.DataFrame] = []
    size = len(data)
    if size > layout.max_upload_bytes:
        findings.append(
            file_finding(
                "file-too-large",
                f"The file is {size / 1e6:.1f} MB; the import accepts at most "
                f"{layout.max_upload_bytes / 1e6:.0f} MB.",
                value=str(size),
            )
        )
    what = not_a_report(data)
    if what:
        findings.append(file_finding("not-csv", what))
        return _unreadable(layout, source, findings, "", size)
    if data.startswith(b"PK\x03\x04"):
        from xl_pmpm.io.workbook_reader import parse_workbook_report  # openpyxl only when needed

        report = parse_workbook_report(data, layout, source)
        report.findings = combine([*findings, report.findings])
        return report
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, encoding = decode_text(data)
        head, frame = text, None
    else:
        encoding = _byte_encoding(data)
        head_bytes = data[:_HEAD_BYTES]
        if len(data) > _HEAD_BYTES:  # whole lines only: a character may be cut at the end
            head_bytes = head_bytes[: head_bytes.rfind(b"\n") + 1]
        head, text = head_bytes.decode(encoding, errors="replace"), None
    if encoding not in ("utf-8", "utf-8-sig"):
        label = {
            "cp1252": "Windows-1252 (Excel's 'CSV (Comma delimited)')",
            "latin-1": "Latin-1",
            "utf-16": "UTF-16 (Excel's 'Unicode Text')",
        }[encoding]
        findings.append(file_finding("encoding", f"The file was saved as {label}.", value=encoding))
    head = head.replace("\r\n", "\n").replace("\r", "\n")
    if text is None and (not head.strip() or "\n" not in head.rstrip("\n")):
        text, encoding = decode_text(data)  # nearly empty, or one long line: read it whole
        head = text.replace("\r\n", "\n").replace("\r", "\n")
    if not head.strip():
        findings.append(file_finding("empty-file", "The file is empty."))
        return _unreadable(layout, source, findings, encoding, size)
    plan = _plan(head, layout, findings)
    frame = None if text is not None else _parse_bytes(data, encoding, plan)
    from_bytes = frame is not None  # read the bytes' own way: no lone CR among them
    if frame is not None:
        lengths = None
        header = frame.iloc[0].tolist()
    else:
        if text is None:
            text, _ = decode_text(data)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if plan.skip:
            text = text.split("\n", plan.skip)[-1]
        records, lines = _records_with_lines(text, plan.sep)
        del text
        width = max(len(r) for r in records)
        index = pd.Index(lines) + (plan.first_line - 1)
        frame = pd.DataFrame([r + [""] * (width - len(r)) for r in records], index=index, dtype=str)
        lengths = pd.Series([len(r) for r in records], index=frame.index)
        header = records[0]
    header = [h.strip("\ufeff") for h in header]
    body = frame.iloc[1:]
    body.index.name = "line"
    stray_cr = [] if from_bytes else _lone_cr_in(data, encoding, plan)
    if stray_cr:
        findings.append(_lone_cr_findings(stray_cr))
    table, head_findings = match_header(header, body, lengths, layout, header_row=plan.first_line)
    findings.extend(head_findings)
    return TierReport(table, source, combine(findings), encoding, size)


def _unreadable(
    layout: Layout, source: str, findings: list[pd.DataFrame], encoding: str, size: int
) -> TierReport:
    return TierReport(
        pd.DataFrame(columns=layout.expected_names),
        source,
        combine(findings),
        encoding,
        size,
        readable=False,
    )


# --- a small CSV of the biller's (units, authorizations, results) ------------------------


def read_csv_text(
    path: str | Path, what: str, columns: list[str], optional: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A CSV as stripped strings with lower-case headers, indexed by file line number."""
    path = Path(path)
    data = sniff.read_input(path, what)  # a web page, a workbook, empty...: said and refused
    reader = csv.reader(io.StringIO(decode_text(data)[0], newline=""))
    header: list[str] | None = None
    records: list[list[str]] = []
    lines: list[int] = []
    start = 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [c.strip().lower() for c in record]
            missing = [c for c in columns if c not in header]
            if missing:
                raise PmpmInputError(
                    f"{what} lacks the column(s) {', '.join(missing)}.",
                    file=str(path),
                    row=line,
                    fix=f"The header must name: {', '.join(columns)}.",
                )
            continue
        extra = record[len(header) :]
        if any(cell.strip() for cell in extra):
            raise PmpmInputError(
                f"The line has {len(record)} values for {len(header)} columns.",
                file=str(path),
                row=line,
                fix="Make the line hold exactly one value per column.",
            )
        records.append(
            [c.strip() for c in record[: len(header)]] + [""] * (len(header) - len(record))
        )
        lines.append(line)
    if header is None:
        raise PmpmInputError(f"{what} is empty.", file=str(path), fix="Give it a header line.")
    keep = [c for c in header if c in columns or c in optional]
    frame = pd.DataFrame(records, columns=header, index=pd.Index(lines, dtype="int64"), dtype=str)
    return frame.loc[:, ~frame.columns.duplicated()][keep]
