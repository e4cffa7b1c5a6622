"""One member-month, one tier: a member's hours on several contracts billed as one row.

Seed 001: each tier is "a range of actual direct care hours of CDPAP services for the
Member for the month", and the PMPM is billed once a month. A member with visits under
two contracts in a month (100 h on one, 80 h on another) earns one PMPM on 180 h
(Tier 2), not two Tier-1 PMPMs on 100 h and 80 h.

`one_row_per_member` is the rule, used by both `xl-pmpm visits` (`visits.aggregate_visits`)
and `xl-pmpm unbilled` (`unbilled.earned_from_hours`), so the tier report and the list of
unbilled member-months always agree on the row's contract, hours and tier:

- the hours (billed, unbilled, authorized) are the sums over the member's contracts;
- the row goes on one contract: the payer's PMPM contract where the payer settings name
  one (`pmpm_contract`: seed 001's contract "for JUST the PMPM claims"), else the
  contract with the most billed hours (a tie goes to the contract whose name sorts
  first); the payer is that contract's;
- `auto_billed` is True where any of the member's contracts is one whose PMPM
  HHAeXchange bills itself (payer settings `auto_billed`): its PMPM exists already, and
  a row from the tier report would be a second claim.

Grouped operations only (no Python per member): the few members with more than one
contract get their contracts listed (`other_contracts`) for the `split-contracts` warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xl_pmpm.core.rates import RateBook

# Columns `one_row_per_member` adds.
SPLIT_COLUMNS = ["contracts", "other_contracts", "lead_hours", "auto_billed"]


def _hours_text(values: pd.Series) -> pd.Series:
    return values.round(2).map("{:.2f}".format).astype(str)


def one_row_per_member(
    sums: pd.DataFrame,
    book: RateBook,
    *,
    by: tuple[str, ...] = (),
    summed: tuple[str, ...] = ("billed",),
) -> pd.DataFrame:
    """One row per member (and per `by`, e.g. the month) from per-contract sums.

    `sums` has one row per `by`, contract and patient_number, with the columns of
    `summed` (hours: added up over the member's contracts; NaN only where every
    contract's is NaN) and a `billed` column (which contract has the most). Other
    columns are the lead contract's (the one with the most billed hours). Returns the
    same columns, `contract` the row's contract (see the module doc), plus:

    - contracts: how many contracts the member has in `sums` for the month;
    - other_contracts: the member's other contracts with their billed hours,
      "NAME (80.00 h); ..." ('' where one contract);
    - lead_hours: the billed hours of the row's contract alone (0 where the row goes
      on a PMPM contract without visits);
    - auto_billed: any of the member's contracts is billed by HHAeXchange itself.

    Ordered as `sums` where each member has one contract, else by `by` and
    patient_number: the caller orders its output.
    """
    keys = [*by, "patient_number"]
    if sums.empty:
        out = sums.copy()
        for c, dtype in zip(SPLIT_COLUMNS, ["int64", "str", "float64", "bool"], strict=True):
            out[c] = pd.Series(dtype=dtype)
        return out
    contract_text = sums["contract"].astype(str)
    auto = book.auto_billed(contract_text).to_numpy()
    order = sums.assign(_contract=contract_text.to_numpy(), _auto=auto)
    first = ~order.duplicated(keys, keep="first").to_numpy()
    if not first.all():  # some member has several contracts: the lead one first
        order = order.sort_values(
            [*keys, "billed", "_contract"],
            ascending=[True] * len(keys) + [False, True],
            kind="stable",
        )
        first = ~order.duplicated(keys, keep="first").to_numpy()
    lead = order[first].reset_index(drop=True)
    split = not first.all()
    if split:
        groups = order.groupby(keys, sort=True, observed=True)
        size = groups.size().to_numpy()
        for c in summed:
            lead[c] = groups[c].sum(min_count=1).to_numpy()
        lead["_auto"] = groups["_auto"].any().to_numpy()
    else:
        size = np.ones(len(lead), dtype="int64")
    lead["contracts"] = size.astype("int64")
    lead["lead_hours"] = order.loc[first, "billed"].to_numpy(dtype="float64")
    lead["auto_billed"] = lead.pop("_auto").astype(bool)

    # The payer's PMPM contract, where its settings name one.
    payers = book.payer_for_contracts(lead["_contract"])
    pmpm = book.pmpm_contracts(payers)
    moved = (pmpm != "").to_numpy() & (pmpm.to_numpy() != lead["_contract"].to_numpy())
    chosen = np.where(moved, pmpm.to_numpy(), lead["_contract"].to_numpy())

    others = pd.Series("", index=lead.index, dtype="str")
    if split or moved.any():
        # The member's contracts other than the row's, listed for the split-contracts warning.
        row_of = pd.Series(np.arange(len(lead)), index=pd.MultiIndex.from_frame(lead[keys]))
        at = row_of.reindex(pd.MultiIndex.from_frame(order[keys])).to_numpy()
        not_row = order["_contract"].to_numpy() != chosen[at]
        rest = order[not_row]
        if len(rest):
            listed = (rest["_contract"] + " (" + _hours_text(rest["billed"]) + " h)").to_numpy()
            owner = at[not_row]
            # Joined by rank within the member (a member has a few contracts at most): one
            # vectorized pass per rank, no Python per member.
            rank = pd.Series(owner).groupby(owner).cumcount().to_numpy()
            for r in range(int(rank.max()) + 1):
                pick = rank == r
                part = np.full(len(lead), "", dtype=object)
                part[owner[pick]] = listed[pick]
                part = pd.Series(part, index=lead.index, dtype="str")
                glue = "" if r == 0 else "; "
                others = others.where(part == "", others + glue + part)
        # The hours of the PMPM contract itself: its visits', 0 where it has none.
        mine = pd.Series(order["billed"].to_numpy(), index=at)[~not_row]
        lead_hours = np.zeros(len(lead))
        lead_hours[mine.index.to_numpy()] = mine.to_numpy()
        lead["lead_hours"] = lead_hours
    lead["other_contracts"] = others.where(lead["contracts"] > 1, "")
    out = lead.drop(columns="_contract")
    if isinstance(sums["contract"].dtype, pd.CategoricalDtype):
        out["contract"] = pd.Categorical(chosen)
    else:
        out["contract"] = chosen
    return out


def split_message(table: pd.DataFrame) -> pd.Series:
    """The `split-contracts` warning's text for each row (meant for rows with contracts > 1)."""
    if table.empty:
        return pd.Series(dtype=str)
    return (
        "The member has billed hours under "
        + table["contracts"].astype(str)
        + " contracts this month; they are added up for one tier (a PMPM is billed once "
        "per member and month, on all its hours): "
        + _hours_text(table["lead_hours"].fillna(0.0))
        + " h on this row's contract "
        + table["contract"].astype(str)
        + ", plus "
        + table["other_contracts"]
        + "."
    )
