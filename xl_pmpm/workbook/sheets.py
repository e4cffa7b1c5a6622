"""The workbook's structure, shared by the template builder and the xlwings front end.

Pure Python: the columns of a Tier Report table and of the other sheets' tables, and
the names Excel gives them (the sheet and table names themselves, and the words the
workbook adds, are `core.vocabulary`'s). ``template.py`` builds the workbook from these
and ``excel/`` reads and writes it by the same names, so the two cannot drift apart.

A Tier Report sheet ("All" and one per contract) is one Excel Table:
``Line`` (the extract's own line number: header = 1, first row = 2; the stable
identity of a row for delete, defer, restore and the Validation links), the
layout's columns, then ``ENGINE_COLUMNS``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd

from xl_pmpm.core.entries import ENTRY_COLUMNS
from xl_pmpm.core.findings import FINDING_COLUMNS
from xl_pmpm.core.kpi import KPI_COLUMNS, KPI_TABLES
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RATE_COLUMNS, RateBook
from xl_pmpm.core.review import ARCHIVE_META
from xl_pmpm.core.vocabulary import (
    ACTION,
    ALL,
    ENGINE_HEADERS,
    FINDINGS,
    LINE,
    RESERVED_SHEETS,
)

__all__ = [
    "CONTRACTS_FIRST_COLUMN",
    "CONTRACT_COLUMNS",
    "CONTRACT_PLACES",
    "DEFERRED_COLUMNS_META",
    "ENGINE_COLUMNS",
    "FLAG_COLUMNS",
    "HISTORY_COLUMNS",
    "KPI_TABLE_NAMES",
    "KPI_TEXT_COLUMNS",
    "STAMP_FORMAT",
    "SUMMARY_CONTRACT_ROWS",
    "SUMMARY_TOTAL",
    "TIERS_FIRST_COLUMN",
    "TIER_COLUMNS",
    "VALIDATION_COLUMNS",
    "kpi_first_columns",
    "report_columns",
    "report_sheet_names",
    "sanitize_sheet_name",
    "shown",
    "field_of",
    "DISPLAY_NAMES",
    "contract_payers",
    "extract_contracts",
    "stamp_text",
    "table_name",
]

# The Summary's first table: a total row, then this many contract places (column A,
# written by the fill and by Load Extract); every count is a formula over the All table.
SUMMARY_TOTAL = ALL  # the total row: the All sheet's rows
SUMMARY_CONTRACT_ROWS = 20
# The Rates sheet: the rate book (table "Rates", from A1), then what the formulas look up
# side by side, a blank column between: "Tiers" (each payer's resolved tiers over time)
# and "Contracts" (each contract of the extract and its payer, CONTRACT_PLACES places,
# written by the fill and by Load Extract).
TIER_COLUMNS = [
    "payer",
    "hours_basis",
    "tier",
    "min_hours",
    "max_hours",
    "rate_code",
    "rate",
    "effective_from",
    "effective_to",
]
CONTRACT_COLUMNS = ["contract", "payer"]
CONTRACT_PLACES = 200
TIERS_FIRST_COLUMN = len(RATE_COLUMNS) + 2
CONTRACTS_FIRST_COLUMN = TIERS_FIRST_COLUMN + len(TIER_COLUMNS) + 1
# The Unbilled sheet's columns: the Unbilled button writes them, Summary's line reads them.
UNBILLED_HEADERS = ["Status", "Days left", "Last day", "Month", "Payer", "Contract"]
UNBILLED_HEADERS += ["Patient Number", "Patient Name", "Billed hours", "Tier", "Rate code"]
UNBILLED_HEADERS += ["Dollars", "Reason", "What to do"]
UNBILLED_TEXT = ("Last day", "Month", "Payer", "Contract", "Patient Number", "Rate code")
# The Paid sheet's columns: the Paid button writes them, Summary's line reads them.
PAID_HEADERS = ["Result", "Days left", "Last day", "Month", "Payer", "Contract"]
PAID_HEADERS += ["Patient Number", "Tier", "Billed", "Paid", "Difference", "Paid tier"]
PAID_HEADERS += ["Reason code", "Reason", "Claims", "What to do"]
PAID_TEXT = ("Last day", "Month", "Payer", "Contract", "Patient Number", "Reason code")

FLAG_COLUMNS = [
    ENGINE_HEADERS["tier"],
    ENGINE_HEADERS["tier_if_billed"],
    ENGINE_HEADERS["at_risk"],
    ENGINE_HEADERS["dollar_effect"],
]
ENGINE_COLUMNS = [*FLAG_COLUMNS, FINDINGS, ACTION]
VALIDATION_COLUMNS = [*FINDING_COLUMNS, "link"]
DEFERRED_COLUMNS_META = list(ARCHIVE_META)
HISTORY_COLUMNS = list(ENTRY_COLUMNS)
# The KPI sheet: one Excel Table per table of xl_pmpm.core.kpi, side by side from row 1
# (a blank column between), so each grows downwards without touching the others.
# Table names: "by_month" -> "KpiByMonth".
KPI_TABLE_NAMES = {key: "Kpi" + key.title().replace("_", "") for key in KPI_TABLES}
KPI_TEXT_COLUMNS = ("month", "payer")  # "2026-10" typed in a General cell becomes a date

# Archive timestamps as written into cells: text Excel shows as is on every platform.
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_EXCEL_EPOCH = datetime(1899, 12, 30)
_ISO_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?Z?$")

# Excel refuses these in a sheet name; control characters (a line break in a contract) too.
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")


# The header a biller reads for a field the core names with an identifier: one table for
# every sheet that shows such fields (Rates, Deferred, Export History, KPI). A field not
# listed shows as itself, underscores as spaces, first letter capitalised.
DISPLAY_NAMES = {
    "id": "ID",
    "sha256": "File SHA-256",
    "row_hash": "Row fingerprint",
    "archived_at": "Archived at",
    "exported_at": "Exported at",
    "updated_at": "Updated at",
    "file_name": "File name",
    "revenue_per_member": "Revenue per member (PMPM)",
    "share_change": "Share change",
    "min_hours": "From hours",
    "max_hours": "Below hours",
    "hours_basis": "Hours basis",
    "skilled_service_code": "Skilled service code",
    "effective_from": "Effective from",
    "effective_to": "Effective to",
}


def shown(field: str) -> str:
    """The header a biller reads for the core's field name `field`."""
    name = DISPLAY_NAMES.get(field)
    if name is None:
        text = field.replace("_", " ")
        name = text[:1].upper() + text[1:]
    return name


def field_of(header: object, fields: Sequence[str]) -> str:
    """The field of `fields` whose header is `header` (a field's own name is taken too)."""
    text = "" if header is None else str(header)
    for field in fields:
        if text in (field, shown(field)):
            return field
    return text


def report_columns(data_columns: Sequence[str]) -> list[str]:
    """The header of a Tier Report table: Line, the data columns, the engine columns."""
    return [LINE, *data_columns, *ENGINE_COLUMNS]


def kpi_first_columns() -> dict[str, int]:
    """{KPI table key: its first column (1-based)} on the KPI sheet."""
    out, column = {}, 1
    for key in KPI_TABLES:
        out[key] = column
        column += len(KPI_COLUMNS[key]) + 1
    return out


def sanitize_sheet_name(name: str, taken: set[str]) -> str:
    """A legal, unused sheet name: no []:*?/\\, no edge apostrophes, at most 31 characters.

    `taken` holds the casefolded names in use; the new name is added to it.
    """
    base = _BAD_SHEET_CHARS.sub("-", name).strip().strip("'").strip() or "Sheet"
    base = base[:31]
    candidate, n = base, 2
    while candidate.casefold() in taken or candidate.casefold() == "history":
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(candidate.casefold())
    return candidate


def extract_contracts(rows: pd.DataFrame | None, layout: Layout) -> list[str]:
    """The contracts an extract's rows hold (stripped, sorted, blanks left out)."""
    contract = layout.name_of("contract")
    if rows is None or contract not in rows:
        return []
    values = rows[contract].fillna("").astype(str).str.strip()
    return sorted(set(values[values != ""]))


def contract_payers(rate_book: RateBook, contracts: Sequence[str]) -> list[list[str]]:
    """[contract, payer] of each contract, by the rate book's payers (the engine's rule)."""
    payers = rate_book.payer_for_contracts(pd.Series(list(contracts), dtype=object))
    return [[c, str(p)] for c, p in zip(contracts, payers, strict=True)]


def report_sheet_names(contracts: Sequence[str]) -> dict[str, str]:
    """{contract: sheet name} for the per-contract Tier Report sheets, in the given order."""
    taken = {s.casefold() for s in RESERVED_SHEETS}
    return {c: sanitize_sheet_name(c, taken) for c in contracts}


def table_name(sheet: str) -> str:
    """Excel Table name of a Tier Report sheet: ``Report_`` + the name's letters and digits."""
    return "Report_" + (re.sub(r"[^0-9A-Za-z]+", "_", sheet).strip("_") or "Sheet")


def stamp_text(value: object) -> str:
    """An archive timestamp as ``YYYY-MM-DD HH:MM:SS`` text, whatever form the cell held.

    Accepts the core's ISO form (``2026-11-05T09:30:00``), the text form, a datetime
    (a cell Excel turned into a date) or an Excel serial number; other text is kept.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(STAMP_FORMAT)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).strftime(STAMP_FORMAT)
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = _EXCEL_EPOCH + timedelta(days=float(value))
        return (
            (moment + timedelta(microseconds=500_000)).replace(microsecond=0).strftime(STAMP_FORMAT)
        )
    text = str(value).strip()
    m = _ISO_STAMP.match(text)
    if m is None:
        return text
    clock = m[2] if len(m[2]) == 8 else m[2] + ":00"
    return f"{m[1]} {clock}"
