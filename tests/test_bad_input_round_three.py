"""Issue 27, set-up a biller keeps by hand: a ledger address typed with a mistake, rate and
payer files that are empty or were saved half-way. Each is an exit 2 naming what is wrong
(never the password) and nothing written; never an internal error.

The files that are not what a command expected are the matrix of test_hostile_matrix.py.
"""

from __future__ import annotations

import pytest
from cli_helpers import extract_fixture, no_env_ledger_fixture, run  # noqa: F401

from xl_pmpm.io import files
from xl_pmpm.io.ledger_address import LEDGER_ENV

AS_OF = "2026-11-05"
SECRET = "s3cret"

# (the address as typed, words the message must hold)
MISTYPED = [
    (f"postgresql://bill:{SECRET}@localhost:54o2/pmpm", "port '54o2'"),
    (f"postgresql://bill:{SECRET}@localhost:99999/pmpm", "port '99999'"),
    (f"postgresql://bill:{SECRET}@[::1/pmpm", "never closes"),
    (f"postgresql://bill:{SECRET}@local host/pmpm", "host 'local host'"),
    (f"postgresql://bill:{SECRET}@x@localhost/pmpm", "two '@'"),
    ("postgresql:/localhost/pmpm", "without its '://'"),
    ("postgresql//localhost/pmpm", "without its '://'"),
    ("sqlite://", "names no file"),
    (f"postgres://bill:{SECRET}@localhost/pmpm", "No driver"),
    (f"postgresq://bill:{SECRET}@localhost/pmpm", "No driver"),
]


@pytest.mark.parametrize("typed,words", MISTYPED, ids=[m[1] for m in MISTYPED])
@pytest.mark.parametrize("where", ["option", "environment"])
def test_a_ledger_address_with_a_mistake_names_the_part_never_the_password(
    capsys, tmp_path, monkeypatch, extract, typed, words, where
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["export", extract, "--out", out, "--as-of", AS_OF]
    if where == "option":
        argv += ["--ledger", typed]
    elif typed.startswith("postgresql//"):
        pytest.skip("$XL_PMPM_LEDGER without '://' is a path: 'a//b' is read as 'a/b'")
    else:
        monkeypatch.setenv(LEDGER_ENV, typed)
    code, stdout, stderr = run(capsys, *argv)
    assert code == 2, stderr
    assert words in stderr
    assert SECRET not in stdout + stderr
    assert "internal error" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, no file, no lock
    code, _, stderr = run(capsys, "history", "--ledger", typed)
    assert code == 2 and words in stderr and SECRET not in stderr


def test_a_file_named_like_a_server_is_still_a_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "ledger", "init", "--ledger", "postgres_ledger.sqlite3")
    assert code == 0, err
    assert (tmp_path / "postgres_ledger.sqlite3").is_file()


# --- rate and payer files saved half-way ----------------------------------------------------


def _cuts(data: bytes, every: int) -> list[int]:
    """Where a save may have stopped: every `every` bytes, and each line's end."""
    ends = [i + 1 for i, b in enumerate(data) if b == 10]
    return sorted({*range(0, len(data), every), *ends, *(e - 2 for e in ends if e > 2)})


@pytest.mark.parametrize("name,option", [("rates.csv", "--rates"), ("payers.csv", "--payers")])
def test_a_settings_file_saved_half_way_is_read_or_refused_never_an_internal_error(
    capsys, tmp_path, name, option
):
    """Cut at every 7th byte and around each line end: exit 0 (a shorter, still whole
    table) or 2 naming the file; never 3. The empty cut says empty."""
    data = files.bundled(name).read_bytes()
    path = tmp_path / name
    seen = set()
    for cut in _cuts(data, 7):
        path.write_bytes(data[:cut])
        code, out, err = run(capsys, "tier", "100", "--payer", "*", option, path)
        assert code in (0, 2), (cut, err)
        assert "Traceback" not in out + err and "internal error" not in err
        if code == 2:
            assert str(path) in err, (cut, err)
        if cut == 0:
            assert "is empty" in err
        seen.add(code)
    assert seen == {0, 2}


@pytest.mark.parametrize(
    "text,words",
    [
        ("payer,tier\n", "lacks the column(s)"),
        ('payer,tier,min_hours,max_hours,rate_code,service_code,rate,effective_from\n"*,1', "CSV"),
        ("\ufeff\n\n", "is empty"),
        (",,,,\n", "lacks the column(s)"),
    ],
    ids=["header-only", "quote-never-closed", "blank-lines", "commas-only"],
)
def test_a_rate_table_cut_short_names_the_file(capsys, tmp_path, text, words):
    path = tmp_path / "rates.csv"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "tier", "100", "--rates", path)
    assert code == 2 and words in err and str(path) in err, err
