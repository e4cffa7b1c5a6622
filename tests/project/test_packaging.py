"""Packaging: one version, the MIT licence as a file and as SPDX, the PostgreSQL driver
as an extra whose absence is a clear exit-2 message."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from cli_helpers import no_env_ledger_fixture, run  # noqa: F401

import xl_pmpm

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_one_version_source_and_a_changelog() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "xl_pmpm.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", xl_pmpm.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {xl_pmpm.__version__} " in changelog
    from xl_pmpm.io.ledger import SCHEMA_VERSION

    for version in range(1, SCHEMA_VERSION + 1):  # every schema upgrade is called out
        assert f"**Ledger schema {version}**" in changelog


def test_mit_licence_as_a_file_and_as_spdx() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    requires = PYPROJECT["build-system"]["requires"]
    assert requires == ["setuptools>=77"]  # the first setuptools that reads SPDX licences


def test_postgres_driver_is_an_extra_kept_for_the_tests() -> None:
    project = PYPROJECT["project"]
    assert not any(d.startswith("psycopg") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert extras["postgres"] == ["psycopg[binary]>=3.2"]
    assert "psycopg[binary]>=3.2" in extras["test"]


def test_a_server_url_without_the_driver_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails, as uninstalled
    code, out, err = run(capsys, "history", "--ledger", "postgresql://billing@127.0.0.1:9/pmpm")
    assert code == 2, err
    assert "PostgreSQL server, and its driver (psycopg) is not installed" in err
    assert 'python -m pip install "xl-pmpm[postgres]"' in err
    assert "Traceback" not in err and not out
