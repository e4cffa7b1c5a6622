"""The sheet toolkit: how the front end finds sheets and moves whole ranges in and out.

Every button script (:mod:`xl_pmpm.excel.frontend`) goes through these: a sheet is
looked up once per action by the name the script knows (`one_scan`; only Load scans
``book.sheets``), a block is read in one call (`read_block`), a grid written in one
(`put`), a table written, blanked below and resized in at most three (`write_table`),
and each step shown on the status bar (`progress`). Written against the xlwings API
that desktop Excel and xlwings Lite share: no ``.api``, no COM.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import xlwings as xw

from xl_pmpm.io.memory import use_system_memory_pool
from xl_pmpm.workbook.sheet_xml import column_letter as col_letter

# A sheet's last row and column in Excel: the end of a clear or a whole-column format.
MAX_ROW = 1_048_576
MAX_COLUMN = 16_384


def alert(book: xw.Book, message: str, title: str = "PMPM") -> None:
    """Show a message box; silently skipped where the runtime has none."""
    with contextlib.suppress(NotImplementedError, AttributeError):
        book.app.alert(message, title=title)


def status(book: xw.Book, message: str | None) -> None:
    """Write the status bar where the runtime allows it (never read it)."""
    with contextlib.suppress(NotImplementedError, AttributeError):
        # False hands the bar back to Excel (Application.StatusBar = False).
        book.app.status_bar = False if message is None else message


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


def column_runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous (first, last) runs of 1-based column positions."""
    runs: list[tuple[int, int]] = []
    for p in sorted(positions):
        if runs and p == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs


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
        self.positions: dict[int, int] = {}  # {id(sheet): 1-based index}: scanned, copied

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
            # Not `list(book.sheets)`: list() asks the collection its length first (a
            # call of its own); the scan yields the sheets in order, so each one's
            # position is known without reading it.
            sheets = [sheet for sheet in self.book.sheets]  # noqa: C416
            for position, sheet in enumerate(sheets, start=1):
                self.found.setdefault(sheet.name.casefold(), sheet)
                self.positions[id(sheet)] = position
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


def all_sheets(book: xw.Book) -> dict[str, xw.Sheet]:
    """{casefolded name: sheet} of every sheet of the book: one scan per action at most."""
    return _scan(book).everything()


def one_scan(action: Callable[[xw.Book], None]) -> Callable[[xw.Book], None]:
    """An action that looks each sheet up at most once (found sheets dropped after). Each
    action starts as a command does: pyarrow on the system's allocator (`io.memory`)."""

    @functools.wraps(action)
    def run(book: xw.Book) -> None:
        use_system_memory_pool()
        _SCANS.pop(id(book), None)
        try:
            action(book)
        finally:
            _SCANS.pop(id(book), None)

    return run


def named_sheet(book: xw.Book, name: str) -> xw.Sheet:
    """The sheet `name` (it exists: checked with `has_sheet`), looked up once per action."""
    sheet = _scan(book).get(name)
    assert sheet is not None, name
    return sheet


def get_sheet(book: xw.Book, name: str, *, hidden: bool = False) -> xw.Sheet:
    """The sheet `name`, added at the end when missing."""
    return sheet_or_added(book, name, hidden=hidden)[0]


def sheet_or_added(book: xw.Book, name: str, *, hidden: bool = False) -> tuple[xw.Sheet, bool]:
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
    # action knows already that `name` is free. Not `add(after=last)` either: over COM
    # xlwings adds before `last`, then reads the count and looks sheets up three times to
    # move `last` in front and activate the new one (eleven calls). Added before `last`
    # and moved after it, the new sheet is last in two.
    if last is None:
        sheet = book.sheets.add()
    else:
        sheet = book.sheets.add(before=last)
        # The engine's own move: the public one compares the books and the sheets (their
        # names, each a call) to refuse a move across books or onto itself.
        sheet.impl.move(before=None, after=last.impl)
    sheet.name = name
    held.found[name.casefold()] = held.last = sheet
    if hidden:
        _hide(sheet)
    return sheet, True


def has_sheet(book: xw.Book, name: str) -> bool:
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
        for sheet in all_sheets(book).values():
            names |= {t.name.casefold() for t in sheet.tables}
    return names


def last_row(sheet: xw.Sheet) -> int:
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


def put(
    sheet: xw.Sheet, grid: Sequence[Sequence[Any]], row: int = 1, column: int = 1
) -> xw.Range | None:
    """Write `grid` with its top-left cell at (`row`, `column`): one range call.

    The values go in raw, into a range of the grid's exact size: xlwings' value
    conversion would build the target range twice more (a resize each time). Above the
    engine's cell budget for one write (Office.js caps a request's size), the write is
    split into row chunks the way xlwings splits its own writes; desktop Excel has no
    budget and takes it whole. Returns the range written (for a table resized to it),
    None when nothing was written.
    """
    if not grid:
        return None
    height, width = len(grid), len(grid[0])
    rows = [[_raw(v) for v in r] for r in grid]
    left, right = col_letter(column), col_letter(column + width - 1)
    target = sheet.range(f"{left}{row}:{right}{row + height - 1}")
    budget = getattr(target.impl, "max_cells_per_write", None)
    if not budget or height * width <= budget:
        target.raw_value = rows if height > 1 or width > 1 else rows[0][0]
        return target
    step = max(1, budget // width)
    for start in range(0, height, step):
        target[start : start + step, :].raw_value = rows[start : start + step]
    return target


UNKNOWN: Any = object()  # a sheet's table not looked up yet


def write_table(
    sheet: xw.Sheet,
    grid: list[list[Any]],
    name: str,
    *,
    old_rows: int | None = None,
    first_column: int | None = None,
    blank_to: int | None = None,
    table: Any = None,
    resize: bool = False,
) -> None:
    """Write header + rows at A1 (one write) as Excel Table `name`; no stale row left.

    The sheet's table is resized to the rows (Excel keeps one data row: a blank one when
    there are none), or added when the sheet has none. `old_rows` (rows incl. header
    before, when known) spares the clear: unknown, one clear empties everything below
    the new rows. With `first_column` (1-based) the table is one of several side by
    side, found by its name: only its own columns are cleared. With `blank_to` (a column
    count wider than the grid), the same write blanks the columns between. `table`: the
    sheet's table when the caller has it (a sheet's tables are a call to Excel);
    `resize`: resize it even when the row count is `old_rows` (a copy's table spans its
    source's rows). When the row count is `old_rows`, the table is neither looked up
    nor resized; when it is fewer, the rows below go as whole sheet rows (the table
    shrinks with them). At most three range calls, whatever the row count.
    """
    if not grid:
        return
    beside = first_column is not None
    width = len(grid[0])
    first = first_column or 1
    left, right = col_letter(first), col_letter(first + width - 1)
    rows, before = len(grid), old_rows
    keep = max(rows, 2)  # the one data row of an empty table: blank, not deleted
    # A table alone on its sheet that loses rows: its rows below go as whole sheet rows,
    # and Excel shrinks the table with them (no lookup of the table, no resize).
    shrink = not beside and not resize and old_rows is not None and keep < old_rows
    height = keep if old_rows is None or shrink else max(keep, old_rows)
    blank = [None] * width
    body = [*grid, *([blank] * (height - rows))]
    if blank_to is not None and blank_to > width:
        body = [[*r, *([None] * (blank_to - width))] for r in body]
    written = put(sheet, body, column=first)
    if old_rows is None:
        below = f"{left}{keep + 1}:{right}{MAX_ROW}" if beside else f"{keep + 1}:{MAX_ROW}"
        sheet.range(below).clear_contents()
    elif shrink:
        sheet.range(f"{keep + 1}:{old_rows}").delete("up")
        return
    if height != keep or len(body[0]) != width:
        written = None  # the write spans more than the table: not its range
    if rows == before and not resize:
        # The table already spans these rows: it is not looked up (its lookup and the
        # table an iteration yields are two calls). A sheet whose table was removed by
        # hand gets it back from the next action that adds rows to it.
        return
    if table is None or table is UNKNOWN:
        table = _named_table(sheet, name) if beside else sheet_table(sheet)
    # The table's range is the write's own when they are the same cells (no second call).
    target = written if written is not None else sheet.range(f"{left}1:{right}{max(rows, 2)}")
    if table is not None:
        table.resize(target)
    elif name.casefold() not in _table_names(sheet.book):
        sheet.tables.add(source=target, name=name, has_headers=True)


def copy_sheet(book: xw.Book, source: xw.Sheet, after: xw.Sheet, name: str) -> xw.Sheet:
    """A copy of `source` right after `after`, named `name` (not taken: the scan says).

    xlwings' ``Sheet.copy`` reads every sheet's name three times to find the copy; the
    copy lands right after `after`, so it is found by position: three calls in all (the
    copy, the sheet at its position, its name). The place of a copy made before is
    kept, so copies made one after the other read no sheet's index.
    """
    held = _scan(book)
    at = held.positions.get(id(after))
    position = (after.index if at is None else at) + 1  # 1-based, as ``book.sheets(i)``
    source.impl.copy(after=after.impl)
    sheet = book.sheets(position)
    sheet.name = name
    # The sheets from `position` on moved one place right; the copy's place is known.
    held.positions = {k: i + (i >= position) for k, i in held.positions.items()}
    held.positions[id(sheet)] = position
    return sheet


def find_sheet(book: xw.Book, name: str) -> xw.Sheet | None:
    """The sheet `name`, or None when the book has none: looked up once per action."""
    return _scan(book).get(name)


def remember_sheet(book: xw.Book, name: str, sheet: xw.Sheet | None) -> None:
    """Record, for the rest of the action, that `name` is `sheet` (None: deleted)."""
    held = _scan(book)
    held.found[name.casefold()] = sheet
    if sheet is None:  # the sheets after it moved: their places are no longer known
        held.positions.clear()
