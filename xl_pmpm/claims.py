"""Claim rules that depend only on the service month (HHAeXchange billing page)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

# Days after the last day of the service month within which a claim must be submitted.
SUBMISSION_DAYS = 90


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
