"""Cell functions over the core: tiers, rates, at-risk dollars, dates, proration, export codes.

Each takes a scalar or a whole column (a 2D list, as Excel passes a range) and
returns a column in one call; blanks and text give "" rather than an error.
Dates from Excel's custom-function runtime arrive as serial numbers (epoch
1899-12-30) and are converted. The ``PMPM_*`` functions carry ``xw.func`` for
desktop Excel (a pass-through on Linux); ``lite_main.py`` re-exports them for
xlwings Lite. The plain ``*_column`` functions can be called from Python.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd
import xlwings as xw

from .. import files
from ..claims import claim_dates_for, export_code, submission_window
from ..errors import PmpmInputError
from ..flags import flag_tier_risk
from ..layout import Layout
from ..rates import DEFAULT_PAYER, RateBook
from ..spans import calendar_months, prorate_column

EXCEL_EPOCH = date(1899, 12, 30)
Grid = list[list[Any]]

# The Help sheet lists these: (signature, example formula, result). Every PMPM_* function
# has one. A result is what the example shows in the cell ("a, b" when it fills two cells),
# then HELP_SEPARATOR and what it means; a test evaluates every example against its result.
HELP_SEPARATOR = " — "
HELP_FUNCTIONS = (
    (
        "PMPM_TIER(hours, [payer], [month])",
        "=PMPM_TIER(159.5)",
        "1 — the tier for these billed hours (Tier 2 starts at 160).",
    ),
    (
        "PMPM_RATE_CODE(hours, [payer], [month])",
        "=PMPM_RATE_CODE(200)",
        "2444 — the rate code of the tier.",
    ),
    (
        "PMPM_RATE(hours, [payer], [month])",
        '=PMPM_RATE(500,"*","2025-03")',
        "1046.36 — the monthly PMPM rate in force for the payer in that month.",
    ),
    (
        "PMPM_TIER_IF_BILLED(billed, unbilled, [month])",
        "=PMPM_TIER_IF_BILLED(155,10)",
        "2 — the tier if the unbilled hours were billed too.",
    ),
    (
        "PMPM_AT_RISK(billed, unbilled, [month])",
        '=PMPM_AT_RISK(155,10,"2025-03")',
        "241.39 — dollars billing the unbilled hours would add (0 when the tier stays).",
    ),
    (
        "PMPM_SUBMIT_WINDOW(month)",
        '=PMPM_SUBMIT_WINDOW("2025-03")',
        "2025-04-01, 2025-06-29 — the first and last day the month's PMPM may be submitted.",
    ),
    (
        "PMPM_PRORATE(rate, start, end)",
        "=PMPM_PRORATE(146.45,DATE(2024,1,17),DATE(2024,3,10))",
        "264.55 — full months at the rate, partial months by days: 146.45 x (15/31 + 1 + 10/31).",
    ),
    (
        "PMPM_UNITS(start, end)",
        "=PMPM_UNITS(DATE(2024,1,17),DATE(2024,3,10))",
        "3 — the calendar months the PMPM service touches.",
    ),
    (
        "PMPM_CLAIM_DATES(month, [payer])",
        '=PMPM_CLAIM_DATES("2024-11","Elderplan")',
        "2024-11-01, 2024-11-01 — Claim From and Through: the payer settings give Elderplan "
        "the 1st for both, other payers the first and last day of the month.",
    ),
    (
        "PMPM_EXPORT_CODE(code, [description], [modifier])",
        '=PMPM_EXPORT_CODE("T2040","PMPM","HI")',
        "T2040:HI::::PMPM — the Export Code (five colons, a modifier's counting); "
        "blank for 2443, 2444 and 2445.",
    ),
)


@lru_cache(maxsize=1)
def rate_book() -> RateBook:
    """The bundled rate book, loaded once per process (the shell's cache, not the core's)."""
    return files.load_rate_book()


@lru_cache(maxsize=1)
def layout() -> Layout:
    return files.load_layout()


def _grid(values: Any) -> Grid:
    """A scalar, a 1D list or a 2D list as a 2D list."""
    if isinstance(values, list | tuple):
        if values and isinstance(values[0], list | tuple):
            return [list(r) for r in values]
        return [[v] for v in values]
    return [[values]]


def _flat(values: Any) -> tuple[list[Any], int]:
    grid = _grid(values)
    width = max((len(r) for r in grid), default=1) or 1
    return [v for r in grid for v in (list(r) + [None] * (width - len(r)))], width


def _shape(flat: list[Any], width: int) -> Grid:
    return [flat[i : i + width] for i in range(0, len(flat), width)] or [[""]]


def _number(value: Any) -> float:
    """A real number, NaN for blanks, text, booleans and errors."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _scalar(value: Any) -> Any:
    while isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    return value


def _aligned(*values: Any) -> tuple[list[list[Any]], int]:
    """Arguments as flat columns of one length; a single cell applies to every row.

    The result takes the shape (width) of the longest argument; shorter ones are padded
    with blanks.
    """
    flats = [_flat(v) for v in values]
    n = max(len(f) for f, _ in flats)
    width = next(w for f, w in flats if len(f) == n)
    return [f * n if len(f) == 1 else (f + [None] * n)[:n] for f, _ in flats], width


def excel_date(value: Any) -> pd.Timestamp | None:
    """The day of a cell value: serial number, date or YYYY-MM-DD text; None otherwise."""
    value = _scalar(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            return pd.Timestamp(EXCEL_EPOCH + timedelta(days=int(value)))
        if isinstance(value, datetime | date):
            return pd.Timestamp(value).normalize()
        return pd.Timestamp(datetime.strptime(str(value).strip(), "%Y-%m-%d"))
    except (ValueError, OverflowError):  # not a date, or a serial no calendar holds
        return None


def _text(value: Any) -> str:
    """A cell as text; whole numbers without ".0" (a code typed as 2443 arrives as 2443.0)."""
    value = _scalar(value)
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def excel_month(value: Any) -> pd.Timestamp | None:
    """First day of the month of a cell value: serial number, date or text; None if blank."""
    value = _scalar(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not a month")
    if isinstance(value, int | float):
        value = EXCEL_EPOCH + timedelta(days=int(value))
    if isinstance(value, datetime | date):
        return pd.Period(value, freq="M").to_timestamp()
    return pd.Period(str(value).strip(), freq="M").to_timestamp()


def _payer(payer: Any) -> str:
    payer = _scalar(payer)
    return DEFAULT_PAYER if payer in (None, "") else str(payer).strip()


def _out(series: pd.Series) -> list[Any]:
    values = series.astype(object)
    return [
        "" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v
        for v in values
    ]


def _assign(hours: Any, payer: Any, month: Any, field: str) -> Grid:
    flat, width = _flat(hours)
    numbers = pd.Series([_number(v) for v in flat], dtype="float64")
    picked = rate_book().assign(numbers, _payer(payer), excel_month(month))[field]
    values = _out(picked)
    if field == "tier":
        values = [int(v) if v != "" else "" for v in values]
    return _shape(values, width)


def tier_column(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Grid:
    """Tier of each value of `hours` ("" for blanks, text and hours under every tier)."""
    return _assign(hours, payer, month, "tier")


def rate_code_column(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Grid:
    """Rate code of each value of `hours`."""
    return _assign(hours, payer, month, "rate_code")


def rate_column(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Grid:
    """PMPM rate of each value of `hours`."""
    return _assign(hours, payer, month, "rate")


def _flags(billed: Any, unbilled: Any, month: Any) -> tuple[pd.DataFrame, pd.Series, int]:
    b, width = _flat(billed)
    u, _ = _flat(unbilled)
    u = (u + [None] * len(b))[: len(b)] if len(u) != 1 else u * len(b)
    lay = layout()
    billed_n = pd.Series([_number(v) for v in b], dtype="float64")
    unbilled_n = pd.Series([_number(v) for v in u], dtype="float64")
    table = pd.DataFrame(
        {
            lay.name_of("billed_hours"): billed_n.map(lambda x: "" if math.isnan(x) else repr(x)),
            lay.name_of("unbilled_hours"): unbilled_n.map(
                lambda x: "" if math.isnan(x) else repr(x)
            ),
        }
    )
    stamp = excel_month(month) or pd.Timestamp.today().to_period("M").to_timestamp()
    return flag_tier_risk(table, lay, rate_book(), stamp), billed_n.isna(), width


def tier_if_billed_column(billed: Any, unbilled: Any, month: Any = None) -> Grid:
    """Tier each member would have if the unbilled hours were billed too."""
    flags, blank, width = _flags(billed, unbilled, month)
    values = _out(flags["tier_if_billed"].where(~blank))
    return _shape([int(v) if v != "" else "" for v in values], width)


def at_risk_column(billed: Any, unbilled: Any, month: Any = None) -> Grid:
    """Dollar effect of billing the unbilled hours (0 when the tier would not change)."""
    flags, blank, width = _flags(billed, unbilled, month)
    return _shape(_out(flags["dollar_effect"].where(~blank)), width)


def submit_window_rows(month: Any) -> Grid:
    """First and last submission dates per month: one [first, last] row per value."""
    flat, _ = _flat(month)
    rows: Grid = []
    for value in flat:
        try:
            stamp = excel_month(value)
        except (ValueError, OverflowError):
            stamp = None
        rows.append(["", ""] if stamp is None else list(submission_window(stamp.to_period("M"))))
    return rows or [["", ""]]


def prorate_cost_column(rate: Any, start: Any, end: Any) -> Grid:
    """Prorated cost of each PMPM service from `start` to `end` (both days included)."""
    (rates, starts, ends), width = _aligned(rate, start, end)
    priced = prorate_column(
        [_number(v) for v in rates], [excel_date(v) for v in starts], [excel_date(v) for v in ends]
    )
    return _shape(_out(priced["cost"]), width)


def units_column(start: Any, end: Any) -> Grid:
    """Units (calendar months) of each PMPM service from `start` to `end`."""
    (starts, ends), width = _aligned(start, end)
    units = calendar_months([excel_date(v) for v in starts], [excel_date(v) for v in ends])
    return _shape([v if v == "" else int(v) for v in _out(units)], width)


def claim_dates_rows(month: Any, payer: Any = DEFAULT_PAYER) -> Grid:
    """Claim From and Through per month (and payer): one [from, through] row per value."""
    (months, payers), _ = _aligned(month, payer)
    found: dict[tuple[pd.Period, str], list[Any]] = {}
    rows: Grid = []
    for m, p in zip(months, payers, strict=True):
        try:
            stamp = excel_month(m)
        except (ValueError, OverflowError):
            stamp = None
        if stamp is None:
            rows.append(["", ""])
            continue
        key = (stamp.to_period("M"), _payer(p))
        if key not in found:
            found[key] = list(claim_dates_for(key[0], key[1], rate_book()))
        rows.append(found[key])
    return rows or [["", ""]]


def export_code_column(code: Any, description: Any = "", modifier: Any = None) -> Grid:
    """The Export Code of each service code ("" for 2443 / 2444 / 2445 and blank codes).

    `modifier` may hold several modifiers separated by commas or colons ("HI,22").
    """
    (codes, texts, mods), width = _aligned(code, description, modifier)
    out: list[Any] = []
    for c, d, m in zip(codes, texts, mods, strict=True):
        given = [x for x in _text(m).replace(":", ",").split(",") if x.strip()]
        try:
            out.append(export_code(_text(c), _text(d), given))
        except PmpmInputError:  # a blank code, or too many modifiers: a blank cell
            out.append("")
    return _shape(out, width)


# --------------------------------------------------------------------------- cell functions


@xw.func
@xw.arg("hours", ndim=2)
def PMPM_TIER(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Any:  # noqa: N802
    """The PMPM tier for these billed hours."""
    return tier_column(hours, payer, month)


@xw.func
@xw.arg("hours", ndim=2)
def PMPM_RATE_CODE(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Any:  # noqa: N802
    """The rate code for these billed hours."""
    return rate_code_column(hours, payer, month)


@xw.func
@xw.arg("hours", ndim=2)
def PMPM_RATE(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Any:  # noqa: N802
    """The PMPM rate for these billed hours (in force in `month`, default this month)."""
    return rate_column(hours, payer, month)


@xw.func
@xw.arg("billed", ndim=2)
@xw.arg("unbilled", ndim=2)
def PMPM_TIER_IF_BILLED(billed: Any, unbilled: Any, month: Any = None) -> Any:  # noqa: N802
    """The tier if the unbilled hours were billed too."""
    return tier_if_billed_column(billed, unbilled, month)


@xw.func
@xw.arg("billed", ndim=2)
@xw.arg("unbilled", ndim=2)
def PMPM_AT_RISK(billed: Any, unbilled: Any, month: Any = None) -> Any:  # noqa: N802
    """Dollars billing the unbilled hours would add (0 when the tier would not change)."""
    return at_risk_column(billed, unbilled, month)


@xw.func
@xw.arg("month", ndim=2)
def PMPM_SUBMIT_WINDOW(month: Any) -> Any:  # noqa: N802
    """First and last day the month's PMPM import may be submitted (a 1x2 row per month)."""
    return submit_window_rows(month)


@xw.func
@xw.arg("rate", ndim=2)
@xw.arg("start", ndim=2)
@xw.arg("end", ndim=2)
def PMPM_PRORATE(rate: Any, start: Any, end: Any) -> Any:  # noqa: N802
    """Cost of a PMPM service: full months at the rate, partial months prorated by days."""
    return prorate_cost_column(rate, start, end)


@xw.func
@xw.arg("start", ndim=2)
@xw.arg("end", ndim=2)
def PMPM_UNITS(start: Any, end: Any) -> Any:  # noqa: N802
    """Units of a PMPM service: the calendar months it touches."""
    return units_column(start, end)


@xw.func
@xw.arg("month", ndim=2)
@xw.arg("payer", ndim=2)
def PMPM_CLAIM_DATES(month: Any, payer: Any = DEFAULT_PAYER) -> Any:  # noqa: N802
    """Claim From and Through dates of the month for the payer (a 1x2 row per month)."""
    return claim_dates_rows(month, payer)


@xw.func
@xw.arg("code", ndim=2)
@xw.arg("description", ndim=2)
@xw.arg("modifier", ndim=2)
def PMPM_EXPORT_CODE(code: Any, description: Any = "", modifier: Any = None) -> Any:  # noqa: N802
    """The service's Export Code, CODE:::::DESCRIPTION; blank for 2443, 2444 and 2445."""
    return export_code_column(code, description, modifier)


__all__ = [
    "HELP_FUNCTIONS",
    "HELP_SEPARATOR",
    "PMPM_AT_RISK",
    "PMPM_CLAIM_DATES",
    "PMPM_EXPORT_CODE",
    "PMPM_PRORATE",
    "PMPM_RATE",
    "PMPM_RATE_CODE",
    "PMPM_SUBMIT_WINDOW",
    "PMPM_TIER",
    "PMPM_TIER_IF_BILLED",
    "PMPM_UNITS",
    "at_risk_column",
    "claim_dates_rows",
    "excel_date",
    "excel_month",
    "export_code_column",
    "prorate_cost_column",
    "rate_code_column",
    "rate_column",
    "submit_window_rows",
    "tier_column",
    "tier_if_billed_column",
    "units_column",
]
