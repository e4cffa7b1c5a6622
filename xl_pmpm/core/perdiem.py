"""Per-diem (IOP) billable occurrences from documented non-billable units (PIMSY, seed 004).

A client's day qualifies when the units of non-billable documentation on that day, summed
over the codes of the non-billable code group, reach the threshold (meeting it exactly
counts). The nightly run looks only at days at least `days_in_arrears` days before the run
date, giving clinicians time to release their notes. For each qualifying day the billable
occurrence uses the one code of the billable code group that the client is authorized for
on that day, with units left; it lasts `note_minutes`.

Alerts replace the occurrence when no billable code is authorized that day, when two or
more different billable codes are (that would bill twice), or when the authorization's
units are used up. Plain functions over DataFrames; nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.errors import PmpmInputError

OCCURRENCE_COLUMNS = ["client", "date", "code", "minutes"]
ALERT_COLUMNS = ["client", "date", "code", "message"]

# Alert texts; {date} is the service day, {code} / {codes} the billable code(s).
ALERT_MESSAGES: dict[str, str] = {
    "no-authorization": (
        "No billable code ({codes}) is authorized on {date}: add the authorization; "
        "the occurrence is created by the next run."
    ),
    "billable-twice": (
        "Billable codes {codes} are all authorized on {date}: this would bill twice, so no "
        "occurrence was created. End one authorization before the other starts."
    ),
    "units-exhausted": (
        "The authorization of {code} has no units left for {date}: add units or a new "
        "authorization."
    ),
}

# Sums of fractional units (0.1 + 0.2) may miss a threshold by floating-point error.
_UNIT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PerDiemSettings:
    """The per-diem settings (PIMSY settings 508, 509 and 512, plus the code groups).

    threshold: units of non-billable documentation a day needs (508).
    non_billable_codes / billable_codes: the two billing code groups.
    note_minutes: length of the billable note created (509).
    days_in_arrears: days given to release notes before a day is billed (512).
    run_date: the day of the (nightly) run.
    units_per_occurrence: authorization units one occurrence uses up.
    look_back_days: how many service days, ending at the cutoff, a run looks at (seed
        004: the nightly run "will go back to two days previously": 1, the one day
        `days_in_arrears` back); None = every day up to the cutoff (a catch-up run,
        with the occurrences already created passed as `existing`).
    """

    threshold: float
    non_billable_codes: tuple[str, ...]
    billable_codes: tuple[str, ...]
    note_minutes: int
    days_in_arrears: int
    run_date: date | str | pd.Timestamp
    units_per_occurrence: float = 1.0
    look_back_days: int | None = None
    messages: dict[str, str] = field(default_factory=lambda: dict(ALERT_MESSAGES))

    def __post_init__(self) -> None:
        for name in ("non_billable_codes", "billable_codes"):
            codes = getattr(self, name)
            codes = (codes,) if isinstance(codes, str) else codes
            object.__setattr__(self, name, tuple(str(c).strip() for c in codes))

    @property
    def cutoff(self) -> pd.Timestamp:
        """The last service day this run looks at: run date minus the days in arrears."""
        return pd.Timestamp(self.run_date).normalize() - pd.Timedelta(days=self.days_in_arrears)

    @property
    def first_day(self) -> pd.Timestamp | None:
        """The first service day this run looks at (None: no limit)."""
        if self.look_back_days is None:
            return None
        return self.cutoff - pd.Timedelta(days=self.look_back_days - 1)


def _check_settings(s: PerDiemSettings) -> None:
    problems = [
        (not s.non_billable_codes, "non_billable_codes", "The non-billable code group is empty."),
        (not s.billable_codes, "billable_codes", "The billable code group is empty."),
        (not s.threshold > 0, "threshold", "The unit threshold must be above 0."),
        (not s.note_minutes > 0, "note_minutes", "The note duration must be above 0 minutes."),
        (not s.days_in_arrears >= 0, "days_in_arrears", "Days in arrears cannot be negative."),
        (not s.units_per_occurrence > 0, "units_per_occurrence", "Units must be above 0."),
        (
            s.look_back_days is not None and not s.look_back_days >= 1,
            "look_back_days",
            "A run must look back at least 1 day.",
        ),
    ]
    for bad, column, message in problems:
        if bad:
            raise PmpmInputError(message, column=column, fix="Correct the per-diem setting.")
    if pd.isna(pd.to_datetime(s.run_date, errors="coerce")):
        raise PmpmInputError(
            f"The run date '{s.run_date}' is not a date.",
            column="run_date",
            fix="Write it as YYYY-MM-DD.",
        )


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PmpmInputError(
            f"The {what} lack the column(s) {', '.join(missing)}.",
            fix=f"Give the {what} the columns: {', '.join(columns)}.",
        )


def _fail_first(bad: pd.Series, what: str, column: str, message: str, fix: str) -> None:
    if bad.any():
        label = bad.idxmax()
        row = int(label) if isinstance(label, (int, np.integer)) else None
        raise PmpmInputError(f"{what.capitalize()}: {message}", fix=fix, row=row, column=column)


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip()


def _day(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce").dt.normalize().astype("datetime64[ns]")


def _typed_units(units: pd.DataFrame) -> pd.DataFrame:
    _require(units, ["client", "date", "code", "units"], "documented units")
    u = pd.DataFrame(
        {
            "client": _text(units["client"]),
            "date": _day(units["date"]),
            "code": _text(units["code"]),
            "units": pd.to_numeric(units["units"], errors="coerce").astype("float64"),
        },
        index=units.index,
    )
    what = "documented units"
    _fail_first(u["client"].fillna("") == "", what, "client", "blank client.", "Fill it in.")
    _fail_first(u["date"].isna(), what, "date", "missing date.", "Write it as YYYY-MM-DD.")
    _fail_first(u["units"].isna(), what, "units", "units not a number.", "Write e.g. 1 or 0.5.")
    return u


def _typed_authorizations(auths: pd.DataFrame) -> pd.DataFrame:
    cols = ["client", "code", "start", "end", "units_authorized", "units_used"]
    _require(auths, cols, "authorizations")
    used = pd.to_numeric(auths["units_used"].replace("", np.nan), errors="coerce")
    a = pd.DataFrame(
        {
            "client": _text(auths["client"]),
            "code": _text(auths["code"]),
            "start": _day(auths["start"]),
            "end": _day(auths["end"]),  # NaT: open-ended
            "units_authorized": pd.to_numeric(auths["units_authorized"], errors="coerce"),
            "units_used": used.fillna(0.0),  # blank: none used yet
        },
        index=auths.index,
    )
    what = "authorizations"
    _fail_first(a["client"].fillna("") == "", what, "client", "blank client.", "Fill it in.")
    _fail_first(a["start"].isna(), what, "start", "missing start.", "Write it as YYYY-MM-DD.")
    _fail_first(
        a["end"].notna() & (a["end"] < a["start"]),
        what,
        "end",
        "the end is before the start.",
        "Make the authorization end on or after its start.",
    )
    _fail_first(
        a["units_authorized"].isna(), what, "units_authorized", "not a number.", "Write e.g. 30."
    )
    return a


def _empty(columns: list[str]) -> pd.DataFrame:
    types = {"date": "datetime64[ns]", "minutes": "Int64"}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "string")) for c in columns})


def billable_occurrences(
    units: pd.DataFrame,
    authorizations: pd.DataFrame,
    settings: PerDiemSettings,
    existing: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(occurrences, alerts) of one run.

    units: documented services (client, date, code, units); only codes of the non-billable
    group count. authorizations: (client, code, start, end, units_authorized, units_used);
    only codes of the billable group count, a blank end is open-ended, a blank units_used
    is 0. existing: occurrences created by earlier runs (client, date); those days are
    skipped, so a run may look back over every day up to the cutoff without billing twice.

    occurrences: client, date, code, minutes, one per qualifying day, oldest first.
    alerts: client, date, code, message for qualifying days that got no occurrence.
    Units are used up oldest day first; when one code has several authorizations valid on
    a day, the one ending first is used.
    """
    _check_settings(settings)
    u = _typed_units(units)
    a = _typed_authorizations(authorizations)

    u = u[u["code"].isin(settings.non_billable_codes) & (u["date"] <= settings.cutoff)]
    if settings.first_day is not None:
        u = u[u["date"] >= settings.first_day]
    days = u.groupby(["client", "date"], as_index=False)["units"].sum()
    days = days[days["units"] >= settings.threshold - _UNIT_TOLERANCE].drop(columns="units")
    if existing is not None and len(existing):
        done = pd.DataFrame({"client": _text(existing["client"]), "date": _day(existing["date"])})
        days = days.merge(done.drop_duplicates(), how="left", indicator=True)
        days = days[days["_merge"] == "left_only"].drop(columns="_merge")
    days = days.sort_values(["date", "client"], kind="stable").reset_index(drop=True)
    if days.empty:
        return _empty(OCCURRENCE_COLUMNS), _empty(ALERT_COLUMNS)

    a = a[a["code"].isin(settings.billable_codes)].copy()
    a["auth"] = np.arange(len(a))
    a["left"] = a["units_authorized"] - a["units_used"]
    m = days.merge(a, on="client")
    m = m[(m["date"] >= m["start"]) & (m["end"].isna() | (m["date"] <= m["end"]))]
    codes = m.groupby(["client", "date"])["code"].agg(lambda c: sorted(set(c)))
    days["codes"] = pd.Series(
        list(zip(days["client"], days["date"], strict=True)), index=days.index
    ).map(lambda k: codes.get(k, []))
    n_codes = days["codes"].map(len)

    msgs = settings.messages
    alerts = []

    def alert(rows: pd.DataFrame, key: str, code: pd.Series, fill: dict[str, pd.Series]) -> None:
        if rows.empty:
            return
        stamp = rows["date"].dt.strftime("%Y-%m-%d")
        text = [
            msgs[key].format(date=d, **{k: v.iloc[i] for k, v in fill.items()})
            for i, d in enumerate(stamp)
        ]
        alerts.append(
            pd.DataFrame(
                {"client": rows["client"], "date": rows["date"], "code": code, "message": text}
            )
        )

    group = ", ".join(settings.billable_codes)
    none = days[n_codes == 0]
    alert(
        none,
        "no-authorization",
        pd.Series(pd.NA, index=none.index),
        {"codes": pd.Series(group, index=none.index)},
    )
    twice = days[n_codes > 1]
    joined = twice["codes"].map(", ".join)
    alert(twice, "billable-twice", joined, {"codes": joined})

    one = days.loc[n_codes == 1, ["client", "date"]]
    pick = one.merge(m, on=["client", "date"]).sort_values(
        ["client", "date", "end", "start", "auth"], kind="stable", na_position="last"
    )
    pick = pick.drop_duplicates(["client", "date"]).sort_values(["date", "client"], kind="stable")
    used_before = pick.groupby("auth").cumcount() * settings.units_per_occurrence
    ok = pick["left"] - used_before >= settings.units_per_occurrence - _UNIT_TOLERANCE
    spent = pick[~ok]
    alert(spent, "units-exhausted", spent["code"], {"code": spent["code"]})

    made = pick[ok]
    occurrences = pd.DataFrame(
        {
            "client": made["client"].astype("string"),
            "date": made["date"],
            "code": made["code"].astype("string"),
            "minutes": pd.array([settings.note_minutes] * len(made), dtype="Int64"),
        }
    ).reset_index(drop=True)
    if alerts:
        found = pd.concat(alerts, ignore_index=True)
        found = found.sort_values(["date", "client"], kind="stable").reset_index(drop=True)
        found = found.astype({"client": "string", "code": "string", "message": "string"})
    else:
        found = _empty(ALERT_COLUMNS)
    return occurrences, found
