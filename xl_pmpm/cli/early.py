"""What the program does before it imports pandas and the commands (plain Python).

`xl-pmpm visits FILE --month M ...` on a large file starts DuckDB's query of FILE here
(`io.visits_engine.start_sums`), so that it runs while the interpreter imports pandas,
pyarrow and the commands (about 0.4 s). Only the command line's usual form is read here
(the file first, `--month`, `--mapping`); the command itself parses every argument as
always and asks for the same query, which it finds started or runs then.
"""

from __future__ import annotations

from datetime import datetime

_VALUES = ("--month", "--mapping")


def month_text(text: str) -> str:
    """`YYYY-MM` as written on the command line, normalized; ValueError if it is not one."""
    return f"{datetime.strptime(text.strip(), '%Y-%m'):%Y-%m}"


def head_start(argv: list[str]) -> bool:
    """Start the query of `xl-pmpm visits` (`argv`: the program's arguments) where they are
    `visits FILE` with `--month` (and maybe `--mapping`); True when one was started."""
    if len(argv) < 2 or argv[0] != "visits" or argv[1].startswith("-"):
        return False
    given: dict[str, str] = {}
    rest = iter(argv[2:])
    for arg in rest:
        if arg in ("-h", "--help"):
            return False
        name, eq, value = arg.partition("=")
        if name in _VALUES:
            given[name] = value if eq else next(rest, "")
    try:
        month = month_text(given["--month"])
    except (KeyError, ValueError):
        return False
    from xl_pmpm.io import visits_engine

    return visits_engine.start_sums(argv[1], month, given.get("--mapping") or None)
