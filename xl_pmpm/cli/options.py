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
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import overload

import pandas as pd

from xl_pmpm.core.errors import ExportRefused, PmpmError, PmpmInputError
from xl_pmpm.io.ledger import driver_errors, network_warning, said
from xl_pmpm.io.workflow import as_of_date

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


class Rows:
    """A table in a JSON payload: a list of records (missing values null), made and
    written a chunk at a time by `write_json` (never a list of the whole table)."""

    CHUNK = 10_000

    def __init__(self, frame: pd.DataFrame) -> None:
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


_INDENT = "  "


def _json_key(key: object) -> str:
    """A dict key as JSON names it (json's own rules: strings, numbers, true/false/null)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _records_json(records: list[dict], ascii_only: bool) -> str:
    """json.dumps(records, indent=2, ensure_ascii=ascii_only, default=str) of a non-empty
    list of dicts, by json's C encoder where every value is a scalar (with an
    indent json takes its Python one: 1 s for 70,000 rows). Every line break in JSON text
    is then layout (a string escapes its own), so the records' and the keys' separators
    are told apart afterwards."""
    kinds = {type(v) for record in records for v in record.values()}
    if not all(records) or any(issubclass(k, list | tuple | dict) for k in kinds):
        return json.dumps(records, indent=2, ensure_ascii=ascii_only, default=str)
    text = json.dumps(records, separators=(",\n    ", ": "), ensure_ascii=ascii_only, default=str)
    # '[{"a": 1,\n    "b": 2},\n    {...}]': a record starts only after a "}" and the
    # separator (a scalar never ends in "}"; a key starts with '"').
    body = text[2:-2].replace("},\n    {", "\n  },\n  {\n    ")
    return "[\n  {\n    " + body + "\n  }\n]"


def write_json(value: object, write: Callable[[str], object], *, ascii_only: bool) -> None:
    """Write `value` as JSON through `write`, a piece at a time: the text json.dumps(value,
    indent=2, ensure_ascii=ascii_only, default=str) gives, a `Rows` taken as the list of
    its records, made a chunk at a time (so a table of a million rows is never whole)."""

    def scalar(v: object) -> str:
        return json.dumps(v, ensure_ascii=ascii_only, default=str)

    def put(v: object, level: int) -> None:
        inner = "\n" + _INDENT * (level + 1)
        if isinstance(v, dict):
            if not v:
                write("{}")
                return
            write("{")
            for n, (key, item) in enumerate(v.items()):
                write(("," if n else "") + inner + scalar(_json_key(key)) + ": ")
                put(item, level + 1)
            write("\n" + _INDENT * level + "}")
        elif isinstance(v, Rows) and v:
            # A chunk of records is laid out by one json.dumps at depth 0 ("[\n  {...}\n]");
            # its records sit one level deeper here, so each of its line breaks takes this
            # level's indent (a JSON string holds no raw line break: only layout ones).
            pad = "\n" + _INDENT * level
            write("[")
            for n, records in enumerate(v.chunks()):
                text = _records_json(records, ascii_only)
                write(("," if n else "") + text[1:-2].replace("\n", pad))
            write(pad + "]")
        elif isinstance(v, list | tuple | Rows):
            if not v:
                write("[]")
                return
            write("[")
            for n, item in enumerate(v):
                write(("," if n else "") + inner)
                put(item, level + 1)
            write("\n" + _INDENT * level + "]")
        else:
            write(scalar(v))

    put(value, 0)


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
        # On a stream that is not UTF-8 (a Windows console's cp1252, output redirected under
        # it) every character outside ASCII is its JSON escape: the same JSON to any reader.
        write_json(payload, sys.stdout.write, ascii_only=not is_utf8(sys.stdout))
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


def known_errors() -> tuple[type[BaseException], ...]:
    """The errors `report_error` says in one line (an `except` evaluates it when raised):
    the project's own, and (a net: the ledger package says its drivers' errors itself)
    a ledger driver's error."""
    return (PmpmError, *driver_errors())


def report_error(exc: BaseException) -> int:
    """Print a known error as one line on stderr; return its exit code."""
    if isinstance(exc, ExportRefused):
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not isinstance(exc, PmpmError) and isinstance(exc, driver_errors()):
        exc = said(exc)  # "damaged" with how to restore, or its kind: no SQL, no member
    if isinstance(exc, PmpmInputError):
        print(f"error: {exc.describe()}", file=sys.stderr)
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


@overload
def parse_month(text: str, option: str = ...) -> str: ...
@overload
def parse_month(text: None, option: str = ...) -> None: ...
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
    return as_of_date(None if text is None else parse_day(text, "--as-of"))
