"""Work over a large table on the machine's cores.

Arrow's and numpy's loops let go of the interpreter's lock, so a large table's columns
(or pieces of its rows) can be worked side by side on threads. A rule stays one function
of its rows; these helpers only decide where it runs: side by side from
`COLUMNS_SIDE_BY_SIDE_ROWS` rows, one after another below it or where threads cannot start.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pandas as pd

Item = TypeVar("Item")
Result = TypeVar("Result")


# Below this many rows a thread costs more than it saves.
COLUMNS_SIDE_BY_SIDE_ROWS = 100_000


def side_by_side(work: Callable[[Item], Result], items: Iterable[Item], rows: int) -> list[Result]:
    """`work` of each item (a column, a piece of rows), in order: side by side on a table of
    `rows` rows when large (`COLUMNS_SIDE_BY_SIDE_ROWS`), one after another when small. The
    first error is raised once every item's work has ended."""
    items = list(items)
    workers = cores()
    if rows < COLUMNS_SIDE_BY_SIDE_ROWS or workers < 2 or len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xl-pmpm-side") as pool:
        return list(pool.map(work, items))


def made_ahead(
    make: Callable[[Item], Result], items: Iterable[Item], rows: int
) -> Iterator[Result]:
    """`make` of each item, in order, each next one made by a background thread while the
    caller works on the one before (one made ahead), on a large table (`side_by_side`'s
    `rows`); one after another on a small one. Closing the iterator early waits for the one
    being made."""
    items = iter(items)
    if rows < COLUMNS_SIDE_BY_SIDE_ROWS or cores() < 2:
        yield from map(make, items)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xl-pmpm-ahead") as pool:
        making = [pool.submit(make, item) for item in itertools.islice(items, 1)]
        while making:
            made = making.pop().result()
            making = [pool.submit(make, item) for item in itertools.islice(items, 1)]
            yield made


def by_row_slices(check: Callable[[slice], pd.DataFrame], rows: int) -> pd.DataFrame:
    """`check` of a frame's `rows` rows a slice at a time, one slice per core side by side on
    a large frame (`side_by_side`), of every row at once on a small one. For a check whose
    answer for a row depends on that row alone: the slices' answers are stacked in order."""
    workers = cores()
    if rows < max(COLUMNS_SIDE_BY_SIDE_ROWS, 2) or workers < 2:
        return check(slice(0, rows))
    cuts = np.linspace(0, rows, workers + 1).astype(int)
    spans = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return pd.concat(side_by_side(check, spans, rows))


def threads_start() -> bool:
    """Whether this Python can start a thread (not in xlwings Lite's Pyodide, WebAssembly)."""
    return sys.platform not in ("emscripten", "wasi")


def cores() -> int:
    """The cores this process may run work on side by side: its affinity on Linux, the
    machine's cores on Windows and macOS, up to four (beyond, the memory bus is the limit);
    one where threads cannot start."""
    if not threads_start():
        return 1
    if hasattr(os, "sched_getaffinity"):
        return min(len(os.sched_getaffinity(0)), 4)
    return min(os.cpu_count() or 1, 4)
