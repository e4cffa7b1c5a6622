"""`xl-pmpm visits` of a large file starts DuckDB's query before pandas is imported
(`cli.early.head_start`): the command takes that query's result when it would run the same
query, and a query it does not take is stopped before the program ends. Run through the
program itself (`xl_pmpm.cli.program`), with the size above which DuckDB sums a file set to
0 so a small file takes that path."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest
from visits_files import OTHER, visits_rows, write_visits

from xl_pmpm.cli import program

duckdb = pytest.importorskip("duckdb")
from xl_pmpm.io import visits_engine  # noqa: E402

MONTH = "2026-10"


def _program(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the program on `argv`."""
    monkeypatch.setattr(sys, "argv", ["xl-pmpm", *map(str, argv)])
    try:
        with pytest.raises(SystemExit) as done:
            program()
    finally:
        gc.unfreeze()  # the program freezes what is left at its end; a test goes on
    out, err = capsys.readouterr()
    return done.value.code, out, err


@pytest.fixture
def queries(monkeypatch):
    """Every query DuckDB ran, by path; DuckDB sums files of any size."""
    monkeypatch.setattr(visits_engine, "ENGINE_ABOVE", 0)
    ran: list[str] = []
    run = visits_engine._run

    def counted(con, path, query):
        ran.append(path)
        return run(con, path, query)

    monkeypatch.setattr(visits_engine, "_run", counted)
    return ran


@pytest.fixture
def visits(tmp_path) -> Path:
    rows = visits_rows("0000000101", MONTH, 20, 8) + visits_rows("0000000102", MONTH, 3, 2.5)
    rows += visits_rows("0000000103", MONTH, 31, 12, contract=OTHER)
    return write_visits(tmp_path / "visits.csv", rows)


def test_the_started_query_is_the_commands_own_and_runs_once(
    queries, visits, tmp_path, monkeypatch, capsys
):
    argv = ["visits", visits, "--month", MONTH, "--out", tmp_path / "early", "--format", "json"]
    code, out, _ = _program(monkeypatch, capsys, *argv)
    early = json.loads(out)
    assert code == 0
    assert queries == [str(visits)]  # started before pandas, taken by the command
    assert not visits_engine._STARTED

    monkeypatch.setattr(visits_engine, "ENGINE_ABOVE", 10**15)  # pandas' reader
    argv = ["visits", visits, "--month", MONTH, "--out", tmp_path / "pandas", "--format", "json"]
    code, out, _ = _program(monkeypatch, capsys, *argv)
    by_pandas = json.loads(out)
    assert code == 0 and queries == [str(visits)]
    assert Path(early["file"]).read_bytes() == Path(by_pandas["file"]).read_bytes()
    assert early["validation"] | {"file": ""} == by_pandas["validation"] | {"file": ""}


def test_a_query_started_for_another_month_is_stopped_and_the_right_one_run(
    queries, visits, tmp_path, monkeypatch, capsys
):
    # argparse reads `--mont` as `--month` (the last one given wins); the head start does not.
    argv = ["visits", visits, "--month", MONTH, "--mont", "2026-09", "--out", tmp_path / "o"]
    code, out, _ = _program(monkeypatch, capsys, *argv, "--format", "json")
    assert code in (0, 1)
    assert json.loads(out)["month"] == "2026-09"
    assert queries == [str(visits), str(visits)]  # October's, not taken, then September's
    assert not visits_engine._STARTED


def test_a_command_that_fails_first_still_says_why_and_its_query_is_stopped(
    queries, visits, tmp_path, monkeypatch, capsys
):
    missing = tmp_path / "no-such-layout.toml"
    argv = ["visits", visits, "--month", MONTH, "--out", tmp_path / "o", "--layout", missing]
    code, out, err = _program(monkeypatch, capsys, *argv)
    assert code == 2
    assert "no-such-layout.toml" in out + err
    assert "Traceback" not in out + err
    assert not visits_engine._STARTED
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["visits", "--month", MONTH, "FILE", "--out", "o"],  # the file not first
        ["visits", "FILE", "--month", "October", "--out", "o"],  # not a month
        ["visits", "FILE", "--out", "o"],  # no month
        ["visits", "FILE", "--month", MONTH, "--help"],
        ["validate", "FILE"],
    ],
    ids=["file-later", "bad-month", "no-month", "help", "other-command"],
)
def test_only_the_usual_form_of_the_command_starts_a_query(queries, visits, argv):
    from xl_pmpm.cli.early import head_start

    assert not head_start([str(visits) if a == "FILE" else a for a in argv])
    assert queries == [] and not visits_engine._STARTED
