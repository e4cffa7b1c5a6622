"""The workbook's ribbon buttons and cell functions: one table each.

Everything Excel sees of them is generated from these rows (:mod:`xl_pmpm.workbook.macros`):
the ribbon XML, the VBA callbacks that hand the workbook to Python, the VBA wrappers
that make the cell functions exist when the workbook opens, and the Help sheet's rows;
the xlwings front end (:mod:`xl_pmpm.excel.udfs`, :mod:`xl_pmpm.excel.lite_main`)
registers the functions and scripts from the same rows.

Adding a button: one `Button` row here and its function in ``xl_pmpm.excel.frontend``.
Adding a cell function: one `CellFunction` row here and its column function in
``xl_pmpm.excel.udfs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from xl_pmpm.core.rates import DEFAULT_PAYER

FRONTEND_MODULE = "xl_pmpm.excel.frontend"
UDF_MODULE = "xl_pmpm.excel.udfs"
# What a cell function's result and its meaning are separated by in `CellFunction.result`.
HELP_SEPARATOR = " — "


@dataclass(frozen=True)
class Button:
    """A ribbon button: `function` is the front end's ``function(book)`` it runs."""

    label: str
    group: str
    image: str  # an imageMso name
    function: str
    screentip: str
    supertip: str
    help: str  # one line on the Help sheet

    @property
    def callback(self) -> str:
        """The VBA Sub the ribbon calls (``PMPM_LoadExtract``)."""
        return "PMPM_" + self.label.title().replace(" ", "")

    @property
    def control_id(self) -> str:
        return "pmpm" + self.callback.removeprefix("PMPM_")

    @property
    def run_python(self) -> str:
        """The RunPython string: xlwings runs it as ``python -c "...; <string>"`` and binds
        nothing else, so it imports everything it names. No double quote: the Windows
        command line wraps it in double quotes."""
        return f"import xlwings as xw, {FRONTEND_MODULE} as f; f.{self.function}(xw.Book.caller())"


GROUPS = ("This month", "Rows", "Finish")

BUTTONS: tuple[Button, ...] = (
    Button(
        "Load Extract",
        "This month",
        "ImportTextFile",
        "load_extract",
        "Load this month's Tier Report",
        "Pick the PMPM Tier Report/Extract CSV you downloaded from HHAeXchange (a file "
        "picker opens; Settings' Extract file is used where there is none). Its rows go onto "
        "the All sheet and one sheet per contract; the file itself is never changed.",
        "Reads the extract into All and one sheet per contract.",
    ),
    Button(
        "Refresh Flags",
        "This month",
        "RefreshAll",
        "refresh_flags",
        "Recheck tiers and at-risk members",
        "The tier columns are formulas that follow your edits at once: each member's tier "
        "from billed hours, the tier they would reach if their unbilled hours were billed, "
        "and the dollars at stake, with each payer's own rates. This writes the formulas "
        "back over any cell typed over and counts the rows at risk.",
        "Writes the tier formulas back and counts the rows at risk.",
    ),
    Button(
        "Validate",
        "This month",
        "DataValidation",
        "validate",
        "Check the rows before you upload",
        "Looks for what makes the import reject a file: wrong IDs, dates in the wrong "
        "format, missing fields, wrong tier or service code. The problems are listed on the "
        "Validation sheet with a link to each row.",
        "Lists problems on the Validation sheet, with links to rows.",
    ),
    Button(
        "Delete Rows",
        "Rows",
        "SheetRowsDelete",
        "delete_rows",
        "Take rows out of this month's upload",
        "Removes the rows marked Delete in the Action column. A copy of each row is kept on "
        "the Deferred sheet and in the archive folder, so Restore can bring it back.",
        "Removes rows marked Delete; copies go to the archive.",
    ),
    Button(
        "Defer Rows",
        "Rows",
        "DateAndTimeInsert",
        "defer_rows",
        "Upload rows as placeholders until their visits are billed",
        "Clears Visit Start and Visit End of the rows marked Defer: they stay in the upload "
        "and remain in HHAeXchange's pre-billing as unconfirmed placeholders. The original "
        "times are kept on the Deferred sheet; Restore puts them back.",
        "Clears the visit times of rows marked Defer (placeholders in the upload).",
    ),
    Button(
        "Restore",
        "Rows",
        "Undo",
        "restore_rows",
        "Bring deleted or deferred rows back",
        "Puts rows you deleted or deferred back as they were, from the Deferred sheet.",
        "Brings deleted or deferred rows back from the archive.",
    ),
    Button(
        "Export",
        "Finish",
        "ExportTextFile",
        "export",
        "Save the file to upload to HHAeXchange",
        "Writes the file for the PMPM Confirmed Visit Import into the export folder named on "
        "the Settings sheet. Refused while Validate finds errors: the import rejects them.",
        "Writes the import CSV to the export folder.",
    ),
    Button(
        "History",
        "Finish",
        "ReviewTrackChanges",
        "show_history",
        "What was exported, when, in which file",
        "Lists the export ledger on the Export History sheet: one line per member and month "
        "exported, with the file name and the import's result. The ledger file is named on "
        "the Settings sheet.",
        "Lists the export ledger's entries on the Export History sheet.",
    ),
    Button(
        "KPIs",
        "Finish",
        "ChartTypeColumnInsertGallery",
        "show_kpis",
        "Revenue per member, tiers and payers, month by month",
        "Fills the KPI sheet from the export ledger: revenue per member per month (PMPM), "
        "members and revenue by tier, the tier mix month over month and each payer's "
        "figures, with charts. Pending and rejected exports do not count.",
        "Fills the KPI sheet from the export ledger: revenue per member per month (PMPM), "
        "members and revenue by tier, the tier mix and each payer's figures, with charts.",
    ),
    Button(
        "Unbilled",
        "Finish",
        "AccountingFormat",
        "show_unbilled",
        "Member-months with care billed but no PMPM, and days left to bill them",
        "Fills the Unbilled sheet from the visits files named on the Settings sheet and the "
        "export ledger: every member-month with billed direct care hours whose PMPM was never "
        "exported, was rejected, deleted, deferred or left a placeholder, with the dollars and "
        "the days left in its 90-day window, nearest deadline first; lost ones below.",
        "Lists unbilled member-months with dollars and days left on the Unbilled sheet.",
    ),
    Button(
        "Paid",
        "Finish",
        "AccountingFormat",
        "show_paid",
        "What the payers paid of each exported PMPM (835 remittances)",
        "Fills the Paid sheet from the 835 remittance files named on the Settings sheet and "
        "the export ledger: each exported member-month paid, underpaid, paid at a lower "
        "tier, denied (with the reason code), reversed, or with no remittance after the "
        "payer's days; what can be re-billed first.",
        "Lists what the 835 remittances paid of each exported PMPM on the Paid sheet.",
    ),
    Button(
        "Help",
        "Finish",
        "Help",
        "show_help",
        "How the month goes",
        "Opens the Help sheet: the steps of a billing month, what each button does and the "
        "tier functions you can type in a cell.",
        "Shows this sheet.",
    ),
)


REQUIRED = object()  # an argument without a default


@dataclass(frozen=True)
class Arg:
    name: str
    default: object = REQUIRED
    ndim: int | None = 2  # 2: a range arrives as a 2D list, a scalar as [[x]]

    @property
    def optional(self) -> bool:
        return self.default is not REQUIRED


@dataclass(frozen=True)
class CellFunction:
    """A cell function ``name(args)``: `column` is the udfs function that computes it."""

    name: str
    column: str
    args: tuple[Arg, ...]
    doc: str
    example: str  # a formula
    result: str  # what the example shows, HELP_SEPARATOR, what it means

    @property
    def signature(self) -> str:
        """``PMPM_TIER(hours, [payer], [month])``, as the Help sheet shows it."""
        shown = [f"[{a.name}]" if a.optional else a.name for a in self.args]
        return f"{self.name}({', '.join(shown)})"


_HOURS_ARGS = (Arg("hours"), Arg("payer", DEFAULT_PAYER, None), Arg("month", None, None))
# The payer last: formulas written before it was there keep their meaning.
_BILLED_ARGS = (
    Arg("billed"),
    Arg("unbilled"),
    Arg("month", None, None),
    Arg("payer", DEFAULT_PAYER, None),
)

CELL_FUNCTIONS: tuple[CellFunction, ...] = (
    CellFunction(
        "PMPM_TIER",
        "tier_column",
        _HOURS_ARGS,
        "The PMPM tier for these billed hours.",
        "=PMPM_TIER(159.5)",
        "1 — the tier for these billed hours (Tier 2 starts at 160).",
    ),
    CellFunction(
        "PMPM_RATE_CODE",
        "rate_code_column",
        _HOURS_ARGS,
        "The rate code for these billed hours.",
        "=PMPM_RATE_CODE(200)",
        "2444 — the rate code of the tier.",
    ),
    CellFunction(
        "PMPM_RATE",
        "rate_column",
        _HOURS_ARGS,
        "The PMPM rate for these billed hours.",
        '=PMPM_RATE(500,"*","2025-03")',
        "1046.36 — the monthly PMPM rate in force for the payer in that month.",
    ),
    CellFunction(
        "PMPM_TIER_IF_BILLED",
        "tier_if_billed_column",
        _BILLED_ARGS,
        "The tier if the unbilled hours were billed too, with the payer's own tiers.",
        '=PMPM_TIER_IF_BILLED(155,10,"2025-03","Sample Health Plan")',
        "2 — the tier if the unbilled hours were billed too (that payer's tiers; without a "
        "payer, the default payer's).",
    ),
    CellFunction(
        "PMPM_AT_RISK",
        "at_risk_column",
        _BILLED_ARGS,
        "Dollars billing the unbilled hours would add at the payer's rates (0 when the tier "
        "would not change).",
        '=PMPM_AT_RISK(155,10,"2025-03","Sample Health Plan")',
        "245 — dollars billing the unbilled hours would add at that payer's rates, as the "
        "row's Dollar effect shows (0 when the tier stays; without a payer, the default "
        "payer's rates: 241.39).",
    ),
    CellFunction(
        "PMPM_SUBMIT_WINDOW",
        "submit_window_rows",
        (Arg("month"),),
        "First and last submission day of the month's PMPM import.",
        '=PMPM_SUBMIT_WINDOW("2025-03")',
        "2025-04-01, 2025-06-29 — the first and last day the month's PMPM may be submitted.",
    ),
    CellFunction(
        "PMPM_PRORATE",
        "prorate_cost_column",
        (Arg("rate"), Arg("first_day"), Arg("last_day")),
        "Cost of a PMPM service: full months at the rate, partial months prorated by days.",
        "=PMPM_PRORATE(146.45,DATE(2024,1,17),DATE(2024,3,10))",
        "264.55 — full months at the rate, partial months by days: 146.45 x (15/31 + 1 + 10/31).",
    ),
    CellFunction(
        "PMPM_UNITS",
        "units_column",
        (Arg("first_day"), Arg("last_day")),
        "Units of a PMPM service: the calendar months it touches.",
        "=PMPM_UNITS(DATE(2024,1,17),DATE(2024,3,10))",
        "3 — the calendar months the PMPM service touches.",
    ),
    CellFunction(
        "PMPM_CLAIM_DATES",
        "claim_dates_rows",
        (Arg("month"), Arg("payer", DEFAULT_PAYER)),
        "Claim From and Through dates of the month for the payer (a 1x2 row per month).",
        '=PMPM_CLAIM_DATES("2024-11","Elderplan")',
        "2024-11-01, 2024-11-01 — Claim From and Through: the payer settings give Elderplan "
        "the 1st for both, other payers the first and last day of the month.",
    ),
    CellFunction(
        "PMPM_EXPORT_CODE",
        "export_code_column",
        (Arg("code"), Arg("description", ""), Arg("modifier", None)),
        "The Form Locator 43/44 text of a PMPM service: CODE:::::DESCRIPTION (five colons, a "
        "modifier's counting); blank for 2443, 2444 and 2445, whose export code stays off. "
        "Not the service setup's Export Code field: check that with xl-pmpm service-setup.",
        '=PMPM_EXPORT_CODE("T2040","PMPM","HI")',
        "T2040:HI::::PMPM — the Form Locator 43/44 text (five colons, a modifier's counting); "
        "blank for 2443, 2444 and 2445.",
    ),
)
