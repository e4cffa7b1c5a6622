"""Issue 14, what the corpus cannot hold: IDs across files, folders and disks, the ledger.

The file-level classes (invisible characters, Excel errors, hidden sheets and rows,
impossible numbers and years, true messages) are corpus files (tests/corpus/); here
the same member across exports and carry-over, `--out` naming a file, a folder that
cannot be written, a full disk, a ledger that cannot be written, a damaged ledger
and its backup, each through `xl-pmpm`, never an exit 3.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.sample import extract_csv, generate_extract
from xl_pmpm.cli import app as cli
from xl_pmpm.core.carryover import already_in_report
from xl_pmpm.core.values import (
    _INVISIBLE_RANGES,
    INVISIBLE,
    SPACE,
    member_key,
    strip_invisible,
)
from xl_pmpm.io import files, ledger
from xl_pmpm.io.ledger import LEDGER_ENV, default_ledger
from xl_pmpm.io.ledger import _recording as ledger_files

AS_OF = "2026-11-05"
LAYOUT, BOOK = files.load_layout(), files.load_rate_book()
PID = "Patient Number"


@pytest.fixture(autouse=True)
def no_env_ledger(monkeypatch):
    monkeypatch.delenv(LEDGER_ENV, raising=False)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_extract(8, "2026-10", LAYOUT, BOOK, mangle=False, below_minimum=False)


def write(path: Path, table: pd.DataFrame) -> Path:
    path.write_bytes(extract_csv(table))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def export(capsys, file: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "export", str(file), "--out", str(out), "--as-of", AS_OF, *extra)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- one ID normalisation -----------------------------------------------------------------


def test_member_key_sees_one_member_through_invisible_and_look_alike_characters():
    ids = pd.Series(
        ["0123", "0123\u2060", "\ufeff0123", "01\u200b23", "０１２３", "٠١٢٣", " 0123\u00a0"]
    )
    assert set(member_key(ids)) == {"0123"}
    assert member_key(pd.Series(["0123", "0124"])).tolist() == ["0123", "0124"]


def test_arrow_and_python_read_the_character_classes_alike_in_every_range():
    """The invisible-character and whitespace classes run in Arrow's RE2 on text columns
    and in Python's re on single values: both must see every code point alike (the
    whitespace class as Python's own `\\s`)."""
    edges = {c + d for a, b in _INVISIBLE_RANGES for c in (a, b) for d in (-1, 0, 1)}
    points = sorted(  # all of the BMP, and each edge of the ranges above it
        c
        for c in set(range(0x10000)) | edges
        if c >= 0 and not 0xD800 <= c <= 0xDFFF  # surrogates are no text
    )
    text = pd.Series([f"a{chr(c)}b" for c in points], dtype="str")
    for arrow_class, python_class in ((INVISIBLE, INVISIBLE), (SPACE, r"\s")):
        arrow = text.str.contains(arrow_class, regex=True).to_numpy(bool)
        python = np.array([bool(re.search(python_class, v)) for v in text])
        assert (arrow == python).all(), arrow_class
    invisible = np.array([any(a <= c <= b for a, b in _INVISIBLE_RANGES) for c in points])
    assert (text.str.contains(INVISIBLE, regex=True).to_numpy(bool) == invisible).all()
    assert (strip_invisible(text[invisible]) == "ab").all()


@pytest.mark.parametrize(
    "disguise",
    [lambda v: v + "\u2060", lambda v: "\ufeff" + v, lambda v: v[:2] + "\u200b" + v[2:]],
    ids=["word-joiner", "bom", "zero-width-space"],
)
def test_the_ledger_knows_a_member_behind_an_invisible_character(capsys, tmp_path, frame, disguise):
    out = tmp_path / "upload"
    assert export(capsys, write(tmp_path / "a.csv", frame), out)[0] == 0
    again = frame.copy()
    again[PID] = again[PID].map(disguise)
    code, text, _ = run(
        capsys,
        "validate",
        str(write(tmp_path / "b.csv", again)),
        "--ledger",
        str(default_ledger()),
        "--as-of",
        AS_OF,
        "--format",
        "json",
    )
    found = json.loads(text)
    codes = [f["code"] for f in found["errors"]]
    assert code == 1
    assert codes.count("already-exported") == len(frame)
    assert codes.count("invisible-character") == len(frame)


def test_the_ledger_knows_a_member_in_full_width_digits(capsys, tmp_path, frame):
    out = tmp_path / "upload"
    assert export(capsys, write(tmp_path / "a.csv", frame), out)[0] == 0
    wide = frame.copy()
    wide[PID] = wide[PID].str.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    code, _, err = export(capsys, write(tmp_path / "b.csv", wide), out)
    history = ledger.history(default_ledger())
    assert code == 1 and "already-exported" in err + _
    assert len(history) == len(frame)  # nothing billed twice


def test_carry_over_compares_ids_as_the_ledger_does(frame):
    chosen = frame.iloc[:3].copy()
    chosen[PID] = chosen[PID] + "\u2060"
    chosen.iloc[2, chosen.columns.get_loc(PID)] = "9999999999"
    assert already_in_report(frame, chosen, PID).tolist() == [True, True, False]


# --- folders and disks: exit 2 naming the folder, nothing half-written ----------------------


def test_out_naming_an_existing_file_is_an_exit_2_message(capsys, tmp_path, frame):
    report = write(tmp_path / "a.csv", frame)
    target = tmp_path / "not_a_folder.csv"
    target.write_text("mine")
    for extra in ((), ("--no-ledger",)):
        code, _, err = export(capsys, report, target, *extra)
        assert code == 2
        assert str(target) in err and "is a file, not a folder" in err
    assert target.read_text() == "mine"


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EACCES, errno.EROFS])
@pytest.mark.parametrize("with_ledger", [True, False])
def test_a_full_disk_or_unwritable_folder_is_exit_2_and_leaves_nothing(
    capsys, tmp_path, frame, monkeypatch, failure, with_ledger
):
    real_open = os.open
    calls = {"n": 0}

    def failing_open(path, flags, *args):
        if str(path).endswith((".pending", ".tmp")) and not str(path).endswith(".backup.tmp"):
            calls["n"] += 1
            if calls["n"] == 2:  # the second file: the first one is already on disk
                raise OSError(failure, "simulated", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", failing_open)  # files.py and the ledger write through it
    out = tmp_path / "upload"
    extra = () if with_ledger else ("--no-ledger",)
    code, _, err = export(capsys, write(tmp_path / "a.csv", frame), out, *extra)
    assert code == 2, err
    assert str(out) in err and "nothing was written" in err
    assert not list(out.glob("*.csv")) and not list(out.glob(".*"))
    if with_ledger:
        assert ledger.history(default_ledger()).empty


def test_a_ledger_that_cannot_be_written_leaves_no_pending_files(
    capsys, tmp_path, frame, monkeypatch
):
    def read_only(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    # The export records its rows through ledger_files (one transaction that checks
    # and records): the insert is where a read-only ledger refuses.
    monkeypatch.setattr(ledger_files, "insert_entries", read_only)
    out = tmp_path / "upload"
    code, _, err = export(capsys, write(tmp_path / "a.csv", frame), out)
    assert code == 2 and "readonly" in err
    assert not [n for n in leftovers(out) if n.endswith((".pending", ".csv"))]


# --- the ledger: damage named, a backup before each export ----------------------------------


def test_each_export_keeps_a_backup_of_the_ledger_before_it(capsys, tmp_path, frame):
    out = tmp_path / "upload"
    db = default_ledger()
    assert export(capsys, write(tmp_path / "a.csv", frame.iloc[:4]), out)[0] == 0
    assert not ledger.backup_path(db).exists()  # nothing to back up before the first
    assert export(capsys, write(tmp_path / "b.csv", frame.iloc[4:]), out)[0] == 0
    backup = ledger.backup_path(db)
    assert backup.stat().st_mode & 0o777 == 0o600
    assert len(ledger.history(backup)) == 4  # the ledger as it was before the second export
    assert len(ledger.history(db)) == len(frame)


def test_a_damaged_ledger_is_called_damaged_with_how_to_restore_it(capsys, tmp_path, frame):
    out = tmp_path / "upload"
    db = default_ledger()
    assert export(capsys, write(tmp_path / "a.csv", frame.iloc[:4]), out)[0] == 0
    assert export(capsys, write(tmp_path / "b.csv", frame.iloc[4:]), out)[0] == 0
    data = bytearray(db.read_bytes())
    data[:100] = b"\x00" * 100  # the header page overwritten (a bad sector, a half copy)
    db.write_bytes(bytes(data))
    code, _, err = run(capsys, "history", "--ledger", str(db))
    assert code == 2
    assert "damaged" in err and "Not an xl-pmpm ledger" not in err
    assert ledger.backup_path(db).name in err and "Do not start a new ledger" in err
    backup_before = ledger.backup_path(db).read_bytes()
    code, _, err = export(capsys, write(tmp_path / "c.csv", frame.iloc[:1]), out)
    assert code == 2 and "damaged" in err
    assert ledger.backup_path(db).read_bytes() == backup_before  # never replaced by damage


def test_another_programs_database_is_still_not_a_ledger(capsys, tmp_path):
    other = tmp_path / "contacts.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    code, _, err = run(capsys, "history", "--ledger", str(other))
    assert code == 2 and "Not an xl-pmpm ledger" in err
    text = tmp_path / "notes.sqlite3"
    text.write_text("not a database at all, " * 100)
    code, _, err = run(capsys, "history", "--ledger", str(text))
    assert code == 2 and "Not an xl-pmpm ledger" in err


@pytest.mark.parametrize("name", ["tier_two_to_the_63.csv", "year_9999.csv", "year_0001.csv"])
def test_impossible_numbers_leave_stderr_empty(name):
    """No exit 3, and no pandas RuntimeWarning on stderr (warnings shown as by default)."""
    import os
    import subprocess
    import sys

    path = Path(__file__).resolve().parents[1] / "corpus" / "files" / name
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-m", "xl_pmpm.cli", "validate", str(path), "--as-of", AS_OF],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr == ""


def test_a_numeric_id_under_a_retyped_header_is_read(tmp_path):
    """The width rule finds its column by position, whatever the header's spelling."""
    import openpyxl

    from xl_pmpm.core.validation import validate_report

    table = generate_extract(6, "2026-10", LAYOUT, BOOK, mangle=False, below_minimum=False)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "All"
    ws.append(["agency id", *table.columns[1:]])
    for row in table.itertuples(index=False):
        ws.append([int(row[0]), *row[1:]])
    path = tmp_path / "report.xlsx"
    wb.save(path)
    report = files.read_tier_report(path, LAYOUT)
    validation, _ = validate_report(report, LAYOUT, BOOK)
    mangled = validation.findings[validation.findings["code"] == "id-mangled"]
    assert len(mangled) == len(table) and set(mangled["severity"]) == {"warning"}
    assert "header-variant" in set(validation.findings["code"])
