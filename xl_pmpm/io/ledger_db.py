"""The ledger's database: where it is, its schema and versions, opening it, backing it up.

A ledger is named by a path (a local SQLite file, the embedded default) or by a URL
SQLAlchemy accepts (`postgresql://user@host/db`: a server a billing team shares).
`postgresql://` without a driver means psycopg 3 (the driver this package installs).

Credentials: a URL's password is never shown (`shown` drops it); a server's password
comes from the environment (`PGPASSWORD`, `~/.pgpass`) or the URL given on the command
line. Driver errors are reported by what went wrong (server unreachable, password
refused, no such database, no ledger table), never with their SQL or parameters.

Schema versions: the `ledger_version` table holds the version. A ledger without it was
made by an earlier release: version 1 (the first table) or 2 (with `placeholder`).
Opening for writing upgrades an older ledger in ONE transaction (`MIGRATIONS`, in
order); nothing is lost. Reading never changes the database.

Double billing is stopped by the database itself: a unique index on the member-month
of blocking (pending or exported) confirmed entries that are not corrections, and one
on placeholders alike (see `UNIQUE_RULES`), so two exports that both found a
member-month free cannot both record it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS
from xl_pmpm.core.errors import PmpmInputError

FILE_MODE = 0o600
CONNECT_TIMEOUT = 10  # seconds to reach a ledger server before giving up
SCHEMA_VERSION = 3

NOT_A_LEDGER_FIX = (
    "Give the ledger file xl-pmpm export writes (pmpm-ledger.sqlite3 by default), "
    "not another program's database."
)
SERVER_FIX = "See the README, 'Working as a team'."
TEAM_SETUP = (
    "SQLite's locking is unreliable on network drives: two billers could both bill a "
    "member-month or damage the file. For a team, share one database server instead: "
    "see the README, 'Working as a team'."
)

metadata = sa.MetaData()
_blocking = ", ".join(f"'{s}'" for s in BLOCKING)
CONFIRMED_ONCE = f"placeholder = 0 AND correction = 0 AND status IN ({_blocking})"
PLACEHOLDER_ONCE = f"placeholder = 1 AND correction = 0 AND status IN ({_blocking})"
exports = sa.Table(
    "exports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.Text, nullable=False),
    sa.Column("patient_number", sa.Text, nullable=False),
    sa.Column("contract", sa.Text, nullable=False),
    sa.Column("month", sa.Text, nullable=False),
    sa.Column("directory", sa.Text, nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("exported_at", sa.Text, nullable=False),
    sa.Column("line", sa.Integer),
    sa.Column("tier", sa.Integer),
    sa.Column("rate", sa.Float),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("row_hash", sa.Text, nullable=False, server_default=""),
    sa.Column("correction", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", sa.Text, nullable=False, server_default=""),
    sa.Column("placeholder", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("status IN ('pending', 'exported', 'rejected')", name="exports_status_ok"),
    sqlite_autoincrement=True,
)
sa.Index("exports_member", exports.c.patient_number, exports.c.month)
sa.Index("exports_status", exports.c.status)
sa.Index("exports_file", exports.c.directory, exports.c.file_name)
UNIQUE_RULES = {
    "exports_confirmed_once": CONFIRMED_ONCE,
    "exports_placeholder_once": PLACEHOLDER_ONCE,
}
for _name, _where in UNIQUE_RULES.items():
    sa.Index(
        _name,
        exports.c.patient_number,
        exports.c.month,
        unique=True,
        sqlite_where=sa.text(_where),
        postgresql_where=sa.text(_where),
    )
ledger_version = sa.Table(
    "ledger_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)
# Columns added after the first release: name -> the value old entries read as.
ADDED_COLUMNS: dict[str, int] = {"placeholder": 0}


# --- where the ledger is -------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """A ledger's place: a SQLite `path`, or a server `url`. `shown` never holds a password."""

    path: Path | None
    url: URL | None
    shown: str

    @property
    def server(self) -> bool:
        return self.url is not None


def looks_like_url(text: str | Path) -> bool:
    return isinstance(text, str) and "://" in text


def address(ledger: str | Path | Address) -> Address:
    """Where `ledger` is: a path (SQLite), `sqlite:///path`, or a server URL."""
    if isinstance(ledger, Address):
        return ledger
    if not looks_like_url(ledger):
        return Address(Path(ledger), None, str(ledger))
    try:
        url = make_url(str(ledger).strip())
    except ArgumentError:
        raise PmpmInputError(
            "The ledger URL cannot be read.",
            fix="Write it as postgresql://USER@HOST[:PORT]/DATABASE (password from PGPASSWORD "
            "or ~/.pgpass), or give the path of a SQLite ledger file.",
        ) from None
    if url.get_backend_name() == "sqlite":
        return Address(Path(url.database or ""), None, url.database or "")
    given = shown_url(url)  # as the biller wrote it, less the password
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return Address(None, url, given)


def shown_url(url: URL) -> str:
    """The URL as it may be printed: without the password."""
    bare = URL.create(  # URL.set(password=None) would keep the password
        url.drivername, url.username, None, url.host, url.port, url.database, url.query
    )
    return bare.render_as_string(hide_password=False)


def shown(ledger: str | Path | Address | None) -> str | None:
    """How a ledger may be named in output, logs, errors and the workbook (no password)."""
    if ledger is None:
        return None
    try:
        return address(ledger).shown
    except PmpmInputError:
        return "(an unreadable ledger URL)"


def exists(ledger: str | Path | Address) -> bool:
    """Is there a ledger to read? A server always may be (connecting tells)."""
    where = address(ledger)
    return where.server or (where.path is not None and where.path.exists())


# --- a SQLite ledger on a network path -----------------------------------------------------


def _windows_drive_is_remote(path: Path) -> bool:
    drive = PureWindowsPath(str(path)).drive
    if sys.platform != "win32" or not drive or drive.startswith("\\\\"):
        return False
    DRIVE_REMOTE = 4
    return ctypes.windll.kernel32.GetDriveTypeW(f"{drive}\\") == DRIVE_REMOTE  # type: ignore[attr-defined]


def on_network_path(path: str | Path) -> bool:
    """A UNC path (\\\\server\\share or //server/share), or a drive Windows reports remote."""
    text = str(path)
    if text.startswith(("\\\\", "//")):
        return True
    with contextlib.suppress(OSError):
        resolved = str(Path(path).resolve())
        if resolved.startswith(("\\\\", "//")):
            return True
        return _windows_drive_is_remote(Path(resolved))
    return False


def network_warning(ledger: str | Path | Address | None) -> str | None:
    """The warning for a SQLite ledger on a network path; None otherwise."""
    if ledger is None:
        return None
    try:
        where = address(ledger)
    except PmpmInputError:
        return None
    if where.path is None or not on_network_path(where.path):
        return None
    return f"warning: the ledger {where.shown} is on a network path. {TEAM_SETUP}"


# --- opening -------------------------------------------------------------------------------


def _sqlite_engine(path: Path, *, read_only: bool) -> Engine:
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"

        def creator() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
    else:

        def creator() -> sqlite3.Connection:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA synchronous = FULL")
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
    try:
        return sa.create_engine(
            url, poolclass=NullPool, hide_parameters=True, connect_args=connect_args
        )
    except (NoSuchModuleError, ImportError, ArgumentError):
        raise PmpmInputError(
            f"No driver for the ledger URL {shown_url(url)} ({url.drivername}).",
            fix="Use postgresql://USER@HOST/DATABASE, or install the driver for your server.",
        ) from None


def _scrub(text: str, url: URL | None) -> str:
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def server_problem(exc: BaseException, where: Address) -> PmpmInputError:
    """An error reaching or using a ledger server, said by what went wrong (no password)."""
    orig = getattr(exc, "orig", None) or exc
    text = _scrub(str(orig), where.url).lower()
    url = where.url
    host = f"{url.host or 'localhost'}:{url.port or 'default port'}" if url else ""
    user = (url.username if url else None) or "(your login name)"
    db = (url.database if url else None) or "(default)"
    if "password authentication failed" in text or "authentication failed" in text:
        message = f"The ledger server {host} refused the password of user {user}."
        fix = "Set the right password in PGPASSWORD or ~/.pgpass (never in the workbook)."
    elif "no password supplied" in text or "password is required" in text:
        message = f"The ledger server {host} wants a password for user {user}; none was given."
        fix = "Set it in PGPASSWORD or ~/.pgpass (never in the workbook)."
    elif "does not exist" in text and "database" in text:
        message = f"The ledger server {host} has no database {db}."
        fix = f"Create it (createdb {db}), then run `xl-pmpm ledger init`. {SERVER_FIX}"
    elif "role" in text and "does not exist" in text:
        message = f"The ledger server {host} has no user {user}."
        fix = f"Ask whoever runs the server to create it. {SERVER_FIX}"
    elif any(
        s in text
        for s in (
            "connection refused",
            "could not connect",
            "could not translate host name",
            "name or service not known",
            "timeout",
            "timed out",
            "no route to host",
            "network is unreachable",
            "connection to server",
            "server closed the connection",
        )
    ):
        message = f"The ledger server {host} cannot be reached."
        fix = "Check the host and port in the ledger URL, your network, and that the server runs."
    else:
        message = f"The ledger server {host} cannot be used ({type(orig).__name__})."
        fix = SERVER_FIX
    return PmpmInputError(message, file=where.shown, fix=fix)


def _database_problem(exc: BaseException, where: Address) -> PmpmInputError:
    if where.server:
        return server_problem(exc, where)
    orig = getattr(exc, "orig", exc)
    return PmpmInputError(
        f"Not an xl-pmpm ledger ({orig}).", file=where.shown, fix=NOT_A_LEDGER_FIX
    )


def _table_columns(conn: Connection) -> set[str]:
    inspector = sa.inspect(conn)
    if not inspector.has_table("exports"):
        return set()
    return {c["name"] for c in inspector.get_columns("exports")}


def _has_tables(conn: Connection) -> bool:
    return bool(sa.inspect(conn).get_table_names())


def stored_version(conn: Connection) -> int:
    """The schema version of the ledger `conn` is on (0: no ledger table)."""
    have = _table_columns(conn)
    if not have:
        return 0
    if sa.inspect(conn).has_table("ledger_version"):
        found = conn.execute(sa.select(sa.func.max(ledger_version.c.version))).scalar()
        return int(found or SCHEMA_VERSION)
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


# --- migrations ----------------------------------------------------------------------------


def _add_placeholder(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE exports ADD COLUMN placeholder INTEGER NOT NULL DEFAULT 0")


def _version_and_unique_rules(conn: Connection) -> None:
    """The version table, and the database's own guard against double billing."""
    for name, where in UNIQUE_RULES.items():
        twice = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM (SELECT patient_number, month FROM exports WHERE {where} "
            "GROUP BY patient_number, month HAVING COUNT(*) > 1) AS twice"
        ).scalar()
        if twice:
            kind = "confirmed" if name == "exports_confirmed_once" else "placeholder"
            raise PmpmInputError(
                f"The ledger holds {twice} member-month(s) with two {kind} entries that are "
                "not corrections; it cannot be upgraded until each has one.",
                fix="Run `xl-pmpm history --format json` to find them and mark the extra "
                "entries rejected with `xl-pmpm reconcile`; nothing was changed.",
            )
    ledger_version.create(conn, checkfirst=True)
    for index in exports.indexes:
        if index.name in UNIQUE_RULES:
            index.create(conn, checkfirst=True)


# version -> the step that makes a ledger of the version before it into one of this version.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _add_placeholder,
    3: _version_and_unique_rules,
}


def _set_version(conn: Connection) -> None:
    conn.execute(sa.delete(ledger_version))
    conn.execute(sa.insert(ledger_version).values(version=SCHEMA_VERSION))


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


def create_schema(engine: Engine) -> None:
    """The ledger's tables in a database that holds none yet, at SCHEMA_VERSION."""
    with engine.begin() as conn:
        metadata.create_all(conn)
        _set_version(conn)


@dataclass
class Ledger:
    """An opened ledger: its engine, and where it is."""

    engine: Engine
    where: Address

    @property
    def shown(self) -> str:
        return self.where.shown

    def begin(self) -> contextlib.AbstractContextManager[Connection]:
        """ONE transaction (all of it or none)."""
        return self.engine.begin()

    def connect(self) -> contextlib.AbstractContextManager[Connection]:
        return self.engine.connect()


def _create_sqlite_file(path: Path) -> None:
    from xl_pmpm.io.files import ensure_private_dir

    ensure_private_dir(path.parent if str(path.parent) else ".")
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def open_ledger(
    ledger: str | Path | Address, *, create: bool = True, read_only: bool = False
) -> Ledger:
    """Open the ledger, checked to be one; for writing, upgraded to SCHEMA_VERSION.

    `create`: a missing SQLite file is created (0600 in a 0700 folder) with the ledger's
    tables; else a missing file, or a database without the table, is a PmpmInputError.
    A server's tables are made only by `init` (xl-pmpm ledger init), never by a command
    that merely uses it. `read_only`: nothing is ever written (no table, no upgrade).
    A database of another program is never changed: the tables are only made in a
    database that holds no table yet.
    """
    where = address(ledger)
    create = create and not read_only and not where.server
    if where.path is not None and not where.path.exists():
        if not create:
            raise PmpmInputError(
                "No ledger here yet.", file=where.shown, fix="Give the ledger of your exports."
            )
        _create_sqlite_file(where.path)
    engine = (
        _server_engine(where.url)
        if where.url is not None
        else _sqlite_engine(where.path, read_only=read_only)  # type: ignore[arg-type]
    )
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
    ledger: str | Path | Address, *, create: bool = True, read_only: bool = False
) -> Iterator[Ledger]:
    """`open_ledger`, disposed of afterwards; driver errors said safely (`server_problem`)."""
    db = open_ledger(ledger, create=create, read_only=read_only)
    try:
        yield db
    except DBAPIError as exc:
        if db.where.server and exc.connection_invalidated:
            raise server_problem(exc, db.where) from None
        raise
    finally:
        db.engine.dispose()


def init(ledger: str | Path) -> tuple[str, int]:
    """Create the ledger's tables, or upgrade an older ledger: `xl-pmpm ledger init`.

    A new SQLite file, a SQLite file without any table, or a server database without
    the `exports` table (a database of its own, or one shared with other tables) gets
    the tables. Returns (created / upgraded / checked, the version found before).
    """
    where = address(ledger)
    if where.path is not None and not where.path.exists():
        with opened(where, create=True):
            return "created", 0
    engine = (
        _server_engine(where.url)
        if where.url is not None
        else _sqlite_engine(where.path, read_only=False)  # type: ignore[arg-type]
    )
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


# --- backup --------------------------------------------------------------------------------


def backup(ledger: str | Path, to: str | Path) -> int:
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

    ensure_private_dir(target.parent if str(target.parent) else ".")
    temp = target.with_name(f".{target.name}.{os.getpid()}.backup")
    temp.unlink(missing_ok=True)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    try:
        with opened(ledger, read_only=True) as db:
            copy = _copy_server if db.where.server else _copy_sqlite
            count = copy(db, temp)
        with contextlib.closing(sqlite3.connect(temp)) as check:
            if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise PmpmInputError("The backup did not check out.", file=str(target))
        with open(temp, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            os.link(temp, target)  # atomic; fails rather than replace
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
    uri = f"{db.where.path.resolve().as_uri()}?mode=ro"  # type: ignore[union-attr]
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
        return count
    finally:
        target.dispose()


def safe_error(exc: SQLAlchemyError | sqlite3.Error) -> str:
    """A database error for a message: its kind only (never its SQL or parameters)."""
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ if orig is not None else type(exc).__name__
