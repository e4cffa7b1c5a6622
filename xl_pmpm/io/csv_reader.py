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

import pandas as pd

from xl_pmpm.core.findings import combine, file_finding, finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.report import TierReport, match_header

_BINARY_MAGIC = {
    b"PK\x03\x04": "a zip file (an .xlsx or .xlsm workbook?)",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an old-style Excel workbook (.xls)",
    b"{\\rtf": "a Rich Text document",
}


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
        from xl_pmpm.io.workbook_reader import parse_workbook_report  # openpyxl only when needed

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
    stray_cr = lone_cr_lines(text)
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
        stray_cr = [n - 1 for n in stray_cr if n > 1]
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
    if stray_cr:
        findings.append(_lone_cr_findings(stray_cr))
    table, head_findings = match_header(header, body, lengths, layout)
    findings.extend(head_findings)
    return TierReport(table, source, combine(findings), encoding, size)
