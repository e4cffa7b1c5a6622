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
value and a message ending with the fix. The same rules, checked against what HHAeXchange
holds, are setup_export.py's (the service-code setup export) and billing_rates.py's (the
contract billing rates); they share this module's finding, month and frame helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd

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


def setup_finding(code: str, row: object, field: str, value: object, message: str) -> dict:
    severity, fix = CODES[code]
    return {
        "code": code,
        "severity": severity,
        "row": int(row) if isinstance(row, (int, np.integer)) else None,
        "field": field,
        "value": "" if value is None or pd.isna(value) else str(value),
        "message": f"{message} {fix}",
    }


def month_start(month: str) -> pd.Timestamp:
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
    starts = [month_start(m) for m in months]
    found: list[dict] = []
    used: list[pd.DataFrame] = []
    for day in starts:
        table = _in_force(rates, payer, day)
        used.append(table)
        for tier, rate_code in tier_rate_codes.items():
            if not (table["tier"] == tier).any():
                found.append(
                    setup_finding(
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
            setup_finding(
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
            setup_finding(
                "revenue-code-missing",
                line,
                "revenue_code",
                "",
                f"Tier {r['tier']} of payer '{r['payer']}' has no revenue code.",
            )
        )

    for line, r in rows[_blank(rows["service_code"])].iterrows():
        found.append(
            setup_finding(
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
                setup_finding(
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


def as_findings(found: list[dict]) -> pd.DataFrame:
    if not found:
        return empty_findings()
    frame = pd.DataFrame(found)
    typed = empty_findings()
    frame = pd.DataFrame(
        {c: pd.array(frame[c].tolist(), dtype=typed[c].dtype) for c in typed.columns}
    )
    return combine([frame])
