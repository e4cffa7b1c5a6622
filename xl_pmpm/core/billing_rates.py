"""Check a contract's billing rates (HHAeXchange's Contract Setup > Billing Rates,
seed 001, phase 2; issue 29) against the rate table.

Findings follow `findings.py`, as service_setup's do; rows are the export's file lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.service_setup import as_findings, month_start, setup_finding

# The Contract Rate fields (Admin > Contract Setup > Billing Rates) the check reads; the
# headers of an agency's export are set in a mapping file (data/billing_rates_columns.toml).
BILLING_RATE_FIELDS = (
    "contract",
    "service_code",
    "rate",
    "billing_units",
    "active",
    "from_date",
    "to_date",
)
BILLING_RATE_CODES = (
    "billing-rate-missing",
    "billing-rate-inactive",
    "billing-rate-mismatch",
    "billing-units",
    "billing-rate-gap",
    "billing-rate-value",
    "setup-code-unknown",
)


@dataclass(frozen=True)
class BillingRateMapping:
    """How an export names the billing-rate fields and writes its values."""

    columns: dict[str, str]  # field -> header
    active: tuple[str, ...] = ("yes", "y", "true", "1", "active", "x")
    date_formats: tuple[str, ...] = ("%m/%d/%Y", "%Y-%m-%d")
    source: str = ""


def _parse_day(text: str, formats: tuple[str, ...]) -> date | None:
    for fmt in formats:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def _months_between(first: date, last: date) -> list[pd.Period]:
    if last < first:
        return []
    return list(pd.period_range(pd.Period(first, "M"), pd.Period(last, "M"), freq="M"))


def month_spans(months: list[pd.Period]) -> str:
    """2026-08, 2026-09, 2026-11 as '2026-08 to 2026-09, 2026-11'."""
    spans: list[list[pd.Period]] = []
    for m in sorted(set(months)):
        if spans and m == spans[-1][1] + 1:
            spans[-1][1] = m
        else:
            spans.append([m, m])
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in spans)


def _tier_of_code(table: pd.DataFrame, code: str) -> pd.Series | None:
    for column in ("service_code", "skilled_service_code", "rate_code"):
        hit = table[table[column].astype("string").str.strip() == code]
        if len(hit):
            return hit.iloc[0]
    return None


def check_billing_rates(
    export: pd.DataFrame, book: RateBook, through: str, mapping: BillingRateMapping
) -> pd.DataFrame:
    """Findings about a contract billing-rate export against the rate table.

    `export`: one row per rate, columns keyed as BILLING_RATE_FIELDS (text), indexed by
    the file's line. For every month from a contract's first From Date to `through`
    (YYYY-MM) in which the rate table has rates for the contract's payer:

    - each tier's PA service code (and each code the export names) has an active rate
      covering the month's first day (the PMPM visit's date): `billing-rate-missing`;
    - an inactive rate is a warning (`billing-rate-inactive`): it prices nothing;
    - an active rate equals the tier's rate in the rate table in each month it covers up
      to `through`: `billing-rate-mismatch` (HHAeXchange prices claims from it);
    - billing units are 1: `billing-units`;
    - a code's active rates follow each other with no day between one's To Date and the
      next one's From Date: `billing-rate-gap`.
    """
    end = month_start(through).to_period("M")
    header = mapping.columns
    found: list[dict] = []
    rows: list[dict] = []
    for line, r in export.iterrows():
        values = {k: ("" if pd.isna(r.get(k)) else str(r.get(k)).strip()) for k in header}
        bad = []
        try:
            rate = float(values["rate"].replace("$", "").replace(",", ""))
        except ValueError:
            bad.append("rate")
        units_text = values["billing_units"]
        try:
            units = float(units_text)
        except ValueError:
            bad.append("billing_units")
        start = _parse_day(values["from_date"], mapping.date_formats)
        if start is None:
            bad.append("from_date")
        stop = _parse_day(values["to_date"], mapping.date_formats) if values["to_date"] else None
        if values["to_date"] and stop is None:
            bad.append("to_date")
        for key in bad:
            found.append(
                setup_finding(
                    "billing-rate-value",
                    line,
                    header[key],
                    values[key],
                    f"'{values[key]}' is not a {key.replace('_', ' ')}.",
                )
            )
        if bad:
            continue
        code, contract = values["service_code"], values["contract"]
        if units != 1:
            found.append(
                setup_finding(
                    "billing-units",
                    line,
                    header["billing_units"],
                    units_text,
                    f"Service code '{code}' ({contract}) bills {units_text} units, not 1.",
                )
            )
        active = values["active"].casefold() in mapping.active
        if not active:
            found.append(
                setup_finding(
                    "billing-rate-inactive",
                    line,
                    header["active"],
                    values["active"],
                    f"The rate of service code '{code}' ({contract}) from {start} is not active.",
                )
            )
        rows.append(
            {
                "line": line,
                "contract": contract,
                "payer": book.payer_of_contract(contract),
                "code": code,
                "rate": rate,
                "active": active,
                "start": start,
                "stop": stop,
            }
        )
    found += _rate_findings(rows, book, end, header)
    return as_findings(found)


def _rate_findings(
    rows: list[dict], book: RateBook, end: pd.Period, header: dict[str, str]
) -> list[dict]:
    found: list[dict] = []
    last_day = end.end_time.date()
    live = [r for r in rows if r["active"]]
    for r in live:  # the rate of the tier, each month the rate covers
        wrong: dict[float, list[pd.Period]] = {}
        unknown = True
        for month in _months_between(r["start"], min(r["stop"] or last_day, last_day)):
            try:
                table = book.tier_table(r["payer"], month.to_timestamp())
            except PmpmInputError:
                continue
            tier = _tier_of_code(table, r["code"])
            if tier is None:
                continue
            unknown = False
            want = round(float(tier["rate"]), 2)
            if abs(want - r["rate"]) > 0.005:
                wrong.setdefault(want, []).append(month)
        if unknown and r["start"] <= last_day:
            found.append(
                setup_finding(
                    "setup-code-unknown",
                    r["line"],
                    header["service_code"],
                    r["code"],
                    f"Service code '{r['code']}' ({r['contract']}) is not a tier's code in the "
                    "rate table for the months its rate covers.",
                )
            )
        for want, months in wrong.items():
            found.append(
                setup_finding(
                    "billing-rate-mismatch",
                    r["line"],
                    header["rate"],
                    f"{r['rate']:.2f}",
                    f"Service code '{r['code']}' ({r['contract']}) is priced {r['rate']:.2f}; "
                    f"the rate table's tier rate is {want:.2f} in {month_spans(months)}.",
                )
            )
    by_code: dict[tuple[str, str], list[dict]] = {}
    for r in live:
        by_code.setdefault((r["contract"], r["code"]), []).append(r)
    for (contract, code), rates in by_code.items():  # gaps between one rate and the next
        rates.sort(key=lambda x: x["start"])
        for before, after in zip(rates, rates[1:], strict=False):
            if before["stop"] is not None and after["start"] > before["stop"] + timedelta(days=1):
                found.append(
                    setup_finding(
                        "billing-rate-gap",
                        after["line"],
                        header["from_date"],
                        str(after["start"]),
                        f"Service code '{code}' ({contract}) has no rate from "
                        f"{before['stop'] + timedelta(days=1)} to "
                        f"{after['start'] - timedelta(days=1)} (between line {before['line']} "
                        f"and this one).",
                    )
                )
    found += _missing_months(rows, live, book, end, header)
    return found


def _missing_months(
    rows: list[dict], live: list[dict], book: RateBook, end: pd.Period, header: dict[str, str]
) -> list[dict]:
    found: list[dict] = []
    contracts: dict[str, dict] = {}
    for r in rows:
        seen = contracts.setdefault(r["contract"], {"payer": r["payer"], "start": r["start"],
                                                    "codes": set()})  # fmt: skip
        seen["start"] = min(seen["start"], r["start"])
        seen["codes"].add(r["code"])
    for contract, seen in contracts.items():
        missing: dict[str, list[pd.Period]] = {}
        for month in _months_between(seen["start"], end.end_time.date()):
            try:
                table = book.tier_table(seen["payer"], month.to_timestamp())
            except PmpmInputError:
                continue
            wanted = {str(c).strip() for c in table["service_code"] if str(c).strip()}
            known = {c for c in seen["codes"] if _tier_of_code(table, c) is not None}
            first = month.start_time.date()
            for code in sorted(wanted | known):
                covered = any(
                    r["contract"] == contract
                    and r["code"] == code
                    and r["start"] <= first
                    and (r["stop"] is None or r["stop"] >= first)
                    for r in live
                )
                if not covered:
                    missing.setdefault(code, []).append(month)
        for code, months in missing.items():
            found.append(
                setup_finding(
                    "billing-rate-missing",
                    None,
                    header["service_code"],
                    code,
                    f"Contract '{contract}' has no active billing rate for service code "
                    f"'{code}' on the first day of {month_spans(months)}.",
                )
            )
    return found
