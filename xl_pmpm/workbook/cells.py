"""Write-only openpyxl cells and Excel Tables: the building blocks of every sheet."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn, TableFormula, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet  # a write-only sheet too (untyped: Any)

from xl_pmpm.core.layout import Column

HEADER_FONT = Font(bold=True)
CENTERED = Alignment(horizontal="center")
MAX_ROW = 1048576


PLAIN_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"


def column_values(values: pd.Series, column: Column) -> list[object]:
    """An extract's column (text) as cell values: numbers as numbers, IDs as text, "" blank."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    out = text.astype(object)
    if column.type == "number" and not column.id:
        # Only a plain number becomes one ("12.5", "-3"): "1e23", " 5", "1,5" stay the text
        # the extract had, so the book is read back as the extract was (Load does the same).
        plain = text.str.fullmatch(PLAIN_NUMBER)
        numbers = pd.to_numeric(text.where(plain, ""), errors="coerce")
        ok = numbers.notna() & ~np.isinf(numbers.to_numpy(dtype="float64", na_value=np.nan))
        out = out.where(~ok, numbers.astype(object))
    return out.where(text != "", None).tolist()


def is_text_column(column: Column) -> bool:
    return column.id or column.type in ("datetime", "text")


class Cells:
    """Write-only cells with a fixed format, made fast: one style looked up per format."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws
        self._styles: dict[tuple[str | None, bool, bool], object] = {}

    def __call__(
        self,
        value: object,
        number_format: str | None = None,
        bold: bool = False,
        center: bool = False,
    ):
        key = (number_format, bold, center)
        style = self._styles.get(key)
        cell = WriteOnlyCell(self.ws, value)
        if style is None:
            if number_format:
                cell.number_format = number_format
            if bold:
                cell.font = HEADER_FONT
            if center:
                cell.alignment = CENTERED
            self._styles[key] = cell._style
        else:
            cell._style = style
        return cell


# Print scale (percent): the sheets' 11 pt text prints at 8.25 pt.
PRINT_SCALE = 75


def print_readable(ws: Worksheet, title_cols: str | None = None, area: str | None = None) -> None:
    """Print at a size a biller reads: landscape Letter at `PRINT_SCALE` (no fit to the page
    width, which shrinks a wide sheet to a few points), pages across a row first, the first
    row (and `title_cols`) repeated on every page; `area` only, when given.

    Call before the sheet's first row: a write-only sheet writes its properties first.
    """
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 1  # Letter
    ws.page_setup.scale = PRINT_SCALE
    ws.page_setup.pageOrder = "overThenDown"
    ws.print_title_rows = "1:1"
    if title_cols is not None:
        ws.print_title_cols = title_cols
    if area is not None:
        ws.print_area = area


def print_page(ws: Worksheet, area: str | None = None) -> None:
    """Print landscape, one page wide (`area` only, when given).

    Call before the sheet's first row: a write-only sheet writes its properties first.
    """
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    if area is not None:
        ws.print_area = area


def set_widths(
    ws: Worksheet, headers: Sequence[str], rows: Sequence[Sequence[object]] = ()
) -> None:
    """Each column as wide as its header, or its widest value in the first 200 rows."""
    for c, header in enumerate(headers, start=1):
        longest = max((len(str(r[c - 1])) for r in rows[:200] if r[c - 1] is not None), default=0)
        width = max(len(header) + 4, longest + 2)
        ws.column_dimensions[get_column_letter(c)].width = max(10, min(40, width))


def add_table(
    ws: Worksheet,
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


def write_table(
    ws: Worksheet,
    name: str,
    headers: list[str],
    rows: Sequence[Sequence[object]],
    *,
    formats: Mapping[str, str] | None = None,
    style: str = "TableStyleMedium2",
) -> None:
    """Headers in row 1, rows below, as Excel Table `name` (one blank row if there are none)."""
    cells = Cells(ws)
    formats = formats or {}
    # Write-only: sheet properties, views and columns go out with the first row.
    ws.freeze_panes = "A2"
    set_widths(ws, headers, rows)
    print_page(ws)
    ws.print_title_rows = "1:1"
    ws.append([cells(h, bold=True) for h in headers])
    for values in rows or [[None] * len(headers)]:
        ws.append(
            [
                cells(v, formats[h]) if h in formats and v is not None else v
                for h, v in zip(headers, values, strict=True)
            ]
        )
    add_table(ws, name, headers, len(rows), style=style)
