"""Reading the tier report from a workbook (.xlsx / .xlsm) handed to the command line.

Billers keep the month in the workbook, so file mode reads it too: the table
is found by its header row (any visible sheet, any position; the "All" sheet
first, else the active one; hidden sheets are never read, hidden and filtered
rows are named), every cell becomes text as the CSV reader gives it (dates in the layout's
format), and rows are numbered as Excel numbers them. What the workbook holds
that a CSV cannot (a number typed into an ID column) becomes a finding.

Defended: the XML is parsed by openpyxl through defusedxml (entity declarations
are refused, so a "billion laughs" part cannot exhaust memory), and a workbook
is refused before parsing when it is too big, inflates too much, or has too
many parts. Refusals are PmpmInputError naming the file and the limit.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pandas as pd

from xl_pmpm.core.cells import cell_text
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import WARNING, combine, file_finding, finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.report import TierReport, match_header
from xl_pmpm.core.values import squash
from xl_pmpm.core.vocabulary import ALL, HIDDEN_SHEETS, LINE, ORIGINAL_SHEET, WORKBOOK_COLUMNS

# Limits, checked on the zip directory before any XML is parsed.
MAX_WORKBOOK_BYTES = 100_000_000  # the file itself
MAX_UNCOMPRESSED_BYTES = 1_000_000_000  # all parts together, inflated
MAX_PART_RATIO = 100  # inflated / compressed, for any part over RATIO_FLOOR
RATIO_FLOOR = 1_000_000  # small parts (styles, strings) may compress very well
MAX_PARTS = 10_000
# Where the header row is looked for.
SCAN_ROWS = 200
SCAN_COLUMNS = 100
_NOT_A_WORKBOOK = "Upload a CSV file: in Excel use File > Save As > CSV UTF-8."


def _refuse(source: str, message: str, fix: str) -> PmpmInputError:
    return PmpmInputError(message, fix=fix, file=source)


def check_workbook_limits(data: bytes, source: str) -> zipfile.ZipFile | None:
    """The open zip if its size, part count and inflation are within limits; None if no zip.

    Raises PmpmInputError (the workbook is refused) past a limit.
    """
    if len(data) > MAX_WORKBOOK_BYTES:
        raise _refuse(
            source,
            f"The workbook is {len(data) / 1e6:.0f} MB; xl-pmpm reads workbooks up to "
            f"{MAX_WORKBOOK_BYTES / 1e6:.0f} MB.",
            "Save the tier report as CSV UTF-8 and read that file.",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    if len(parts) > MAX_PARTS:
        raise _refuse(
            source,
            f"The workbook has {len(parts):,} parts; at most {MAX_PARTS:,} are read.",
            "Save the tier report as CSV UTF-8 and read that file.",
        )
    total = sum(p.file_size for p in parts)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(
            source,
            f"The workbook would inflate to {total / 1e6:,.0f} MB; at most "
            f"{MAX_UNCOMPRESSED_BYTES / 1e6:,.0f} MB is read (refused unread).",
            "Save the tier report as CSV UTF-8 and read that file.",
        )
    for p in parts:
        ratio = p.file_size / max(p.compress_size, 1)
        if p.file_size > RATIO_FLOOR and ratio > MAX_PART_RATIO:
            raise _refuse(
                source,
                f"The workbook part {p.filename} would inflate {ratio:,.0f}-fold "
                f"({p.compress_size:,} bytes compressed to {p.file_size:,}); at most "
                f"{MAX_PART_RATIO}-fold is read (a zip bomb?). Refused unread.",
                "Save the tier report as CSV UTF-8 and read that file.",
            )
    return archive


def _require_defusedxml(source: str) -> None:
    import openpyxl

    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise _refuse(
            source,
            "Workbooks are read only with defusedxml installed (it guards the XML parser).",
            "Install it (pip install defusedxml), or save the tier report as CSV UTF-8.",
        )


def _sheet_rows(ws, min_row: int = 1, max_row: int | None = None) -> Iterator[tuple]:
    return ws.iter_rows(min_row=min_row, max_row=max_row, values_only=True)


def find_header(ws, layout: Layout) -> tuple[int, int, int] | None:
    """(row, first column, matching names) of the best header row in a sheet's top rows."""
    wanted = {squash(n) for n in layout.expected_names}
    need = max(3, (len(wanted) + 1) // 2)
    best: tuple[int, int, int] | None = None
    for r, row in enumerate(_sheet_rows(ws, 1, SCAN_ROWS), start=1):
        cells = [squash(v) for v in row[:SCAN_COLUMNS]]
        hits = [c for c, v in enumerate(cells) if v in wanted]
        if len(set(cells[c] for c in hits)) >= need and (best is None or len(hits) > best[2]):
            best = (r, hits[0], len(hits))
    return best


def _cell_name(row: int, col: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(col + 1)}{row}"


def _read_table(
    ws, row: int, col: int, layout: Layout
) -> tuple[list[str], pd.DataFrame, list[pd.DataFrame], pd.Series]:
    """The header, the data rows (indexed by Excel row), the number-in-ID findings and the
    workbook's Line column (the extract's line of each row; empty without one)."""
    rows = _sheet_rows(ws, row)
    head_cells = list(next(rows, ()))[col:]
    header = [cell_text(v, None).strip() for v in head_cells]
    while header and header[-1] == "":
        header.pop()
    keep = [i for i, h in enumerate(header) if h not in WORKBOOK_COLUMNS]
    line_at = header.index(LINE) if LINE in header else None
    extract_lines: list[object] = []
    header = [header[i] for i in keep]
    columns = {squash(c.name): c for c in layout.columns}
    specs = [columns.get(squash(h)) for h in header]
    records: list[list[str]] = []
    lines: list[int] = []
    numeric_ids: list[tuple[int, str, str, int]] = []
    for line, values in enumerate(rows, start=row + 1):
        cells = list(values)[col:]
        picked = [cells[i] if i < len(cells) else None for i in keep]
        if line_at is not None:
            extract_lines.append(cells[line_at] if line_at < len(cells) else None)
        text = [cell_text(v, spec) for v, spec in zip(picked, specs, strict=True)]
        for at, (v, spec, t) in enumerate(zip(picked, specs, text, strict=True)):
            if (
                spec is not None
                and spec.id
                and isinstance(v, int | float)
                and not isinstance(v, bool)
            ):
                numeric_ids.append((line, spec.name, t, at))
        records.append(text)
        lines.append(line)
    while records and all(t.strip() == "" for t in records[-1]):
        records.pop()  # the formatted but empty rows below a table are no data
        lines.pop()
    index = pd.Index(lines, name="line")
    body = pd.DataFrame(records, index=index, dtype=str)
    line_column = pd.to_numeric(
        pd.Series(extract_lines[: len(lines)], index=index[: len(extract_lines)], dtype=object),
        errors="coerce",
    )
    body = body.reindex(columns=range(len(header)), fill_value="")
    found = []
    if numeric_ids:
        frame = pd.DataFrame(numeric_ids, columns=["line", "field", "value", "at"])
        for field, group in frame.groupby("field", sort=False):
            column = body[int(group["at"].iloc[0])]
            found.extend(_numeric_id_findings(str(field), group, column))
    return header, body, found, line_column


def _numeric_id_findings(field: str, group: pd.DataFrame, column: pd.Series) -> list[pd.DataFrame]:
    """IDs stored as numbers: an error, or a warning when the digits have the column's width.

    A number as wide as the column's usual ID (the commonest width of its values)
    cannot have lost a leading zero; a shorter one, or a rounded one, may have.
    """
    values = column.astype(str).str.strip()
    widths = values[values.str.fullmatch(r"[0-9]+")].str.len()
    usual = int(widths.mode().iloc[0]) if len(widths) else 0
    full = group["value"].str.fullmatch(r"[0-9]+") & (group["value"].str.len() == usual)
    out = []
    if (~full).any():
        out.append(
            finding_rows(
                "id-mangled",
                pd.Index(group.loc[~full, "line"]),
                field,
                group.loc[~full, "value"],
                f"{field} is stored as a number in the workbook: Excel drops leading "
                "zeros and rounds long numbers.",
            )
        )
    if full.any():
        out.append(
            finding_rows(
                "id-mangled",
                pd.Index(group.loc[full, "line"]),
                field,
                group.loc[full, "value"],
                f"{field} is stored as a number in the workbook; its {usual} digits match the "
                "column's other IDs, so no leading zero was lost. Format the column as Text "
                "to keep it so.",
                severity=WARNING,
            )
        )
    return out


def hidden_rows(data: bytes, ws) -> set[int]:
    """The rows of a sheet hidden by hand or by a filter (both are `hidden` in the XML).

    Read-only openpyxl does not keep row properties, so the sheet's part is read
    again here, row elements only, through defusedxml.
    """
    from defusedxml.ElementTree import iterparse

    path = getattr(ws, "_worksheet_path", None)
    if not path:
        return set()
    out: set[int] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(path) as part:
        number = 0
        for _, elem in iterparse(part, events=("end",)):
            if elem.tag.endswith("}row") or elem.tag == "row":
                number = int(elem.get("r") or number + 1)
                if elem.get("hidden") in ("1", "true"):
                    out.add(number)
                elem.clear()
    return out


def parse_workbook_report(data: bytes, layout: Layout, source: str = "workbook") -> TierReport:
    """Read the tier report table from a workbook's bytes (the file is never modified)."""
    empty = pd.DataFrame(columns=layout.expected_names)

    def unreadable(code: str, message: str) -> TierReport:
        return TierReport(
            empty, source, combine([file_finding(code, message)]), "xlsx", len(data), False
        )

    archive = check_workbook_limits(data, source)
    if archive is None:
        return unreadable("not-csv", "This is a damaged zip file, not a CSV file.")
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names:
        return unreadable("not-csv", "This is a zip archive, not an Excel workbook or a CSV file.")
    _require_defusedxml(source)
    import openpyxl
    from defusedxml import DefusedXmlException

    try:
        wb = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
        try:
            return _report_from_workbook(wb, data, layout, source)
        finally:
            wb.close()
    except PmpmInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is a damaged workbook
        defused = _defused_cause(exc, DefusedXmlException)
        if defused is not None:  # openpyxl wraps it in a ValueError
            raise _refuse(
                source,
                f"The workbook's XML declares entities or a DTD ({type(defused).__name__}); "
                "such parts are refused unread (a 'billion laughs' attack?).",
                "Save the tier report as CSV UTF-8 from a trusted copy and read that file.",
            ) from None
        return unreadable(
            "not-csv",
            f"This workbook could not be read ({type(exc).__name__}): it is damaged or not "
            "an Excel workbook.",
        )


def _defused_cause(exc: BaseException, kind: type) -> BaseException | None:
    """`exc` or the exception it was raised from, if one is of `kind`."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 20:
        if isinstance(cause, kind):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def _original_rows(wb, layout: Layout, lines: pd.Series) -> pd.DataFrame | None:
    """The workbook's hidden copy of the extract as loaded, on the rows of the report.

    The billers' workbook keeps it (sheet ``_original``, Line first) so that a changed
    locked field is caught whichever way the workbook is exported: by its Export button
    or by ``xl-pmpm export`` on the file. Each report row is matched by its Line.
    """
    if ORIGINAL_SHEET not in wb.sheetnames or lines.dropna().empty:
        return None
    ws = wb[ORIGINAL_SHEET]
    header, body, _, original_lines = _read_table(ws, 1, 0, layout)
    if original_lines.empty:
        return None
    table, _ = match_header(header, body, None, layout)
    by_line = table.set_axis(original_lines.to_numpy(), axis=0)
    by_line = by_line[by_line.index.notna() & ~by_line.index.duplicated()]
    known = lines.dropna()
    known = known[known.isin(by_line.index)]
    aligned = by_line.loc[known.to_numpy()]
    aligned.index = known.index
    return aligned


def _report_sheets(wb, layout: Layout) -> tuple[list[tuple[Any, tuple]], list[str]]:
    """The visible sheets holding a report (the one to read first), and the hidden ones.

    Hidden sheets are never read (last month's report kept out of sight). Among
    several visible ones: the sheet named "All" (the billers' workbook, whose contract
    and Deferred sheets repeat its header), else the active sheet, else the first.
    """
    sheets = [ws for ws in wb.worksheets if hasattr(ws, "iter_rows")]
    visible = [ws for ws in sheets if getattr(ws, "sheet_state", "visible") == "visible"]
    hidden = [
        ws.title
        for ws in sheets
        if ws not in visible and ws.title not in HIDDEN_SHEETS and find_header(ws, layout)
    ]
    found = [(ws, f) for ws in visible if (f := find_header(ws, layout)) is not None]
    active = getattr(wb, "active", None)

    def rank(item: tuple) -> tuple[bool, bool]:
        ws = item[0]
        return (ws.title.strip().casefold() != ALL.casefold(), ws is not active)

    return sorted(found, key=rank), hidden


def _sheet_findings(ws, others: list, lines: pd.Index, data: bytes) -> list[pd.DataFrame]:
    """several-reports (the other sheets named) and hidden-row (the hidden lines named)."""
    out = []
    if others and ws.title.strip().casefold() != ALL.casefold():
        names = ", ".join(f"'{o.title}'" for o, _ in others)
        out.append(
            file_finding(
                "several-reports",
                f"{'Sheets' if len(others) > 1 else 'Sheet'} {names} "
                f"{'hold' if len(others) > 1 else 'holds'} a tier report too; sheet "
                f"'{ws.title}' was read "
                "(the active sheet, else the first).",
                value=ws.title,
            )
        )
    concealed = sorted(hidden_rows(data, ws) & set(lines))
    if concealed:
        out.append(
            finding_rows(
                "hidden-row",
                pd.Index(concealed),
                None,
                "",
                "The line is hidden in the workbook (by hand or by a filter) but is read "
                "and would be uploaded.",
            )
        )
    return out


def _report_from_workbook(wb, data: bytes, layout: Layout, source: str) -> TierReport:
    sheets = [ws for ws in wb.worksheets if hasattr(ws, "iter_rows")]
    order, hidden = _report_sheets(wb, layout)
    for ws, found in order[:1]:
        row, col, _ = found
        header, body, id_findings, lines = _read_table(ws, row, col, layout)
        table, head_findings = match_header(header, body, None, layout, header_row=row)
        original = _original_rows(wb, layout, lines)
        id_findings += _sheet_findings(ws, order[1:], body.index, data)
        where = file_finding(
            "not-csv",
            f"This is an Excel workbook, not a CSV file: the tier report was read from "
            f"sheet '{ws.title}', header row at {_cell_name(row, col)}; rows are numbered "
            "as Excel numbers them.",
            value=ws.title,
            severity=WARNING,
        )
        findings = combine([where, *head_findings, *id_findings])
        return TierReport(table, source, findings, "xlsx", len(data), original=original)
    looked = ", ".join(f"'{n}'" for n in layout.expected_names[:4])
    titles = ", ".join(f"'{ws.title}'" for ws in sheets) or "(none)"
    if hidden:
        titles += (
            f"; hidden sheet(s) {', '.join(repr(h) for h in hidden)} hold one, but hidden "
            "sheets are never read: unhide the sheet if it is this month's report"
        )
    return TierReport(
        pd.DataFrame(columns=layout.expected_names),
        source,
        combine(
            [
                file_finding(
                    "empty-file",
                    f"{source}: no sheet holds the tier report's header row. Looked for "
                    f"{looked}, ... ({len(layout.expected_names)} columns) in the first "
                    f"{SCAN_ROWS} rows of sheet(s) {titles}.",
                )
            ]
        ),
        "xlsx",
        len(data),
        readable=False,
    )
