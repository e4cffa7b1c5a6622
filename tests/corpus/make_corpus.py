"""Build the bad-input corpus: what Excel, e-mail and hand-editing really do to a tier report.

    python tests/corpus/make_corpus.py      # rewrites tests/corpus/files/ and expected.toml

Every file starts from the bundled sample generator (benchmarks.sample, invented
members) and carries one kind of damage. `expected.toml` says, for each file,
the finding code(s) reading + validating it must give (`codes`; with
`exact = true`, nothing else), the lines they must point at (`rows`), or the
clear error class it must raise instead (`error`). tests/project/test_corpus.py runs
them all. Deterministic: running the script twice gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from benchmarks import sample  # noqa: E402
from xl_pmpm.io import files  # noqa: E402

FILES = HERE / "files"
MANIFEST = HERE / "expected.toml"
MONTH = "2026-10"
AS_OF = "2026-11-05"  # inside the submission window of MONTH
LAYOUT = files.load_layout()
BOOK = files.load_rate_book()
COL = {c.role: c.name for c in LAYOUT.columns if c.role}
ZIP_DATE = (2026, 11, 1, 0, 0, 0)


def base_frame() -> pd.DataFrame:
    """12 valid members of MONTH (no unbilled hours, so no tier at risk)."""
    frame = sample.generate_extract(12, MONTH, LAYOUT, BOOK, mangle=False, below_minimum=False)
    frame[COL["unbilled_hours"]] = "0.00"
    # Payers whose codes seed 000 says to verify get `payer-codes-unset` (issue 13): the
    # base bills only payers whose codes are set (Elderplan's rows go to a linked MLTC
    # contract, which takes the same default codes).
    frame[COL["contract"]] = frame[COL["contract"]].replace(
        "Elderplan CDPAP Internal", "Linked - Metro MLTC CDPAP"
    )
    return frame.reset_index(drop=True)


BASE = base_frame()


def rows_of(frame: pd.DataFrame) -> list[list[str]]:
    return frame.astype(str).values.tolist()


def csv_bytes(
    header: list[str] | None = None,
    rows: list[list[str]] | None = None,
    *,
    sep: str = ",",
    eol: str = "\r\n",
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator=eol, quoting=quoting)
    writer.writerow(list(BASE.columns) if header is None else header)
    writer.writerows(rows_of(BASE) if rows is None else rows)
    return buf.getvalue().encode(encoding)


def with_cell(line: int, role: str, value: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """A copy of the base with one cell changed (line = file line, first data row = 2)."""
    out = (BASE if frame is None else frame).copy()
    out.at[line - 2, COL[role]] = value
    return out


def cell_csv(line: int, role: str, value: str) -> bytes:
    return csv_bytes(rows=rows_of(with_cell(line, role, value)))


def lines_of(data: bytes) -> list[str]:
    return data.decode("utf-8").split("\r\n")


# --------------------------------------------------------------------------- workbooks


def workbook_bytes(
    sheets: dict[str, list[list[object]]],
    origin: dict[str, tuple[int, int]] | None = None,
    text_ids: bool = True,
) -> bytes:
    """An .xlsx with `sheets` ({name: rows}); `origin` moves a sheet's rows to (row, col)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        r0, c0 = (origin or {}).get(name, (1, 1))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None and value != "":
                    cell = ws.cell(r0 + r, c0 + c, value)
                    if text_ids and isinstance(value, str):
                        cell.number_format = "@"
    wb.properties.created = datetime(2026, 11, 1)
    wb.properties.modified = datetime(2026, 11, 1)
    buffer = io.BytesIO()
    wb.save(buffer)
    return normalised_zip(buffer.getvalue())


def normalised_zip(data: bytes, override: dict[str, bytes] | None = None) -> bytes:
    """The same zip with fixed timestamps (reproducible bytes), parts optionally replaced."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            part = (override or {}).get(info.filename, src.read(info.filename))
            if info.filename == "docProps/core.xml":  # openpyxl stamps the time of saving
                part = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-11-01T00:00:00Z", part)
            dst.writestr(zipfile.ZipInfo(info.filename, ZIP_DATE), part, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def report_rows(frame: pd.DataFrame | None = None) -> list[list[object]]:
    frame = BASE if frame is None else frame
    return [list(frame.columns), *rows_of(frame)]


def typed_rows() -> list[list[object]]:
    """Rows as a biller's Excel holds them: real dates and numbers where Excel converts."""
    out: list[list[object]] = [list(BASE.columns)]
    stamp_cols = {COL[r] for r in ("schedule_start", "schedule_end", "visit_start", "visit_end")}
    number_cols = {COL[r] for r in ("billed_hours", "unbilled_hours")}
    for record in BASE.to_dict("records"):
        row: list[object] = []
        for name, value in record.items():
            if name in stamp_cols:
                text = value.replace(" AM", "")
                row.append(datetime.strptime(text, "%Y-%m-%d %H:%M"))
            elif name in number_cols:
                row.append(float(value))
            else:
                row.append(value)
        out.append(row)
    return out


def numeric_id_rows() -> list[list[object]]:
    rows = report_rows()
    pn = rows[0].index(COL["patient_number"])
    rows[3][pn] = int(rows[3][pn])  # typed in as a number: the leading zero is gone
    return rows


LAUGHS_DTD = (
    b'<!DOCTYPE worksheet [<!ENTITY lol0 "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
    )
    + b"]>"
)


def billion_laughs() -> bytes:
    """The sheet part declares nested entities; one cell expands to 10^9 'lol's."""
    plain = workbook_bytes({"All": report_rows()})
    with zipfile.ZipFile(io.BytesIO(plain)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    attacked = LAUGHS_DTD + sheet.replace(b">Non Payable<", b">&lol9;<", 1)
    return normalised_zip(plain, {"xl/worksheets/sheet1.xml": attacked})


def zip_bomb() -> bytes:
    """A workbook whose sheet part inflates about a thousandfold (20 MB from ~20 kB)."""
    plain = workbook_bytes({"All": report_rows()})
    with zipfile.ZipFile(io.BytesIO(plain)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    padded = sheet.replace(b"<sheetData>", b"<sheetData>" + b" " * 20_000_000, 1)
    return normalised_zip(plain, {"xl/worksheets/sheet1.xml": padded})


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("tier_report.csv", ZIP_DATE), csv_bytes())
    return out.getvalue()


def filled_template() -> bytes:
    from xl_pmpm.workbook.template import workbook_bytes as template_bytes

    data = template_bytes(
        LAYOUT, BOOK, rows=BASE, billing_month=datetime(2026, 10, 1).date(), as_of=None
    )
    return normalised_zip(data)


PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
OLE_XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    name: str
    what: str
    build: Callable[[], bytes]
    codes: list[str] = field(default_factory=list)
    exact: bool = False
    rows: dict[str, list[int]] = field(default_factory=dict)
    error: str | None = None
    message: str | None = None  # text the error or a finding's message must contain
    cli: bool = False


def dated(value: str, role: str = "schedule_start", line: int = 3) -> Callable[[], bytes]:
    return lambda: cell_csv(line, role, value)


def add_lines(extra: list[str], at: int | None = None) -> Callable[[], bytes]:
    def build() -> bytes:
        lines = lines_of(csv_bytes())
        lines.pop()  # the empty string after the last CRLF
        if at is None:
            lines.extend(extra)
        else:
            lines[at:at] = extra
        return ("\r\n".join(lines) + "\r\n").encode()

    return build


def header_with(change: Callable[[list[str]], list[str]]) -> Callable[[], bytes]:
    def build() -> bytes:
        header = list(BASE.columns)
        new = change(header)
        rows = rows_of(BASE)
        if len(new) != len(header):  # a column added or removed: the rows follow
            rows = [change(list(r)) for r in rows]
        return csv_bytes(new, rows)

    return build


def swapped(cells: list[str]) -> list[str]:
    cells = list(cells)
    cells[0], cells[1] = cells[1], cells[0]
    return cells


def sep_hint() -> bytes:
    return b"sep=;\r\n" + csv_bytes(sep=";")


def quoted_newline(role: str) -> Callable[[], bytes]:
    def build() -> bytes:
        frame = with_cell(4, role, BASE.at[2, COL[role]][:4] + "\n" + BASE.at[2, COL[role]][4:])
        frame = with_cell(9, "tier", "3", frame)  # a later error must keep its own line
        return csv_bytes(rows=rows_of(frame))

    return build


def ragged(delta: int) -> bytes:
    rows = rows_of(BASE)
    rows[3] = rows[3][:delta] if delta < 0 else rows[3] + ["x"] * delta
    return csv_bytes(rows=rows)


def trailing_everywhere() -> bytes:
    return b"".join(line + b",\r\n" for line in csv_bytes().split(b"\r\n")[:-1])


def trailing_some() -> bytes:
    lines = csv_bytes().split(b"\r\n")
    lines[3] += b","
    lines[5] += b",,"
    return b"\r\n".join(lines)


def header_repeated() -> bytes:
    lines = lines_of(csv_bytes())
    lines.insert(7, lines[0])  # a second export pasted under the first
    return "\r\n".join(lines).encode()


def totals_row() -> bytes:
    billed = BASE[COL["billed_hours"]].astype(float).sum()
    total = [""] * len(BASE.columns)
    total[0] = "Total"
    total[list(BASE.columns).index(COL["billed_hours"])] = f"{billed:.2f}"
    return csv_bytes(rows=[*rows_of(BASE), total])


def totals_in_name_column() -> bytes:
    total = [""] * len(BASE.columns)
    total[list(BASE.columns).index(COL["patient_name"])] = "Grand Total"
    total[list(BASE.columns).index(COL["billed_hours"])] = "3000.00"
    return csv_bytes(rows=[*rows_of(BASE), ["" for _ in BASE.columns], total])


def decimal_commas() -> bytes:
    frame = BASE.copy()
    for role in ("billed_hours", "unbilled_hours"):
        frame[COL[role]] = frame[COL[role]].str.replace(".", ",", regex=False)
    return csv_bytes(rows=rows_of(frame), sep=";")


def cp1252() -> bytes:
    """Excel writes '?' for what the code page lacks (Łukasz -> ?ukasz)."""
    frame = with_cell(3, "patient_name", "Renée Lefèvre")
    return csv_bytes(rows=rows_of(frame)).decode("utf-8").encode("cp1252", errors="replace")


def mojibake_bom() -> bytes:
    """A UTF-8 file with BOM opened as Windows-1252 and saved again: 'ï»¿Agency ID'."""
    return b"\xef\xbb\xbf".decode("cp1252").encode("utf-8") + csv_bytes()


def utf16(sep: str, encoding: str = "utf-16") -> Callable[[], bytes]:
    return lambda: csv_bytes(sep=sep, encoding=encoding)


def utf16_be() -> bytes:
    return b"\xfe\xff" + csv_bytes(encoding="utf-16-be")


def everything_quoted() -> bytes:
    return csv_bytes(quoting=csv.QUOTE_ALL)


def unclosed_quote() -> bytes:
    rows = rows_of(BASE)
    rows[4][list(BASE.columns).index(COL["patient_name"])] = "PLACEHOLDER"
    data = csv_bytes(rows=rows).replace(b"PLACEHOLDER", b'"Nana, Ana')
    return data


def nul_bytes() -> bytes:
    return csv_bytes().replace(b"Non Payable", b"Non\x00Payable", 1)


def many_months() -> bytes:
    frame = BASE.copy()
    for role in ("schedule_start", "schedule_end", "visit_start", "visit_end"):
        frame.loc[8:, COL[role]] = frame.loc[8:, COL[role]].str.replace("2026-10", "2026-09")
    return csv_bytes(rows=rows_of(frame))


def blank_padding_rows() -> bytes:
    return csv_bytes(rows=[*rows_of(BASE), [""] * len(BASE.columns), [""] * len(BASE.columns)])


def old_mac() -> bytes:
    return csv_bytes(eol="\r")


def mixed_eol() -> bytes:
    lines = csv_bytes(eol="\n").split(b"\n")
    return b"\r\n".join(lines[:5]) + b"\n" + b"\n".join(lines[5:])


def tabs_utf8() -> bytes:
    return csv_bytes(sep="\t")


def duplicate_member() -> bytes:
    rows = rows_of(BASE)
    return csv_bytes(rows=[*rows, rows[2]])


def workbook(build: Callable[[], dict], origin: dict | None = None) -> Callable[[], bytes]:
    return lambda: workbook_bytes(build(), origin)


def pid(line: int) -> str:
    return str(BASE.at[line - 2, COL["patient_number"]])


CASES: list[Case] = [
    # --- the clean file, as downloaded and as Excel's CSV UTF-8 saves it
    Case("clean.csv", "the extract as downloaded", csv_bytes, [], exact=True, cli=True),
    Case(
        "utf8_bom.csv",
        "Excel 'CSV UTF-8': a byte-order mark before the header",
        lambda: b"\xef\xbb\xbf" + csv_bytes(),
        [],
        exact=True,
    ),
    Case("quoted_everything.csv", "every value in quotes", everything_quoted, [], exact=True),
    Case("old_mac_cr.csv", "CR-only line ends", old_mac, [], exact=True),
    Case("mixed_line_ends.csv", "CRLF and LF mixed", mixed_eol, [], exact=True),
    # --- dates Excel reformatted, in several locales
    Case(
        "date_us_slash.csv",
        "Excel, US: 10/1/2026 3:00",
        dated("10/1/2026 3:00"),
        ["datetime-format"],
        rows={"datetime-format": [3]},
        cli=True,
    ),
    Case(
        "date_us_two_digit_year.csv",
        "Excel, US short: 10/1/26 3:00 AM",
        dated("10/1/26 3:00 AM"),
        ["datetime-format"],
        rows={"datetime-format": [3]},
    ),
    Case(
        "date_uk_slash.csv",
        "Excel, UK: 01/10/2026 03:00",
        dated("01/10/2026 03:00", "schedule_end", 5),
        ["datetime-format"],
        rows={"datetime-format": [5]},
    ),
    Case(
        "date_de_dots.csv",
        "Excel, German: 01.10.2026 03:00",
        dated("01.10.2026 03:00", "visit_start", 6),
        ["datetime-format"],
        rows={"datetime-format": [6]},
    ),
    Case(
        "date_ymd_slash.csv",
        "Excel, Japanese: 2026/10/01 3:00",
        dated("2026/10/01 3:00", "visit_end", 7),
        ["datetime-format"],
        rows={"datetime-format": [7]},
    ),
    Case(
        "date_d_mon_yy.csv",
        "Excel custom: 1-Oct-26",
        dated("1-Oct-26"),
        ["datetime-format"],
        rows={"datetime-format": [3]},
    ),
    Case(
        "date_serial.csv",
        "a date cell saved as its serial number: 46296.125",
        dated("46296.125"),
        ["datetime-format"],
        rows={"datetime-format": [3]},
        message="serial number",
    ),
    Case(
        "date_serial_whole.csv",
        "a date cell saved as its serial number: 46296",
        dated("46296", "visit_start", 4),
        ["datetime-format"],
        rows={"datetime-format": [4]},
        message="serial number",
    ),
    Case(
        "date_with_seconds.csv",
        "seconds added: 2026-10-01 03:00:00",
        dated("2026-10-01 03:00:00"),
        ["datetime-format"],
    ),
    Case(
        "date_without_time.csv",
        "time dropped: 2026-10-01",
        dated("2026-10-01"),
        ["datetime-format"],
    ),
    Case(
        "date_iso_t.csv",
        "ISO with T: 2026-10-01T03:00",
        dated("2026-10-01T03:00"),
        ["datetime-format"],
    ),
    Case(
        "visit_time_am_pm.csv",
        "Visit Start in the 12-hour form only schedule times accept",
        dated("2026-10-01 03:00 AM", "visit_start", 8),
        ["datetime-format", "max-length"],
        rows={"datetime-format": [8], "max-length": [8]},
    ),
    # --- IDs Excel turned into numbers
    Case(
        "id_scientific.csv",
        "Patient Number in scientific notation: 1.23E+11",
        lambda: cell_csv(4, "patient_number", "1.23E+11"),
        ["id-mangled"],
        rows={"id-mangled": [4]},
        cli=True,
    ),
    Case(
        "id_scientific_long.csv",
        "Patient Number as Excel shows a long number: 7.44900E+08",
        lambda: cell_csv(5, "patient_number", f"{int(pid(5)):.5E}"),
        ["id-mangled"],
        rows={"id-mangled": [5]},
    ),
    Case(
        "id_float_agency.csv",
        "Agency ID as a float: 48213.0",
        lambda: cell_csv(6, "agency_id", "48213.0"),
        ["id-mangled"],
        rows={"id-mangled": [6]},
    ),
    Case(
        "id_lost_leading_zero.csv",
        "Patient Number lost its leading zero: 246745838 for 0246745838",
        lambda: cell_csv(2, "patient_number", pid(2).lstrip("0")),
        ["id-mangled"],
        rows={"id-mangled": [2]},
        cli=True,
    ),
    Case(
        "id_lost_two_zeros.csv",
        "Patient Number lost two leading zeros: 54987768 for 0054987768",
        lambda: cell_csv(6, "patient_number", pid(6).lstrip("0")),
        ["id-mangled"],
        rows={"id-mangled": [6]},
    ),
    Case(
        "id_apostrophe.csv",
        "Excel's text marker kept as a character: '0184713216",
        lambda: cell_csv(3, "patient_number", "'" + pid(3)),
        ["id-mangled"],
        rows={"id-mangled": [3]},
    ),
    # --- encodings
    Case(
        "windows_1252.csv",
        "Excel 'CSV (Comma delimited)': Windows-1252",
        cp1252,
        ["encoding"],
        exact=True,
    ),
    Case(
        "utf16_tab.csv",
        "Excel 'Unicode Text': UTF-16 LE, tabs",
        utf16("\t"),
        ["encoding", "delimiter"],
        exact=True,
    ),
    Case("utf16_comma.csv", "UTF-16 with commas", utf16(","), ["encoding"], exact=True),
    Case("utf16_be.csv", "UTF-16 big-endian with BOM", utf16_be, ["encoding"], exact=True),
    Case(
        "mojibake_bom.csv",
        "a UTF-8 BOM saved again as text: 'ï»¿Agency ID'",
        mojibake_bom,
        ["header-variant"],
        rows={"header-variant": [1]},
    ),
    # --- separators
    Case(
        "semicolons.csv",
        "Excel in a European locale: semicolons",
        lambda: csv_bytes(sep=";"),
        ["delimiter"],
        exact=True,
        cli=True,
    ),
    Case(
        "semicolons_decimal_comma.csv",
        "semicolons and decimal commas: 692,39",
        decimal_commas,
        ["delimiter", "type"],
    ),
    Case(
        "sep_hint_line.csv",
        "Excel's 'sep=;' first line",
        sep_hint,
        ["delimiter"],
        exact=True,
    ),
    Case("tabs_utf8.csv", "tab-separated UTF-8", tabs_utf8, ["delimiter"], exact=True),
    # --- structure
    Case(
        "quoted_newline_name.csv",
        "a line break inside a quoted Patient Name",
        quoted_newline("patient_name"),
        ["line-break", "tier-mismatch"],
        rows={"line-break": [4], "tier-mismatch": [10]},
    ),
    Case(
        "quoted_newline_contract.csv",
        "a line break inside a quoted Primary Contract",
        quoted_newline("contract"),
        ["line-break"],
        rows={"line-break": [4]},
    ),
    Case(
        "ragged_short.csv",
        "a line missing its last values",
        lambda: ragged(-3),
        ["ragged-row"],
        rows={"ragged-row": [5]},
        cli=True,
    ),
    Case(
        "ragged_long.csv",
        "a line with a value too many",
        lambda: ragged(1),
        ["ragged-row"],
        rows={"ragged-row": [5]},
    ),
    Case(
        "trailing_delimiter_every_line.csv",
        "every line ends with a comma",
        trailing_everywhere,
        ["ragged-row"],
        exact=True,
    ),
    Case(
        "trailing_delimiter_some_lines.csv",
        "a few lines end with commas",
        trailing_some,
        ["ragged-row"],
        exact=True,
        rows={"ragged-row": [4, 6]},
    ),
    Case(
        "unclosed_quote.csv",
        "a quote opened in a name and never closed",
        unclosed_quote,
        ["line-break"],
    ),
    Case(
        "blank_line_middle.csv",
        "an empty line in the middle",
        add_lines([""], at=5),
        ["blank-row"],
        rows={"blank-row": [6]},
    ),
    Case(
        "blank_padding_rows.csv",
        "rows of bare commas at the end (formatted but empty rows)",
        blank_padding_rows,
        ["blank-row"],
        rows={"blank-row": [14, 15]},
    ),
    Case(
        "header_repeated.csv",
        "the header again on line 8 (two files pasted together)",
        header_repeated,
        ["repeated-header"],
        exact=True,
        rows={"repeated-header": [8]},
        cli=True,
    ),
    Case(
        "totals_row.csv",
        "a totals line at the bottom",
        totals_row,
        ["totals-row"],
        exact=True,
        rows={"totals-row": [14]},
        cli=True,
    ),
    Case(
        "totals_after_blank.csv",
        "a blank line and 'Grand Total' under the names",
        totals_in_name_column,
        ["blank-row", "totals-row"],
        exact=True,
        rows={"blank-row": [14], "totals-row": [15]},
    ),
    Case(
        "nul_byte.csv",
        "a NUL byte in a cell",
        nul_bytes,
        ["not-csv"],
        exact=True,
        message="binary",
    ),
    # --- headers
    Case(
        "header_variant.csv",
        "headers retyped: 'patient number', 'Billed  Hours'",
        header_with(
            lambda h: [
                {"Patient Number": "patient number", "Billed Hours": "Billed  Hours"}.get(x, x)
                for x in h
            ]
        ),
        ["header-variant"],
        exact=True,
    ),
    Case(
        "missing_column.csv",
        "Office ID column deleted",
        header_with(lambda h: h[:1] + h[2:]),
        ["missing-column"],
        rows={"missing-column": [1]},
    ),
    Case(
        "extra_column.csv",
        "a notes column added",
        header_with(lambda h: [*h, "Notes" if h[0] == "Agency ID" else ""]),
        ["extra-column"],
        exact=True,
    ),
    Case(
        "duplicate_column.csv",
        "Tier twice",
        header_with(lambda h: [*h, h[-1]]),
        ["duplicate-column"],
    ),
    Case(
        "column_order.csv",
        "Agency ID and Office ID swapped",
        header_with(swapped),
        ["column-order"],
        exact=True,
    ),
    # --- cells
    Case(
        "formula_equals.csv",
        "a formula: =1000",
        lambda: cell_csv(4, "caregiver_code", "=1000"),
        ["formula-prefix"],
        rows={"formula-prefix": [4]},
        cli=True,
    ),
    Case(
        "formula_dde.csv",
        "a DDE payload: =cmd|' /C calc'!A0",
        lambda: cell_csv(5, "pay_rate", "=cmd|' /C calc'!A0"),
        ["formula-prefix"],
        rows={"formula-prefix": [5]},
    ),
    Case(
        "formula_at.csv",
        "@SUM(1+1)",
        lambda: cell_csv(6, "patient_name", "@SUM(1+1)"),
        ["formula-prefix"],
        rows={"formula-prefix": [6]},
    ),
    Case(
        "formula_plus_number.csv",
        "a text cell holding a signed number, +15551234: a number, no formula (issue 14)",
        lambda: cell_csv(7, "caregiver_code", "+15551234"),
        [],
        exact=True,
    ),
    Case(
        "formula_minus_number.csv",
        "a text cell holding a negative number, -1000: a number, no formula (issue 14)",
        lambda: cell_csv(8, "caregiver_code", "-1000"),
        [],
        exact=True,
    ),
    Case(
        "formula_after_space.csv",
        "a formula behind a space and a tab: ' \\t=HYPERLINK(...)'",
        lambda: cell_csv(9, "patient_name", ' \t=HYPERLINK("http://x","y")'),
        ["formula-prefix"],
        rows={"formula-prefix": [9]},
    ),
    Case(
        "negative_hours.csv",
        "negative billed hours: -5.00",
        lambda: cell_csv(10, "billed_hours", "-5.00"),
        ["type"],
        rows={"type": [10]},
    ),
    Case(
        "discipline_spelled_out.csv",
        "Discipline 'Personal Assistant'",
        lambda: cell_csv(11, "discipline", "Personal Assistant"),
        ["allowed-value"],
        rows={"allowed-value": [11]},
    ),
    Case(
        "required_blank.csv",
        "Primary Service code left blank",
        lambda: cell_csv(12, "service_code", ""),
        ["required"],
        rows={"required": [12]},
    ),
    Case(
        "end_before_start.csv",
        "Schedule End before Schedule Start",
        lambda: cell_csv(13, "schedule_end", "2026-10-01 02:00"),
        ["end-before-start"],
        rows={"end-before-start": [13]},
    ),
    Case(
        "two_months.csv",
        "rows of September among October's",
        many_months,
        ["mixed-months", "outside-billing-month"],
    ),
    Case(
        "duplicate_member.csv",
        "a member's row pasted twice",
        duplicate_member,
        ["duplicate-member"],
        exact=True,
        rows={"duplicate-member": [4, 14]},
    ),
    Case(
        "tier_wrong.csv",
        "tier typed over",
        lambda: cell_csv(11, "tier", "1"),
        ["tier-mismatch"],
        exact=True,
        rows={"tier-mismatch": [11]},
    ),
    # --- not a CSV at all
    Case(
        "empty.csv",
        "zero bytes",
        lambda: b"",
        ["empty-file"],
        exact=True,
        cli=True,
    ),
    Case(
        "whitespace_only.csv",
        "only blank lines",
        lambda: b"\r\n\r\n  \r\n",
        ["empty-file"],
        exact=True,
    ),
    Case(
        "header_only.csv",
        "the header and no member",
        lambda: csv_bytes(rows=[]),
        ["no-rows"],
        exact=True,
        cli=True,
    ),
    Case(
        "pdf_renamed.csv",
        "a PDF renamed .csv",
        lambda: PDF,
        ["not-csv"],
        exact=True,
        message="PDF",
        cli=True,
    ),
    Case(
        "xls_renamed.csv",
        "an old .xls renamed .csv",
        lambda: OLE_XLS,
        ["not-csv"],
        exact=True,
        message=".xls",
    ),
    Case(
        "plain_zip_renamed.csv",
        "a zip of the CSV, renamed .csv",
        plain_zip,
        ["not-csv"],
        exact=True,
        message="not an Excel workbook",
    ),
    # --- workbooks (file mode reads them)
    Case(
        "xlsx_renamed.csv",
        "an .xlsx saved from Excel and renamed .csv",
        workbook(lambda: {"All": report_rows()}),
        ["not-csv"],
        exact=True,
        message="sheet 'All'",
        cli=True,
    ),
    Case(
        "workbook_sheet_renamed.xlsx",
        "the report on a sheet renamed 'Oct 2026', after a notes sheet",
        workbook(lambda: {"Notes": [["to do"], ["call plan"]], "Oct 2026": report_rows()}),
        ["not-csv"],
        exact=True,
        message="sheet 'Oct 2026'",
    ),
    Case(
        "workbook_table_moved.xlsx",
        "the table moved to C5 under a title",
        lambda: workbook_bytes(
            {"Tier Report": [["PMPM tier report, October 2026"], [], [], *report_rows()]},
            {"Tier Report": (2, 3)},
        ),
        ["not-csv"],
        exact=True,
        message="C5",
    ),
    Case(
        "workbook_table_moved_error.xlsx",
        "a moved table with a wrong tier: the finding names the sheet's own row",
        lambda: workbook_bytes(
            {"Tier Report": [["title"], [], [], *report_rows(with_cell(4, "tier", "3"))]},
            {"Tier Report": (2, 3)},
        ),
        ["not-csv", "tier-mismatch"],
        exact=True,
        rows={"tier-mismatch": [8]},
    ),
    Case(
        "workbook_typed_cells.xlsx",
        "dates and hours as Excel values, not text",
        workbook(lambda: {"All": typed_rows()}),
        ["not-csv"],
        exact=True,
    ),
    Case(
        "workbook_numeric_id.xlsx",
        "a Patient Number typed in as a number",
        workbook(lambda: {"All": numeric_id_rows()}),
        ["not-csv", "id-mangled"],
        exact=True,
        rows={"id-mangled": [4]},
    ),
    Case(
        "workbook_no_report.xlsx",
        "a workbook without the tier report",
        workbook(lambda: {"Sheet1": [["Name", "Hours"], ["x", 1]], "Sheet2": [["notes"]]}),
        ["empty-file"],
        exact=True,
        message="Agency ID",
        cli=True,
    ),
    Case(
        "template_filled.xlsm",
        "the billers' workbook, filled by xl-pmpm",
        filled_template,
        ["not-csv"],
        exact=True,
        message="sheet 'All'",
    ),
    Case(
        "billion_laughs.xlsx",
        "a workbook part declaring nested XML entities (billion laughs)",
        billion_laughs,
        error="PmpmInputError",
        message="entities",
        cli=True,
    ),
    Case(
        "zip_bomb.xlsx",
        "a workbook part that inflates a thousandfold",
        zip_bomb,
        error="PmpmInputError",
        message="compress",
    ),
]


# --- issue 13: true to the sources (seeds 000, 001) -------------------------------------


def cells_csv(changes: dict[int, dict[str, str]]) -> Callable[[], bytes]:
    """The base with several cells changed: {file line: {role: value}}."""

    def build() -> bytes:
        frame = BASE
        for line, values in changes.items():
            for role, value in values.items():
                frame = with_cell(line, role, value, frame)
        return csv_bytes(rows=rows_of(frame))

    return build


CASES += [
    Case(
        "header_total_billed.csv",
        "the billed hours headed 'Total Billed', as seed 001 names the column",
        header_with(lambda h: ["Total Billed" if x == COL["billed_hours"] else x for x in h]),
        [],
        exact=True,
        cli=True,
    ),
    Case(
        "import_fields_only.csv",
        "only the 12 fields of the import layout (no report columns)",
        header_with(lambda h: h[:12]),
        ["checks-skipped"],
        exact=True,
        rows={"checks-skipped": [1]},
        message="checks are skipped",
        cli=True,
    ),
    Case(
        "tier_raised.csv",
        "seed 001: 'modify the tier' the unbilled hours reach",
        cells_csv({7: {"unbilled_hours": "20.00", "tier": "2", "service_code": "2444"}}),
        ["tier-raised"],
        exact=True,
        rows={"tier-raised": [7]},
        message="(+$241.39)",
    ),
    Case(
        "discipline_code_swapped.csv",
        "PA with the skilled code, Other (Skilled) with the PA code",
        cells_csv({3: {"service_code": "2443 Skilled"}, 8: {"service_code": "2443"}}),
        ["discipline-code-mismatch"],
        exact=True,
        rows={"discipline-code-mismatch": [3, 8]},
    ),
    Case(
        "payer_unknown.csv",
        "a contract no payer of the payer settings fits",
        cells_csv({4: {"contract": "Linked - Nowhere Health CDPAP"}}),
        ["payer-unknown"],
        exact=True,
        message="Nowhere Health",
    ),
    Case(
        "payer_codes_unset.csv",
        "seed 000: Elderplan's codes are to be verified; the rate table has none of its own",
        cells_csv({6: {"contract": "Linked - Elder Plan CDPAP"}}),
        ["payer-codes-unset"],
        exact=True,
        message="Elderplan",
        cli=True,
    ),
]


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + " }"
    return str(value)


def manifest() -> str:
    out = [
        "# Generated by tests/corpus/make_corpus.py: edit the script, not this file.",
        "# file -> the finding codes it must give (exact = nothing else), the lines they",
        "# point at, or the clear error class it must raise. Validated with",
        f"# as_of = {AS_OF} (billing month from the file); cli = also run `xl-pmpm validate`.",
        f'as_of = "{AS_OF}"',
        "",
    ]
    for case in CASES:
        out.append(f'[files."{case.name}"]')
        out.append(f"what = {toml_value(case.what)}")
        if case.error:
            out.append(f"error = {toml_value(case.error)}")
        else:
            out.append(f"codes = {toml_value(case.codes)}")
        if case.exact:
            out.append("exact = true")
        if case.rows:
            out.append(f"rows = {toml_value(case.rows)}")
        if case.message:
            out.append(f"message = {toml_value(case.message)}")
        if case.cli:
            out.append("cli = true")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- issue 14


def duplicate_with_id(line: int, change: Callable[[str], str]) -> Callable[[], bytes]:
    """The base plus a copy of `line`'s row whose Patient Number is changed (still the same
    member to a biller's eye)."""

    def build() -> bytes:
        rows = rows_of(BASE)
        copy = list(rows[line - 2])
        at = list(BASE.columns).index(COL["patient_number"])
        copy[at] = change(copy[at])
        return csv_bytes(rows=[*rows, copy])

    return build


FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
ARABIC_INDIC = str.maketrans("0123456789.", "٠١٢٣٤٥٦٧٨٩.")


def excel_errors() -> bytes:
    frame = BASE.copy()
    cells = [
        ("contract", "#REF!"),
        ("billed_hours", "#N/A"),
        ("unbilled_hours", "#VALUE!"),
        ("pay_rate", "#DIV/0!"),
        ("caregiver_code", "#NAME?"),
        ("service_code", "#NULL!"),
        ("tier", "#NUM!"),
        ("patient_name", "#SPILL!"),
        ("discipline", "#CALC!"),
    ]
    for n, (role, value) in enumerate(cells):
        frame.at[n, COL[role]] = value
    return csv_bytes(rows=rows_of(frame))


def header_trailing_comma() -> bytes:
    lines = csv_bytes().split(b"\r\n")
    lines[0] += b","
    return b"\r\n".join(lines)


def lone_cr() -> bytes:
    """A stray CR (no LF) inside line 5 of a CRLF file: Excel and the reader break there."""
    return (
        csv_bytes()
        .replace(b"Non Payable", b"Non\rPayable", 4)
        .replace(b"Non\rPayable", b"Non Payable", 3)
    )


def sheet_workbook(
    sheets: list[tuple[str, list[list[object]], str]],
    active: int = 0,
    hide_rows: tuple[int, ...] = (),
    filtered_rows: tuple[int, ...] = (),
    number_format_ids: bool = False,
) -> bytes:
    """An .xlsx of (title, rows, state) sheets; rows hidden by hand / by a filter on the
    first visible report sheet; `active` = the sheet Excel opens on."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows, state in sheets:
        ws = wb.create_sheet(title)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None and value != "":
                    cell = ws.cell(r, c, value)
                    if isinstance(value, str) and not value.startswith("#"):
                        cell.number_format = "@"
        ws.sheet_state = state
    target = next(wb[t] for t, _, state in sheets if state == "visible")
    for r in hide_rows:
        target.row_dimensions[r].hidden = True
    if filtered_rows:
        target.auto_filter.ref = f"A1:P{len(BASE) + 1}"
        target.auto_filter.add_filter_column(0, ["48213"])
        for r in filtered_rows:
            target.row_dimensions[r].hidden = True
    wb.active = active
    wb.properties.created = datetime(2026, 11, 1)
    wb.properties.modified = datetime(2026, 11, 1)
    buffer = io.BytesIO()
    wb.save(buffer)
    return normalised_zip(buffer.getvalue())


def september_rows() -> list[list[object]]:
    frame = BASE.copy()
    for role in ("schedule_start", "schedule_end", "visit_start", "visit_end"):
        frame[COL[role]] = frame[COL[role]].str.replace("2026-10", "2026-09")
    return report_rows(frame)


def numeric_agency_rows() -> list[list[object]]:
    rows = report_rows()
    at = rows[0].index(COL["agency_id"])
    for row in rows[1:]:
        row[at] = int(row[at])  # 48213: five digits, like every Agency ID of the column
    return rows


def excel_error_rows() -> list[list[object]]:
    rows = report_rows()
    rows[3][rows[0].index(COL["billed_hours"])] = "#N/A"  # openpyxl stores it as an error cell
    rows[5][rows[0].index(COL["contract"])] = "#REF!"
    return rows


ROUND_TWO_CASES: list[Case] = [
    # 1. invisible and look-alike characters in IDs: the same member twice
    Case(
        "id_word_joiner_duplicate.csv",
        "a member pasted again with a word joiner (U+2060) after the Patient Number",
        duplicate_with_id(4, lambda v: v + "\u2060"),
        ["invisible-character", "duplicate-member"],
        exact=True,
        rows={"invisible-character": [14], "duplicate-member": [4, 14]},
        message="U+2060",
        cli=True,
    ),
    Case(
        "id_zero_width_space_duplicate.csv",
        "a member pasted again with a zero-width space (U+200B) inside the Patient Number",
        duplicate_with_id(5, lambda v: v[:3] + "\u200b" + v[3:]),
        ["invisible-character", "duplicate-member"],
        exact=True,
        rows={"invisible-character": [14], "duplicate-member": [5, 14]},
        message="U+200B ZERO WIDTH SPACE, at character 4",
    ),
    Case(
        "id_bom_prefix_duplicate.csv",
        "a member pasted again with a byte-order mark (U+FEFF) before the Patient Number",
        duplicate_with_id(6, lambda v: "\ufeff" + v),
        ["invisible-character", "duplicate-member"],
        exact=True,
        rows={"invisible-character": [14], "duplicate-member": [6, 14]},
        message="U+FEFF",
    ),
    Case(
        "id_full_width_duplicate.csv",
        "a member pasted again with the Patient Number in full-width digits",
        duplicate_with_id(7, lambda v: v.translate(FULL_WIDTH)),
        ["type", "duplicate-member"],
        exact=True,
        rows={"type": [14], "duplicate-member": [7, 14]},
        message="digits other than 0-9",
    ),
    # 2. non-ASCII digits in numbers
    Case(
        "hours_full_width.csv",
        "Billed Hours in full-width digits: ７７.１７",
        lambda: cell_csv(3, "billed_hours", BASE.at[1, COL["billed_hours"]].translate(FULL_WIDTH)),
        ["type"],
        exact=True,
        rows={"type": [3]},
        cli=True,
    ),
    Case(
        "hours_arabic_indic.csv",
        "Billed Hours in Arabic-Indic digits: ٧٧.١٧",
        lambda: cell_csv(
            4, "billed_hours", BASE.at[2, COL["billed_hours"]].translate(ARABIC_INDIC)
        ),
        ["type"],
        exact=True,
        rows={"type": [4]},
    ),
    Case(
        "agency_id_full_width.csv",
        "Agency ID in full-width digits: ４８２１３",
        lambda: cell_csv(5, "agency_id", BASE.at[3, COL["agency_id"]].translate(FULL_WIDTH)),
        ["type"],
        exact=True,
        rows={"type": [5]},
    ),
    # 3. Excel error values
    Case(
        "excel_errors.csv",
        "#REF!, #N/A, #VALUE!, #DIV/0!, #NAME?, #NULL!, #NUM!, #SPILL!, #CALC! in nine cells",
        excel_errors,
        ["excel-error"],
        rows={"excel-error": list(range(2, 11))},
        message="#REF!",
        cli=True,
    ),
    Case(
        "workbook_excel_errors.xlsx",
        "a workbook with #N/A in Billed Hours and #REF! as a contract (error cells)",
        lambda: sheet_workbook([("All", excel_error_rows(), "visible")]),
        # #REF! as a contract names no payer: payer-unknown says the default is used
        ["not-csv", "excel-error", "payer-unknown"],
        exact=True,
        rows={"excel-error": [4, 6]},
    ),
    # 4. workbooks: hidden sheets, several reports, hidden rows, numeric IDs of full width
    Case(
        "workbook_hidden_last_month_first.xlsx",
        "a hidden sheet with September's report placed before October's visible one",
        lambda: sheet_workbook(
            [("Sep 2026", september_rows(), "hidden"), ("Oct 2026", report_rows(), "visible")],
            active=1,
        ),
        ["not-csv"],
        exact=True,
        message="sheet 'Oct 2026'",
        cli=True,
    ),
    Case(
        "workbook_only_hidden_report.xlsx",
        "the only report is on a hidden sheet",
        lambda: sheet_workbook(
            [("Notes", [["to do"]], "visible"), ("Oct 2026", report_rows(), "hidden")]
        ),
        ["empty-file"],
        exact=True,
        message="hidden sheets are never read",
    ),
    Case(
        "workbook_two_visible_reports.xlsx",
        "two visible sheets hold a report; Excel opens on the second (the active one)",
        lambda: sheet_workbook(
            [("Sep 2026", september_rows(), "visible"), ("Oct 2026", report_rows(), "visible")],
            active=1,
        ),
        ["not-csv", "several-reports"],
        exact=True,
        message="'Sep 2026'",
        cli=True,
    ),
    Case(
        "workbook_hidden_rows.xlsx",
        "rows hidden by hand (4, 7) and by a filter (10, 11)",
        lambda: sheet_workbook(
            [("All", report_rows(), "visible")], hide_rows=(4, 7), filtered_rows=(10, 11)
        ),
        ["not-csv", "hidden-row"],
        exact=True,
        rows={"hidden-row": [4, 7, 10, 11]},
        cli=True,
    ),
    Case(
        "workbook_agency_id_number.xlsx",
        "Agency ID stored as a number of the column's full width: a warning, not an error",
        lambda: sheet_workbook([("All", numeric_agency_rows(), "visible")]),
        ["not-csv", "id-mangled"],
        exact=True,
        rows={"id-mangled": list(range(2, 14))},
        message="no leading zero was lost",
        cli=True,
    ),
    # 5. formulas behind invisible characters; names and numbers that are no formula
    Case(
        "formula_behind_zero_width.csv",
        "a formula behind a zero-width space: \\u200b=HYPERLINK(...)",
        lambda: cell_csv(9, "caregiver_code", '\u200b=HYPERLINK("http://x","y")'),
        ["formula-prefix", "invisible-character"],
        exact=True,
        rows={"formula-prefix": [9], "invisible-character": [9]},
        cli=True,
    ),
    Case(
        "formula_behind_word_joiner_and_space.csv",
        "a DDE payload behind a word joiner and a space",
        lambda: cell_csv(10, "pay_rate", "\u2060 -cmd|' /C calc'!A0"),
        ["formula-prefix", "invisible-character"],
        exact=True,
        rows={"formula-prefix": [10], "invisible-character": [10]},
    ),
    Case(
        "name_leading_hyphen.csv",
        "a name starting with a hyphen, -Smith: a name, no formula",
        lambda: cell_csv(11, "patient_name", "-Smith"),
        [],
        exact=True,
        cli=True,
    ),
    # 6. impossible numbers
    Case(
        "hours_above_month.csv",
        "800 billed hours in October (744 hours)",
        lambda: cell_csv(6, "billed_hours", "800.00"),
        ["hours-implausible"],
        exact=True,
        rows={"hours-implausible": [6]},
        message="744 hours",
        cli=True,
    ),
    Case(
        "unbilled_hours_1e23.csv",
        "Unbilled Hours 1e23 and 100000000000000000000000",
        lambda: csv_bytes(
            rows=rows_of(
                with_cell(
                    8,
                    "unbilled_hours",
                    "100000000000000000000000",
                    with_cell(7, "unbilled_hours", "1e23"),
                )
            )
        ),
        ["type", "hours-implausible"],
        exact=True,
        rows={"type": [7], "hours-implausible": [7, 8]},
    ),
    Case(
        "tier_leading_zero.csv",
        "Tier 01",
        lambda: cell_csv(3, "tier", "0" + BASE.at[1, COL["tier"]]),
        ["allowed-value"],
        exact=True,
        rows={"allowed-value": [3]},
        message="tier labels: 1, 2, 3",
    ),
    Case(
        "tier_spelled.csv",
        "Tier 'Tier 1'",
        lambda: cell_csv(4, "tier", "Tier " + BASE.at[2, COL["tier"]]),
        ["allowed-value"],
        exact=True,
        rows={"allowed-value": [4]},
    ),
    # 8.-9. internal errors that are findings now
    Case(
        "year_3026.csv",
        "a typo in the year: 3026-10-01 03:00",
        dated("3026-10-01 03:00"),
        ["datetime-format"],
        exact=True,
        rows={"datetime-format": [3]},
        message="a year no billing month can have",
        cli=True,
    ),
    Case(
        "year_0001.csv",
        "year 0001 in a visit start",
        dated("0001-10-01 03:00", "visit_start", 5),
        ["datetime-format"],
        exact=True,
        rows={"datetime-format": [5]},
    ),
    Case(
        "year_9999.csv",
        "year 9999 in a schedule end",
        dated("9999-10-01 03:15", "schedule_end", 6),
        ["datetime-format"],
        exact=True,
        rows={"datetime-format": [6]},
    ),
    Case(
        "tier_two_to_the_63.csv",
        "a Tier of 2^63",
        lambda: cell_csv(7, "tier", str(2**63)),
        ["allowed-value", "tier-mismatch"],
        exact=True,
        rows={"allowed-value": [7], "tier-mismatch": [7]},
        cli=True,
    ),
    # 14. true messages
    Case(
        "header_trailing_comma_only.csv",
        "a comma after the last header, none after the rows",
        header_trailing_comma,
        ["ragged-row"],
        exact=True,
        message="The header ends with 1 extra delimiter(s); the lines below do not.",
    ),
    Case(
        "lone_cr.csv",
        "a stray CR (no LF) inside line 5 of a CRLF file",
        lone_cr,
        ["lone-cr", "ragged-row"],
        rows={"lone-cr": [5]},
        message="numbered one more",
        cli=True,
    ),
]
CASES += ROUND_TWO_CASES


def main() -> None:
    if FILES.exists():
        shutil.rmtree(FILES)
    FILES.mkdir(parents=True)
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "duplicate corpus file names"
    for case in CASES:
        (FILES / case.name).write_bytes(case.build())
    MANIFEST.write_text(manifest(), encoding="utf-8")
    total = sum(p.stat().st_size for p in FILES.iterdir())
    print(f"{len(CASES)} files, {total / 1e3:.0f} kB, in {FILES}")


if __name__ == "__main__":
    main()
