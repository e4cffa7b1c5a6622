"""Where a ledger is, and what is said about it: without a password, ever.

A ledger is named by a path (a local SQLite file, the embedded default) or by a URL
SQLAlchemy accepts (`postgresql://user@host/db`: a server a billing team shares).
`postgresql://` without a driver means psycopg 3 (the driver this package installs).

Credentials: a URL's password is never shown (`shown` drops it); a server's password
comes from the environment (`PGPASSWORD`, `~/.pgpass`) or the URL given on the command
line. Driver errors are reported by what went wrong (server unreachable, password
refused, no such database), never with their SQL, parameters or password
(`server_problem`, `safe_error`).

A SQLite ledger on a network path (UNC, or a drive Windows reports remote) gets a
warning pointing to the shared-server setup (`network_warning`).
"""

from __future__ import annotations

import contextlib
import ctypes
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from xl_pmpm.core.errors import PmpmInputError

SERVER_FIX = "See the README, 'Working as a team'."
TEAM_SETUP = (
    "SQLite's locking is unreliable on network drives: two billers could both bill a "
    "member-month or damage the file. For a team, share one database server instead: "
    "see the README, 'Working as a team'."
)


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


# --- what is said about a server ------------------------------------------------------------


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


def safe_error(exc: SQLAlchemyError | sqlite3.Error) -> str:
    """A database error for a message: its kind only (never its SQL or parameters)."""
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ if orig is not None else type(exc).__name__
