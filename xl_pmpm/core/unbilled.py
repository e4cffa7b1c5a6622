"""Unbilled PMPM: member-months that earned a PMPM whose PMPM is not confirmed.

A member-month *earns* a PMPM when the visits show at least one billed hour of direct
care in the month (seed 001: "the FI must also have billed at least one hour of direct
care") and the payer's tier table gives it a tier. Its PMPM is *confirmed* when the
export ledger holds a confirmed entry of the member and month: status `exported` (or
`pending`: an export in flight, which the next export or reconcile settles), not a
placeholder. A PMPM is billed once per member per month, whatever the contract, so the
ledger is matched on member and month.

Every earned member-month without a confirmed entry is *unbilled*, with one reason
(`REASONS`, stable codes), the first that applies:

- `rejected`: the import rejected its row and no resubmission was exported since;
- `placeholder`: exported only as an unconfirmed placeholder (a deferred row);
- `deferred` / `deleted`: set aside in review (the archive) and never restored;
- `never-exported`: nothing of it in the ledger or the archive (e.g. missing from the
  extract: a late timesheet).

Its submission window is the payer's (`claims.submission_window` with the payer
settings' `submission_days`, 90 by default): from the 1st of the next month to that
many days after the month's last day, the last day included. Days left = last day
minus the as-of date. Member-months past their last day are *lost* and listed apart;
those whose window has not opened yet (the month is not over) are not listed, only
counted.

Where a member has billed visits under more than one contract in a month, the
member-month is listed once, with the hours of all its contracts added up and the tier
of that sum, under one contract (`member_months.one_row_per_member`: the payer's PMPM
contract where its settings name one, else the contract with the most billed hours):
the tier report `xl-pmpm visits` builds has that row. Member-months with a contract
whose PMPM HHAeXchange bills itself (payer settings `auto_billed`) are not listed: they
are counted apart (`auto_billed`).

Plain functions over DataFrames; the files are read by :mod:`xl_pmpm.io.unbilled`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.carryover import RESTORE, outstanding_records
from xl_pmpm.core.claims import MIN_BILLED_HOURS, submission_window
from xl_pmpm.core.entries import EXPORTED, PENDING, REJECTED
from xl_pmpm.core.groups import combined_codes, first_rows
from xl_pmpm.core.hours_basis import basis_hours
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.member_months import one_row_per_member
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.review import DEFER, DELETE
from xl_pmpm.core.spans import round_cents

NEVER_EXPORTED = "never-exported"
REJECTED_REASON = "rejected"
PLACEHOLDER = "placeholder"
DEFERRED = "deferred"
DELETED = "deleted"
DENIED_OR_UNDERPAID = "denied-or-underpaid"  # from the 835 remittances (`with_remittance`)
# Stable reason codes, in the order they are tried, with what each means and what to do.
REASONS: dict[str, tuple[str, str]] = {
    REJECTED_REASON: (
        "The import rejected the row and no resubmission was exported since.",
        "Correct it as the failed reason says and resubmit (xl-pmpm reconcile --corrected).",
    ),
    PLACEHOLDER: (
        "Exported only as an unconfirmed placeholder; the confirmed PMPM was never exported.",
        "Once its visits are billed, export the member-month with its visit times filled in.",
    ),
    DEFERRED: (
        "Deferred in review and never restored or exported.",
        "Restore the row (xl-pmpm restore) or bring it back with unbilled --into, then export.",
    ),
    DELETED: (
        "Deleted in review and never restored or exported.",
        "Restore the row (xl-pmpm restore) or bring it back with unbilled --into, then export.",
    ),
    NEVER_EXPORTED: (
        "Billed direct care hours in the month, but no export of the member-month.",
        "Bring it back with unbilled --into (e.g. missing from the extract), then export.",
    ),
    DENIED_OR_UNDERPAID: (
        "Exported, but the payer's 835 denied, reversed or underpaid it (xl-pmpm paid); "
        "the dollars are what is still owed.",
        "Fix what its reason code (CARC) names and resubmit or appeal inside the window.",
    ),
}
RECOVERABLE, LOST = "recoverable", "lost"

# What names a member-month and its tier, first in both tables below.
_MEMBER_MONTH = [
    "month",
    "patient_number",
    "patient_name",
    "contract",
    "payer",
    "billed_hours",
    "tier",
    "rate_code",
]
EARNED_COLUMNS = [*_MEMBER_MONTH, "service_code", "rate", "contracts"]
UNBILLED_COLUMNS = [
    *_MEMBER_MONTH,
    "rate",
    "reason",
    "submit_from",
    "submit_until",
    "days_left",
]


# --- earned: what the visits say ------------------------------------------------------------


def _month_keys(dates: pd.Series) -> np.ndarray:
    """Year * 12 + month - 1 of each date (cheaper than Periods on millions of rows)."""
    return (dates.dt.year.to_numpy() * 12 + dates.dt.month.to_numpy() - 1).astype("int64")


def _key_month(key: int) -> str:
    return f"{key // 12:04d}-{key % 12 + 1:02d}"


HOURS_COLUMNS = ["key", "contract", "patient_number", "billed", "authorized", "name"]


def member_month_hours(visits: pd.DataFrame, months: list[str] | None = None) -> pd.DataFrame:
    """Billed hours (sum), authorized hours (max) and name per month, contract and member.

    From normalized visits (`visits.normalize_visits`); `key` is year * 12 + month - 1.
    Sums are not rounded yet, so the parts of several files add up exactly
    (`combine_member_month_hours`). `months` (YYYY-MM) keeps only those months.
    """
    keys = _month_keys(visits["visit_date"])
    keep = np.ones(len(visits), dtype=bool)
    if months is not None:
        wanted = {pd.Period(m, freq="M") for m in months}
        keep &= np.isin(keys, [p.year * 12 + p.month - 1 for p in wanted])
    v = visits[keep] if not keep.all() else visits
    billed = (v["status"] == "billed").to_numpy()
    frame = pd.DataFrame(
        {
            "key": keys[keep],
            "contract": v["contract"].array,
            "patient_number": v["patient_number"].array,
            "billed": np.where(billed, v["hours"].to_numpy(), 0.0),
            "authorized": v["authorized_hours"].to_numpy(),
            "name": v["patient_name"].where(v["patient_name"] != "", None).array,
        }
    )
    return _sum_hours(frame)


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """(codes, values) of a column: each cell is values[code], -1 where missing."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    codes, values = pd.factorize(column)
    return codes, pd.Index(values)


def _sum_hours(frame: pd.DataFrame) -> pd.DataFrame:
    # Grouped on one integer per row, made of the key columns' codes (the visits'
    # Categorical codes where they have them): pandas grouping on Categoricals re-codes
    # them and sorts out their combinations again in every chunk. The groups come in the
    # order of their first row, rows with a missing key left out, as
    # `groupby(sort=False, observed=True)` gives them; the sums (one row per
    # member-month) hold plain text, so the parts of several files concatenate.
    by = ("key", "contract", "patient_number")
    keys = [_codes(frame[c]) for c in by]
    valid = np.logical_and.reduce([codes >= 0 for codes, _ in keys])
    if not valid.all():
        frame = frame[valid]
        keys = [_codes(frame[c]) for c in by]
    whole, _ = combined_codes([(codes, len(values)) for codes, values in keys], len(frame))
    ids, _ = pd.factorize(whole)
    del whole
    count = int(ids.max(initial=-1)) + 1
    rows = np.arange(len(frame), dtype=np.intp)
    first = first_rows(ids, rows, count)
    sums = pd.DataFrame(
        {
            c: pd.Series(values.take(codes[first]))
            for c, (codes, values) in zip(by, keys, strict=True)
        }
    )
    # The group numbers as the codes of a Categorical of 0 ... count - 1: pandas groups on
    # them as they are (on plain integers it would number them again, by a hash).
    group = pd.Categorical.from_codes(ids, categories=pd.RangeIndex(count))
    summed = frame[["billed", "authorized"]].groupby(group, sort=True, observed=False)
    sums["billed"] = summed["billed"].sum().to_numpy()
    sums["authorized"] = summed["authorized"].max().to_numpy()
    # A group's name: its first row's that has one.
    name = frame["name"]
    has = name.notna().to_numpy()
    name_row = first_rows(ids[has], rows[has], count)
    if isinstance(name.dtype, pd.CategoricalDtype):  # taken from the categories: no re-coding
        codes = np.where(name_row >= 0, name.cat.codes.to_numpy()[name_row], -1)
        named = name.cat.categories.take(codes, allow_fill=True, fill_value=np.nan)
    else:
        named = name.array.take(name_row, allow_fill=True)
    sums["name"] = pd.Series(named)
    for c in ("contract", "patient_number", "name"):
        sums[c] = sums[c].astype("str")  # Arrow text (NaN where no name): no Python objects
    return sums[HOURS_COLUMNS]


def combine_member_month_hours(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """`member_month_hours` of several files as one (a member-month may span files)."""
    if len(parts) == 1:
        return parts[0]
    return _sum_hours(pd.concat(parts, ignore_index=True))


def earned_member_months(
    visits: pd.DataFrame, book: RateBook, months: list[str] | None = None
) -> pd.DataFrame:
    """Member-months that earned a PMPM, from normalized visits (`visits.normalize_visits`).

    One row per member and month with at least MIN_BILLED_HOURS billed hours and a tier:
    month (YYYY-MM), patient_number, patient_name, contract (the row's contract:
    `member_months.one_row_per_member`), payer (that contract's), billed_hours (of all
    the member's contracts, rounded to 2 decimals), tier, rate_code, service_code,
    rate, contracts (how many contracts billed the member that month). Member-months
    HHAeXchange bills itself are left out; `attrs["auto_billed"]` counts them. Tiers
    are the payer's, on its hours basis (billed or authorized), for the month.
    `months` (YYYY-MM) keeps only those months. Ordered by month, contract,
    patient_number.
    """
    return earned_from_hours(member_month_hours(visits, months), book)


def earned_from_hours(hours_table: pd.DataFrame, book: RateBook) -> pd.DataFrame:
    """`earned_member_months` from `member_month_hours` (of one file or combined)."""
    # One member-month, one tier: the hours of all the member's contracts, on one contract
    # (the rule `xl-pmpm visits` follows too); those HHAeXchange bills itself are left out.
    if hours_table is None:  # no visits at all
        hours_table = pd.DataFrame({c: pd.Series(dtype="float64") for c in HOURS_COLUMNS})
    agg = one_row_per_member(hours_table, book, by=("key",), summed=("billed", "authorized"))
    agg["billed"] = agg["billed"].round(2)
    agg["authorized"] = agg["authorized"].round(2)
    earning = (agg["billed"] >= MIN_BILLED_HOURS).to_numpy()
    auto_billed = agg["auto_billed"].to_numpy()
    agg = agg[earning & ~auto_billed]
    agg = agg.sort_values(["key", "contract", "patient_number"]).reset_index(drop=True)

    payers = book.payer_for_contracts(agg["contract"])
    hours = basis_hours(book.hours_basis(payers), {k: agg[k] for k in ("billed", "authorized")})
    parts = []
    for key in pd.unique(agg["key"]):
        at = (agg["key"] == key).to_numpy()
        month = pd.Timestamp(_key_month(int(key)) + "-01")
        parts.append(book.assign(hours[at], payers[at], month))
    tiers = (
        pd.concat(parts).reindex(agg.index)
        if parts
        else pd.DataFrame(
            {"tier": pd.array([], "Int64"), "rate": [], "rate_code": [], "service_code": []}
        )
    )
    out = pd.DataFrame(
        {
            "month": agg["key"]
            .map({k: _key_month(int(k)) for k in pd.unique(agg["key"])})
            .astype(str),
            "patient_number": agg["patient_number"].astype(str),
            "patient_name": agg["name"].fillna("").astype(str),
            "contract": agg["contract"].astype(str),
            "payer": payers.astype(str),
            "billed_hours": agg["billed"].astype("float64"),
            "tier": tiers["tier"].astype("Int64"),
            "rate_code": tiers["rate_code"].astype("string").fillna("").astype(str),
            "service_code": tiers["service_code"].astype("string").fillna("").astype(str),
            "rate": tiers["rate"].astype("float64"),
            "contracts": agg["contracts"].astype("int64"),
        }
    )
    out = out[out["tier"].notna()].reset_index(drop=True)[EARNED_COLUMNS]
    # Member-months whose PMPM HHAeXchange bills itself (payer settings `auto_billed`).
    out.attrs["auto_billed"] = int((earning & auto_billed).sum())
    return out


# --- the ledger and the archive: what happened to each member-month ------------------------


def _flag(entries: pd.DataFrame) -> pd.Series:
    if "placeholder" not in entries:
        return pd.Series(False, index=entries.index)
    return pd.to_numeric(entries["placeholder"], errors="coerce").fillna(0).astype(int).eq(1)


def ledger_outcomes(entries: pd.DataFrame) -> pd.DataFrame:
    """Per member and month in the ledger: confirmed, rejected, placeholder (booleans).

    confirmed: a non-placeholder entry `exported` or `pending`; rejected: an entry
    `rejected`; placeholder: a placeholder entry not rejected.
    """
    columns = ["patient_number", "month", "confirmed", "rejected", "placeholder"]
    if entries is None or entries.empty:
        return pd.DataFrame(columns=columns).astype(
            {"confirmed": bool, "rejected": bool, "placeholder": bool}
        )
    status = entries["status"].astype(str)
    flag = _flag(entries)
    frame = pd.DataFrame(
        {
            "patient_number": entries["patient_number"].astype(str).str.strip(),
            "month": entries["month"].astype(str).str.strip(),
            "confirmed": status.isin([EXPORTED, PENDING]) & ~flag,
            "rejected": status.eq(REJECTED),
            "placeholder": flag & ~status.eq(REJECTED),
        }
    )
    return frame.groupby(["patient_number", "month"], as_index=False)[
        ["confirmed", "rejected", "placeholder"]
    ].any()[columns]


def set_aside_member_months(archive: pd.DataFrame | None, layout: Layout | None) -> pd.DataFrame:
    """Member-months with a row deleted or deferred in review and not restored since.

    Columns: patient_number, month, deferred, deleted (booleans). The archive
    (`io.files.read_archive`) holds the rows with the layout's column names; a record
    without a month cannot be placed and is left out. A carried row (into a later
    month's report) still counts: it is billed in that later month, not in its own.
    """
    columns = ["patient_number", "month", "deferred", "deleted"]
    empty = pd.DataFrame(columns=columns).astype({"deferred": bool, "deleted": bool})
    if archive is None or archive.empty or layout is None:
        return empty
    rows = outstanding_records(archive, settled_by=(RESTORE,))
    id_column = layout.name_of("patient_number")
    if rows.empty or id_column not in rows or "month" not in rows:
        return empty
    month = rows["month"].fillna("").astype(str).str.strip()
    action = rows["action"].astype(str)
    frame = pd.DataFrame(
        {
            "patient_number": rows[id_column].fillna("").astype(str).str.strip(),
            "month": month,
            "deferred": action.eq(DEFER),
            "deleted": action.eq(DELETE),
        }
    )
    frame = frame[(frame["month"] != "") & (frame["patient_number"] != "")]
    return frame.groupby(["patient_number", "month"], as_index=False)[
        ["deferred", "deleted"]
    ].any()[columns]


# --- putting them side by side -------------------------------------------------------------


@dataclass
class Unbilled:
    """The unbilled member-months as of a day: recoverable, lost, and the months not open."""

    recoverable: pd.DataFrame
    lost: pd.DataFrame
    as_of: date
    not_yet_open: int = 0
    earned: int = 0
    confirmed: int = 0
    months: list[str] = field(default_factory=list)
    auto_billed: int = 0  # earned member-months HHAeXchange bills itself (not listed)

    def totals(self) -> dict:
        """Recoverable and lost dollars, members, the nearest deadline, counts by reason."""
        rec, lost = self.recoverable, self.lost
        nearest = rec.sort_values(["days_left", "month"]).iloc[0] if len(rec) else None
        return {
            "as_of": str(self.as_of),
            "months": self.months,
            "recoverable_dollars": dollars(rec),
            "recoverable_member_months": len(rec),
            "recoverable_members": int(rec["patient_number"].nunique()),
            "lost_dollars": dollars(lost),
            "lost_member_months": len(lost),
            "lost_members": int(lost["patient_number"].nunique()),
            "nearest_deadline": None if nearest is None else str(nearest["submit_until"]),
            "nearest_days_left": None if nearest is None else int(nearest["days_left"]),
            "nearest_month": None if nearest is None else str(nearest["month"]),
            "earned_member_months": self.earned,
            "confirmed_member_months": self.confirmed,
            "not_yet_open_member_months": self.not_yet_open,
            "auto_billed_member_months": self.auto_billed,
            "by_reason": {
                code: int(n)
                for code, n in rec["reason"].value_counts().reindex(REASONS).dropna().items()
                if n
            },
        }


def cents(total: float) -> float:
    """A dollar amount rounded half up to cents."""
    return float(round_cents(np.array([float(total)]))[0])


def dollars(rows: pd.DataFrame) -> float:
    """The sum of the rows' rates, in cents rounded half up."""
    return cents(rows["rate"].sum()) if len(rows) else 0.0


def earned_months(earned: pd.DataFrame) -> list[str]:
    """The months (YYYY-MM, in order) of `earned_member_months`' rows."""
    # Their few distinct values first: a set of every row's would make a str of each.
    return sorted(str(m) for m in pd.unique(earned["month"]))


def _windows(rows: pd.DataFrame, book: RateBook) -> pd.DataFrame:
    """submit_from / submit_until (dates) per row, by month and the payer's days."""
    days = book.submission_days(rows["payer"])
    pairs = pd.DataFrame({"month": rows["month"], "days": days})
    distinct = pairs.drop_duplicates()
    window = {
        (m, d): submission_window(m, int(d))
        for m, d in zip(distinct["month"], distinct["days"], strict=True)
    }
    keys = list(zip(pairs["month"], pairs["days"], strict=True))
    return pd.DataFrame(
        {
            "submit_from": [window[k][0] for k in keys],
            "submit_until": [window[k][1] for k in keys],
        },
        index=rows.index,
    )


def find_unbilled(
    earned: pd.DataFrame,
    entries: pd.DataFrame | None,
    book: RateBook,
    as_of: date,
    *,
    set_aside: pd.DataFrame | None = None,
) -> Unbilled:
    """The earned member-months (`earned_member_months`) whose PMPM is not confirmed.

    `entries`: the ledger's (`ledger.history`, columns `entries.ENTRY_COLUMNS`); None or
    empty when nothing was exported yet. `set_aside`: `set_aside_member_months` of the
    review archive. Returns the recoverable rows (window open, last day not past) and
    the lost ones, both in UNBILLED_COLUMNS, sorted by days left, month, contract and
    member. See the module doc for the reasons and the window.
    """
    months = earned_months(earned)
    outcomes = ledger_outcomes(entries)
    rows = earned.merge(outcomes, on=["patient_number", "month"], how="left")
    aside = set_aside if set_aside is not None else set_aside_member_months(None, None)
    rows = rows.merge(aside, on=["patient_number", "month"], how="left")
    for c in ("confirmed", "rejected", "placeholder", "deferred", "deleted"):
        rows[c] = rows[c].astype("boolean").fillna(False).astype(bool)
    confirmed = int(rows["confirmed"].sum())
    rows = rows[~rows["confirmed"]].copy()
    rows["reason"] = np.select(
        [rows["rejected"], rows["placeholder"], rows["deferred"], rows["deleted"]],
        [REJECTED_REASON, PLACEHOLDER, DEFERRED, DELETED],
        default=NEVER_EXPORTED,
    )
    windows = _windows(rows, book)
    rows["submit_from"] = windows["submit_from"]
    rows["submit_until"] = windows["submit_until"]
    rows["days_left"] = pd.array([(d - as_of).days for d in rows["submit_until"]], dtype="int64")
    rows = rows.sort_values(
        ["days_left", "month", "contract", "patient_number"], kind="stable"
    ).reset_index(drop=True)
    opened = pd.Series([as_of >= d for d in rows["submit_from"]], index=rows.index, dtype=bool)
    past = rows["days_left"] < 0
    return Unbilled(
        recoverable=rows[opened & ~past][UNBILLED_COLUMNS].reset_index(drop=True),
        lost=rows[past][UNBILLED_COLUMNS].reset_index(drop=True),
        as_of=as_of,
        not_yet_open=int((~opened).sum()),
        earned=len(earned),
        confirmed=confirmed,
        months=months,
        auto_billed=int(earned.attrs.get("auto_billed", 0)),
    )


def with_remittance(found: Unbilled, short: pd.DataFrame, earned: pd.DataFrame) -> Unbilled:
    """`found` with the member-months an 835 denied, reversed or underpaid (`short`: rows
    of `remittance.judge_remittance`'s results) as reason `denied-or-underpaid`: inside
    their submission window recoverable, past it lost. Their `rate` is what is still owed
    (the difference); their hours and name come from the visits where these have them."""
    if short.empty:
        return found
    seen = earned[["patient_number", "month", "patient_name", "billed_hours", "rate_code"]]
    rows = short.drop(columns=[c for c in ("rate",) if c in short]).merge(
        seen.drop_duplicates(["patient_number", "month"]),
        on=["patient_number", "month"],
        how="left",
    )
    rows["rate"] = rows["difference"].astype(float)
    rows["reason"] = DENIED_OR_UNDERPAID
    rows["submit_from"] = [submission_window(m)[0] for m in rows["month"]]
    rows["submit_until"] = [date.fromisoformat(str(d)) for d in rows["submit_until"]]
    rows["days_left"] = pd.array(rows["days_left"], dtype="int64")
    rows = rows.reindex(columns=UNBILLED_COLUMNS)
    past = rows["days_left"] < 0

    def add(table: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
        if more.empty:
            return table
        both = pd.concat([table, more], ignore_index=True) if len(table) else more
        order = ["days_left", "month", "contract", "patient_number"]
        return both.sort_values(order, kind="stable").reset_index(drop=True)

    return replace(
        found,
        recoverable=add(found.recoverable, rows[~past]),
        lost=add(found.lost, rows[past]),
    )


def unbilled_lines(
    month_report: pd.DataFrame, recoverable: pd.DataFrame, layout: Layout, month: str
) -> pd.DataFrame:
    """The tier-report rows (`visits.aggregate_visits` of `month`) of the recoverable rows.

    `month_report` is the month's tier report built from the visits; the rows kept are
    those of the recoverable member-months of `month`, under the contract listed.
    Keeps the report's columns; the index is the line each will have in a new file.
    """
    wanted = recoverable[recoverable["month"] == str(pd.Period(month, freq="M"))]
    ids = month_report[layout.name_of("patient_number")].astype(str).str.strip()
    contracts = month_report[layout.name_of("contract")].astype(str).str.strip()
    pairs = pd.MultiIndex.from_arrays([ids, contracts])
    keep = pairs.isin(pd.MultiIndex.from_arrays([wanted["patient_number"], wanted["contract"]]))
    out = month_report[keep].copy()
    out.index = pd.RangeIndex(2, len(out) + 2, name="line")
    return out
