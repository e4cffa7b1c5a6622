"""The README's set-up, as a newcomer runs it: a clean clone, the set-up block's commands
in bash (a fresh venv, the project installed into it), then `xl-pmpm demo`; the clone
stays clean. And the sdist that setup builds ships no tests it cannot run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def setup_block() -> list[str]:
    """The commands of the README's "Set up from nothing" block."""
    section = README.read_text(encoding="utf-8").split("## Set up from nothing", 1)[1]
    block = re.search(r"^```bash\n(.*?)^```", section, re.M | re.S)
    assert block, "the README's set-up section has a ```bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_setup_block_makes_a_venv_and_installs_into_it() -> None:
    commands = setup_block()
    assert commands[0].startswith("cd ")
    assert any(re.fullmatch(r"python3? -m venv \.venv", c) for c in commands)
    assert commands[-1].startswith("python -m pip install ")


@pytest.mark.slow
def test_readme_setup_from_a_clean_clone_runs_the_demo(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    commands = setup_block()
    clone = tmp_path / commands[0].split()[1]
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    bin_dir = Path(sys.executable).parent  # the Python running the tests is `python3`
    script = "\n".join(["set -euo pipefail", *commands, "xl-pmpm demo", "git status --porcelain"])
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1800,
        env={  # a newcomer's shell: no venv active, no PYTHONPATH; pip's own settings kept
            **{k: v for k, v in os.environ.items() if k.startswith("PIP_") or "PROXY" in k},
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Done. Everything is in xl-pmpm-demo" in out
    assert (clone / ".venv" / "bin" / "xl-pmpm").exists()
    assert list((clone / "xl-pmpm-demo" / "export").glob("PMPM_*.csv"))
    # `git status --porcelain` printed nothing after the demo's last line: a clean clone
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("Done."), f"the clone is dirty after the set-up and demo: {last}"

    # The sdist: built by the project's own build backend, it ships no tests.
    venv_python = clone / ".venv" / "bin" / "python"
    subprocess.run(
        [str(venv_python), "-m", "pip", "install", "-q", "setuptools>=77"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    subprocess.run(
        [str(venv_python), "-c", "from setuptools import build_meta as b; b.build_sdist('dist')"],
        cwd=clone,
        check=True,
        capture_output=True,
        timeout=600,
    )
    with tarfile.open(next((clone / "dist").glob("xl_pmpm-*.tar.gz"))) as sdist:
        names = sdist.getnames()
    assert any(n.endswith("/LICENSE") for n in names)
    assert any(n.endswith("/CHANGELOG.md") for n in names)
    assert any(n.endswith("xl_pmpm/data/layout.toml") for n in names)
    assert not [n for n in names if "/tests/" in n]
