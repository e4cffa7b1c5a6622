"""Crash safety: the process killed (SIGKILL) at every file-system step of export, review, restore.

A forked child runs `xl-pmpm ...` with os.link / os.fsync / os.rename /
os.replace / os.unlink wrapped so that the k-th call kills the process first;
k runs from 1 until the command finishes unharmed. After each kill:

- no partial CSV is visible under a final name (every visible CSV is whole);
- a reviewed file that is visible restores exactly to the input (its archive
  and line manifest are consistent with it), and a pending review's archive is
  not read;
- re-running the command finishes the job.

The ledger's own crash tests are in tests/io/test_ledger.py.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import sample
from xl_pmpm.cli import app as cli
from xl_pmpm.io import files, workflow

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

LAYOUT = files.load_layout()
BOOK = files.load_rate_book()
MONTH = "2026-10"
AS_OF = "2026-11-05"
STEPS = ("link", "fsync", "rename", "replace", "unlink")


def run_killed_at(step: int, argv: list[str] | Callable[[], object]) -> bool:
    """Run `xl-pmpm argv` (or a function) in a forked child killed at its `step`-th
    file-system call. True if the child was killed; False if it finished first.
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            calls = [0]

            def deadly(fn: Callable) -> Callable:
                def wrapped(*args, **kwargs):
                    calls[0] += 1
                    if calls[0] == step:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return fn(*args, **kwargs)

                return wrapped

            for name in STEPS:
                setattr(os, name, deadly(getattr(os, name)))
            if callable(argv):
                argv()
            else:
                cli.main(argv)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def each_kill(argv: Callable[[int], object], check: Callable[[int], None]) -> int:
    """Kill the command at step 1, 2, ... until it completes; `check` after each kill."""
    step = 1
    while run_killed_at(step, argv(step)):
        check(step)
        step += 1
        assert step < 200, "the command never completed"
    return step - 1


def visible_csvs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.csv") if not p.name.startswith("."))


def read_text_table(path: Path) -> pd.DataFrame:
    report = files.read_tier_report(path, LAYOUT)
    assert report.readable
    return report.table


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 members with Excel damage: review --suggested deletes and defers rows."""
    frame = sample.generate_extract(60, MONTH, LAYOUT, BOOK, seed=7)
    path = tmp_path_factory.mktemp("in") / "extract.csv"
    path.write_bytes(sample.extract_csv(frame))
    return path


@pytest.fixture(scope="module")
def clean_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = sample.generate_extract(
        80, MONTH, LAYOUT, BOOK, seed=11, mangle=False, below_minimum=False
    )
    path = tmp_path_factory.mktemp("in") / "clean.csv"
    path.write_bytes(sample.extract_csv(frame))
    return path


def restores_to_original(reviewed: Path, archive: Path, original: pd.DataFrame, out: Path) -> None:
    assert cli.main(["restore", str(reviewed), "--archive", str(archive), "--out", str(out)]) == 0
    (restored,) = [p for p in visible_csvs(out) if p.name.startswith(reviewed.stem)]
    got = read_text_table(restored)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), original.reset_index(drop=True))


def test_review_killed_at_every_step(extract: Path, tmp_path: Path) -> None:
    original = read_text_table(extract)
    digest = hashlib.sha256(extract.read_bytes()).hexdigest()

    def argv(step: int) -> list[str]:
        return ["review", str(extract), "--suggested", "--out", str(tmp_path / f"k{step}")]

    def check(step: int) -> None:
        out = tmp_path / f"k{step}"
        archive = out / "archive"
        reviewed = visible_csvs(out) if out.exists() else []
        assert len(reviewed) <= 1
        if reviewed:  # killed after the commit: the job is done and consistent
            assert len(read_text_table(reviewed[0])) < len(original)
            restores_to_original(reviewed[0], archive, original, tmp_path / f"r{step}")
        else:  # killed before: nothing of this review is read, and a re-run finishes it
            assert files.read_archive(archive).empty
            assert cli.main(argv(step)) == 0
            (again,) = visible_csvs(out)
            restores_to_original(again, archive, original, tmp_path / f"r{step}")
            assert not list(archive.glob(".review_pending_*"))

    steps = each_kill(argv, check)
    assert steps >= 6  # journal, archive, manifest, reviewed file: several steps each
    assert hashlib.sha256(extract.read_bytes()).hexdigest() == digest


def test_restore_killed_at_every_step(extract: Path, tmp_path: Path) -> None:
    original = read_text_table(extract)

    def prepared(step: int) -> tuple[Path, Path]:
        out = tmp_path / f"k{step}"
        assert cli.main(["review", str(extract), "--suggested", "--out", str(out)]) == 0
        (reviewed,) = visible_csvs(out)
        return reviewed, out / "archive"

    def argv(step: int) -> list[str]:
        reviewed, archive = prepared(step)
        out = tmp_path / f"restored{step}"
        return ["restore", str(reviewed), "--archive", str(archive), "--out", str(out)]

    def check(step: int) -> None:
        out = tmp_path / f"restored{step}"
        restored = visible_csvs(out) if out.exists() else []
        if not restored:  # re-running finishes the job
            reviewed = visible_csvs(tmp_path / f"k{step}")[0]
            archive = tmp_path / f"k{step}" / "archive"
            assert cli.main(["restore", str(reviewed), "--archive", str(archive),
                             "--out", str(out)]) == 0  # fmt: skip
            restored = visible_csvs(out)
        (only,) = restored
        got = read_text_table(only)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), original.reset_index(drop=True))

    assert each_kill(argv, check) >= 2


def export_without_ledger(source: Path, out: Path) -> workflow.Exported:
    """workflow.export_import_file as `xl-pmpm export --no-ledger` runs it."""
    report = files.read_tier_report(source, LAYOUT)
    return workflow.export_import_file(
        report.table,
        out,
        LAYOUT,
        BOOK,
        as_of=date.fromisoformat(AS_OF),
        at=datetime.now(),
        source=report.source,
        read_findings=report.findings,
    )


def test_export_killed_at_every_step(clean_extract: Path, tmp_path: Path) -> None:
    whole = export_without_ledger(clean_extract, tmp_path / "whole")
    expected = {p.name.split("_")[1]: p.read_bytes() for p in whole.files}
    assert len(expected) == 4  # one file per contract

    def run(step: int) -> Callable[[], object]:
        return lambda: export_without_ledger(clean_extract, tmp_path / f"k{step}")

    def check(step: int) -> None:
        out = tmp_path / f"k{step}"
        for part in visible_csvs(out) if out.exists() else []:
            # whole, byte for byte, under its final name: never a partial CSV
            assert part.read_bytes() == expected[part.name.split("_")[1]]
            assert part.stat().st_mode & 0o777 == 0o600
        done = export_without_ledger(clean_extract, out)  # re-running finishes the job
        assert {p.name.split("_")[1] for p in done.files} == set(expected)
        assert all(p.read_bytes() == expected[p.name.split("_")[1]] for p in done.files)

    assert each_kill(run, check) >= 8


def test_a_killed_write_leaves_only_a_temp_file_which_the_next_write_removes(
    tmp_path: Path,
) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            os.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[assignment]
            files.write_new_file(tmp_path, "PMPM_x.csv", b"a,b\r\n1,2\r\n")
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert visible_csvs(tmp_path) == []
    (stale,) = tmp_path.glob(".PMPM_x.csv.*.tmp")
    assert stale.read_bytes() == b"a,b\r\n1,2\r\n"  # complete, but never under the final name
    written = files.write_new_file(tmp_path, "PMPM_x.csv", b"a,b\r\n1,2\r\n")
    assert written.name == "PMPM_x.csv"
    assert not stale.exists()
    assert sys.platform != "win32"
