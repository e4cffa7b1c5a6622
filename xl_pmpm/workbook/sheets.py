"""The workbook's structure, shared by the template builder and the xlwings front end.

Pure Python: sheet names, the columns of a Tier Report table and the names Excel
gives them. ``template.py`` builds the workbook from these and ``excel/frontend.py``
reads and writes it by the same names, so the two cannot drift apart.

A Tier Report sheet ("All" and one per contract) is one Excel Table:
``Line`` (the extract's own line number: header = 1, first row = 2; the stable
identity of a row for delete, defer, restore and the Validation links), the
layout's columns, then ``ENGINE_COLUMNS``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from xl_pmpm.core.entries import ENTRY_COLUMNS
from xl_pmpm.core.findings import FINDING_COLUMNS
from xl_pmpm.core.flags import ENGINE_HEADERS
from xl_pmpm.core.kpi import KPI_COLUMNS, KPI_TABLES
from xl_pmpm.core.review import ARCHIVE_META
from xl_pmpm.io.workbook_reader import ACTION, FINDINGS, LINE, ORIGINAL_SHEET

__all__ = [
    "ACTION",
    "ACTIONS",
    "ALL",
    "CONFIG",
    "DEFER",
    "DEFERRED",
    "DEFERRED_COLUMNS_META",
    "DELETE",
    "ENGINE_COLUMNS",
    "FINDINGS",
    "FLAG_COLUMNS",
    "HELP",
    "HISTORY",
    "HISTORY_COLUMNS",
    "HISTORY_TABLE",
    "KEEP",
    "KPI",
    "KPI_TABLE_NAMES",
    "KPI_TEXT_COLUMNS",
    "LINE",
    "ORIGINAL",
    "RATES",
    "RESERVED_SHEETS",
    "SETTINGS",
    "STAMP_FORMAT",
    "SUMMARY",
    "VALIDATION",
    "VALIDATION_COLUMNS",
    "kpi_first_columns",
    "report_columns",
    "report_sheet_names",
    "sanitize_sheet_name",
    "stamp_text",
    "table_name",
]

ALL = "All"
DEFERRED = "Deferred"
VALIDATION = "Validation"
SETTINGS = "Settings"
SUMMARY = "Summary"
HELP = "Help"
RATES = "Rates"
# Excel reserves the sheet name "History" (it refuses it), hence "Export History".
HISTORY = "Export History"
HISTORY_TABLE = "ExportHistory"
KPI = "KPI"
CONFIG = "xlwings.conf"
ORIGINAL = ORIGINAL_SHEET  # hidden: the extract as loaded, for the locked-field check
RESERVED_SHEETS = (ALL, RATES, SETTINGS, DEFERRED, VALIDATION, SUMMARY, HELP, HISTORY)
RESERVED_SHEETS += (KPI, CONFIG, ORIGINAL)

KEEP, DELETE, DEFER = "Keep", "Delete", "Defer"
ACTIONS = (KEEP, DELETE, DEFER)
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

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


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
