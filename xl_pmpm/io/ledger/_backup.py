"""Copies of the ledger.

`backup` (`xl-pmpm ledger backup`): a consistent copy of the ledger as a new SQLite
file. A SQLite ledger is copied with SQLite's online backup; a server's entries are
read in one snapshot (REPEATABLE READ) into a fresh ledger file of this release's
schema. The copy is written under a temporary name, checked, and linked into place:
never over an existing file, owner-only (0600) like every ledger.

`backup_ledger` (before each export): a SQLite ledger is copied to `<ledger>.backup`
beside it, replacing the last copy only once the new one checks out, so a ledger
damaged later can be restored (`_address.unreadable_ledger` says how). A server
ledger has no file beside it: it is backed up by `xl-pmpm ledger backup` and the
server's own backups (docs/team.md), so nothing is copied per export.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
import threading
from pathlib import Path

import sqlalchemy as sa

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io.atomic import publish
from xl_pmpm.io.ledger._address import (
    FileAddress,
    ServerAddress,
    address,
    backup_path,
    exists,
    unreadable_ledger,
)
from xl_pmpm.io.ledger._db import (
    FILE_MODE,
    Ledger,
    _sqlite_engine,
    create_schema,
    has_files,
    has_pending_files,
    opened,
)
from xl_pmpm.io.ledger._tables import ADDED_COLUMNS, exports, files, pending_files
from xl_pmpm.io.ledger._versions import _table_columns, store_pending_apart

# --- backup --------------------------------------------------------------------------------


def backup(ledger: str | Path | Ledger, to: str | Path) -> int:
    """A consistent copy of the ledger as a new SQLite file `to` (never over a file).

    A SQLite ledger: SQLite's online backup. A server: every entry read in one
    snapshot (REPEATABLE READ) into a fresh ledger file. Returns the entries copied.
    The copy is written beside `to` under a temporary name and linked into place.
    """
    target = Path(to)
    if target.exists():
        raise PmpmInputError(
            "A file of that name exists; a backup never replaces a file.",
            file=str(target),
            fix="Give a new file name.",
        )
    from xl_pmpm.io.files import ensure_private_dir

    with opened(ledger, read_only=True) as db:  # a ledger it is, before anything is written
        ensure_private_dir(target.parent if str(target.parent) else ".")
        temp = target.with_name(f".{target.name}.{os.getpid()}.backup")
        temp.unlink(missing_ok=True)
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        try:
            copy = _copy_server if db.where.server else _copy_sqlite
            count = copy(db, temp)
            with contextlib.closing(sqlite3.connect(temp)) as check:
                if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    raise PmpmInputError("The backup did not check out.", file=str(target))
            with open(temp, "rb") as fh:
                os.fsync(fh.fileno())
            try:
                publish(temp, target)  # atomic; fails rather than replace
            except FileExistsError:
                raise PmpmInputError(
                    "A file of that name appeared; a backup never replaces a file.",
                    file=str(target),
                    fix="Give a new file name.",
                ) from None
        finally:
            temp.unlink(missing_ok=True)
    return count


def _copy_sqlite(db: Ledger, temp: Path) -> int:
    assert isinstance(db.where, FileAddress)  # a SQLite ledger's copy
    uri = f"{db.where.path.resolve().as_uri()}?mode=ro"
    with (
        contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(temp)) as dst,
    ):
        src.backup(dst)
        return int(dst.execute("SELECT COUNT(*) FROM exports").fetchone()[0])


def _copy_server(db: Ledger, temp: Path) -> int:
    target = _sqlite_engine(temp, read_only=False)
    try:
        create_schema(target)
        columns = [c.name for c in exports.columns]
        snapshot = db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with snapshot as conn, conn.begin(), target.begin() as out:
            have = _table_columns(conn)
            chosen = [
                exports.c[c] if c in have else sa.literal(ADDED_COLUMNS[c]).label(c)
                for c in columns
            ]
            rows = conn.execute(sa.select(*chosen).order_by(exports.c.id))
            count = 0
            while batch := rows.fetchmany(5000):
                out.execute(sa.insert(exports), [dict(r._mapping) for r in batch])
                count += len(batch)
            if has_files(conn):  # the files of version 6's entries, by the same ids
                rows = conn.execute(sa.select(files).order_by(files.c.id))
                while batch := rows.fetchmany(5000):
                    out.execute(sa.insert(files), [dict(r._mapping) for r in batch])
            if has_pending_files(conn):  # the files not yet confirmed, as the server has them
                held = conn.execute(sa.select(pending_files).order_by(pending_files.c.id))
                marks = [dict(r._mapping) for r in held]
                if marks:
                    out.execute(sa.insert(pending_files), marks)
            else:  # a server ledger of version 4 (not upgraded by reading): its pending entries
                store_pending_apart(out)
        return count
    finally:
        target.dispose()


# --- the copy kept before each export (issue 14) --------------------------------------------


def remove_stale_copies(target: Path) -> list[str]:
    """Remove the temporary copies a killed `backup_ledger` left beside `target`.

    Called holding the export lock (`lock.locked`): no other process is copying
    this ledger, so another process's copy is a dead one's (this process's own threads
    are left alone: each removes its own).
    """
    removed = []
    ours = f".{target.name}.{os.getpid()}."
    for temp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if temp.name.startswith(ours):
            continue
        with contextlib.suppress(OSError):
            temp.unlink()
            removed.append(temp.name)
    return removed


def backup_ledger(ledger: str | Path | Ledger) -> Path | None:
    """Copy a SQLite ledger to `<ledger>.backup` (SQLite's online backup), replacing the last.

    Made before each export. The copy is checked (`PRAGMA quick_check`) before it
    replaces the previous one: a damaged ledger never overwrites a good backup (it is
    reported as damaged instead, with how to restore it). None when there is no
    ledger file yet, and for a server ledger (see the module doc).
    """
    where = address(ledger)
    if isinstance(where, ServerAddress):
        return None
    path = where.path
    target = backup_path(path)
    remove_stale_copies(target)
    if not exists(where):  # no ledger file yet, or a blank one: nothing to keep
        return None
    # One temp file per export: two exports (threads of one process too) may back up at once.
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temp.unlink(missing_ok=True)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    try:
        # a ledger, or refused as not one (the export's own when it opened it)
        with opened(ledger if isinstance(ledger, Ledger) else where, read_only=True):
            uri = f"{path.resolve().as_uri()}?mode=ro"
            with (
                contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as src,
                contextlib.closing(sqlite3.connect(temp)) as dst,
            ):
                try:
                    # A ledger that holds no entry yet (made by this export as it opened
                    # it) has nothing to keep: the last backup, if any, stays.
                    empty = src.execute("SELECT NOT EXISTS (SELECT 1 FROM exports)").fetchone()[0]
                    if not empty:
                        src.backup(dst)
                        ok = dst.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                except sqlite3.DatabaseError as exc:
                    raise unreadable_ledger(path, exc) from None
        if empty:
            temp.unlink(missing_ok=True)
            return None
        if not ok:
            raise unreadable_ledger(path, sqlite3.DatabaseError("quick_check failed"))
        with open(temp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target
