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

A SQLite file SQLite cannot read is called a damaged xl-pmpm ledger when it was one
(SQLite's header, the ledger's name, or its backup beside it), with how to restore it
from `<ledger>.backup`, the copy made before each export (`unreadable_ledger`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Protocol

from xl_pmpm.core.errors import PmpmInputError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

# SQLAlchemy is imported only where a URL is read: a command that opens no ledger
# (validate, layout, tier) starts without paying for it.

LEDGER_ENV = "XL_PMPM_LEDGER"
LEDGER_NAME = "pmpm-ledger.sqlite3"
LOCK_TIMEOUT = 10.0  # seconds a second export waits for the first before giving up
BACKUP_SUFFIX = ".backup"
_SQLITE_MAGIC = b"SQLite format 3\x00"
NOT_A_LEDGER_FIX = (
    "Give the ledger file xl-pmpm export writes (pmpm-ledger.sqlite3 by default), "
    "not another program's database."
)
SERVER_FIX = "See docs/team.md, 'Working as a team'."
TEAM_SETUP = (
    "SQLite's locking is unreliable on network drives: two billers could both bill a "
    "member-month or damage the file. For a team, share one database server instead: "
    "see docs/team.md, 'Working as a team'."
)


# --- where the ledger is -------------------------------------------------------------------


@dataclass(frozen=True)
class FileAddress:
    """A SQLite ledger file's place. `shown`: as it may be printed."""

    path: Path
    shown: str
    server = False


@dataclass(frozen=True)
class ServerAddress:
    """A ledger server's place (a SQLAlchemy URL). `shown` never holds a password."""

    url: URL
    shown: str
    server = True


Address = FileAddress | ServerAddress  # a ledger's place: parsed once (`address`)


class Opened(Protocol):
    """An opened ledger (`_db.Ledger`), as far as its place goes."""

    @property
    def where(self) -> Address: ...


Where = str | Path | Address | Opened  # what every function of the package takes


APP_NAME = "xl-pmpm"
LEDGER_HELP = (
    f"the ledger: a file path or postgresql://USER@HOST/DB (default: ${LEDGER_ENV}, else "
    f"{LEDGER_NAME} in your data folder: `xl-pmpm ledger where`)"
)


def data_dir() -> Path:
    """The user's data folder for xl-pmpm (platformdirs: `%LOCALAPPDATA%\\xl-pmpm` on
    Windows, `~/Library/Application Support/xl-pmpm` on macOS, `$XDG_DATA_HOME/xl-pmpm`
    (`~/.local/share/xl-pmpm`) elsewhere). Never an upload folder."""
    from platformdirs import user_data_dir  # only when a ledger is looked for

    return Path(user_data_dir(APP_NAME, appauthor=False))


def default_ledger() -> str | Path:
    """Where the export ledger is when no --ledger is given: one per agency.

    $XL_PMPM_LEDGER if set (a path, or the team's server URL), else
    `pmpm-ledger.sqlite3` in the user's data folder (`data_dir`): never in an
    export folder, so that the same member-month exported to two folders is one ledger's
    to refuse, and the ledger is never among the files a biller uploads.
    """
    env = os.environ.get(LEDGER_ENV, "").strip()
    if env:
        return env if looks_like_url(env) else Path(env)
    return data_dir() / LEDGER_NAME


def folder_ledger(folder: str | Path) -> Path | None:
    """The ledger an earlier release kept in an export folder (`FOLDER/pmpm-ledger.sqlite3`),
    when one with entries is there: to be merged into the agency's ledger
    (`xl-pmpm ledger merge`), never silently ignored."""
    path = Path(folder) / LEDGER_NAME
    return path if path.is_file() and not blank(path) else None


def refuse_unmerged(folder: str | Path, ledger: str | Path) -> None:
    """Refuse to use `ledger` for the export folder `folder` while an earlier release's
    ledger is there, unmerged: it knows member-months `ledger` does not."""
    old = folder_ledger(folder)
    if old is None:
        return
    where = address(ledger)
    if isinstance(where, FileAddress) and where.path.resolve() == old.resolve():
        return
    raise PmpmInputError(
        f"This export folder holds a ledger of an earlier xl-pmpm, not merged into the "
        f"agency's ledger {where.shown}: exporting without it could bill its member-months "
        "again. Nothing was written.",
        file=str(old),
        fix=f"Merge it once: xl-pmpm ledger merge {old}  (it refuses a member-month both "
        f"ledgers exported in different files), then export again. To keep using it "
        f"instead, name it: --ledger {old}",
    )


def blank(path: str | Path) -> bool:
    """A ledger file that holds nothing yet: empty (0 bytes: an export killed right after
    creating it), or an SQLite database without any table. It is a new ledger."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return True
        with path.open("rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                return False
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    except (OSError, sqlite3.Error):
        return False


def looks_like_url(text: str | Path) -> bool:
    return isinstance(text, str) and "://" in text


URL_FIX = (
    "Write it as postgresql://USER@HOST[:PORT]/DATABASE (password from PGPASSWORD or "
    "~/.pgpass), or give the path of a SQLite ledger file."
)
# A server URL typed without its '//' (or its ':'): not a file name anyone means.
_BROKEN_URL = re.compile(r"(?i)^(postgres(?:ql)?|sqlite)(\+[a-z0-9]+)?(:/?(?!/)|//)")


def _url_mistake(text: str) -> PmpmInputError | None:
    """The part of a ledger URL that is wrong, said without the password; None if none is.

    Checked before SQLAlchemy reads it: a port that is no number, an IPv6 bracket never
    closed, an '@' in the password (the host would take the password's end), a host with
    a space, a sqlite URL without a file.
    """
    scheme, _, rest = text.partition("://")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo, at, hostport = netloc.rpartition("@")
    if at and "@" in userinfo:
        return PmpmInputError(
            "The ledger URL holds two '@': an '@' inside the user name or password must be "
            "written %40 (the part after the last '@' is taken as the host).",
            fix=URL_FIX,
        )
    if scheme.lower().startswith("sqlite"):
        if not rest.strip("/"):
            return PmpmInputError("The ledger URL names no file.", fix=URL_FIX)
        return None
    host, port = hostport, ""
    if hostport.startswith("["):
        if "]" not in hostport:
            return PmpmInputError(
                "The ledger URL's host opens '[' (an IPv6 address) and never closes it.",
                fix=URL_FIX,
            )
        host, _, after = hostport.partition("]")
        host += "]"
        port = after[1:] if after.startswith(":") else after
    elif ":" in hostport:
        host, _, port = hostport.rpartition(":")
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        return PmpmInputError(
            f"The ledger URL's port '{port}' is not a port number (1 to 65535).",
            fix=f"Check the digits after the host's ':' (5432 is PostgreSQL's). {URL_FIX}",
        )
    if any(ch.isspace() for ch in host):
        return PmpmInputError(
            f"The ledger URL's host '{host}' holds a space.",
            fix=f"Check the host name. {URL_FIX}",
        )
    return None


def address(ledger: Where) -> Address:
    """Where `ledger` is: a path (SQLite), `sqlite:///path`, or a server URL.

    A URL with a mistake (`_url_mistake`), or a server URL missing its '//', is a
    PmpmInputError naming the wrong part, never the password.
    """
    if isinstance(ledger, FileAddress | ServerAddress):
        return ledger
    if not isinstance(ledger, str | Path):  # an opened ledger (_db.Ledger)
        return ledger.where
    if not looks_like_url(ledger):
        if _BROKEN_URL.match(str(ledger).strip()):
            raise PmpmInputError(
                "The ledger looks like a server URL without its '://' (it would be taken "
                "as a file name).",
                fix=URL_FIX,
            )
        return FileAddress(Path(ledger), str(ledger))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = str(ledger).strip()
    mistake = _url_mistake(text)
    if mistake is not None:
        raise mistake
    try:
        url = make_url(text)
        url.port  # noqa: B018 - SQLAlchemy checks the port when asked
    except (ArgumentError, ValueError, TypeError):
        raise PmpmInputError("The ledger URL cannot be read.", fix=URL_FIX) from None
    if url.get_backend_name() == "sqlite":
        return FileAddress(Path(url.database or ""), url.database or "")
    given = shown_url(url)  # as the biller wrote it, less the password
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return ServerAddress(url, given)


def shown_url(url: URL) -> str:
    """The URL as it may be printed: without the password."""
    from sqlalchemy.engine import URL

    bare = URL.create(  # URL.set(password=None) would keep the password
        url.drivername, url.username, None, url.host, url.port, url.database, url.query
    )
    return bare.render_as_string(hide_password=False)


def shown(ledger: Where | None) -> str | None:
    """How a ledger may be named in output, logs, errors and the workbook (no password)."""
    if ledger is None:
        return None
    try:
        return address(ledger).shown
    except PmpmInputError:
        return "(an unreadable ledger URL)"


def exists(ledger: Where) -> bool:
    """Is there a ledger to read? A server always may be (connecting tells)."""
    where = address(ledger)
    if isinstance(where, ServerAddress):
        return True
    return where.path.exists() and not blank(where.path)


# --- a damaged SQLite ledger, and its backup (issue 14) ------------------------------------


def backup_path(db_path: str | Path) -> Path:
    """Where a SQLite ledger's backup is kept: beside it, `<ledger>.backup`."""
    path = Path(db_path)
    return path.with_name(path.name + BACKUP_SUFFIX)


def restore_fix(db_path: str | Path) -> str:
    """How to restore a damaged ledger (never: start a new one)."""
    path, backup = Path(db_path), backup_path(db_path)
    keep = f"Move the damaged {path.name} aside (keep it), then "
    if backup.exists():
        how = (
            f"copy {backup.name} (the copy xl-pmpm made before the last export) to "
            f"{path.name}. The rows of the import files that last export wrote are not in the "
            "copy: see them in the export folder and do not export them again"
        )
    else:
        how = f"copy {path.name} back from your own backup (file history, OneDrive, ...)"
    return (
        keep + how + ". Do not start a new ledger: it would forget every member-month "
        "already billed, and the guard against billing twice with it."
    )


def unreadable_ledger(path: Path, exc: BaseException) -> PmpmInputError:
    """The error for a ledger file SQLite cannot read: damaged if it was ever one of ours.

    `exc` is SQLite's own error ("file is not a database", "database disk image is
    malformed"): a fixed phrase, no SQL and no member data.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError:
        head = b""
    if head == _SQLITE_MAGIC or path.name == LEDGER_NAME or backup_path(path).exists():
        return PmpmInputError(
            f"The xl-pmpm ledger is damaged: SQLite cannot read it ({exc}).",
            file=str(path),
            fix=restore_fix(path),
        )
    return PmpmInputError(
        f"Not an xl-pmpm ledger: not an SQLite database ({exc}). If it is your ledger, it is "
        "damaged beyond recognition.",
        file=str(path),
        fix=f"{NOT_A_LEDGER_FIX} If it is your ledger: {restore_fix(path)}",
    )


def check_ledger_file(ledger: Where) -> None:
    """A SQLite ledger path holding another kind of file, or naming a folder: said by what
    it is (sniff.identify), before anything (a lock file, a folder) is made beside it.

    A file that was a ledger (SQLite's header, the ledger's name, a backup beside it) is
    left to SQLite, whose error `unreadable_ledger` calls damage, with how to restore it.
    """
    from xl_pmpm.io.sniff import identify

    where = address(ledger)
    if isinstance(where, ServerAddress):
        return
    path = where.path
    if path.is_dir():
        raise PmpmInputError(
            "The ledger is a folder, not a ledger file.",
            file=where.shown,
            fix=f"Give the ledger file itself ({LEDGER_NAME} in that folder?).",
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
            more = bool(fh.read(1))
    except (FileNotFoundError, NotADirectoryError):
        return  # not there yet (or under a file): the caller says so
    except OSError as exc:
        raise PmpmInputError(
            f"The ledger cannot be read ({exc.strerror}).",
            file=where.shown,
            fix="Check it is a file you may read and write.",
        ) from None
    if not head or head.startswith(_SQLITE_MAGIC):
        return
    if path.name == LEDGER_NAME or backup_path(path).exists():
        return  # damage: unreadable_ledger says so once SQLite refuses it
    kind = identify(head)
    if kind is None:
        what = "a text file"
    elif kind.code == "cut-off" and more:
        what = "a zip archive (a workbook?)"
    else:
        what = kind.what
    raise PmpmInputError(
        f"Not an xl-pmpm ledger: the file is {what}.", file=where.shown, fix=NOT_A_LEDGER_FIX
    )


# --- a SQLite ledger on a network path -----------------------------------------------------


def _windows_drive_is_remote(path: Path) -> bool:
    drive = PureWindowsPath(str(path)).drive
    if not drive or drive.startswith("\\\\"):
        return False
    if sys.platform == "win32":  # ctypes.windll exists there only (and type checkers know it)
        DRIVE_REMOTE = 4
        return ctypes.windll.kernel32.GetDriveTypeW(f"{drive}\\") == DRIVE_REMOTE
    return False


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


def network_warning(ledger: Where | None) -> str | None:
    """The warning for a SQLite ledger on a network path; None otherwise."""
    if ledger is None:
        return None
    try:
        where = address(ledger)
    except PmpmInputError:
        return None
    if isinstance(where, ServerAddress) or not on_network_path(where.path):
        return None
    return f"warning: the ledger {where.shown} is on a network path. {TEAM_SETUP}"


# --- what is said about a server ------------------------------------------------------------


def _scrub(text: str, url: URL | None) -> str:
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def server_problem(exc: BaseException, where: ServerAddress) -> PmpmInputError:
    """An error reaching or using a ledger server, said by what went wrong (no password)."""
    orig = getattr(exc, "orig", None) or exc
    url = where.url
    text = _scrub(str(orig), url).lower()
    host = f"{url.host or 'localhost'}:{url.port or 'default port'}"
    user = url.username or "(your login name)"
    db = url.database or "(default)"
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


# SQLite's own fixed phrases for a file it cannot use: no SQL, no values; worth saying.
SQLITE_PLAIN = frozenset(
    {
        "attempt to write a readonly database",
        "database is locked",
        "database or disk is full",
        "disk I/O error",
        "unable to open database file",
    }
)


def safe_error(exc: BaseException) -> str:
    """A database error for a message: its kind (never its SQL or parameters), and
    SQLite's words when they are one of its fixed phrases about the file."""
    orig = getattr(exc, "orig", None) or exc
    kind = type(orig).__name__
    if isinstance(orig, sqlite3.Error) and str(orig) in SQLITE_PLAIN:
        return f"{kind}: {orig}"
    return kind
