"""Shared helpers for the tests that run `xl-pmpm` in process.

Import the fixtures into a test module (`from cli_helpers import extract_fixture,
no_env_ledger_fixture`); `no_env_ledger` then applies to every test of that module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.sample import extract_csv, generate_extract
from xl_pmpm.cli import app as cli
from xl_pmpm.io import files
from xl_pmpm.io.ledger import LEDGER_ENV

EXTRACT_ROWS = 40


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """`xl-pmpm ARGV...` in this process: exit code, stdout, stderr."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(name="no_env_ledger", autouse=True)
def no_env_ledger_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ledger from the environment: each test names its own."""
    monkeypatch.delenv(LEDGER_ENV, raising=False)


@pytest.fixture(name="extract", scope="module")
def extract_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An October extract of EXTRACT_ROWS valid rows, one member each."""
    layout, book = files.load_layout(), files.load_rate_book()
    frame = generate_extract(
        EXTRACT_ROWS, "2026-10", layout, book, mangle=False, below_minimum=False
    )
    path = tmp_path_factory.mktemp("extract") / "october.csv"
    path.write_bytes(extract_csv(frame))
    return path
