"""Check a payer's PMPM service-code and rate setup (HHAeXchange phases 1 and 2, seed 001).

- The HCPCS code of each tier's service is the tier's rate code, exactly (Value Code 24
  is filled from it: "Ensure that the code is an exact match"). The rate table has no
  HCPCS column of its own: its rate_code column is the HCPCS, unless the table carries
  an optional `hcpcs` column, which is then checked instead.
- A revenue code is defined by the payer; a blank one in a payer's own row is a warning
  (the default rows have no standard revenue code and may leave it blank).
- A rate is in force for every tier in every month asked about.
- Each tier has its own service codes (PA and skilled): no code serves two tiers.

Findings follow `findings.py`: code, severity, row (the rate table's file line), field,
value and a message ending with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from xl_pmpm.core.claims import PLAIN_RATE_CODES, export_code
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import CODES, combine, empty_findings
from xl_pmpm.core.rates import DEFAULT_PAYER, RateBook

# The NY FI PMPM rate code of each tier (HHAeXchange billing page).
DEFAULT_TIER_RATE_CODES: dict[int, str] = {1: "2443", 2: "2444", 3: "2445"}

# The codes this check reports; their severity and fix are in findings.CODES.
SETUP_CODES = (
    "hcpcs-mismatch",
    "revenue-code-missing",
    "no-rate",
    "service-code-missing",
    "duplicate-service-code",
)
# The codes of the check of a setup export (`check_setup_export`).
SETUP_EXPORT_CODES = (
    "setup-code-unknown",
    "hcpcs-mismatch",
    "discipline-code-mismatch",
    "revenue-code-mismatch",
    "revenue-code-missing",
    "export-code-format",
    "no-rate",
)


def _finding(code: str, row: object, field: str, value: object, message: str) -> dict:
    severity, fix = CODES[code]
    return {
        "code": code,
        "severity": severity,
        "row": int(row) if isinstance(row, (int, np.integer)) else None,
        "field": field,
        "value": "" if value is None or pd.isna(value) else str(value),
        "message": f"{message} {fix}",
    }


def _month_start(month: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(datetime.strptime(str(month).strip(), "%Y-%m"))
    except ValueError:
        raise PmpmInputError(
            f"'{month}' is not a month.", column="month", fix="Write it as YYYY-MM."
        ) from None


def _in_force(rates: pd.DataFrame, payer: str, day: pd.Timestamp | None) -> pd.DataFrame:
    """The payer's rows (and default rows for tiers it does not set) in force on `day`."""
    live = rates
    if day is not None:
        live = rates[
            (rates["effective_from"] <= day)
            & (rates["effective_to"].isna() | (rates["effective_to"] >= day))
        ]
    own = live[live["payer"] == payer] if payer != DEFAULT_PAYER else live.iloc[0:0]
    base = live[(live["payer"] == DEFAULT_PAYER) & ~live["tier"].isin(own["tier"])]
    return pd.concat([own, base])


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip().fillna("") == "")


def check_service_setup(
    book: RateBook,
    payer: str,
    months: list[str],
    tier_rate_codes: Mapping[int, str] = DEFAULT_TIER_RATE_CODES,
    hcpcs_column: str = "hcpcs",
) -> pd.DataFrame:
    """Findings about `payer`'s tiers, for the rate-table rows in force in `months`.

    `tier_rate_codes`: the rate code each tier must carry, and the tiers that must each
    have a rate every month. With no months, every row of the payer and the default rows
    are checked and no month is required to have rates.
    """
    rates = book.rates
    starts = [_month_start(m) for m in months]
    found: list[dict] = []
    used: list[pd.DataFrame] = []
    for day in starts:
        table = _in_force(rates, payer, day)
        used.append(table)
        for tier, rate_code in tier_rate_codes.items():
            if not (table["tier"] == tier).any():
                found.append(
                    _finding(
                        "no-rate",
                        None,
                        "tier",
                        tier,
                        f"No rate is in force for payer '{payer}' tier {tier} "
                        f"(rate code {rate_code}) in {day:%Y-%m}.",
                    )
                )
    if not months:
        used.append(_in_force(rates, payer, None))
    rows = pd.concat(used) if used else rates.iloc[0:0]
    rows = rows[~rows.index.duplicated()]

    column = hcpcs_column if hcpcs_column in rows.columns else "rate_code"
    expected = rows["tier"].map(lambda t: tier_rate_codes.get(int(t)))
    actual = rows[column].astype("string").fillna("")
    wrong = expected.notna() & (actual != expected.astype("string"))
    for line, r in rows[wrong].iterrows():
        found.append(
            _finding(
                "hcpcs-mismatch",
                line,
                column,
                r[column],
                f"Tier {r['tier']} of payer '{r['payer']}' has HCPCS / rate code "
                f"'{r[column]}', not exactly '{tier_rate_codes[int(r['tier'])]}'.",
            )
        )

    for line, r in rows[(rows["payer"] != DEFAULT_PAYER) & _blank(rows["revenue_code"])].iterrows():
        found.append(
            _finding(
                "revenue-code-missing",
                line,
                "revenue_code",
                "",
                f"Tier {r['tier']} of payer '{r['payer']}' has no revenue code.",
            )
        )

    for line, r in rows[_blank(rows["service_code"])].iterrows():
        found.append(
            _finding(
                "service-code-missing",
                line,
                "service_code",
                "",
                f"Tier {r['tier']} of payer '{r['payer']}' has no service code.",
            )
        )

    for table in used:
        codes = table.melt(
            id_vars=["tier"],
            value_vars=["service_code", "skilled_service_code"],
            var_name="field",
            value_name="code",
            ignore_index=False,
        )
        codes = codes[~_blank(codes["code"])]
        tiers = codes.groupby("code")["tier"].transform("nunique")
        for line, r in codes[tiers > 1].iterrows():
            others = sorted(set(codes.loc[codes["code"] == r["code"], "tier"]) - {r["tier"]})
            found.append(
                _finding(
                    "duplicate-service-code",
                    line,
                    r["field"],
                    r["code"],
                    f"Service code '{r['code']}' of tier {r['tier']} is also used by tier(s) "
                    f"{', '.join(str(t) for t in others)}.",
                )
            )

    if not found:
        return empty_findings()
    frame = pd.DataFrame(found).drop_duplicates()
    typed = empty_findings()
    frame = pd.DataFrame(
        {c: pd.array(frame[c].tolist(), dtype=typed[c].dtype) for c in typed.columns}
    )
    return combine([frame])


# --- the service-code setup as HHAeXchange holds it (issue 13) ------------------------------

# The Contract Service Code fields the check reads (seed 001, phase 1), as a setup export
# names them; `Modifier` may be absent.
SETUP_FIELDS = {
    "contract": "Contract",
    "discipline": "Discipline",
    "service_code": "Service Code",
    "description": "Description",
    "export_code": "Export Code",
    "revenue_code": "Revenue Code",
    "hcpcs": "HCPCS Code",
}
SETUP_OPTIONAL = {"modifier": "Modifier"}


def _setup_value(row: pd.Series, key: str) -> str:
    value = row.get(key, "")
    return "" if value is None or pd.isna(value) else str(value).strip()


def check_setup_export(
    setup: pd.DataFrame,
    book: RateBook,
    month: str,
    *,
    skilled: tuple[str, ...] = ("Other (Skilled)",),
    pa: str = "PA",
    plain_codes: tuple[str, ...] = PLAIN_RATE_CODES,
    hcpcs_column: str = "hcpcs",
) -> pd.DataFrame:
    """Findings about a service-code setup export, row by row, against the rate book.

    `setup`: one row per service code, columns keyed as SETUP_FIELDS (and `modifier`),
    indexed by the file's line. Each row's contract names its payer (as a tier
    report's does); its service code must be one of that payer's tier codes in
    force in `month` (the payer's own codes where the rate table has them: seed 001
    lets payers ask for "unique service codes ... replacing the Export Code, HCPCS
    Code, and/or Revenue Code values"). Then, for that tier:

    - HCPCS Code = the tier's rate code exactly (Value Code 24 comes from it);
    - Discipline = PA for the tier's PA code, Other (Skilled) for its skilled code;
    - Revenue Code = the rate table's, where it gives one (else blank is a warning
      for a payer of its own);
    - Export Code = one of 2443 / 2444 / 2445 (form locators 43/44 then stay blank),
      or `CODE:::::DESCRIPTION` with the modifier's colon counted as the first.
    """
    day = _month_start(month)
    found: list[dict] = []
    tables: dict[str, pd.DataFrame | None] = {}
    for line, row in setup.iterrows():
        contract = _setup_value(row, "contract")
        code = _setup_value(row, "service_code")
        payer = book.payer_of_contract(contract)
        if payer not in tables:
            try:
                tables[payer] = book.tier_table(payer, day)
            except PmpmInputError:
                tables[payer] = None
        table = tables[payer]
        name = "the default payer" if payer == DEFAULT_PAYER else f"payer '{payer}'"
        if table is None:
            found.append(
                _finding(
                    "no-rate",
                    line,
                    SETUP_FIELDS["contract"],
                    contract,
                    f"No rate is in force for {name} (contract '{contract}') in {day:%Y-%m}.",
                )
            )
            continue
        as_pa = table[table["service_code"].astype("string") == code]
        as_skilled = table[table["skilled_service_code"].astype("string") == code]
        if as_pa.empty and as_skilled.empty:
            found.append(
                _finding(
                    "setup-code-unknown",
                    line,
                    SETUP_FIELDS["service_code"],
                    code,
                    f"Service code '{code}' (contract '{contract}', {name}) is not a tier's "
                    f"service code in the rate table for {day:%Y-%m}.",
                )
            )
            continue
        tier_row = (as_pa if not as_pa.empty else as_skilled).iloc[0]
        tier = int(tier_row["tier"])
        column = hcpcs_column if hcpcs_column in table.columns else "rate_code"
        want_hcpcs = str(tier_row[column]).strip()
        hcpcs = _setup_value(row, "hcpcs")
        if hcpcs != want_hcpcs:
            found.append(
                _finding(
                    "hcpcs-mismatch",
                    line,
                    SETUP_FIELDS["hcpcs"],
                    hcpcs,
                    f"Service code '{code}' is Tier {tier}: its HCPCS Code is '{hcpcs}', "
                    f"not exactly '{want_hcpcs}'.",
                )
            )
        discipline = _setup_value(row, "discipline")
        wants = (pa,) if not as_pa.empty else skilled
        either = not as_pa.empty and not as_skilled.empty  # one code for both: either fits
        if not either and discipline not in wants:
            found.append(
                _finding(
                    "discipline-code-mismatch",
                    line,
                    SETUP_FIELDS["discipline"],
                    discipline,
                    f"Service code '{code}' is Tier {tier}'s "
                    f"{'PA' if not as_pa.empty else 'skilled'} code: its discipline is "
                    f"{' or '.join(wants)}, not '{discipline}'.",
                )
            )
        want_revenue = _setup_value(tier_row, "revenue_code")
        revenue = _setup_value(row, "revenue_code")
        if want_revenue and revenue != want_revenue:
            found.append(
                _finding(
                    "revenue-code-mismatch",
                    line,
                    SETUP_FIELDS["revenue_code"],
                    revenue,
                    f"The rate table gives {name} revenue code '{want_revenue}' for Tier "
                    f"{tier}; the setup has '{revenue}'.",
                )
            )
        elif not want_revenue and not revenue and tier_row["payer"] != DEFAULT_PAYER:
            found.append(
                _finding(
                    "revenue-code-missing",
                    line,
                    SETUP_FIELDS["revenue_code"],
                    "",
                    f"Service code '{code}' of {name} has no revenue code.",
                )
            )
        found.extend(_export_code_findings(row, line, code, plain_codes))
    return _as_findings(found)


def _export_code_findings(
    row: pd.Series, line: object, code: str, plain_codes: tuple[str, ...]
) -> list[dict]:
    given = _setup_value(row, "export_code")
    if given in plain_codes:
        return []  # form locators 43/44 stay blank
    modifier = _setup_value(row, "modifier") or None
    try:
        want = export_code(code, _setup_value(row, "description"), modifier, blank_codes=())
    except PmpmInputError as exc:
        want, why = None, exc.message
    else:
        why = ""
    if want is not None and given == want:
        return []
    hint = f"'{want}'" if want else why
    return [
        _finding(
            "export-code-format",
            line,
            SETUP_FIELDS["export_code"],
            given,
            f"Export Code '{given}' is neither a plain rate code ({', '.join(plain_codes)}) "
            f"nor the service code, five colons and the description: {hint}.",
        )
    ]


def _as_findings(found: list[dict]) -> pd.DataFrame:
    if not found:
        return empty_findings()
    frame = pd.DataFrame(found)
    typed = empty_findings()
    frame = pd.DataFrame(
        {c: pd.array(frame[c].tolist(), dtype=typed[c].dtype) for c in typed.columns}
    )
    return combine([frame])


# --- the contract's billing rates (seed 001, phase 2; issue 29) -----------------------------

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
    end = _month_start(through).to_period("M")
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
                _finding(
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
                _finding(
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
                _finding(
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
    return _as_findings(found)


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
                _finding(
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
                _finding(
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
                    _finding(
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
                _finding(
                    "billing-rate-missing",
                    None,
                    header["service_code"],
                    code,
                    f"Contract '{contract}' has no active billing rate for service code "
                    f"'{code}' on the first day of {month_spans(months)}.",
                )
            )
    return found
