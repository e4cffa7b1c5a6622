"""PMPM service spans in a participant plan (Easter Seals NJ / iRecord rules, seed 002).

A plan whose fiscal-intermediary (FI) services name the FI as provider must hold PMPM
services that cover the whole span of those FI services, without overlapping one another;
each PMPM service is priced by calendar month and prorated for partial months.

Dates are whole days and spans are inclusive: 2024-01-01..2024-01-31 is the whole of
January. Two spans that share a day overlap; a span ending on the 10th and the next one
starting on the 11th are contiguous (their union has no gap).

Plain functions over DataFrames; nothing here reads files. Error rows name the frame's
index label, which the command functions set to the file's line numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.errors import PmpmInputError

ONE_DAY = pd.Timedelta(days=1)

# The seed's plain-language status messages, keyed by finding code, in reporting order.
# Placeholders: {provider} the FI's name, {start} / {end} the FI services' first / last day.
SPAN_MESSAGES: dict[str, str] = {
    "pmpm-missing": "Add PMPM Service(s) to the plan",
    "pmpm-not-covering": (
        "PMPM does not cover full duration of FI service(s) with {provider} as the FI"
    ),
    "pmpm-starts-early": "PMPM Service(s) start date cannot be before {start}",
    "pmpm-ends-late": "PMPM Service(s) end date cannot be after {end}",
    "pmpm-without-fi": "Remove PMPM Service(s) – No service with {provider} as the FI",
    "pmpm-overlap": "PMPM services dates are overlapping",
}
SPAN_FINDING_COLUMNS = ["member", "code", "message"]

# Rounding: a cost is rounded once, at the end, half up, to cents. The tolerance absorbs
# binary floating-point error (e.g. 73.225 stored as 73.22499...); true fractions of a
# cent from rate x days / days-in-month are at least 1/961 cent away from a half cent.
_CENT_TOLERANCE = 1e-6


def empty_span_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in SPAN_FINDING_COLUMNS})


def _row_of(label: object) -> int | None:
    return int(label) if isinstance(label, (int, np.integer)) else None


def _spans(frame: pd.DataFrame, what: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """member (string), start, end (day-precision datetimes), checked; index kept."""
    needed = ["member", "start", "end", *extra]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise PmpmInputError(
            f"The {what} lack the column(s) {', '.join(missing)}.",
            fix=f"Give the {what} the columns: {', '.join(needed)}.",
        )
    out = frame[list(extra)].copy() if extra else pd.DataFrame(index=frame.index)
    out["member"] = frame["member"].astype("string").str.strip()
    for col in ("start", "end"):
        out[col] = (
            pd.to_datetime(frame[col], errors="coerce").dt.normalize().astype("datetime64[ns]")
        )
    blank = out["member"].isna() | (out["member"] == "")
    for col, bad, message, fix in (
        ("member", blank, "The member is blank.", "Fill in the member."),
        ("start", out["start"].isna(), "The start date is missing.", "Write it as YYYY-MM-DD."),
        ("end", out["end"].isna(), "The end date is missing.", "Write it as YYYY-MM-DD."),
        (
            "end",
            out["end"] < out["start"],
            "The end date is before the start date.",
            "Make the service end on or after the day it starts.",
        ),
    ):
        if bad.any():
            raise PmpmInputError(
                f"{what.capitalize()}: {message}",
                fix=fix,
                row=_row_of(bad.idxmax()),
                column=col,
            )
    return out


def _union(spans: pd.DataFrame) -> pd.DataFrame:
    """Merge each member's spans into disjoint blocks; consecutive days join up."""
    if spans.empty:
        return pd.DataFrame({"member": [], "start": [], "end": []}).astype(
            {"member": "string", "start": "datetime64[ns]", "end": "datetime64[ns]"}
        )
    s = spans.sort_values(["member", "start", "end"], kind="stable")
    reach = s.groupby("member")["end"].cummax()
    prev = reach.groupby(s["member"]).shift()
    block = (prev.isna() | (s["start"] > prev + ONE_DAY)).cumsum()
    return (
        s.groupby(block.to_numpy())
        .agg(member=("member", "first"), start=("start", "min"), end=("end", "max"))
        .reset_index(drop=True)
    )


def overlapping_members(spans: pd.DataFrame) -> pd.Index:
    """Members two of whose spans share at least one day."""
    if spans.empty:
        return pd.Index([], dtype="string")
    s = spans.sort_values(["member", "start", "end"], kind="stable")
    prev = s.groupby("member")["end"].cummax().groupby(s["member"]).shift()
    hit = prev.notna() & (s["start"] <= prev)
    return pd.Index(s.loc[hit, "member"].unique(), dtype="string")


def check_pmpm_spans(
    fi: pd.DataFrame,
    pmpm: pd.DataFrame,
    fi_provider: str,
    *,
    date_format: str = "%Y-%m-%d",
    messages: Mapping[str, str] = SPAN_MESSAGES,
) -> pd.DataFrame:
    """Findings (member, code, message) for each member whose PMPM spans break a rule.

    `fi`: the plan's services (member, provider, start, end); only those whose provider is
    `fi_provider` count as FI services. `pmpm`: the PMPM services (member, start, end, ...).
    Rules per member (seed 002):
    - FI services but no PMPM service: pmpm-missing;
    - PMPM services but no FI service: pmpm-without-fi;
    - the union of PMPM spans does not cover the union of FI spans: pmpm-not-covering;
    - a PMPM span starts before the first FI day: pmpm-starts-early;
    - a PMPM span ends after the last FI day: pmpm-ends-late;
    - two PMPM spans share a day: pmpm-overlap.
    A PMPM span that bridges a gap between two FI services is accepted (only the first and
    last FI days bound the PMPM). `date_format` renders the dates in the messages.
    """
    if "provider" not in fi.columns:
        raise PmpmInputError(
            "The FI services lack the column provider.",
            fix="Give the FI services the columns: member, provider, start, end.",
        )
    fi_spans = _spans(fi, "FI services")
    is_fi = fi["provider"].astype("string").str.strip() == fi_provider.strip()
    fi_spans = fi_spans[is_fi.fillna(False).astype(bool)]
    pm_spans = _spans(pmpm, "PMPM services")

    fi_members = pd.Index(fi_spans["member"].unique(), dtype="string")
    pm_members = pd.Index(pm_spans["member"].unique(), dtype="string")
    both = fi_members.intersection(pm_members)

    found: dict[str, pd.DataFrame] = {}

    def add(code: str, members: pd.Index, text: pd.Series | str) -> None:
        if len(members):
            found[code] = pd.DataFrame(
                {"member": members.astype("string"), "code": code, "message": text}
            )

    add("pmpm-missing", fi_members.difference(pm_members), messages["pmpm-missing"])
    add(
        "pmpm-without-fi",
        pm_members.difference(fi_members),
        messages["pmpm-without-fi"].format(provider=fi_provider),
    )

    fi_b = fi_spans[fi_spans["member"].isin(both)]
    pm_b = pm_spans[pm_spans["member"].isin(both)]
    if len(both):
        fi_u = _union(fi_b).sort_values("start", kind="stable")
        pm_u = _union(pm_b).rename(columns={"start": "p_start", "end": "p_end"})
        pm_u = pm_u.sort_values("p_start", kind="stable")
        hit = pd.merge_asof(
            fi_u, pm_u, left_on="start", right_on="p_start", by="member", direction="backward"
        )
        uncovered = hit.loc[~(hit["p_end"] >= hit["end"]), "member"].unique()
        add(
            "pmpm-not-covering",
            pd.Index(uncovered, dtype="string"),
            messages["pmpm-not-covering"].format(provider=fi_provider),
        )

        fi_first = fi_b.groupby("member")["start"].min()
        fi_last = fi_b.groupby("member")["end"].max()
        pm_first = pm_b.groupby("member")["start"].min()
        pm_last = pm_b.groupby("member")["end"].max()
        early = pm_first.index[(pm_first < fi_first.reindex(pm_first.index)).to_numpy()]
        late = pm_last.index[(pm_last > fi_last.reindex(pm_last.index)).to_numpy()]
        early_text = fi_first.reindex(early).dt.strftime(date_format)
        late_text = fi_last.reindex(late).dt.strftime(date_format)
        add(
            "pmpm-starts-early",
            pd.Index(early, dtype="string"),
            early_text.map(lambda d: messages["pmpm-starts-early"].format(start=d)).to_numpy(),
        )
        add(
            "pmpm-ends-late",
            pd.Index(late, dtype="string"),
            late_text.map(lambda d: messages["pmpm-ends-late"].format(end=d)).to_numpy(),
        )
    add("pmpm-overlap", overlapping_members(pm_spans), messages["pmpm-overlap"])

    if not found:
        return empty_span_findings()
    order = {code: i for i, code in enumerate(SPAN_MESSAGES)}
    out = pd.concat(found.values(), ignore_index=True)
    out = out.assign(_o=out["code"].map(order)).sort_values(["member", "_o"], kind="stable")
    return out.drop(columns="_o").reset_index(drop=True).astype("string")


def round_cents(values: np.ndarray) -> np.ndarray:
    """Half up (away from zero) to cents, tolerant of binary floating-point error."""
    return np.sign(values) * np.floor(np.abs(values) * 100 + 0.5 + _CENT_TOLERANCE) / 100


def _as_days(values: object) -> pd.Series:
    return pd.to_datetime(pd.Series(np.asarray(values, dtype=object)), errors="coerce")


def _month_count(s: pd.Series, e: pd.Series) -> np.ndarray:
    return ((e.dt.year - s.dt.year) * 12 + (e.dt.month - s.dt.month) + 1).to_numpy(float)


def calendar_months(starts: object, ends: object) -> pd.Series:
    """Units of many PMPM spans: the calendar months each touches, both days included.

    Jan 31 to Feb 1 is 2 units (seed 002: "Total Units are calculated based on the number
    of calendar months"). <NA> for a missing date or an end before the start. Dates are
    whole days: a time of day is ignored.
    """
    s, e = _as_days(starts).dt.normalize(), _as_days(ends).dt.normalize()
    if len(s) != len(e):
        raise PmpmInputError(
            "Start dates and end dates are not the same length.",
            fix="Give one start and one end per PMPM service.",
        )
    ok = (s.notna() & e.notna() & (e >= s)).to_numpy()
    months = _month_count(s, e)
    units = pd.array(np.where(ok, months, 0).astype("int64"), dtype="Int64")
    units[~ok] = pd.NA
    return pd.Series(units, name="units")


def prorate_column(rates: object, starts: object, ends: object) -> pd.DataFrame:
    """Units and cost for many PMPM spans at once (one row per span), vectorized.

    units: calendar months the span touches (see `calendar_months`). cost: the monthly
    rate for each full calendar month, plus rate x days covered / days in that month for a
    partial first or last month (February 2024 counts 29 days), summed and rounded once,
    half up, to cents.
    Rows with a missing or non-numeric rate, a missing date, or an end before the start
    get <NA> in both columns (cell functions show a blank, never an error).
    The index is that of `starts` when it is a Series.
    """
    index = starts.index if isinstance(starts, pd.Series) else None
    s, e = _as_days(starts), _as_days(ends)
    r = pd.to_numeric(pd.Series(np.asarray(rates, dtype=object)), errors="coerce")
    r = r.astype("float64")
    if not (len(s) == len(e) == len(r)):
        raise PmpmInputError(
            "Rates, start dates and end dates are not the same length.",
            fix="Give one rate, start and end per PMPM service.",
        )
    s, e = s.dt.normalize(), e.dt.normalize()
    ok = (s.notna() & e.notna() & r.notna() & (e >= s)).to_numpy()
    months = _month_count(s, e)
    dim_s = s.dt.days_in_month.to_numpy(float)
    dim_e = e.dt.days_in_month.to_numpy(float)
    same_month = ((e - s).dt.days.to_numpy(float) + 1) / dim_s
    first = (dim_s - s.dt.day.to_numpy(float) + 1) / dim_s
    last = e.dt.day.to_numpy(float) / dim_e
    share = np.where(months == 1, same_month, first + last + (months - 2))
    cost = round_cents(r.to_numpy() * share)
    out = pd.DataFrame(
        {
            "units": pd.array(np.where(ok, months, 0).astype("int64"), dtype="Int64"),
            "cost": pd.array(np.where(ok, cost, 0.0), dtype="Float64"),
        }
    )
    out.loc[~ok, ["units", "cost"]] = pd.NA
    if index is not None:
        out.index = index
    return out


def prorate(
    rate: float, start: date | str | pd.Timestamp, end: date | str | pd.Timestamp
) -> tuple[int, float]:
    """(units, cost) of one PMPM service from `start` to `end`, both days included.

    See `prorate_column` for the rule. E.g. a $290 PMPM from 2024-02-01 to 2024-02-10 is
    1 unit costing 290 x 10 / 29 = $100.00.
    """
    for name, value in (("start", start), ("end", end)):
        if pd.isna(pd.to_datetime(value, errors="coerce")):
            raise PmpmInputError(
                f"The {name} date '{value}' is not a date.", fix="Write it as YYYY-MM-DD."
            )
    if pd.isna(pd.to_numeric(pd.Series([rate]), errors="coerce")[0]):
        raise PmpmInputError(f"The rate '{rate}' is not a number.", fix="Write e.g. 146.45.")
    out = prorate_column([rate], [start], [end])
    if pd.isna(out.at[0, "units"]):
        raise PmpmInputError(
            "The end date is before the start date.",
            fix="Make the service end on or after the day it starts.",
        )
    return int(out.at[0, "units"]), float(out.at[0, "cost"])


def price_spans(pmpm: pd.DataFrame, rate_column: str = "monthly_rate") -> pd.DataFrame:
    """The PMPM services with their units and prorated cost added."""
    priced = prorate_column(pmpm[rate_column], pmpm["start"], pmpm["end"])
    return pmpm.assign(units=priced["units"], cost=priced["cost"])
