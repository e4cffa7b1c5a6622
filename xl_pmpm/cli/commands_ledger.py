"""`xl-pmpm ledger ...`: set up, check and back up the export ledger.

- `ledger init`: create the ledger's tables (a new SQLite file, or a database on a
  server a team shares), or upgrade an older ledger to this release's schema in one
  transaction. Run once by whoever sets up a shared server.
- `ledger backup --to FILE`: a consistent copy of the ledger as a new SQLite file
  (SQLite's online backup; from a server, every entry read in one snapshot).

The ledger is `--ledger` (a path or a URL without password), else $XL_PMPM_LEDGER,
else ./pmpm-ledger.sqlite3. A server's password comes from PGPASSWORD or ~/.pgpass.
"""

from __future__ import annotations

import argparse

from xl_pmpm.cli.options import add_settings, emit, guarded, warn_if_on_network
from xl_pmpm.io import ledger
from xl_pmpm.io.ledger_address import LEDGER_ENV, LEDGER_NAME, default_ledger


def _ledger(args: argparse.Namespace) -> str:
    db = args.ledger or default_ledger()
    warn_if_on_network(db)
    return str(db)


@guarded
def cmd_ledger_init(args: argparse.Namespace) -> int:
    db = _ledger(args)
    done, before = ledger.init(db)
    text = {
        "created": f"Created the ledger {ledger.shown(db)} (schema version "
        f"{ledger.SCHEMA_VERSION}).",
        "upgraded": f"Upgraded the ledger {ledger.shown(db)} from schema version {before} "
        f"to {ledger.SCHEMA_VERSION}; every entry kept.",
        "checked": f"The ledger {ledger.shown(db)} is ready (schema version "
        f"{ledger.SCHEMA_VERSION}).",
    }[done]
    payload = {"ledger": ledger.shown(db), "done": done, "version": ledger.SCHEMA_VERSION}
    emit(args, payload, text)
    return 0


@guarded
def cmd_ledger_backup(args: argparse.Namespace) -> int:
    db = _ledger(args)
    count = ledger.backup(db, args.to)
    emit(
        args,
        {"ledger": ledger.shown(db), "backup": args.to, "entries": count},
        f"Backed up {count} ledger entr{'y' if count == 1 else 'ies'} of {ledger.shown(db)} "
        f"to {args.to}.",
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `ledger init` and `ledger backup` to the `xl-pmpm` subparsers."""
    p = sub.add_parser(
        "ledger",
        help="set up, upgrade or back up the export ledger",
        description="The export ledger itself: create or upgrade its tables, back it up.",
        example="xl-pmpm ledger init --ledger upload/pmpm-ledger.sqlite3",
        group="ledger",
    )
    steps = p.add_subparsers(dest="ledger_command", required=True)
    where = (
        "the ledger: a file path or postgresql://USER@HOST/DB "
        f"(default: ${LEDGER_ENV}, else ./{LEDGER_NAME})"
    )

    q = steps.add_parser(
        "init",
        help="create the ledger's tables, or upgrade an older ledger",
        description="Create the ledger's tables, or upgrade a ledger an earlier release made "
        "(in one transaction, every entry kept).",
        example="xl-pmpm ledger init --ledger upload/pmpm-ledger.sqlite3",
    )
    q.add_argument("--ledger", help=where)
    add_settings(q, layout=False, rates=False)
    q.set_defaults(func=cmd_ledger_init)

    q = steps.add_parser(
        "backup",
        help="a consistent copy of the ledger as a new SQLite file",
        description="Write a consistent copy of the ledger (a file or a server) as a new "
        "SQLite file, never over an existing one; the copy is a ledger itself.",
        example="xl-pmpm ledger backup --to backups/ledger-2026-11-05.sqlite3",
    )
    q.add_argument("--ledger", help=where)
    q.add_argument("--to", required=True, metavar="FILE", help="the new backup file")
    add_settings(q, layout=False, rates=False)
    q.set_defaults(func=cmd_ledger_backup)
