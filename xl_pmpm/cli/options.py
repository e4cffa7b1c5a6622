"""What every `xl-pmpm` command shares: the settings options, output, and error reporting.

`add_settings` adds the `--layout/--rates/--payers/--format` block (each part only
where the command uses it); `emit` prints the payload as JSON or the text, a table
held as `Rows` made and written a chunk of records at a time (one listing of a statewide
month is hundreds of thousands of member-months: never all as Python dicts); `guarded`
wraps a command so a known error is one line on stderr and an exit code, never a
traceback (`report_error` says which: 1 a refused export, 2 bad input, a ledger that
cannot be used or another export holding it). A database error is said by its kind
only: its text may hold SQL, member IDs or a server address with credentials.
"""

from __future__ import annotations

import argparse
import codecs
import functools
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from xl_pmpm.core.errors import ExportRefused, PmpmError, PmpmInputError
from xl_pmpm.io.ledger_address import network_warning, safe_error

FORMATS = ("text", "json")


def add_settings(
    p: argparse.ArgumentParser,
    *,
    layout: bool = True,
    rates: bool = True,
    output: bool = True,
    bundled: str = "the bundled one",
) -> None:
    """Add `--layout`, `--rates` and `--payers` (the settings files) and `--format`."""
    if layout:
        p.add_argument("--layout", help=f"import layout TOML (default: {bundled})")
    if rates:
        p.add_argument("--rates", help=f"rate table CSV (default: {bundled})")
        p.add_argument(
            "--payers", help=f"payer settings CSV: contracts to payers (default: {bundled})"
        )
    if output:
        p.add_argument("--format", choices=FORMATS, default="text", help="text (default) or json")


class Rows(list):
    """A table in a JSON payload: a list of records (missing values null), made a chunk
    at a time while json's encoder iterates it (the list itself stays empty)."""

    CHUNK = 10_000

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __bool__(self) -> bool:
        return len(self.frame) > 0

    def __iter__(self) -> Iterator[dict]:
        for records in self.chunks():
            yield from records

    def chunks(self) -> Iterator[list[dict]]:
        for start in range(0, len(self.frame), self.CHUNK):
            part = self.frame.iloc[start : start + self.CHUNK]
            yield part.astype(object).where(part.notna(), None).to_dict("records")


# With an indent, json's encoder is its pure-Python one, which iterates each list as it
# writes: a `Rows` goes out a chunk at a time, the text exactly json.dumps's. On a stream
# that is not UTF-8 (a Windows console's cp1252, output redirected under it) every
# character outside ASCII is written as its JSON escape: the same JSON to any reader.
_JSON = json.JSONEncoder(indent=2, ensure_ascii=False, default=str)
_JSON_ASCII = json.JSONEncoder(indent=2, ensure_ascii=True, default=str)


def is_utf8(stream: object) -> bool:
    """Does `stream` encode text as UTF-8 (so any character can be written to it)?"""
    encoding = getattr(stream, "encoding", None)
    try:
        return encoding is not None and codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def safe_streams() -> None:
    """Text that the console's encoding cannot hold is written as backslash escapes,
    never an error (an ID with U+200B printed to a cp1252 console)."""
    for stream in (sys.stdout, sys.stderr):
        if not is_utf8(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def emit(args: argparse.Namespace, payload: object, text: str) -> None:
    """Print `payload` as JSON with `--format json`, else `text`. A callable `payload` is
    called only for JSON (a large report's records are not built to print text)."""
    if getattr(args, "format", "text") == "json":
        payload = payload() if callable(payload) else payload
        encoder = _JSON if is_utf8(sys.stdout) else _JSON_ASCII
        for piece in encoder.iterencode(payload):
            sys.stdout.write(piece)
        sys.stdout.write("\n")
    else:
        print(text)


LONG_INPUT = 5_000_000  # bytes: inputs that take seconds get progress lines on a terminal


def progress(message: str, *inputs: str | Path | None) -> None:
    """`message` on stderr when stderr is a terminal and an input is large (long work):
    never into a pipe, a log or a redirected file, never for a quick run."""
    if not sys.stderr.isatty():
        return
    sizes = []
    for path in inputs:
        try:
            sizes.append(Path(path).stat().st_size if path and str(path) != "-" else 0)
        except OSError:
            sizes.append(0)
    if sum(sizes) >= LONG_INPUT:
        print(f"xl-pmpm: {message} ({sum(sizes) / 1e6:,.0f} MB)...", file=sys.stderr, flush=True)


def warn_if_on_network(ledger: str | Path | None) -> None:
    """On stderr: a SQLite ledger on a network path should be a shared server instead."""
    warning = network_warning(ledger)
    if warning:
        print(warning, file=sys.stderr)


def database_errors() -> tuple[type[Exception], ...]:
    """SQLite's errors and, once a command has opened a ledger through SQLAlchemy,
    SQLAlchemy's: a command that opens none never imports it, so none can be raised."""
    alchemy = sys.modules.get("sqlalchemy.exc")
    return (sqlite3.Error,) if alchemy is None else (sqlite3.Error, alchemy.SQLAlchemyError)


def known_errors() -> tuple[type[Exception], ...]:
    """The errors `report_error` says in one line (an `except` evaluates it when raised)."""
    return (PmpmError, *database_errors())


def report_error(exc: Exception) -> int:
    """Print a known error as one line on stderr; return its exit code."""
    if isinstance(exc, ExportRefused):
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, PmpmInputError):
        print(f"error: {exc.describe()}", file=sys.stderr)
        return 2
    damage = getattr(exc, "orig", None) or exc  # a driver's error inside SQLAlchemy's
    if type(damage) is sqlite3.DatabaseError:  # "malformed", "not a database": damage
        # SQLite's own text for these is a fixed phrase: no SQL, no member data.
        print(
            f"error: the xl-pmpm ledger is damaged ({damage}). Move it aside (keep it), then "
            "copy its backup (the ledger's name + .backup, made before each export) in its "
            "place; do not start a new ledger: it would forget what was already billed.",
            file=sys.stderr,
        )
        return 2
    if isinstance(exc, database_errors()):
        print(f"error: the ledger cannot be used ({safe_error(exc)}).", file=sys.stderr)
        return 2
    print(f"error: {exc}", file=sys.stderr)  # e.g. another export holds the ledger's lock
    return 2


def guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command whose known errors are reported by `report_error`, never as a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except known_errors() as exc:
            return report_error(exc)

    return run


def _argument(option: str) -> str | None:
    """A positional argument (MONTH, START) is named as the column; an option is not."""
    return None if option.startswith("-") else option


def parse_month(text: str | None, option: str = "--month") -> str | None:
    """`YYYY-MM` as given on the command line (None when not given)."""
    if text is None:
        return None
    try:
        return f"{datetime.strptime(text.strip(), '%Y-%m'):%Y-%m}"
    except ValueError:
        raise PmpmInputError(
            f"{option} '{text}' is not a month.",
            column=_argument(option),
            fix="Write it as YYYY-MM.",
        ) from None


def parse_day(text: str, option: str) -> date:
    """`YYYY-MM-DD` as given on the command line."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise PmpmInputError(
            f"{option} '{text}' is not a date.",
            column=_argument(option),
            fix="Write it as YYYY-MM-DD.",
        ) from None


def parse_as_of(text: str | None) -> date:
    """`--as-of`: the day the checks count from; today when not given."""
    return date.today() if text is None else parse_day(text, "--as-of")
