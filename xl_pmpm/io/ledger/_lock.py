"""One export at a time per ledger: from its first look at the ledger to its last write.

A SQLite ledger: an OS file lock on `<ledger>.lock` beside it (the `filelock` package).
A PostgreSQL ledger: a session advisory lock held by the database on a connection of
its own. Either way a process that dies releases it (never a stale lock), a second
export waits `LOCK_TIMEOUT` seconds and then gives up with ExportBusy, having done
nothing, and the lock is re-entrant within one process (an export inside a reconcile).

The lock keeps an interrupted export's pending entries from being finished by another
export while it is still running. What stops double billing is the database: the
uniqueness rule and the one transaction that checks and records (db.py); other
servers SQLAlchemy reaches get that rule without the lock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.exc import DBAPIError

from xl_pmpm.core.errors import PmpmError
from xl_pmpm.io.ledger._address import (
    LOCK_TIMEOUT,
    Address,
    FileAddress,
    ServerAddress,
    address,
    check_ledger_file,
    server_problem,
)
from xl_pmpm.io.ledger._db import FILE_MODE, Ledger, _server_engine, opened

ADVISORY_KEY = 0x786C706D706D  # "xlpmpm": the ledger's advisory lock on a PostgreSQL server


class ExportBusy(PmpmError):
    """Another export (or reconcile) holds the ledger's lock; nothing was done."""


def lock_path(db_path: str | Path) -> Path:
    """The lock file of a SQLite ledger: beside it, named `<ledger>.lock`."""
    path = Path(db_path).resolve()
    return path.with_name(path.name + ".lock")


def _busy(where: Address, timeout: float, what: str) -> ExportBusy:
    return ExportBusy(
        f"Another export or reconcile is using the ledger {where.shown} (waited {timeout:g} s "
        f"for its {what}). Wait for it to finish, then run this again; nothing was written."
    )


@contextlib.contextmanager
def _file_lock(where: FileAddress, timeout: float) -> Iterator[None]:
    from xl_pmpm.io.files import ensure_private_dir

    path = lock_path(where.path)
    ensure_private_dir(path.parent)
    lock = FileLock(path, mode=FILE_MODE, is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise _busy(where, timeout, f"lock {path.name}") from None
    try:
        yield
    finally:
        lock.release()


_held: dict[str, int] = {}
_held_guard = threading.RLock()


@contextlib.contextmanager
def _advisory_lock(
    where: ServerAddress, timeout: float, db: Ledger | None = None
) -> Iterator[None]:
    key = where.shown
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            try:
                yield
            finally:
                _held[key] -= 1
            return
        # The export's own engine when it opened the ledger (one engine per export).
        engine = db.engine if db is not None else _server_engine(where.url)
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            if db is None:
                engine.dispose()
            raise server_problem(exc, where) from None
        try:
            conn.exec_driver_sql(f"SET lock_timeout = {max(int(timeout * 1000), 1)}")
            try:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_KEY})
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                    raise _busy(where, timeout, "lock on the server") from None
                raise server_problem(exc, where) from None
            _held[key] = 1
            try:
                yield
            finally:
                _held.pop(key, None)
                with contextlib.suppress(DBAPIError):
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                    conn.exec_driver_sql("RESET lock_timeout")
        finally:
            if db is None:
                conn.close()  # closing the session releases the lock in any case
                engine.dispose()
            else:  # a pooled login: dropped, not returned, so no lock can outlive the export
                conn.invalidate()
                conn.close()


@contextlib.contextmanager
def locked(db_path: str | Path | Address | Ledger, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the ledger's lock: one export or reconcile at a time per ledger (see above)."""
    where = address(db_path)
    if isinstance(where, FileAddress):
        check_ledger_file(where)  # another kind of file: said before the lock file is made
        with _file_lock(where, timeout):
            yield
    elif where.url.get_backend_name() == "postgresql":
        db = db_path if isinstance(db_path, Ledger) else None
        with _advisory_lock(where, timeout, db):
            yield
    else:
        yield


@contextlib.contextmanager
def locked_and_opened(
    ledger: str | Path | Address, timeout: float = LOCK_TIMEOUT
) -> Iterator[Ledger]:
    """The ledger opened once (created if absent) and its lock held: one export's steps.

    A SQLite ledger is opened holding the lock (two exports never make its tables at
    once); a server's is opened first, and its lock taken on that engine.
    """
    where = address(ledger)
    if where.server:
        with opened(where) as db, locked(db, timeout):
            yield db
    else:
        with locked(where, timeout), opened(where) as db:
            yield db
