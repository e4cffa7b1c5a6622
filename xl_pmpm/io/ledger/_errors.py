"""The ledger's errors as the project's own: a driver's error (sqlite3, SQLAlchemy,
psycopg) never leaves the package as it is, but as `LedgerUnusable`, a PmpmInputError
the CLI and the Excel front end say in one line (exit 2), naming no SQL and no member.

No SQLAlchemy here: its errors are known once a ledger was opened through it (a command
that opens none never imports it, so none can be raised).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io.ledger._address import safe_error

F = TypeVar("F", bound=Callable[..., Any])

DAMAGED = (
    "the xl-pmpm ledger is damaged ({damage}). Move it aside (keep it), then copy its "
    "backup (the ledger's name + .backup, made before each export) in its place; do not "
    "start a new ledger: it would forget what was already billed."
)


class LedgerUnusable(PmpmInputError):
    """The ledger's database refused or failed (`kind`: the driver error's class name)."""

    def __init__(self, message: str, kind: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.damaged = damaged  # the file is damaged: its backup restores it


def driver_errors() -> tuple[type[BaseException], ...]:
    """sqlite3's errors, and SQLAlchemy's and psycopg's once they are loaded."""
    found: list[type[BaseException]] = [sqlite3.Error]
    alchemy = sys.modules.get("sqlalchemy.exc")
    if alchemy is not None:
        found.append(alchemy.SQLAlchemyError)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        found.append(psycopg.Error)
    return tuple(found)


def said(exc: BaseException) -> LedgerUnusable:
    """A driver's error as LedgerUnusable: damage (SQLite's fixed phrases: no SQL, no
    member data) with how to restore the backup; else its kind."""
    damage = getattr(exc, "orig", None) or exc
    kind = type(damage).__name__
    if type(damage) is sqlite3.DatabaseError:  # "malformed", "not a database": damage
        return LedgerUnusable(DAMAGED.format(damage=damage), kind, damaged=True)
    return LedgerUnusable(f"the ledger cannot be used ({safe_error(exc)}).", kind)


def said_inside(func: F, *, manager: bool = False) -> F:
    """`func` (a context manager's factory if `manager`) with driver errors said."""
    if manager:

        @functools.wraps(func)
        @contextlib.contextmanager
        def managed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                with func(*args, **kwargs) as value:
                    yield value
            except driver_errors() as exc:
                raise said(exc) from None

        return cast(F, managed)

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except driver_errors() as exc:
            raise said(exc) from None

    return cast(F, call)
