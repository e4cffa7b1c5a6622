"""The ledger's checks of an export: `already-exported` and `placeholder-open` findings,
from the month's blocking entries of the table's members (`_records.blocking_entries`).
The ledger is only read.

A member-month is *already exported* while it has a `pending` or `exported` entry; a
`rejected` entry does not block a resubmission.

Placeholders: a deferred row exported as an unconfirmed placeholder has an entry with
`placeholder = 1`. Another placeholder of the same member-month is `already-exported`
(the first one is still in pre-billing); a confirmed row is `placeholder-open`
(`open_placeholders`): the biller confirms the placeholder in HHAeXchange instead, or,
once it was removed there, exports the row as a correction, whose entry then names the
placeholder's id in `replaces` (`_records.link_placeholders`). A confirmed entry blocks
both.

Corrections: rows whose line is in `corrections` (`--correction 5,9` in a CLI) are let
through.

Members are compared by `core.values.member_key`, as the ledger records them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Connection

from xl_pmpm.core.findings import ValidationReport, combine, empty_findings, finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.review import placeholder_rows
from xl_pmpm.core.values import member_key
from xl_pmpm.io.ledger._address import exists
from xl_pmpm.io.ledger._db import Ledger, opened
from xl_pmpm.io.ledger._records import any_blocking, blocking_entries, members_of


def check_against_ledger(
    report: ValidationReport,
    db_path: str | Path | Ledger,
    table: pd.DataFrame,
    layout: Layout,
    *,
    corrections: Iterable[int] = (),
) -> ValidationReport:
    """`report` with `already-exported` (and `placeholder-open`) errors from the ledger.

    Needs the report's billing month; without one (a `no-month` error is already
    there) nothing is added.
    """
    if report.month is None or not exists(db_path):
        return report
    month = str(pd.Period(report.month, freq="M"))
    with opened(db_path, read_only=True) as db, db.connect() as conn:
        seen = ledger_findings(conn, table, month, layout, corrections)
    return report.with_findings(seen)


def ledger_findings(
    conn: Connection,
    table: pd.DataFrame,
    month: str,
    layout: Layout,
    corrections: Iterable[int] | None = None,
) -> pd.DataFrame:
    """`already-exported` and `placeholder-open` findings of `table` for `month` (a period
    string), from one read of the ledger: its entries of the table's members only (none
    to read, or compare, when no entry blocks the month)."""
    if not any_blocking(conn, month):
        return empty_findings()
    done = blocking_entries(conn, month, members_of(table, layout))
    return combine(
        [
            blocked_rows(done, table, month, layout, corrections),
            held_rows(done, table, month, layout, corrections),
        ]
    )


def blocked_rows(
    done: pd.DataFrame,
    table: pd.DataFrame,
    month: str,
    layout: Layout,
    corrections: Iterable[int] | None = None,
) -> pd.DataFrame:
    """`already-exported` findings for the rows of `table` that `done` (blocking entries of
    `month`) blocks: see `already_exported`. Pure."""
    if done.empty:
        return empty_findings()
    col = layout.name_of("patient_number")
    ids = member_key(table[col])
    done = done.assign(patient_number=member_key(done["patient_number"]))
    keep = ~table.index.isin(list(corrections or ()))
    rows = pd.DataFrame(
        {
            "patient_number": ids[keep],
            "line": table.index[keep],
            "row_placeholder": placeholder_rows(table, layout)[keep],
        }
    )
    hit = rows.merge(
        done[["id", "patient_number", "file_name", "exported_at", "contract", "status"]].assign(
            entry_placeholder=done["placeholder"].astype(int).eq(1)
        ),
        on="patient_number",
        how="inner",
    )
    hit = hit[~hit["entry_placeholder"] | hit["row_placeholder"]]
    # One finding per row: the newest confirmed entry if any, else the newest placeholder.
    hit = hit.sort_values(["line", "entry_placeholder", "id"], ascending=[True, False, True])
    hit = hit.drop_duplicates("line", keep="last").reset_index(drop=True)
    if hit.empty:
        return empty_findings()
    kind = hit["status"].where(~hit["entry_placeholder"], hit["status"] + " placeholder")
    message = (
        f"Already exported for {month}: "
        + hit["file_name"]
        + " ("
        + hit["contract"]
        + ", "
        + hit["exported_at"].str[:10]
        + ", "
        + kind
        + ")."
    )
    return finding_rows(
        "already-exported", pd.Index(hit["line"]), col, table.loc[hit["line"], col], message
    )


def already_exported(
    db_path: str | Path,
    table: pd.DataFrame,
    month: str | pd.Period,
    layout: Layout,
    *,
    corrections: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Findings (`already-exported`, error) for rows whose member-month is in the ledger.

    A member-month is the patient number and the month, whatever the contract (a
    PMPM is billed once per member per month). A confirmed entry blocks every row of
    its member-month; a placeholder entry blocks only another placeholder row (see
    the module doc). Rows whose line is in `corrections` are let through. A ledger
    that does not exist yet holds nothing; the ledger is only read.
    """
    return _read_then(blocked_rows, db_path, table, month, layout, corrections)


def _read_then(
    rule: Callable[..., pd.DataFrame],
    db_path: str | Path,
    table: pd.DataFrame,
    month: str | pd.Period,
    layout: Layout,
    corrections: Iterable[int] | None,
) -> pd.DataFrame:
    """`rule` over the month's blocking entries of the table's members (read only); no
    findings when the ledger does not exist yet."""
    if not exists(db_path):
        return empty_findings()
    month = str(pd.Period(month, freq="M"))
    with opened(db_path, read_only=True) as db, db.connect() as conn:
        done = blocking_entries(conn, month, members_of(table, layout))
    return rule(done, table, month, layout, corrections)


def held_rows(
    done: pd.DataFrame,
    table: pd.DataFrame,
    month: str,
    layout: Layout,
    corrections: Iterable[int] | None = None,
) -> pd.DataFrame:
    """`placeholder-open` findings for the confirmed rows of `table` over an open placeholder
    in `done` (blocking entries of `month`): see `open_placeholders`. Pure."""
    if done.empty:
        return empty_findings()
    done = done.assign(patient_number=member_key(done["patient_number"]))
    is_placeholder = done["placeholder"].astype(int).eq(1)
    confirmed = set(done.loc[~is_placeholder, "patient_number"])
    open_ = done[is_placeholder & ~done["patient_number"].isin(confirmed)]
    if open_.empty:
        return empty_findings()
    newest = open_.sort_values("id").drop_duplicates("patient_number", keep="last")
    col = layout.name_of("patient_number")
    ids = member_key(table[col])
    rows = ~placeholder_rows(table, layout) & ~table.index.isin(list(corrections or ()))
    hit = (
        pd.DataFrame({"patient_number": ids[rows], "line": table.index[rows]})
        .merge(newest[["patient_number", "file_name", "exported_at"]], on="patient_number")
        .sort_values("line")
    )
    if hit.empty:
        return empty_findings()
    message = (
        f"A placeholder for {month} went out in "
        + hit["file_name"]
        + " ("
        + hit["exported_at"].str[:10]
        + "): importing this row would make a second PMPM visit for the month."
    )
    return finding_rows(
        "placeholder-open", pd.Index(hit["line"]), col, table.loc[hit["line"], col], message
    )


def open_placeholders(
    db_path: str | Path,
    table: pd.DataFrame,
    month: str | pd.Period,
    layout: Layout,
    *,
    corrections: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Findings (`placeholder-open`, error) for confirmed rows over an exported placeholder.

    A deferred row went out as a placeholder (an unconfirmed visit in HHAeXchange's
    pre-billing, seed 001); a confirmed row for the same member-month now would make
    a second PMPM visit for that month. Members with a confirmed entry already get
    `already-exported` instead. Rows whose line is in `corrections` (the biller says
    the placeholder was removed in HHAeXchange) are let through; the ledger then
    links the new entry to the placeholder (`replaces`). The ledger is only read.
    """
    return _read_then(held_rows, db_path, table, month, layout, corrections)
