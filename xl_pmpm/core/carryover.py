"""Rows set aside in earlier months, brought back into a later month's report.

Review keeps every removed or deferred row in the archive (review.ARCHIVE_META +
the row's columns, original values). Later records settle an earlier one: a
`restore` record (the row was put back, by `xl-pmpm restore` or the workbook's
Restore) or a `carry` record (the row was carried into a later report). Both
repeat the settled record's `archived_at`, `line`, `source` and `month`, which
identify it.

A carried row keeps its service month (issue 22): the PMPM of October is October's,
billed in October's submission window, never moved into November's report (that would
lose October's fee and could bill November for a member with no November care). So
`xl-pmpm carry-over --into` writes the rows of each month to a report of that month
(`by_month`), within that month's window only (`in_window`), and never re-offers a row
the ledger already holds (`against_ledger`): a deferred row that went out as a
placeholder is confirmed in HHAeXchange, not exported again.

Pure functions over DataFrames: `outstanding_records`, `carry_over_candidates`,
`choose_records`, `against_ledger`, `in_window`, `carry_into`. The shell is
`xl-pmpm carry-over` (commands_month.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from xl_pmpm.core.claims import submission_window
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.review import ARCHIVE_META, DEFER, DELETE
from xl_pmpm.core.values import member_key

RESTORE = "restore"
CARRY = "carry"
SET_ASIDE = (DELETE, DEFER)
SETTLING = (RESTORE, CARRY)
# What identifies an archive record across the records that settle it.
RECORD_KEY = ["archived_at", "line", "source", "month"]


def _keyed(records: pd.DataFrame) -> pd.DataFrame:
    out = records[RECORD_KEY].copy()
    for c in RECORD_KEY:
        out[c] = out[c].astype(str)
    return out


def outstanding_records(
    archive: pd.DataFrame, *, settled_by: Iterable[str] = SETTLING
) -> pd.DataFrame:
    """The delete/defer records of `archive` that no later record of `settled_by` settles.

    Keeps the archive's index and order. An empty or action-less archive has none.
    """
    if archive.empty or "action" not in archive.columns:
        return archive.iloc[0:0]
    actions = archive["action"].astype(str)
    aside = archive[actions.isin(SET_ASIDE)]
    settling = archive[actions.isin(tuple(settled_by))]
    if settling.empty:
        return aside
    settled = _keyed(settling).drop_duplicates()
    hit = _keyed(aside).merge(settled, how="left", indicator=True)["_merge"] == "both"
    return aside[~hit.to_numpy()]


def carry_over_candidates(archive: pd.DataFrame, month: str | None = None) -> pd.DataFrame:
    """Outstanding delete/defer records of months before `month` (all months if None).

    A record whose month is unknown (blank) is kept: it cannot be shown to belong
    to `month` itself. Ordered by month, source file and line.
    """
    rows = outstanding_records(archive)
    if month is not None and not rows.empty:
        target = str(pd.Period(month, freq="M"))
        record_month = rows["month"].fillna("").astype(str)
        rows = rows[(record_month == "") | (record_month < target)]
    if rows.empty:
        return rows
    order = rows.assign(_line=rows["line"].astype("int64")).sort_values(
        ["month", "source", "_line", "archived_at"], kind="stable"
    )
    return order.drop(columns="_line")


def choose_records(
    candidates: pd.DataFrame, lines: Iterable[int] | None = None, source: str | None = None
) -> pd.DataFrame:
    """The candidates of the given original `lines` (all when None), of `source` if given.

    PmpmInputError when a line is not among the candidates, or when it names rows
    set aside from more than one report (then `source` must pick one).
    """
    chosen = candidates
    if source is not None:
        chosen = chosen[chosen["source"].astype(str) == source]
        if chosen.empty:
            raise PmpmInputError(
                f"No row set aside from '{source}' is waiting to be carried.",
                fix="Give a source file name as the listing shows it.",
            )
    if lines is None:
        return chosen
    wanted = list(dict.fromkeys(int(n) for n in lines))
    line = chosen["line"].astype("int64")
    unknown = [n for n in wanted if n not in set(line)]
    if unknown:
        raise PmpmInputError(
            f"Line(s) {', '.join(map(str, unknown[:5]))} are not rows waiting to be carried.",
            fix="Give the lines the carry-over listing shows (without --into).",
        )
    picked = chosen[line.isin(wanted).to_numpy()]
    twice = picked.groupby(picked["line"].astype("int64"))["source"].nunique()
    if (twice > 1).any():
        n = int(twice[twice > 1].index[0])
        sources = sorted(set(picked.loc[picked["line"].astype("int64") == n, "source"]))
        raise PmpmInputError(
            f"Line {n} was set aside from more than one report ({', '.join(sources)}).",
            fix="Carry them one report at a time with --source NAME.",
        )
    return picked


def carry_into(
    table: pd.DataFrame, chosen: pd.DataFrame, *, at: datetime, into: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The new month's `table` with the `chosen` records' rows appended; and `carry` records.

    The carried rows keep their original values (the biller fixes dates and hours
    next), in `table`'s columns (a column the record lacks is blank); they take
    the lines after the table's last. Each carry record repeats the chosen
    record's identity (RECORD_KEY) and values, so the row is not offered again.
    """
    if chosen.empty:
        return table, chosen.iloc[0:0]
    start = int(table.index.max()) + 1 if len(table) else 2
    rows = chosen.reindex(columns=list(table.columns)).astype(object).fillna("").astype(str)
    rows.index = pd.RangeIndex(start, start + len(rows), name=table.index.name)
    out = pd.concat([table, rows])
    records = chosen.copy()
    records["action"] = CARRY
    stamp = at.isoformat(timespec="seconds")
    records["reason"] = f"carried into {into or 'a new report'} at {stamp}"
    meta = [c for c in ARCHIVE_META if c in records.columns]
    return out, records[meta + [c for c in records.columns if c not in meta]].reset_index(drop=True)


def already_in_report(table: pd.DataFrame, chosen: pd.DataFrame, id_column: str) -> pd.Series:
    """For each chosen record: is its member already a row of the new month's `table`?

    Compared by `values.member_key` (as the duplicate check and the ledger compare),
    so an ID with an invisible character or full-width digits is the same member.
    Carrying such a row would put the member in the report twice (`duplicate-member`).
    """
    if chosen.empty or id_column not in chosen.columns or id_column not in table.columns:
        return pd.Series(False, index=chosen.index)
    present = set(member_key(table[id_column])) - {""}
    return member_key(chosen[id_column]).isin(present)


@dataclass
class Settled:
    """Chosen records split by what the ledger already holds of their member-month."""

    carry: pd.DataFrame  # not in the ledger (or only rejected): to carry
    placeholder: pd.DataFrame  # went out as a placeholder: confirm it in HHAeXchange
    exported: pd.DataFrame  # already exported (billed): nothing to carry


def against_ledger(chosen: pd.DataFrame, outcomes: pd.DataFrame, id_column: str) -> Settled:
    """Split `chosen` by its member-month in the ledger (`unbilled.ledger_outcomes`).

    Members compared by `member_key`, months by the record's month. A placeholder
    still open means the deferred row went out unconfirmed: carrying it would offer
    the same visit again; it is confirmed in HHAeXchange instead (seed 001).
    """
    if chosen.empty or outcomes is None or outcomes.empty or id_column not in chosen:
        return Settled(chosen, chosen.iloc[0:0], chosen.iloc[0:0])
    key = member_key(chosen[id_column].fillna("").astype(str)) + "\0" + chosen["month"].astype(str)
    o = outcomes
    okey = member_key(o["patient_number"].astype(str)) + "\0" + o["month"].astype(str)
    confirmed = set(okey[o["confirmed"].astype(bool)])
    placeholder = set(okey[o["placeholder"].astype(bool)]) - confirmed
    is_exported = key.isin(confirmed).to_numpy()
    is_placeholder = key.isin(placeholder).to_numpy()
    rest = ~is_exported & ~is_placeholder
    return Settled(chosen[rest], chosen[is_placeholder], chosen[is_exported])


def in_window(chosen: pd.DataFrame, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(open, closed, unknown month): each record by its own month's submission window
    on `as_of`. A closed window's rows cannot be billed any more (`unbilled` lists them
    as lost); a record without a month cannot be placed in one."""
    if chosen.empty:
        return chosen, chosen, chosen
    month = chosen["month"].fillna("").astype(str).str.strip()
    known = month != ""
    until = month[known].map(lambda m: submission_window(m)[1])
    closed = pd.Series(False, index=chosen.index)
    closed[known] = until.map(lambda d: d < as_of).astype(bool)
    return chosen[known & ~closed], chosen[closed], chosen[~known]


def by_month(chosen: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The records of each service month, oldest month first: one report each."""
    if chosen.empty:
        return []
    return [(str(m), g) for m, g in chosen.groupby(chosen["month"].astype(str), sort=True)]
