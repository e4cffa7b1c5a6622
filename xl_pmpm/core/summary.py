"""The month's "Visit Summary" (as Visiting Aid calls it): totals before anything is billed.

`visit_summary(table, flags, archive)` is a plain function over DataFrames: the
tier report, its tier flags (validation.validate_table / flags.flag_tier_risk)
and optionally the review archive records (review.py: archived_at, action,
reason, line, source, month + the row's columns). `summary_payload` turns the
result into JSON-ready data.

Dollars are the rates of rows that will be billed as they stand: a row with a
tier, and not deferred (a deferred row has blank Visit Start / Visit End and goes
in as an unconfirmed placeholder).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xl_pmpm.core.layout import Layout

DEFAULT_CONTRACT_COLUMN = "Primary Contract"
GROUP_COLUMNS = [
    "members",
    "billable_members",
    "billed_hours",
    "unbilled_hours",
    "dollars",
    "at_risk_members",
    "at_risk_dollars",
]


def _deferred(table: pd.DataFrame, layout: Layout | None, archive: pd.DataFrame | None):
    names = (
        [c.name for c in map(layout.column, ("visit_start", "visit_end")) if c is not None]
        if layout is not None
        else ["Visit Start Time", "Visit End Time"]
    )
    names = [n for n in names if n in table.columns]
    if names:
        blank = np.logical_and.reduce(
            [table[n].fillna("").astype(str).str.strip().eq("").to_numpy() for n in names]
        )
        out = pd.Series(blank, index=table.index)
    else:
        out = pd.Series(False, index=table.index)
    if archive is not None and not archive.empty and "action" in archive:
        lines = archive.loc[archive["action"] == "defer", "line"].astype("int64")
        out |= table.index.isin(lines)
    return out


def _groups(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    grouped = frame.groupby(key, sort=True, dropna=False)
    out = grouped.agg(
        members=("billed_hours", "size"),
        billable_members=("billable", "sum"),
        billed_hours=("billed_hours", "sum"),
        unbilled_hours=("unbilled_hours", "sum"),
        dollars=("dollars", "sum"),
        at_risk_members=("at_risk", "sum"),
        at_risk_dollars=("held", "sum"),
    )
    out[["billed_hours", "unbilled_hours", "dollars", "at_risk_dollars"]] = out[
        ["billed_hours", "unbilled_hours", "dollars", "at_risk_dollars"]
    ].round(2)
    out[["members", "billable_members", "at_risk_members"]] = out[
        ["members", "billable_members", "at_risk_members"]
    ].astype("int64")
    return out[GROUP_COLUMNS]


def _archived(archive: pd.DataFrame | None, action: str, contract_col: str) -> pd.DataFrame:
    cols = ["line", "archived_at", "reason", "month", "source", "contract"]
    if archive is None or archive.empty or "action" not in archive:
        return pd.DataFrame(columns=cols)
    rows = archive[archive["action"] == action]
    return pd.DataFrame(
        {
            "line": rows["line"].astype("int64"),
            "archived_at": rows["archived_at"].astype(str),
            "reason": rows["reason"].astype(str),
            "month": rows.get("month", pd.Series("", index=rows.index)).astype(str),
            "source": rows.get("source", pd.Series("", index=rows.index)).astype(str),
            "contract": rows.get(contract_col, pd.Series("", index=rows.index))
            .fillna("")
            .astype(str),
        }
    ).reset_index(drop=True)


def visit_summary(
    table: pd.DataFrame,
    flags: pd.DataFrame,
    archive: pd.DataFrame | None = None,
    *,
    layout: Layout | None = None,
) -> dict:
    """Members, hours and dollars by tier and by contract; members at risk; deferred/removed.

    Returns a dict: `members`, `billable_members`, `billed_hours`, `unbilled_hours`,
    `dollars`, `at_risk_members`, `at_risk_dollars` (what the at-risk rows hold
    now), `at_risk_effect` (what billing their unbilled hours would add or take
    away), `deferred_members`, `removed_members` (numbers), and DataFrames
    `by_tier` (index: tier, 0 = no tier), `by_contract`, `deferred`, `removed`
    (the archive's records: line, archived_at, reason, month, source, contract).
    The contract column is the layout's (default "Primary Contract").
    """
    contract = layout.column("contract") if layout is not None else None
    contract_col = contract.name if contract is not None else DEFAULT_CONTRACT_COLUMN
    f = flags.reindex(table.index)
    deferred = _deferred(table, layout, archive)
    tier = f["tier"].astype("Int64") if "tier" in f else pd.Series(pd.NA, index=table.index)
    rate = f["rate"].astype("float64").fillna(0.0) if "rate" in f else 0.0
    at_risk = f.get("at_risk", pd.Series(False, index=table.index)).fillna(False).astype(bool)
    billable = tier.notna().to_numpy() & ~deferred.to_numpy()
    frame = pd.DataFrame(
        {
            "tier": tier.fillna(0).astype("int64"),
            "contract": (
                table[contract_col].fillna("").astype(str).str.strip()
                if contract_col in table.columns
                else ""
            ),
            "billed_hours": f.get("billed_hours", pd.Series(np.nan, index=table.index)).fillna(0.0),
            "unbilled_hours": f.get("unbilled_hours", pd.Series(0.0, index=table.index)).fillna(
                0.0
            ),
            "billable": billable,
            "dollars": np.where(billable, rate, 0.0),
            "at_risk": at_risk.to_numpy() & ~deferred.to_numpy(),
        },
        index=table.index,
    )
    frame["held"] = np.where(frame["at_risk"], frame["dollars"], 0.0)
    effect = f.get("dollar_effect", pd.Series(0.0, index=table.index)).fillna(0.0)
    removed = _archived(archive, "delete", contract_col)
    deferred_records = _archived(archive, "defer", contract_col)
    return {
        "members": int(len(frame)),
        "billable_members": int(frame["billable"].sum()),
        "billed_hours": round(float(frame["billed_hours"].sum()), 2),
        "unbilled_hours": round(float(frame["unbilled_hours"].sum()), 2),
        "dollars": round(float(frame["dollars"].sum()), 2),
        "at_risk_members": int(frame["at_risk"].sum()),
        "at_risk_dollars": round(float(frame["held"].sum()), 2),
        "at_risk_effect": round(float(effect[frame["at_risk"]].sum()), 2),
        "deferred_members": int(deferred.sum()),
        "removed_members": int(len(removed)),
        "by_tier": _groups(frame, "tier"),
        "by_contract": _groups(frame, "contract"),
        "deferred": deferred_records,
        "removed": removed,
    }


def summary_payload(summary: dict) -> dict:
    """`visit_summary`'s result with its DataFrames as lists of records (JSON-ready)."""
    out = {}
    for key, value in summary.items():
        if isinstance(value, pd.DataFrame):
            frame = value.reset_index() if key in ("by_tier", "by_contract") else value
            out[key] = frame.astype(object).where(frame.notna(), None).to_dict("records")
        else:
            out[key] = value
    return out


def summary_text(summary: dict) -> str:
    """A short plain-text rendering (no member IDs or names)."""
    lines = [
        f"{summary['members']} member(s), {summary['billable_members']} billable: "
        f"${summary['dollars']:,.2f} on {summary['billed_hours']:,.2f} billed hour(s) "
        f"({summary['unbilled_hours']:,.2f} unbilled).",
        f"At risk: {summary['at_risk_members']} member(s) holding "
        f"${summary['at_risk_dollars']:,.2f} (billing their unbilled hours: "
        f"{summary['at_risk_effect']:+,.2f}).",
        f"Deferred: {summary['deferred_members']}; removed: {summary['removed_members']}.",
        "By tier:",
    ]
    for tier, r in summary["by_tier"].iterrows():
        label = f"Tier {tier}" if tier else "No tier"
        lines.append(
            f"  {label:8} {r['members']:>7} member(s) {r['billed_hours']:>12,.2f} h "
            f"${r['dollars']:>12,.2f}"
        )
    lines.append("By contract:")
    for contract, r in summary["by_contract"].iterrows():
        lines.append(
            f"  {contract[:40]:40} {r['members']:>7} member(s) ${r['dollars']:>12,.2f}"
            f"  at risk {r['at_risk_members']}"
        )
    return "\n".join(lines)
