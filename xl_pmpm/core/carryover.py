"""Rows set aside in earlier months, brought back into a later month's report.

Review keeps every removed or deferred row in the archive (review.ARCHIVE_META +
the row's columns, original values). Later records settle an earlier one: a
`restore` record (the row was put back, by `xl-pmpm restore` or the workbook's
Restore) or a `carry` record (the row was carried into a later report). Both
repeat the settled record's `archived_at`, `line`, `source` and `month`, which
identify it.

Pure functions over DataFrames: `outstanding_records`, `carry_over_candidates`,
`choose_records`, `carry_into`. The shell is `xl-pmpm carry-over`
(commands_month.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

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
    rows = chosen.reindex(columns=list(table.columns)).fillna("").astype(str)
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
