"""Build the macro-enabled workbook template (``PMPM_Tier_Report.xlsm``) without Excel.

openpyxl writes the sheets (in write-only mode, so a filled copy of a large extract
streams to disk instead of holding every cell); the result is then post-processed
as a zip: the VBA project (``xl/vbaProject.bin``), the ribbon
(``customUI/customUI14.xml``), their relationships and content types are added, and
volatile values are pinned so that two builds give the same parts. The finished
file is never passed back through openpyxl, which would drop the customUI14
relationship.

Sheet and column names come from :mod:`xl_pmpm.workbook.sheets`, which the xlwings front
end uses too.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import IO, TypedDict, Unpack

import numpy as np
import openpyxl
import pandas as pd
import xlwings
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn, TableFormula, TableStyleInfo

from xl_pmpm.core import sample
from xl_pmpm.core.errors import PmpmError, PmpmInputError
from xl_pmpm.core.flags import ENGINE_HEADERS
from xl_pmpm.core.kpi import KPI_COLUMNS
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.rates import DEFAULT_PAYER, HOURS_BASES, RATE_COLUMNS, RateBook
from xl_pmpm.io import files
from xl_pmpm.workbook.actions import BUTTONS, CELL_FUNCTIONS
from xl_pmpm.workbook.sheets import (
    ACTION,
    ACTIONS,
    ALL,
    CONFIG,
    DEFERRED,
    DEFERRED_COLUMNS_META,
    ENGINE_COLUMNS,
    FINDINGS,
    HELP,
    HISTORY,
    HISTORY_COLUMNS,
    HISTORY_TABLE,
    KPI,
    KPI_TABLE_NAMES,
    KPI_TEXT_COLUMNS,
    LINE,
    RATES,
    SUMMARY,
    VALIDATION,
    VALIDATION_COLUMNS,
    kpi_first_columns,
    report_columns,
    report_sheet_names,
    sanitize_sheet_name,
    table_name,
)
from xl_pmpm.workbook.sheets import (
    SETTINGS as SETTINGS_SHEET,
)
from xl_pmpm.workbook.vba.project import VbaModule, build_vba_project, module_from_file

__all__ = [
    "ACTION",
    "ACTIONS",
    "ENGINE_COLUMNS",
    "FINDINGS",
    "MACROS_DIR",
    "SETTINGS",
    "TEMPLATE_PATH",
    "WorkbookOptions",
    "build_template",
    "cmd_build_template",
    "engine_formulas",
    "main",
    "report_rows",
    "report_sheet_names",
    "sanitize_sheet_name",
    "table_name",
    "vba_modules",
    "workbook_bytes",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
# In a checkout: the top-level macros/ and workbook_templates/. Installed from a wheel,
# the macros are package data (xl_pmpm/macros) and there is no template folder to write.
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "macros").is_dir()
MACROS_DIR = (
    REPO_ROOT / "macros" if IN_CHECKOUT else Path(str(resources.files("xl_pmpm") / "macros"))
)
TEMPLATE_PATH: Path | None = (
    REPO_ROOT / "workbook_templates" / "PMPM_Tier_Report.xlsm" if IN_CHECKOUT else None
)
XLWINGS_DIR = Path(xlwings.__file__).parent

ALL_SHEET = ALL
RATES_TABLE = RATES
CONFIG_SHEET = CONFIG
UDF_MODULES = "xl_pmpm.excel.udfs"
XLWINGS_CONFIG_KEYS = (
    "Interpreter_Win",
    "Interpreter_Mac",
    "PYTHONPATH",
    "UDF Modules",
    "Use UDF Server",
)
# (defined name, label, note); the front end reads the labels, the formulas the names.
SETTINGS = (
    ("BillingMonth", "Billing month", "First day of the month you bill. Default: last month."),
    ("AsOfDate", "As-of date", "Date the extract was taken. Default: today."),
    ("HoursBasis", "Hours basis default", "utilized or authorized; payers.csv can override."),
    ("ExtractFile", "Extract file", "The month's Tier Report/Extract (CSV) Load Extract reads."),
    ("ExportFolder", "Export folder", "Blank = an 'exports' folder beside this workbook."),
    ("ArchiveFolder", "Archive folder", "Blank = an 'archive' folder beside this workbook."),
    (
        "LedgerFile",
        "Ledger file",
        "Export ledger History shows. Blank = the command line's: $XL_PMPM_LEDGER, "
        "else ~/.xl-pmpm/ledger.sqlite3.",
    ),
    ("LayoutFile", "Layout file", "Blank = the layout bundled with xl_pmpm."),
    ("DefaultPayer", "Default payer", "Payer of the cell functions when none is given (* = DOH)."),
)
SUMMARY_HEADERS = [
    "Sheet",
    "Rows",
    "At risk",
    "Dollars at risk",
    "Rows with findings",
    "Delete",
    "Defer",
]
BY_TIER_TABLE = "ByTier"
# The KPI charts plot fixed ranges (a chart cannot follow a table that grows): this many
# rows of each table, three years of months.
KPI_CHART_ROWS = 36
KPI_FORMATS = {
    "revenue": "#,##0.00",
    "revenue_per_member": "#,##0.00",
    "share": "0.00%",
    "share_change": "0.00%",
}

# Fixed values for reproducible parts.
FIXED_TIMESTAMP = "2024-01-01T00:00:00Z"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

CONTENT_TYPE_XLSX = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CONTENT_TYPE_XLSM = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CONTENT_TYPE_VBA = "application/vnd.ms-office.vbaProject"
REL_UI = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"

_HEADER_FONT = Font(bold=True)
_AT_RISK_FILL = PatternFill("solid", start_color="FFF4B183", end_color="FFF4B183")
_FINDINGS_FILL = PatternFill("solid", start_color="FFFCE4D6", end_color="FFFCE4D6")
_MAX_ROW = 1048576


def _escape(column: str) -> str:
    """A column name as written inside a structured reference ([, ], # and ' need a ')."""
    return re.sub(r"([\[\]#'])", r"'\1", column)


def _this_row(table: str, column: str) -> str:
    return f"{table}[[#This Row],[{_escape(column)}]]"


# --------------------------------------------------------------------------- formulas


def _in_force(r: str) -> str:
    return (
        f"*({r}effective_from]<=BillingMonth)"
        f'*((({r}effective_to]="")+({r}effective_to]>=BillingMonth))>0)'
    )


def _rate_lookup(field: str, hours: str) -> str:
    """SUMPRODUCT over the Rates table's default-payer rows in force in BillingMonth.

    Tiers do not overlap (rates.py checks), so at most one row matches.
    """
    r = f"{RATES_TABLE}["
    return (
        f'SUMPRODUCT({r}{field}]*({r}payer]="{DEFAULT_PAYER}")*({r}min_hours]<={hours})'
        f'*((({r}max_hours]="")+({r}max_hours]>{hours}))>0)' + _in_force(r) + ")"
    )


def _tier_rate(tier: int) -> str:
    """The default payer's rate of `tier` in BillingMonth, from the Rates table."""
    r = f"{RATES_TABLE}["
    return (
        f'SUMPRODUCT({r}rate]*({r}payer]="{DEFAULT_PAYER}")*({r}tier]={tier})' + _in_force(r) + ")"
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


# --------------------------------------------------------------------------- cells


def _column_values(values: pd.Series, column: Column) -> list[object]:
    """An extract's column (text) as cell values: numbers as numbers, IDs as text, "" blank."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    out = text.astype(object)
    if column.type == "number" and not column.id:
        numbers = pd.to_numeric(text.str.strip(), errors="coerce")
        ok = numbers.notna() & ~np.isinf(numbers.to_numpy(dtype="float64", na_value=np.nan))
        out = out.where(~ok, numbers.astype(object))
    return out.where(text != "", None).tolist()


def _is_text_column(column: Column) -> bool:
    return column.id or column.type in ("datetime", "text")


class _Cells:
    """Write-only cells with a fixed format, made fast: one style looked up per format."""

    def __init__(self, ws: object) -> None:
        self.ws = ws
        self._styles: dict[tuple[str | None, bool], object] = {}

    def __call__(self, value: object, number_format: str | None = None, bold: bool = False):
        key = (number_format, bold)
        style = self._styles.get(key)
        cell = WriteOnlyCell(self.ws, value)
        if style is None:
            if number_format:
                cell.number_format = number_format
            if bold:
                cell.font = _HEADER_FONT
            self._styles[key] = cell._style
        else:
            cell._style = style
        return cell


def _widths(ws: object, headers: Sequence[str]) -> None:
    for c, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(c)].width = max(10, min(40, len(header) + 4))


def _add_table(
    ws: object,
    name: str,
    headers: Sequence[str],
    rows: int,
    *,
    first_row: int = 1,
    first_column: int = 1,
    formulas: Mapping[str, str] | None = None,
    style: str = "TableStyleMedium2",
) -> str:
    """Excel Table `name`: header at `first_row` / `first_column`, `rows` rows (at least one)."""
    formulas = formulas or {}
    last = first_row + max(rows, 1)
    left, right = (
        get_column_letter(first_column),
        get_column_letter(first_column + len(headers) - 1),
    )
    ref = f"{left}{first_row}:{right}{last}"
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
    with warnings.catch_warnings():
        # The columns are set above; openpyxl warns about write-only tables regardless.
        warnings.filterwarnings("ignore", "In write-only mode", UserWarning)
        ws.add_table(table)
    return ref


def _write_table(
    ws: object,
    name: str,
    headers: list[str],
    rows: Sequence[Sequence[object]],
    *,
    formats: Mapping[str, str] | None = None,
    style: str = "TableStyleMedium2",
) -> None:
    """Headers in row 1, rows below, as Excel Table `name` (one blank row if there are none)."""
    cells = _Cells(ws)
    formats = formats or {}
    # Write-only: sheet properties, views and columns go out with the first row.
    ws.freeze_panes = "A2"
    _widths(ws, headers)
    ws.append([cells(h, bold=True) for h in headers])
    for values in rows or [[None] * len(headers)]:
        ws.append(
            [
                cells(v, formats[h]) if h in formats and v is not None else v
                for h, v in zip(headers, values, strict=True)
            ]
        )
    _add_table(ws, name, headers, len(rows), style=style)


# --------------------------------------------------------------------------- sheets


def report_rows(
    layout: Layout, sheet: str, rows: pd.DataFrame | None
) -> tuple[list[str], Iterator[list[object]], dict[str, str]]:
    """(header, data rows, {column: number format}) of a Tier Report sheet's table.

    Each data row is Line, the layout's export columns as cell values, then the engine
    formulas (Findings and Action blank). With no rows: one blank row with the formulas.
    """
    columns = layout.export_columns
    headers = report_columns([c.name for c in columns])
    formulas = engine_formulas(layout, table_name(sheet))
    tail = [formulas.get(h) for h in headers[1 + len(columns) :]]
    formats = {c.name: "@" for c in columns if _is_text_column(c)}
    formats[ENGINE_HEADERS["tier"]] = formats[ENGINE_HEADERS["tier_if_billed"]] = "0"
    formats[ENGINE_HEADERS["dollar_effect"]] = "#,##0.00"
    if rows is None or not len(rows):
        return headers, iter([[None] * (1 + len(columns)) + tail]), formats
    frame = rows.reindex(columns=[c.name for c in columns])
    index = rows.index
    if pd.api.types.is_integer_dtype(index.dtype):
        lines = [int(n) for n in index]
    else:  # not an extract's line index: number the rows as a file would
        lines = list(range(2, len(rows) + 2))
    values = [lines] + [_column_values(frame[c.name], c) for c in columns]
    return headers, (list(r) + tail for r in zip(*values, strict=True)), formats


def _report_sheet(
    wb: openpyxl.Workbook, sheet: str, code_name: str, layout: Layout, rows: pd.DataFrame | None
) -> None:
    ws = wb.create_sheet(sheet)
    ws.sheet_properties.codeName = code_name
    headers, data, formats = report_rows(layout, sheet, rows)
    cells = _Cells(ws)
    col = {h: get_column_letter(i) for i, h in enumerate(headers, start=1)}
    for h, fmt in formats.items():
        ws.column_dimensions[col[h]].number_format = fmt
    # Write-only: sheet properties, views and columns go out with the first row.
    _widths(ws, headers)
    ws.freeze_panes = "A2"
    ws.sheet_properties.pageSetUpPr.fitToPage = True  # printed: all columns on one page width
    ws.append([cells(h, bold=True) for h in headers])
    styled = [(i, formats[h]) for i, h in enumerate(headers) if h in formats]
    count = 0
    for values in data:
        for i, fmt in styled:  # blank cells too: what a biller types there stays text
            values[i] = cells(values[i], fmt)
        ws.append(values)
        count += 1
    # The blank row of an empty sheet counts as no data row.
    n_rows = count if rows is not None and len(rows) else 0
    _add_table(
        ws, table_name(sheet), headers, n_rows, formulas=engine_formulas(layout, table_name(sheet))
    )
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
    ws.data_validations.append(dv)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_title_rows = "1:1"


def _rates_sheet(wb: openpyxl.Workbook, book: RateBook) -> None:
    ws = wb.create_sheet(RATES)
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
    formats = {
        field: {"effective_from": "yyyy-mm-dd", "effective_to": "yyyy-mm-dd", "rate": "0.00"}.get(
            field, "@" if field.endswith("code") or field == "payer" else "General"
        )
        for field in RATE_COLUMNS
    }
    for c, field in enumerate(RATE_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(c)].number_format = formats[field]
    _write_table(ws, RATES_TABLE, list(RATE_COLUMNS), rows, formats=formats)


def _settings_sheet(wb: openpyxl.Workbook, billing_month: date | None, as_of: date | None) -> None:
    ws = wb.create_sheet(SETTINGS_SHEET)
    ws.sheet_properties.codeName = "wsSettings"
    cells = _Cells(ws)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 40
    ws.column_dimensions["C"].width = 60
    ws.append([cells(h, bold=True) for h in ("Setting", "Value", "Notes")])
    values: dict[str, object] = {
        # Billers bill the month just ended.
        "BillingMonth": billing_month or "=DATE(YEAR(TODAY()),MONTH(TODAY())-1,1)",
        "AsOfDate": as_of or "=TODAY()",
        "HoursBasis": HOURS_BASES[0],
        "DefaultPayer": DEFAULT_PAYER,
    }
    for r, (name, label, note) in enumerate(SETTINGS, start=2):
        value = values.get(name)
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        fmt = "yyyy-mm-dd" if name in ("BillingMonth", "AsOfDate") else "@"
        ws.append([label, cells(value, fmt), note])
        wb.defined_names[name] = DefinedName(name, attr_text=f"{SETTINGS_SHEET}!$B${r}")
    basis = DataValidation(type="list", formula1='"' + ",".join(HOURS_BASES) + '"')
    basis.add(f"B{2 + [s[0] for s in SETTINGS].index('HoursBasis')}")
    ws.data_validations.append(basis)


def _default_tiers(book: RateBook) -> list[int]:
    rates = book.rates
    return sorted({int(t) for t in rates.loc[rates["payer"] == DEFAULT_PAYER, "tier"]})


def _summary_sheet(
    wb: openpyxl.Workbook,
    sheets: list[str],
    contracts: Sequence[str],
    layout: Layout,
    tiers: Sequence[int],
) -> None:
    """Per sheet counts, then members and dollars by tier and contract, with two charts.

    Everything is a formula over the Tier Report tables (the default payer's rates),
    so the sheet is right without Python and after every front-end action. Dollars
    count what would be billed as the rows stand: a tier, and not deferred (blank
    Visit Start), as xl_pmpm.core.summary.visit_summary does.
    """
    ws = wb.create_sheet(SUMMARY)
    ws.sheet_properties.codeName = "wsSummary"
    key = layout.column("patient_number") or layout.export_columns[0]
    ws.column_dimensions["A"].width = 34
    for letter in "BCDEFGH":
        ws.column_dimensions[letter].width = 16
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
    cells = _Cells(ws)
    ws.append([cells(h, bold=True) for h in SUMMARY_HEADERS])
    for row in rows:
        ws.append([*row[:3], cells(row[3], "#,##0.00"), *row[4:]])
    _add_table(ws, SUMMARY, SUMMARY_HEADERS, len(rows), style="TableStyleLight9")

    # Members and dollars by tier (columns) and contract (rows), over the All table.
    ws.append([])
    top = len(rows) + 3
    all_t = table_name(ALL)
    tier_col = f"{all_t}[{_escape(ENGINE_HEADERS['tier'])}]"
    contract_col = f"{all_t}[{_escape(layout.name_of('contract'))}]"
    start = layout.column("visit_start")
    billable = f',{all_t}[{_escape(start.name)}],"<>"' if start is not None else ""
    headers = ["Contract"] + [f"Tier {t} members" for t in tiers]
    headers += [f"Tier {t} dollars" for t in tiers]
    ws.append([cells(h, bold=True) for h in headers])
    labels = [*contracts, "Total"]
    for label in labels:
        where = f',{contract_col},"{label}"' if label != "Total" else ""
        members = [f"=COUNTIFS({tier_col},{t}{where})" for t in tiers]
        dollars = [
            cells(f"=COUNTIFS({tier_col},{t}{where}{billable})*{_tier_rate(t)}", "#,##0.00")
            for t in tiers
        ]
        ws.append([label, *members, *dollars])
    _add_table(ws, BY_TIER_TABLE, headers, len(labels), first_row=top, style="TableStyleLight9")
    n = len(tiers)
    last = top + len(contracts)  # charts leave the Total row out
    for title, first_col, anchor, axis in (
        ("Members by tier and contract", 2, "J2", "Members"),
        ("Dollars by tier and contract", 2 + n, "J20", "Dollars"),
    ):
        chart = BarChart()
        chart.type = "col"
        chart.title = title
        chart.y_axis.title = axis
        chart.x_axis.title = "Contract"
        data = Reference(
            ws, min_col=first_col, max_col=first_col + n - 1, min_row=top, max_row=last
        )
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=top + 1, max_row=last))
        chart.width, chart.height = 18, 8.5
        ws.add_chart(chart, anchor)


def _kpi_sheet(wb: openpyxl.Workbook, tiers: Sequence[int]) -> None:
    """One empty table per KPI table (side by side, filled by the KPI button) and charts.

    A stacked chart needs one series per tier: a block of formulas beside the charts
    turns the tier mix table into one share column per (default-payer) tier.
    """
    ws = wb.create_sheet(KPI)
    ws.sheet_properties.codeName = "wsKpi"
    cells = _Cells(ws)
    firsts = kpi_first_columns()
    header: list[object] = []
    for key, first in firsts.items():
        columns = KPI_COLUMNS[key]
        header += [None] * (first - 1 - len(header)) + [cells(h, bold=True) for h in columns]
        for c, h in enumerate(columns, start=first):
            dimension = ws.column_dimensions[get_column_letter(c)]
            dimension.width = max(10, len(h) + 4)
            dimension.number_format = (
                "@" if h in KPI_TEXT_COLUMNS else KPI_FORMATS.get(h, "General")
            )
    charts_at = len(header) + 2
    block = charts_at + 12  # right of the charts (18 cm wide)
    month = get_column_letter(block)
    header += [None] * (block - 1 - len(header))
    header += [cells("Tier mix: month", bold=True)]
    header += [cells(f"Tier {t} share", bold=True) for t in tiers]
    ws.column_dimensions[month].width = 16
    ws.freeze_panes = "A2"
    ws.append(header)
    mix = KPI_TABLE_NAMES["tier_mix"]
    by_month = get_column_letter(firsts["by_month"] + KPI_COLUMNS["by_month"].index("month"))
    for r in range(2, KPI_CHART_ROWS + 2):
        shares = [
            cells(
                f'=IF(${month}{r}="","",SUMPRODUCT(--({mix}[month]=${month}{r}),'
                f"--({mix}[tier]={t}),{mix}[share]))",
                "0.0%",
            )
            for t in tiers
        ]
        ws.append([None] * (block - 1) + [f'=IF({by_month}{r}="","",{by_month}{r})', *shares])
    for key, first in firsts.items():
        _add_table(
            ws,
            KPI_TABLE_NAMES[key],
            KPI_COLUMNS[key],
            0,
            first_column=first,
            style="TableStyleLight9",
        )

    last = KPI_CHART_ROWS + 1
    month_col = firsts["by_month"] + KPI_COLUMNS["by_month"].index("month")
    pmpm, members, mix_chart = LineChart(), BarChart(), BarChart()
    members.type = mix_chart.type = "col"
    mix_chart.grouping, mix_chart.overlap = "percentStacked", 100
    charts = (
        # (chart, title, y axis, by_month column (None: the tier share block), anchor row)
        (pmpm, "Revenue per member per month (PMPM)", "Dollars", "revenue_per_member", 2),
        (members, "Members billed per month", "Members", "members", 20),
        (mix_chart, "Tier mix (share of members)", "Share", None, 38),
    )
    for chart, title, axis, field, row in charts:
        if field is None:  # the tier share block
            first, final, categories = block + 1, block + len(tiers), block
        else:
            first = final = firsts["by_month"] + KPI_COLUMNS["by_month"].index(field)
            categories = month_col
        data = Reference(ws, min_col=first, max_col=final, min_row=1, max_row=last)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=categories, min_row=2, max_row=last))
        chart.title, chart.y_axis.title, chart.x_axis.title = title, axis, "Month"
        chart.width, chart.height = 18, 8.5
        ws.add_chart(chart, f"{get_column_letter(charts_at)}{row}")


def _help_rows(layout: Layout) -> list[tuple[str, str, str]]:
    """(kind, text, extra) lines of the Help sheet: kind is "h" (heading) or "" (text)."""
    billed = layout.name_of("billed_hours")
    out: list[tuple[str, str, str]] = [
        ("h", "PMPM Tier Report workbook", ""),
        ("", "Tiers, rates and the PMPM import file for NY CDPAP, month by month.", ""),
        ("h", "How the month goes", ""),
        ("", "1. Settings: check the billing month, the extract file and the folders.", ""),
        ("", "2. Load Extract: reads the month's PMPM Tier Report/Extract (CSV).", ""),
        ("", "3. Refresh Flags: tiers, tiers if billed, members at risk, dollars at stake.", ""),
        ("", "4. Validate: fix or remove what the Validation sheet lists.", ""),
        ("", "5. Mark rows Keep, Delete or Defer in the Action column; press the button.", ""),
        ("", "6. Export: save the import file and upload it to HHAeXchange.", ""),
        ("", "7. Next month, Restore brings deferred rows back once their visits are billed.", ""),
        ("h", "Ribbon buttons (PMPM tab)", ""),
        *[("", b.label, b.help) for b in BUTTONS],
        ("h", "Columns the workbook adds", ""),
        (
            "",
            LINE,
            "The row's line in the extract (header = 1). It stays with the row through "
            "Delete, Defer and Restore; do not edit it.",
        ),
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
        (
            "",
            SUMMARY,
            "Rows, members at risk and dollars per sheet; members and dollars by tier and "
            "contract (default-payer rates, deferred rows left out), with charts.",
        ),
        ("h", "Cell functions (need Python via xlwings)", ""),
    ]
    out += [("", f"{f.signature}   e.g. {f.example}", f.result) for f in CELL_FUNCTIONS]
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
    ws = wb.create_sheet(HELP)
    ws.sheet_properties.codeName = "wsHelp"
    ws.column_dimensions["A"].width = 60
    ws.column_dimensions["B"].width = 80
    heading = Font(bold=True, size=13)
    for kind, text, extra in _help_rows(layout):
        first = WriteOnlyCell(ws, text)
        if kind == "h":
            first.font = heading
        row: list[object] = [first]
        if extra:
            second = WriteOnlyCell(ws, extra)
            second.alignment = Alignment(wrap_text=True)
            row.append(second)
        ws.append(row)


def _config_sheet(wb: openpyxl.Workbook, config: Mapping[str, object] | None) -> None:
    # xlwings reads column A from A1 down to the first blank: no header row, no gaps.
    ws = wb.create_sheet(CONFIG_SHEET)
    ws.sheet_properties.codeName = "wsXlwingsConf"
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 60
    values: dict[str, object] = dict.fromkeys(XLWINGS_CONFIG_KEYS)
    values["UDF Modules"] = UDF_MODULES
    values["Use UDF Server"] = False
    values.update(config or {})
    for key, value in values.items():
        ws.append([key, value])


def _empty_table_sheet(
    wb: openpyxl.Workbook, sheet: str, code_name: str, table: str, headers: list[str], style: str
) -> None:
    ws = wb.create_sheet(sheet)
    ws.sheet_properties.codeName = code_name
    for c in range(1, len(headers) + 1):  # the front end writes text here
        ws.column_dimensions[get_column_letter(c)].number_format = "@"
    _write_table(ws, table, headers, [], style=style)


def _contract_rows(
    rows: pd.DataFrame | None, contract_col: str, contracts: Iterable[str]
) -> dict[str, pd.DataFrame | None]:
    if rows is None:
        return dict.fromkeys(contracts)
    key = rows[contract_col].fillna("").astype(str).str.strip()
    return {c: rows[key == c] for c in contracts}


def _workbook(
    layout: Layout,
    book: RateBook,
    contracts: Sequence[str],
    rows: pd.DataFrame | None,
    billing_month: date | None,
    as_of: date | None,
    xlwings_config: Mapping[str, object] | None = None,
) -> tuple[openpyxl.Workbook, list[str]]:
    """The openpyxl (write-only) workbook and the code names of its sheets, in order."""
    wb = openpyxl.Workbook(write_only=True)
    wb.code_name = "ThisWorkbook"
    wb.properties.creator = "xl-pmpm"
    wb.properties.title = "PMPM Tier Report"
    names = report_sheet_names(contracts)
    code_names = ["wsAll"]
    _report_sheet(wb, ALL, "wsAll", layout, rows)
    subsets = _contract_rows(rows, layout.name_of("contract"), names)
    for n, (contract, sheet) in enumerate(names.items(), start=1):
        code_names.append(f"wsReport{n}")
        _report_sheet(wb, sheet, code_names[-1], layout, subsets[contract])
    _rates_sheet(wb, book)
    _settings_sheet(wb, billing_month, as_of)
    export_names = [c.name for c in layout.export_columns]
    _empty_table_sheet(
        wb,
        DEFERRED,
        "wsDeferred",
        DEFERRED,
        [*DEFERRED_COLUMNS_META, *export_names],
        "TableStyleLight1",
    )
    _empty_table_sheet(
        wb, VALIDATION, "wsValidation", VALIDATION, VALIDATION_COLUMNS, "TableStyleLight10"
    )
    _summary_sheet(wb, [ALL, *names.values()], list(contracts), layout, _default_tiers(book))
    _empty_table_sheet(wb, HISTORY, "wsHistory", HISTORY_TABLE, HISTORY_COLUMNS, "TableStyleLight1")
    _kpi_sheet(wb, _default_tiers(book))
    _help_sheet(wb, layout)
    _config_sheet(wb, xlwings_config)
    code_names += [
        "wsRates",
        "wsSettings",
        "wsDeferred",
        "wsValidation",
        "wsSummary",
        "wsHistory",
        "wsKpi",
        "wsHelp",
        "wsXlwingsConf",
    ]
    return wb, code_names


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


_SMALL_PARTS = ("[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels")


def _macro_parts(small: dict[str, bytes]) -> dict[str, bytes]:
    """The parts that turn openpyxl's output into a macro-enabled workbook with a ribbon.

    `small` holds the content types, the root and workbook relationships and
    docProps/core.xml as openpyxl wrote them; returns their new contents.
    """
    types = small["[Content_Types].xml"].replace(CONTENT_TYPE_XLSX, CONTENT_TYPE_XLSM)
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
    core = small["docProps/core.xml"].decode("utf-8")
    for tag in ("created", "modified"):
        core = re.sub(
            rf"(<dcterms:{tag}[^>]*>)[^<]*(</dcterms:{tag}>)", rf"\g<1>{FIXED_TIMESTAMP}\g<2>", core
        )
    return {
        "[Content_Types].xml": types,
        "_rels/.rels": _add_relationship(
            small["_rels/.rels"], "rIdPmpmRibbon", REL_UI, "customUI/customUI14.xml"
        ),
        "xl/_rels/workbook.xml.rels": _add_relationship(
            small["xl/_rels/workbook.xml.rels"], "rIdPmpmVba", REL_VBA, "vbaProject.bin"
        ),
        "docProps/core.xml": core.encode("utf-8"),
    }


def _write_package(xlsx: IO[bytes], vba_project: bytes, custom_ui: bytes, out: IO[bytes]) -> None:
    """Copy openpyxl's package `xlsx` into `out` as the .xlsm: fixed entry order and times.

    Content types and root relationships come first; the sheets are streamed part by
    part (a filled copy's sheet XML can be hundreds of megabytes), never held whole.
    """
    with zipfile.ZipFile(xlsx) as source:
        names = source.namelist()
        changed = _macro_parts({n: source.read(n) for n in (*_SMALL_PARTS, "docProps/core.xml")})
        changed["xl/vbaProject.bin"] = vba_project
        changed["customUI/customUI14.xml"] = custom_ui
        first = ["[Content_Types].xml", "_rels/.rels"]
        order = first + sorted(n for n in {*names, *changed} if n not in first)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for name in order:
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                if name in changed:
                    target.writestr(info, changed[name])
                    continue
                with source.open(name) as src, target.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


class WorkbookOptions(TypedDict, total=False):
    """What `workbook_bytes` and `build_template` take besides the layout and rates.

    `contracts` defaults to the sample's. `rows` (an extract: layout column names, text
    values) fills a copy: every row goes on All, and each contract's rows on its sheet.
    `billing_month` / `as_of` fix those settings (default: formulas for last month / today).
    `xlwings_config` sets entries of the xlwings.conf sheet (e.g. ``Interpreter_Win``).
    """

    contracts: Sequence[str] | None
    rows: pd.DataFrame | None
    billing_month: date | None
    as_of: date | None
    macros_dir: str | Path
    xlwings_config: Mapping[str, object] | None


def _write_workbook(
    out: IO[bytes],
    layout: Layout,
    book: RateBook,
    *,
    contracts: Sequence[str] | None = None,
    rows: pd.DataFrame | None = None,
    billing_month: date | None = None,
    as_of: date | None = None,
    macros_dir: str | Path = MACROS_DIR,
    xlwings_config: Mapping[str, object] | None = None,
) -> None:
    unknown = set(xlwings_config or {}) - set(XLWINGS_CONFIG_KEYS)
    if unknown:
        raise ValueError(f"not xlwings.conf settings: {sorted(unknown)}")
    macros_dir = Path(macros_dir)
    contracts = list(sample.CONTRACTS if contracts is None else contracts)
    wb, code_names = _workbook(layout, book, contracts, rows, billing_month, as_of, xlwings_config)
    vba = build_vba_project(vba_modules(code_names, macros_dir))
    custom_ui = (macros_dir / "customUI14.xml").read_bytes()
    with tempfile.TemporaryFile() as xlsx:
        wb.save(xlsx)
        xlsx.seek(0)
        _write_package(xlsx, vba, custom_ui, out)


def workbook_bytes(layout: Layout, book: RateBook, **options: Unpack[WorkbookOptions]) -> bytes:
    """The macro-enabled Tier Report workbook, as the bytes of an .xlsm file.

    `options`: see `WorkbookOptions`.
    """
    buffer = io.BytesIO()
    _write_workbook(buffer, layout, book, **options)
    return buffer.getvalue()


def build_template(
    out_path: str | Path, layout: Layout, book: RateBook, **options: Unpack[WorkbookOptions]
) -> Path:
    """Write the workbook to `out_path` atomically (a rebuilt template replaces the old one).

    Streams to a temp file beside `out_path`: a filled copy of a large extract is never
    held in memory whole. `options`: see `WorkbookOptions`.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    # A filled copy holds billing data (health data): owner-only.
    private = options.get("rows") is not None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_workbook(fh, layout, book, **options)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def cmd_build_template(args: argparse.Namespace) -> int:
    """CLI: ``xl-pmpm build-template [--out PATH] [--layout FILE]``; prints the path written."""
    layout = files.load_layout(getattr(args, "layout", None))
    book = files.load_rate_book(getattr(args, "rates", None), getattr(args, "payers", None))
    out = getattr(args, "out", None) or TEMPLATE_PATH
    if out is None:
        raise PmpmInputError(
            "build-template needs --out: xl_pmpm is installed, not run from its checkout, "
            "and the workbook is not written into the installed package.",
            fix="Give the file to write, e.g. --out PMPM_Tier_Report.xlsm.",
        )
    print(build_template(out, layout, book))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xl_pmpm.workbook.template [--out PATH]``."""
    parser = argparse.ArgumentParser(prog="xl-pmpm build-template", description=__doc__)
    default = TEMPLATE_PATH or "none: required when xl_pmpm is installed"
    parser.add_argument("--out", help=f"where to write the workbook (default: {default})")
    parser.add_argument("--layout", help="import layout TOML (default: the bundled one)")
    try:
        return cmd_build_template(parser.parse_args(argv))
    except PmpmError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
