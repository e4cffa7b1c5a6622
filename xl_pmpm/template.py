"""Build the macro-enabled workbook template (``PMPM_Tier_Report.xlsm``) without Excel.

openpyxl writes the sheets; the result is then post-processed as a zip: the VBA project
(``xl/vbaProject.bin``), the ribbon (``customUI/customUI14.xml``), their relationships and
content types are added, and volatile values are pinned so that two builds give the same
parts. The finished file is never passed back through openpyxl, which would drop the
customUI14 relationship.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import xlwings
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn, TableFormula, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from . import files, sample
from .excel.udfs import HELP_FUNCTIONS
from .findings import FINDING_COLUMNS
from .flags import ENGINE_HEADERS
from .layout import Column, Layout
from .rates import DEFAULT_PAYER, HOURS_BASES, RATE_COLUMNS, RateBook
from .review import ARCHIVE_META
from .vba.project import VbaModule, build_vba_project, module_from_file

__all__ = [
    "ACTIONS",
    "ENGINE_COLUMNS",
    "FINDINGS",
    "ACTION",
    "MACROS_DIR",
    "SETTINGS",
    "TEMPLATE_PATH",
    "build_template",
    "cmd_build_template",
    "engine_formulas",
    "main",
    "report_sheet_names",
    "sanitize_sheet_name",
    "table_name",
    "vba_modules",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
MACROS_DIR = REPO_ROOT / "macros"
TEMPLATE_PATH = REPO_ROOT / "workbook_templates" / "PMPM_Tier_Report.xlsm"
XLWINGS_DIR = Path(xlwings.__file__).parent

FINDINGS = "Findings"
ACTION = "Action"
ACTIONS = ("Keep", "Delete", "Defer")
ENGINE_COLUMNS = [
    ENGINE_HEADERS["tier"],
    ENGINE_HEADERS["tier_if_billed"],
    ENGINE_HEADERS["at_risk"],
    ENGINE_HEADERS["dollar_effect"],
    FINDINGS,
    ACTION,
]
ALL_SHEET = "All"
RATES_TABLE = "Rates"
VALIDATION_COLUMNS = [*FINDING_COLUMNS, "link"]
CONFIG_SHEET = "xlwings.conf"
UDF_MODULES = "xl_pmpm.excel.udfs"
# (defined name, label, note); values come from build_template's arguments.
SETTINGS = (
    ("BillingMonth", "Billing month", "First day of the month you bill. Default: last month."),
    ("AsOfDate", "As-of date", "Date the extract was taken. Default: today."),
    ("HoursBasis", "Hours basis default", "utilized or authorized; payers.csv can override."),
    ("ExportFolder", "Export folder", "Blank = an 'exports' folder beside this workbook."),
    ("ArchiveFolder", "Archive folder", "Blank = an 'archive' folder beside this workbook."),
    ("LayoutFile", "Layout file", "Blank = the layout bundled with xl_pmpm."),
    ("DefaultPayer", "Default payer", "Payer of the cell functions when none is given (* = DOH)."),
)
RESERVED_SHEETS = ("Rates", "Settings", "Deferred", "Validation", "Summary", "Help", CONFIG_SHEET)

# Fixed values for reproducible parts.
FIXED_TIMESTAMP = "2024-01-01T00:00:00Z"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

CONTENT_TYPE_XLSX = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CONTENT_TYPE_XLSM = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CONTENT_TYPE_VBA = "application/vnd.ms-office.vbaProject"
REL_UI = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_HEADER_FONT = Font(bold=True)
_AT_RISK_FILL = PatternFill("solid", start_color="FFF4B183", end_color="FFF4B183")
_FINDINGS_FILL = PatternFill("solid", start_color="FFFCE4D6", end_color="FFFCE4D6")
_MAX_ROW = 1048576


# --------------------------------------------------------------------------- names


def sanitize_sheet_name(name: str, taken: set[str]) -> str:
    """A legal, unused sheet name: no []:*?/\\, no edge apostrophes, at most 31 characters."""
    base = _BAD_SHEET_CHARS.sub("-", name).strip().strip("'").strip() or "Sheet"
    base = base[:31]
    candidate, n = base, 2
    while candidate.casefold() in taken or candidate.casefold() == "history":
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(candidate.casefold())
    return candidate


def report_sheet_names(contracts: Sequence[str]) -> dict[str, str]:
    """{contract: sheet name} for the Tier Report sheets, "All" excluded."""
    taken = {s.casefold() for s in (ALL_SHEET, *RESERVED_SHEETS)}
    return {c: sanitize_sheet_name(c, taken) for c in contracts}


def table_name(sheet: str) -> str:
    """Excel Table name of a Tier Report sheet: ``Report_`` + the name's letters and digits."""
    return "Report_" + (re.sub(r"[^0-9A-Za-z]+", "_", sheet).strip("_") or "Sheet")


def _escape(column: str) -> str:
    """A column name as written inside a structured reference ([, ], # and ' need a ')."""
    return re.sub(r"([\[\]#'])", r"'\1", column)


def _this_row(table: str, column: str) -> str:
    return f"{table}[[#This Row],[{_escape(column)}]]"


# --------------------------------------------------------------------------- formulas


def _rate_lookup(field: str, hours: str) -> str:
    """SUMPRODUCT over the Rates table's default-payer rows in force in BillingMonth.

    Tiers do not overlap (rates.py checks), so at most one row matches.
    """
    r = f"{RATES_TABLE}["
    return (
        f'SUMPRODUCT({r}{field}]*({r}payer]="{DEFAULT_PAYER}")*({r}min_hours]<={hours})'
        f'*((({r}max_hours]="")+({r}max_hours]>{hours}))>0)'
        f"*({r}effective_from]<=BillingMonth)"
        f'*((({r}effective_to]="")+({r}effective_to]>=BillingMonth))>0))'
    )


def engine_formulas(layout: Layout, table: str) -> dict[str, str]:
    """{engine column: formula} for one row of Tier Report table `table` (no Python needed).

    Uses the default payer's rates only; payer-specific rates need Refresh Flags.
    """
    billed = _this_row(table, layout.name_of("billed_hours"))
    unbilled_col = layout.column("unbilled_hours")
    total = f"({billed}+N({_this_row(table, unbilled_col.name)}))" if unbilled_col else billed
    tier = _this_row(table, ENGINE_HEADERS["tier"])
    tier_if_billed = _this_row(table, ENGINE_HEADERS["tier_if_billed"])
    at_risk = _this_row(table, ENGINE_HEADERS["at_risk"])

    def tier_of(hours: str) -> str:
        lookup = _rate_lookup("tier", hours)
        return f'=IF(ISNUMBER({billed}),IF({lookup}=0,"",{lookup}),"")'

    return {
        ENGINE_HEADERS["tier"]: tier_of(billed),
        ENGINE_HEADERS["tier_if_billed"]: tier_of(total),
        ENGINE_HEADERS["at_risk"]: f'=AND({tier_if_billed}<>"",N({tier_if_billed})<>N({tier}))',
        ENGINE_HEADERS["dollar_effect"]: (
            f"=IF({at_risk},ROUND({_rate_lookup('rate', total)}"
            f"-{_rate_lookup('rate', billed)},2),0)"
        ),
    }


# --------------------------------------------------------------------------- sheets


def _cell_value(value: object, column: Column) -> object:
    """A value from an extract (text) as it goes into a cell: numbers as numbers, IDs as text."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value)
    if text == "":
        return None
    if column.type == "number" and not column.id:
        try:
            return float(text.strip())
        except ValueError:
            return text
    return text


def _is_text_column(column: Column) -> bool:
    return column.id or column.type in ("datetime", "text")


def _write_table(
    ws: Worksheet,
    name: str,
    headers: list[str],
    rows: list[list[object]],
    *,
    formulas: dict[str, str] | None = None,
    style: str = "TableStyleMedium2",
) -> None:
    """Headers in row 1, rows below, as Excel Table `name` (one blank row if there are none)."""
    formulas = formulas or {}
    ws.append(headers)
    for cell in ws[1]:
        cell.font = _HEADER_FONT
    data = rows or [[None] * len(headers)]
    for r, values in enumerate(data, start=2):
        for c, header in enumerate(headers, start=1):
            value = formulas.get(header, values[c - 1])
            if value is not None:
                ws.cell(r, c, value)
    ref = f"A1:{get_column_letter(len(headers))}{len(data) + 1}"
    table = Table(displayName=name, name=name, ref=ref)
    table.tableColumns = [
        TableColumn(
            id=i,
            name=h,
            calculatedColumnFormula=(
                TableFormula(attr_text=formulas[h][1:]) if h in formulas else None
            ),
        )
        for i, h in enumerate(headers, start=1)
    ]
    table.autoFilter = AutoFilter(ref=ref)
    table.tableStyleInfo = TableStyleInfo(name=style, showRowStripes=True)
    ws.add_table(table)
    ws.freeze_panes = "A2"
    for c, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(c)].width = max(10, min(40, len(header) + 4))


def _report_sheet(
    wb: openpyxl.Workbook, sheet: str, code_name: str, layout: Layout, rows: pd.DataFrame | None
) -> None:
    ws = wb.create_sheet(sheet)
    ws.sheet_properties.codeName = code_name
    columns = layout.export_columns
    headers = [c.name for c in columns] + ENGINE_COLUMNS
    name = table_name(sheet)
    values: list[list[object]] = []
    if rows is not None and len(rows):
        frame = rows.reindex(columns=[c.name for c in columns])
        for record in frame.itertuples(index=False, name=None):
            line = [_cell_value(v, c) for v, c in zip(record, columns, strict=True)]
            values.append(line + [None] * len(ENGINE_COLUMNS))
    _write_table(ws, name, headers, values, formulas=engine_formulas(layout, name))
    last = max(len(values), 1) + 1
    for c, column in enumerate(columns, start=1):
        if _is_text_column(column):
            letter = get_column_letter(c)
            ws.column_dimensions[letter].number_format = "@"
            for (cell,) in ws[f"{letter}2:{letter}{last}"]:
                cell.number_format = "@"
    col = {h: get_column_letter(i) for i, h in enumerate(headers, start=1)}
    for h in (ENGINE_HEADERS["tier"], ENGINE_HEADERS["tier_if_billed"]):
        for (cell,) in ws[f"{col[h]}2:{col[h]}{last}"]:
            cell.number_format = "0"
    dollars = col[ENGINE_HEADERS["dollar_effect"]]
    for (cell,) in ws[f"{dollars}2:{dollars}{last}"]:
        cell.number_format = "#,##0.00"
    whole = f"A2:{col[ACTION]}{_MAX_ROW}"
    risk, findings = col[ENGINE_HEADERS["at_risk"]], col[FINDINGS]
    ws.conditional_formatting.add(
        whole, FormulaRule(formula=[f"${risk}2=TRUE"], fill=_AT_RISK_FILL, stopIfTrue=True)
    )
    ws.conditional_formatting.add(
        whole, FormulaRule(formula=[f'AND(${findings}2<>"",${findings}2<>0)'], fill=_FINDINGS_FILL)
    )
    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(ACTIONS) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Action",
        error="Choose Keep, Delete or Defer (blank = Keep).",
        promptTitle="Action",
        prompt="Keep, Delete or Defer this row; then press Delete Rows or Defer Rows.",
        showInputMessage=True,
    )
    dv.add(f"{col[ACTION]}2:{col[ACTION]}{_MAX_ROW}")
    ws.add_data_validation(dv)
    # Printed (and rendered to PDF/PNG) landscape, all columns on one page width.
    ws.page_setup.orientation = "landscape"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_title_rows = "1:1"


def _rates_sheet(wb: openpyxl.Workbook, book: RateBook) -> None:
    ws = wb.create_sheet("Rates")
    ws.sheet_properties.codeName = "wsRates"
    rows: list[list[object]] = []
    for record in book.rates[RATE_COLUMNS].itertuples(index=False, name=None):
        line: list[object] = []
        for field, value in zip(RATE_COLUMNS, record, strict=True):
            if pd.isna(value) or (field == "max_hours" and np.isinf(value)):
                line.append(None)
            elif field in ("effective_from", "effective_to"):
                line.append(pd.Timestamp(value).to_pydatetime())
            elif field in ("tier", "min_hours", "max_hours", "rate"):
                line.append(int(value) if field == "tier" else float(value))
            else:
                line.append(str(value))
        rows.append(line)
    _write_table(ws, RATES_TABLE, list(RATE_COLUMNS), rows)
    for c, field in enumerate(RATE_COLUMNS, start=1):
        letter = get_column_letter(c)
        fmt = {"effective_from": "yyyy-mm-dd", "effective_to": "yyyy-mm-dd", "rate": "0.00"}.get(
            field, "@" if field.endswith("code") or field == "payer" else "General"
        )
        ws.column_dimensions[letter].number_format = fmt
        for (cell,) in ws[f"{letter}2:{letter}{len(rows) + 1}"]:
            cell.number_format = fmt


def _settings_sheet(wb: openpyxl.Workbook, billing_month: date | None, as_of: date | None) -> None:
    ws = wb.create_sheet("Settings")
    ws.sheet_properties.codeName = "wsSettings"
    ws.append(["Setting", "Value", "Notes"])
    for cell in ws[1]:
        cell.font = _HEADER_FONT
    values: dict[str, object] = {
        # Billers bill the month just ended.
        "BillingMonth": billing_month or "=DATE(YEAR(TODAY()),MONTH(TODAY())-1,1)",
        "AsOfDate": as_of or "=TODAY()",
        "HoursBasis": HOURS_BASES[0],
        "ExportFolder": None,
        "ArchiveFolder": None,
        "LayoutFile": None,
        "DefaultPayer": DEFAULT_PAYER,
    }
    for r, (name, label, note) in enumerate(SETTINGS, start=2):
        ws.cell(r, 1, label)
        value = values[name]
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        cell = ws.cell(r, 2, value)
        cell.number_format = "yyyy-mm-dd" if name in ("BillingMonth", "AsOfDate") else "@"
        ws.cell(r, 3, note)
        wb.defined_names[name] = DefinedName(name, attr_text=f"Settings!$B${r}")
    basis = DataValidation(type="list", formula1='"' + ",".join(HOURS_BASES) + '"')
    basis.add(f"B{2 + [s[0] for s in SETTINGS].index('HoursBasis')}")
    ws.add_data_validation(basis)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 40
    ws.column_dimensions["C"].width = 60


def _summary_sheet(wb: openpyxl.Workbook, sheets: list[str], layout: Layout) -> None:
    ws = wb.create_sheet("Summary")
    ws.sheet_properties.codeName = "wsSummary"
    key = layout.column("patient_number") or layout.export_columns[0]
    headers = ["Sheet", "Rows", "At risk", "Dollars at risk", "Rows with findings"]
    headers += ["Delete", "Defer"]
    rows = []
    for sheet in sheets:
        t = table_name(sheet)

        def ref(column: str, t: str = t) -> str:
            return f"{t}[{_escape(column)}]"

        rows.append(
            [
                sheet,
                f"=COUNTA({ref(key.name)})",
                f"=COUNTIF({ref(ENGINE_HEADERS['at_risk'])},TRUE)",
                f"=SUMIF({ref(ENGINE_HEADERS['at_risk'])},TRUE,{ref(ENGINE_HEADERS['dollar_effect'])})",
                f'=COUNTIF({ref(FINDINGS)},">0")',
                f'=COUNTIF({ref(ACTION)},"Delete")',
                f'=COUNTIF({ref(ACTION)},"Defer")',
            ]
        )
    _write_table(ws, "Summary", headers, rows, style="TableStyleLight9")
    for (cell,) in ws[f"D2:D{len(rows) + 1}"]:
        cell.number_format = "#,##0.00"
    ws.column_dimensions["A"].width = 34


def _help_rows(layout: Layout) -> list[tuple[str, str, str]]:
    """(kind, text, extra) lines of the Help sheet: kind is "h" (heading) or "" (text)."""
    billed = layout.name_of("billed_hours")
    out: list[tuple[str, str, str]] = [
        ("h", "PMPM Tier Report workbook", ""),
        ("", "Tiers, rates and the PMPM import file for NY CDPAP, month by month.", ""),
        ("h", "How the month goes", ""),
        ("", "1. Settings: check the billing month and the export and archive folders.", ""),
        ("", "2. Load Extract: pick the month's PMPM Tier Report/Extract (CSV).", ""),
        ("", "3. Refresh Flags: tiers, tiers if billed, members at risk, dollars at stake.", ""),
        ("", "4. Validate: fix or remove what the Validation sheet lists.", ""),
        ("", "5. Mark rows Keep, Delete or Defer in the Action column; press the button.", ""),
        ("", "6. Export: save the import file and upload it to HHAeXchange.", ""),
        ("", "7. Next month, Restore brings deferred rows back once their visits are billed.", ""),
        ("h", "Ribbon buttons (PMPM tab)", ""),
        ("", "Load Extract", "Reads the extract into All and one sheet per contract."),
        ("", "Refresh Flags", "Recomputes the engine columns with every payer's rates."),
        ("", "Delete Rows", "Removes rows marked Delete; copies go to the archive."),
        ("", "Defer Rows", "Moves rows marked Defer to the Deferred sheet."),
        ("", "Restore", "Brings deleted or deferred rows back from the archive."),
        ("", "Validate", "Lists problems on the Validation sheet, with links to rows."),
        ("", "Export", "Writes the import CSV to the export folder."),
        ("", "Help", "Shows this sheet."),
        ("h", "Columns the workbook adds", ""),
        (
            "",
            ENGINE_HEADERS["tier"],
            f"Tier for {billed}, from the Rates sheet's default-payer rows in force in the "
            "billing month. Works without Python.",
        ),
        ("", ENGINE_HEADERS["tier_if_billed"], "The tier if the unbilled hours were billed too."),
        ("", ENGINE_HEADERS["at_risk"], "TRUE when the two tiers differ (row shown orange)."),
        ("", ENGINE_HEADERS["dollar_effect"], "Rate if billed minus rate now, when at risk."),
        ("", FINDINGS, "Number of problems Validate found (row shown light red)."),
        ("", ACTION, "Keep, Delete or Defer (blank = Keep)."),
        (
            "",
            "Payer-specific rates",
            "The formulas use the default payer's rates only; Refresh Flags applies each "
            "payer's own rates (payers.csv) with Python.",
        ),
        ("h", "Cell functions (need Python via xlwings)", ""),
    ]
    out += [("", f"{sig}   e.g. {example}", result) for sig, example, result in HELP_FUNCTIONS]
    out += [
        ("h", "Python", ""),
        (
            "",
            "The buttons and functions run Python through xlwings: set Interpreter_Win "
            "(or Interpreter_Mac) on the xlwings.conf sheet to the python of the environment "
            "where xl_pmpm is installed; blank = python on the PATH.",
            "",
        ),
    ]
    return out


def _help_sheet(wb: openpyxl.Workbook, layout: Layout) -> None:
    ws = wb.create_sheet("Help")
    ws.sheet_properties.codeName = "wsHelp"
    for r, (kind, text, extra) in enumerate(_help_rows(layout), start=1):
        cell = ws.cell(r, 1, text)
        if kind == "h":
            cell.font = Font(bold=True, size=13)
        if extra:
            ws.cell(r, 2, extra).alignment = Alignment(wrap_text=True)
    ws.column_dimensions["A"].width = 60
    ws.column_dimensions["B"].width = 80


def _config_sheet(wb: openpyxl.Workbook) -> None:
    # xlwings reads column A from A1 down to the first blank: no header row, no gaps.
    ws = wb.create_sheet(CONFIG_SHEET)
    ws.sheet_properties.codeName = "wsXlwingsConf"
    for row in (
        ("Interpreter_Win", None),
        ("Interpreter_Mac", None),
        ("PYTHONPATH", None),
        ("UDF Modules", UDF_MODULES),
        ("Use UDF Server", False),
    ):
        ws.append(list(row))
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 60


def _workbook(
    layout: Layout,
    book: RateBook,
    contracts: Sequence[str],
    rows: pd.DataFrame | None,
    billing_month: date | None,
    as_of: date | None,
) -> tuple[openpyxl.Workbook, list[str]]:
    """The openpyxl workbook and the code names of its sheets, in order."""
    wb = openpyxl.Workbook()
    wb.code_name = "ThisWorkbook"
    wb.remove(wb.active)
    wb.properties.creator = "xl-pmpm"
    wb.properties.title = "PMPM Tier Report"
    names = report_sheet_names(contracts)
    contract_col = layout.name_of("contract")
    _report_sheet(wb, ALL_SHEET, "wsAll", layout, rows)
    for n, (contract, sheet) in enumerate(names.items(), start=1):
        subset = None
        if rows is not None:
            subset = rows[rows[contract_col].fillna("").astype(str).str.strip() == contract]
        _report_sheet(wb, sheet, f"wsReport{n}", layout, subset)
    _rates_sheet(wb, book)
    _settings_sheet(wb, billing_month, as_of)
    deferred = wb.create_sheet("Deferred")
    deferred.sheet_properties.codeName = "wsDeferred"
    _write_table(
        deferred,
        "Deferred",
        [*ARCHIVE_META, *(c.name for c in layout.export_columns)],
        [],
        style="TableStyleLight1",
    )
    validation = wb.create_sheet("Validation")
    validation.sheet_properties.codeName = "wsValidation"
    _write_table(validation, "Validation", VALIDATION_COLUMNS, [], style="TableStyleLight10")
    _summary_sheet(wb, [ALL_SHEET, *names.values()], layout)
    _help_sheet(wb, layout)
    _config_sheet(wb)
    return wb, [ws.sheet_properties.codeName for ws in wb.worksheets]


# --------------------------------------------------------------------------- VBA and zip


def vba_modules(code_names: Sequence[str], macros_dir: Path = MACROS_DIR) -> list[VbaModule]:
    """macros/*.bas, xlwings' module and Dictionary class, ThisWorkbook and one per sheet."""
    modules = [module_from_file(p) for p in sorted(macros_dir.glob("*.bas"))]
    modules += [
        module_from_file(XLWINGS_DIR / "xlwings.bas"),
        module_from_file(XLWINGS_DIR / "addin" / "Dictionary.cls"),
    ]
    modules.append(VbaModule("ThisWorkbook", "Option Explicit\r\n", "document"))
    modules += [VbaModule(name, "Option Explicit\r\n", "document") for name in code_names]
    return modules


def _add_relationship(rels: bytes, rel_id: str, rel_type: str, target: str) -> bytes:
    entry = f'<Relationship Id="{rel_id}" Type="{rel_type}" Target="{target}"/>'
    return rels.replace(b"</Relationships>", entry.encode() + b"</Relationships>")


def _macro_parts(xlsx: bytes, vba_project: bytes, custom_ui: bytes) -> dict[str, bytes]:
    """The parts of the openpyxl output turned into a macro-enabled workbook with a ribbon."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    types = parts["[Content_Types].xml"].replace(CONTENT_TYPE_XLSX, CONTENT_TYPE_XLSM)
    if b'Extension="bin"' not in types:
        types = types.replace(
            b"<Default ",
            f'<Default Extension="bin" ContentType="{CONTENT_TYPE_VBA}"/><Default '.encode(),
            1,
        )
    if b'Extension="xml"' not in types:
        types = types.replace(
            b"</Types>",
            b'<Override PartName="/customUI/customUI14.xml" ContentType="application/xml"/>'
            b"</Types>",
        )
    parts["[Content_Types].xml"] = types
    parts["_rels/.rels"] = _add_relationship(
        parts["_rels/.rels"], "rIdPmpmRibbon", REL_UI, "customUI/customUI14.xml"
    )
    parts["xl/_rels/workbook.xml.rels"] = _add_relationship(
        parts["xl/_rels/workbook.xml.rels"], "rIdPmpmVba", REL_VBA, "vbaProject.bin"
    )
    core = parts["docProps/core.xml"].decode("utf-8")
    for tag in ("created", "modified"):
        core = re.sub(
            rf"(<dcterms:{tag}[^>]*>)[^<]*(</dcterms:{tag}>)", rf"\g<1>{FIXED_TIMESTAMP}\g<2>", core
        )
    parts["docProps/core.xml"] = core.encode("utf-8")
    parts["xl/vbaProject.bin"] = vba_project
    parts["customUI/customUI14.xml"] = custom_ui
    return parts


def _zip_bytes(parts: dict[str, bytes]) -> bytes:
    """A zip with fixed entry order and timestamps: content types and root rels first."""
    first = ["[Content_Types].xml", "_rels/.rels"]
    order = first + sorted(n for n in parts if n not in first)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, parts[name])
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def workbook_bytes(
    layout: Layout,
    book: RateBook,
    *,
    contracts: Sequence[str] | None = None,
    rows: pd.DataFrame | None = None,
    billing_month: date | None = None,
    as_of: date | None = None,
    macros_dir: str | Path = MACROS_DIR,
) -> bytes:
    """The macro-enabled Tier Report workbook, as the bytes of an .xlsm file.

    `contracts` defaults to the sample's. `rows` (an extract: layout column names, text
    values) fills a copy: every row goes on All, and each contract's rows on its sheet.
    `billing_month` / `as_of` fix those settings (default: formulas for last month / today).
    """
    macros_dir = Path(macros_dir)
    contracts = list(sample.CONTRACTS if contracts is None else contracts)
    wb, code_names = _workbook(layout, book, contracts, rows, billing_month, as_of)
    buffer = io.BytesIO()
    wb.save(buffer)
    vba = build_vba_project(vba_modules(code_names, macros_dir))
    custom_ui = (macros_dir / "customUI14.xml").read_bytes()
    return _zip_bytes(_macro_parts(buffer.getvalue(), vba, custom_ui))


def build_template(
    out_path: str | Path,
    layout: Layout,
    book: RateBook,
    *,
    contracts: Sequence[str] | None = None,
    rows: pd.DataFrame | None = None,
    billing_month: date | None = None,
    as_of: date | None = None,
    macros_dir: str | Path = MACROS_DIR,
) -> Path:
    """Write the workbook to `out_path` atomically (a rebuilt template replaces the old one)."""
    data = workbook_bytes(
        layout,
        book,
        contracts=contracts,
        rows=rows,
        billing_month=billing_month,
        as_of=as_of,
        macros_dir=macros_dir,
    )
    out = Path(out_path)
    # A filled copy holds billing data (health data): owner-only.
    _write_atomic(out, data, 0o600 if rows is not None else 0o644)
    return out


def cmd_build_template(args: argparse.Namespace) -> int:
    """CLI: ``xl-pmpm build-template [--out PATH] [--layout FILE]``; prints the path written."""
    layout = files.load_layout(getattr(args, "layout", None))
    book = files.load_rate_book(getattr(args, "rates", None), getattr(args, "payers", None))
    out = build_template(getattr(args, "out", None) or TEMPLATE_PATH, layout, book)
    print(out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xl_pmpm.template [--out PATH]``."""
    parser = argparse.ArgumentParser(prog="xl-pmpm build-template", description=__doc__)
    parser.add_argument("--out", help=f"where to write the workbook (default: {TEMPLATE_PATH})")
    parser.add_argument("--layout", help="import layout TOML (default: the bundled one)")
    return cmd_build_template(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
