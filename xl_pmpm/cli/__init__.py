"""``xl-pmpm``: the command line over the core, io and workbook rooms."""

from __future__ import annotations

import gc
import sys
from typing import Any

__all__ = ["build_parser", "main", "program", "render_findings"]


def __getattr__(name: str) -> Any:
    """`build_parser`, `main`, `render_findings`: from `app`, imported when first asked for
    (`program` starts a large visits file's query before pandas is imported)."""
    if name in ("build_parser", "main", "render_findings"):
        from xl_pmpm.cli import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def program() -> None:
    """The program `xl-pmpm` (the console script, `python -m xl_pmpm[.cli]`): `main` on the
    command line's arguments, its code the process's exit status.

    `xl-pmpm visits` of a large file first starts DuckDB's query (`early.head_start`), which
    runs while pandas and the commands are imported; a started query the command did not
    take is stopped before the program ends.

    Every command has closed its files and ledger connections when `main` returns. The
    objects left (pandas', pyarrow's and numpy's modules, mostly) are frozen out of the
    garbage collector, so the interpreter's exit frees them by their reference counts
    without walking them in its cycle collections (about 0.1 s of CPU, as much as a small
    file's validation). Exit handlers still run and the streams are flushed as usual.
    """
    from xl_pmpm.cli.early import head_start

    started = head_start(sys.argv[1:])
    try:
        from xl_pmpm.cli.app import main

        code = main()
    finally:
        if started:
            from xl_pmpm.io.visits_engine import stop_started

            stop_started()
    gc.freeze()
    raise SystemExit(code)
