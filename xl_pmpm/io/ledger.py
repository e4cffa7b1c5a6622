"""The export ledger: one entry per member-month per import file.

The ledger answers "was this member already billed for this month?" before an
export, keeps the history (`xl-pmpm history`), and takes the import results back
(`mark_rejected`). It lives in a database reached through SQLAlchemy:

- a path is a local SQLite file, the embedded default for one agency (created
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
- `ledger_lock`: one export at a time per ledger;
- `ledger_merge`: an earlier release's per-folder ledger merged into the agency's
  (`xl-pmpm ledger merge`).

Where the ledger is by default: one per agency, in the user's data folder
(`ledger_address.default_ledger`), never in an export folder.

Only `ledger_address` (no SQLAlchemy) is imported with this module; the others, and
SQLAlchemy with them, on first use of one of their names (PEP 562), so that a command
which opens no ledger starts without them.
"""

from __future__ import annotations

import importlib
from typing import Any

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS, EXPORTED, PENDING, REJECTED
from xl_pmpm.io.ledger_address import (
    LEDGER_ENV,
    LEDGER_NAME,
    LOCK_TIMEOUT,
    backup_path,
    default_ledger,
    exists,
    network_warning,
    restore_fix,
    shown,
)

_LAZY = {
    "ledger_backup": ("backup", "backup_ledger"),
    "ledger_db": ("FILE_MODE", "SCHEMA_VERSION", "init", "open_ledger", "opened"),
    "ledger_files": (
        "TEMP_SUFFIX",
        "LedgerConflict",
        "Reconciled",
        "reconcile_pending",
        "write_and_record",
    ),
    "ledger_lock": ("ExportBusy", "lock_path", "locked"),
    "ledger_records": (
        "already_exported",
        "check_against_ledger",
        "entry_columns",
        "history",
        "ledger_findings",
        "mark_rejected",
        "match_entries",
        "open_placeholders",
        "record_export",
        "row_hashes",
        "sha256_hex",
    ),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [  # the lazy names resolve through __getattr__
    "BLOCKING",
    "ENTRY_COLUMNS",
    "EXPORTED",
    "PENDING",
    "REJECTED",
    "LEDGER_ENV",
    "LEDGER_NAME",
    "LOCK_TIMEOUT",
    "backup_path",
    "default_ledger",
    "exists",
    "network_warning",
    "restore_fix",
    "shown",
    *_HOME,
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"xl_pmpm.io.{_HOME[name]}"), name)
    globals()[name] = value  # later uses skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
