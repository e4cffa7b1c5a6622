"""A command starts with what it uses: the libraries of the ledger (SQLAlchemy, filelock),
the workbook (openpyxl), Excel (xlwings) and DuckDB (a large visits file) are imported only
by the commands that need them, so `validate`, `tier` and `layout` start in little more than
pandas' own time (issue 15: start-up is measured in benchmarks/bench_scale.py --startup)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import extract_fixture

HEAVY = ("sqlalchemy", "filelock", "psycopg", "openpyxl", "xlwings", "duckdb")
PROBE = """
import json, sys
from xl_pmpm.cli.app import main
code = main(sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def loaded_by(args: list[str], cwd: Path, **env: str) -> tuple[int, set[str], str]:
    """Exit code, top-level modules loaded and stdout of `xl-pmpm ARGS` in a fresh process."""
    environ = {k: v for k, v in os.environ.items() if k != "XL_PMPM_LEDGER"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = done.stderr.strip().splitlines()[-1]
    probe = json.loads(last)
    return probe["code"], set(probe["loaded"]), done.stdout


assert extract_fixture  # the module's `extract`: an October extract of valid rows


@pytest.mark.parametrize(
    "args",
    [["validate", "{extract}", "--as-of", "2026-11-05"], ["tier", "158", "160"], ["layout"]],
    ids=["validate", "tier", "layout"],
)
def test_commands_without_a_ledger_or_workbook_import_none_of_their_libraries(
    extract, tmp_path, args
):
    code, loaded, out = loaded_by([a.format(extract=extract) for a in args], tmp_path)
    assert code == 0, out
    assert out.strip()
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_ledger_error_is_still_one_line_once_the_ledger_is_used(extract, tmp_path):
    """The CLI catches SQLAlchemy's errors without importing SQLAlchemy at start-up: a
    command that opens a ledger imports it, and its errors are said as before."""
    (tmp_path / "damaged.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    code, loaded, _ = loaded_by(
        ["validate", str(extract), "--as-of", "2026-11-05"],
        tmp_path,
        XL_PMPM_LEDGER=str(tmp_path / "damaged.sqlite3"),
    )
    assert "sqlalchemy" in loaded
    assert code == 2
    run = subprocess.run(
        [sys.executable, "-m", "xl_pmpm.cli", "validate", str(extract), "--as-of", "2026-11-05"],
        cwd=tmp_path,
        env=os.environ | {"XL_PMPM_LEDGER": str(tmp_path / "damaged.sqlite3")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("error: ") and "damaged" in run.stderr, run.stderr


@pytest.mark.parametrize("module", ["xl_pmpm.cli", "xl_pmpm"])
def test_the_program_ends_with_its_whole_output_and_its_exit_code(extract, tmp_path, module):
    """`program` (the console script, `python -m`): everything written
    before is on the streams, and the exit code is the command's."""
    run = subprocess.run(
        [sys.executable, "-m", module, "validate", str(extract), "--as-of", "2026-11-05"]
        + ["--format", "json"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "XL_PMPM_LEDGER"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)  # the whole JSON document, flushed
    assert payload["valid"] is True and payload["rows"] > 0
    missing = subprocess.run(
        [sys.executable, "-m", module, "validate", str(tmp_path / "none.csv")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and "not found" in missing.stderr
