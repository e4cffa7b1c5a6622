"""``xl-pmpm``: the command line over the core, io and workbook rooms."""

import gc

from xl_pmpm.cli.app import build_parser, main, render_findings

__all__ = ["build_parser", "main", "program", "render_findings"]


def program() -> None:
    """The program `xl-pmpm` (the console script, `python -m xl_pmpm[.cli]`): `main` on the
    command line's arguments, its code the process's exit status.

    Every command has closed its files and ledger connections when `main` returns. The
    objects left (pandas', pyarrow's and numpy's modules, mostly) are frozen out of the
    garbage collector, so the interpreter's exit frees them by their reference counts
    without walking them in its cycle collections (about 0.1 s of CPU, as much as a small
    file's validation). Exit handlers still run and the streams are flushed as usual.
    """
    code = main()
    gc.freeze()
    raise SystemExit(code)
