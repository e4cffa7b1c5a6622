"""835 remittances per member-month: was each PMPM paid, at the tier billed, and what can
still be re-billed?

The payer answers the claims HHAeXchange sent with ASC X12 835 files. Three modules hold
the rules:

- `core.remittance_claims`: the 835's words (claim, patient, statement dates, service
  line, adjustment, provider adjustment) and `RemittanceReader`, segments to claim rows;
- `core.remittance_match`: `judge_remittance`, each PMPM claim matched to its ledger
  member-month and each member-month given one result;
- this module: the results (`RESULTS`), what was found (`Remittance`), and
  `paid_vs_billed`, the results summed per month and payer for the KPIs.

Results per member-month, from all its claims in order of payment (a reversal takes
back an earlier payment with negative amounts, so the amounts are summed):

- `reversed`: the last claim is a reversal (CLP02 22) and no correction followed;
- `denied`: the last claim is denied (CLP02 4, or 23 not the payer's), or nothing is
  paid in all; the CARC is the largest adjustment's;
- `paid-lower-tier`: paid less than the tier billed's rate, at a lower tier's code
  (SVC01) or a lower tier's rate exactly;
- `underpaid`: paid less than the tier billed's rate, by `difference`;
- `paid`: paid at least the rate of the tier billed;
- `no-remittance`: exported, no claim in the files, and more days since the export than
  the payer's `remittance_days` (payer settings); fewer are *awaiting* (counted only).

A member-month whose correction followed a reversal carries `corrected` = True. A claim
matched to no ledger member-month is *unmatched* (`UNMATCHED`), listed apart.

Plain functions over DataFrames; nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from xl_pmpm.core.spans import round_cents

PAID = "paid"
UNDERPAID = "underpaid"
LOWER_TIER = "paid-lower-tier"
DENIED = "denied"
REVERSED = "reversed"
NO_REMITTANCE = "no-remittance"
# Each result: what it means, what to do.
RESULTS: dict[str, tuple[str, str]] = {
    PAID: ("Paid at the rate of the tier billed.", ""),
    UNDERPAID: (
        "Paid below the rate of the tier billed, by the difference.",
        "Check the contract's billing rate (xl-pmpm service-setup --billing-rates), then "
        "appeal the difference or correct and re-bill.",
    ),
    LOWER_TIER: (
        "Paid at a lower tier's code or rate than the tier billed.",
        "Check the member's billed hours for the month; if the tier billed is right, "
        "appeal with the hours.",
    ),
    DENIED: (
        "Denied by the payer: the CARC says why.",
        "Fix what the reason code names and resubmit inside the submission window.",
    ),
    REVERSED: (
        "The payer reversed its payment (claim status 22) and sent no correction.",
        "Ask the payer why; re-bill if the PMPM is owed.",
    ),
    NO_REMITTANCE: (
        "Exported, but no claim in the 835 files after the payer's remittance days.",
        "Check the claim's status with the payer; resubmit if it never arrived.",
    ),
}
RECOVERABLE = (UNDERPAID, LOWER_TIER, DENIED, REVERSED, NO_REMITTANCE)
# Why a PMPM claim matched no ledger member-month.
UNMATCHED: dict[str, str] = {
    "member-unknown": "No Patient Number in the ledger for the claim's patient control number "
    "or member ID: give a crosswalk (--crosswalk).",
    "month-not-billed": "The member is in the ledger, but no export of the claim's month.",
    "no-dates": "The claim has no statement or service dates: its month is unknown.",
}
RESULT_COLUMNS = [
    "month",
    "patient_number",
    "contract",
    "payer",
    "tier",
    "rate",
    "paid",
    "difference",
    "result",
    "paid_tier",
    "carc",
    "carc_meaning",
    "claims",
    "corrected",
    "payer_claim_id",
    "paid_date",
    "exported_at",
    "submit_until",
    "days_left",
]


@dataclass
class Remittance:
    """The member-months judged, the claims matched to none, the provider adjustments."""

    results: pd.DataFrame  # RESULT_COLUMNS, one row per member-month with a claim or overdue
    unmatched: pd.DataFrame  # the PMPM claims matched to no member-month, with `why`
    provider_adjustments: pd.DataFrame  # PLB_COLUMNS
    as_of: date
    claims: int = 0  # claims read
    other_claims: int = 0  # claims that are not PMPM claims (direct care), left aside
    awaiting: int = 0  # billed member-months without remittance, still inside their days
    billed: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def recoverable(self) -> pd.DataFrame:
        return self.results[self.results["result"].isin(RECOVERABLE)]

    def totals(self) -> dict:
        res = self.results
        remitted = res[res["result"] != NO_REMITTANCE]
        rec = self.recoverable
        return {
            "as_of": str(self.as_of),
            "claims": self.claims,
            "pmpm_claims": self.claims - self.other_claims,
            "other_claims": self.other_claims,
            "member_months": len(res),
            "billed_dollars": _dollars(remitted["rate"]),
            "paid_dollars": _dollars(remitted["paid"]),
            "recoverable_member_months": len(rec),
            "recoverable_dollars": _dollars(rec["difference"]),
            "by_result": {
                code: int(n)
                for code, n in res["result"].value_counts().reindex(RESULTS).dropna().items()
                if n
            },
            "unmatched_claims": len(self.unmatched),
            "awaiting_member_months": self.awaiting,
            "provider_adjustments": _dollars(self.provider_adjustments["amount"]),
        }


def _dollars(values: pd.Series) -> float:
    return float(round_cents(pd.Series([float(values.sum())]))[0]) if len(values) else 0.0


def in_window(results: pd.DataFrame) -> pd.DataFrame:
    """The recoverable member-months still inside their submission window."""
    rec = results[results["result"].isin(RECOVERABLE)]
    return rec[rec["days_left"] >= 0]


PAID_TABLES = ("paid_vs_billed_by_month", "paid_vs_billed_by_payer")


def paid_vs_billed(found: Remittance) -> dict[str, pd.DataFrame]:
    """Per month, and per month and payer: member-months and dollars billed (the ledger),
    remitted (a claim in the 835s), paid, the share of billed dollars paid (0-1), and the
    recoverable dollars."""
    billed = found.billed
    res = found.results

    def table(by: list[str]) -> pd.DataFrame:
        b = billed.groupby(by).agg(billed_member_months=("rate", "size"), billed=("rate", "sum"))
        remitted = res[res["result"] != NO_REMITTANCE]
        r = remitted.groupby(by).agg(remitted_member_months=("rate", "size"), paid=("paid", "sum"))
        rec = res[res["result"].isin(RECOVERABLE)].groupby(by)["difference"].sum()
        out = b.join(r, how="outer").join(rec.rename("recoverable"), how="outer").fillna(0)
        out = out.reset_index()
        for c in ("billed", "paid", "recoverable"):
            out[c] = round_cents(out[c].astype(float))
        for c in ("billed_member_months", "remitted_member_months"):
            out[c] = out[c].astype("int64")
        share = out["paid"] / out["billed"].where(out["billed"] > 0)
        out["paid_share"] = share.round(4)
        return out

    return {
        "paid_vs_billed_by_month": table(["month"]),
        "paid_vs_billed_by_payer": table(["month", "payer"]),
    }


__all__ = [
    "NO_REMITTANCE",
    "PAID_TABLES",
    "RECOVERABLE",
    "RESULTS",
    "RESULT_COLUMNS",
    "UNMATCHED",
    "Remittance",
    "in_window",
    "paid_vs_billed",
]
