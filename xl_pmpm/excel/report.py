"""The Tier Report sheets the buttons read and write: All, one view per contract, Deferred.

All holds every row (``Line`` + the extract's columns + the engine columns), each
contract's sheet is a view of it (made as a copy of All, rewritten from All after each
action), Deferred the archive records of deleted and deferred rows. The engine columns
are written as the template's formulas, never as values. The marks a biller sets on any
of these sheets, and the Validation sheet's rows, are read and made here too.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import xlwings as xw

from xl_pmpm.core import review
from xl_pmpm.core.cells import cell_text
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.validation import billing_month
from xl_pmpm.core.vocabulary import (
    ACTION,
    ALL,
    AT_RISK_MARK,
    DEFERRED,
    FINDINGS,
    KEEP,
    LINE,
    RATES,
    RESERVED_SHEETS,
)
from xl_pmpm.excel.settings_sheet import settings_folder
from xl_pmpm.excel.toolkit import (
    MAX_ROW,
    UNKNOWN,
    all_sheets,
    column_runs,
    copy_sheet,
    find_sheet,
    get_sheet,
    has_sheet,
    named_sheet,
    put,
    read_block,
    remember_sheet,
    sheet_or_added,
    sheet_table,
    write_table,
)
from xl_pmpm.io import files
from xl_pmpm.io.workflow import this_month
from xl_pmpm.workbook.formulas import engine_formulas
from xl_pmpm.workbook.sheet_xml import column_letter as col_letter
from xl_pmpm.workbook.sheets import (
    CONTRACT_PLACES,
    CONTRACTS_FIRST_COLUMN,
    ENGINE_COLUMNS,
    FLAG_COLUMNS,
    VALIDATION_COLUMNS,
    contract_payers,
    field_of,
    report_sheet_names,
    shown,
    stamp_text,
    table_name,
)

AT_RISK_FILL = "#F4B183"


FINDINGS_FILL = "#FCE4D6"


_PLAIN_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


STAMP_COLUMNS = ("archived_at", "exported_at", "updated_at")


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


def formula_rows(
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
    stamp = (month or pd.Period(this_month(), freq="M")).to_timestamp()
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
    runs = ",".join(f"{col_letter(a)}:{col_letter(b)}" for a, b in column_runs(text))
    if runs:
        sheet.range(runs).number_format = "@"


def _report_sheets(book: xw.Book, skip: Iterable[str] = ()) -> dict[str, xw.Sheet]:
    """{casefolded name: sheet} of the Tier Report sheets (a ``Report_`` table); no range call.

    The sheets named in `skip` (casefolded) are not looked at.
    """
    out = {}
    skipped = set(skip)
    for name, sheet in all_sheets(book).items():
        if name in skipped:
            continue
        table = sheet_table(sheet)
        if table is not None and table.name.casefold().startswith("report_"):
            out[name] = sheet
    return out


def _report_sheet(
    book: xw.Book, name: str, layout: Layout, columns: Sequence[str], after: xw.Sheet | None
) -> tuple[xw.Sheet, bool, Any]:
    """(the Tier Report sheet `name`, whether it was just made, its table if known).

    The table is known (`UNKNOWN` otherwise) for a sheet just copied from All.

    A contract's sheet is made as a copy of All, so it has All's drop-down, freeze,
    widths, number formats, conditional formats, formulas and print titles; its table
    is renamed after the sheet. Without All to copy, a bare sheet gets the text formats
    and highlighting (two range calls).
    """
    found = find_sheet(book, name)
    if found is not None:
        return found, False, UNKNOWN
    if name != ALL and has_sheet(book, ALL):
        source = named_sheet(book, ALL)
        sheet = copy_sheet(book, source, after or source, name)
        remember_sheet(book, name, sheet)
        table = sheet_table(sheet)
        if table is not None:
            with contextlib.suppress(NotImplementedError, AttributeError):
                table.name = table_name(name)
        return sheet, True, table
    sheet, _ = sheet_or_added(book, name)
    _text_format(sheet, list(columns), layout, offset=2)
    _highlight(sheet, len(columns))
    return sheet, True, UNKNOWN


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
    emptied: Any = UNKNOWN,
) -> xw.Sheet:
    """Write a Tier Report sheet's table in one write; no blank row left behind.

    `old_rows` (rows incl. header before, when known) spares the clear below. A missing
    sheet is made (see `_report_sheet`); a copy of All holds All's rows (`copied_rows`,
    incl. header, when known), blanked by the same write. `emptied`: All's table
    after `empty_all_for_copies` (its rows cleared, its columns this extract's).
    """
    sheet, made, known = _report_sheet(book, name, layout, list(table.columns), after)
    copied = made and name != ALL and known is not UNKNOWN
    if made and name != ALL:
        old_rows = copied_rows if copied else None
    # A copy of an emptied All, or All emptied, has this extract's columns: nothing wider
    # to blank, and its table spans more rows than it holds (resized whatever the count).
    exact = (copied and copied_rows is not None) or emptied is not UNKNOWN
    if emptied is not UNKNOWN:
        known = emptied
    # A sheet written before (the template's, or last month's) may be wider than this
    # extract's columns (it lacks Authorized Hours, say): the same write blanks the rest of
    # the widest table a report sheet can have, so nothing stale is left to the right.
    widest = 1 + len(layout.sheet_columns) + len(ENGINE_COLUMNS)
    write_table(
        sheet,
        _grid(table, engine, layout, name),
        table_name(name),
        old_rows=old_rows,
        blank_to=None if exact or (made and known is UNKNOWN) else widest,
        table=known,
        resize=made or exact,
    )
    return sheet


def _highlight(sheet: xw.Sheet, width: int) -> None:
    """Conditional formats: at-risk rows orange, rows with findings light red."""
    risk = col_letter(2 + width + ENGINE_COLUMNS.index(FLAG_COLUMNS[2]))
    found = col_letter(2 + width + ENGINE_COLUMNS.index(FINDINGS))
    target = sheet.range(f"A2:{col_letter(1 + width + len(ENGINE_COLUMNS))}{MAX_ROW}")
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
    after = named_sheet(book, ALL) if has_sheet(book, ALL) else None
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


def write_view_formulas(book: xw.Book, table: pd.DataFrame, layout: Layout) -> None:
    """Write the flag formulas over every contract sheet's rows: one write per sheet."""
    contracts = _contracts(table, layout)
    if contracts is None:
        return
    first = 2 + table.shape[1]
    counts = contracts[contracts != ""].value_counts()
    for contract, name in report_sheet_names(sorted(counts.index)).items():
        if has_sheet(book, name):
            rows = formula_rows(layout, name, int(counts[contract]), list(table.columns))
            put(named_sheet(book, name), rows, row=2, column=first)


def save_all(
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


def write_deferred(
    book: xw.Book, records: pd.DataFrame, *, existing: list[list[Any]] | None = None
) -> None:
    """Write archive records below the `existing` rows (header first, as read), or the
    whole sheet when there are none.

    Below two or more archived rows, the table grows by rows inserted above its last
    row (Excel widens a table over rows inserted inside it, with the formats of the row
    above): one write then puts the last row back in its place and the new rows below
    it, two calls in all, with no lookup of the table or resize. With fewer, the rows
    already there are written back as read with the new ones, and the table resized to
    that write's range.
    """
    sheet, made = sheet_or_added(book, DEFERRED)
    records = sheet_stamps(records).rename(columns={c: shown(c) for c in review.ARCHIVE_META})
    columns = list(records.columns)
    if made:
        sheet.range(f"A:{col_letter(max(len(columns), 1))}").number_format = "@"
    body = records.astype(str).to_numpy().tolist()
    if existing and len(existing) > 2 and body:
        last = len(existing)
        sheet.range(f"{last}:{last + len(body) - 1}").insert("down")
        put(sheet, [existing[-1], *body], row=last)
    elif existing:
        write_table(sheet, [*existing, *body], DEFERRED, old_rows=len(existing))
    else:
        write_table(sheet, [columns, *body], DEFERRED)


def append_archive(
    book: xw.Book, records: pd.DataFrame, existing: list[list[Any]], settings: dict[str, Any]
) -> Path | None:
    """Append records to the Deferred sheet (one write) and, if named, the archive folder."""
    header = [field_of(h, review.ARCHIVE_META) for h in existing[0]] if existing else []
    rows = records.reindex(columns=header, fill_value="") if header else records
    write_deferred(book, rows, existing=existing if header else None)
    folder = settings_folder(settings, "archive folder", book)
    if folder is None or records.empty:
        return None
    return files.write_archive(folder, records, str(records["action"].iloc[0]), datetime.now())


def empty_all_for_copies(
    book: xw.Book, table: pd.DataFrame, layout: Layout
) -> tuple[int, Any] | None:
    """Shape All's table as this extract's, empty, when a contract's sheet is to be copied.

    All's table is resized to this extract's columns and one blank row, and everything
    else is cleared (its rows, and the header cells of columns this extract lacks, now
    outside the table). Each copy then holds a table of the right columns over blank
    rows: its one write covers exactly the table's new range, which the resize reuses,
    without a clear of its own. Returns (the rows, incl. header, a copy holds; All's
    table), None when nothing is to be copied.
    """
    values = _contracts(table, layout)
    if values is None or not has_sheet(book, ALL):
        return None
    names = report_sheet_names(sorted(set(values[values != ""])))
    if all(has_sheet(book, n) for n in names.values()):
        return None
    sheet = named_sheet(book, ALL)
    right = 1 + table.shape[1] + len(ENGINE_COLUMNS)
    widest = max(right, 1 + len(layout.sheet_columns) + len(ENGINE_COLUMNS))
    # Rows first, then the table: a table shrunk over rows still holding its formulas
    # would turn them into errors for Excel to recalculate; the header cells past the
    # new columns last, once outside the table (Excel names a blank header "ColumnN").
    sheet.range(f"A2:{col_letter(widest)}{MAX_ROW}").clear_contents()
    found = sheet_table(sheet)
    if found is not None:
        found.resize(sheet.range(f"A1:{col_letter(right)}2"))
    if widest > right:
        sheet.range(f"{col_letter(right + 1)}1:{col_letter(widest)}1").clear_contents()
    return 2, found


def write_contracts(book: xw.Book, contracts: Sequence[str], rates: RateBook) -> None:
    """Write the extract's contracts and their payers into the Contracts table: one write.

    The tier formulas look up each row's payer there, and the Summary lists the first
    contracts from it.
    """
    if not has_sheet(book, RATES):
        return
    places = contract_payers(rates, list(contracts)[:CONTRACT_PLACES])
    grid: list[list[str | None]] = [[*place] for place in places]
    grid += [[None, None]] * (CONTRACT_PLACES - len(places))
    put(named_sheet(book, RATES), grid, row=2, column=CONTRACTS_FIRST_COLUMN)


def drop_stale_views(book: xw.Book, views: Sequence[str]) -> None:
    """Delete the contract sheets of contracts no longer in the extract (no range call)."""
    keep = {*(s.casefold() for s in RESERVED_SHEETS), *(v.casefold() for v in views)}
    for name, sheet in _report_sheets(book, skip=keep).items():
        if name not in keep:
            sheet.delete()
            remember_sheet(book, name, None)


def marked_lines(engine: pd.DataFrame, action: str) -> list[int]:
    marks = engine[ACTION].fillna("").astype(str).str.strip().str.casefold()
    return [int(n) for n in engine.index[marks == action.casefold()]]


def touched_contracts(table: pd.DataFrame, layout: Layout, lines: Iterable[int]) -> set[str]:
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
    views = [find_sheet(book, n) for n in report_sheet_names(sorted(present)).values()]
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
    rows: list[list[Any]] = [[shown(c) for c in VALIDATION_COLUMNS]]
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
