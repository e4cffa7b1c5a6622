"""A Tier Report sheet (All, and one per contract) as the template writes it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import openpyxl
import pandas as pd
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from xl_pmpm.core.flags import ENGINE_HEADERS
from xl_pmpm.core.layout import Layout
from xl_pmpm.workbook.cells import (
    MAX_ROW,
    Cells,
    add_table,
    column_values,
    is_text_column,
    set_widths,
)
from xl_pmpm.workbook.formulas import (
    engine_formulas,
)
from xl_pmpm.workbook.sheets import (
    ACTION,
    ACTIONS,
    AT_RISK_MARK,
    FINDINGS,
    report_columns,
    table_name,
)

AT_RISK_FILL = PatternFill("solid", start_color="FFF4B183", end_color="FFF4B183")
FINDINGS_FILL = PatternFill("solid", start_color="FFFCE4D6", end_color="FFFCE4D6")


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
    formats = {c.name: "@" for c in columns if is_text_column(c)}
    for c in columns:  # hours as 78.10, not 78.1
        if c.type == "number" and not c.id and getattr(c, "decimals", None):
            formats[c.name] = "#,##0." + "0" * int(c.decimals)
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
    values = [lines] + [column_values(frame[c.name], c) for c in columns]
    return headers, (list(r) + tail for r in zip(*values, strict=True)), formats


def freeze_cell(layout: Layout, headers: Sequence[str]) -> str:
    """The header row and the columns through Patient Number stay in view when scrolling."""
    patient = layout.column("patient_number")
    if patient is None or patient.name not in headers:
        return "A2"
    return f"{get_column_letter(list(headers).index(patient.name) + 2)}2"


def report_sheet(
    wb: openpyxl.Workbook, sheet: str, code_name: str, layout: Layout, rows: pd.DataFrame | None
) -> None:
    ws = wb.create_sheet(sheet)
    ws.sheet_properties.codeName = code_name
    headers, data, formats = report_rows(layout, sheet, rows)
    cells = Cells(ws)
    col = {h: get_column_letter(i) for i, h in enumerate(headers, start=1)}
    for h, fmt in formats.items():
        ws.column_dimensions[col[h]].number_format = fmt
    # Write-only: sheet properties, views and columns go out with the first row.
    set_widths(ws, headers)
    ws.freeze_panes = freeze_cell(layout, headers)
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
    add_table(
        ws, table_name(sheet), headers, n_rows, formulas=engine_formulas(layout, table_name(sheet))
    )
    whole = f"A2:{col[ACTION]}{MAX_ROW}"
    risk, findings = col[ENGINE_HEADERS["at_risk"]], col[FINDINGS]
    ws.conditional_formatting.add(
        whole,
        FormulaRule(formula=[f'${risk}2="{AT_RISK_MARK}"'], fill=AT_RISK_FILL, stopIfTrue=True),
    )
    ws.conditional_formatting.add(
        whole, FormulaRule(formula=[f'AND(${findings}2<>"",${findings}2<>0)'], fill=FINDINGS_FILL)
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
    dv.add(f"{col[ACTION]}2:{col[ACTION]}{MAX_ROW}")
    ws.data_validations.append(dv)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_title_rows = "1:1"


def contract_rows(
    rows: pd.DataFrame | None, contract_col: str, contracts: Iterable[str]
) -> dict[str, pd.DataFrame | None]:
    if rows is None:
        return dict.fromkeys(contracts)
    key = rows[contract_col].fillna("").astype(str).str.strip()
    return {c: rows[key == c] for c in contracts}
