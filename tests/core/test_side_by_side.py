"""Work spread over the cores (core.parallel): the same answers, in the same order, as one
item after another; a large table's threads started only where they pay."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from xl_pmpm.core import parallel
from xl_pmpm.core.parallel import by_row_slices, made_ahead, side_by_side

LARGE = parallel.COLUMNS_SIDE_BY_SIDE_ROWS


def two_cores(monkeypatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 2)


def test_side_by_side_keeps_the_order_and_uses_threads_only_for_a_large_table(monkeypatch):
    two_cores(monkeypatch)
    seen: set[int] = set()

    def work(k: int) -> int:
        seen.add(threading.get_ident())
        time.sleep(0.001)
        return k * k

    assert side_by_side(work, range(20), LARGE) == [k * k for k in range(20)]
    assert threading.get_ident() not in seen
    seen.clear()
    assert side_by_side(work, range(20), LARGE - 1) == [k * k for k in range(20)]
    assert seen == {threading.get_ident()}


def test_side_by_side_raises_the_first_error(monkeypatch):
    two_cores(monkeypatch)

    def work(k: int) -> int:
        if k == 3:
            raise ValueError("three")
        return k

    with pytest.raises(ValueError, match="three"):
        side_by_side(work, range(8), LARGE)


@pytest.mark.parametrize("rows", [0, 1, 2, 7, LARGE + 3])
def test_row_slices_stack_to_the_whole_answer(monkeypatch, rows):
    two_cores(monkeypatch)
    frame = pd.DataFrame({"x": np.arange(rows)}, index=np.arange(rows) + 2)
    monkeypatch.setattr(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", 0 if rows < LARGE else LARGE)
    calls: list[slice] = []

    def check(s: slice) -> pd.DataFrame:
        calls.append(s)
        return frame.iloc[s].assign(double=lambda f: f["x"] * 2)

    out = by_row_slices(check, rows)
    pd.testing.assert_frame_equal(out, frame.assign(double=frame["x"] * 2))
    assert len(calls) == (2 if rows >= 2 else 1)


def test_made_ahead_gives_each_in_order_one_ahead(monkeypatch):
    two_cores(monkeypatch)
    made: list[int] = []

    def make(k: int) -> int:
        made.append(k)
        return -k

    ahead = made_ahead(make, range(5), LARGE)
    assert next(ahead) == 0
    time.sleep(0.05)
    assert made == [0, 1]  # the next one made while the first is used
    assert list(ahead) == [-1, -2, -3, -4]
    assert list(made_ahead(make, [], LARGE)) == []


def test_made_ahead_closed_early_waits_for_the_one_being_made(monkeypatch):
    two_cores(monkeypatch)
    finished: list[int] = []

    def make(k: int) -> int:
        time.sleep(0.02)
        finished.append(k)
        return k

    ahead = made_ahead(make, range(10), LARGE)
    assert next(ahead) == 0
    ahead.close()
    assert finished == [0, 1]  # nothing left running, nothing made after
    time.sleep(0.05)
    assert finished == [0, 1]


def test_the_cores_are_counted_where_there_is_no_affinity(monkeypatch):
    """Windows and macOS have no `sched_getaffinity`: the machine's cores are counted, and a
    large table's work still runs side by side there (one core: one after another)."""
    monkeypatch.delattr(parallel.os, "sched_getaffinity", raising=False)

    def threads_used() -> set[int]:
        seen: set[int] = set()
        side_by_side(lambda k: seen.add(threading.get_ident()), range(6), LARGE)
        return seen

    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 8)
    assert threading.get_ident() not in threads_used()
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: None)
    assert threads_used() == {threading.get_ident()}


def test_where_threads_cannot_start_everything_runs_in_turn(monkeypatch):
    """xlwings Lite runs in Pyodide, which starts no thread: a large table's work runs one
    item after another there, in the calling thread."""
    monkeypatch.setattr(parallel.sys, "platform", "emscripten")
    seen: set[int] = set()

    def mark(k: int) -> int:
        seen.add(threading.get_ident())
        return k

    assert side_by_side(mark, range(4), LARGE) == [0, 1, 2, 3]
    assert list(made_ahead(mark, range(3), LARGE)) == [0, 1, 2]
    frame = pd.DataFrame({"x": np.arange(5)})
    out = by_row_slices(lambda s: frame.iloc[s].assign(t=mark(threading.get_ident())), LARGE)
    assert list(out["x"]) == [0, 1, 2, 3, 4]
    assert seen == {threading.get_ident()}
