"""The checks a maintainer runs before a commit are the ones CI runs: ruff (check and
format) by pre-commit and `.ci/run`, mypy over the package by `.ci/run`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pre_commit_runs_ruff_as_ci_does() -> None:
    config = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    entries = re.findall(r"entry:\s*(.+)", config)
    assert any(e.startswith("ruff check") for e in entries)
    assert any(e.startswith("ruff format --check") for e in entries)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "ruff check ." in ci and "ruff format --check ." in ci


def test_ci_type_checks_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["mypy"]["files"] == ["xl_pmpm"]
    assert any(r.startswith("mypy") for r in project["project"]["optional-dependencies"]["test"])
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert any(line.split("#")[0].strip() == "mypy" for line in ci)
