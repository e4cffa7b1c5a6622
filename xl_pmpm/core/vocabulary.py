"""The billers' workbook's vocabulary: its sheet and table names, the columns it adds to a
tier report and the words those columns hold. Defined here only (the architecture test
checks it): the workbook reader (`io/workbook_reader.py`), the builder (`workbook/`) and
the front end (`excel/`) import them, so what one writes the others find.
"""

from __future__ import annotations

# --- sheets ------------------------------------------------------------------------------
ALL = "All"  # the whole extract; a per-contract sheet beside it for each contract
RATES = "Rates"
SETTINGS = "Settings"
DEFERRED = "Deferred"
VALIDATION = "Validation"
SUMMARY = "Summary"
HELP = "Help"
# Excel reserves the sheet name "History" (it refuses it), hence "Export History".
HISTORY = "Export History"
KPI = "KPI"
UNBILLED = "Unbilled"  # member-months earned and not billed (the Unbilled button)
PAID = "Paid"  # each exported member-month's 835 result (the Paid button)
CONFIG = "xlwings.conf"  # xlwings' own settings sheet
ORIGINAL_SHEET = "_original"  # the extract as loaded, for the locked-field check
HIDDEN_SHEETS = (ORIGINAL_SHEET,)
# Names a contract's sheet may not take.
RESERVED_SHEETS = (
    *(ALL, RATES, SETTINGS, DEFERRED, VALIDATION, SUMMARY, HELP, HISTORY, KPI),
    *(CONFIG, ORIGINAL_SHEET, UNBILLED, PAID),
)

# --- Excel Tables (besides each Tier Report sheet's `workbook.sheets.table_name`) --------
RATES_TABLE = RATES  # Rates sheet: the rate book
TIERS_TABLE = "Tiers"  # Rates sheet: each payer's resolved tiers over time
CONTRACTS_TABLE = "Contracts"  # Rates sheet: each contract of the extract and its payer
HISTORY_TABLE = "ExportHistory"
UNBILLED_TABLE = "UnbilledRows"
PAID_TABLE = "PaidRows"

# --- the columns the workbook adds to a tier report ---------------------------------------
# Line: the extract's own line number (header = 1, first row = 2), a row's identity.
LINE, FINDINGS, ACTION = "Line", "Findings", "Action"
# The engine's columns beside the layout's (`core.flags.flag_tier_risk` field: header).
ENGINE_HEADERS = {
    "tier": "Tier now",
    "rate": "Rate",
    "tier_if_billed": "Tier if billed",
    "rate_if_billed": "Rate if billed",
    "at_risk": "At risk",
    "dollar_effect": "Dollar effect",
}
# The tier column's header in workbooks made before it became "Tier now".
OLD_TIER_HEADER = "Tier (engine)"
# Columns the workbook adds to the report: computed or workbook-only, never data.
WORKBOOK_COLUMNS = frozenset([LINE, FINDINGS, ACTION, OLD_TIER_HEADER, *ENGINE_HEADERS.values()])

# --- the words in those columns -----------------------------------------------------------
KEEP, DELETE, DEFER = "Keep", "Delete", "Defer"  # the Action column's choices
ACTIONS = (KEEP, DELETE, DEFER)
AT_RISK_MARK = "Yes"  # the At risk column of a row whose tier would change (else blank)
