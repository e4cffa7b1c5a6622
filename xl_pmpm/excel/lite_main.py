"""xlwings Lite's ``main.py``: the cell functions and the workbook's scripts.

Paste into the Lite editor (or load as ``main.py``). Lite registers what carries its
``func`` / ``script`` decorators in this module; the logic stays in ``xl_pmpm``.
The import is guarded so the module also imports where xlwings has no such decorators.
"""

from __future__ import annotations

from typing import Any

import xlwings as xw

try:
    from xlwings import arg, func, script
except ImportError:  # pragma: no cover - very old xlwings: plain functions

    def func(f: Any = None, **_: Any) -> Any:
        return f if f is not None else (lambda g: g)

    script = func

    def arg(*_: Any, **__: Any) -> Any:
        return lambda g: g


from xl_pmpm.excel import frontend, udfs  # noqa: E402
from xl_pmpm.rates import DEFAULT_PAYER  # noqa: E402

# Written out, not generated or re-exported from udfs: Lite registers the functions it
# finds decorated with its own ``func`` in main.py, reading each one's name, signature
# and docstring there, and udfs' functions carry the desktop ``xw.func`` instead.


@func
@arg("hours", ndim=2)
def PMPM_TIER(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Any:  # noqa: N802
    """The PMPM tier for these billed hours."""
    return udfs.tier_column(hours, payer, month)


@func
@arg("hours", ndim=2)
def PMPM_RATE_CODE(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Any:  # noqa: N802
    """The rate code for these billed hours."""
    return udfs.rate_code_column(hours, payer, month)


@func
@arg("hours", ndim=2)
def PMPM_RATE(hours: Any, payer: Any = DEFAULT_PAYER, month: Any = None) -> Any:  # noqa: N802
    """The PMPM rate for these billed hours."""
    return udfs.rate_column(hours, payer, month)


@func
@arg("billed", ndim=2)
@arg("unbilled", ndim=2)
def PMPM_TIER_IF_BILLED(billed: Any, unbilled: Any, month: Any = None) -> Any:  # noqa: N802
    """The tier if the unbilled hours were billed too."""
    return udfs.tier_if_billed_column(billed, unbilled, month)


@func
@arg("billed", ndim=2)
@arg("unbilled", ndim=2)
def PMPM_AT_RISK(billed: Any, unbilled: Any, month: Any = None) -> Any:  # noqa: N802
    """Dollars billing the unbilled hours would add (0 when the tier would not change)."""
    return udfs.at_risk_column(billed, unbilled, month)


@func
@arg("month", ndim=2)
def PMPM_SUBMIT_WINDOW(month: Any) -> Any:  # noqa: N802
    """First and last submission day of the month's PMPM import."""
    return udfs.submit_window_rows(month)


@func
@arg("rate", ndim=2)
@arg("start", ndim=2)
@arg("end", ndim=2)
def PMPM_PRORATE(rate: Any, start: Any, end: Any) -> Any:  # noqa: N802
    """Cost of a PMPM service: full months at the rate, partial months prorated by days."""
    return udfs.prorate_cost_column(rate, start, end)


@func
@arg("start", ndim=2)
@arg("end", ndim=2)
def PMPM_UNITS(start: Any, end: Any) -> Any:  # noqa: N802
    """Units of a PMPM service: the calendar months it touches."""
    return udfs.units_column(start, end)


@func
@arg("month", ndim=2)
@arg("payer", ndim=2)
def PMPM_CLAIM_DATES(month: Any, payer: Any = DEFAULT_PAYER) -> Any:  # noqa: N802
    """Claim From and Through dates of the month for the payer (a 1x2 row per month)."""
    return udfs.claim_dates_rows(month, payer)


@func
@arg("code", ndim=2)
@arg("description", ndim=2)
@arg("modifier", ndim=2)
def PMPM_EXPORT_CODE(code: Any, description: Any = "", modifier: Any = None) -> Any:  # noqa: N802
    """The service's Export Code, CODE:::::DESCRIPTION; blank for 2443, 2444 and 2445."""
    return udfs.export_code_column(code, description, modifier)


@script
def load_extract(book: xw.Book) -> None:
    """Load Extract (Lite has no local files: the Settings path must be reachable)."""
    frontend.load_extract(book)


@script
def refresh_flags(book: xw.Book) -> None:
    """Refresh Flags."""
    frontend.refresh_flags(book)


@script
def delete_rows(book: xw.Book) -> None:
    """Delete Rows."""
    frontend.delete_rows(book)


@script
def defer_rows(book: xw.Book) -> None:
    """Defer Rows."""
    frontend.defer_rows(book)


@script
def restore_rows(book: xw.Book) -> None:
    """Restore."""
    frontend.restore_rows(book)


@script
def validate(book: xw.Book) -> None:
    """Validate."""
    frontend.validate(book)


@script
def export(book: xw.Book) -> None:
    """Export."""
    frontend.export(book)


@script
def show_history(book: xw.Book) -> None:
    """History (the ledger file on Settings must be reachable)."""
    frontend.show_history(book)


@script
def show_kpis(book: xw.Book) -> None:
    """KPIs (the ledger file on Settings must be reachable)."""
    frontend.show_kpis(book)


@script
def show_help(book: xw.Book) -> None:
    """Help."""
    frontend.show_help(book)
