"""The export ledger: one entry per member-month per import file.

The ledger answers "was this member already billed for this month?" before an
export, keeps the history (`xl-pmpm history`), and takes the import results back
(`mark_rejected`). It lives in a database reached through SQLAlchemy:

- a path is a local SQLite file, the embedded default for one biller (created
  owner-only, 0600 in a 0700 folder: it holds member IDs);
- a URL (`postgresql://user@host/db`) is a database server a billing team shares.

Its jobs live in modules of their own; this module is the one callers import:

- `ledger_address`: where the ledger is (a path or a URL), how it is named without a
  password, what a server's errors mean, the network-path warning;
- `ledger_db`: its schema and versions (older ledgers upgraded
  in one transaction), opening it, the database's uniqueness rule;
- `ledger_backup`: a consistent copy as a new SQLite file (`xl-pmpm ledger backup`),
  and the copy of a SQLite ledger kept beside it before each export (`<ledger>.backup`);
- `ledger_records`: reading the entries, recording an export, the already-exported
  and open-placeholder checks, marking rejected rows (statuses, placeholders and the
  corrections that replace them, corrections: see there);
- `ledger_files`: writing the import files and recording them crash-safely;
- `ledger_lock`: one export at a time per ledger.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS, EXPORTED, PENDING, REJECTED
from xl_pmpm.core.findings import ValidationReport, combine
from xl_pmpm.core.layout import Layout
from xl_pmpm.io.ledger_address import (
    LEDGER_NAME,
    backup_path,
    exists,
    network_warning,
    restore_fix,
    shown,
)
from xl_pmpm.io.ledger_backup import backup, backup_ledger
from xl_pmpm.io.ledger_db import FILE_MODE, SCHEMA_VERSION, init, open_ledger, opened
from xl_pmpm.io.ledger_files import (
    TEMP_SUFFIX,
    LedgerConflict,
    Reconciled,
    reconcile_pending,
    write_and_record,
)
from xl_pmpm.io.ledger_lock import LOCK_TIMEOUT, ExportBusy, lock_path, locked
from xl_pmpm.io.ledger_records import (
    already_exported,
    history,
    ledger_findings,
    mark_rejected,
    match_entries,
    open_placeholders,
    record_export,
    row_hashes,
    sha256_hex,
)

__all__ = [
    "BLOCKING",
    "ENTRY_COLUMNS",
    "EXPORTED",
    "FILE_MODE",
    "LEDGER_ENV",
    "LEDGER_NAME",
    "LOCK_TIMEOUT",
    "PENDING",
    "REJECTED",
    "SCHEMA_VERSION",
    "TEMP_SUFFIX",
    "ExportBusy",
    "LedgerConflict",
    "Reconciled",
    "already_exported",
    "backup",
    "backup_ledger",
    "backup_path",
    "check_against_ledger",
    "default_ledger",
    "exists",
    "history",
    "init",
    "lock_path",
    "locked",
    "mark_rejected",
    "match_entries",
    "network_warning",
    "open_ledger",
    "open_placeholders",
    "opened",
    "reconcile_pending",
    "record_export",
    "restore_fix",
    "row_hashes",
    "sha256_hex",
    "shown",
    "write_and_record",
]

LEDGER_ENV = "XL_PMPM_LEDGER"


def check_against_ledger(
    report: ValidationReport,
    db_path: str | Path,
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
    return with_findings(report, seen)


def with_findings(report: ValidationReport, found: pd.DataFrame) -> ValidationReport:
    """`report` with `found` added (the same report when there are none)."""
    if found.empty:
        return report
    return ValidationReport(
        combine([report.findings, found]), report.rows, report.source, report.month, report.as_of
    )


def default_ledger(folder: str | Path | None = None) -> str | Path:
    """Where the export ledger is when no --ledger is given.

    $XL_PMPM_LEDGER if set (one ledger for every export folder: a path, or a server
    URL), else `pmpm-ledger.sqlite3` in `folder` (the export folder), else in the
    current folder.
    """
    env = os.environ.get(LEDGER_ENV, "").strip()
    if env:
        return env if "://" in env else Path(env)
    return Path(folder if folder is not None else ".") / LEDGER_NAME
