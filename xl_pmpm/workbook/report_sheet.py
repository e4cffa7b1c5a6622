"""A Tier Report sheet (All, and one per contract) as the template writes it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import openpyxl
import pandas as pd
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.datavalidation import DataValidation

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.vocabulary import ACTION, ACTIONS, AT_RISK_MARK, ENGINE_HEADERS, FINDINGS
from xl_pmpm.workbook.cells import (
    MAX_ROW,
    Cells,
    add_table,
    column_values,
    is_text_column,
    print_readable,
    set_widths,
)
from xl_pmpm.workbook.formulas import (
    engine_formulas,
)
from xl_pmpm.workbook.sheet_xml import (
    IllegalCharacter,
    SheetExtras,
    column_letter,
    column_runs_sqref,
    formula_cells,
    rows_xml,
    value_cells,
)
from xl_pmpm.workbook.sheets import report_columns, table_name

# Rows built as XML at a time: bounds the memory of a large fill.
CHUNK = 8192
AT_RISK_FILL = PatternFill("solid", start_color="FFF4B183", end_color="FFF4B183")
FINDINGS_FILL = PatternFill("solid", start_color="FFFCE4D6", end_color="FFFCE4D6")


def sheet_columns(layout: Layout, rows: pd.DataFrame | None = None) -> list[Column]:
    """The layout columns of a Tier Report table: every column the rules read
    (`Layout.sheet_columns`, Authorized Hours included); of a filled one, those the
    extract has (as Load Extract writes them), so the book reads as the extract does."""
    if rows is None:
        return layout.sheet_columns
    return [c for c in layout.sheet_columns if c.name in rows.columns]


def report_formats(layout: Layout, columns: Sequence[Column] | None = None) -> dict[str, str]:
    """{column: number format} of a Tier Report table (text columns "@")."""
    columns = layout.sheet_columns if columns is None else columns
    formats = {c.name: "@" for c in columns if is_text_column(c)}
    for c in columns:  # hours as 78.10, not 78.1
        decimals = getattr(c, "decimals", None)
        if c.type == "number" and not c.id and decimals:
            formats[c.name] = "#,##0." + "0" * int(decimals)
    formats[ENGINE_HEADERS["tier"]] = formats[ENGINE_HEADERS["tier_if_billed"]] = "0"
    formats[ENGINE_HEADERS["dollar_effect"]] = "#,##0.00"
    return formats


def text_column_numbers(
    layout: Layout, first: int = 2, columns: Sequence[Column] | None = None
) -> list[int]:
    """1-based numbers of the text columns (IDs among them) of `columns` (the layout's
    sheet columns) on a sheet where they start at column `first` (2 on a Tier Report)."""
    columns = layout.sheet_columns if columns is None else columns
    return [i for i, c in enumerate(columns, start=first) if is_text_column(c)]


def _lines(rows: pd.DataFrame) -> list[int]:
    if pd.api.types.is_integer_dtype(rows.index.dtype):
        return [int(n) for n in rows.index]
    return list(range(2, len(rows) + 2))  # not an extract's line index: number as a file would


def _values(columns: Sequence[Column], rows: pd.DataFrame, lines: list[int]) -> list[list[object]]:
    """Line and `columns` of `rows`, a list of cell values per column."""
    frame = rows.reindex(columns=[c.name for c in columns])
    first: list[object] = list(lines)
    return [first, *(column_values(frame[c.name], c) for c in columns)]


def report_rows(
    layout: Layout, sheet: str, rows: pd.DataFrame | None
) -> tuple[list[str], Iterator[list[object]], dict[str, str]]:
    """(header, data rows, {column: number format}) of a Tier Report sheet's table.

    Each data row is Line, the layout's export columns as cell values, then the engine
    formulas (Findings and Action blank). With no rows: one blank row with the formulas.
    """
    columns = sheet_columns(layout, rows)
    headers = report_columns([c.name for c in columns])
    formulas = engine_formulas(layout, table_name(sheet), [c.name for c in columns])
    tail = [formulas.get(h) for h in headers[1 + len(columns) :]]
    formats = report_formats(layout, columns)
    if rows is None or not len(rows):
        return headers, iter([[*([None] * (1 + len(columns))), *tail]]), formats
    values = _values(columns, rows, _lines(rows))
    return headers, (list(r) + tail for r in zip(*values, strict=True)), formats


def _report_rows_xml(
    layout: Layout,
    sheet: str,
    rows: pd.DataFrame | None,
    styles: dict[str, int],
    columns: Sequence[Column],
) -> Iterator[bytes]:
    """The data rows of a Tier Report sheet as XML, CHUNK rows at a time (see sheet_xml)."""
    headers = report_columns([c.name for c in columns])
    formulas = engine_formulas(layout, table_name(sheet), [c.name for c in columns])
    letters = [column_letter(i) for i in range(1, len(headers) + 1)]
    data = rows if rows is not None and len(rows) > 0 else None
    n = len(data) if data is not None else 1
    lines = _lines(data) if data is not None else []
    formula_columns = [(headers.index(h), h) for h in headers if h in formulas]
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        numbers = [str(r) for r in range(start + 2, stop + 2)]
        if data is not None:
            values = _values(columns, data.iloc[start:stop], lines[start:stop])
        else:
            values = [[None] for _ in range(1 + len(columns))]
        cells = []
        for i, v in enumerate(values):
            try:
                cells.append(value_cells(letters[i], numbers, v, styles.get(headers[i])))
            except IllegalCharacter as e:
                raise PmpmInputError(
                    f"a control character (code {e.code}) that a workbook cannot hold.",
                    fix="Remove it from the extract and fill again.",
                    row=lines[start + e.index],
                    column=headers[i],
                ) from None
        for i, h in formula_columns:
            cells.append(formula_cells(letters[i], numbers, formulas[h], styles.get(h)))
        yield rows_xml(start + 2, cells).encode("utf-8")


def freeze_cell(layout: Layout, headers: Sequence[str]) -> str:
    """The header row and the columns through Patient Number stay in view when scrolling."""
    patient = layout.column("patient_number")
    if patient is None or patient.name not in headers:
        return "A2"
    return f"{get_column_letter(list(headers).index(patient.name) + 2)}2"


def report_sheet(
    wb: openpyxl.Workbook, sheet: str, code_name: str, layout: Layout, rows: pd.DataFrame | None
) -> SheetExtras:
    """Write the sheet (header, views, table, formats) and return its data rows to stream.

    openpyxl writes everything but the data rows; those (a cell object each in openpyxl,
    nearly all the fill's time) are written as XML by `sheet_xml` when the package is
    put together, with the ignoredErrors that keep Excel from flagging the text IDs.
    """
    ws = wb.create_sheet(sheet)
    ws.sheet_properties.codeName = code_name
    columns = sheet_columns(layout, rows)
    names = [c.name for c in columns]
    headers = report_columns(names)
    formats = report_formats(layout, columns)
    cells = Cells(ws)
    col = {h: get_column_letter(i) for i, h in enumerate(headers, start=1)}
    for h, fmt in formats.items():
        ws.column_dimensions[col[h]].number_format = fmt
    # Write-only: sheet properties, views and columns go out with the first row.
    set_widths(ws, headers)
    freeze = freeze_cell(layout, headers)
    ws.freeze_panes = freeze
    ws.append([cells(h, bold=True) for h in headers])
    # Blank cells are styled too: what a biller types there stays text.
    styles = {h: cells(None, fmt).style_id for h, fmt in formats.items()}
    # "Yes" centred: left-aligned beside Tier if billed's right-aligned 2 it read "2Yes".
    styles[ENGINE_HEADERS["at_risk"]] = cells(None, center=True).style_id
    # The blank row of an empty sheet counts as no data row.
    n_rows = len(rows) if rows is not None else 0
    add_table(
        ws,
        table_name(sheet),
        headers,
        n_rows,
        formulas=engine_formulas(layout, table_name(sheet), names),
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
        errorTitle=ACTION,
        error="Choose Keep, Delete or Defer (blank = Keep).",
        promptTitle=ACTION,
        prompt="Keep, Delete or Defer this row; then press Delete Rows or Defer Rows.",
        showInputMessage=True,
    )
    dv.add(f"{col[ACTION]}2:{col[ACTION]}{MAX_ROW}")
    ws.data_validations.append(dv)
    # Printed at a size a biller reads: no fit-to-width (23 columns on one page width were
    # about 3 pt), an explicit scale keeping the 11 pt cells at 8 pt or more; the pages go
    # across a row first, each with the header row and the row's identity (Line through
    # Patient Number, the frozen columns) repeated.
    frozen = column_index_from_string(coordinate_from_string(freeze)[0]) - 1
    print_readable(ws, f"A:{get_column_letter(frozen)}" if frozen else None)
    return SheetExtras(
        rows=lambda: _report_rows_xml(layout, sheet, rows, styles, columns),
        number_as_text=column_runs_sqref(text_column_numbers(layout, columns=columns)),
    )


def contract_rows(
    rows: pd.DataFrame | None, contract_col: str, contracts: Iterable[str]
) -> dict[str, pd.DataFrame | None]:
    if rows is None:
        return dict.fromkeys(contracts)
    key = rows[contract_col].fillna("").astype(str).str.strip()
    return {c: rows[key == c] for c in contracts}
