"""`xl-pmpm ledger ...`: set up, check and back up the export ledger.

- `ledger init`: create the ledger's tables (a new SQLite file, or a database on a
  server a team shares), or upgrade an older ledger to this release's schema in one
  transaction. Run once by whoever sets up a shared server.
- `ledger backup --to FILE`: a consistent copy of the ledger as a new SQLite file
  (SQLite's online backup; from a server, every entry read in one snapshot).
- `ledger where`: which ledger the commands use, and why.
- `ledger merge OLD`: an earlier release's per-folder ledger merged into this one
  (`io.ledger`'s `merge`).

The ledger is `--ledger` (a path or a URL without password), else $XL_PMPM_LEDGER,
else pmpm-ledger.sqlite3 in the user's data folder (one per agency, never in an
export folder). A server's password comes from PGPASSWORD or ~/.pgpass.
"""

from __future__ import annotations

import argparse
import os

from xl_pmpm.cli.options import add_settings, emit, guarded, warn_if_on_network
from xl_pmpm.io import ledger
from xl_pmpm.io.ledger import LEDGER_ENV, LEDGER_HELP, default_ledger


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


@guarded
def cmd_ledger_where(args: argparse.Namespace) -> int:
    db = _ledger(args)
    if args.ledger:
        why = "given with --ledger"
    elif os.environ.get(LEDGER_ENV, "").strip():
        why = f"from ${LEDGER_ENV}"
    else:
        why = "the default: the agency's ledger in your data folder"
    there = ledger.exists(db)
    payload = {"ledger": ledger.shown(db), "why": why, "exists": there}
    text = f"{ledger.shown(db)}\n  ({why}; " + ("in use)" if there else "nothing exported yet)")
    emit(args, payload, text)
    return 0


@guarded
def cmd_ledger_merge(args: argparse.Namespace) -> int:
    db = _ledger(args)
    done = ledger.merge(args.old, db)
    payload = {
        "ledger": ledger.shown(db),
        "merged": args.old,
        "copied": done.copied,
        "skipped": done.skipped,
        "moved_to": str(done.moved_to),
    }
    emit(
        args,
        payload,
        f"Merged {done.copied} entr{'y' if done.copied == 1 else 'ies'} of {args.old} into "
        f"{ledger.shown(db)} ({done.skipped} already there).\n"
        f"  The old ledger was moved out of the export folder, kept: {done.moved_to}",
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the `ledger` commands to the `xl-pmpm` subparsers."""
    p = sub.add_parser(
        "ledger",
        help="where the export ledger is; set it up, upgrade, back up or merge it",
        description="The export ledger itself: say where it is, create or upgrade its tables, "
        "back it up, merge an earlier release's per-folder ledger into it.",
        example="xl-pmpm ledger where",
        group="ledger",
    )
    steps = p.add_subparsers(
        dest="ledger_command", required=True, metavar="{init,backup,where,merge}"
    )
    where = LEDGER_HELP

    q = steps.add_parser(
        "init",
        help="create the ledger's tables, or upgrade an older ledger",
        description="Create the ledger's tables, or upgrade a ledger an earlier release made "
        "(in one transaction, every entry kept).",
        example="xl-pmpm ledger init",
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

    q = steps.add_parser(
        "where",
        help="which ledger the commands use, and why",
        description="Print the ledger the commands use (--ledger, $XL_PMPM_LEDGER, else the "
        "agency's ledger in your data folder) and why.",
        example="xl-pmpm ledger where",
    )
    q.add_argument("--ledger", help=where)
    add_settings(q, layout=False, rates=False)
    q.set_defaults(func=cmd_ledger_where)

    q = steps.add_parser(
        "merge",
        help="merge an earlier release's per-folder ledger into the agency's ledger",
        description="Copy every entry of an older per-folder ledger into the agency's ledger; "
        "refuses (and lists) a member-month exported in both from different files. The old "
        "file is moved aside, kept.",
        example="xl-pmpm ledger merge upload/pmpm-ledger.sqlite3",
    )
    q.add_argument("old", metavar="OLD", help="the old ledger (OUT/pmpm-ledger.sqlite3)")
    q.add_argument("--ledger", help=f"the ledger to merge into; {where}")
    add_settings(q, layout=False, rates=False)
    q.set_defaults(func=cmd_ledger_merge)
