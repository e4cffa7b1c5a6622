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


THREADS = """
import atexit, json, os, sys
import psutil
def said():
    blas = os.environ.get("OPENBLAS_NUM_THREADS")
    threads = psutil.Process().num_threads()
    print(json.dumps({"blas": blas, "threads": threads}), file=sys.stderr)
atexit.register(said)
sys.argv[0] = "xl-pmpm"
from xl_pmpm.cli import program
program()
"""


def threads_of(args: list[str], cwd: Path, **env: str) -> tuple[int, dict]:
    """Exit code of `program` on ARGS in a fresh process, and at its exit the process's
    OPENBLAS_NUM_THREADS and its number of threads."""
    environ = {
        k: v for k, v in os.environ.items() if k not in ("XL_PMPM_LEDGER", "OPENBLAS_NUM_THREADS")
    }
    done = subprocess.run(
        [sys.executable, "-c", THREADS, *args],
        cwd=cwd,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stderr.strip().splitlines()[-1])


def numpy_blas() -> str:
    import numpy as np

    return str(np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"])


def test_a_command_starts_no_blas_threads_unless_the_user_asks(extract, tmp_path):
    """numpy's OpenBLAS would start a spinning thread per core at import, for matrix
    arithmetic no command does: the program keeps it to one thread; a setting of the
    user's own is kept, and importing the package alone changes nothing."""
    args = ["validate", str(extract), "--as-of", "2026-11-05"]
    code, quiet = threads_of(args, tmp_path)
    assert code == 0 and quiet["blas"] == "1"
    code, asked = threads_of(args, tmp_path, OPENBLAS_NUM_THREADS="2")
    assert code == 0 and asked["blas"] == "2"
    if "openblas" in numpy_blas().lower() and (os.cpu_count() or 1) > 1:
        assert asked["threads"] > quiet["threads"], (asked, quiet)
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, xl_pmpm.cli; print(os.environ.get('OPENBLAS_NUM_THREADS'))",
        ],
        env={k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.stdout.strip() == "None"
