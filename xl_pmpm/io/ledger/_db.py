"""The ledger's database: its schema and versions, opening it (a SQLite file or a server
named as in address.py), `xl-pmpm ledger init`.

Schema versions: the `ledger_version` table holds the version; the steps between
versions are `_versions`' (the tables: `_tables`). Opening for writing upgrades an older
ledger in ONE transaction (`MIGRATIONS`, in order); nothing is lost. Reading never
changes the database. `downgrade` takes a version 6 or 5 ledger back (`DOWNGRADES`, to
version 4 at most), as exactly: an upgrade is reversible.

Pending entries (version 5): an export records its entries before its files are in
place, and confirms them once they are. The entries are stored as they will stand
(`exported`) and each of their files has a row in `pending_files` until confirmed: the
confirm deletes one row per file, and never rewrites an entry or an index (version 4
rewrote every entry and three index entries per row, `status` pending -> exported).
An entry reads as `pending` while its file (batch, folder, name) is there
(`status_column`).

Double billing is stopped by the database itself: a unique index on the member-month
of blocking (pending or exported) confirmed entries that are not corrections, and one
on placeholders alike (see `UNIQUE_RULES`), so two exports that both found a
member-month free cannot both record it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    import pandas as pd

    from xl_pmpm.core.export import ExportPart
    from xl_pmpm.core.findings import ValidationReport
    from xl_pmpm.core.layout import Layout
    from xl_pmpm.io.ledger._merge import Merged
    from xl_pmpm.io.ledger._recording import Reconciled

from xl_pmpm.core.entries import ENTRY_COLUMNS
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io.atomic import FILE_MODE
from xl_pmpm.io.ledger._address import (
    LOCK_TIMEOUT,
    NOT_A_LEDGER_FIX,
    SERVER_FIX,
    Address,
    FileAddress,
    ServerAddress,
    address,
    blank,
    check_ledger_file,
    server_problem,
    shown_url,
    unreadable_ledger,
)
from xl_pmpm.io.ledger._errors import said_inside
from xl_pmpm.io.ledger._tables import (
    ADDED_COLUMNS,
    ledger_version,
    metadata,
)

# The tables and rules, as the package's tests and benchmarks name them here.
from xl_pmpm.io.ledger._tables import UNIQUE_RULES as UNIQUE_RULES
from xl_pmpm.io.ledger._tables import exports as exports
from xl_pmpm.io.ledger._versions import (
    DOWNGRADES,
    MIGRATIONS,
    _table_columns,
)

CONNECT_TIMEOUT = 10  # seconds to reach a ledger server before giving up
SCHEMA_VERSION = 6
# A writer's page cache. SQLite takes its pages as it needs them: 64 MiB put the export of
# 100k rows over its memory bound (tests/io/test_memory.py).
CACHE_KIB = 16_384


# --- opening -------------------------------------------------------------------------------


def _engine(where: Address, *, read_only: bool) -> Engine:
    """The engine of a server ledger, or of a SQLite file (read only if asked)."""
    if isinstance(where, ServerAddress):
        return _server_engine(where.url)
    return _sqlite_engine(where.path, read_only=read_only)


def _sqlite_engine(path: Path, *, read_only: bool) -> Engine:
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"

        def creator() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
    else:

        def creator() -> sqlite3.Connection:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            return conn

    engine = sa.create_engine(
        "sqlite://", creator=creator, poolclass=NullPool, hide_parameters=True
    )
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"  # writers queue at the start

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _server_engine(url: URL) -> Engine:
    connect_args: dict = {}
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    try:  # pooled: one export's steps reuse one login (the engine is disposed after it)
        return sa.create_engine(url, pool_size=2, hide_parameters=True, connect_args=connect_args)
    except (NoSuchModuleError, ImportError, ArgumentError):
        if url.drivername == "postgresql+psycopg":  # the one server driver xl-pmpm offers
            raise PmpmInputError(
                f"The ledger URL {shown_url(url)} names a PostgreSQL server, and its driver "
                "(psycopg) is not installed.",
                fix="Install it where xl-pmpm is installed: python -m pip install "
                '"xl-pmpm[postgres]" (or give the path of a SQLite ledger file).',
            ) from None
        raise PmpmInputError(
            f"No driver for the ledger URL {shown_url(url)} ({url.drivername}).",
            fix="Use postgresql://USER@HOST/DATABASE, or install the driver for your server.",
        ) from None


def _database_problem(exc: BaseException, where: Address) -> PmpmInputError:
    if isinstance(where, ServerAddress):
        return server_problem(exc, where)
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.DatabaseError) and not isinstance(orig, sqlite3.OperationalError):
        return unreadable_ledger(where.path, orig)
    return PmpmInputError(
        f"Not an xl-pmpm ledger ({orig}).", file=where.shown, fix=NOT_A_LEDGER_FIX
    )


def _has_tables(conn: Connection) -> bool:
    return bool(sa.inspect(conn).get_table_names())


def stored_version(conn: Connection) -> int:
    """The schema version of the ledger `conn` is on (0: no ledger table)."""
    have = _table_columns(conn)
    if not have:
        return 0
    if sa.inspect(conn).has_table("ledger_version"):
        found = conn.execute(sa.select(sa.func.max(ledger_version.c.version))).scalar()
        return int(found or 3)  # the version table came with version 3
    return 2 if "placeholder" in have else 1


def _check_ledger(conn: Connection, where: Address) -> None:
    """Refuse a database without the ledger's table (another program's, or an empty one)."""
    have = _table_columns(conn)
    if not have or set(ENTRY_COLUMNS) - set(ADDED_COLUMNS) - have:
        what = "has no exports table" if not have else "has an exports table of another kind"
        fix = (
            f"Run `xl-pmpm ledger init --ledger {where.shown}` once to create it. {SERVER_FIX}"
            if where.server
            else NOT_A_LEDGER_FIX
        )
        raise PmpmInputError(
            f"Not an xl-pmpm ledger: the database {what}.", file=where.shown, fix=fix
        )
    version = stored_version(conn)
    if version > SCHEMA_VERSION:
        raise PmpmInputError(
            f"The ledger has schema version {version}; this xl-pmpm knows up to {SCHEMA_VERSION}.",
            file=where.shown,
            fix="Upgrade xl-pmpm (pip install -U xl-pmpm) on this machine.",
        )


def _set_version(conn: Connection, version: int = SCHEMA_VERSION) -> None:
    conn.execute(sa.delete(ledger_version))
    conn.execute(sa.insert(ledger_version).values(version=version))


def has_files(conn: Connection) -> bool:
    """Whether the ledger keeps its files apart (version 6 on)."""
    return sa.inspect(conn).has_table("files")


def has_pending_files(conn: Connection) -> bool:
    """Whether the ledger keeps pending files apart (version 5 on)."""
    return sa.inspect(conn).has_table("pending_files")


def _lock_for_upgrade(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE has it already
        conn.exec_driver_sql("LOCK TABLE exports IN ACCESS EXCLUSIVE MODE")


def upgrade(engine: Engine) -> int:
    """Bring the ledger to SCHEMA_VERSION in one transaction; returns the version it had."""
    with engine.connect() as probe:
        before = stored_version(probe)
    if before >= SCHEMA_VERSION:
        return before
    with engine.begin() as conn:
        _lock_for_upgrade(conn)
        before = stored_version(conn)  # again, holding the lock: another may have done it
        for version in range(before + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](conn)
        if before < SCHEMA_VERSION:
            _set_version(conn)
    return before


def downgrade(engine: Engine, version: int) -> int:
    """Take the ledger back to `version` (down to 4) in one transaction, every entry kept as
    that version stores it; returns the version it had. (An xl-pmpm of that version can
    then use it again.)"""
    if version < min(DOWNGRADES) - 1:
        raise PmpmInputError(f"A ledger can be taken back to version {min(DOWNGRADES) - 1}.")
    with engine.begin() as conn:
        _lock_for_upgrade(conn)
        before = stored_version(conn)
        for step in range(before, version, -1):
            DOWNGRADES[step](conn)
        if before > version:
            _set_version(conn, version)
    return before


def create_schema(engine: Engine) -> None:
    """The ledger's tables in a database that holds none yet, at SCHEMA_VERSION."""
    with engine.begin() as conn:
        metadata.create_all(conn)
        _set_version(conn)


@dataclass
class Ledger:
    """An opened ledger: its engine, and where it is; the workflow's steps as its methods.

    One export opens it once (`Ledger.open`, or `Ledger.for_export`: opened and locked)
    and runs each step on it (`reconcile`, `check`, `record`; `history`, `mark_rejected`,
    `backup`, `merge`): one address parse, one engine, on a server one pool of logins,
    per export. Every function of the package that takes a ledger takes this object as
    well as a path or URL. A driver's error leaves a method as `LedgerUnusable`.
    """

    engine: Engine
    where: Address

    @classmethod
    def open(
        cls, ledger: str | Path | Address, *, create: bool = True, read_only: bool = False
    ) -> Ledger:
        """`open_ledger`: dispose of it with `close` (or use `opened`)."""
        return said_inside(open_ledger)(ledger, create=create, read_only=read_only)

    @staticmethod
    def for_export(
        ledger: str | Path | Address, timeout: float = LOCK_TIMEOUT
    ) -> contextlib.AbstractContextManager[Ledger]:
        """The ledger opened once (created if absent) with its lock held: one export's steps
        (`_lock.locked_and_opened`); closed, and the lock let go, at the end."""
        from xl_pmpm.io.ledger._lock import locked_and_opened

        return said_inside(locked_and_opened, manager=True)(ledger, timeout)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def shown(self) -> str:
        return self.where.shown

    def begin(self) -> contextlib.AbstractContextManager[Connection]:
        """ONE transaction (all of it or none)."""
        return self.engine.begin()

    def connect(self) -> contextlib.AbstractContextManager[Connection]:
        return self.engine.connect()

    # --- the workflow's steps ---------------------------------------------------------------

    def reconcile(self, out_dir: str | Path | None = None) -> Reconciled:
        """Finish interrupted exports (`_recording.reconcile_pending`); hold the lock."""
        from xl_pmpm.io.ledger._recording import reconcile_pending

        return said_inside(reconcile_pending)(self, out_dir)

    def check(
        self,
        report: ValidationReport,
        table: pd.DataFrame,
        layout: Layout,
        *,
        corrections: Iterable[int] = (),
    ) -> ValidationReport:
        """`report` with the ledger's `already-exported` and `placeholder-open` findings."""
        from xl_pmpm.io.ledger._checks import check_against_ledger

        return said_inside(check_against_ledger)(
            report, self, table, layout, corrections=corrections
        )

    def record(
        self, parts: Iterable[ExportPart], out_dir: str | Path, *args: Any, **kwargs: Any
    ) -> list[Path]:
        """Write the import files and record their rows crash-safely
        (`_recording.write_and_record`, the same arguments less the ledger)."""
        from xl_pmpm.io.ledger._recording import write_and_record

        return said_inside(write_and_record)(parts, out_dir, self, *args, **kwargs)

    def history(self) -> pd.DataFrame:
        """Every entry, oldest first (ENTRY_COLUMNS)."""
        from xl_pmpm.io.ledger._records import history

        return said_inside(history)(self)

    def mark_rejected(self, rows: pd.DataFrame, at: datetime | None = None) -> pd.DataFrame:
        """Mark the entries of failed import rows rejected (`_records.mark_rejected`)."""
        from xl_pmpm.io.ledger._records import mark_rejected

        return said_inside(mark_rejected)(self, rows, at)

    def backup(self, to: str | Path) -> int:
        """A consistent copy as a new SQLite file (`_backup.backup`); the entries copied."""
        from xl_pmpm.io.ledger._backup import backup

        return said_inside(backup)(self, to)

    def merge(self, old: str | Path) -> Merged:
        """An earlier release's SQLite ledger merged into this one (`_merge.merge`)."""
        from xl_pmpm.io.ledger._merge import merge

        return said_inside(merge)(old, self)


def _create_sqlite_file(path: Path) -> None:
    from xl_pmpm.io.files import ensure_private_dir

    ensure_private_dir(path.parent if str(path.parent) else ".")
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def open_ledger(
    ledger: str | Path | Address | Ledger, *, create: bool = True, read_only: bool = False
) -> Ledger:
    """Open the ledger, checked to be one; for writing, upgraded to SCHEMA_VERSION.

    `create`: a missing SQLite file is created (0600 in a 0700 folder) with the ledger's
    tables; else a missing file, or a database without the table, is a PmpmInputError.
    A server's tables are made only by `init` (xl-pmpm ledger init), never by a command
    that merely uses it. `read_only`: nothing is ever written (no table, no upgrade).
    A database of another program is never changed: the tables are only made in a
    database that holds no table yet. An opened `Ledger` is returned as it is.
    """
    if isinstance(ledger, Ledger):
        return ledger
    where = address(ledger)
    check_ledger_file(where)
    create = create and not read_only and not where.server
    if isinstance(where, FileAddress) and (not where.path.exists() or blank(where.path)):
        # A blank file (0 bytes, or no table: an export killed as it made it) is a new ledger.
        if not create:
            raise PmpmInputError(
                "No ledger here yet.", file=where.shown, fix="Give the ledger of your exports."
            )
        _create_sqlite_file(where.path)
    engine = _engine(where, read_only=read_only)
    try:
        with engine.connect() as conn:
            empty = not _has_tables(conn)
        if create and empty:
            create_schema(engine)
        with engine.connect() as conn:
            _check_ledger(conn, where)
        if not read_only:
            upgrade(engine)
    except (sqlite3.DatabaseError, DBAPIError) as exc:
        engine.dispose()
        raise _database_problem(exc, where) from None
    except BaseException:
        engine.dispose()
        raise
    return Ledger(engine, where)


@contextlib.contextmanager
def opened(
    ledger: str | Path | Address | Ledger, *, create: bool = True, read_only: bool = False
) -> Iterator[Ledger]:
    """`open_ledger`, disposed of afterwards; driver errors said safely (`server_problem`).

    Given an opened `Ledger` (one export's steps), it is used as it is and left open:
    whoever opened it closes it.
    """
    mine = not isinstance(ledger, Ledger)
    db = open_ledger(ledger, create=create, read_only=read_only)
    try:
        yield db
    except DBAPIError as exc:
        if isinstance(db.where, ServerAddress) and exc.connection_invalidated:
            raise server_problem(exc, db.where) from None
        raise
    finally:
        if mine:
            db.engine.dispose()


def init(ledger: str | Path) -> tuple[str, int]:
    """Create the ledger's tables, or upgrade an older ledger: `xl-pmpm ledger init`.

    A new SQLite file, a SQLite file without any table, or a server database without
    the `exports` table (a database of its own, or one shared with other tables) gets
    the tables. Returns (created / upgraded / checked, the version found before).
    """
    where = address(ledger)
    check_ledger_file(where)
    if isinstance(where, FileAddress) and (not where.path.exists() or blank(where.path)):
        with opened(where, create=True):
            return "created", 0
    engine = _engine(where, read_only=False)
    try:
        with engine.connect() as conn:
            has_table, any_table = sa.inspect(conn).has_table("exports"), _has_tables(conn)
        if not has_table and (where.server or not any_table):
            create_schema(engine)
            return "created", 0
        with engine.connect() as conn:
            _check_ledger(conn, where)  # another program's database: refused, untouched
        before = upgrade(engine)
        return ("upgraded" if before < SCHEMA_VERSION else "checked"), before
    except (sqlite3.DatabaseError, DBAPIError) as exc:
        raise _database_problem(exc, where) from None
    finally:
        engine.dispose()
