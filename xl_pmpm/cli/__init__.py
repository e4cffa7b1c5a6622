"""``xl-pmpm``: the command line over the core, io and workbook rooms."""

from __future__ import annotations

import gc
import os
from typing import Any

__all__ = ["build_parser", "main", "program", "render_findings"]

# The program's own process only: numpy's OpenBLAS starts a thread per core when numpy is
# first imported, each spinning a while before it sleeps (about 0.15 s of CPU at every
# command's start on two cores) for matrix arithmetic no command does.
QUIET_LIBRARIES = {"OPENBLAS_NUM_THREADS": "1"}


def __getattr__(name: str) -> Any:
    """`main`, `build_parser` and `render_findings`, from `xl_pmpm.cli.app` when first asked
    for: importing this package imports neither pandas nor the commands, so `program` can
    set up its process before they load."""
    if name in ("build_parser", "main", "render_findings"):
        from xl_pmpm.cli import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def program() -> None:
    """The program `xl-pmpm` (the console script, `python -m xl_pmpm[.cli]`): `main` on the
    command line's arguments, its code the process's exit status.

    Before the commands (and numpy) are imported, the libraries' thread pools that no
    command uses are kept to one thread (QUIET_LIBRARIES; a value the user set is kept).
    Every command has closed its files and ledger connections when `main` returns. The
    objects left (pandas', pyarrow's and numpy's modules, mostly) are frozen out of the
    garbage collector, so the interpreter's exit frees them by their reference counts
    without walking them in its cycle collections (about 0.1 s of CPU, as much as a small
    file's validation). Exit handlers still run and the streams are flushed as usual.
    """
    for name, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(name, value)
    from xl_pmpm.cli.app import main

    code = main()
    gc.freeze()
    raise SystemExit(code)
