"""KPIs from the export ledger (seed 003), on a ledger written through the real export path.

The ledger, member by member (rates: the bundled table, in force in 2025):

2025-03  m0 Tier 1  default payer       146.45
         m1 Tier 2  default payer       387.84   rejected by the import: not counted
         m2 Tier 3  default payer     1,046.36
         m3 Tier 1  Elderplan           146.45   (Elderplan has no rates of its own)
         m4 Tier 2  Sample Health Plan  395.00   (its own rate)
2025-04  m0 Tier 2  default payer       387.84
         m2 Tier 3  default payer     1,046.36
         m3 Tier 1  Elderplan           146.45
         m5 Tier 1, then a correction exported it as Tier 2: 387.84 counts, once
         m6 Tier 3  pending (file never confirmed): not counted
2025-06  m0 Tier 1  default payer       146.45   (nothing in May)
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run
from core_helpers import (
    BILLED,
    BOOK,
    CONTRACT,
    HEADER,
    LAYOUT,
    PATIENT,
    SCHED_END,
    SCHED_START,
    SERVICE,
    TIER,
    VISIT_END,
    VISIT_START,
    valid_row,
)

from xl_pmpm.core import kpi
from xl_pmpm.core.export import ExportPart
from xl_pmpm.io import ledger, workflow

ELDERPLAN = "Elderplan MLTC CDPAP"
SAMPLE_PLAN = "Sample Health Plan MLTC"
TIERS = {1: ("100.00", "2443"), 2: ("200.00", "2444"), 3: ("500.00", "2445")}


def member(i: int, tier: int, month: str, contract: str | None = None) -> dict[str, str]:
    hours, code = TIERS[tier]
    if contract == SAMPLE_PLAN:
        code = f"SHP-T{tier}"
    stamps = {
        SCHED_START: f"{month}-01 03:00",
        SCHED_END: f"{month}-01 03:15",
        VISIT_START: f"{month}-01 03:00",
        VISIT_END: f"{month}-01 03:15",
    }
    extra = {CONTRACT: contract} if contract else {}
    return valid_row(i, **{BILLED: hours, TIER: str(tier), SERVICE: code, **stamps, **extra})


def deferred(row: dict[str, str]) -> dict[str, str]:
    return {**row, VISIT_START: "", VISIT_END: ""}


def table_of(rows: list[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=HEADER, dtype=str)
    frame.index = pd.RangeIndex(2, len(rows) + 2, name="line")
    return frame


def export(db: Path, out: Path, rows: list[dict[str, str]], month: str, as_of: date, **kw):
    at = datetime.combine(as_of, datetime.min.time())
    return workflow.export_import_file(
        table_of(rows), out, LAYOUT, BOOK, month=month, as_of=as_of, at=at, ledger=db, **kw
    )


@pytest.fixture(scope="module")
def ledger_db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kpi")
    db, out = root / "private" / "ledger.sqlite3", root / "out"
    march = [
        member(0, 1, "2025-03"),
        member(1, 2, "2025-03"),
        member(2, 3, "2025-03"),
        member(3, 1, "2025-03", ELDERPLAN),
        member(4, 2, "2025-03", SAMPLE_PLAN),
    ]
    export(db, out, march, "2025-03", date(2025, 4, 15))
    rejected = pd.DataFrame(
        {
            "patient_number": [march[1][PATIENT]],
            "contract": [march[1][CONTRACT]],
            "month": ["2025-03"],
            "reason": ["Invalid Service Code"],
        }
    )
    assert ledger.mark_rejected(db, rejected)["id"].notna().all()

    april = [
        member(0, 2, "2025-04"),
        member(2, 3, "2025-04"),
        member(3, 1, "2025-04", ELDERPLAN),
        member(5, 1, "2025-04"),
    ]
    export(db, out, april, "2025-04", date(2025, 5, 15))
    corrected = table_of([member(5, 2, "2025-04")])
    export(db, out, [member(5, 2, "2025-04")], "2025-04", date(2025, 5, 16), corrections=[2])

    pending = table_of([member(6, 3, "2025-04")])
    flags = pd.DataFrame({"tier": [3], "rate": [1046.36]}, index=pending.index)
    part = ExportPart("PMPM_never_linked.csv", b"", pending.at[2, CONTRACT], [2])
    ledger.record_export(
        db, [part], pending, flags, "2025-04", datetime(2025, 5, 17), status=ledger.PENDING
    )

    export(db, out, [member(0, 1, "2025-06")], "2025-06", date(2025, 7, 15))
    # A deferred row: exported as a placeholder (visit times blank), not billed.
    export(db, out, [deferred(member(7, 3, "2025-06"))], "2025-06", date(2025, 7, 16))
    assert corrected.at[2, PATIENT] == april[3][PATIENT]
    return db


@pytest.fixture(scope="module")
def history(ledger_db: Path) -> pd.DataFrame:
    entries = ledger.history(ledger_db)
    assert entries["status"].value_counts().to_dict() == {
        "exported": 11,
        "rejected": 1,
        "pending": 1,
    }
    assert entries.loc[entries["placeholder"] == 1, "patient_number"].tolist() == [
        valid_row(7)[PATIENT]
    ]
    return entries


@pytest.fixture(scope="module")
def tables(history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return kpi.kpi_tables(history, BOOK)


def rows(frame: pd.DataFrame) -> list[list]:
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def test_tables_have_stable_keys_and_plain_columns(tables: dict[str, pd.DataFrame]) -> None:
    assert list(tables) == list(kpi.KPI_TABLES) == ["by_month", "by_tier", "tier_mix", "by_payer"]
    for name, frame in tables.items():
        assert list(frame.columns) == kpi.KPI_COLUMNS[name]
        assert isinstance(frame.index, pd.RangeIndex)


def test_revenue_per_member_per_month(tables: dict[str, pd.DataFrame]) -> None:
    # March: 146.45 + 1046.36 + 146.45 + 395.00 = 1734.26 over 4 = 433.565, half up.
    # April: 387.84 + 1046.36 + 146.45 + 387.84 = 1968.49 over 4 = 492.1225.
    assert rows(tables["by_month"]) == [
        ["2025-03", 4, 1734.26, 433.57],
        ["2025-04", 4, 1968.49, 492.12],
        ["2025-06", 1, 146.45, 146.45],
    ]


def test_members_and_revenue_by_tier(tables: dict[str, pd.DataFrame]) -> None:
    assert rows(tables["by_tier"]) == [
        ["2025-03", 1, 2, 292.9],
        ["2025-03", 2, 1, 395.0],
        ["2025-03", 3, 1, 1046.36],
        ["2025-04", 1, 1, 146.45],
        ["2025-04", 2, 2, 775.68],
        ["2025-04", 3, 1, 1046.36],
        ["2025-06", 1, 1, 146.45],
    ]


def test_tier_mix_month_over_month(tables: dict[str, pd.DataFrame]) -> None:
    # No change for March (nothing in February) nor June (nothing in May).
    assert rows(tables["tier_mix"]) == [
        ["2025-03", 1, 2, 0.5, None],
        ["2025-03", 2, 1, 0.25, None],
        ["2025-03", 3, 1, 0.25, None],
        ["2025-04", 1, 1, 0.25, -0.25],
        ["2025-04", 2, 2, 0.5, 0.25],
        ["2025-04", 3, 1, 0.25, 0.0],
        ["2025-06", 1, 1, 1.0, None],
        ["2025-06", 2, 0, 0.0, None],
        ["2025-06", 3, 0, 0.0, None],
    ]


def test_by_payer_from_the_contract_patterns(tables: dict[str, pd.DataFrame]) -> None:
    # March default payer: 146.45 + 1046.36 = 1192.81 over 2 = 596.405, half up.
    # April default payer: 387.84 + 1046.36 + 387.84 = 1822.04 over 3 = 607.3467.
    assert rows(tables["by_payer"]) == [
        ["2025-03", "*", 2, 1192.81, 596.41],
        ["2025-03", "Elderplan", 1, 146.45, 146.45],
        ["2025-03", "Sample Health Plan", 1, 395.0, 395.0],
        ["2025-04", "*", 3, 1822.04, 607.35],
        ["2025-04", "Elderplan", 1, 146.45, 146.45],
        ["2025-06", "*", 1, 146.45, 146.45],
    ]


def test_without_a_rate_book_every_contract_is_the_default_payers(history) -> None:
    by_payer = kpi.kpi_tables(history)["by_payer"]
    assert rows(by_payer[["month", "payer", "members"]]) == [
        ["2025-03", "*", 4],
        ["2025-04", "*", 4],
        ["2025-06", "*", 1],
    ]


def test_only_the_latest_exported_entry_of_a_member_month_counts(history) -> None:
    billed = kpi.billed_member_months(history, BOOK)
    assert len(billed) == 9
    m5 = valid_row(5)[PATIENT]
    assert billed.loc[billed["patient_number"] == m5, ["tier", "rate"]].values.tolist() == [
        [2, 387.84]
    ]
    # rejected, pending, placeholder
    left_out = {valid_row(1)[PATIENT], valid_row(6)[PATIENT], valid_row(7)[PATIENT]}
    assert not set(billed["patient_number"]) & left_out


def test_an_empty_ledger_gives_empty_tables_with_their_columns(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    ledger.init(db)
    tables = kpi.kpi_tables(ledger.history(db), BOOK)
    for name, frame in tables.items():
        assert frame.empty and list(frame.columns) == kpi.KPI_COLUMNS[name]


# --- xl-pmpm kpi ---------------------------------------------------------------------------


def test_kpi_command_json(capsys, ledger_db: Path) -> None:
    code, out, _ = run(capsys, "kpi", "--ledger", str(ledger_db), "--format", "json")
    assert code == 0
    payload = json.loads(out)
    assert payload["entries"] == {"pending": 1, "exported": 10, "rejected": 1, "placeholder": 1}
    assert payload["by_month"][0] == {
        "month": "2025-03",
        "members": 4,
        "revenue": 1734.26,
        "revenue_per_member": 433.57,
    }
    assert payload["tier_mix"][3] == {
        "month": "2025-04",
        "tier": 1,
        "members": 1,
        "share": 0.25,
        "share_change": -0.25,
    }
    assert [r["payer"] for r in payload["by_payer"]][:3] == ["*", "Elderplan", "Sample Health Plan"]


def test_kpi_command_text_has_totals_and_no_member(capsys, ledger_db: Path, history) -> None:
    code, out, err = run(capsys, "kpi", "--ledger", str(ledger_db))
    assert code == 0 and err == ""
    assert (
        "10 exported entries counted (not counted: 1 pending, 1 rejected, 1 placeholder(s))." in out
    )
    for text in ("433.57", "1,734.26", "25.0%", "-25.0 pts", "Sample Health Plan"):
        assert text in out, text
    for patient in history["patient_number"]:
        assert patient not in out


def test_kpi_command_payers_file_changes_the_payer(capsys, ledger_db: Path, tmp_path) -> None:
    payers = tmp_path / "payers.csv"
    payers.write_text(
        "payer,contracts,hours_basis,claim_dates\n*,,utilized,month\nMetro,Linked*,utilized,month\n",
        encoding="utf-8",
    )
    argv = ["kpi", "--ledger", str(ledger_db), "--payers", str(payers), "--format", "json"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    by_payer = json.loads(out)["by_payer"]
    assert [(r["month"], r["payer"], r["members"]) for r in by_payer] == [
        ("2025-03", "*", 2),  # Elderplan and Sample Health Plan contracts: no pattern now
        ("2025-03", "Metro", 2),
        ("2025-04", "*", 1),
        ("2025-04", "Metro", 3),
        ("2025-06", "Metro", 1),
    ]


def test_kpi_command_on_an_empty_ledger(capsys, tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    ledger.init(db)
    code, out, _ = run(capsys, "kpi", "--ledger", str(db))
    assert code == 0
    assert "Nothing exported yet" in out


@pytest.mark.parametrize("kind", ["missing", "folder", "not-a-database", "other-program"])
def test_kpi_command_unreadable_ledger_exits_2(capsys, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ledger.sqlite3"
    if kind == "folder":
        path.mkdir()
    elif kind == "not-a-database":
        path.write_bytes(b"member,month\n0001000001,2025-03\n" * 100)
    elif kind == "other-program":  # another program's SQLite database: never written to
        with sqlite3.connect(path) as other:
            other.execute("CREATE TABLE notes (member TEXT)")
        other.close()
    before = path.read_bytes() if path.is_file() else None
    code, out, err = run(capsys, "kpi", "--ledger", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: ")
    expected = {
        "missing": "not found",
        "folder": "folder",
        "not-a-database": "Not an xl-pmpm ledger",
        "other-program": "Not an xl-pmpm ledger: the database has no exports table.",
    }
    assert expected[kind] in err
    assert (path.read_bytes() if path.is_file() else None) == before
    assert "Give --ledger the ledger file" in err and "Traceback" not in err
    assert "0001000001" not in err
    assert not (kind == "missing" and path.exists())  # reading never creates a ledger
