"""Rows deferred or removed in one month come back in a later month's report."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run
from core_helpers import (
    BILLED,
    HEADER,
    NAME,
    PATIENT,
    SCHED_START,
    UNBILLED,
    VISIT_START,
    csv_bytes,
    valid_row,
)

from xl_pmpm.core.carryover import (
    CARRY,
    RESTORE,
    carry_into,
    carry_over_candidates,
    choose_records,
    outstanding_records,
)
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.review import defer_rows, delete_rows
from xl_pmpm.io import files

MARCH, APRIL = "2025-03", "2025-04"
AS_OF_MARCH = "2025-04-15"


def month_rows(month: str, first: int, n: int) -> list[dict[str, str]]:
    day = f"{month}-01"
    rows = []
    for i in range(first, first + n):
        row = valid_row(i)
        for col in (SCHED_START, VISIT_START, "Schedule End Time", "Visit End Time"):
            row[col] = row[col].replace("2025-03-01", day)
        rows.append(row)
    return rows


@pytest.fixture
def month_one(tmp_path, capsys):
    """March reviewed: lines 3 and 4 deferred (tier at risk), line 5 removed."""
    rows = month_rows(MARCH, 0, 5)
    rows[1][UNBILLED] = "70.00"  # line 3: 100 billed + 70 unbilled would be Tier 2
    rows[2][UNBILLED] = "65.00"
    path = tmp_path / "march.csv"
    path.write_bytes(csv_bytes(HEADER, rows))
    work = tmp_path / "work-march"
    code, _, err = run(
        capsys, "review", str(path), "--defer", "3,4", "--delete", "5",
        "--reason", "hours pending", "--out", str(work), "--as-of", AS_OF_MARCH,
    )  # fmt: skip
    assert code == 0, err
    return path, work / "archive", rows


@pytest.fixture
def april(tmp_path) -> Path:
    path = tmp_path / "april.csv"
    path.write_bytes(csv_bytes(HEADER, month_rows(APRIL, 10, 3)))
    return path


def carry(capsys, archive: Path, *extra: str) -> tuple[int, dict, str]:
    code, out, err = run(
        capsys, "carry-over", "--archive", str(archive), "--format", "json", *extra
    )
    return code, (json.loads(out) if out.strip() else {}), err


def test_deferred_rows_come_back_next_month_once(capsys, tmp_path, month_one, april):
    march, archive, rows = month_one
    # Listed in April with their original values (JSON holds them).
    code, listing, _ = carry(capsys, archive, "--month", APRIL)
    assert code == 0
    assert [(r["line"], r["action"]) for r in listing["rows"]] == [
        (3, "defer"),
        (4, "defer"),
        (5, "delete"),
    ]
    assert listing["rows"][0][PATIENT] == rows[1][PATIENT]
    assert listing["rows"][0][VISIT_START] == "2025-03-01 03:00"  # the value before deferral
    # Not offered for March itself: they were set aside in March.
    assert carry(capsys, archive, "--month", MARCH)[1]["rows"] == []

    # The text listing hides member IDs and names.
    code, text, _ = run(capsys, "carry-over", "--archive", str(archive), "--month", APRIL)
    assert code == 0 and "3 row(s) set aside before 2025-04" in text
    for r in rows:
        assert r[PATIENT] not in text and r[NAME] not in text

    before = hashlib.sha256(april.read_bytes()).hexdigest()
    out = tmp_path / "work-april"
    into = ("--into", str(april), "--out", str(out), "--as-of", "2025-05-02")
    code, done, err = carry(capsys, archive, *into, "--lines", "3,4")
    assert code == 0, err
    # March's rows go to a report of March (their own month, its window open), not April's.
    assert done["month"] == APRIL and done["carried"] == 2
    (march_file,) = done["files"]
    assert march_file["month"] == MARCH and march_file["lines"] == [3, 4]
    assert (march_file["submit_from"], march_file["submit_until"]) == ("2025-04-01", "2025-06-29")
    written = Path(march_file["file"])
    assert written == Path(done["file"]) and f"_{MARCH}_" in written.name
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert hashlib.sha256(april.read_bytes()).hexdigest() == before  # input untouched
    table = files.read_tier_report(written, files.load_layout()).table
    assert list(table[PATIENT]) == [rows[1][PATIENT], rows[2][PATIENT]]
    assert table.at[2, VISIT_START] == "2025-03-01 03:00" and table.at[3, UNBILLED] == "65.00"
    code, text, _ = run(capsys, "carry-over", "--archive", str(archive), *into)
    assert code == 0 and "Fix their dates" not in text  # never: the month is theirs

    # Carried rows are not offered again; the removed row was (carried just now, as text).
    code, listing, _ = carry(capsys, archive, "--month", APRIL)
    assert listing["rows"] == []
    code, _, err = carry(capsys, archive, *into, "--lines", "3")
    assert code == 2 and "not rows waiting" in err and "Traceback" not in err
    # Nothing is left: a second run writes nothing.
    n_files = len(list(out.iterdir()))
    code, done, _ = carry(capsys, archive, *into)
    assert code == 0 and done["carried"] == 0 and len(list(out.iterdir())) == n_files


def test_restored_rows_are_not_carried(capsys, tmp_path, month_one):
    march, archive, _ = month_one
    (reviewed,) = (tmp_path / "work-march").glob("march_reviewed_*.csv")
    code, _, err = run(
        capsys, "restore", str(reviewed), "--archive", str(archive),
        "--out", str(tmp_path / "restored"), "--lines", "5",
    )  # fmt: skip
    assert code == 0, err
    code, listing, _ = carry(capsys, archive, "--month", APRIL)
    assert [r["line"] for r in listing["rows"]] == [3, 4]


def test_bad_usage_is_reported_without_traceback(capsys, tmp_path, month_one, april):
    _, archive, _ = month_one
    code, _, err = carry(capsys, tmp_path / "nowhere")
    assert code == 2 and "archive folder" in err
    code, _, err = carry(capsys, archive, "--into", str(april))
    assert code == 2 and "--into and --out" in err
    code, _, err = carry(capsys, archive, "--lines", "3")
    assert code == 2 and "--out" in err
    code, _, err = carry(capsys, archive, "--out", str(tmp_path / "x"))
    assert code == 2 and "--month" in err
    code, _, err = carry(capsys, archive, "--month", "April")
    assert code == 2 and "YYYY-MM" in err and "Traceback" not in err


# --- the core, on DataFrames --------------------------------------------------------------


def march_archive() -> tuple[pd.DataFrame, pd.DataFrame]:
    from core_helpers import LAYOUT, valid_table

    table = valid_table(4)
    at = datetime(2025, 4, 10, 9, 0)
    _, deferred = defer_rows(table, [3], LAYOUT, reason="r", at=at, source="m.csv", month=MARCH)
    _, deleted = delete_rows(table, [4, 5], reason="r", at=at, source="m.csv", month=MARCH)
    return table, pd.concat([deferred, deleted], ignore_index=True).astype({"line": "int64"})


def test_outstanding_records_drop_restored_and_carried():
    _, archive = march_archive()
    assert list(outstanding_records(archive)["line"]) == [3, 4, 5]
    restored = archive[archive["line"] == 4].assign(action=RESTORE)
    carried = archive[archive["line"] == 5].assign(action=CARRY, reason="carried")
    both = pd.concat([archive, restored, carried], ignore_index=True)
    assert list(outstanding_records(both)["line"]) == [3]
    assert list(outstanding_records(both, settled_by=(RESTORE,))["line"]) == [3, 5]
    # Set aside again later (a new record): outstanding again.
    again = archive[archive["line"] == 4].assign(archived_at="2025-04-11T09:00:00")
    assert list(outstanding_records(pd.concat([both, again]))["line"]) == [3, 4]


def test_candidates_are_of_earlier_months_and_unknown_months():
    _, archive = march_archive()
    archive.loc[archive["line"] == 5, "month"] = ""
    assert list(carry_over_candidates(archive, APRIL)["line"]) == [5, 3, 4]
    assert list(carry_over_candidates(archive, MARCH)["line"]) == [5]
    assert carry_over_candidates(pd.DataFrame(), APRIL).empty


def test_choose_records_refuses_ambiguous_and_unknown_lines():
    _, archive = march_archive()
    other = archive[archive["line"] == 3].assign(source="other.csv")
    both = pd.concat([archive, other], ignore_index=True)
    with pytest.raises(PmpmInputError, match="more than one report"):
        choose_records(both, [3])
    assert len(choose_records(both, [3], source="other.csv")) == 1
    with pytest.raises(PmpmInputError, match="not rows waiting"):
        choose_records(archive, [9])


def test_carry_into_appends_original_values_after_the_last_line():
    table, archive = march_archive()
    new = table.loc[[2, 3]]
    chosen = archive[archive["line"].isin([4, 5])]
    out, records = carry_into(new, chosen, at=datetime(2025, 5, 2), into="april_carried.csv")
    assert list(out.index) == [2, 3, 4, 5]
    assert list(out.loc[[4, 5], PATIENT]) == list(table.loc[[4, 5], PATIENT])
    assert list(out.loc[[4, 5], BILLED]) == list(table.loc[[4, 5], BILLED])
    assert set(records["action"]) == {CARRY}
    assert list(records["archived_at"]) == list(chosen["archived_at"])
    assert records["reason"].str.contains("april_carried.csv").all()
    assert outstanding_records(pd.concat([archive, records], ignore_index=True))[
        "line"
    ].tolist() == [3]


def test_archive_files_stay_owner_only(capsys, month_one):
    _, archive, _ = month_one
    for f in archive.iterdir():
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600


def test_a_deferred_row_exported_as_placeholder_is_not_offered_again(
    capsys, tmp_path, month_one, april, monkeypatch
):
    monkeypatch.delenv("XL_PMPM_LEDGER", raising=False)
    march, archive, rows = month_one
    (reviewed,) = (archive.parent).glob("*_reviewed_*.csv")
    code, _, err = run(
        capsys, "export", str(reviewed), "--out", str(tmp_path / "up"), "--as-of", AS_OF_MARCH
    )
    assert code == 0, err  # lines 3 and 4 went out as placeholders (visit times blank)
    code, listing, _ = carry(capsys, archive, "--month", APRIL)
    assert [r["line"] for r in listing["rows"]] == [5]
    assert [r["line"] for r in listing["placeholders"]] == [3, 4]
    code, text, _ = run(capsys, "carry-over", "--archive", str(archive), "--month", APRIL)
    assert "1 row(s) set aside before 2025-04" in text
    assert "line(s) 3, 4 went out as placeholders" in text
    assert text.count("Confirm the placeholders in HHAeXchange") == 1
    for r in rows:
        assert r[PATIENT] not in text

    out = tmp_path / "carried"
    # After March's window closed: nothing is carried (unbilled lists it as lost).
    code, late, _ = carry(
        capsys, archive, "--into", str(april), "--out", str(out), "--as-of", "2025-07-01"
    )
    assert code == 0 and late["carried"] == 0 and [r["line"] for r in late["closed"]] == [5]
    assert not out.exists()
    code, done, _ = carry(
        capsys, archive, "--into", str(april), "--out", str(out), "--as-of", "2025-05-02"
    )
    assert code == 0 and done["carried"] == 1 and done["files"][0]["month"] == MARCH
    assert [r["line"] for r in done["placeholders"]] == [3, 4]
    table = files.read_tier_report(done["file"], files.load_layout()).table
    assert list(table[PATIENT]) == [rows[3][PATIENT]]
    # Without a new report: the month named, the columns of the report the rows came from.
    code, again, _ = carry(
        capsys, archive, "--month", APRIL, "--out", str(out), "--as-of", "2025-05-02"
    )
    assert code == 0 and again["carried"] == 0  # carried already: not offered twice
    # The carried March row is March's to bill: exported for March, in March's window.
    code, text, err = run(
        capsys, "export", done["file"], "--out", str(tmp_path / "up"), "--as-of", "2025-05-02"
    )
    assert code == 0, text + err


def test_an_empty_archive_folder_has_nothing_to_carry(capsys, tmp_path, april):
    """Found by the model test: an archive folder with no record was an internal error."""
    (tmp_path / "archive").mkdir()
    for extra in ((), ("--into", str(april), "--out", str(tmp_path / "out"))):
        code, done, err = carry(capsys, tmp_path / "archive", "--as-of", "2025-05-02", *extra)
        assert code == 0 and not err and done["rows" if not extra else "carried"] in ([], 0)
