"""The export ledger: one entry per member-month per import file.

The ledger answers "was this member already billed for this month?" before an
export, keeps the history (`xl-pmpm history`), and takes the import results back
(`mark_rejected`). It lives in a database reached through SQLAlchemy:

- a path is a local SQLite file, the embedded default for one agency (created
  owner-only, 0600 in a 0700 folder: it holds member IDs);
- a URL (`postgresql://user@host/db`) is a database server a billing team shares.

This package is the one room of the ledger; code outside it imports only the package
(tests/test_architecture.py), through the `Ledger` object or the functions below. Its
modules, private to it:

- `_address`: where the ledger is (`Address`: a `FileAddress` or a `ServerAddress`), how
  it is named without a password, what a server's errors mean, the network-path warning;
- `_tables`: its tables, indexes and rules (an export's files apart from its entries);
- `_versions`: each schema version's step from the one before, and back;
- `_db`: opening it (`Ledger`: one engine per export), upgrading older ledgers in one
  transaction (and taking them back), the database's uniqueness rule;
- `_backup`: a consistent copy as a new SQLite file (`xl-pmpm ledger backup`), and the
  copy of a SQLite ledger kept beside it before each export (`<ledger>.backup`);
- `_records`: reading the entries, recording an export, marking rejected rows
  (statuses, placeholders and the corrections that replace them, corrections: see there);
- `_checks`: the already-exported and open-placeholder checks of an export;
- `_recording`: writing the import files and recording them crash-safely;
- `_lock`: one export at a time per ledger;
- `_merge`: an earlier release's per-folder ledger merged into the agency's
  (`xl-pmpm ledger merge`);
- `_errors`: every driver error (sqlite3, SQLAlchemy, psycopg) said as the project's
  own `LedgerUnusable` (a PmpmInputError) before it leaves the package.

Where the ledger is by default: one per agency, in the user's data folder
(`default_ledger`), never in an export folder.

Only `_address` and `_errors` (no SQLAlchemy) are imported with this package; the
others, and SQLAlchemy with them, on first use of one of their names (PEP 562), so
that a command which opens no ledger starts without them.
"""

from __future__ import annotations

import importlib
from typing import Any

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS, EXPORTED, PENDING, REJECTED
from xl_pmpm.io.ledger._address import (
    LEDGER_ENV,
    LEDGER_HELP,
    LEDGER_NAME,
    LOCK_TIMEOUT,
    Address,
    FileAddress,
    ServerAddress,
    address,
    backup_path,
    default_ledger,
    exists,
    looks_like_url,
    network_warning,
    refuse_unmerged,
    restore_fix,
    shown,
)
from xl_pmpm.io.ledger._errors import LedgerUnusable, driver_errors, said, said_inside

# Names resolved on first use: module -> (functions whose driver errors are said as
# LedgerUnusable, context managers alike, other names as they are).
_LAZY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "_backup": (("backup", "backup_ledger"), (), ()),
    "_db": (("init", "open_ledger"), ("opened",), ("FILE_MODE", "SCHEMA_VERSION", "Ledger")),
    "_recording": (
        ("reconcile_pending", "write_and_record"),
        (),
        ("TEMP_SUFFIX", "LedgerConflict", "Reconciled"),
    ),
    "_lock": (("lock_path",), ("locked", "locked_and_opened"), ("ExportBusy",)),
    "_merge": (("merge",), (), ("Merged",)),
    "_checks": (
        ("already_exported", "check_against_ledger", "ledger_findings", "open_placeholders"),
        (),
        (),
    ),
    "_records": (
        ("entry_columns", "history", "mark_rejected"),
        (),
        # record_export: the bare recorder of files written elsewhere (tests, benchmarks):
        # the uniqueness rule's refusal reaches its caller as the driver's IntegrityError.
        ("match_entries", "record_export", "row_hashes", "sha256_hex"),
    ),
}
_HOME = {name: module for module, kinds in _LAZY.items() for names in kinds for name in names}
_CALLS = {name for kinds in _LAZY.values() for name in kinds[0]}
_MANAGERS = {name for kinds in _LAZY.values() for name in kinds[1]}

__all__ = [  # the lazy names resolve through __getattr__
    "BLOCKING",
    "ENTRY_COLUMNS",
    "EXPORTED",
    "PENDING",
    "REJECTED",
    "LEDGER_ENV",
    "LEDGER_HELP",
    "LEDGER_NAME",
    "LOCK_TIMEOUT",
    "Address",
    "FileAddress",
    "ServerAddress",
    "LedgerUnusable",
    "address",
    "backup_path",
    "default_ledger",
    "driver_errors",
    "exists",
    "looks_like_url",
    "network_warning",
    "refuse_unmerged",
    "restore_fix",
    "said",
    "shown",
    *_HOME,
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    if name in _CALLS or name in _MANAGERS:
        value = said_inside(value, manager=name in _MANAGERS)
    globals()[name] = value  # later uses skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
