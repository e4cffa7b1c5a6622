"""Issue 22, items 4 and 8, through `xl-pmpm`: one member-month, one tier, over contracts;
contracts whose PMPM HHAeXchange bills itself (payer settings `auto_billed`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import no_env_ledger_fixture, run  # noqa: F401  (fixture applies here)
from core_helpers import BILLED, CONTRACT, PATIENT, SERVICE, TIER, UNBILLED, csv_text, valid_rows

from xl_pmpm.io.files import bundled
from xl_pmpm.io.ledger import LEDGER_ENV

MONTH = "2026-10"
AS_OF = "2026-11-05"  # inside October's submission window
LINKED = "Linked - Metro MLTC CDPAP"  # the default payer (Tier 2: 387.84)
UPR = "UPR - Hudson Valley MLTC"  # the default payer too
SHP_CARE = "Sample Health Plan CDPAP"  # Sample Health Plan's direct care contracts
SHP_OTHER = "Sample Health Plan Respite"
SHP_PMPM = "Sample Health Plan PMPM"  # its contract for JUST the PMPM claims
EP_INTERNAL = "Elderplan CDPAP Internal"  # billed by HHAeXchange itself (auto_billed)
EP_LINKED = "Linked - Elderplan CDPAP"
HEADER = ["Agency ID", "Office ID", "Patient Number", "Patient Name", "Contract"]
HEADER += ["Visit Date", "Hours", "Status"]
ANA, BO, CY = "0000000001", "0000000002", "0000000003"


def visits(pid: str, contract: str, hours: float, status: str = "Billed") -> list[str]:
    return ["48213", "702", pid, f"Member {pid[-1]}", contract, f"{MONTH}-03", str(hours), status]


def write_visits(tmp_path: Path, rows: list[list[str]], name: str = "visits.csv") -> Path:
    path = tmp_path / name
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def payers_file(tmp_path: Path, **extra: dict[str, str]) -> Path:
    """The bundled payer settings with `extra` settings per payer ({payer: {column: value}})."""
    frame = pd.read_csv(bundled("payers.csv"), dtype=str, keep_default_na=False)
    for payer, settings in extra.items():
        for column, value in settings.items():
            frame.loc[frame["payer"] == payer, column] = value
    path = tmp_path / "payers.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def no_ledger_yet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`unbilled` with no ledger yet (nothing exported): its default is a missing file."""
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "ledger" / "pmpm-ledger.sqlite3"))


def run_json(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, dict]:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert err == "" or code != 2, err
    return code, json.loads(out)


def tier_report(
    capsys, tmp_path: Path, rows: list[list[str]], *settings
) -> tuple[dict, pd.DataFrame]:
    path = write_visits(tmp_path, rows)
    code, payload = run_json(
        capsys, "visits", path, "--month", MONTH, "--out", tmp_path / "out", *settings
    )
    assert code == 0, payload
    table = pd.read_csv(payload["file"], dtype=str, keep_default_na=False)
    return payload, table


def warnings_of(payload: dict, code: str) -> list[dict]:
    return [w for w in payload["validation"]["warnings"] if w["code"] == code]


# --- item 4: one member-month, one tier ------------------------------------------------------


def test_hours_on_two_contracts_are_one_tier_2_row_on_the_contract_with_most_hours(
    capsys, tmp_path
) -> None:
    payload, table = tier_report(
        capsys, tmp_path, [visits(ANA, UPR, 80), visits(ANA, LINKED, 100), visits(BO, UPR, 20)]
    )
    ana = table[table[PATIENT] == ANA]
    assert len(ana) == 1  # one member-month, not two Tier-1 rows
    row = ana.iloc[0]
    assert (row[CONTRACT], row[BILLED], row[TIER], row[SERVICE]) == (LINKED, "180.00", "2", "2444")
    assert payload["rows"] == 2 and payload["split_members"] == 1
    assert payload["validation"]["errors"] == []  # no duplicate-member any more
    (warning,) = warnings_of(payload, "split-contracts")
    line = int(ana.index[0]) + 2
    assert (warning["row"], warning["value"]) == (line, LINKED)
    assert f"{UPR} (80.00 h)" in warning["message"] and "100.00 h" in warning["message"]


def test_equal_hours_go_to_the_contract_whose_name_sorts_first(capsys, tmp_path) -> None:
    _, table = tier_report(capsys, tmp_path, [visits(ANA, UPR, 90), visits(ANA, LINKED, 90)])
    assert table[[CONTRACT, BILLED, TIER]].values.tolist() == [[LINKED, "180.00", "2"]]


def test_the_payers_pmpm_contract_takes_the_row(capsys, tmp_path) -> None:
    settings = payers_file(tmp_path, **{"Sample Health Plan": {"pmpm_contract": SHP_PMPM}})
    payload, table = tier_report(
        capsys,
        tmp_path,
        [visits(ANA, SHP_CARE, 100), visits(ANA, SHP_OTHER, 80), visits(BO, SHP_CARE, 20)],
        "--payers",
        settings,
    )
    # Seed 001: "PMPM visits are then created under this contract and not the direct
    # labor contract" -- for a member on one contract as for one on two.
    assert table[[PATIENT, CONTRACT, BILLED, TIER, SERVICE]].values.tolist() == [
        [ANA, SHP_PMPM, "180.00", "2", "SHP-T2"],
        [BO, SHP_PMPM, "20.00", "1", "SHP-T1"],
    ]
    (warning,) = warnings_of(payload, "split-contracts")
    assert warning["row"] == 2 and warning["value"] == SHP_PMPM
    assert f"{SHP_CARE} (100.00 h)" in warning["message"]
    assert f"{SHP_OTHER} (80.00 h)" in warning["message"]


def test_a_pmpm_contract_not_of_its_payer_is_refused(capsys, tmp_path) -> None:
    settings = payers_file(tmp_path, **{"Sample Health Plan": {"pmpm_contract": "Anthem PMPM"}})
    path = write_visits(tmp_path, [visits(ANA, SHP_CARE, 100)])
    code, _, err = run(
        capsys, "visits", path, "--month", MONTH, "--out", tmp_path / "o", "--payers", settings
    )
    assert code == 2
    assert "payers.csv" in err and "line 4" in err and "pmpm_contract" in err
    assert "Traceback" not in err


def test_validate_says_which_hours_to_add_up(capsys, tmp_path) -> None:
    rows = valid_rows(3, **{BILLED: "200.00", TIER: "2", SERVICE: "2444"})
    rows[0].update({CONTRACT: LINKED, BILLED: "100.00", TIER: "1", SERVICE: "2443"})
    rows[2].update({PATIENT: rows[0][PATIENT], CONTRACT: UPR, BILLED: "80.00"})
    rows[2].update({TIER: "1", SERVICE: "2443"})
    path = tmp_path / "report.csv"
    path.write_text(csv_text(list(rows[0]), [list(r.values()) for r in rows]), encoding="utf-8")
    code, payload = run_json(capsys, "validate", path, "--month", "2025-03")
    assert code == 1
    found = [e for e in payload["errors"] if e["code"] == "duplicate-member"]
    assert [e["row"] for e in found] == [2, 4]
    for e in found:
        assert "lines 2, 4, under different contracts" in e["message"]
        assert "(100.00 + 80.00 = 180.00)" in e["message"], e["message"]


def test_unbilled_lists_a_split_member_month_once_on_the_summed_tier(capsys, tmp_path) -> None:
    rows = [visits(ANA, UPR, 80), visits(ANA, LINKED, 100), visits(BO, UPR, 20)]
    path = write_visits(tmp_path, rows)
    code, payload = run_json(capsys, "unbilled", path, "--as-of", AS_OF)
    assert code == 1
    listed = {r["patient_number"]: r for r in payload["recoverable"]}
    assert set(listed) == {ANA, BO}
    ana = listed[ANA]
    assert (ana["contract"], ana["billed_hours"], ana["tier"], ana["rate"]) == (
        LINKED,
        180.0,
        2,
        387.84,
    )
    assert payload["totals"]["recoverable_dollars"] == 387.84 + 146.45
    # The tier report `visits` builds has the same row (same contract, same tier).
    _, table = tier_report(capsys, tmp_path, rows)
    ana_row = table[table[PATIENT] == ANA].iloc[0]
    assert (ana_row[CONTRACT], ana_row[TIER]) == (LINKED, "2")


def test_unbilled_into_brings_back_the_summed_row(capsys, tmp_path) -> None:
    """A split member missing from the month's report comes back as `visits` builds it."""
    rows = [visits(ANA, UPR, 80), visits(ANA, LINKED, 100), visits(BO, UPR, 20)]
    _, report = tier_report(capsys, tmp_path, [visits(BO, UPR, 20)])  # Ana missing
    into = tmp_path / "report_without_ana.csv"
    report.to_csv(into, index=False)
    path = write_visits(tmp_path, rows, "all_visits.csv")
    code, payload = run_json(
        capsys, "unbilled", path, "--as-of", AS_OF, "--into", into, "--out", tmp_path / "back"
    )
    assert payload["into"]["brought_back"] == 1, payload["into"]
    table = pd.read_csv(payload["into"]["file"], dtype=str, keep_default_na=False)
    ana = table[table[PATIENT] == ANA]
    assert ana[[CONTRACT, BILLED, TIER, SERVICE]].values.tolist() == [
        [LINKED, "180.00", "2", "2444"]
    ]


# --- review on a report with the member on two rows -----------------------------------------


def split_report(tmp_path: Path, *, care: str = LINKED, other: str = UPR) -> Path:
    """Lines 2 and 4: one member, 100 h on `care` and 80 h on `other` (each Tier 1 alone,
    Tier 2 together); line 3 another member; lines 5 and 6 a third member's row pasted
    twice (a true duplicate)."""
    rows = valid_rows(4, **{BILLED: "200.00", TIER: "2", SERVICE: "2444"})
    rows[0].update({CONTRACT: care, BILLED: "100.00", TIER: "1", SERVICE: "2443"})
    rows[2].update({PATIENT: rows[0][PATIENT], CONTRACT: other, BILLED: "80.00"})
    # 80 h + 90 h unbilled would reach Tier 2: at risk on its own, but not to be deferred.
    rows[2].update({TIER: "1", SERVICE: "2443", UNBILLED: "90.00"})
    rows.append(dict(rows[3]))
    path = tmp_path / "split_report.csv"
    path.write_text(csv_text(list(rows[0]), [list(r.values()) for r in rows]), encoding="utf-8")
    return path


def review(capsys, path: Path, out: Path, *argv: object) -> tuple[int, dict]:
    return run_json(
        capsys, "review", path, "--suggested", "--month", "2025-03", "--out", out, *argv
    )


def test_review_does_not_delete_part_of_a_split_members_hours(capsys, tmp_path) -> None:
    path = split_report(tmp_path)
    code, done = review(capsys, path, tmp_path / "work")
    assert code == 0
    # The true duplicate (line 6 repeats line 5) is still deleted, as before; nothing else.
    assert done["actions"] == {"delete": 1}
    archive = pd.read_csv(done["archive"], dtype=str, keep_default_na=False)
    assert archive[["line", "action", "reason"]].values.tolist() == [
        ["6", "delete", "duplicate-member"]
    ]
    # Lines 2 and 4 stay, with all their hours, and review says what to do with them.
    left = {r["line"]: r for r in done["left"]}
    assert sorted(left) == [2, 4]
    note = left[2]["note"]
    assert left[4]["note"] == note and left[2]["reason"] == "duplicate-member"
    assert f"line 2: {LINKED}, 100.00 h; line 4: {UPR}, 80.00 h" in note
    assert "(100.00 + 80.00 = 180.00)" in note
    assert "put the total on line 2 (the contract with the most hours)" in note
    assert "give it Tier 2" in note and "then delete line(s) 4." in note
    reviewed = pd.read_csv(done["file"], dtype=str, keep_default_na=False)
    assert reviewed[BILLED].tolist() == ["100.00", "200.00", "80.00", "200.00"]
    # Not deferred either: its visit times are as they were.
    original = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(reviewed, original.iloc[:4])
    # Never silent: the text output names the lines and the hours to add up.
    code, text, _ = run(
        capsys, "review", path, "--suggested", "--month", "2025-03", "--out", tmp_path / "w2"
    )
    assert code == 0
    assert "Deleted 1 and deferred 0 row(s)." in text
    assert "Left 2 row(s) as they are" in text and "(100.00 + 80.00 = 180.00)" in text
    assert ANA not in text and "Ana Smith" not in text  # no member data
    # Validate still flags both rows until the biller adds them up.
    code, payload = run_json(capsys, "validate", done["file"], "--month", "2025-03")
    assert [e["row"] for e in payload["errors"] if e["code"] == "duplicate-member"] == [2, 4]


def test_following_the_note_bills_the_member_at_the_tier_of_all_its_hours(capsys, tmp_path) -> None:
    path = split_report(tmp_path)
    _, done = review(capsys, path, tmp_path / "work")
    reviewed = pd.read_csv(done["file"], dtype=str, keep_default_na=False)
    reviewed.index = reviewed.index + 2  # file lines
    # As the note says: 180.00 h on line 2 with Tier 2 and its code, then delete line 4.
    reviewed.loc[2, [BILLED, TIER, SERVICE]] = ["180.00", "2", "2444"]
    fixed = tmp_path / "fixed.csv"
    reviewed.to_csv(fixed, index=False)
    code, payload = run_json(
        capsys,
        "review",
        fixed,
        "--delete",
        "4",
        "--month",
        "2025-03",
        "--out",
        tmp_path / "fixed_work",
    )
    assert code == 0 and payload["left"] == []
    code, payload = run_json(capsys, "validate", payload["file"], "--month", "2025-03")
    assert code == 0, payload["errors"]


def test_the_billers_own_delete_wins_over_the_suggestion(capsys, tmp_path) -> None:
    code, done = review(capsys, split_report(tmp_path), tmp_path / "work", "--delete", "4")
    assert code == 0
    assert done["actions"] == {"delete": 2}  # line 4 as asked, line 6 as suggested
    assert [r["line"] for r in done["left"]] == [2]


def test_the_note_names_the_payers_pmpm_contract(capsys, tmp_path) -> None:
    settings = payers_file(tmp_path, **{"Sample Health Plan": {"pmpm_contract": SHP_PMPM}})
    path = split_report(tmp_path, care=SHP_CARE, other=SHP_OTHER)
    code, done = review(capsys, path, tmp_path / "work", "--payers", settings)
    assert code == 0
    (note,) = {r["note"] for r in done["left"]}
    assert f"put the total on line 2 and change its {CONTRACT} to {SHP_PMPM}" in note
    assert "(the payer's PMPM contract)" in note and "delete line(s) 4." in note


def test_the_bundled_samples_duplicate_is_a_true_one(capsys, tmp_path) -> None:
    code, done = run_json(
        capsys, "review", bundled("sample_tier_report.csv"), "--suggested", "--out", tmp_path
    )
    assert code == 0 and done["left"] == []


# --- item 8: contracts HHAeXchange bills itself ------------------------------------------------


def _auto_settings(tmp_path: Path) -> Path:
    return payers_file(tmp_path, Elderplan={"auto_billed": EP_INTERNAL})


def test_validate_refuses_rows_of_an_auto_billed_contract(capsys, tmp_path) -> None:
    rows = valid_rows(3, **{CONTRACT: EP_LINKED})
    rows[1][CONTRACT] = EP_INTERNAL
    path = tmp_path / "report.csv"
    path.write_text(csv_text(list(rows[0]), [list(r.values()) for r in rows]), encoding="utf-8")
    settings = _auto_settings(tmp_path)
    code, payload = run_json(capsys, "validate", path, "--month", "2025-03", "--payers", settings)
    assert code == 1
    found = [e for e in payload["errors"] if e["code"] == "auto-billed-contract"]
    assert [(e["row"], e["value"]) for e in found] == [(3, EP_INTERNAL)]
    assert "second PMPM" in found[0]["message"]
    # The same file under the bundled settings: nothing is auto-billed.
    code, payload = run_json(capsys, "validate", path, "--month", "2025-03")
    assert not [e for e in payload["errors"] if e["code"] == "auto-billed-contract"]


def test_auto_billed_member_months_are_not_unbilled_nor_in_the_tier_report(
    capsys, tmp_path
) -> None:
    rows = [visits(ANA, EP_INTERNAL, 100), visits(BO, EP_LINKED, 30), visits(CY, LINKED, 10)]
    path = write_visits(tmp_path, rows)
    settings = _auto_settings(tmp_path)
    argv = ["unbilled", path, "--as-of", AS_OF]
    code, payload = run_json(capsys, *argv, "--payers", settings)
    assert code == 1
    assert sorted(r["patient_number"] for r in payload["recoverable"]) == [BO, CY]
    assert payload["totals"]["auto_billed_member_months"] == 1
    code, out, _ = run(capsys, *argv, "--payers", settings)
    assert "1 member-month(s) on contracts HHAeXchange bills itself" in out
    # Without the setting the member-month is never-exported, as before.
    code, payload = run_json(capsys, *argv)
    assert ANA in [r["patient_number"] for r in payload["recoverable"]]
    # `visits` leaves it out of the tier report, and says so.
    payload, table = tier_report(capsys, tmp_path, rows, "--payers", settings)
    assert sorted(table[PATIENT]) == [BO, CY] and payload["auto_billed_members"] == 1


def test_a_payers_file_without_the_new_columns_still_loads(capsys, tmp_path) -> None:
    frame = pd.read_csv(bundled("payers.csv"), dtype=str, keep_default_na=False)
    old = tmp_path / "old_payers.csv"
    frame.drop(columns=["pmpm_contract", "auto_billed"]).to_csv(old, index=False)
    assert "auto_billed" not in old.read_text(encoding="utf-8").splitlines()[0]
    payload, table = tier_report(
        capsys, tmp_path, [visits(ANA, UPR, 80), visits(ANA, LINKED, 100)], "--payers", old
    )
    assert table[[CONTRACT, BILLED, TIER]].values.tolist() == [[LINKED, "180.00", "2"]]
    code, payload = run_json(
        capsys,
        "unbilled",
        write_visits(tmp_path, [visits(ANA, EP_INTERNAL, 100)], "ep.csv"),
        "--as-of",
        AS_OF,
        "--payers",
        old,
    )
    assert [r["patient_number"] for r in payload["recoverable"]] == [ANA]
    assert payload["totals"]["auto_billed_member_months"] == 0
