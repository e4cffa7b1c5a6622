"""835 claims matched to the ledger's billed member-months, and each member-month judged.

`judge_remittance` matches each PMPM claim (`core.remittance_claims`' rows) to its ledger
member-month (`billed_for_remittance`) and gives each member-month one result
(`core.remittance.RESULTS`, whose module doc gives the results' rules).

Matching. A claim is a PMPM claim when a service line's code is one of the rate table's
PMPM codes (rate, service, skilled service or HCPCS code), or it has no service line
and charges a rate of the table. The member: through the crosswalk (the payer's member
ID, then the patient control number, to a Patient Number) when one is given, else the
patient control number, then the member ID, if it is a Patient Number in the ledger;
compared by `values.member_key`, as the ledger compares members. The month: the
statement dates'.

Plain functions over DataFrames; nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.claims import submission_window
from xl_pmpm.core.entries import EXPORTED
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.kpi import billed_member_months
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.remittance import (
    DENIED,
    LOWER_TIER,
    NO_REMITTANCE,
    PAID,
    RESULT_COLUMNS,
    REVERSED,
    UNDERPAID,
    Remittance,
)
from xl_pmpm.core.remittance_claims import CLAIM_COLUMNS, DENIED_STATUS, PLB_COLUMNS, REVERSAL
from xl_pmpm.core.values import member_key

CENT = 0.005


def _text(values: pd.Series) -> pd.Series:
    """A text column as strings (a categorical's values, not its codes)."""
    return values.astype("string")


def pmpm_codes(book: RateBook) -> set[str]:
    """Every code the rate table gives a PMPM tier (rate, service, skilled, HCPCS)."""
    rates = book.rates
    columns = [
        c for c in ("rate_code", "service_code", "skilled_service_code", "hcpcs") if c in rates
    ]
    codes = pd.concat([rates[c].astype("string") for c in columns]).dropna().str.strip()
    return set(codes[codes != ""])


def billed_for_remittance(history: pd.DataFrame, book: RateBook) -> pd.DataFrame:
    """The ledger's billed member-months (`kpi.billed_member_months`) with the day each
    was first exported (`exported_at`, YYYY-MM-DD) and the member's key."""
    billed = billed_member_months(history, book)
    done = history[history["status"] == EXPORTED]
    first = (
        done.assign(exported_at=done["exported_at"].astype(str).str[:10])
        .groupby(["patient_number", "month"], as_index=False)["exported_at"]
        .min()
        .astype({"patient_number": "string", "month": "string"})
    )
    billed = billed.merge(first, on=["patient_number", "month"], how="left")
    return billed.assign(_member=member_key(billed["patient_number"]).to_numpy())


def _month_of(claims: pd.DataFrame) -> pd.Series:
    month: pd.Series | None = None
    for col in ("statement_from", "statement_to", "service_date"):
        found = _text(claims[col]).str[:7].replace("", pd.NA)
        month = found if month is None else month.fillna(found)
    return month if month is not None else pd.Series(pd.NA, index=claims.index, dtype="string")


def _members(claims: pd.DataFrame, known: set[str], crosswalk: pd.DataFrame | None) -> pd.Series:
    by_member = member_key(claims["member_id"])
    by_claim = member_key(claims["claim_id"])
    patient = pd.Series(pd.NA, index=claims.index, dtype="string")
    if crosswalk is not None and len(crosswalk):
        target = member_key(crosswalk["patient_number"])
        for column, ids in (("member_id", by_member), ("patient_control_number", by_claim)):
            if column in crosswalk:
                source = member_key(crosswalk[column])
                table = dict(zip(source[source != ""], target[source != ""], strict=True))
                patient = patient.fillna(ids.map(table).astype("string"))
    for ids in (by_claim, by_member):
        patient = patient.fillna(ids.where(ids.isin(known)).astype("string"))
    return patient


def _tier_lookup(book: RateBook, pairs: pd.DataFrame) -> pd.DataFrame:
    """payer, month, code, tier, rate of every tier in force for each (payer, month)."""
    rows: list[dict] = []
    for payer, month in pairs.itertuples(index=False):
        try:
            table = book.tier_table(str(payer), pd.Timestamp(f"{month}-01"))
        except PmpmInputError:
            continue
        columns = [
            c for c in ("rate_code", "service_code", "skilled_service_code", "hcpcs") if c in table
        ]
        for t in table.itertuples(index=False):
            for c in columns:
                code = getattr(t, c)
                if isinstance(code, str) and code.strip():
                    rows.append(
                        {
                            "payer": payer,
                            "month": month,
                            "code": code.strip(),
                            "tier": int(t.tier),
                            "tier_rate": float(t.rate),
                        }
                    )
    return pd.DataFrame(rows, columns=["payer", "month", "code", "tier", "tier_rate"])


def judge_remittance(
    claims: pd.DataFrame,
    billed: pd.DataFrame,
    book: RateBook,
    as_of: date,
    *,
    carc: Mapping[str, str],
    crosswalk: pd.DataFrame | None = None,
    provider_adjustments: pd.DataFrame | None = None,
) -> Remittance:
    """One result per member-month from the claims (CLAIM_COLUMNS) and the ledger's billed
    member-months (`billed_for_remittance`). `carc`: reason code -> meaning. See the
    module doc for the rules."""
    plb = (
        provider_adjustments
        if provider_adjustments is not None
        else pd.DataFrame(columns=PLB_COLUMNS)
    )
    codes = pmpm_codes(book)
    rates = set(np.round(book.rates["rate"].astype(float), 2))
    has_line = claims["paid_code"] != ""
    pmpm = (has_line & (claims["paid_code"].isin(codes) | claims["billed_code"].isin(codes))) | (
        ~has_line & claims["charge"].abs().round(2).isin(rates)
    )
    total, claims = len(claims), claims[pmpm.to_numpy()].copy()
    claims["month"] = _month_of(claims)
    known = set(billed["_member"])
    claims["_member"] = _members(claims, known, crosswalk)
    rows = claims.merge(
        billed[["_member", "month", "patient_number", "contract", "payer", "tier", "rate",
               "exported_at"]].rename(columns={"payer": "ledger_payer"}),
        on=["_member", "month"],
        how="left",
    )  # fmt: skip
    found = rows["patient_number"].notna()
    why = np.select(
        [rows["month"].isna(), rows["_member"].isna() | ~rows["_member"].isin(known)],
        ["no-dates", "member-unknown"],
        default="month-not-billed",
    )
    unmatched = rows[~found.to_numpy()].assign(why=why[~found.to_numpy()])
    unmatched = unmatched[[*CLAIM_COLUMNS, "month", "why"]].reset_index(drop=True)
    matched = rows[found.to_numpy()]
    matched = matched.assign(paid_date=_text(matched["paid_date"]))
    matched = matched.sort_values(["paid_date", "order"], kind="stable")

    results = _judge(matched, book, carc)
    overdue, awaiting = _no_remittance(billed, results, book, as_of)
    results = pd.concat([results, overdue], ignore_index=True) if len(overdue) else results
    results = _windows(results, book, as_of)
    results = results.sort_values(["month", "payer", "result", "patient_number"], kind="stable")
    return Remittance(
        results=results[RESULT_COLUMNS].reset_index(drop=True),
        unmatched=unmatched,
        provider_adjustments=plb.reset_index(drop=True),
        as_of=as_of,
        claims=total,
        other_claims=total - int(pmpm.sum()),
        awaiting=awaiting,
        billed=billed,
    )


def _judge(matched: pd.DataFrame, book: RateBook, carc: Mapping[str, str]) -> pd.DataFrame:
    if matched.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    keys = ["_member", "month"]
    groups = matched.groupby(keys, sort=False)
    net = groups["paid"].sum().round(2).rename("net")
    count = groups.size().rename("claims")
    is_reversal = (matched["status"] == REVERSAL).astype("int64")
    reversals = is_reversal.groupby([matched[k] for k in keys], sort=False).sum()
    reversals = reversals.rename("reversals")
    last = matched.drop_duplicates(keys, keep="last").set_index(keys)
    out = last.join([net, count, reversals]).reset_index()
    out["payer"] = out["ledger_payer"]
    rate = out["rate"].astype(float)
    short = out["net"] < rate - CENT

    lookup = _tier_lookup(book, out[["payer", "month"]].drop_duplicates())
    by_code = lookup.drop_duplicates(["payer", "month", "code"])
    tier_of_code = out[["payer", "month", "paid_code"]].merge(
        by_code.rename(columns={"code": "paid_code"}), on=["payer", "month", "paid_code"],
        how="left",
    )["tier"].to_numpy()  # fmt: skip
    by_rate = lookup.assign(net=lookup["tier_rate"].round(2)).drop_duplicates(
        ["payer", "month", "net"]
    )
    tier_of_rate = (
        out[["payer", "month", "net"]]
        .merge(
            by_rate[["payer", "month", "net", "tier"]], on=["payer", "month", "net"], how="left"
        )["tier"]
        .to_numpy()
    )
    # The lower of the tier of the code paid and the tier whose rate was paid exactly.
    paid_tier = pd.concat(
        [pd.Series(tier_of_code, dtype="Float64"), pd.Series(tier_of_rate, dtype="Float64")],
        axis=1,
    ).min(axis=1)
    billed_tier = pd.to_numeric(out["tier"], errors="coerce").astype("Float64")
    lower = (paid_tier < billed_tier).fillna(False).to_numpy(dtype=bool)

    reversed_ = out["status"] == REVERSAL
    denied = ~reversed_ & (out["status"].isin(DENIED_STATUS) | (out["net"] <= CENT))
    out["result"] = np.select(
        [reversed_, denied, short & lower, short],
        [REVERSED, DENIED, LOWER_TIER, UNDERPAID],
        default=PAID,
    )
    out["paid"] = out["net"]
    # A reversal whose payment came in an earlier file nets below zero: still one rate owed.
    owed = (rate - out["net"].clip(lower=0)).round(2)
    out["difference"] = owed.where(out["result"] != PAID, 0.0)
    out["paid_tier"] = paid_tier.round().astype("Int64").to_numpy()
    show_carc = out["result"].isin([DENIED, UNDERPAID, LOWER_TIER, REVERSED]) & (out["carc"] != "")
    out["carc"] = (_text(out["carc_group"]) + "-" + _text(out["carc"])).where(show_carc, "")
    out["carc_meaning"] = [
        carc.get(c.split("-", 1)[1], "reason code not in data/carc.csv") if c else ""
        for c in out["carc"]
    ]
    out["corrected"] = (out["reversals"] > 0) & ~reversed_
    return out


def _no_remittance(
    billed: pd.DataFrame, results: pd.DataFrame, book: RateBook, as_of: date
) -> tuple[pd.DataFrame, int]:
    seen = set(zip(member_key(results["patient_number"].astype("string")), results["month"],
                   strict=True))  # fmt: skip
    keys = list(zip(billed["_member"], billed["month"], strict=True))
    waiting = billed[[k not in seen for k in keys]].copy()
    if waiting.empty:
        return waiting.iloc[0:0], 0
    days = book.remittance_days(waiting["payer"].astype(str))
    exported = pd.to_datetime(waiting["exported_at"], errors="coerce")
    due = exported + pd.to_timedelta(days.to_numpy(), unit="D")
    late = (due < pd.Timestamp(as_of)).fillna(False).to_numpy(dtype=bool)
    overdue = waiting[late].assign(
        paid=0.0,
        difference=waiting.loc[late, "rate"].astype(float),
        result=NO_REMITTANCE,
        paid_tier=pd.NA,
        carc="",
        carc_meaning="",
        claims=0,
        corrected=False,
        payer_claim_id="",
        paid_date="",
    )
    return overdue, int((~late).sum())


def _windows(results: pd.DataFrame, book: RateBook, as_of: date) -> pd.DataFrame:
    """The submission window's last day and the days left to resubmit, per member-month."""
    if results.empty:
        return results.assign(submit_until=pd.Series(dtype="string"), days_left=0)
    days = book.submission_days(results["payer"].astype(str))
    last: dict[tuple[str, int], date] = {}
    until = []
    for month, n in zip(results["month"], days, strict=True):
        if (month, n) not in last:
            last[month, n] = submission_window(month, int(n))[1]
        until.append(last[month, n])
    left = [(u - as_of).days for u in until]
    return results.assign(submit_until=[str(u) for u in until], days_left=left)


__all__ = ["billed_for_remittance", "judge_remittance", "pmpm_codes"]
