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
from dataclasses import dataclass, field

import pandas as pd

from .findings import ERROR, WARNING, combine, empty_findings, file_finding, finding_rows
from .layout import Layout
from .values import squash

_BINARY_MAGIC = {
    b"PK\x03\x04": "a zip file (an .xlsx or .xlsm workbook?)",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an old-style Excel workbook (.xls)",
    b"{\\rtf": "a Rich Text document",
}


@dataclass
class TierReport:
    """A tier report as read: the text table, where it came from, and what reading found."""

    table: pd.DataFrame
    source: str
    findings: pd.DataFrame = field(default_factory=empty_findings)
    encoding: str = "utf-8"
    size: int = 0
    readable: bool = True


# A UTF-8 byte-order mark read as Windows-1252 text and saved again ("ï»¿Agency ID").
_MOJIBAKE_BOM = "\u00ef\u00bb\u00bf"
# Excel's first-line delimiter hint ("sep=;"), which Excel itself hides.
_SEP_HINT = re.compile(r"sep=([,;\t|])")


def _squash(name: str) -> str:
    return squash(name.removeprefix(_MOJIBAKE_BOM))


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


def sniff_binary(data: bytes) -> str | None:
    """What a non-text file looks like, or None if it may be text."""
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            return what
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    if b"\x00" in data:
        return "a binary file (it holds NUL bytes)"
    return None


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


def _fast_parse(text: str, sep: str) -> pd.DataFrame | None:
    """pandas' C parser, when every line is provably one record of the header's width.

    That holds when the text has no quotes (so no quoted delimiters or line breaks)
    and every non-blank line has as many delimiters as the header. Otherwise None:
    the csv module then reads it, keeping each record's own length.
    """
    if '"' in text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    width = lines[0].count(sep) if lines else 0
    if any(line.count(sep) != width for line in lines if line):
        return None
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    if len(frame) != len(lines):
        return None
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def parse_tier_report(data: bytes, layout: Layout, source: str = "tier report") -> TierReport:
    """Read a tier report's bytes against `layout`."""
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
    if data.startswith(b"PK\x03\x04"):
        from .workbook_file import parse_workbook_report  # openpyxl only when needed

        report = parse_workbook_report(data, layout, source)
        report.findings = combine([*findings, report.findings])
        return report
    what = sniff_binary(data)
    if what:
        findings.append(file_finding("not-csv", f"This is {what}, not a CSV file."))
        return TierReport(
            pd.DataFrame(columns=layout.expected_names),
            source,
            combine(findings),
            "",
            size,
            readable=False,
        )
    text, encoding = decode_text(data)
    if encoding not in ("utf-8", "utf-8-sig"):
        label = {
            "cp1252": "Windows-1252 (Excel's 'CSV (Comma delimited)')",
            "latin-1": "Latin-1",
            "utf-16": "UTF-16 (Excel's 'Unicode Text')",
        }[encoding]
        findings.append(file_finding("encoding", f"The file was saved as {label}.", value=encoding))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        findings.append(file_finding("empty-file", "The file is empty."))
        return TierReport(
            pd.DataFrame(columns=layout.expected_names),
            source,
            combine(findings),
            encoding,
            size,
            readable=False,
        )
    first, _, rest = text.partition("\n")
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
        text = rest
        first = rest.split("\n", 1)[0]
    sep = hint.group(1) if hint and rest.strip() else ","
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

    frame = _fast_parse(text, sep)
    if frame is None:
        records, lines = _records_with_lines(text, sep)
        width = max(len(r) for r in records)
        frame = pd.DataFrame(
            [r + [""] * (width - len(r)) for r in records], index=pd.Index(lines), dtype=str
        )
        lengths = pd.Series([len(r) for r in records], index=frame.index)
        header = [h.strip("\ufeff") for h in records[0]]
    else:
        lengths = None
        header = [h.strip("\ufeff") for h in frame.iloc[0].tolist()]
    body = frame.iloc[1:]
    body.index.name = "line"
    table, head_findings = match_header(header, body, lengths, layout)
    findings.extend(head_findings)
    return TierReport(table, source, combine(findings), encoding, size)


def match_header(
    header: list[str],
    body: pd.DataFrame,
    lengths: pd.Series | None,
    layout: Layout,
    header_row: int = 1,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Name `body`'s columns from `header` against the layout, with the header's findings.

    `lengths` (each record's own length, for CSV) finds ragged rows; None for a
    workbook, whose rows cannot be ragged. `header_row` is the header's line.
    """
    findings: list[pd.DataFrame] = []
    exact = {c.name for c in layout.columns}
    squashed = {_squash(c.name): c.name for c in layout.columns}
    width = len(header)
    while (
        width > 0
        and header[width - 1].strip() == ""
        and (body.empty or (body.iloc[:, width - 1] == "").all())
    ):
        width -= 1  # trailing delimiters on every line: empty unnamed columns
    names: list[str] = []
    seen: dict[str, int] = {}
    for pos, raw in enumerate(header[:width], start=1):
        name = raw
        if raw not in exact and _squash(raw) in squashed:
            name = squashed[_squash(raw)]
            findings.append(
                file_finding(
                    "header-variant",
                    f"Header '{raw}' (column {pos}) should read '{name}'.",
                    field=name,
                    value=raw,
                    row=header_row,
                )
            )
        elif raw not in exact:
            label = raw if raw.strip() else f"(unnamed column {pos})"
            findings.append(
                file_finding(
                    "extra-column",
                    f"Column {pos} '{label}' is not in the import layout.",
                    field=label,
                    value=raw,
                    row=header_row,
                )
            )
            name = label
        if name in seen:
            findings.append(
                file_finding(
                    "duplicate-column",
                    f"'{name}' appears as column {seen[name]} and again as column {pos}.",
                    field=name,
                    value=raw,
                    row=header_row,
                )
            )
            name = f"{name} (column {pos})"
        seen.setdefault(name, pos)
        names.append(name)
    if width < len(header):
        findings.append(
            file_finding(
                "ragged-row",
                f"Every line ends with {len(header) - width} extra delimiter(s).",
                value="",
                row=header_row,
                severity=WARNING,
            )
        )
    missing = [n for n in layout.expected_names if n not in seen]
    for n in missing:
        findings.append(
            file_finding("missing-column", f"The column '{n}' is missing.", field=n, row=header_row)
        )
    present = [n for n in layout.names if n in seen]
    if [n for n in names if n in set(present)] != present:
        findings.append(
            file_finding(
                "column-order", "The columns are not in the import layout's order.", row=header_row
            )
        )

    table = body.iloc[:, :width].copy()
    table.columns = names
    if lengths is not None:
        rows = lengths.iloc[1:]
        extra = body.iloc[:, width:]
        lost = (extra != "").any(axis=1) if extra.shape[1] else pd.Series(False, index=body.index)
        blank_line = (body == "").all(axis=1)
        short = (rows < width) & ~blank_line
        # Longer than the header itself (a header ending in delimiters trims `width` only).
        long_ = (rows > len(header)) & lost
        trailing = (rows > len(header)) & ~lost & ~blank_line
        for bad, message, severity in (
            (short, f"The line has fewer values than the header's {width}.", ERROR),
            (long_, f"The line has more values than the header's {width}.", ERROR),
            (trailing, "The line ends with extra delimiters.", WARNING),
        ):
            if bad.any():
                findings.append(
                    finding_rows(
                        "ragged-row",
                        rows.index[bad],
                        None,
                        rows[bad].astype(str),
                        message,
                        severity=severity,
                    )
                )
        if long_.any():
            # keep the overflow so nothing is lost; export refuses while it is there
            for k in range(extra.shape[1]):
                table[f"(overflow {width + k + 1})"] = extra.iloc[:, k]
    return table, findings
