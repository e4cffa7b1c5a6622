"""One export opens its ledger once: one engine (on a server, one pool of logins) for the
lock, the reconcile of pending entries, the check, the backup, the record and the confirm."""

from __future__ import annotations

import json
import re
import sys

import pytest
import sqlalchemy as sa
from cli_helpers import extract_fixture, no_env_ledger_fixture, run  # noqa: F401 (fixtures)
from ledger_backends import backend_fixture, pg_ledger_fixture  # noqa: F401 (fixtures)

AS_OF = "2026-11-05"


@pytest.fixture(name="engines")
def engines_fixture(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The backend of every SQLAlchemy engine made from here on."""
    made: list[str] = []
    real = sa.create_engine

    def counting(url, *args, **kwargs):
        engine = real(url, *args, **kwargs)
        made.append(engine.dialect.name)
        return engine

    monkeypatch.setattr(sa, "create_engine", counting)
    return made


def test_one_export_with_a_ledger_makes_one_engine(capsys, tmp_path, extract, backend, engines):
    ledger = str(backend)
    code, out, err = run(
        capsys,
        "export",
        extract,
        "--out",
        tmp_path / "out",
        "--as-of",
        AS_OF,
        "--ledger",
        ledger,
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["rows"] > 0
    assert len(engines) == 1, engines
    # The same again: every member-month is refused, from the same single engine.
    engines.clear()
    code, out, err = run(
        capsys, "export", extract, "--out", tmp_path / "again", "--as-of", AS_OF, "--ledger", ledger
    )
    assert code == 1, out + err  # refused: every row already exported
    assert "already-exported" in out + err
    assert len(engines) == 1, engines


def test_progress_on_stderr_only_when_it_is_a_terminal(capsys, tmp_path, extract, monkeypatch):
    from xl_pmpm.cli import options

    monkeypatch.setattr(options, "LONG_INPUT", 0)  # this small extract counts as long
    ledger = tmp_path / "ledger.sqlite3"
    argv = ["export", extract, "--out", tmp_path / "quiet", "--as-of", AS_OF, "--ledger", ledger]
    code, quiet_out, quiet_err = run(capsys, *argv)
    assert code == 0 and "xl-pmpm: " not in quiet_err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    argv = ["export", extract, "--out", tmp_path / "tty", "--as-of", AS_OF]
    code, out, err = run(capsys, *argv, "--ledger", tmp_path / "other.sqlite3")
    assert code == 0
    steps = [line[len("xl-pmpm: ") :] for line in err.splitlines() if line.startswith("xl-pmpm: ")]
    assert [s.split()[0] for s in steps] == [
        "reading",
        "validating",
        "checking",
        "writing",
        "recording",
    ]
    assert "validating 40 row(s)" in err and "recording 40 row(s) in the ledger" in err

    # stdout as without a terminal (the files' names differ by folder and time only)
    def same(text: str) -> str:
        return re.sub(r"\d{8}T\d{6}", "T", text.replace("tty", "quiet").replace("other", "ledger"))

    assert same(out) == same(quiet_out)
