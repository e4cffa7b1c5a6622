"""Cell functions over the core: tiers, rate codes, rates, at-risk dollars, submission dates.

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
from ..claims import submission_window
from ..flags import flag_tier_risk
from ..layout import Layout
from ..rates import DEFAULT_PAYER, RateBook

EXCEL_EPOCH = date(1899, 12, 30)
Grid = list[list[Any]]

# (signature, example, what it returns): the Help sheet lists these; every PMPM_* function has one.
HELP_FUNCTIONS = (
    ("PMPM_TIER(hours)", "=PMPM_TIER(159.5)", "1: the tier for these billed hours."),
    ("PMPM_RATE_CODE(hours, [payer])", "=PMPM_RATE_CODE(200)", "2444: the rate code."),
    ("PMPM_RATE(hours, [payer], [month])", '=PMPM_RATE(500,"*","2025-03")', "1046.36"),
    (
        "PMPM_TIER_IF_BILLED(billed, unbilled)",
        "=PMPM_TIER_IF_BILLED(155, 10)",
        "2: the tier if the unbilled hours were billed too.",
    ),
    (
        "PMPM_AT_RISK(billed, unbilled)",
        "=PMPM_AT_RISK(155, 10)",
        "Dollars billing the unbilled hours would add (0 when the tier stays).",
    ),
    (
        "PMPM_SUBMIT_WINDOW(month)",
        '=PMPM_SUBMIT_WINDOW("2025-03")',
        "The dates between which the month's PMPM import can be submitted.",
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
        except ValueError:
            stamp = None
        rows.append(["", ""] if stamp is None else list(submission_window(stamp.to_period("M"))))
    return rows or [["", ""]]


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


__all__ = [
    "HELP_FUNCTIONS",
    "PMPM_AT_RISK",
    "PMPM_RATE",
    "PMPM_RATE_CODE",
    "PMPM_SUBMIT_WINDOW",
    "PMPM_TIER",
    "PMPM_TIER_IF_BILLED",
    "at_risk_column",
    "excel_month",
    "rate_code_column",
    "rate_column",
    "submit_window_rows",
    "tier_column",
    "tier_if_billed_column",
]
