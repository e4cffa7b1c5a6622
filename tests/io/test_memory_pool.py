"""pyarrow's memory pool is a process-wide setting: a command sets it when it starts,
importing xl_pmpm changes nothing (a library importing it keeps its own choice)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import pyarrow as pa
before = pa.default_memory_pool().backend_name
import xl_pmpm.cli.app, xl_pmpm.io.files, xl_pmpm.io.memory, xl_pmpm.io.workflow
after_import = pa.default_memory_pool().backend_name
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    code = xl_pmpm.cli.app.main(["tier", "158"])
print(before, after_import, pa.default_memory_pool().backend_name, code)
"""


def test_importing_changes_no_pool_and_a_command_sets_the_systems() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after_import, after_command, code = done.stdout.split()
    assert after_import == before
    assert after_command == "system" and code == "0"
