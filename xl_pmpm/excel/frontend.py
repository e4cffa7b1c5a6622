"""The workbook's buttons: each script takes the ``xw.Book`` and moves data in and out.

The ribbon's RunPython strings and xlwings Lite's ``main.py`` call the scripts here by
name (:mod:`xl_pmpm.workbook.actions`). The front end has three rooms: these scripts,
the sheet toolkit they write with (:mod:`xl_pmpm.excel.toolkit`: sheets found once per
action, whole blocks read and written, tables resized, the status bar), and the sheets
they read and write (:mod:`xl_pmpm.excel.settings_sheet` for Settings,
:mod:`xl_pmpm.excel.report` for All, the contract sheets, Deferred and Validation).

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

from collections.abc import Callable, Sequence
from datetime import datetime

import pandas as pd
import xlwings as xw

from xl_pmpm.core import review
from xl_pmpm.core.errors import ExportRefused, PmpmError
from xl_pmpm.core.kpi import KPI_COLUMNS, kpi_tables
from xl_pmpm.core.validation import billing_month, validate_table
from xl_pmpm.core.vocabulary import (
    ACTION,
    ALL,
    DEFER,
    DEFERRED,
    DELETE,
    FINDINGS,
    HELP,
    HISTORY,
    HISTORY_TABLE,
    KEEP,
    KPI,
    LINE,
    UNBILLED,
    UNBILLED_TABLE,
    VALIDATION,
)
from xl_pmpm.core.vocabulary import (
    ORIGINAL_SHEET as ORIGINAL,
)
from xl_pmpm.excel.report import (
    append_archive,
    compute_flags,
    drop_stale_views,
    empty_all_for_copies,
    findings_grid,
    formula_rows,
    marked_lines,
    read_deferred,
    read_report,
    save_all,
    sheet_stamps,
    touched_contracts,
    view_marks,
    write_contracts,
    write_deferred,
    write_report,
    write_view_formulas,
    write_views,
)
from xl_pmpm.excel.settings_sheet import (
    excel_serial as excel_serial,  # re-exported: what the front end's callers read here
)
from xl_pmpm.excel.settings_sheet import (
    extract_path,
    extract_source,
    fix_month_and_extract,
    ledger_path,
    pick_extract_file,
    read_context,
    read_settings,
    settings_as_of,
    settings_folder,
    settings_month,
)
from xl_pmpm.excel.toolkit import (
    MAX_COLUMN,
    UNKNOWN,
    alert,
    all_sheets,
    column_runs,
    get_sheet,
    has_sheet,
    last_row,
    named_sheet,
    one_scan,
    progress,
    put,
    read_block,
    sheet_or_added,
    write_table,
)
from xl_pmpm.io import files, ledger
from xl_pmpm.io.workflow import export_import_file
from xl_pmpm.workbook.sheet_xml import column_letter as col_letter
from xl_pmpm.workbook.sheets import (
    CONTRACT_PLACES,
    FLAG_COLUMNS,
    HISTORY_COLUMNS,
    KPI_TABLE_NAMES,
    KPI_TEXT_COLUMNS,
    SUMMARY_CONTRACT_ROWS,
    UNBILLED_HEADERS,
    UNBILLED_TEXT,
    extract_contracts,
    kpi_first_columns,
    shown,
)
from xl_pmpm.workbook.sheets import (
    ENGINE_COLUMNS as ENGINE_COLUMNS,  # re-exported, as above
)


@one_scan
def load_extract(book: xw.Book) -> None:
    """Read the extract named on Settings into All, one sheet per contract and _original.

    The contract sheets are the extract's own: a missing one is made as a copy of All,
    and the sheets of contracts the extract no longer holds are removed.
    """
    all_sheets(book)  # Load removes the sheets of contracts it no longer has: one scan
    try:
        settings, layout, rates = read_context(book)
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
        fix_month_and_extract(book, settings, month)
        engine = pd.DataFrame({FINDINGS: None, ACTION: KEEP}, index=table.index)
        emptied = empty_all_for_copies(book, table, layout)
        copied, all_table = emptied if emptied else (None, UNKNOWN)
        views = write_views(book, table, engine, layout, copied_rows=copied)
        # All was emptied for the copies: its write needs no clear and blanks nothing wider.
        write_report(book, ALL, table, engine, layout, old_rows=copied, emptied=all_table)
        step("keeping the extract as loaded…")
        original, made = sheet_or_added(book, ORIGINAL, hidden=True)
        if made:  # every column past Line: the extract's text as is
            original.range(f"B:{col_letter(MAX_COLUMN)}").number_format = "@"
        else:  # last load's copy goes (a new sheet is empty)
            original.clear_contents()
        put(
            original,
            [[LINE, *table.columns]]
            + [
                [int(n), *row]
                for n, row in zip(table.index, table.to_numpy().tolist(), strict=True)
            ],
        )
        step("one sheet per contract…")
        drop_stale_views(book, views)
        contracts = extract_contracts(table, layout)
        write_contracts(book, contracts, rates)
    notes = len(report.findings)
    more = min(len(contracts), CONTRACT_PLACES) - SUMMARY_CONTRACT_ROWS
    alert(
        book,
        f"Loaded {len(table):,} rows from {path.name}."
        + (f" Reading found {notes} problem(s): run Validate." if notes else "")
        + (f" The Summary lists the first {SUMMARY_CONTRACT_ROWS} contracts." if more > 0 else ""),
        "Load Extract",
    )


@one_scan
def refresh_flags(book: xw.Book) -> None:
    """Write the flag formulas back over All and each contract sheet: one write each.

    A formula typed over (or pasted over) comes back; Excel recalculates every row. The
    alert gives the engine's own count of rows at risk, to compare with the Summary.
    """
    title = "Refresh Flags"
    with progress(book, title, "reading All…") as step:
        settings, layout, rates = read_context(book)
        table, _ = read_report(book, layout)
        if table.empty:
            alert(book, "The All sheet holds no rows: run Load Extract first.", title)
            return
        step("writing the tier formulas…")
        rows = formula_rows(layout, ALL, len(table), list(table.columns))
        put(named_sheet(book, ALL), rows, row=2, column=2 + table.shape[1])
        write_view_formulas(book, table, layout)
        step("checking the tiers…")
        flags = compute_flags(table, layout, rates, settings_month(settings))
    risky = flags["at_risk"].fillna(False).astype(bool)
    dollars = float(flags.loc[risky, "dollar_effect"].sum())
    alert(book, f"{int(risky.sum()):,} row(s) at risk, ${dollars:,.2f} at stake.", title)


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


def _act(book: xw.Book, action: str) -> None:
    title = f"{action} Rows"
    with progress(book, title, "reading the marks…") as step:
        _act_steps(book, action, title, step)


def _act_steps(book: xw.Book, action: str, title: str, step: Callable[[str], None]) -> None:
    settings, layout, _ = read_context(book)
    table, engine = read_report(book, layout)
    marks = pd.Series(view_marks(book, table, layout), dtype=object)
    marks = marks[marks.index.isin(engine.index)]
    engine.loc[marks.index, ACTION] = marks
    lines = marked_lines(engine, action)
    if not lines:
        alert(
            book,
            f'Nothing is marked "{action}", so nothing changed. Choose {action} in the Action '
            f"column of All or of a contract's sheet, then press {title} again.",
            title,
        )
        return
    month = settings_month(settings)
    reason, at = f"marked {action} in the workbook", datetime.now()
    source, month_text = extract_source(settings), None if month is None else str(month)
    touched = touched_contracts(table, layout, lines)
    step(f"{action.lower()}ing {len(lines):,} row(s)…")
    if action == DELETE:
        new, records = review.delete_rows(
            table, lines, reason=reason, at=at, source=source, month=month_text
        )
    else:
        new, records = review.defer_rows(
            table, lines, layout, reason=reason, at=at, source=source, month=month_text
        )
    records = sheet_stamps(records)
    new_engine = engine.loc[new.index].copy()
    new_engine.loc[new_engine.index.isin(lines), ACTION] = KEEP
    existing = read_block(get_sheet(book, DEFERRED))
    step("writing All and the contract sheets…")
    save_all(book, new, new_engine, layout, before=table, touched=touched)
    step("keeping the rows on Deferred…")
    saved = append_archive(book, records, existing, settings)
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
    settings, layout, _ = read_context(book)
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
    touched = touched_contracts(new, layout, restored["line"].astype("int64"))
    step(f"writing {len(restored):,} row(s) back…")
    save_all(book, new, new_engine, layout, before=table, touched=touched)
    step("updating Deferred…")
    write_deferred(book, archive.drop(index=restored.index))
    folder = settings_folder(settings, "archive folder", book)
    if folder is not None and not restored.empty:
        files.write_archive(folder, restored.assign(action="restore"), "restore", datetime.now())
    alert(book, f"{len(restored)} row(s) restored.", "Restore")


@one_scan
def validate(book: xw.Book) -> None:
    """Validate All against the layout, rates, locked fields and dates; list findings."""
    with progress(book, "Validate", "reading All…") as step:
        _validate_steps(book, step)


def _validate_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    settings, layout, rates = read_context(book)
    table, _ = read_report(book, layout)
    step("checking every row…")
    original, _ = read_report(book, layout, ORIGINAL) if has_sheet(book, ORIGINAL) else (None, 0)
    report, _ = validate_table(
        table,
        layout,
        rates,
        month=settings_month(settings),
        as_of=settings_as_of(settings),
        original=original,
        source=extract_source(settings),
    )
    findings = report.findings
    step(f"listing {len(findings):,} finding(s)…")
    sheet, made = sheet_or_added(book, VALIDATION)
    if made:
        sheet.range("A:F").number_format = "@"
    write_table(sheet, findings_grid(findings, table), VALIDATION)
    if len(table):
        counts = findings["row"].dropna().astype("int64").value_counts()
        count = counts.reindex(table.index).fillna(0).astype("int64")
        column = [[int(n) if n > 0 else None] for n in count]
        put(named_sheet(book, ALL), column, row=2, column=2 + table.shape[1] + len(FLAG_COLUMNS))
    errors, warnings = report.error_count, report.warning_count
    alert(book, f"{errors} errors, {warnings} warnings: see the Validation sheet", "Validate")


@one_scan
def export(book: xw.Book) -> None:
    """Write the import file(s) to the export folder and record them in the ledger.

    Refused while errors remain, members already exported for the month included.
    """
    with progress(book, "Export", "reading All…") as step:
        _export_steps(book, step)


def _export_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    settings, layout, rates = read_context(book)
    folder = settings_folder(settings, "export folder", book)
    if folder is None:
        alert(book, 'Name the export folder on the Settings sheet ("Export folder").', "Export")
        return
    table, _ = read_report(book, layout)
    original = read_report(book, layout, ORIGINAL)[0] if has_sheet(book, ORIGINAL) else None
    step("checking and writing the import file…")
    try:
        month = settings_month(settings)
        db = ledger_path(settings, book)
        if db is not None:
            ledger.refuse_unmerged(folder, db)
        done = export_import_file(
            table,
            folder,
            layout,
            rates,
            month=None if month is None else str(month),
            as_of=settings_as_of(settings),
            at=datetime.now(),
            source=extract_source(settings),
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
    for first, last in column_runs(text):
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
    old_rows = last_row(sheet)
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
    settings, layout, rates = read_context(book)
    named = str(settings.get("visits files") or "").strip()
    if not named:
        alert(book, 'Name the visits file(s) on the Settings sheet ("Visits files").', title)
        return
    archive = settings_folder(settings, "archive folder", book)
    try:
        db = ledger_path(settings, book)
        run = unbilled_from_files(
            [p.strip() for p in named.split(";") if p.strip()],
            load_mapping(),
            layout,
            rates,
            settings_as_of(settings),
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
    for first, last in column_runs([columns.index(c) + 1 for c in text_columns]):
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
