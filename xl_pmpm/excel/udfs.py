"""Cell functions over the core: tiers, rates, at-risk dollars, dates, proration, export codes.

Each takes a scalar or a whole column (a 2D list, as Excel passes a range) and
returns a column in one call; blanks and text give "" rather than an error.
Dates from Excel's custom-function runtime arrive as serial numbers (epoch
1899-12-30) and are converted. The ``PMPM_*`` functions are made from the table
in :mod:`xl_pmpm.workbook.actions` and carry ``xw.func`` for desktop Excel (a
pass-through on Linux); ``lite_main.py`` registers the same rows for xlwings Lite.
The plain ``*_column`` functions can be called from Python.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd
import xlwings as xw

from xl_pmpm.core import cells
from xl_pmpm.core.claims import claim_dates_for, export_code, submission_window
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import DEFAULT_PAYER, RateBook
from xl_pmpm.core.spans import calendar_months, prorate_column
from xl_pmpm.io import files
from xl_pmpm.io.workflow import this_month
from xl_pmpm.workbook.actions import CELL_FUNCTIONS, CellFunction

Grid = list[list[Any]]


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
    day = cells.excel_date(_scalar(value))
    return None if day is None else pd.Timestamp(day)


def _text(value: Any) -> str:
    """A cell as text, trimmed; whole numbers without ".0" (2443 arrives as 2443.0)."""
    return cells.cell_text(_scalar(value)).strip()


def excel_month(value: Any) -> pd.Timestamp | None:
    """First day of the month of a cell value: serial number, date or text; None if blank."""
    value = _scalar(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not a month")
    if isinstance(value, int | float):
        value = cells.EXCEL_EPOCH + timedelta(days=int(value))
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


def _flags(
    billed: Any, unbilled: Any, month: Any, payer: Any = DEFAULT_PAYER
) -> tuple[pd.DataFrame, pd.Series, int]:
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
    stamp = excel_month(month) or pd.Period(this_month(), freq="M").to_timestamp()
    flags = flag_tier_risk(table, lay, rate_book(), stamp, payer=_payer(payer))
    return flags, billed_n.isna(), width


def tier_if_billed_column(
    billed: Any, unbilled: Any, month: Any = None, payer: Any = DEFAULT_PAYER
) -> Grid:
    """Tier each member would have if the unbilled hours were billed too (`payer`'s tiers)."""
    flags, blank, width = _flags(billed, unbilled, month, payer)
    values = _out(flags["tier_if_billed"].where(~blank))
    return _shape([int(v) if v != "" else "" for v in values], width)


def at_risk_column(
    billed: Any, unbilled: Any, month: Any = None, payer: Any = DEFAULT_PAYER
) -> Grid:
    """Dollar effect of billing the unbilled hours at `payer`'s rates (0 when the tier
    would not change)."""
    flags, blank, width = _flags(billed, unbilled, month, payer)
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


def prorate_cost_column(rate: Any, first_day: Any, last_day: Any) -> Grid:
    """Prorated cost of each PMPM service from `first_day` to `last_day` (both included).

    (Not ``start`` / ``end``: xlwings writes the argument names into the VBA wrapper, and
    ``End`` is a reserved word there.)
    """
    (rates, starts, ends), width = _aligned(rate, first_day, last_day)
    priced = prorate_column(
        [_number(v) for v in rates], [excel_date(v) for v in starts], [excel_date(v) for v in ends]
    )
    return _shape(_out(priced["cost"]), width)


def units_column(first_day: Any, last_day: Any) -> Grid:
    """Units (calendar months) of each PMPM service from `first_day` to `last_day`."""
    (starts, ends), width = _aligned(first_day, last_day)
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


def cell_function(
    spec: CellFunction, func: Callable[..., Any] = xw.func, arg: Callable[..., Any] = xw.arg
) -> Callable[..., Any]:
    """The cell function `spec` names, registered with `func` / `arg` (xlwings' decorators).

    Its signature is the table's (xlwings reads it to write the VBA wrapper and the
    Office.js registration); the work is the column function of the same arguments.
    """
    column = globals()[spec.column]

    def call(*args: Any, **kwargs: Any) -> Any:
        return column(*args, **kwargs)

    call.__name__ = call.__qualname__ = spec.name
    call.__doc__ = spec.doc
    call.__module__ = __name__
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                a.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=a.default if a.optional else inspect.Parameter.empty,
            )
            for a in spec.args
        ]
    )
    registered = func(call)
    for a in spec.args:
        if a.ndim is not None:
            registered = arg(a.name, ndim=a.ndim)(registered)
    return registered


# PMPM_TIER, PMPM_RATE, ...: one per row of the table (desktop xlwings' decorators here).
for _spec in CELL_FUNCTIONS:
    globals()[_spec.name] = cell_function(_spec)


__all__ = [
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
    "cell_function",
]
