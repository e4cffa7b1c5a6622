"""Claim rules that depend only on the service month (HHAeXchange billing page)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from xl_pmpm.core.errors import PmpmInputError

if TYPE_CHECKING:
    from xl_pmpm.core.rates import RateBook

# Days after the last day of the service month within which a claim must be submitted.
SUBMISSION_DAYS = 90
# A member-month earns a PMPM only with at least this many billed hours of direct care.
MIN_BILLED_HOURS = 1.0

# Export codes that leave form locators 43 and 44 blank (HHAeXchange FAQ, 2024-10-18).
PLAIN_RATE_CODES = ("2443", "2444", "2445")
# Colons between the service code and its description; a modifier's separator counts.
EXPORT_CODE_COLONS = 5


def submission_window(month: pd.Period | str, days: int = SUBMISSION_DAYS) -> tuple[date, date]:
    """First and last day a PMPM claim for `month` may be submitted.

    From the 1st of the following month to `days` days after the month's last day.
    """
    period = pd.Period(month, freq="M")
    last_of_month = period.end_time.date()
    return last_of_month + timedelta(days=1), last_of_month + timedelta(days=days)


def claim_dates(month: pd.Period | str, rule: str = "month") -> tuple[date, date]:
    """Claim From and Through dates for a service month.

    rule "month": first and last day of the month (all payers since 2024-10-18);
    rule "first_day": the first day for both (the payer settings name who, e.g. Elderplan).
    """
    period = pd.Period(month, freq="M")
    first = period.start_time.date()
    if rule == "first_day":
        return first, first
    if rule == "month":
        return first, period.end_time.date()
    raise ValueError(f"unknown claim-date rule {rule!r}")


def export_code(
    service_code: str,
    description: str,
    modifier: str | Sequence[str] | None = None,
    blank_codes: Sequence[str] = PLAIN_RATE_CODES,
    colons: int = EXPORT_CODE_COLONS,
) -> str:
    """The Export Code for form locators 43/44 (HHAeXchange FAQ).

    Blank ("") for a plain rate code in `blank_codes` without a modifier; otherwise the
    service code, five colons and the description (`2443X:::::PMPM Tier 1`). A modifier's
    separator counts as the first of the five (`T2040:HI::::PMPM`); several modifiers
    (a sequence) each take one (`T2040:HI:22:::PMPM`).
    """
    code = str(service_code).strip()
    if not code:
        raise PmpmInputError(
            "The service code is blank.", column="service_code", fix="Fill in the service code."
        )
    if modifier is None:
        mods: list[str] = []
    elif isinstance(modifier, str):
        mods = [modifier.strip()] if modifier.strip() else []
    else:
        mods = [str(m).strip() for m in modifier if str(m).strip()]
    if not mods and code in {str(c).strip() for c in blank_codes}:
        return ""
    if len(mods) >= colons:
        raise PmpmInputError(
            f"{len(mods)} modifiers leave no colon before the description.",
            column="modifier",
            fix=f"Give at most {colons - 1} modifiers.",
        )
    head = ":".join([code, *mods])
    return head + ":" * (colons - len(mods)) + str(description).strip()


def claim_dates_for(month: pd.Period | str, payer: str, book: RateBook) -> tuple[date, date]:
    """Claim From and Through dates of `payer` for a service month.

    The rule is the payer's `claim_dates` setting in the payer settings (payers.csv), e.g.
    "first_day" for Elderplan; a payer not listed gets the default row's rule.
    """
    try:
        if isinstance(month, str):
            month = datetime.strptime(month.strip(), "%Y-%m")
        period = pd.Period(month, freq="M")
    except ValueError:
        raise PmpmInputError(
            f"'{month}' is not a month.", column="month", fix="Write it as YYYY-MM."
        ) from None
    rule = str(book.payer_settings(payer)["claim_dates"])
    try:
        return claim_dates(period, rule)
    except ValueError as exc:
        raise PmpmInputError(
            f"Payer '{payer}': {exc}.",
            column="claim_dates",
            fix="Use one of the claim-date rules: month, first_day.",
        ) from None
