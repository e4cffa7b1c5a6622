"""Unbilled PMPM: crafted months through `xl-pmpm unbilled` and the core functions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from visits_files import (
    HEADER,
    OTHER,
    PLAN,
    build_report,
    report_lines,
    run,
    run_json,
    visits_rows,
    write_visits,
)

from xl_pmpm.cli.app import main
from xl_pmpm.core.claims import submission_window
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.kpi import billed_vs_earned
from xl_pmpm.core.unbilled import (
    DEFERRED,
    DELETED,
    DENIED_OR_UNDERPAID,
    NEVER_EXPORTED,
    PLACEHOLDER,
    REASONS,
    REJECTED_REASON,
    combine_member_month_hours,
    earned_member_months,
    find_unbilled,
    member_month_hours,
)
from xl_pmpm.core.visits import normalize_visits
from xl_pmpm.io import files, ledger
from xl_pmpm.io.visits_reader import load_mapping

MAPPING = load_mapping()
BOOK = files.load_rate_book()
# --- one crafted history covering every reason ---------------------------------------------

SEPT, OCT = "2026-09", "2026-10"
A, B, C, D, E = "0000000101", "0000000102", "0000000103", "0000000104", "0000000105"
F, G = "0000000201", "0000000206"


@pytest.fixture
def history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    """September: A exported, B missing from the extract, C rejected, D exported as a
    placeholder, E deleted in review. October: F never exported, G deferred in review
    (the reviewed file not exported yet)."""
    sept_all = (
        visits_rows(A, SEPT, 20, 8.5)  # 170 h: tier 2
        + visits_rows(B, SEPT, 10, 4)  # 40 h: tier 1 (late timesheets)
        + visits_rows(C, SEPT, 25, 20)  # 500 h: tier 3
        + visits_rows(D, SEPT, 5, 2)  # 10 h: tier 1
        + visits_rows(E, SEPT, 2, 1)  # 2 h: tier 1
    )
    oct_all = visits_rows(F, OCT, 10, 4) + visits_rows(G, OCT, 20, 9)  # tier 1, tier 2
    full_sept = write_visits(tmp_path / "visits_sept.csv", sept_all)
    full_oct = write_visits(tmp_path / "visits_oct.csv", oct_all)
    early = write_visits(tmp_path / "extract_sept.csv", [r for r in sept_all if r[2] != B])
    reports, exports = tmp_path / "reports", tmp_path / "exports"
    db = exports / "ledger.sqlite3"

    sept_report = build_report(capsys, early, SEPT, reports)
    lines = report_lines(sept_report)
    code, reviewed = run_json(
        capsys,
        "review",
        sept_report,
        "--delete",
        lines[E],
        "--defer",
        lines[D],
        "--out",
        reports,
        "--archive",
        tmp_path / "archive",
    )
    assert code == 0, reviewed
    code, done = run_json(
        capsys,
        "export",
        reviewed["file"],
        "--out",
        exports,
        "--ledger",
        db,
        "--as-of",
        "2026-10-05",
    )
    assert code == 0, done
    ledger.mark_rejected(
        db,
        pd.DataFrame(
            {"patient_number": [C], "contract": [PLAN], "month": [SEPT], "reason": ["Invalid"]}
        ),
    )
    oct_report = build_report(capsys, full_oct, OCT, reports)
    code, _ = run_json(
        capsys,
        "review",
        oct_report,
        "--defer",
        report_lines(oct_report)[G],
        "--out",
        reports,
        "--archive",
        tmp_path / "archive",
    )
    assert code == 0
    return {
        "visits": [full_sept, full_oct],
        "db": db,
        "archive": tmp_path / "archive",
        "sept_report": sept_report,
        "out": tmp_path / "back",
        "exports": exports,
    }


def unbilled_args(h: dict, *more: str) -> list:
    return ["unbilled", *h["visits"], "--ledger", h["db"], "--archive", h["archive"], *more]


def test_each_reason_code_is_found(history: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code, payload = run_json(capsys, *unbilled_args(history, "--as-of", "2026-11-20"))
    assert code == 1
    reasons = {r["patient_number"]: r["reason"] for r in payload["recoverable"]}
    assert reasons == {
        B: NEVER_EXPORTED,
        C: REJECTED_REASON,
        D: PLACEHOLDER,
        E: DELETED,
        F: NEVER_EXPORTED,
        G: DEFERRED,
    }
    # every reason but the 835's (tests/core/test_remittance_unbilled.py)
    assert set(REASONS) - {DENIED_OR_UNDERPAID} == set(reasons.values())
    rows = {r["patient_number"]: r for r in payload["recoverable"]}
    assert rows[C]["tier"] == 3 and rows[C]["rate_code"] == "2445" and rows[C]["rate"] == 1046.36
    assert rows[B]["billed_hours"] == 40.0 and rows[B]["contract"] == PLAN
    assert rows[B]["submit_from"] == "2026-10-01" and rows[B]["submit_until"] == "2026-12-29"
    assert rows[B]["days_left"] == 39 and rows[F]["days_left"] == 70
    # Sorted by days left: September's before October's.
    assert [r["month"] for r in payload["recoverable"]] == [SEPT] * 4 + [OCT] * 2
    t = payload["totals"]
    assert t["recoverable_member_months"] == 6 and t["recoverable_members"] == 6
    assert t["recoverable_dollars"] == round(146.45 * 4 + 1046.36 + 387.84, 2)
    assert t["nearest_deadline"] == "2026-12-29" and t["nearest_days_left"] == 39
    assert t["earned_member_months"] == 7 and t["confirmed_member_months"] == 1
    assert payload["lost"] == []


def test_text_has_totals_first_and_no_member(
    history: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, *unbilled_args(history, "--as-of", "2026-11-20"))
    assert code == 1
    first = out.splitlines()[1]
    assert first.strip().startswith("Recoverable: $2,020.00 in 6 member-month(s) of 6 member(s)")
    assert "nearest deadline 2026-12-29 (39 day(s) left, 2026-09)" in first
    for pid in (A, B, C, D, E, F, G):
        assert pid not in out and f"Member {pid[-3:]}" not in out
    for code_name in set(REASONS) - {DENIED_OR_UNDERPAID}:
        assert code_name in out


def test_without_the_archive_set_aside_rows_are_never_exported(
    history: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    _, payload = run_json(
        capsys, "unbilled", *history["visits"], "--ledger", history["db"], "--as-of", "2026-11-20"
    )
    reasons = {r["patient_number"]: r["reason"] for r in payload["recoverable"]}
    assert reasons[E] == NEVER_EXPORTED and reasons[G] == NEVER_EXPORTED
    assert reasons[C] == REJECTED_REASON and reasons[D] == PLACEHOLDER


def test_brought_back_with_into_and_exported_are_no_longer_listed(
    history: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    h = history
    code, payload = run_json(
        capsys,
        *unbilled_args(h, "--as-of", "2026-11-20", "--into", h["sept_report"], "--out", h["out"]),
    )
    assert code == 1
    into = payload["into"]
    assert into["month"] == SEPT and into["brought_back"] == 1
    # A was exported: left out. C (rejected), D (placeholder only) and E (deleted) keep
    # the report's rows; B, missing from the extract, is built from the visits.
    assert into["left_out_exported"] == 1 and into["kept_from_report"] == 3
    written = Path(into["file"])
    assert written.parent == h["out"]
    new = pd.read_csv(written, dtype=str, keep_default_na=False)
    assert list(new.columns) == list(pd.read_csv(h["sept_report"], nrows=0).columns)
    assert list(new["Patient Number"]) == [C, D, E, B]
    back = new.iloc[-1]
    assert back["Billed Hours"] == "40.00" and back["Tier"] == "1"
    assert back["Visit Start Time"] == "2026-09-01 03:00"

    export = ["export", written, "--out", h["exports"], "--ledger", h["db"]]
    code, refused = run_json(capsys, *export, "--as-of", "2026-11-20")
    # D's placeholder is still open in HHAeXchange (seed 001): confirm it there, or, once
    # it was removed there, export D's row as a correction.
    assert code == 1
    (open_placeholder,) = [e for e in refused["errors"] if e["code"] == "placeholder-open"]
    line = open_placeholder["row"]
    assert new["Patient Number"].iloc[line - 2] == D
    code, done = run_json(capsys, *export, "--as-of", "2026-11-20", "--correction", str(line))
    assert code == 0, done
    code, after = run_json(capsys, *unbilled_args(h, "--as-of", "2026-11-20"))
    assert code == 1  # October's two are still there
    assert {r["patient_number"] for r in after["recoverable"]} == {F, G}
    # The ledger still refuses a second export of the same rows.
    code, refused = run_json(
        capsys,
        "export",
        written,
        "--out",
        h["exports"],
        "--ledger",
        h["db"],
        "--as-of",
        "2026-11-20",
    )
    assert code == 1 and refused["refused"]
    assert {f["code"] for f in refused["errors"]} == {"already-exported"}
    # Brought back again: nothing left to bring, nothing written.
    code, again = run_json(
        capsys, *unbilled_args(h, "--as-of", "2026-11-20", "--into", written, "--out", h["out"])
    )
    assert again["into"]["file"] is None and again["into"]["kept_from_report"] == 0
    assert len(list(h["out"].iterdir())) == 1


def test_into_a_report_of_another_month_is_refused(
    history: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    h = history
    args = unbilled_args(h, "--month", "2026-10", "--into", h["sept_report"], "--out", h["out"])
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and "The report is for 2026-09, not 2026-10" in err
    assert not h["out"].exists()


def test_month_filter_and_not_yet_open(history: dict, capsys: pytest.CaptureFixture[str]) -> None:
    # On 2026-10-20 October's window has not opened: not listed, only counted.
    code, payload = run_json(capsys, *unbilled_args(history, "--as-of", "2026-10-20"))
    assert code == 1
    assert {r["month"] for r in payload["recoverable"]} == {SEPT}
    assert payload["totals"]["not_yet_open_member_months"] == 2
    code, payload = run_json(
        capsys, *unbilled_args(history, "--as-of", "2026-11-20", "--month", "2026-10")
    )
    assert {r["month"] for r in payload["recoverable"]} == {OCT}


def test_lost_listed_apart_and_exit_zero_when_nothing_recoverable(
    history: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2027-01-15: September's window closed on 2026-12-29; October's closes 2027-01-29.
    code, payload = run_json(capsys, *unbilled_args(history, "--as-of", "2027-01-15"))
    assert {r["month"] for r in payload["lost"]} == {SEPT}
    assert {r["month"] for r in payload["recoverable"]} == {OCT}
    assert payload["totals"]["lost_dollars"] == round(146.45 * 3 + 1046.36, 2)
    assert all(r["days_left"] < 0 for r in payload["lost"])
    code, out = run(capsys, *unbilled_args(history, "--as-of", "2027-02-01"))
    assert code == 0
    assert "Recoverable: $0.00 in 0 member-month(s)" in out
    assert "Lost (past the submission window): $2,020.00 in 6 member-month(s)" in out


def test_without_a_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XL_PMPM_LEDGER", raising=False)
    visits = write_visits(tmp_path / "v.csv", visits_rows(A, SEPT, 3, 1))
    code, out = run(capsys, "unbilled", visits, "--as-of", "2026-10-01")
    from xl_pmpm.io.ledger import default_ledger

    assert code == 1 and f"no ledger at {default_ledger()}: nothing counts as exported" in out
    # A ledger named but missing is an error, not an empty ledger.
    code = main(["unbilled", str(visits), "--ledger", str(tmp_path / "nope.sqlite3")])
    err = capsys.readouterr().err
    assert code == 2 and "No ledger here" in err and "Traceback" not in err


def test_bad_visits_cell_names_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = visits_rows(A, SEPT, 3, 1)
    rows[1][6] = "7:30"
    visits = write_visits(tmp_path / "v.csv", rows)
    code = main(["unbilled", str(visits), "--ledger", str(tmp_path / "l.sqlite3")])
    err = capsys.readouterr().err
    assert code == 2 and "line 3" in err and "Hours" in err and "7:30" in err


def test_into_needs_out(history: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(a) for a in unbilled_args(history, "--into", history["sept_report"])])
    assert code == 2 and "--into and --out go together" in capsys.readouterr().err


# --- the core: the window edge, leap years, contracts, the payer's days ---------------------


def normalized(rows: list[list]) -> pd.DataFrame:
    raw = pd.DataFrame(rows, columns=HEADER)
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    return normalize_visits(raw, MAPPING, "crafted.csv")


@pytest.mark.parametrize(
    ("month", "last_day"),
    [
        ("2024-02", date(2024, 5, 29)),  # leap February: 29 days, then 90
        ("2023-02", date(2023, 5, 29)),  # 28 days
        ("2023-12", date(2024, 3, 30)),  # the 90 days run through 2024-02-29
        ("2022-12", date(2023, 3, 31)),  # ... and through a 28-day February
        ("2023-11", date(2024, 2, 28)),
    ],
)
def test_the_90th_day_is_the_last_recoverable_one(month: str, last_day: date) -> None:
    assert submission_window(month)[1] == last_day
    earned = earned_member_months(normalized(visits_rows(A, month, 2, 1)), BOOK)
    on_last = find_unbilled(earned, None, BOOK, last_day)
    assert len(on_last.recoverable) == 1 and on_last.lost.empty
    assert on_last.recoverable.loc[0, "days_left"] == 0
    assert on_last.recoverable.loc[0, "submit_until"] == last_day
    after = find_unbilled(earned, None, BOOK, last_day + pd.Timedelta(days=1).to_pytimedelta())
    assert after.recoverable.empty and len(after.lost) == 1
    assert after.lost.loc[0, "days_left"] == -1
    first = submission_window(month)[0]
    before = find_unbilled(earned, None, BOOK, first - pd.Timedelta(days=1).to_pytimedelta())
    assert before.recoverable.empty and before.lost.empty and before.not_yet_open == 1
    assert len(find_unbilled(earned, None, BOOK, first).recoverable) == 1


def test_under_one_billed_hour_earns_nothing() -> None:
    rows = visits_rows(A, SEPT, 1, 0.99) + visits_rows(B, SEPT, 1, 1.0)
    rows.append(["48213", "702", C, "x", PLAN, f"{SEPT}-03", "40", "Scheduled"])
    earned = earned_member_months(normalized(rows), BOOK)
    assert list(earned["patient_number"]) == [B]


def test_a_member_billed_under_two_contracts_is_one_member_month() -> None:
    rows = visits_rows(A, SEPT, 2, 10, PLAN) + visits_rows(A, SEPT, 3, 10, OTHER)
    earned = earned_member_months(normalized(rows), BOOK)
    assert len(earned) == 1
    row = earned.iloc[0]
    # One member-month, one tier: 20 h + 30 h = 50 h, on the contract with the most hours.
    assert row["contract"] == OTHER and row["billed_hours"] == 50 and row["contracts"] == 2


def test_confirmed_entry_under_another_contract_still_counts() -> None:
    earned = earned_member_months(normalized(visits_rows(A, SEPT, 2, 10)), BOOK)
    entries = pd.DataFrame(
        {
            "id": [1, 2],
            "patient_number": [A, A],
            "contract": [OTHER, OTHER],
            "month": [SEPT, SEPT],
            "status": ["rejected", "exported"],  # rejected, then resubmitted
            "placeholder": [0, 0],
        }
    )
    assert find_unbilled(earned, entries, BOOK, date(2026, 10, 5)).recoverable.empty
    pending = entries.assign(status=["rejected", "pending"])
    assert find_unbilled(earned, pending, BOOK, date(2026, 10, 5)).recoverable.empty
    placeholder = entries.assign(placeholder=[0, 1])
    found = find_unbilled(earned, placeholder, BOOK, date(2026, 10, 5)).recoverable
    assert list(found["reason"]) == [REJECTED_REASON]


def test_payer_submission_days_come_from_the_payer_settings(tmp_path: Path) -> None:
    payers = pd.read_csv(files.bundled("payers.csv"), dtype=str, keep_default_na=False)
    upr = {c: "" for c in payers.columns}
    upr.update(payer="UPR", contracts="UPR*", hours_basis="utilized", submission_days="365")
    payers = pd.concat([payers, pd.DataFrame([upr])], ignore_index=True)
    path = tmp_path / "payers.csv"
    payers.to_csv(path, index=False)
    book = files.load_rate_book(None, path)
    rows = visits_rows(A, SEPT, 2, 10, PLAN) + visits_rows(B, SEPT, 2, 10, OTHER)
    found = find_unbilled(
        earned_member_months(normalized(rows), book), None, book, date(2027, 1, 5)
    )
    assert list(found.recoverable["patient_number"]) == [B]
    assert found.recoverable.loc[0, "submit_until"] == date(2027, 9, 30)
    assert list(found.lost["patient_number"]) == [A]


def test_bad_submission_days_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "payers.csv"
    path.write_text(
        "payer,contracts,hours_basis,claim_dates,submission_days\n*,,utilized,month,90\n"
        "X,X*,utilized,month,ninety\n",
        encoding="utf-8",
    )
    with pytest.raises(PmpmInputError) as err:
        files.load_rate_book(None, path)
    assert err.value.row == 3 and err.value.column == "submission_days"


# --- KPIs: billed vs earned ------------------------------------------------------------------


def test_kpi_billed_vs_earned_per_month(history: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code, payload = run_json(
        capsys, "kpi", "--ledger", history["db"], "--visits", *history["visits"]
    )
    assert code == 0
    by_month = {r["month"]: r for r in payload["billed_vs_earned_by_month"]}
    sept = by_month[SEPT]
    assert sept["earned_members"] == 5 and sept["billed_members"] == 1  # A only
    assert sept["earned_revenue"] == round(387.84 + 146.45 * 3 + 1046.36, 2)
    assert sept["billed_revenue"] == 387.84
    assert sept["unbilled_revenue"] == round(sept["earned_revenue"] - 387.84, 2)
    assert sept["billed_share"] == round(387.84 / sept["earned_revenue"], 4)
    assert by_month[OCT]["billed_members"] == 0 and by_month[OCT]["billed_share"] == 0
    assert [r["payer"] for r in payload["billed_vs_earned_by_payer"]] == ["*", "*"]
    code, out = run(capsys, "kpi", "--ledger", history["db"], "--visits", *history["visits"])
    assert "Billed vs earned PMPM by payer:" in out and "20.7%" in out
    assert A not in out
    # Without --visits the KPIs are the ledger's alone.
    _, plain = run_json(capsys, "kpi", "--ledger", history["db"])
    assert "billed_vs_earned_by_month" not in plain


def test_billed_vs_earned_per_payer() -> None:
    earned = pd.DataFrame(
        {
            "month": [SEPT, SEPT, SEPT, OCT],
            "patient_number": [A, B, C, A],
            "payer": ["X", "X", "Y", "X"],
            "rate": [100.0, 200.0, 50.0, 100.0],
        }
    )
    history = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "patient_number": [A, B, C, D],
            "contract": ["c", "c", "c", "c"],
            "month": [SEPT, SEPT, SEPT, SEPT],
            "status": ["exported", "rejected", "exported", "exported"],
            "placeholder": [0, 0, 1, 0],
            "tier": [1, 2, 1, 1],
            "rate": [101.0, 200.0, 50.0, 75.0],  # A billed at the rate of its export
        }
    )
    tables = billed_vs_earned(earned, history)
    payer = tables["billed_vs_earned_by_payer"].set_index(["month", "payer"])
    assert payer.loc[(SEPT, "X"), "billed_members"] == 1
    assert payer.loc[(SEPT, "X"), "billed_revenue"] == 101.0
    assert payer.loc[(SEPT, "X"), "unbilled_revenue"] == 200.0
    assert payer.loc[(SEPT, "Y"), "billed_members"] == 0  # a placeholder is not billed
    month = tables["billed_vs_earned_by_month"].set_index("month")
    assert month.loc[SEPT, "earned_members"] == 3  # D billed but not earned: not counted
    assert month.loc[SEPT, "billed_share"] == round(101 / 350, 4)
    assert month.loc[OCT, "billed_revenue"] == 0.0
    empty = billed_vs_earned(earned, None)["billed_vs_earned_by_month"]
    assert list(empty["billed_share"]) == [0.0, 0.0]


def test_nothing_earned_lists_nothing() -> None:
    earned = earned_member_months(normalized(visits_rows(A, SEPT, 1, 0.5)), BOOK)
    entries = pd.DataFrame(
        {"id": [1], "patient_number": [A], "contract": [PLAN], "month": [SEPT]}
        | {"status": ["exported"], "placeholder": [0]}
    )
    found = find_unbilled(earned, entries, BOOK, date(2026, 10, 5))
    assert found.recoverable.empty and found.lost.empty
    assert found.totals()["nearest_deadline"] is None
    assert found.totals()["recoverable_dollars"] == 0.0


# --- large visits files are read chunk by chunk ----------------------------------------------


def _hours_by_pandas(visits: pd.DataFrame) -> pd.DataFrame:
    """`member_month_hours` as pandas' own grouping gives it (what the codes must match)."""
    billed = (visits["status"] == "billed").to_numpy()
    frame = pd.DataFrame(
        {
            "key": (visits["visit_date"].dt.year * 12 + visits["visit_date"].dt.month - 1)
            .to_numpy()
            .astype("int64"),
            "contract": visits["contract"].astype(str).to_numpy(),
            "patient_number": visits["patient_number"].astype(str).to_numpy(),
            "billed": np.where(billed, visits["hours"].to_numpy(), 0.0),
            "authorized": visits["authorized_hours"].to_numpy(),
            "name": visits["patient_name"].astype(str).where(visits["patient_name"] != "", None),
        }
    )
    sums = (
        frame.groupby(["key", "contract", "patient_number"], sort=False)
        .agg(billed=("billed", "sum"), authorized=("authorized", "max"), name=("name", "first"))
        .reset_index()
    )
    return sums.astype({c: "str" for c in ("contract", "patient_number", "name")})


def test_member_month_hours_grouped_on_codes_equal_pandas_grouping() -> None:
    # A member under two contracts, names missing in some rows (the first row of a group
    # too) or in all, hours that add up to floating-point noise, several months, the
    # parts of a file combined: every sum, name and order as pandas' grouping gives them.
    rows = (
        visits_rows(A, SEPT, 3, 0.1)
        + visits_rows(A, SEPT, 4, 0.7, OTHER)
        + visits_rows(B, OCT, 5, 1.3)
        + visits_rows(A, OCT, 2, 2.2)
        + visits_rows(C, SEPT, 3, 0.35, OTHER)
        + visits_rows(B, SEPT, 2, 4)
    )
    for i in (0, 3, 7, 8, 9, 14, 15, 16):
        rows[i][3] = ""  # no name: A's first SEPT row, B's OCT rows up to the 3rd, all of C's
    rows[4][7] = "Scheduled"  # not billed: no hours, still a member-month
    visits = normalized(rows)
    visits["authorized_hours"] = [np.nan if i % 4 else float(i) for i in range(len(visits))]
    expected = _hours_by_pandas(visits)
    pd.testing.assert_frame_equal(member_month_hours(visits), expected)
    parts = [member_month_hours(visits.iloc[a:b]) for a, b in ((0, 5), (5, 16), (16, 19))]
    pd.testing.assert_frame_equal(combine_member_month_hours(parts), expected)
    only_sept = member_month_hours(visits, months=[SEPT])
    pd.testing.assert_frame_equal(
        only_sept, expected[expected["key"] == 2026 * 12 + 8].reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        member_month_hours(visits.iloc[:0]), expected.iloc[:0], check_index_type=False
    )


def test_streamed_visits_equal_the_whole_file(tmp_path: Path) -> None:
    from xl_pmpm.io.visits_reader import iter_visits, read_visits

    rows = visits_rows(A, SEPT, 30, 7.5) + visits_rows(B, OCT, 31, 2, OTHER) * 40
    rows[5][3] = "Zoë Müller"
    path = write_visits(tmp_path / "v.csv", rows)
    text = path.read_text(encoding="utf-8").splitlines()
    text.insert(700, ",,,,,,,")  # a blank row (Excel's trailing commas)
    text.insert(900, "")  # a blank line
    for encoding, bom in (("utf-8", "\ufeff"), ("cp1252", "")):
        path.write_bytes((bom + "\r\n".join(text) + "\r\n").encode(encoding))
        whole = read_visits(path, MAPPING)
        parts = list(iter_visits(path, MAPPING, chunk_rows=250, stream_above=0))
        assert len(parts) > 4
        # Each chunk's text columns are Categoricals of their own: compare the values.
        as_text = dict.fromkeys(("patient_number", "contract", "patient_name", "agency_id"), str)
        as_text["office_id"] = str
        streamed = pd.concat(parts).astype(as_text)
        pd.testing.assert_frame_equal(streamed, whole.astype(as_text), check_index_type=False)
        assert streamed.loc[7, "patient_name"] == "Zoë Müller"


def test_streamed_bad_cell_names_its_line(tmp_path: Path) -> None:
    from xl_pmpm.io.visits_reader import iter_visits

    rows = [list(r) for r in visits_rows(B, OCT, 31, 2) * 20]
    rows[600][5] = "2026-13-01"
    path = write_visits(tmp_path / "v.csv", rows)
    with pytest.raises(PmpmInputError) as err:
        list(iter_visits(path, MAPPING, chunk_rows=100, stream_above=0))
    assert err.value.row == 602 and err.value.column == "Visit Date"
    # A row too wide (the date mended: which of two faults is met first depends on where
    # a chunk ends).
    text = path.read_text().replace("2026-13-01", OCT + "-01")
    path.write_text(text + "1,2,3,4,5,6,7,8,9\n", encoding="utf-8")
    with pytest.raises(PmpmInputError) as err:
        list(iter_visits(path, MAPPING, chunk_rows=100, stream_above=0))
    assert "line 622" in str(err.value.describe())


def test_unbilled_streamed_equals_unbilled_whole(
    history: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from xl_pmpm.io import visits_reader

    _, whole = run_json(capsys, *unbilled_args(history, "--as-of", "2026-11-20"))
    monkeypatch.setattr(visits_reader, "STREAM_BYTES", 0)
    monkeypatch.setattr(visits_reader, "CHUNK_ROWS", 7)
    _, streamed = run_json(capsys, *unbilled_args(history, "--as-of", "2026-11-20"))
    assert streamed == whole
    h = history
    _, into = run_json(
        capsys,
        *unbilled_args(h, "--as-of", "2026-11-20", "--into", h["sept_report"], "--out", h["out"]),
    )
    assert Path(into["into"]["file"]).read_text().count("\n") == 5  # header + C, D, E, B


def test_unbilled_json_written_a_chunk_at_a_time_is_the_same_document(
    history: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from xl_pmpm.cli import options

    argv = [*unbilled_args(history, "--as-of", "2026-11-20"), "--format", "json"]
    _, whole = run(capsys, *argv)
    monkeypatch.setattr(options.Rows, "CHUNK", 1)
    _, chunked = run(capsys, *argv)
    assert chunked == whole
    payload = json.loads(chunked)
    assert len(payload["recoverable"]) > 1  # several chunks of one row
    assert '"lost": []' in chunked  # and a table with no rows
    # the layout json.dumps gives the whole payload at once (two-space indent, unescaped)
    assert chunked == json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
