"""Per-diem (IOP) billable occurrences (PIMSY, seed 004)."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from xl_pmpm.cli.commands_rules import add_commands
from xl_pmpm.cli.parser import Parser
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.perdiem import PerDiemSettings, billable_occurrences

ALICE = "Alice AAA-Test Client"
NON_BILLABLE = ("602", "IND THPY", "GROUP")  # the seed's IOP Non Billable Group
BILLABLE = ("0905", "0906")  # IOP Billable Group: one code per level of care

# The seed's settings: threshold 1 unit (508), 180 minutes (509), 2 days in arrears (512).
SEED = PerDiemSettings(
    threshold=1,
    non_billable_codes=NON_BILLABLE,
    billable_codes=BILLABLE,
    note_minutes=180,
    days_in_arrears=2,
    run_date="2016-08-02",
)


def units(*rows: tuple[str, str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["client", "date", "code", "units"])


def auths(*rows: tuple) -> pd.DataFrame:
    cols = ["client", "code", "start", "end", "units_authorized", "units_used"]
    return pd.DataFrame(rows, columns=cols)


ALICE_UNITS = units((ALICE, "2016-07-31", "602", 1))
# "multiple billing codes for different time frames": 0905 in July, 0906 (step down) after.
ALICE_AUTHS = auths(
    (ALICE, "0905", "2016-07-01", "2016-07-31", 30, 10),
    (ALICE, "0906", "2016-08-01", "2016-12-31", 60, 0),
)


def test_the_seeds_use_case_alice() -> None:
    occurrences, alerts = billable_occurrences(ALICE_UNITS, ALICE_AUTHS, SEED)
    assert alerts.empty
    assert occurrences.to_dict("records") == [
        {"client": ALICE, "date": pd.Timestamp("2016-07-31"), "code": "0905", "minutes": 180}
    ]


def test_alice_is_not_billed_before_the_days_in_arrears_pass() -> None:
    earlier = replace(SEED, run_date="2016-08-01")
    assert earlier.cutoff == pd.Timestamp("2016-07-30")
    occurrences, alerts = billable_occurrences(ALICE_UNITS, ALICE_AUTHS, earlier)
    assert occurrences.empty and alerts.empty


def test_days_already_created_are_skipped() -> None:
    existing = pd.DataFrame({"client": [ALICE], "date": ["2016-07-31"]})
    occurrences, alerts = billable_occurrences(ALICE_UNITS, ALICE_AUTHS, SEED, existing)
    assert occurrences.empty and alerts.empty


def test_threshold_met_exactly_counts_and_sums_the_group_only() -> None:
    settings = replace(SEED, threshold=3)
    day = units(
        (ALICE, "2016-07-31", "602", 1),
        (ALICE, "2016-07-31", "GROUP", 1.5),
        (ALICE, "2016-07-31", "IND THPY", 0.5),
        (ALICE, "2016-07-31", "0905", 5),  # a billable code does not count
        ("Bob", "2016-07-31", "602", 2.5),
        ("Bob", "2016-07-31", "NUTRI", 1),  # not in the non-billable group
        ("Bob", "2016-07-30", "602", 1),  # another day does not add up
    )
    both = pd.concat(
        [ALICE_AUTHS, auths(("Bob", "0905", "2016-07-01", "2016-07-31", 30, 0))],
        ignore_index=True,
    )
    occurrences, alerts = billable_occurrences(day, both, settings)
    assert occurrences["client"].tolist() == [ALICE]
    assert alerts.empty


def test_fractional_units_meet_the_threshold_despite_float_error() -> None:
    day = units(*[(ALICE, "2016-07-31", "602", 0.1)] * 3)
    occurrences, _ = billable_occurrences(day, ALICE_AUTHS, replace(SEED, threshold=0.3))
    assert len(occurrences) == 1


def test_the_code_follows_the_authorization_of_the_day() -> None:
    days = units((ALICE, "2016-07-31", "602", 1), (ALICE, "2016-08-01", "602", 1))
    occurrences, alerts = billable_occurrences(days, ALICE_AUTHS, replace(SEED, days_in_arrears=0))
    assert occurrences["code"].tolist() == ["0905", "0906"]
    assert occurrences["date"].tolist() == [pd.Timestamp("2016-07-31"), pd.Timestamp("2016-08-01")]
    assert alerts.empty


def test_no_authorized_billable_code_alerts() -> None:
    other = auths((ALICE, "0905", "2016-08-01", "2016-08-31", 30, 0))
    occurrences, alerts = billable_occurrences(ALICE_UNITS, other, SEED)
    assert occurrences.empty
    assert alerts["client"].tolist() == [ALICE]
    assert alerts["code"].isna().all()
    assert "No billable code (0905, 0906) is authorized on 2016-07-31" in alerts["message"][0]


def test_two_billable_codes_the_same_day_would_bill_twice() -> None:
    overlapping = auths(
        (ALICE, "0905", "2016-07-01", "2016-07-31", 30, 0),
        (ALICE, "0906", "2016-07-31", "2016-12-31", 60, 0),
    )
    occurrences, alerts = billable_occurrences(ALICE_UNITS, overlapping, SEED)
    assert occurrences.empty
    assert alerts["code"].tolist() == ["0905, 0906"]
    assert "would bill twice" in alerts["message"][0]


def test_two_authorizations_of_one_code_are_not_billing_twice() -> None:
    renewed = auths(
        (ALICE, "0905", "2016-07-01", "2016-07-31", 30, 30),  # used up
        (ALICE, "0905", "2016-07-15", "", 30, ""),  # open-ended renewal, nothing used
    )
    occurrences, alerts = billable_occurrences(ALICE_UNITS, renewed, SEED)
    # The one ending first is used: it has no units left.
    assert occurrences.empty
    assert "no units left" in alerts["message"][0]


def test_units_are_used_up_oldest_day_first() -> None:
    days = units(*[(ALICE, f"2016-07-{d:02d}", "602", 1) for d in (27, 28, 29)])
    short = auths((ALICE, "0905", "2016-07-01", "2016-07-31", 10, 8))
    occurrences, alerts = billable_occurrences(days, short, SEED)
    assert occurrences["date"].dt.day.tolist() == [27, 28]
    assert alerts["date"].dt.day.tolist() == [29]
    assert alerts["code"].tolist() == ["0905"]
    assert "has no units left for 2016-07-29" in alerts["message"][0]


def test_units_exhausted_before_the_run() -> None:
    spent = auths((ALICE, "0905", "2016-07-01", "2016-07-31", 30, 30))
    occurrences, alerts = billable_occurrences(ALICE_UNITS, spent, SEED)
    assert occurrences.empty and len(alerts) == 1


def test_minutes_and_units_per_occurrence_are_settings() -> None:
    short = auths((ALICE, "0905", "2016-07-01", "2016-07-31", 2, 0))
    settings = replace(SEED, note_minutes=240, units_per_occurrence=3)
    occurrences, alerts = billable_occurrences(ALICE_UNITS, short, settings)
    assert occurrences.empty and len(alerts) == 1
    occurrences, _ = billable_occurrences(ALICE_UNITS, ALICE_AUTHS, settings)
    assert occurrences["minutes"].tolist() == [240]


@pytest.mark.parametrize(
    "change, column",
    [
        ({"threshold": 0}, "threshold"),
        ({"days_in_arrears": -1}, "days_in_arrears"),
        ({"billable_codes": ()}, "billable_codes"),
        ({"run_date": "someday"}, "run_date"),
    ],
)
def test_bad_settings_are_input_errors(change: dict, column: str) -> None:
    with pytest.raises(PmpmInputError) as err:
        billable_occurrences(ALICE_UNITS, ALICE_AUTHS, replace(SEED, **change))
    assert err.value.column == column


def test_bad_units_name_the_row() -> None:
    bad = units((ALICE, "2016-07-31", "602", "one"))
    bad.index = [5]
    with pytest.raises(PmpmInputError) as err:
        billable_occurrences(bad, ALICE_AUTHS, SEED)
    assert (err.value.row, err.value.column) == (5, "units")


# --- the command -------------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = Parser(prog="xl-pmpm")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def seed_files(tmp_path) -> tuple[str, str]:
    u = tmp_path / "units.csv"
    u.write_text(
        f"client,date,code,units\n{ALICE},2016-07-31,602,1\n{ALICE},2016-08-01,GROUP,1\n",
        encoding="utf-8",
    )
    a = tmp_path / "auth.csv"
    a.write_text(
        "client,code,start,end,units_authorized,units_used\n"
        f"{ALICE},0905,2016-07-01,2016-07-31,30,10\n"
        f"{ALICE},0906,2016-08-01,,60,\n",
        encoding="utf-8",
    )
    return str(u), str(a)


def perdiem_args(units_file: str, *more: str) -> list[str]:
    return ["perdiem", units_file, "--threshold", "1", "--arrears", "2", *more]


def test_perdiem_command_the_seeds_use_case(seed_files, capsys) -> None:
    u, a = seed_files
    argv = perdiem_args(u, "--run-date", "2016-08-02", "--auth", a, "--format", "json")
    assert run(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cutoff"] == "2016-07-31"
    assert out["occurrences"] == [
        {"client": ALICE, "date": "2016-07-31", "code": "0905", "minutes": 180, "lines": [2]}
    ]
    assert out["alerts"] == []
    assert run(perdiem_args(u, "--run-date", "2016-08-02", "--auth", a)) == 0
    assert "units file line 2: 2016-07-31  0905  180 min" in capsys.readouterr().out


def test_perdiem_text_output_names_lines_never_clients(tmp_path, capsys) -> None:
    clients = ["0012345", "Alice AAA-Test Client", "CL-77"]
    u = tmp_path / "units.csv"
    u.write_text(
        "client,date,code,units\n"
        "0012345,2016-07-30,602,0.5\n"  # lines 2-3: one day, two notes reaching 1 unit
        "0012345,2016-07-30,GROUP,0.5\n"
        "Alice AAA-Test Client,2016-07-31,602,1\n"  # line 4: no authorization
        "CL-77,2016-07-31,602,1\n",  # line 5: two billable codes the same day
        encoding="utf-8",
    )
    a = tmp_path / "auth.csv"
    a.write_text(
        "client,code,start,end,units_authorized,units_used\n"
        "0012345,0905,2016-07-01,2016-07-31,30,0\n"
        "CL-77,0905,2016-07-01,2016-07-31,30,0\n"
        "CL-77,0906,2016-07-01,2016-07-31,30,0\n",
        encoding="utf-8",
    )
    argv = perdiem_args(str(u), "--run-date", "2016-08-02", "--auth", str(a))
    assert run(argv) == 1
    out = capsys.readouterr().out
    for client in clients:
        assert client not in out
    assert "12345" not in out and "Alice" not in out and "CL-" not in out
    assert "units file lines 2, 3: 2016-07-30  0905  180 min" in out
    assert "units file line 4: No billable code (0905, 0906) is authorized on 2016-07-31" in out
    assert "units file line 5: Billable codes 0905, 0906 are all authorized" in out
    assert run([*argv, "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert [a["client"] for a in payload["alerts"]] == ["Alice AAA-Test Client", "CL-77"]


def test_perdiem_command_alerts_exit_1(seed_files, capsys) -> None:
    u, _ = seed_files
    argv = perdiem_args(u, "--run-date", "2016-08-03", "--billable", "0905,0906")
    assert run(argv) == 1
    out = capsys.readouterr().out
    assert "0 billable occurrence(s), 2 alert(s)" in out


def test_perdiem_command_non_billable_group(seed_files, capsys) -> None:
    u, a = seed_files
    argv = perdiem_args(u, "--run-date", "2016-08-03", "--auth", a, "--non-billable", "GROUP")
    argv += ["--format", "json"]
    assert run(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(o["date"], o["code"]) for o in out["occurrences"]] == [("2016-08-01", "0906")]


@pytest.mark.parametrize(
    "units_text, more, where",
    [
        ("client,date,code,units\nA,2016-07-31,602,one\n", [], ["units.csv", "line 2", "'units'"]),
        ("client,date,code,units\nA,7/31/2016,602,1\n", [], ["units.csv", "line 2", "'date'"]),
        ("client,date,code\nA,2016-07-31,602\n", [], ["units.csv", "line 1"]),
        ("client,date,code,units\nA,2016-07-31,602,1\n", ["--minutes", "3h"], ["--minutes"]),
        ("client,date,code,units\nA,2016-07-31,602,1,9\n", [], ["units.csv", "line 2"]),
    ],
)
def test_perdiem_command_bad_input(
    tmp_path, capsys, units_text: str, more: list[str], where: list[str]
) -> None:
    u = tmp_path / "units.csv"
    u.write_text(units_text, encoding="utf-8")
    argv = perdiem_args(str(u), "--run-date", "2016-08-02", "--billable", "0905", *more)
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for text in where:
        assert text in err


def test_perdiem_command_bad_authorization_and_run_date(seed_files, tmp_path, capsys) -> None:
    u, _ = seed_files
    a = tmp_path / "bad_auth.csv"
    a.write_text(
        "client,code,start,end,units_authorized,units_used\nA,0905,2016-07-01,2016-06-30,30,0\n",
        encoding="utf-8",
    )
    assert run(perdiem_args(u, "--run-date", "2016-08-02", "--auth", str(a))) == 2
    assert "bad_auth.csv, line 2, column 'end'" in capsys.readouterr().err
    assert run(perdiem_args(u, "--run-date", "08/02/2016", "--billable", "0905")) == 2
    assert "--run-date" in capsys.readouterr().err


# --- a day billed once (issue 13, item 8) ---------------------------------------------------


def test_the_nightly_run_looks_back_one_day_so_the_next_night_does_not_rebill(
    seed_files, capsys
) -> None:
    u, a = seed_files
    nights = {}
    for night in ("2016-08-02", "2016-08-03"):
        argv = perdiem_args(u, "--run-date", night, "--auth", a, "--look-back", "1")
        assert run([*argv, "--format", "json"]) == 0
        out = json.loads(capsys.readouterr().out)
        nights[night] = [(o["date"], o["code"]) for o in out["occurrences"]]
        assert out["first_day"] == out["cutoff"]
    # Seed 004: on August 2nd the run goes back two days and bills July 31st; on August
    # 3rd it bills August 1st only, not July 31st again.
    assert nights == {
        "2016-08-02": [("2016-07-31", "0905")],
        "2016-08-03": [("2016-08-01", "0906")],
    }


def test_a_catch_up_run_skips_the_days_already_created(seed_files, tmp_path, capsys) -> None:
    u, a = seed_files
    done = tmp_path / "existing.csv"
    done.write_text(f"client,date,code\n{ALICE},2016-07-31,0905\n", encoding="utf-8")
    argv = perdiem_args(u, "--run-date", "2016-08-03", "--auth", a, "--existing", str(done))
    assert run([*argv, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(o["date"], o["code"]) for o in out["occurrences"]] == [("2016-08-01", "0906")]
    assert out["existing"] == 1


def test_a_run_without_a_window_or_the_existing_occurrences_says_so(seed_files, capsys) -> None:
    u, a = seed_files
    assert run(perdiem_args(u, "--run-date", "2016-08-03", "--auth", a)) == 0
    assert "--existing" in capsys.readouterr().out


@pytest.mark.parametrize("days", ["0", "-1", "two"])
def test_a_bad_look_back_is_an_input_error(seed_files, capsys, days: str) -> None:
    u, a = seed_files
    assert run(perdiem_args(u, "--run-date", "2016-08-02", "--auth", a, "--look-back", days)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "look" in err.lower()
