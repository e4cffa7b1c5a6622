"""Per-row tier flags: tier now, tier if the unbilled hours were billed, the dollars at stake."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from xl_pmpm.core.hours_basis import HOUR_KINDS, basis_hours
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.values import map_distinct, per_value


def numeric(table: pd.DataFrame, layout: Layout, role: str) -> pd.Series:
    """A role's column as numbers (NaN where blank, absent or not a number)."""
    col = layout.column(role)
    if col is None or col.name not in table.columns:
        return pd.Series(np.nan, index=table.index, dtype="float64")
    # Parsed once per distinct value: hours repeat across a large file.
    return per_value(
        table[col.name], lambda u: pd.to_numeric(u.str.strip(), errors="coerce").astype("float64")
    )


def text(table: pd.DataFrame, layout: Layout, role: str) -> pd.Series:
    col = layout.column(role)
    if col is None or col.name not in table.columns:
        return pd.Series("", index=table.index, dtype="object")
    return table[col.name].fillna("").astype(str).str.strip()


def reported_tier(values: pd.Series) -> pd.Series:
    """The Tier column as a number: accepts '2' and 'Tier 2' (`hygiene.tier_not_a_label`
    reports every form but the rate book's own label); NA for no tier a rate book can
    have (a number of more than 9 digits, such as 2^63)."""

    def parse(u: pd.Series) -> pd.Series:
        digits = u.str.extract(r"^\s*(?:tier\s*)?([0-9]{1,9})\s*$", flags=re.IGNORECASE)[0]
        return pd.to_numeric(digits, errors="coerce").astype("Int64")

    return per_value(values, parse)


def _assign_distinct(
    book: RateBook, hours: np.ndarray, payers: pd.Series, month: pd.Timestamp
) -> pd.DataFrame:
    """`book.assign` of `hours` (each row's payer the one of `payers`, repeated as often as
    `hours` is longer), asked once per distinct pair of payer and hours."""
    if not len(hours):
        return book.assign(pd.Series(hours, dtype="float64"), pd.Series(payers.to_numpy()), month)
    payer_codes, payer_names = pd.factorize(payers.to_numpy(), use_na_sentinel=False)
    payer_codes = np.tile(payer_codes, len(hours) // max(len(payers), 1))
    hour_codes, hour_values = pd.factorize(hours, use_na_sentinel=False)
    pairs, keys = pd.factorize(payer_codes.astype(np.int64) * len(hour_values) + hour_codes)
    which = np.asarray(keys, dtype=np.int64)
    distinct = book.assign(
        pd.Series(np.asarray(hour_values, dtype="float64")[which % len(hour_values)]),
        pd.Series(np.asarray(payer_names, dtype=object)[which // len(hour_values)]),
        month,
    )
    return distinct.take(pairs).reset_index(drop=True)


def flag_tier_risk(
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    month: pd.Timestamp,
    payer: str | None = None,
) -> pd.DataFrame:
    """Tier flags for every row of a tier report (same index as `table`).

    Columns: payer, hours_basis, billed_hours, unbilled_hours, basis_hours, tier,
    rate_code, rate, service_code, skilled_service_code, tier_if_billed,
    rate_if_billed, at_risk, dollar_effect, below_minimum, tier_reported,
    tier_ok, service_code_ok, tier_raised, claim_tier, claim_rate,
    claim_service_code, claim_skilled_service_code.

    A raised tier (seed 001: "does this affect the recommended tier if the
    unbilled hours become billed? If so, then modify the tier"): where the row's
    Tier is the one its billed + unbilled hours reach, `tier_raised` is True and
    the claim is for that tier: `claim_*` are the tier, rate and codes the row
    bills (the raised tier's, else the billed hours'). `tier`, `rate`, `at_risk`
    and `dollar_effect` stay the billed hours' (the workbook's formulas show those).

    `payer`: every row's payer, in place of the one its contract gives (a cell function
    asked for one payer's answer).
    """
    if payer is None:
        payers = book.payer_for_contracts(text(table, layout, "contract"))
    else:
        payers = pd.Series(payer, index=table.index, dtype=object)
    basis = book.hours_basis(payers)
    hours = {kind: numeric(table, layout, role) for kind, role in HOUR_KINDS.items()}
    billed = hours["billed"]
    unbilled = hours["unbilled"].fillna(0.0)
    now_hours = basis_hours(basis, hours)
    # A basis whose hours do not move when visits get billed (authorized) is never at risk.
    after_hours = basis_hours(basis, hours, once_billed=True)
    # Both assigned in one call, then split: each distinct (payer, hours) pair assigned
    # once (a month's hours repeat), and spread to the rows by one take.
    n = len(table)
    both = _assign_distinct(
        book, np.concatenate([now_hours.to_numpy(), after_hours.to_numpy()]), payers, month
    )
    now = both.iloc[:n].set_axis(table.index)
    after = both.iloc[n:].set_axis(table.index)

    # The columns gathered, then one frame (a column added to a frame at a time costs
    # more than the column itself on a small table).
    out: dict[str, pd.Series] = {
        "payer": payers,
        "hours_basis": basis,
        "billed_hours": billed,
        "unbilled_hours": unbilled,
        "basis_hours": now_hours,
    }
    for f in ("tier", "rate_code", "rate", "service_code", "skilled_service_code"):
        out[f] = now[f]
    out["tier_if_billed"] = after["tier"]
    out["rate_if_billed"] = after["rate"]
    changes = out["tier_if_billed"].fillna(0) != out["tier"].fillna(0)
    out["at_risk"] = (changes & out["tier_if_billed"].notna()).astype(bool)
    effect = out["rate_if_billed"].fillna(0.0) - out["rate"].fillna(0.0)
    out["dollar_effect"] = effect.where(out["at_risk"], 0.0).round(2)
    lowest = {p: float(book.tier_table(p, month)["min_hours"].min()) for p in pd.unique(payers)}
    tier1_min = map_distinct(payers, lambda p: lowest.get(p, np.nan)).astype("float64")
    out["below_minimum"] = (billed < tier1_min).fillna(False).astype(bool)
    out["tier_reported"] = reported_tier(text(table, layout, "tier"))
    raised = (
        out["at_risk"]
        & ~out["below_minimum"]
        & (out["tier_reported"] == out["tier_if_billed"]).fillna(False)
    ).astype(bool)
    out["tier_raised"] = raised
    for f in ("tier", "rate", "service_code", "skilled_service_code"):
        out[f"claim_{f}"] = out[f].where(~raised, after[f])
    out["tier_ok"] = (out["tier_reported"] == out["tier"]).fillna(False).astype(bool)
    code = text(table, layout, "service_code")
    out["service_code_ok"] = (
        (code == out["claim_service_code"].fillna(""))
        | (code == out["claim_skilled_service_code"].fillna(""))
    ) & out["claim_tier"].notna()
    return pd.DataFrame(out, index=table.index)


def risk_total(flags: pd.DataFrame) -> float:
    """Dollars the at-risk rows would gain (or lose) if their unbilled hours were billed."""
    return float(np.round(flags.loc[flags["at_risk"], "dollar_effect"].sum(), 2))
