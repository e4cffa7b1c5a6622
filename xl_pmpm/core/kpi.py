"""KPIs of the PMPM model (OpenLoop article, seed 003) from the export ledger's history.

What counts: only confirmed `exported` ledger entries. A `pending` entry is an export
not yet confirmed in place, a `rejected` one is a row the import failed, and a
placeholder (`placeholder = 1`: a deferred row, its visit left unconfirmed in
pre-billing) was not billed: none of them is revenue.
A member is counted once per month: when a correction exported the member-month again,
the latest exported entry (highest id) gives its tier, rate and contract. Revenue is the
rate recorded at export (the rate in force for the member's payer and tier that month);
dollars are rounded half up to cents, as everywhere in xl_pmpm.

`kpi_tables(history, book)` returns the four tables the workbook's KPI sheet and
`xl-pmpm kpi` show, one plain header row each:

- by_month: month, members, revenue, revenue_per_member (the PMPM);
- by_tier: month, tier, members, revenue;
- tier_mix: month, tier, members, share (of the month's members, 0-1) and share_change
  (share minus the same tier's share in the previous calendar month; blank when nothing
  was exported that month). Every tier billed in any month has a row in every month, 0
  when it had no member, so a tier that empties shows its fall;
- by_payer: month, payer, members, revenue, revenue_per_member.

`billed_vs_earned(earned, history, book)` (issue 16) sets the ledger beside what the
visits earned (`unbilled.earned_member_months`: member-months with billed care and a
tier): per month, and per month and payer, the member-months and revenue earned, the
part billed (earned member-months with a confirmed exported entry, at the rate recorded
at export) and its share of the earned revenue (0-1; blank when nothing was earned).

Plain functions over DataFrames; nothing here reads files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xl_pmpm.core.entries import EXPORTED, PENDING, REJECTED
from xl_pmpm.core.rates import DEFAULT_PAYER, RateBook
from xl_pmpm.core.spans import round_cents

KPI_TABLES = ("by_month", "by_tier", "tier_mix", "by_payer")
MEMBER_MONTH_COLUMNS = ["month", "patient_number", "contract", "payer", "tier", "rate"]
KPI_COLUMNS: dict[str, list[str]] = {
    "by_month": ["month", "members", "revenue", "revenue_per_member"],
    "by_tier": ["month", "tier", "members", "revenue"],
    "tier_mix": ["month", "tier", "members", "share", "share_change"],
    "by_payer": ["month", "payer", "members", "revenue", "revenue_per_member"],
}
_DTYPES = {
    "month": "string",
    "payer": "string",
    "tier": "Int64",
    "members": "int64",
    "revenue": "float64",
    "revenue_per_member": "float64",
    "share": "float64",
    "share_change": "float64",
}
# Shares are kept to a hundredth of a percentage point.
SHARE_DECIMALS = 4


def _typed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    columns = KPI_COLUMNS[name]
    return frame[columns].astype({c: _DTYPES[c] for c in columns}).reset_index(drop=True)


def _placeholders(history: pd.DataFrame) -> pd.Series:
    """True for placeholder entries (a history without the column has none)."""
    if "placeholder" not in history:
        return pd.Series(False, index=history.index)
    return pd.to_numeric(history["placeholder"], errors="coerce").fillna(0).astype(int).eq(1)


def billed_member_months(history: pd.DataFrame, book: RateBook | None = None) -> pd.DataFrame:
    """One row per member and month billed: the latest confirmed `exported` entry of each.

    Columns: month, patient_number, contract, payer, tier, rate. The payer is the
    contract's, by the payer settings' contract patterns; without a rate book every
    contract is the default payer's ("*").
    """
    done = history[(history["status"] == EXPORTED) & ~_placeholders(history)]
    done = done.sort_values("id", kind="stable").drop_duplicates(
        ["patient_number", "month"], keep="last"
    )
    contracts = done["contract"].astype("string").fillna("")
    payer = (
        book.payer_for_contracts(contracts.astype(str))
        if book is not None
        else pd.Series(DEFAULT_PAYER, index=done.index)
    )
    out = pd.DataFrame(
        {
            "month": done["month"].astype("string"),
            "patient_number": done["patient_number"].astype("string"),
            "contract": contracts,
            "payer": payer.astype("string"),
            "tier": pd.to_numeric(done["tier"], errors="coerce").astype("Int64"),
            "rate": pd.to_numeric(done["rate"], errors="coerce").astype("float64"),
        }
    )
    return out.sort_values(["month", "patient_number"], kind="stable").reset_index(drop=True)


def _totals(members: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    out = (
        members.groupby(by, dropna=False, sort=True)
        .agg(members=("patient_number", "size"), revenue=("rate", "sum"))
        .reset_index()
    )
    out["revenue"] = round_cents(out["revenue"].to_numpy(float))
    return out


def _per_member(totals: pd.DataFrame) -> np.ndarray:
    return round_cents((totals["revenue"] / totals["members"]).to_numpy(float))


def revenue_by_month(members: pd.DataFrame) -> pd.DataFrame:
    """PMPM revenue per member per month: members billed, revenue, revenue / members."""
    out = _totals(members, ["month"])
    out["revenue_per_member"] = _per_member(out)
    return _typed(out, "by_month")


def members_by_tier(members: pd.DataFrame) -> pd.DataFrame:
    """Members and revenue per month and tier (tiers with no member are left out)."""
    return _typed(_totals(members, ["month", "tier"]), "by_tier")


def tier_mix(members: pd.DataFrame) -> pd.DataFrame:
    """Share of each month's members per tier, and its change from the month before."""
    counts = _totals(members, ["month", "tier"])
    months = sorted(counts["month"].unique())
    tiers = counts["tier"].astype("Int64").drop_duplicates().sort_values(na_position="last")
    grid = pd.MultiIndex.from_product([months, tiers], names=["month", "tier"])
    mix = counts.set_index(["month", "tier"])["members"].reindex(grid, fill_value=0)
    mix = mix.reset_index()
    total = mix.groupby("month")["members"].transform("sum")
    mix["share"] = mix["members"] / total
    before = mix.assign(
        month=(pd.PeriodIndex(mix["month"], freq="M") + 1).astype(str),
        previous=mix["share"],
    )[["month", "tier", "previous"]]
    mix = mix.merge(before, on=["month", "tier"], how="left")
    mix["share_change"] = (mix["share"] - mix["previous"]).round(SHARE_DECIMALS)
    mix["share"] = mix["share"].round(SHARE_DECIMALS)
    return _typed(mix, "tier_mix")


def revenue_by_payer(members: pd.DataFrame) -> pd.DataFrame:
    """Members, revenue and revenue per member per month and payer."""
    out = _totals(members, ["month", "payer"])
    out["revenue_per_member"] = _per_member(out)
    return _typed(out, "by_payer")


def kpi_tables(history: pd.DataFrame, book: RateBook | None = None) -> dict[str, pd.DataFrame]:
    """The KPI tables (keys: KPI_TABLES) from `ledger.history()`; see the module docstring.

    `book` names the payer of each contract (`RateBook.payer_for_contracts`).
    """
    members = billed_member_months(history, book)
    return {
        "by_month": revenue_by_month(members),
        "by_tier": members_by_tier(members),
        "tier_mix": tier_mix(members),
        "by_payer": revenue_by_payer(members),
    }


EARNED_TABLES = ("billed_vs_earned_by_month", "billed_vs_earned_by_payer")
_EARNED_VALUES = [
    "earned_members",
    "earned_revenue",
    "billed_members",
    "billed_revenue",
    "unbilled_revenue",
    "billed_share",
]
EARNED_KPI_COLUMNS: dict[str, list[str]] = {
    "billed_vs_earned_by_month": ["month", *_EARNED_VALUES],
    "billed_vs_earned_by_payer": ["month", "payer", *_EARNED_VALUES],
}


def billed_vs_earned(
    earned: pd.DataFrame, history: pd.DataFrame | None, book: RateBook | None = None
) -> dict[str, pd.DataFrame]:
    """Earned vs billed PMPM per month and per month and payer (keys: EARNED_TABLES).

    `earned`: month, patient_number, payer, rate (one row per member-month earned);
    `history`: the ledger's entries (None or empty: nothing billed). The payer is the
    earned row's (the contract the visits billed most hours under).
    """
    if history is not None and len(history):
        billed = billed_member_months(history, book)[["month", "patient_number", "rate"]]
    else:
        billed = pd.DataFrame({"month": [], "patient_number": [], "rate": []})
    rows = earned[["month", "patient_number", "payer", "rate"]].merge(
        billed.rename(columns={"rate": "billed_rate"}).astype(
            {"month": str, "patient_number": str}
        ),
        on=["month", "patient_number"],
        how="left",
        indicator=True,
    )
    rows["billed"] = rows["_merge"].eq("both")
    rows["billed_rate"] = rows["billed_rate"].where(rows["billed"], 0.0).astype("float64")
    rows["unbilled_rate"] = rows["rate"].where(~rows["billed"], 0.0)

    def table(by: list[str], name: str) -> pd.DataFrame:
        out = (
            rows.groupby(by, sort=True)
            .agg(
                earned_members=("patient_number", "size"),
                earned_revenue=("rate", "sum"),
                billed_members=("billed", "sum"),
                billed_revenue=("billed_rate", "sum"),
                unbilled_revenue=("unbilled_rate", "sum"),
            )
            .reset_index()
        )
        for c in ("earned_revenue", "billed_revenue", "unbilled_revenue"):
            out[c] = round_cents(out[c].to_numpy(float))
        share = out["billed_revenue"] / out["earned_revenue"].where(out["earned_revenue"] > 0)
        out["billed_share"] = share.round(SHARE_DECIMALS)
        columns = EARNED_KPI_COLUMNS[name]
        types = {"month": "string", "payer": "string", "earned_members": "int64"}
        types["billed_members"] = "int64"
        return out[columns].astype({c: t for c, t in types.items() if c in columns})

    return {
        "billed_vs_earned_by_month": table(["month"], "billed_vs_earned_by_month"),
        "billed_vs_earned_by_payer": table(["month", "payer"], "billed_vs_earned_by_payer"),
    }


PLACEHOLDER = "placeholder"


def status_counts(history: pd.DataFrame) -> dict[str, int]:
    """Ledger entries by kind, to say what was counted and what was left out.

    `exported` counts confirmed exported entries (the ones the KPIs count);
    `placeholder` the exported placeholders; `pending` and `rejected` the rest.
    """
    kind = history["status"].where(
        ~(_placeholders(history) & (history["status"] == EXPORTED)), PLACEHOLDER
    )
    counts = kind.value_counts()
    return {s: int(counts.get(s, 0)) for s in (PENDING, EXPORTED, REJECTED, PLACEHOLDER)}
