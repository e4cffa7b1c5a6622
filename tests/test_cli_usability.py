"""The command line as its users expect it: output any console can take, help with a
description and an example on every command, commands in the month's order, "did you
mean" on a typo, `-` for standard input, progress only on a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import extract_fixture, no_env_ledger_fixture, run  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
ZWSP = "\u200b"


def _cli(args: list[str], cwd: Path, stdin: bytes | None = None, **env: str):
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environ.pop("XL_PMPM_LEDGER", None)
    return subprocess.run(
        [sys.executable, "-m", "xl_pmpm.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=environ,
        timeout=120,
    )


@pytest.fixture(name="hidden_char")
def hidden_char_fixture(extract: Path, tmp_path: Path) -> Path:
    """The extract with a zero-width space in one Patient Number."""
    lines = extract.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    at = header.index("Patient Number")
    cells[at] = cells[at] + ZWSP
    lines[1] = ",".join(cells)
    path = tmp_path / "hidden.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_json_to_a_file_under_a_cp1252_console_holds_every_value(
    hidden_char: Path, tmp_path: Path, encoding: str
) -> None:
    args = ["validate", str(hidden_char), "--as-of", "2026-11-05", "--format", "json"]
    proc = _cli(args, tmp_path, PYTHONIOENCODING=encoding)
    assert proc.returncode == 1, proc.stderr.decode()
    payload = json.loads(proc.stdout.decode("ascii"))  # pure ASCII: escapes, not cp1252 bytes
    values = [f["value"] for f in payload["errors"] if f["code"] == "invisible-character"]
    assert values and ZWSP in values[0]
    text = _cli(args[:-2], tmp_path, PYTHONIOENCODING=encoding)  # the text report too
    assert text.returncode == 1 and b"invisible-character" in text.stdout


def test_json_on_a_utf8_stream_keeps_the_characters(hidden_char: Path, tmp_path: Path) -> None:
    args = ["validate", str(hidden_char), "--as-of", "2026-11-05", "--format", "json"]
    proc = _cli(args, tmp_path, PYTHONIOENCODING="utf-8")
    assert proc.returncode == 1
    assert ZWSP.encode() in proc.stdout
    assert json.loads(proc.stdout.decode("utf-8"))["valid"] is False
