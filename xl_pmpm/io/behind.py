"""Files written by one background thread while the caller builds the next.

Building an import file is the interpreter's work; writing it (write, fsync, link) waits
on the disk with the interpreter's lock released. One thread that writes a file while the
next is built hides the disk's time (a million rows in 41 files: about 0.6 s of 5).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from xl_pmpm.core.parallel import threads_start

Item = TypeVar("Item")
Result = TypeVar("Result")


def write_behind(
    items: Iterable[Item],
    write: Callable[[Item], Result],
    undo: Callable[[Result], object] | None = None,
) -> list[Result]:
    """`write(item)` of every item, in their order, by one background thread, each while the
    next item is built (at most two are held: the one written and the one built).

    All or none: when building an item or writing one fails (or the user interrupts), the
    write under way finishes, every written one is undone (`undo` of its result) and the
    error is raised; no write is left running after this returns or raises."""
    done: list[Result] = []

    def undo_all() -> None:
        if undo is not None:
            for result in done:
                undo(result)

    if not threads_start():  # xlwings Lite (Pyodide): each written in turn
        try:
            for item in items:
                done.append(write(item))
        except BaseException:
            undo_all()
            raise
        return done
    writing: Future[Result] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xl-pmpm-write") as writer:
        try:
            for item in items:
                if writing is not None:
                    done.append(writing.result())
                writing = writer.submit(write, item)
            if writing is not None:
                done.append(writing.result())
                writing = None
        except BaseException:
            if writing is not None and not writing.cancel():
                with contextlib.suppress(Exception):  # the first error is the one raised
                    done.append(writing.result())
            undo_all()
            raise
    return done
