"""The workbook's other sheets: Rates, Settings, Summary, KPI, Help and xlwings.conf."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName

from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import DEFAULT_PAYER, RATE_COLUMNS, RateBook
from xl_pmpm.core.remittance import NO_REMITTANCE
from xl_pmpm.core.unbilled import RECOVERABLE
from xl_pmpm.core.vocabulary import (
    ACTION,
    ALL,
    AT_RISK_MARK,
    CONFIG,
    CONTRACTS_TABLE,
    DEFER,
    DELETE,
    ENGINE_HEADERS,
    FINDINGS,
    HELP,
    LINE,
    PAID_TABLE,
    RATES,
    RATES_TABLE,
    SETTINGS,
    SUMMARY,
    TIERS_TABLE,
    UNBILLED_TABLE,
)
from xl_pmpm.workbook.actions import BUTTONS, CELL_FUNCTIONS, UDF_MODULE
from xl_pmpm.workbook.cells import (
    Cells,
    add_table,
    print_page,
    print_readable,
    write_table,
)
from xl_pmpm.workbook.formulas import (
    column_of,
    escape,
    resolved_tiers,
    tier_rate,
)
from xl_pmpm.workbook.sheets import (
    CONTRACT_COLUMNS,
    CONTRACT_PLACES,
    CONTRACTS_FIRST_COLUMN,
    SUMMARY_CONTRACT_ROWS,
    SUMMARY_TOTAL,
    TIER_COLUMNS,
    TIERS_FIRST_COLUMN,
    contract_payers,
    shown,
    table_name,
)

XLWINGS_CONFIG_KEYS = (
    "Interpreter_Win",
    "Interpreter_Mac",
    "PYTHONPATH",
    "UDF Modules",
    "Use UDF Server",
)
# (defined name, label, note); the front end reads the labels, the formulas the names.
SETTING_ROWS = (
    (
        "BillingMonth",
        "Billing month",
        "First day of the month you bill. Default: last month; Load Extract fixes it.",
    ),
    (
        "ExtractFile",
        "Extract file",
        "The month's Tier Report/Extract (CSV) Load Extract reads, or the file picked.",
    ),
    ("AsOfDate", "As-of date", "Date the extract was taken. Default: today."),
    ("VisitsFiles", "Visits files", "Visits CSV(s) Unbilled reads; separate several with ;"),
    ("RemittanceFiles", "Remittance files", "835 file(s) Paid reads; separate several with ;"),
    ("ExportFolder", "Export folder", "Blank = an 'exports' folder beside this workbook."),
    ("ArchiveFolder", "Archive folder", "Blank = an 'archive' folder beside this workbook."),
    (
        "LedgerFile",
        "Ledger file",
        "Export ledger: a file, or a team's server as postgresql://USER@HOST/DB with no "
        "password (set PGPASSWORD or ~/.pgpass). Blank = $XL_PMPM_LEDGER, else "
        "pmpm-ledger.sqlite3 in the export folder.",
    ),
    ("LayoutFile", "Layout file", "Blank = the layout bundled with xl_pmpm."),
)
SUMMARY_HEADERS = [
    "Contract",
    "Rows",
    "At risk",
    "Dollars at risk",
    "Rows with findings",
    DELETE,
    DEFER,
]
BY_TIER_TABLE = "ByTier"
# Every chart: 18 x 8.5 cm, about 11 default-width columns and 17 default-height rows;
# charts stacked one below the other start CHART_ROWS rows apart.
CHART_SIZE = (18, 8.5)
CHART_COLUMNS, CHART_ROWS = 11, 18
SUMMARY_CHART_COLUMN = 10  # J: right of the Summary's tables


def _cell_value(field: str, value: Any) -> object:
    """A rate book value as a cell: blanks (and an open top) empty, dates as dates."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if field == "max_hours" and np.isinf(value):
        return None
    if field in ("effective_from", "effective_to"):
        return pd.Timestamp(value).to_pydatetime()
    if field in ("tier", "min_hours", "max_hours", "rate"):
        return int(value) if field == "tier" else float(value)
    return str(value)


def _rate_format(field: str) -> str:
    if field in ("effective_from", "effective_to"):
        return "yyyy-mm-dd"
    if field == "rate":
        return "0.00"
    return "@" if field.endswith("code") or field in ("payer", "contract") else "General"


def rates_sheet(wb: openpyxl.Workbook, rate_book: RateBook, contracts: Sequence[str]) -> None:
    """The rate book, each payer's resolved tiers and the contracts' payers, side by side.

    The formulas look up the last two; the first is the rate book as the engine reads it.
    """
    ws = wb.create_sheet(RATES)
    ws.sheet_properties.codeName = "wsRates"
    cells = Cells(ws)
    tiers = resolved_tiers(rate_book)
    blocks = [
        (RATES_TABLE, list(RATE_COLUMNS), rate_book.rates[RATE_COLUMNS], 1),
        (TIERS_TABLE, TIER_COLUMNS, tiers, TIERS_FIRST_COLUMN),
        (
            CONTRACTS_TABLE,
            CONTRACT_COLUMNS,
            pd.DataFrame(contract_payers(rate_book, contracts), columns=CONTRACT_COLUMNS),
            CONTRACTS_FIRST_COLUMN,
        ),
    ]
    places = {CONTRACTS_TABLE: CONTRACT_PLACES}
    height = max(max(len(f), places.get(n, 0)) for n, _, f, _ in blocks)
    grid: list[list[object]] = [[None] * (CONTRACTS_FIRST_COLUMN + 1) for _ in range(height + 1)]
    for _, columns, frame, first in blocks:
        for c, field in enumerate(columns):
            letter = get_column_letter(first + c)
            fmt = _rate_format(field)
            ws.column_dimensions[letter].number_format = fmt
            wide = field in ("payer", "contract")  # names, not codes
            ws.column_dimensions[letter].width = 30 if wide else max(10, len(shown(field)) + 4)
            grid[0][first - 1 + c] = cells(shown(field), bold=True)
            for r, value in enumerate(frame[field].tolist(), start=1):
                value = _cell_value(field, value)
                grid[r][first - 1 + c] = value if value is None else cells(value, fmt)
    ws.freeze_panes = "A2"
    # Printed: the rows that hold something, not the Contracts table's blank places.
    rows = max(len(frame) for _, _, frame, _ in blocks) + 1
    print_page(ws, f"A1:{get_column_letter(CONTRACTS_FIRST_COLUMN + 1)}{rows}")
    for row in grid:
        ws.append(row)
    for name, columns, frame, first in blocks:
        rows = places.get(name, len(frame))
        headers = [shown(c) for c in columns]
        add_table(ws, name, headers, rows, first_column=first, style="TableStyleMedium2")


def settings_sheet(wb: openpyxl.Workbook, billing_month: date | None, as_of: date | None) -> None:
    ws = wb.create_sheet(SETTINGS)
    ws.sheet_properties.codeName = "wsSettings"
    cells = Cells(ws)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 40
    ws.column_dimensions["C"].width = 60
    print_page(ws)
    ws.append([cells(h, bold=True) for h in ("Setting", "Value", "Notes")])
    values: dict[str, object] = {
        # Billers bill the month just ended.
        "BillingMonth": billing_month or "=DATE(YEAR(TODAY()),MONTH(TODAY())-1,1)",
        "AsOfDate": as_of or "=TODAY()",
    }
    for r, (name, label, note) in enumerate(SETTING_ROWS, start=2):
        value = values.get(name)
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        fmt = "yyyy-mm-dd" if name in ("BillingMonth", "AsOfDate") else "@"
        ws.append([label, cells(value, fmt), note])
        wb.defined_names[name] = DefinedName(name, attr_text=f"{SETTINGS}!$B${r}")


def default_tiers(rate_book: RateBook) -> list[int]:
    rates = rate_book.rates
    return sorted({int(t) for t in rates.loc[rates["payer"] == DEFAULT_PAYER, "tier"]})


def summary_sheet(
    wb: openpyxl.Workbook, contracts: Sequence[str], layout: Layout, tiers: Sequence[int]
) -> None:
    """Counts per contract, then members and dollars by tier and contract, with two charts.

    Everything is a formula over the All table (the default payer's rates), so the
    sheet is right without Python and after every front-end action, whatever contracts
    the extract holds: the first `SUMMARY_CONTRACT_ROWS` contracts of the Contracts table
    (Rates sheet; written by the fill and by Load Extract), each priced at its payer's
    rates. Dollars count what would be billed as the rows stand: a tier, and not
    deferred (blank Visit Start), as xl_pmpm.core.summary.visit_summary does; the total
    is the sum of the contracts shown.
    """
    ws = wb.create_sheet(SUMMARY)
    ws.sheet_properties.codeName = "wsSummary"
    key = layout.column("patient_number") or layout.export_columns[0]
    ws.column_dimensions["A"].width = 34
    for c, header in enumerate(SUMMARY_HEADERS[1:], start=2):
        ws.column_dimensions[get_column_letter(c)].width = max(16, len(header) + 4)
    for c in range(len(SUMMARY_HEADERS) + 1, 2 + 2 * len(tiers)):
        ws.column_dimensions[get_column_letter(c)].width = 16
    all_t = table_name(ALL)

    def ref(column: str) -> str:
        return f"{all_t}[{escape(column)}]"

    contract_col = ref(layout.name_of("contract"))
    at_risk, dollars = ref(ENGINE_HEADERS["at_risk"]), ref(ENGINE_HEADERS["dollar_effect"])
    risky = f'"{AT_RISK_MARK}"'
    start = layout.column("visit_start")
    # A deferred row (Visit Start cleared) goes up as a placeholder: no longer at risk.
    billable = f',{ref(start.name)},"<>"' if start is not None else ""
    cells = Cells(ws)
    # Printed on one landscape page, tables and both charts whole (sheetPr goes out first).
    chart_rows = SUMMARY_CONTRACT_ROWS + 4 + SUMMARY_CONTRACT_ROWS + 1
    unbilled_row = chart_rows + 2  # below the totals, a blank row between
    print_page(ws, f"A1:{get_column_letter(SUMMARY_CHART_COLUMN + CHART_COLUMNS)}{unbilled_row}")
    ws.page_setup.fitToHeight = 1
    ws.append([cells(h, bold=True) for h in SUMMARY_HEADERS])
    ws.append(
        [
            SUMMARY_TOTAL,
            f"=COUNTA({ref(key.name)})",
            f"=COUNTIFS({at_risk},{risky}{billable})",
            cells(f"=SUMIFS({dollars},{at_risk},{risky}{billable})", "#,##0.00"),
            f'=COUNTIF({ref(FINDINGS)},">0")',
            f'=COUNTIF({ref(ACTION)},"{DELETE}")',
            f'=COUNTIF({ref(ACTION)},"{DEFER}")',
        ]
    )
    for k, r in enumerate(range(3, 3 + SUMMARY_CONTRACT_ROWS), start=1):
        where = f"{contract_col},$A{r}"
        name = f"INDEX({column_of(CONTRACTS_TABLE, 'contract')},{k})"

        def count(more: str = "", r: int = r, where: str = where) -> str:
            return f'=IF($A{r}="","",COUNTIFS({where}{more}))'

        ws.append(
            [
                f'=IF({name}="","",{name})',
                count(),
                count(f",{at_risk},{risky}{billable}"),
                cells(
                    f'=IF($A{r}="","",SUMIFS({dollars},{where},{at_risk},{risky}{billable}))',
                    "#,##0.00",
                ),
                count(f',{ref(FINDINGS)},">0"'),
                count(f',{ref(ACTION)},"{DELETE}"'),
                count(f',{ref(ACTION)},"{DEFER}"'),
            ]
        )
    add_table(ws, SUMMARY, SUMMARY_HEADERS, 1 + SUMMARY_CONTRACT_ROWS, style="TableStyleLight9")

    # Members and dollars by tier (columns) and contract (rows), over the All table.
    ws.append([])
    top = SUMMARY_CONTRACT_ROWS + 4
    tier_col = ref(ENGINE_HEADERS["tier"])
    headers = ["Contract"] + [f"Tier {t} members" for t in tiers]
    headers += [f"Tier {t} dollars" for t in tiers]
    ws.append([cells(h, bold=True) for h in headers])
    for k, r in enumerate(range(3, 3 + SUMMARY_CONTRACT_ROWS), start=1):
        where = f",{contract_col},$A{r}"
        blank = f'$A{r}=""'
        # each contract at its payer's rates
        payer = f"INDEX({column_of(CONTRACTS_TABLE, 'payer')},{k})"
        members = [f'=IF({blank},"",COUNTIFS({tier_col},{t}{where}))' for t in tiers]
        money = [
            cells(
                f'=IF({blank},"",COUNTIFS({tier_col},{t}{where}{billable})*{tier_rate(t, payer)})',
                "#,##0.00",
            )
            for t in tiers
        ]
        ws.append([f'=IF({blank},"",$A{r})', *members, *money])
    members = [f"=COUNTIFS({tier_col},{t})" for t in tiers]
    first, last = top + 1, top + SUMMARY_CONTRACT_ROWS
    money = [
        cells(f"=SUM({get_column_letter(c)}{first}:{get_column_letter(c)}{last})", "#,##0.00")
        for c in range(2 + len(tiers), 2 + 2 * len(tiers))
    ]
    ws.append(["Total", *members, *money])
    add_table(
        ws,
        BY_TIER_TABLE,
        headers,
        SUMMARY_CONTRACT_ROWS + 1,
        first_row=top,
        style="TableStyleLight9",
    )
    n = len(tiers)
    chart_column = get_column_letter(SUMMARY_CHART_COLUMN)
    last = top + SUMMARY_CONTRACT_ROWS  # every contract place: blank ones stay empty
    for title, first_col, anchor, axis in (
        ("Members by tier and contract", 2, f"{chart_column}2", "Members"),
        ("Dollars by tier and contract", 2 + n, f"{chart_column}{2 + CHART_ROWS}", "Dollars"),
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
        chart.width, chart.height = CHART_SIZE
        ws.add_chart(chart, anchor)
    ws.append([])
    ws.append([cells(UNBILLED_LINE_LABEL, bold=True), unbilled_line()])
    ws.append([cells(PAID_LINE_LABEL, bold=True), paid_line()])


UNBILLED_LINE_LABEL = "Unbilled PMPM"


def unbilled_line() -> str:
    """Summary's "$N recoverable, nearest deadline D", live over the Unbilled sheet's table.

    The Unbilled button lists the recoverable rows first, nearest deadline first, so the
    first recoverable row holds the nearest deadline (as `Unbilled.totals` finds it).
    """
    status, dollars, last = (
        f"{UNBILLED_TABLE}[{escape(c)}]" for c in ("Status", "Dollars", "Last day")
    )
    found = f'{status},"{RECOVERABLE}"'
    return (
        f"=IF(COUNTIF({found})=0,"
        f'"$0 {RECOVERABLE} (press Unbilled to list the member-months left to bill)",'
        f'"$"&TEXT(SUMIFS({dollars},{found}),"#,##0.00")&" {RECOVERABLE}, nearest deadline "'
        f'&INDEX({last},MATCH("{RECOVERABLE}",{status},0)))'
    )


PAID_LINE_LABEL = "Paid PMPM"


def paid_line() -> str:
    """Summary's "$N paid of $M billed", live over the Paid sheet's table: the member-months
    the 835s answered (no-remittance rows are not counted as billed-and-answered)."""
    result, billed, paid = (f"{PAID_TABLE}[{escape(c)}]" for c in ("Result", "Billed", "Paid"))
    answered = f'{result},"<>{NO_REMITTANCE}"'
    return (
        f'=IF(COUNTIF({result},"?*")=0,"(press Paid to read the 835 remittances)",'
        f'"$"&TEXT(SUMIFS({paid},{answered}),"#,##0.00")&" paid of $"'
        f'&TEXT(SUMIFS({billed},{answered}),"#,##0.00")&" billed")'
    )


def help_rows(layout: Layout) -> list[tuple[str, str, str]]:
    """(kind, text, extra) lines of the Help sheet: kind is "h" (heading) or "" (text)."""
    billed = layout.name_of("billed_hours")
    authorized_column = layout.column("authorized_hours")
    authorized = authorized_column.name if authorized_column else "authorized hours"
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
            f"Tier for {billed}, from the row's payer's rates in force in the billing month "
            f"(Rates sheet). A payer billed on authorized hours (hours basis on the Tiers "
            f"table) is tiered on the row's {authorized} instead: that column is shown "
            "here and never exported; a row without it has no tier. Works without Python.",
        ),
        (
            "",
            ENGINE_HEADERS["tier_if_billed"],
            "The tier if the unbilled hours were billed too (for an authorized-hours payer, "
            "the same as Tier now: unbilled hours do not change it).",
        ),
        (
            "",
            ENGINE_HEADERS["at_risk"],
            f"{AT_RISK_MARK} when the two tiers differ (row shown orange).",
        ),
        ("", ENGINE_HEADERS["dollar_effect"], "Rate if billed minus rate now, when at risk."),
        ("", FINDINGS, "Number of problems Validate found (row shown light red)."),
        ("", ACTION, "Keep, Delete or Defer (blank = Keep)."),
        (
            "",
            "Payer-specific rates",
            "Each contract's payer is on the Rates sheet (Contracts, written by Load "
            "Extract from payers.csv); the Tiers table there holds each payer's own rates "
            "and hours basis by month, as Refresh Flags uses them.",
        ),
        (
            "",
            SUMMARY,
            "Rows, members at risk and dollars per contract (deferred rows go up as "
            "placeholders: not at risk); members and dollars by tier and contract (each at "
            "its payer's rates, deferred rows left out), with charts.",
        ),
        ("h", "Cell functions (need Python via xlwings)", ""),
    ]
    out += [("", f"{f.signature}   e.g. {f.example}", f.result) for f in CELL_FUNCTIONS]
    out += [
        ("h", "Service-code setup", ""),
        (
            "",
            "xl-pmpm service-setup FILE",
            "Run it on your Contract Service Code export (columns Contract, Discipline, "
            "Service Code, Description, Export Code, Revenue Code, HCPCS Code[, Modifier]). "
            "It checks each code against the rate table: HCPCS Code = the tier's rate code "
            "exactly, PA or Other (Skilled) to match the code, the payer's revenue code, and "
            "an Export Code of 2443/2444/2445 or CODE:::::DESCRIPTION. PMPM_EXPORT_CODE gives "
            "the Form Locator 43/44 text, not this field.",
        ),
        ("h", "Python", ""),
        (
            "",
            "The buttons and functions run Python through xlwings: `xl-pmpm install` writes "
            "Interpreter_Win (or Interpreter_Mac) on the xlwings.conf sheet for the python of "
            "the environment where xl_pmpm is installed; without it xlwings looks in your "
            "xlwings config files, then uses python on the PATH.",
            "",
        ),
    ]
    return out


# Help's columns (Excel's width units): A + B fit a landscape Letter page at PRINT_SCALE,
# with room to spare for a renderer whose default font is wider than Calibri.
HELP_WIDTHS = {"A": 48, "B": 72}
HELP_LINE_POINTS = 15  # one line of 11 pt text


def _wrapped_lines(text: str, width: float) -> int:
    """Lines `text` wraps to in a column `width` units wide (about a character a unit)."""
    return sum(len(textwrap.wrap(part, max(1, int(width)))) or 1 for part in text.split("\n"))


def help_sheet(wb: openpyxl.Workbook, layout: Layout) -> None:
    ws = wb.create_sheet(HELP)
    ws.sheet_properties.codeName = "wsHelp"
    widths = (HELP_WIDTHS["A"], HELP_WIDTHS["B"])
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = widths
    rows = help_rows(layout)
    # The two columns fit a landscape page at the report sheets' scale: 11 pt text prints
    # at 8.25 pt, the title on every page; a text longer than its column wraps inside it
    # (it would run past the page edge otherwise), its row as high as its lines (a
    # reader that does not measure wrapped rows, LibreOffice, overlaps them otherwise).
    print_readable(ws, area=f"A1:B{len(rows)}")
    heading = Font(bold=True, size=13)
    wrapped = Alignment(wrap_text=True, vertical="top")
    for n, (kind, text, extra) in enumerate(rows, start=1):
        lines = max(_wrapped_lines(t or "", w) for t, w in zip((text, extra), widths, strict=True))
        if lines > 1:
            ws.row_dimensions[n].height = lines * HELP_LINE_POINTS
        first = WriteOnlyCell(ws, text)
        first.alignment = wrapped
        if kind == "h":
            first.font = heading
        row: list[object] = [first]
        if extra:
            second = WriteOnlyCell(ws, extra)
            second.alignment = wrapped
            row.append(second)
        ws.append(row)


def config_sheet(wb: openpyxl.Workbook, config: Mapping[str, object] | None) -> None:
    # xlwings reads column A from A1 down to the first blank: no header row, no gaps.
    ws = wb.create_sheet(CONFIG)
    ws.sheet_properties.codeName = "wsXlwingsConf"
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 60
    # xlwings reads this sheet before the user's config files, and an entry here, even a
    # blank one, ends the lookup: only entries with a value are written.
    values: dict[str, object] = {"UDF Modules": UDF_MODULE, **(config or {})}
    for key, value in values.items():
        if value is not None and str(value).strip():
            ws.append([key, value])


def table_sheet(
    wb: openpyxl.Workbook,
    sheet: str,
    code_name: str,
    table: str,
    headers: list[str],
    style: str,
    rows: pd.DataFrame | None = None,
    text_columns: Sequence[str] | None = None,
) -> None:
    """A sheet holding one Excel Table: `rows` (columns `headers`), or one blank row.

    Text columns (`text_columns`, else every column without `rows`) stay text ("@"), as
    the front end writes them; numbers are numbers.
    """
    ws = wb.create_sheet(sheet)
    ws.sheet_properties.codeName = code_name
    text = set(headers if text_columns is None else text_columns)
    body: list[list[object]] = []
    if rows is not None and len(rows):
        frame = rows.reindex(columns=headers)
        text = {h for h in headers if not pd.api.types.is_numeric_dtype(frame[h])}
        frame = frame.astype(object).where(frame.notna(), None)
        body = frame.to_numpy().tolist()
    for c, header in enumerate(headers, start=1):  # the front end writes text here
        if header in text:
            ws.column_dimensions[get_column_letter(c)].number_format = "@"
    formats = dict.fromkeys(text, "@")
    write_table(ws, table, headers, body, formats=formats, style=style)
