"""``xl-pmpm``: the command line over the core, io and workbook rooms."""

import contextlib
import logging
import os
import sys

from xl_pmpm.cli.app import build_parser, main, render_findings

__all__ = ["build_parser", "main", "program", "render_findings"]


def program() -> None:
    """The program `xl-pmpm` (the console script, `python -m xl_pmpm.cli`): `main` on the
    command line's arguments, then the process ends with its exit code at once.

    Every command has closed its files, ledger and engine connections when `main`
    returns; the output is flushed here. What is skipped is the interpreter's teardown of
    every module and object (pandas, pyarrow, numpy: about 0.1 s of CPU, as much as a
    small file's whole validation). `main` itself returns, for callers in a process.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # the reader went away (`| head`), or the stream is closed: nothing more to say
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
