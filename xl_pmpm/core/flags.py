"""Per-row tier flags: tier now, tier if the unbilled hours were billed, the dollars at stake."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from xl_pmpm.core.hours_basis import HOUR_KINDS, basis_hours
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.parallel import side_by_side
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.values import Distinct, distinct_values, per_value, per_value_columns


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

    return per_value(values, _parse_tier)


def _parse_tier(u: pd.Series) -> pd.Series:
    digits = u.str.extract(r"^\s*(?:tier\s*)?([0-9]{1,9})\s*$", flags=re.IGNORECASE)[0]
    return pd.to_numeric(digits, errors="coerce").astype("Int64")


def _codes(
    table: pd.DataFrame, layout: Layout, role: str, coded: Mapping[str, Distinct] | None
) -> Distinct | None:
    """A role's column factorized (as validation already did, in `coded`), None if absent."""
    col = layout.column(role)
    if col is None or col.name not in table.columns:
        return None
    if coded is not None and col.name in coded:
        return coded[col.name]
    return distinct_values(table[col.name])


def _of_distinct(column: Distinct, check: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`check` of the column's distinct values, spread to its rows."""
    return next(per_value_columns([column], lambda u, _: check(u)))


def _parse_numbers(u: pd.Series) -> pd.Series:
    return pd.to_numeric(u.str.strip(), errors="coerce").astype("float64")


def flag_tier_risk(
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    month: pd.Timestamp,
    payer: str | None = None,
    coded: Mapping[str, Distinct] | None = None,
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
    asked for one payer's answer). `coded`: the table's columns already factorized
    (validation's), by name. Every text rule runs once per distinct value and every
    tier lookup once per row by position: a million rows name a few dozen contracts.
    """
    contract = _codes(table, layout, "contract", coded) if payer is None else None
    if contract is not None:
        # The payer and its basis of each distinct contract, then taken per row.
        of_contract = book.payer_for_contracts(contract.uniques.str.strip())
        payers = of_contract.take(contract.codes).set_axis(table.index)
        basis = book.hours_basis(of_contract).take(contract.codes).set_axis(table.index)
        payer_of, payer_names = pd.factorize(of_contract.to_numpy(), use_na_sentinel=False)
        payer_codes = payer_of[contract.codes]
    else:
        if payer is None:
            payers = book.payer_for_contracts(text(table, layout, "contract"))
        else:
            payers = pd.Series(payer, index=table.index, dtype=object)
        basis = book.hours_basis(payers)
        payer_codes, payer_names = pd.factorize(payers.to_numpy(), use_na_sentinel=False)
    hours = {}
    for kind, role in HOUR_KINDS.items():
        column = _codes(table, layout, role, coded)
        hours[kind] = (
            numeric(table, layout, role) if column is None else _of_distinct(column, _parse_numbers)
        )
    billed = hours["billed"]
    unbilled = hours["unbilled"].fillna(0.0)
    now_hours = basis_hours(basis, hours)
    # A basis whose hours do not move when visits get billed (authorized) is never at risk.
    after_hours = basis_hours(basis, hours, once_billed=True)
    # Each row's tier as its position in the payers' tier tables (-1: none), now and once
    # billed; each field is one take from those small tables.
    names = list(payer_names)
    now, tiers = book.tier_rows(now_hours.to_numpy(), payer_codes, names, month)
    after, _ = book.tier_rows(after_hours.to_numpy(), payer_codes, names, month)

    def field(name: str, at: np.ndarray) -> pd.Series:
        return pd.Series(tiers[name].take(at, allow_fill=True), index=table.index)

    # The columns gathered, then one frame (a column added to a frame at a time costs
    # more than the column itself on a small table).
    out: dict[str, pd.Series] = {
        "payer": payers,
        "hours_basis": basis,
        "billed_hours": billed,
        "unbilled_hours": unbilled,
        "basis_hours": now_hours,
    }
    # Each field one take, side by side on a large table (Arrow's and numpy's takes let go of
    # the interpreter's lock): {column: (the tier tables' field, each row's tier row)}.
    now_fields = ("tier", "rate_code", "rate", "service_code", "skilled_service_code")
    jobs = {f: (f, now) for f in now_fields}
    jobs |= {"tier_if_billed": ("tier", after), "rate_if_billed": ("rate", after)}
    taken = side_by_side(lambda job: field(*job), jobs.values(), len(table))
    out.update(zip(jobs, taken, strict=True))
    changes = out["tier_if_billed"].fillna(0) != out["tier"].fillna(0)
    out["at_risk"] = (changes & out["tier_if_billed"].notna()).astype(bool)
    effect = out["rate_if_billed"].fillna(0.0) - out["rate"].fillna(0.0)
    out["dollar_effect"] = effect.where(out["at_risk"], 0.0).round(2)
    lowest = np.array(
        [float(book.tier_table(p, month)["min_hours"].min()) for p in names] or [np.nan]
    )
    tier1_min = pd.Series(lowest[payer_codes], index=table.index, dtype="float64")
    out["below_minimum"] = (billed < tier1_min).fillna(False).astype(bool)
    tier = _codes(table, layout, "tier", coded)
    out["tier_reported"] = (
        reported_tier(text(table, layout, "tier"))
        if tier is None
        else _of_distinct(tier, lambda u: _parse_tier(u.str.strip()))
    )
    raised = (
        out["at_risk"]
        & ~out["below_minimum"]
        & (out["tier_reported"] == out["tier_if_billed"]).fillna(False)
    ).astype(bool)
    out["tier_raised"] = raised
    claim = np.where(raised.to_numpy(), after, now)  # the row's claim: its raised tier's
    claims = {f"claim_{f}": f for f in ("tier", "rate", "service_code", "skilled_service_code")}
    taken = side_by_side(lambda f: field(f, claim), claims.values(), len(table))
    out.update(zip(claims, taken, strict=True))
    out["tier_ok"] = (out["tier_reported"] == out["tier"]).fillna(False).astype(bool)
    out["service_code_ok"] = _service_code_ok(table, layout, coded, tiers, claim, out)
    return pd.DataFrame(out, index=table.index, copy=False)  # the columns as made: no copy


def _service_code_ok(
    table: pd.DataFrame,
    layout: Layout,
    coded: Mapping[str, Distinct] | None,
    tiers: dict,
    claim: np.ndarray,
    out: dict[str, pd.Series],
) -> pd.Series:
    """Where the row's service code is its claimed tier's (PA or skilled) code.

    Asked once per pair of a distinct code and a tier-table row (a dozen codes, a few
    dozen tiers), then taken per row; `out`'s claim columns where there is no column.
    """

    def ok(code: pd.Series, pa: pd.Series, skilled: pd.Series, tier: pd.Series) -> pd.Series:
        return ((code == pa.fillna("")) | (code == skilled.fillna(""))) & tier.notna()

    column = _codes(table, layout, "service_code", coded)
    if column is None:  # no column: every row's code is blank
        claims = [out[f"claim_{f}"] for f in ("service_code", "skilled_service_code", "tier")]
        return ok(text(table, layout, "service_code"), *claims)
    size = len(tiers["tier"]) + 1  # position 0: no tier (-1)
    code = column.uniques.str.strip()
    at = np.tile(np.arange(-1, size - 1), len(code))

    def of(name: str) -> pd.Series:
        return pd.Series(tiers[name].take(at, allow_fill=True))

    left = code.take(np.repeat(np.arange(len(code)), size)).reset_index(drop=True)
    grid = ok(left, of("service_code"), of("skilled_service_code"), of("tier"))
    return grid.take(column.codes.astype(np.int64) * size + claim + 1).set_axis(table.index)


def risk_total(flags: pd.DataFrame) -> float:
    """Dollars the at-risk rows would gain (or lose) if their unbilled hours were billed."""
    return float(np.round(flags.loc[flags["at_risk"], "dollar_effect"].sum(), 2))
