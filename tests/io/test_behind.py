"""`write_behind`: each item written by a background thread while the next is built, in
order, all or none, and never more than two items held (the one written, the one built)."""

from __future__ import annotations

import threading
import time

import pytest

from xl_pmpm.io.behind import write_behind


class Items:
    """Items built one at a time, counting how many are built and not yet written."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.held = 0
        self.most_held = 0
        self.lock = threading.Lock()

    def __iter__(self):
        for k in range(self.n):
            if k == self.fail_at:
                raise ValueError("cannot build")
            with self.lock:
                self.held += 1
                self.most_held = max(self.most_held, self.held)
            yield k

    def written(self) -> None:
        with self.lock:
            self.held -= 1


def test_every_item_is_written_in_order_by_another_thread_two_held_at_most():
    items = Items(20)
    threads = set()

    def write(k: int) -> str:
        threads.add(threading.get_ident())
        time.sleep(0.002)  # a disk slower than the building: the builder waits for it
        items.written()
        return f"file{k}"

    assert write_behind(items, write) == [f"file{k}" for k in range(20)]
    assert threads and threading.get_ident() not in threads
    assert items.most_held == 2


def test_a_part_that_cannot_be_built_undoes_every_write_after_they_finish():
    undone, finished = [], []

    def write(k: int) -> int:
        time.sleep(0.01)
        finished.append(k)
        return k

    with pytest.raises(ValueError, match="cannot build"):
        write_behind(Items(5, fail_at=3), write, undo=undone.append)
    # The last write submitted is cancelled if it has not started, else finished first.
    assert finished in ([0, 1], [0, 1, 2])
    assert undone == finished
    time.sleep(0.02)
    assert undone == finished  # nothing written afterwards


def test_a_write_that_fails_undoes_the_others_and_writes_nothing_more():
    undone, tried = [], []

    def write(k: int) -> int:
        tried.append(k)
        if k == 2:
            raise OSError(28, "No space left on device")
        return k

    with pytest.raises(OSError, match="No space"):
        write_behind(Items(6), write, undo=undone.append)
    assert tried == [0, 1, 2]
    assert undone == [0, 1]


def test_no_items_write_nothing():
    assert write_behind([], lambda k: k) == []


def test_where_threads_cannot_start_each_is_written_in_turn(monkeypatch):
    """xlwings Lite (Pyodide) starts no thread: the writes run in the calling thread, all
    or none as ever."""
    from xl_pmpm.core import parallel

    monkeypatch.setattr(parallel.sys, "platform", "emscripten")
    threads, undone = set(), []

    def write(k: int) -> int:
        threads.add(threading.get_ident())
        if k == 3:
            raise OSError(28, "No space left on device")
        return k

    assert write_behind(range(3), write) == [0, 1, 2]
    with pytest.raises(OSError, match="No space"):
        write_behind(range(5), write, undo=undone.append)
    assert undone == [0, 1, 2]
    assert threads == {threading.get_ident()}
