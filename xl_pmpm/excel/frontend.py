"""The workbook's buttons: each script takes the ``xw.Book`` and moves data in and out.

All business rules live in the core (``xl_pmpm``); this module only reads whole
ranges, calls the core and writes whole ranges back, so every action costs a fixed
number of range calls whatever the row count. The engine columns (tier, tier if
billed, at risk, dollar effect) are written as the template's formulas
(:func:`xl_pmpm.workbook.formulas.engine_formulas`), never as values, so editing hours
re-tiers a row at once, after every action. Each action shows its steps on the status
bar and clears it when done, even on an error. Written against the xlwings API that
desktop Excel and xlwings Lite share: no ``.api``, no COM, no reads of colours,
formulas or the status bar.

The workbook's shape is :mod:`xl_pmpm.workbook.sheets`, which the template builder uses too.
Sheets: "All" (every row: ``Line`` + the extract's columns + the engine columns),
one view sheet per contract (rewritten from All after each action; edit on All),
"Deferred" (archive records of deleted and deferred rows), "Validation",
"Export History" (the export ledger), "Settings" (a key/value block from A1),
"Help", and a hidden "_original" copy of the extract as loaded (for the
locked-field check). Each of these data sheets except "_original" is one Excel
Table from A1, resized to its rows after every write (created when missing).
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlwings as xw

from xl_pmpm.core import review
from xl_pmpm.core.cells import EXCEL_EPOCH, cell_text, excel_date
from xl_pmpm.core.errors import ExportRefused, PmpmError, PmpmInputError
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.kpi import KPI_COLUMNS, kpi_tables
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.validation import billing_month, validate_table
from xl_pmpm.io import files, ledger, ledger_address
from xl_pmpm.io.ledger_address import default_ledger
from xl_pmpm.io.workflow import as_of_date, export_import_file
from xl_pmpm.workbook.formulas import engine_formulas
from xl_pmpm.workbook.sheet_xml import column_letter as col_letter
from xl_pmpm.workbook.sheets import (
    ACTION,
    ALL,
    AT_RISK_MARK,
    CONTRACT_PLACES,
    CONTRACTS_FIRST_COLUMN,
    DEFER,
    DEFERRED,
    DELETE,
    ENGINE_COLUMNS,
    FINDINGS,
    FLAG_COLUMNS,
    HELP,
    HISTORY,
    HISTORY_COLUMNS,
    HISTORY_TABLE,
    KEEP,
    KPI,
    KPI_TABLE_NAMES,
    KPI_TEXT_COLUMNS,
    LINE,
    ORIGINAL,
    RATES,
    RESERVED_SHEETS,
    SETTINGS,
    SUMMARY_CONTRACT_ROWS,
    UNBILLED,
    UNBILLED_HEADERS,
    UNBILLED_TABLE,
    UNBILLED_TEXT,
    VALIDATION,
    VALIDATION_COLUMNS,
    contract_payers,
    extract_contracts,
    field_of,
    kpi_first_columns,
    report_sheet_names,
    shown,
    stamp_text,
    table_name,
)

AT_RISK_FILL = "#F4B183"
FINDINGS_FILL = "#FCE4D6"
_PLAIN_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_MAX_ROW = 1_048_576
_MAX_COLUMN = 16_384
STAMP_COLUMNS = ("archived_at", "exported_at", "updated_at")
_BESIDE_WORKBOOK = {"export folder": "exports", "archive folder": "archive"}


# --------------------------------------------------------------------------- guarded UI


def alert(book: xw.Book, message: str, title: str = "PMPM") -> None:
    """Show a message box; silently skipped where the runtime has none."""
    with contextlib.suppress(NotImplementedError, AttributeError):
        book.app.alert(message, title=title)


def status(book: xw.Book, message: str | None) -> None:
    """Write the status bar where the runtime allows it (never read it)."""
    with contextlib.suppress(NotImplementedError, AttributeError):
        book.app.status_bar = message


@contextlib.contextmanager
def progress(book: xw.Book, title: str, first: str) -> Iterator[Callable[[str], None]]:
    """Show "`title`: `first`" on the status bar; yields a function for the next steps.

    The status bar is cleared (handed back to Excel) at the end, even on an error.
    """
    status(book, f"{title}: {first}")
    try:
        yield lambda message: status(book, f"{title}: {message}")
    finally:
        status(book, None)


def _hide(sheet: xw.Sheet) -> None:
    with contextlib.suppress(NotImplementedError, AttributeError):
        sheet.visible = False


# --------------------------------------------------------------------------- addresses


def _runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous (first, last) runs of 1-based column positions."""
    runs: list[tuple[int, int]] = []
    for p in sorted(positions):
        if runs and p == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs


# --------------------------------------------------------------------------- sheets


class _Sheets:
    """The sheets an action has found, by casefolded name (None: known to be missing).

    A sheet whose name the action knows is looked up by that name (one call to Excel);
    only an action that must find sheets it cannot name (the stale contract sheets Load
    removes) scans ``book.sheets``, once (two calls per sheet: the sheet, its name).
    Sheets the front end adds, copies or deletes are kept here.
    """

    def __init__(self, book: xw.Book) -> None:
        self.book = book
        self.found: dict[str, xw.Sheet | None] = {}
        self.scanned = False
        self.last: xw.Sheet | None = None  # the book's last sheet, once known

    def get(self, name: str) -> xw.Sheet | None:
        key = name.casefold()
        if key not in self.found and not self.scanned:
            try:
                self.found[key] = self.book.sheets[name]
            except Exception:  # missing: ValueError (remote engine), com_error (desktop)
                self.found[key] = None
        return self.found.get(key)

    def everything(self) -> dict[str, xw.Sheet]:
        if not self.scanned:
            sheets = list(self.book.sheets)
            for sheet in sheets:
                self.found.setdefault(sheet.name.casefold(), sheet)
            self.found = {k: v for k, v in self.found.items() if v is not None}
            if sheets and self.last is None:
                self.last = sheets[-1]
            self.scanned = True
        return {k: v for k, v in self.found.items() if v is not None}


# The sheets each running action has found: {id(book): _Sheets}. Every action starts
# afresh (`one_scan`).
_SCANS: dict[int, _Sheets] = {}


def _scan(book: xw.Book) -> _Sheets:
    held = _SCANS.get(id(book))
    if held is None or held.book is not book:
        held = _SCANS[id(book)] = _Sheets(book)
    return held


def _index(book: xw.Book) -> dict[str, xw.Sheet]:
    """{casefolded name: sheet} of every sheet of the book: one scan per action at most."""
    return _scan(book).everything()


def one_scan(action: Callable[[xw.Book], None]) -> Callable[[xw.Book], None]:
    """An action that looks each sheet up at most once (found sheets dropped after)."""

    @functools.wraps(action)
    def run(book: xw.Book) -> None:
        _SCANS.pop(id(book), None)
        try:
            action(book)
        finally:
            _SCANS.pop(id(book), None)

    return run


def _named(book: xw.Book, name: str) -> xw.Sheet:
    """The sheet `name` (it exists: checked with `_has_sheet`), looked up once per action."""
    sheet = _scan(book).get(name)
    assert sheet is not None, name
    return sheet


def get_sheet(book: xw.Book, name: str, *, hidden: bool = False) -> xw.Sheet:
    """The sheet `name`, added at the end when missing."""
    return _sheet(book, name, hidden=hidden)[0]


def _sheet(book: xw.Book, name: str, *, hidden: bool = False) -> tuple[xw.Sheet, bool]:
    """(the sheet `name`, whether it was just added at the end); no range call."""
    held = _scan(book)
    found = held.get(name)
    if found is not None:
        return found, False
    if held.last is None:
        count = len(book.sheets)
        held.last = book.sheets[count - 1] if count else None
    last = held.last
    # Not `add(name)`: xlwings reads every sheet's name to refuse a taken one, and the
    # action knows already that `name` is free.
    sheet = book.sheets.add(after=last) if last is not None else book.sheets.add()
    sheet.name = name
    held.found[name.casefold()] = held.last = sheet
    if hidden:
        _hide(sheet)
    return sheet, True


def _has_sheet(book: xw.Book, name: str) -> bool:
    return _scan(book).get(name) is not None


def read_block(sheet: xw.Sheet) -> list[list[Any]]:
    """The sheet's used range as rows (one range call); [] when empty."""
    values = sheet.used_range.options(ndim=2).value
    if not values or all(v is None for v in values[0]):
        return []
    return values


def sheet_table(sheet: xw.Sheet) -> Any | None:
    """The sheet's (first) Excel Table, or None; no range call."""
    with contextlib.suppress(NotImplementedError, AttributeError):
        for table in sheet.tables:
            return table
    return None


def _table_names(book: xw.Book) -> set[str]:
    names: set[str] = set()
    with contextlib.suppress(NotImplementedError, AttributeError):
        for sheet in _index(book).values():
            names |= {t.name.casefold() for t in sheet.tables}
    return names


def _last_row(sheet: xw.Sheet) -> int:
    """The last row of the used range (one range call); 0 when the sheet is empty."""
    used = sheet.used_range
    if used.row == 1 and used.shape == (1, 1) and used.value is None:
        return 0
    return used.row + used.shape[0] - 1


def _named_table(sheet: xw.Sheet, name: str) -> Any | None:
    """The sheet's Excel Table called `name`, or None; no range call."""
    with contextlib.suppress(NotImplementedError, AttributeError):
        for table in sheet.tables:
            if table.name.casefold() == name.casefold():
                return table
    return None


def _raw(value: Any) -> Any:
    """A value as a raw write takes it: blank as "", numpy scalars as Python ones."""
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, np.generic):
        return _raw(value.item())
    return value


def put(sheet: xw.Sheet, grid: Sequence[Sequence[Any]], row: int = 1, column: int = 1) -> None:
    """Write `grid` with its top-left cell at (`row`, `column`): one range call.

    The values go in raw, into a range of the grid's exact size: xlwings' value
    conversion would build the target range twice more (a resize each time). Above the
    engine's cell budget for one write (Office.js caps a request's size), the write is
    split into row chunks the way xlwings splits its own writes; desktop Excel has no
    budget and takes it whole.
    """
    if not grid:
        return
    height, width = len(grid), len(grid[0])
    rows = [[_raw(v) for v in r] for r in grid]
    left, right = col_letter(column), col_letter(column + width - 1)
    target = sheet.range(f"{left}{row}:{right}{row + height - 1}")
    budget = getattr(target.impl, "max_cells_per_write", None)
    if not budget or height * width <= budget:
        target.raw_value = rows if height > 1 or width > 1 else rows[0][0]
        return
    step = max(1, budget // width)
    for start in range(0, height, step):
        target[start : start + step, :].raw_value = rows[start : start + step]


_UNKNOWN: Any = object()  # a sheet's table not looked up yet


def write_table(
    sheet: xw.Sheet,
    grid: list[list[Any]],
    name: str,
    *,
    old_rows: int | None = None,
    append: int | None = None,
    first_column: int | None = None,
    blank_to: int | None = None,
    table: Any = None,
    resize: bool = False,
) -> None:
    """Write header + rows at A1 (one write) as Excel Table `name`; no stale row left.

    The sheet's table is resized to the rows (Excel keeps one data row: a blank one when
    there are none), or added when the sheet has none. `old_rows` (rows incl. header
    before, when known) lets the write itself blank the old rows below; unknown, one
    clear empties everything below the new rows. With `append` (rows incl. header
    already there), only grid's rows go below them. With `first_column` (1-based) the
    table is one of several side by side, found by its name: only its own columns are
    cleared. With `blank_to` (a column count wider than the grid), the same write blanks
    the columns between. `table`: the sheet's table when the caller has it (a sheet's
    tables are a call to Excel); `resize`: resize it even when the row count is
    `old_rows` (a copy's table spans its source's rows). At most three range calls,
    whatever the row count.
    """
    if not grid:
        return
    beside = first_column is not None
    if table is None or table is _UNKNOWN:
        table = _named_table(sheet, name) if beside else sheet_table(sheet)
    width = len(grid[0])
    first = first_column or 1
    left, right = col_letter(first), col_letter(first + width - 1)
    if append is not None:
        put(sheet, grid, row=append + 1, column=first)
        rows, before = append + len(grid), append
    else:
        rows, before = len(grid), old_rows
        keep = max(rows, 2)  # the one data row of an empty table: blank, not deleted
        height = keep if old_rows is None else max(keep, old_rows)
        blank = [None] * width
        body = [*grid, *([blank] * (height - rows))]
        if blank_to is not None and blank_to > width:
            body = [[*r, *([None] * (blank_to - width))] for r in body]
        put(sheet, body, column=first)
        if old_rows is None:
            below = f"{left}{keep + 1}:{right}{_MAX_ROW}" if beside else f"{keep + 1}:{_MAX_ROW}"
            sheet.range(below).clear_contents()
    if table is not None and rows == before and not resize:
        return
    target = sheet.range(f"{left}1:{right}{max(rows, 2)}")
    if table is not None:
        table.resize(target)
    elif name.casefold() not in _table_names(sheet.book):
        sheet.tables.add(source=target, name=name, has_headers=True)


# --------------------------------------------------------------------------- settings


class Settings(dict[str, Any]):
    """{lower-case key: value} of the Settings sheet; `rows` gives each key's row."""

    rows: dict[str, int]


def read_settings(book: xw.Book) -> Settings:
    """Settings as {lower-case key: value} from the 2-column block at A1 (one read)."""
    out = Settings()
    out.rows = {}
    if not _has_sheet(book, SETTINGS):
        return out
    for r, row in enumerate(read_block(_named(book, SETTINGS)), start=1):
        if row and isinstance(row[0], str) and row[0].strip():
            key = row[0].strip().casefold()
            out[key] = row[1] if len(row) > 1 else None
            out.rows[key] = r
    return out


def pick_extract_file() -> str | None:
    """Ask for the extract with the desktop's own file dialog.

    Returns the chosen path, "" when the biller cancels, or None where the runtime has no
    dialog (xlwings Lite, Linux, a Python without tkinter): Settings then names the file.
    """
    if sys.platform not in ("win32", "darwin"):
        return None
    try:
        import tkinter
        from tkinter import filedialog
    except ImportError:
        return None
    try:
        root = tkinter.Tk()
    except tkinter.TclError:  # no display
        return None
    try:
        root.withdraw()
        root.attributes("-topmost", True)  # in front of Excel, which started this process
        chosen = filedialog.askopenfilename(
            parent=root,
            title="Load Extract: pick this month's PMPM Tier Report/Extract",
            filetypes=[("CSV files", "*.csv"), ("All files", "*.*")],
        )
    finally:
        root.destroy()
    return str(chosen or "")


def settings_date(settings: dict[str, Any], label: str) -> date | None:
    """The date on the Settings row `label`; None when blank, an error when unreadable."""
    value = settings.get(label.casefold())
    day = excel_date(value)
    if day is None and value not in (None, ""):
        raise PmpmError(f'Settings "{label}" holds {value!r}, not a date: write it as YYYY-MM-DD.')
    return day


def excel_serial(day: date) -> int:
    """A day as Excel's serial number: what a raw write puts in a date-formatted cell."""
    return (day - EXCEL_EPOCH).days


def settings_month(settings: dict[str, Any]) -> pd.Period | None:
    day = settings_date(settings, "Billing month")
    return None if day is None else pd.Period(day, freq="M")


def settings_as_of(settings: dict[str, Any]) -> date:
    """The as-of date on Settings; blank = today, as on the command line."""
    return as_of_date(settings_date(settings, "As-of date"))


def extract_path(settings: dict[str, Any]) -> Path:
    """The extract to load: Settings "Extract file"."""
    value = settings.get("extract file")
    if not value:
        raise PmpmError('Name the extract on the Settings sheet ("Extract file").')
    return Path(str(value).strip())


def _context(book: xw.Book) -> tuple[Settings, Layout, RateBook]:
    settings = read_settings(book)
    layout_file = settings.get("layout file")
    layout = files.load_layout(str(layout_file).strip() if layout_file else None)
    return settings, layout, files.load_rate_book()


def _folder(settings: dict[str, Any], key: str, book: xw.Book | None = None) -> Path | None:
    """The folder a setting names; blank = `key`'s default folder beside the workbook.

    The default needs the workbook's full path, which only desktop Excel gives.
    """
    value = settings.get(key)
    if value and str(value).strip():
        return Path(str(value).strip())
    beside = _BESIDE_WORKBOOK.get(key)
    if book is None or beside is None:
        return None
    try:
        path = Path(str(book.fullname))
    except (NotImplementedError, AttributeError):
        return None
    return path.parent / beside if path.is_absolute() else None


def ledger_path(settings: dict[str, Any], book: xw.Book | None = None) -> str | Path | None:
    """Settings "Ledger file"; blank = the command line's default ledger.

    That is $XL_PMPM_LEDGER if set, else ``pmpm-ledger.sqlite3`` in the user's data
    folder (one per agency, never in the export folder). A server's URL is taken without
    a password: one written on the sheet is refused (PmpmInputError), the password
    belongs in PGPASSWORD or ~/.pgpass, never in the workbook.
    """
    value = settings.get("ledger file")
    if value and str(value).strip():
        text = str(value).strip()
        if "://" not in text:
            return Path(text)
        url = ledger_address.address(text).url
        if url is not None and url.password:
            raise PmpmInputError(
                'The Settings sheet\'s "Ledger file" holds a password.',
                fix="Delete it from the URL (write postgresql://USER@HOST/DB) and set the "
                "password in PGPASSWORD or ~/.pgpass on this computer; save the workbook.",
            )
        return text
    return default_ledger()


def _source(settings: dict[str, Any]) -> str:
    value = settings.get("extract file")
    return Path(str(value)).name if value else ""


# --------------------------------------------------------------------------- cell <-> text


def _is_text_column(column: Column | None) -> bool:
    return column is None or column.id or column.type != "number"


def _cell_value(text: str, column: Column | None) -> Any:
    """What goes into a cell: text in text columns, numbers in number columns."""
    if text == "":
        return None
    if _is_text_column(column):
        return text
    if _PLAIN_NUMBER.match(text) and cell_text(float(text), column) == text:
        return float(text)
    return "'" + text  # keep it as typed: Excel would otherwise convert it


def _column_of(layout: Layout, name: str) -> Column | None:
    try:
        return layout.get(name)
    except KeyError:
        return None


# --------------------------------------------------------------------------- the report


def read_report(
    book: xw.Book, layout: Layout, name: str = ALL
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(data table as text indexed by line, engine columns) from a report sheet: one read."""
    rows = read_block(get_sheet(book, name))
    if not rows:
        empty = pd.DataFrame(index=pd.Index([], dtype="int64", name="line"))
        return empty, pd.DataFrame(columns=ENGINE_COLUMNS, index=empty.index)
    header = [str(h) if h is not None else f"Column{i + 1}" for i, h in enumerate(rows[0])]
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    # A table's blank data row still shows its formulas' results (FALSE, 0): not a row.
    data = [c for c in header if c not in ENGINE_COLUMNS]
    frame = frame[frame[data].notna().any(axis=1)]
    lines = pd.to_numeric(frame.get(LINE, pd.Series(index=frame.index)), errors="coerce")
    if lines.isna().any():  # rows added by hand: numbered after the last line
        start = int(lines.max()) + 1 if lines.notna().any() else 2
        lines[lines.isna()] = range(start, start + int(lines.isna().sum()))
    index = pd.Index(lines.astype("int64").to_numpy(), name="line")
    data_cols = [c for c in header if c != LINE and c not in ENGINE_COLUMNS]
    table = pd.DataFrame(
        {c: [cell_text(v, _column_of(layout, c)) for v in frame[c]] for c in data_cols},
        index=index,
        dtype=object,
    )
    engine = pd.DataFrame(index=index)
    for c in ENGINE_COLUMNS:
        engine[c] = frame[c].to_numpy() if c in frame.columns else None
    engine[ACTION] = engine[ACTION].fillna(KEEP)
    return table, engine


def flag_formulas(layout: Layout, sheet: str, columns: Sequence[str] | None = None) -> list[str]:
    """The four flag columns' formulas of Tier Report sheet `sheet`, as the template has them.

    The same text for every row (structured references to the row), so one grid write
    puts them over a whole column range. `columns`: the data columns the sheet holds
    (a column the extract lacks is not referred to).
    """
    formulas = engine_formulas(layout, table_name(sheet), columns)
    return [formulas[c] for c in FLAG_COLUMNS]


def _formula_rows(
    layout: Layout, sheet: str, rows: int, columns: Sequence[str] | None = None
) -> list[list[str]]:
    """`rows` rows of the flag formulas: what one write over the flag columns takes."""
    row = flag_formulas(layout, sheet, columns)
    return [row] * rows


def compute_flags(
    table: pd.DataFrame, layout: Layout, book: RateBook, month: pd.Period | None
) -> pd.DataFrame:
    """flag_tier_risk in the billing month (Settings, else the extract's, else this month)."""
    if month is None:
        month = billing_month(table, layout)[0] if len(table) else None
    stamp = (month or pd.Period(date.today(), freq="M")).to_timestamp()
    return flag_tier_risk(table, layout, book, stamp)


def _grid(table: pd.DataFrame, engine: pd.DataFrame, layout: Layout, sheet: str) -> list[list[Any]]:
    """Header + rows as one 2D list: the flag columns as `sheet`'s formulas."""
    header = [LINE, *table.columns, *ENGINE_COLUMNS]
    columns: list[list[Any]] = [[int(n) for n in table.index]]
    for name in table.columns:
        col = _column_of(layout, name)
        columns.append([_cell_value(v, col) for v in table[name].fillna("").astype(str)])
    eng = engine.reindex(columns=ENGINE_COLUMNS)
    eng[ACTION] = eng[ACTION].fillna(KEEP)
    for formula in flag_formulas(layout, sheet, list(table.columns)):
        columns.append([formula] * len(table))
    for name in (FINDINGS, ACTION):
        values = eng[name].astype(object)
        columns.append(values.where(values.notna(), None).tolist())
    return [header, *map(list, zip(*columns, strict=True))] if len(table) else [header]


def _text_format(sheet: xw.Sheet, names: Sequence[str], layout: Layout, offset: int) -> None:
    """Format the text columns as text: one call (the runs of columns as one address)."""
    text = [i + offset for i, n in enumerate(names) if _is_text_column(_column_of(layout, n))]
    runs = ",".join(f"{col_letter(a)}:{col_letter(b)}" for a, b in _runs(text))
    if runs:
        sheet.range(runs).number_format = "@"


def _report_sheets(book: xw.Book, skip: Iterable[str] = ()) -> dict[str, xw.Sheet]:
    """{casefolded name: sheet} of the Tier Report sheets (a ``Report_`` table); no range call.

    The sheets named in `skip` (casefolded) are not looked at.
    """
    out = {}
    skipped = set(skip)
    for name, sheet in _index(book).items():
        if name in skipped:
            continue
        table = sheet_table(sheet)
        if table is not None and table.name.casefold().startswith("report_"):
            out[name] = sheet
    return out


def _copy_sheet(book: xw.Book, source: xw.Sheet, after: xw.Sheet, name: str) -> xw.Sheet:
    """A copy of `source` right after `after`, named `name` (not taken: the scan says).

    xlwings' ``Sheet.copy`` reads every sheet's name three times to find the copy; the
    copy lands right after `after`, so it is found by position: three calls in all (the
    copy, the sheet at its position, its name).
    """
    position = after.index + 1  # 1-based, as ``book.sheets(i)`` takes it
    source.impl.copy(after=after.impl)
    sheet = book.sheets(position)
    sheet.name = name
    return sheet


def _report_sheet(
    book: xw.Book, name: str, layout: Layout, columns: Sequence[str], after: xw.Sheet | None
) -> tuple[xw.Sheet, bool, Any]:
    """(the Tier Report sheet `name`, whether it was just made, its table if known).

    The table is known (`_UNKNOWN` otherwise) for a sheet just copied from All.

    A contract's sheet is made as a copy of All, so it has All's drop-down, freeze,
    widths, number formats, conditional formats, formulas and print titles; its table
    is renamed after the sheet. Without All to copy, a bare sheet gets the text formats
    and highlighting (two range calls).
    """
    held = _scan(book)
    found = held.get(name)
    if found is not None:
        return found, False, _UNKNOWN
    if name != ALL and _has_sheet(book, ALL):
        source = _named(book, ALL)
        sheet = _copy_sheet(book, source, after or source, name)
        held.found[name.casefold()] = sheet
        table = sheet_table(sheet)
        if table is not None:
            with contextlib.suppress(NotImplementedError, AttributeError):
                table.name = table_name(name)
        return sheet, True, table
    sheet, _ = _sheet(book, name)
    _text_format(sheet, list(columns), layout, offset=2)
    _highlight(sheet, len(columns))
    return sheet, True, _UNKNOWN


def write_report(
    book: xw.Book,
    name: str,
    table: pd.DataFrame,
    engine: pd.DataFrame,
    layout: Layout,
    *,
    old_rows: int | None = None,
    after: xw.Sheet | None = None,
    copied_rows: int | None = None,
) -> xw.Sheet:
    """Write a Tier Report sheet's table in one write; no blank row left behind.

    `old_rows` (rows incl. header before, when known) spares the clear below. A missing
    sheet is made (see `_report_sheet`); a copy of All holds All's rows (`copied_rows`,
    incl. header, when known), blanked by the same write.
    """
    sheet, made, known = _report_sheet(book, name, layout, list(table.columns), after)
    if made and name != ALL:
        old_rows = copied_rows if known is not _UNKNOWN else None
    # A sheet written before (the template's, or last month's) may be wider than this
    # extract's columns (it lacks Authorized Hours, say): the same write blanks the rest of
    # the widest table a report sheet can have, so nothing stale is left to the right.
    widest = 1 + len(layout.sheet_columns) + len(ENGINE_COLUMNS)
    write_table(
        sheet,
        _grid(table, engine, layout, name),
        table_name(name),
        old_rows=old_rows,
        blank_to=None if made and known is _UNKNOWN else widest,
        table=known,
        resize=made,
    )
    return sheet


def _highlight(sheet: xw.Sheet, width: int) -> None:
    """Conditional formats: at-risk rows orange, rows with findings light red."""
    risk = col_letter(2 + width + ENGINE_COLUMNS.index(FLAG_COLUMNS[2]))
    found = col_letter(2 + width + ENGINE_COLUMNS.index(FINDINGS))
    target = sheet.range(f"A2:{col_letter(1 + width + len(ENGINE_COLUMNS))}{_MAX_ROW}")
    with contextlib.suppress(NotImplementedError, AttributeError):
        formats = target.conditional_formats
        formats.clear()
        formats.add_custom(f'=AND(${found}2<>"",${found}2<>0)', fill_color=FINDINGS_FILL)
        formats.add_custom(
            f'=${risk}2="{AT_RISK_MARK}"', fill_color=AT_RISK_FILL, stop_if_true=True
        )


def _contracts(table: pd.DataFrame, layout: Layout) -> pd.Series | None:
    """Each row's contract (stripped text), or None when the layout has no contract."""
    contract = layout.name_of("contract")
    if contract not in table:
        return None
    return table[contract].fillna("").astype(str).str.strip()


def contract_counts(table: pd.DataFrame, layout: Layout) -> dict[str, int]:
    """{contract: rows incl. header} of each contract's sheet as the views write it."""
    values = _contracts(table, layout)
    if values is None:
        return {}
    return {str(c): int(n) + 1 for c, n in values[values != ""].value_counts().items()}


def write_views(
    book: xw.Book,
    table: pd.DataFrame,
    engine: pd.DataFrame,
    layout: Layout,
    *,
    only: Iterable[str] | None = None,
    old: dict[str, int] | None = None,
    copied_rows: int | None = None,
) -> list[str]:
    """Rewrite the contract sheets (views of All) of the contracts in `only` (all: None).

    `old` ({contract: rows incl. header} before the action, from `contract_counts`) lets
    each view be written and resized without a clear: two range calls per view, one
    when its row count did not change. A contract now without rows keeps its sheet,
    emptied. `copied_rows`: the rows (incl. header) All holds when a missing sheet is
    copied from it, if known: a copy is then written without a clear.
    """
    values = _contracts(table, layout)
    present = set() if values is None else set(values[values != ""])
    wanted = present | set(old or ()) if only is None else {c for c in only if c}
    names = report_sheet_names(sorted(wanted))
    after = _named(book, ALL) if _has_sheet(book, ALL) else None
    for contract, name in names.items():
        rows = (values == contract) if values is not None else []
        known = None if old is None else old.get(contract, 1)
        after = write_report(
            book,
            name,
            table[rows],
            engine[rows],
            layout,
            old_rows=known,
            after=after,
            copied_rows=copied_rows,
        )
    return list(names.values())


def _write_view_formulas(book: xw.Book, table: pd.DataFrame, layout: Layout) -> None:
    """Write the flag formulas over every contract sheet's rows: one write per sheet."""
    contracts = _contracts(table, layout)
    if contracts is None:
        return
    first = 2 + table.shape[1]
    counts = contracts[contracts != ""].value_counts()
    for contract, name in report_sheet_names(sorted(counts.index)).items():
        if _has_sheet(book, name):
            rows = _formula_rows(layout, name, int(counts[contract]), list(table.columns))
            put(_named(book, name), rows, row=2, column=first)


def _save_all(
    book: xw.Book,
    table: pd.DataFrame,
    engine: pd.DataFrame,
    layout: Layout,
    *,
    before: pd.DataFrame,
    touched: Iterable[str],
) -> None:
    """Write All and the sheets of the `touched` contracts; `before` is All's old table."""
    write_report(book, ALL, table, engine, layout, old_rows=len(before) + 1)
    write_views(book, table, engine, layout, only=touched, old=contract_counts(before, layout))


# --------------------------------------------------------------------------- archive


def read_deferred(book: xw.Book) -> pd.DataFrame:
    """The Deferred sheet's archive records (all text, `line` as int): one read."""
    rows = read_block(get_sheet(book, DEFERRED))
    if len(rows) < 2:
        return pd.DataFrame(columns=review.ARCHIVE_META)
    header = [field_of(h, review.ARCHIVE_META) for h in rows[0]]
    frame = pd.DataFrame(
        {
            h: [(stamp_text if h in STAMP_COLUMNS else _text_of)(r[i]) for r in rows[1:]]
            for i, h in enumerate(header)
        }
    )
    frame = frame[(frame != "").any(axis=1)].reset_index(drop=True)
    frame["line"] = pd.to_numeric(frame["line"]).astype("int64")
    return frame


def _text_of(value: Any) -> str:
    return cell_text(value, None)


def sheet_stamps(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ``YYYY-MM-DD HH:MM:SS`` text, the one form the workbook holds.

    The core writes ISO ``...T...`` stamps, which Excel may not read as a date and the
    Office.js engine mistakes for one; they are only ever compared as text.
    """
    out = frame.copy()
    for column in STAMP_COLUMNS:
        if column in out:
            out[column] = out[column].map(stamp_text)
    return out


def write_deferred(book: xw.Book, records: pd.DataFrame, *, append: int | None) -> None:
    """Write archive records: appended below `append` existing rows, or the whole sheet."""
    sheet, made = _sheet(book, DEFERRED)
    records = sheet_stamps(records).rename(columns={c: shown(c) for c in review.ARCHIVE_META})
    columns = list(records.columns)
    if made:
        sheet.range(f"A:{col_letter(max(len(columns), 1))}").number_format = "@"
    body = records.astype(str).to_numpy().tolist()
    if append:
        write_table(sheet, body, DEFERRED, append=append)
    else:
        write_table(sheet, [columns, *body], DEFERRED)


def _append_archive(
    book: xw.Book, records: pd.DataFrame, existing: list[list[Any]], settings: dict[str, Any]
) -> Path | None:
    """Append records to the Deferred sheet (one write) and, if named, the archive folder."""
    header = [field_of(h, review.ARCHIVE_META) for h in existing[0]] if existing else []
    rows = records.reindex(columns=header, fill_value="") if header else records
    write_deferred(book, rows, append=len(existing) if header else None)
    folder = _folder(settings, "archive folder", book)
    if folder is None or records.empty:
        return None
    return files.write_archive(folder, records, str(records["action"].iloc[0]), datetime.now())


# --------------------------------------------------------------------------- scripts


@one_scan
def load_extract(book: xw.Book) -> None:
    """Read the extract named on Settings into All, one sheet per contract and _original.

    The contract sheets are the extract's own: a missing one is made as a copy of All,
    and the sheets of contracts the extract no longer holds are removed.
    """
    _index(book)  # Load removes the sheets of contracts it no longer has: one scan
    try:
        settings, layout, rates = _context(book)
        picked = pick_extract_file()
        if picked == "":
            alert(book, "No file picked: nothing was loaded.", "Load Extract")
            return
        if picked:
            settings["extract file"] = picked
        path = extract_path(settings)
        report = files.read_tier_report(path, layout)
    except PmpmError as exc:
        alert(book, str(exc), "Load Extract")
        return
    if not report.readable:
        alert(book, "; ".join(report.findings["message"].astype(str)), "Load Extract")
        return
    with progress(book, "Load Extract", f"writing {path.name} to All…") as step:
        table = report.table.fillna("").astype(str)
        month = settings_month(settings) or (
            billing_month(table, layout)[0] if len(table) else None
        )
        _fix_month_and_extract(book, settings, month)
        engine = pd.DataFrame({FINDINGS: None, ACTION: KEEP}, index=table.index)
        copied = _empty_all_for_copies(book, table, layout)
        views = write_views(book, table, engine, layout, copied_rows=copied)
        write_report(book, ALL, table, engine, layout)
        step("keeping the extract as loaded…")
        original, made = _sheet(book, ORIGINAL, hidden=True)
        original.clear_contents()
        if made:  # every column past Line: the extract's text as is
            original.range(f"B:{col_letter(_MAX_COLUMN)}").number_format = "@"
        put(
            original,
            [[LINE, *table.columns]]
            + [
                [int(n), *row]
                for n, row in zip(table.index, table.to_numpy().tolist(), strict=True)
            ],
        )
        step("one sheet per contract…")
        _drop_stale_views(book, views)
        contracts = extract_contracts(table, layout)
        _write_contracts(book, contracts, rates)
    notes = len(report.findings)
    more = min(len(contracts), CONTRACT_PLACES) - SUMMARY_CONTRACT_ROWS
    alert(
        book,
        f"Loaded {len(table):,} rows from {path.name}."
        + (f" Reading found {notes} problem(s): run Validate." if notes else "")
        + (f" The Summary lists the first {SUMMARY_CONTRACT_ROWS} contracts." if more > 0 else ""),
        "Load Extract",
    )


def _empty_all_for_copies(book: xw.Book, table: pd.DataFrame, layout: Layout) -> int | None:
    """Clear All's rows below its header when a contract's sheet is to be copied from it.

    Then each copy holds All's header and blank rows: written without a clear of its
    own (one clear here instead of one per copy). Returns the rows (incl. header) a
    copy then holds for its write, None when nothing is to be copied.
    """
    values = _contracts(table, layout)
    if values is None or not _has_sheet(book, ALL):
        return None
    names = report_sheet_names(sorted(set(values[values != ""])))
    if all(_has_sheet(book, n) for n in names.values()):
        return None
    widest = 1 + len(layout.sheet_columns) + len(ENGINE_COLUMNS)
    width = max(widest, 1 + table.shape[1] + len(ENGINE_COLUMNS))
    _named(book, ALL).range(f"A2:{col_letter(width)}{_MAX_ROW}").clear_contents()
    return 2


def _write_contracts(book: xw.Book, contracts: Sequence[str], rates: RateBook) -> None:
    """Write the extract's contracts and their payers into the Contracts table: one write.

    The tier formulas look up each row's payer there, and the Summary lists the first
    contracts from it.
    """
    if not _has_sheet(book, RATES):
        return
    places = contract_payers(rates, list(contracts)[:CONTRACT_PLACES])
    places += [[None, None]] * (CONTRACT_PLACES - len(places))
    put(_named(book, RATES), places, row=2, column=CONTRACTS_FIRST_COLUMN)


def _fix_month_and_extract(book: xw.Book, settings: Settings, month: pd.Period | None) -> None:
    """Write the billing month Load used, and the extract it read, onto Settings.

    The month becomes a fixed date (the template's default formula follows today, so it
    would move next month), the extract names the file the archive cites. One write
    when the two rows are adjacent, as the template has them.
    """
    rows = {key: settings.rows.get(key) for key in ("billing month", "extract file")}
    values = {
        "billing month": None if month is None else excel_serial(month.start_time.date()),
        "extract file": settings.get("extract file"),
    }
    present = {k: r for k, r in rows.items() if r is not None and values[k] is not None}
    if not present:
        return
    sheet = _named(book, SETTINGS)
    first, last = min(present.values()), max(present.values())
    if last - first + 1 == len(present):
        by_row = {r: values[k] for k, r in present.items()}
        put(sheet, [[by_row[r]] for r in range(first, last + 1)], row=first, column=2)
    else:
        for key, row in present.items():
            put(sheet, [[values[key]]], row=row, column=2)


def _drop_stale_views(book: xw.Book, views: Sequence[str]) -> None:
    """Delete the contract sheets of contracts no longer in the extract (no range call)."""
    keep = {*(s.casefold() for s in RESERVED_SHEETS), *(v.casefold() for v in views)}
    for name, sheet in _report_sheets(book, skip=keep).items():
        if name not in keep:
            sheet.delete()
            _scan(book).found[name] = None


@one_scan
def refresh_flags(book: xw.Book) -> None:
    """Write the flag formulas back over All and each contract sheet: one write each.

    A formula typed over (or pasted over) comes back; Excel recalculates every row. The
    alert gives the engine's own count of rows at risk, to compare with the Summary.
    """
    title = "Refresh Flags"
    with progress(book, title, "reading All…") as step:
        settings, layout, rates = _context(book)
        table, _ = read_report(book, layout)
        if table.empty:
            alert(book, "The All sheet holds no rows: run Load Extract first.", title)
            return
        step("writing the tier formulas…")
        rows = _formula_rows(layout, ALL, len(table), list(table.columns))
        put(_named(book, ALL), rows, row=2, column=2 + table.shape[1])
        _write_view_formulas(book, table, layout)
        step("checking the tiers…")
        flags = compute_flags(table, layout, rates, settings_month(settings))
    risky = flags["at_risk"].fillna(False).astype(bool)
    dollars = float(flags.loc[risky, "dollar_effect"].sum())
    alert(book, f"{int(risky.sum()):,} row(s) at risk, ${dollars:,.2f} at stake.", title)


def _marked(engine: pd.DataFrame, action: str) -> list[int]:
    marks = engine[ACTION].fillna("").astype(str).str.strip().str.casefold()
    return [int(n) for n in engine.index[marks == action.casefold()]]


def _selected_lines(book: xw.Book, sheet: str, lines: Sequence[int]) -> list[int] | None:
    """Lines of the selected rows when `sheet` is active and the selection is below row 1."""
    try:
        if book.sheets.active.name != sheet:
            return None
        selection = book.selection
    except (NotImplementedError, AttributeError):
        return None
    if selection is None:
        return None
    first, count = selection.row, selection.shape[0]
    rows = range(max(first, 2), first + count)
    return [lines[r - 2] for r in rows if 0 <= r - 2 < len(lines)] or None


def _touched(table: pd.DataFrame, layout: Layout, lines: Iterable[int]) -> set[str]:
    """The contracts of `lines` (their sheets need rewriting)."""
    contracts = _contracts(table, layout)
    if contracts is None:
        return set()
    picked = contracts.loc[contracts.index.isin(list(lines))]
    return set(picked[picked != ""])


def view_marks(book: xw.Book, table: pd.DataFrame, layout: Layout) -> dict[int, str]:
    """{line: mark} of the Action cells marked on the contract sheets: one read each.

    A biller may mark a row on its contract's sheet as well as on All; blank and Keep
    marks are left out. The sheets are those of All's contracts, looked up by name.
    """
    contracts = _contracts(table, layout)
    present = set() if contracts is None else set(contracts[contracts != ""])
    views = [_scan(book).get(n) for n in report_sheet_names(sorted(present)).values()]
    marks: dict[int, str] = {}
    for sheet in views:
        if sheet is None:
            continue
        rows = read_block(sheet)
        if not rows or LINE not in rows[0] or ACTION not in rows[0]:
            continue
        line_at, mark_at = rows[0].index(LINE), rows[0].index(ACTION)
        for row in rows[1:]:
            mark = str(row[mark_at] or "").strip()
            if mark and mark.casefold() != KEEP.casefold() and row[line_at] is not None:
                with contextlib.suppress(TypeError, ValueError):
                    marks[int(row[line_at])] = mark
    return marks


def _act(book: xw.Book, action: str) -> None:
    title = f"{action} Rows"
    with progress(book, title, "reading the marks…") as step:
        _act_steps(book, action, title, step)


def _act_steps(book: xw.Book, action: str, title: str, step: Callable[[str], None]) -> None:
    settings, layout, _ = _context(book)
    table, engine = read_report(book, layout)
    marks = pd.Series(view_marks(book, table, layout), dtype=object)
    marks = marks[marks.index.isin(engine.index)]
    engine.loc[marks.index, ACTION] = marks
    lines = _marked(engine, action)
    if not lines:
        alert(
            book,
            f'Nothing is marked "{action}", so nothing changed. Choose {action} in the Action '
            f"column of All or of a contract's sheet, then press {title} again.",
            title,
        )
        return
    month = settings_month(settings)
    kwargs = {
        "reason": f"marked {action} in the workbook",
        "at": datetime.now(),
        "source": _source(settings),
        "month": None if month is None else str(month),
    }
    touched = _touched(table, layout, lines)
    step(f"{action.lower()}ing {len(lines):,} row(s)…")
    if action == DELETE:
        new, records = review.delete_rows(table, lines, **kwargs)
    else:
        new, records = review.defer_rows(table, lines, layout, **kwargs)
    records = sheet_stamps(records)
    new_engine = engine.loc[new.index].copy()
    new_engine.loc[new_engine.index.isin(lines), ACTION] = KEEP
    existing = read_block(get_sheet(book, DEFERRED))
    step("writing All and the contract sheets…")
    _save_all(book, new, new_engine, layout, before=table, touched=touched)
    step("keeping the rows on Deferred…")
    saved = _append_archive(book, records, existing, settings)
    where = f" and {saved.name}" if saved else ""
    done = "deleted" if action == DELETE else "deferred"
    alert(book, f"{len(lines)} row(s) {done}; kept on Deferred{where}.", title)


@one_scan
def delete_rows(book: xw.Book) -> None:
    """Remove the rows marked Delete on any report sheet; the archive keeps them."""
    _act(book, DELETE)


@one_scan
def defer_rows(book: xw.Book) -> None:
    """Clear the visit times of the rows marked Defer on any report sheet.

    They stay in the upload as placeholders (unconfirmed shifts in pre-billing); the
    archive keeps the original times for Restore.
    """
    _act(book, DEFER)


@one_scan
def restore_rows(book: xw.Book) -> None:
    """Restore the selected Deferred rows (all when Deferred isn't the active sheet)."""
    with progress(book, "Restore", "reading Deferred…") as step:
        _restore_steps(book, step)


def _restore_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    settings, layout, _ = _context(book)
    archive = read_deferred(book)
    if archive.empty:
        alert(book, "Nothing to restore: the Deferred sheet is empty.", "Restore")
        return
    table, engine = read_report(book, layout)
    lines = _selected_lines(book, DEFERRED, archive["line"].tolist())
    data = archive.reindex(columns=[*review.ARCHIVE_META, *table.columns], fill_value="")
    try:
        new, remaining = review.restore_rows(table, data, lines)
    except PmpmError as exc:
        alert(book, str(exc), "Restore")
        return
    restored = data.drop(index=data.index[data["line"].isin(remaining["line"])])
    kept = engine.reindex(new.index)
    new_engine = pd.DataFrame(
        {FINDINGS: kept[FINDINGS], ACTION: kept[ACTION].fillna(KEEP)}, index=new.index
    )
    touched = _touched(new, layout, restored["line"].astype("int64"))
    step(f"writing {len(restored):,} row(s) back…")
    _save_all(book, new, new_engine, layout, before=table, touched=touched)
    step("updating Deferred…")
    write_deferred(book, archive.drop(index=restored.index), append=None)
    folder = _folder(settings, "archive folder", book)
    if folder is not None and not restored.empty:
        files.write_archive(folder, restored.assign(action="restore"), "restore", datetime.now())
    alert(book, f"{len(restored)} row(s) restored.", "Restore")


def _link(row: Any, field: Any, positions: dict[int, int], header: list[str]) -> str:
    if row is None or pd.isna(row):
        return ""
    r = 1 if int(row) == 1 else positions.get(int(row))
    if r is None:
        return ""
    c = header.index(field) + 1 if isinstance(field, str) and field in header else 1
    cell = f"{col_letter(c)}{r}"
    return f'=HYPERLINK("#\'{ALL}\'!{cell}","{cell}")'


def findings_grid(findings: pd.DataFrame, table: pd.DataFrame) -> list[list[Any]]:
    """The Validation sheet: header + one row per finding, with a link to its cell."""
    header = [LINE, *table.columns]
    positions = {int(n): i + 2 for i, n in enumerate(table.index)}
    rows = [[shown(c) for c in VALIDATION_COLUMNS]]
    frame = findings.astype(object).where(findings.notna(), None)
    for code, severity, row, field, value, message in frame[VALIDATION_COLUMNS[:6]].itertuples(
        index=False, name=None
    ):
        rows.append(
            [
                code,
                severity,
                None if row is None else int(row),
                field,
                value,
                message,
                _link(row, field, positions, header),
            ]
        )
    return rows


@one_scan
def validate(book: xw.Book) -> None:
    """Validate All against the layout, rates, locked fields and dates; list findings."""
    with progress(book, "Validate", "reading All…") as step:
        _validate_steps(book, step)


def _validate_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    settings, layout, rates = _context(book)
    table, _ = read_report(book, layout)
    step("checking every row…")
    original, _ = read_report(book, layout, ORIGINAL) if _has_sheet(book, ORIGINAL) else (None, 0)
    report, _ = validate_table(
        table,
        layout,
        rates,
        month=settings_month(settings),
        as_of=settings_as_of(settings),
        original=original,
        source=_source(settings),
    )
    findings = report.findings
    step(f"listing {len(findings):,} finding(s)…")
    sheet, made = _sheet(book, VALIDATION)
    if made:
        sheet.range("A:F").number_format = "@"
    write_table(sheet, findings_grid(findings, table), VALIDATION)
    if len(table):
        counts = findings["row"].dropna().astype("int64").value_counts()
        count = counts.reindex(table.index).fillna(0).astype("int64")
        column = [[int(n) if n > 0 else None] for n in count]
        put(_named(book, ALL), column, row=2, column=2 + table.shape[1] + len(FLAG_COLUMNS))
    errors, warnings = len(report.errors), len(report.warnings)
    alert(book, f"{errors} errors, {warnings} warnings: see the Validation sheet", "Validate")


@one_scan
def export(book: xw.Book) -> None:
    """Write the import file(s) to the export folder and record them in the ledger.

    Refused while errors remain, members already exported for the month included.
    """
    with progress(book, "Export", "reading All…") as step:
        _export_steps(book, step)


def _export_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    settings, layout, rates = _context(book)
    folder = _folder(settings, "export folder", book)
    if folder is None:
        alert(book, 'Name the export folder on the Settings sheet ("Export folder").', "Export")
        return
    table, _ = read_report(book, layout)
    original = read_report(book, layout, ORIGINAL)[0] if _has_sheet(book, ORIGINAL) else None
    step("checking and writing the import file…")
    try:
        month = settings_month(settings)
        db = ledger_path(settings, book)
        if db is not None:
            ledger_address.refuse_unmerged(folder, db)
        done = export_import_file(
            table,
            folder,
            layout,
            rates,
            month=None if month is None else str(month),
            as_of=settings_as_of(settings),
            at=datetime.now(),
            source=_source(settings),
            original=original,
            ledger=db,
        )
    except (ExportRefused, PmpmError) as exc:
        alert(book, str(exc), "Export")
        return
    names = "\n".join(p.name for p in done.files)
    alert(book, f"{done.rows:,} rows exported to {folder}:\n{names}", "Export")


@one_scan
def show_help(book: xw.Book) -> None:
    """Show the Help sheet."""
    get_sheet(book, HELP).activate()


def _ledger_history(book: xw.Book, title: str) -> pd.DataFrame | None:
    """The export ledger's entries (Settings "Ledger file"); None, after an alert, if none."""
    try:
        path = ledger_path(read_settings(book), book)
        if path is None:
            alert(book, 'Name the ledger on the Settings sheet ("Ledger file").', title)
            return None
        return ledger.history(path)
    except PmpmError as exc:
        alert(book, str(exc), title)
        return None


@one_scan
def show_history(book: xw.Book) -> None:
    """List the export ledger (Settings "Ledger file") on the Export History sheet."""
    with progress(book, "History", "reading the ledger…") as step:
        _history_steps(book, step)


def _history_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    entries = _ledger_history(book, "History")
    if entries is None:
        return
    step(f"listing {len(entries):,} entries…")
    entries = sheet_stamps(entries.reindex(columns=HISTORY_COLUMNS))
    sheet = get_sheet(book, HISTORY)
    text = [
        i + 1
        for i, c in enumerate(HISTORY_COLUMNS)
        if not pd.api.types.is_numeric_dtype(entries[c])
    ]
    for first, last in _runs(text):
        sheet.range(f"{col_letter(first)}:{col_letter(last)}").number_format = "@"
    body = entries.astype(object).where(entries.notna(), None).to_numpy().tolist()
    write_table(sheet, [[shown(c) for c in HISTORY_COLUMNS], *body], HISTORY_TABLE)
    sheet.activate()
    alert(book, f"{len(entries):,} ledger entries.", "History")


@one_scan
def show_kpis(book: xw.Book) -> None:
    """Fill the KPI sheet's tables from the export ledger (Settings "Ledger file").

    One write, at most one clear and one resize per table, whatever the ledger's size.
    """
    with progress(book, "KPIs", "reading the ledger…") as step:
        _kpi_steps(book, step)


def _kpi_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    history = _ledger_history(book, "KPIs")
    if history is None:
        return
    step("computing the KPIs…")
    tables = kpi_tables(history, files.load_rate_book())
    step("writing the KPI tables…")
    sheet = get_sheet(book, KPI)
    old_rows = _last_row(sheet)
    for key, first in kpi_first_columns().items():
        columns = KPI_COLUMNS[key]
        for i, name in enumerate(columns, start=first):
            if name in KPI_TEXT_COLUMNS:
                sheet.range(f"{col_letter(i)}:{col_letter(i)}").number_format = "@"
        frame = tables[key].astype(object)
        body = frame.where(frame.notna(), None).to_numpy().tolist()
        header = [shown(c) for c in columns]
        write_table(
            sheet, [header, *body], KPI_TABLE_NAMES[key], old_rows=old_rows, first_column=first
        )
    sheet.activate()
    months = len(tables["by_month"])
    members = int(tables["by_month"]["members"].sum())
    alert(book, f"KPIs of {months:,} month(s), {members:,} member-months billed.", "KPIs")


@one_scan
def show_unbilled(book: xw.Book) -> None:
    """Fill the Unbilled sheet: member-months with billed care and no confirmed PMPM.

    Reads Settings "Visits files" (one CSV or several separated by ";"), the ledger
    (Settings "Ledger file"), the archive folder and the as-of date (blank: today).
    Recoverable rows first, nearest deadline first, then the lost ones (window closed);
    one write of the table, whatever the row count.
    """
    with progress(book, "Unbilled", "reading the visits, ledger and archive…") as step:
        _unbilled_steps(book, step)


@one_scan
def show_paid(book: xw.Book) -> None:
    """Fill the Paid sheet from the 835 remittances (:mod:`xl_pmpm.excel.paid`)."""
    from xl_pmpm.excel.paid import paid_steps

    with progress(book, "Paid", "reading the 835 remittances and the ledger…") as step:
        paid_steps(book, step)


def _unbilled_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    from xl_pmpm.core.unbilled import REASONS
    from xl_pmpm.io.unbilled import unbilled_from_files
    from xl_pmpm.io.visits_reader import load_mapping

    sheet_name, table_name_, title = UNBILLED, UNBILLED_TABLE, "Unbilled"
    columns, text_columns = list(UNBILLED_HEADERS), UNBILLED_TEXT
    settings, layout, rates = _context(book)
    named = str(settings.get("visits files") or "").strip()
    if not named:
        alert(book, 'Name the visits file(s) on the Settings sheet ("Visits files").', title)
        return
    db = ledger_path(settings, book)
    archive = _folder(settings, "archive folder", book)
    try:
        run = unbilled_from_files(
            [p.strip() for p in named.split(";") if p.strip()],
            load_mapping(),
            layout,
            rates,
            excel_date(settings.get("as-of date")) or date.today(),
            ledger_path=db,
            ledger_required=False,
            archive=archive if archive is not None and archive.is_dir() else None,
        )
    except (PmpmError, ValueError) as exc:
        alert(book, str(exc), title)
        return
    found = run.unbilled
    step("writing the Unbilled sheet…")
    parts = [found.recoverable.assign(Status="recoverable"), found.lost.assign(Status="lost")]
    rows = pd.concat(parts, ignore_index=True)
    frame = pd.DataFrame(
        {
            "Status": rows["Status"],
            "Days left": rows["days_left"].astype("int64"),
            "Last day": rows["submit_until"].astype(str),
            "Month": rows["month"],
            "Payer": rows["payer"],
            "Contract": rows["contract"],
            "Patient Number": rows["patient_number"],
            "Patient Name": rows["patient_name"],
            "Billed hours": rows["billed_hours"].astype(float),
            "Tier": rows["tier"].astype("Int64"),
            "Rate code": rows["rate_code"],
            "Dollars": rows["rate"].astype(float),
            "Reason": rows["reason"],
            "What to do": rows["reason"].map(lambda r: REASONS[r][1]),
        },
        columns=columns,
    )
    sheet = get_sheet(book, sheet_name)
    for first, last in _runs([columns.index(c) + 1 for c in text_columns]):
        sheet.range(f"{col_letter(first)}:{col_letter(last)}").number_format = "@"
    body = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    write_table(sheet, [columns, *body], table_name_)
    sheet.activate()
    t = found.totals()
    nearest = (
        f", nearest deadline {t['nearest_deadline']} ({t['nearest_days_left']} days left)"
        if t["nearest_deadline"]
        else ""
    )
    source = "" if run.ledger is not None else " No ledger found: nothing counts as exported."
    alert(
        book,
        f"${t['recoverable_dollars']:,.2f} recoverable in {t['recoverable_member_months']:,} "
        f"member-month(s){nearest}; ${t['lost_dollars']:,.2f} lost.{source}",
        title,
    )
