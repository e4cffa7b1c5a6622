"""Issue 27, set-up a biller keeps by hand: a ledger address typed with a mistake, rate and
payer files that are empty or were saved half-way. Each is an exit 2 naming what is wrong
(never the password) and nothing written; never an internal error.

The files that are not what a command expected are the matrix of test_hostile_matrix.py.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import extract_fixture, no_env_ledger_fixture, run  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st

from xl_pmpm.core.export import contract_file_parts, contract_tag
from xl_pmpm.io import files
from xl_pmpm.io.ledger import LEDGER_ENV

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


# $XL_PMPM_LEDGER without '://' is a path, and a path reads 'a//b' as 'a/b': that one is
# tried on the command line only.
CASES = [
    (typed, words, where)
    for where in ("option", "environment")
    for typed, words in MISTYPED
    if not (where == "environment" and typed.startswith("postgresql//"))
]


@pytest.mark.parametrize("typed,words,where", CASES, ids=[f"{c[2]}-{c[1]}" for c in CASES])
def test_a_ledger_address_with_a_mistake_names_the_part_never_the_password(
    capsys, tmp_path, monkeypatch, extract, typed, words, where
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["export", extract, "--out", out, "--as-of", AS_OF]
    if where == "option":
        argv += ["--ledger", typed]
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


# --- import file names on real file systems -------------------------------------------------

FILE_NAME = re.compile(r"PMPM_([A-Za-z0-9-]{1,40})_2026-10_\d{8}T\d{6}_(\d{2})\.csv")
LINKED = "Linked - Metro MLTC CDPAP"
MEETING = [  # equal but for case, punctuation, or past the first 40 characters
    LINKED,
    LINKED.upper(),
    "Linked - Metro MLTC, CDPAP",
    "Linked -- Metro MLTC CDPAP",
    "Linked - Metro MLTC CDPAP Community Based Plan A",
    "Linked - Metro MLTC CDPAP Community Based Plan B",
]


def test_contracts_whose_names_meet_get_file_names_that_tell_them_apart(
    capsys, tmp_path, monkeypatch
):
    from benchmarks.sample import extract_csv, generate_extract

    layout, book = files.load_layout(), files.load_rate_book()
    table = generate_extract(40, "2026-10", layout, book, mangle=False, below_minimum=False)
    col = layout.name_of("contract")
    table = table[table[col].str.startswith("Linked")].head(len(MEETING)).copy()
    table[col] = MEETING
    report = tmp_path / "october.csv"
    report.write_bytes(extract_csv(table))
    out = tmp_path / "upload"
    code, text, err = run(
        capsys, "export", report, "--out", out, "--as-of", AS_OF, "--format", "json"
    )
    assert code == 0, err
    done = json.loads(text)
    names = [Path(f["file"]).name for f in done["file_contracts"]]
    assert sorted(names) == sorted(p.name for p in out.glob("*.csv"))
    assert all(FILE_NAME.fullmatch(n) for n in names), names  # the documented pattern
    folded = {unicodedata.normalize("NFKC", n).casefold() for n in names}
    assert len(folded) == len(MEETING)  # one file each, on any file system
    for f in done["file_contracts"]:  # each file's contract, as said, is the one inside it
        inside = pd.read_csv(f["file"], dtype=str, keep_default_na=False)[col]
        assert set(inside) == {f["contract"]} and len(inside) == f["rows"]
    assert sorted(f["contract"] for f in done["file_contracts"]) == sorted(MEETING)
    # A contract no other meets keeps its plain name.
    plain = {f["contract"]: Path(f["file"]).name for f in done["file_contracts"]}
    assert plain[MEETING[4]].startswith("PMPM_Linked-Metro-MLTC-CDPAP-Community-")
    # Again, in text, into another folder and another ledger (the agency's refuses it twice).
    code, text, _ = run(
        capsys,
        "export",
        report,
        "--out",
        tmp_path / "again",
        "--as-of",
        AS_OF,
        "--ledger",
        tmp_path / "second-ledger.sqlite3",
    )
    assert code == 0
    for contract in plain:  # the text output states each file's contract too
        assert f"contract {contract!r}" in text
    tags = {c: FILE_NAME.fullmatch(n).group(1) for c, n in plain.items()}
    assert tags[LINKED] == f"Linked-Metro-MLTC-CDPAP-{contract_tag(LINKED)}"  # stable


PIECES = st.sampled_from(["a", "A", "é", "É", "e\u0301", " ", "-", ",", "ß", "SS", "Ω", "x" * 39])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=8).map("".join), min_size=1, max_size=12, unique=True))
def test_contract_file_parts_are_unique_ignoring_case_and_normalisation(contracts):
    parts = contract_file_parts(contracts)
    assert set(parts) == set(contracts)
    assert all(re.fullmatch(r"[A-Za-z0-9-]{1,40}", p) for p in parts.values())
    folded = [unicodedata.normalize("NFKC", p).casefold() for p in parts.values()]
    assert len(set(folded)) == len(folded)


@pytest.mark.parametrize(
    "manifest", [b"[1, 2]", b'{"lines": "2"}', b'{"lines": [true]}', b"\xff\xfe", b"<html>"]
)
def test_a_damaged_line_manifest_is_named_not_an_internal_error(
    capsys, tmp_path, extract, manifest
):
    out = tmp_path / "reviewed"
    code, _, err = run(capsys, "review", extract, "--out", out, "--defer", "2", "--as-of", AS_OF)
    assert code == 0, err
    reviewed = next(out.glob("*_reviewed_*.csv"))
    (out / "archive" / f"manifest_{reviewed.name}.json").write_bytes(manifest)
    code, _, err = run(
        capsys, "restore", reviewed, "--archive", out / "archive", "--out", tmp_path / "back"
    )
    assert code == 2 and "line manifest" in err and "internal error" not in err, err
    assert not (tmp_path / "back").exists()
