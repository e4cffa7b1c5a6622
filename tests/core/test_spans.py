"""PMPM spans and proration (Easter Seals NJ / iRecord rules, seed 002)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xl_pmpm.cli.commands_rules import add_commands
from xl_pmpm.cli.parser import Parser
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.spans import (
    SPAN_FINDING_COLUMNS,
    check_pmpm_spans,
    price_spans,
    prorate,
    prorate_column,
)

ESFM = "Easter Seals Financial Management"


def fi(*rows: tuple[str, str, str] | tuple[str, str, str, str]) -> pd.DataFrame:
    """FI services (member, start, end[, provider]); the provider defaults to ESFM."""
    return pd.DataFrame(
        [
            {"member": r[0], "provider": r[3] if len(r) > 3 else ESFM, "start": r[1], "end": r[2]}
            for r in rows
        ],
        columns=["member", "provider", "start", "end"],
    )


def pmpm(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"member": m, "start": s, "end": e, "monthly_rate": 100.0} for m, s, e in rows],
        columns=["member", "start", "end", "monthly_rate"],
    )


def codes(findings: pd.DataFrame, member: str = "M1") -> list[str]:
    return findings.loc[findings["member"] == member, "code"].tolist()


# --- the seed's rules and messages -------------------------------------------------------


def test_one_pmpm_spanning_two_fi_services_is_fine() -> None:
    # Seed step 5: "a single PMPM service that spans the two ... services shown in step 1".
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-03-31"), ("M1", "2024-04-01", "2024-12-31")),
        pmpm(("M1", "2024-01-01", "2024-12-31")),
        ESFM,
    )
    assert out.empty
    assert list(out.columns) == SPAN_FINDING_COLUMNS


def test_missing_pmpm() -> None:
    out = check_pmpm_spans(fi(("M1", "2024-01-01", "2024-03-31")), pmpm(), ESFM)
    assert out.to_dict("records") == [
        {"member": "M1", "code": "pmpm-missing", "message": "Add PMPM Service(s) to the plan"}
    ]


def test_pmpm_without_fi_names_the_provider_with_an_en_dash() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-03-31", "Other Agency")),
        pmpm(("M1", "2024-01-01", "2024-03-31")),
        ESFM,
    )
    assert out["code"].tolist() == ["pmpm-without-fi"]
    assert out["message"][0] == (
        "Remove PMPM Service(s) – No service with Easter Seals Financial Management as the FI"
    )


def test_not_covering_names_the_provider() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-06-30")), pmpm(("M1", "2024-01-01", "2024-05-31")), ESFM
    )
    assert out["code"].tolist() == ["pmpm-not-covering"]
    assert out["message"][0] == (
        "PMPM does not cover full duration of FI service(s) with "
        "Easter Seals Financial Management as the FI"
    )


def test_starts_early_and_ends_late_quote_the_fi_dates() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-02-01", "2024-06-30")), pmpm(("M1", "2024-01-15", "2024-07-31")), ESFM
    )
    assert out["code"].tolist() == ["pmpm-starts-early", "pmpm-ends-late"]
    assert out["message"].tolist() == [
        "PMPM Service(s) start date cannot be before 2024-02-01",
        "PMPM Service(s) end date cannot be after 2024-06-30",
    ]


def test_message_date_format_is_a_parameter() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-02-01", "2024-06-30")),
        pmpm(("M1", "2024-01-15", "2024-06-30")),
        ESFM,
        date_format="%m/%d/%Y",
    )
    assert out["message"][0] == "PMPM Service(s) start date cannot be before 02/01/2024"


def test_spans_sharing_one_day_overlap() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-12-31")),
        pmpm(("M1", "2024-01-01", "2024-06-30"), ("M1", "2024-06-30", "2024-12-31")),
        ESFM,
    )
    assert codes(out) == ["pmpm-overlap"]
    assert out["message"][0] == "PMPM services dates are overlapping"


def test_spans_on_consecutive_days_are_contiguous() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-12-31")),
        pmpm(("M1", "2024-01-01", "2024-06-30"), ("M1", "2024-07-01", "2024-12-31")),
        ESFM,
    )
    assert out.empty


def test_a_gap_of_one_day_is_not_covered() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-12-31")),
        pmpm(("M1", "2024-01-01", "2024-06-29"), ("M1", "2024-07-01", "2024-12-31")),
        ESFM,
    )
    assert codes(out) == ["pmpm-not-covering"]


def test_a_span_nested_inside_another_overlaps() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-12-31")),
        pmpm(("M1", "2024-01-01", "2024-12-31"), ("M1", "2024-03-01", "2024-03-31")),
        ESFM,
    )
    assert codes(out) == ["pmpm-overlap"]


def test_identical_one_day_spans_overlap() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-03-05", "2024-03-05")),
        pmpm(("M1", "2024-03-05", "2024-03-05"), ("M1", "2024-03-05", "2024-03-05")),
        ESFM,
    )
    assert codes(out) == ["pmpm-overlap"]


def test_members_are_checked_separately() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-03-31"), ("M2", "2024-01-01", "2024-03-31")),
        pmpm(("M1", "2024-01-01", "2024-03-31"), ("M2", "2024-02-01", "2024-03-31")),
        ESFM,
    )
    assert out["member"].tolist() == ["M2"]
    assert codes(out, "M2") == ["pmpm-not-covering"]


def test_other_providers_services_are_not_fi_services() -> None:
    out = check_pmpm_spans(
        fi(("M1", "2024-01-01", "2024-03-31"), ("M1", "2024-01-01", "2024-12-31", "Other")),
        pmpm(("M1", "2024-01-01", "2024-03-31")),
        ESFM,
    )
    assert out.empty


def test_end_before_start_is_bad_input_naming_the_row() -> None:
    frame = pmpm(("M1", "2024-03-31", "2024-01-01"))
    frame.index = [7]
    with pytest.raises(PmpmInputError) as err:
        check_pmpm_spans(fi(("M1", "2024-01-01", "2024-03-31")), frame, ESFM)
    assert err.value.row == 7 and err.value.column == "end"


# --- proration ---------------------------------------------------------------------------


def test_leap_february_prorates_by_29_days() -> None:
    assert prorate(290, "2024-02-01", "2024-02-10") == (1, 100.0)
    assert prorate(290, "2024-02-01", "2024-02-29") == (1, 290.0)
    # 2023 is not a leap year: 10 / 28 of the rate.
    assert prorate(280, "2023-02-01", "2023-02-10") == (1, 100.0)


def test_span_inside_one_month() -> None:
    assert prorate(310, date(2024, 1, 10), date(2024, 1, 19)) == (1, 100.0)


def test_full_months_at_the_rate_and_partial_months_by_days() -> None:
    # Jan 17..31 = 15/31, Feb full, Mar 1..10 = 10/31: 146.45 x (25/31 + 1).
    units, cost = prorate(146.45, "2024-01-17", "2024-03-10")
    assert units == 3
    assert cost == round(146.45 * (25 / 31 + 1), 2) == 264.55
    assert prorate(146.45, "2024-01-01", "2024-12-31") == (12, 1757.4)


def test_rounding_is_once_and_half_up() -> None:
    # 146.45 x 15/30 = 73.225 exactly: half up gives 73.23 (floats store 73.22499...).
    assert prorate(146.45, "2024-06-01", "2024-06-15") == (1, 73.23)


def test_prorate_rejects_end_before_start() -> None:
    with pytest.raises(PmpmInputError):
        prorate(100, "2024-03-01", "2024-02-01")


def test_prorate_column_gives_na_for_unusable_rows() -> None:
    out = prorate_column(
        pd.Series([100, "x", 100, 100], index=[10, 11, 12, 13]),
        pd.Series(["2024-01-01", "2024-01-01", None, "2024-03-01"], index=[10, 11, 12, 13]),
        ["2024-01-31", "2024-01-31", "2024-01-31", "2024-02-01"],
    )
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out["units"].tolist() == [1, pd.NA, pd.NA, pd.NA]
    assert out["cost"].tolist() == [100.0, pd.NA, pd.NA, pd.NA]


def test_price_spans_adds_units_and_cost() -> None:
    out = price_spans(pmpm(("M1", "2024-02-15", "2024-04-30")))
    assert out[["units", "cost"]].iloc[0].tolist() == [3, round(100 * (15 / 29 + 2), 2)]


days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@settings(deadline=None)  # timing is the benchmarks' business, not a property's
@given(start=days, length=st.integers(0, 800), rate=st.integers(1, 200_000).map(lambda c: c / 100))
def test_prorate_properties(start: date, length: int, rate: float) -> None:
    end = start + timedelta(days=length)
    units, cost = prorate(rate, start, end)
    assert units == (end.year - start.year) * 12 + end.month - start.month + 1
    assert 0 <= cost <= round(units * rate, 2)
    # Splitting at a month boundary splits the cost (up to one cent per rounding).
    first_month_end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
    if first_month_end < end:
        u1, c1 = prorate(rate, start, first_month_end)
        u2, c2 = prorate(rate, first_month_end + timedelta(days=1), end)
        assert u1 + u2 == units
        assert abs(c1 + c2 - cost) <= 0.011


# --- the commands ------------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = Parser(prog="xl-pmpm")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_prorate_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prorate", "290", "2024-02-01", "2024-02-10", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["units"], out["cost"]) == (1, 100.0)
    assert run(["prorate", "290", "2024-02-01", "2024-02-10"]) == 0
    assert "1 unit(s), $100.00" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, column",
    [
        (["prorate", "$290", "2024-02-01", "2024-02-10"], "RATE"),
        (["prorate", "290", "2/1/2024", "2024-02-10"], "START"),
        (["prorate", "290", "2024-02-10", "2024-02-01"], None),
    ],
)
def test_prorate_command_bad_input(
    argv: list[str], column: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    if column:
        assert f"column '{column}'" in err


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_spans_command(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    fi_file = write(
        tmp_path,
        "fi.csv",
        "Member,Provider,Start,End\n"
        f"007,{ESFM},2024-01-01,2024-06-30\n"
        f"008,{ESFM},2024-01-01,2024-06-30\n",
    )
    pm_file = write(
        tmp_path,
        "pmpm.csv",
        "member,start,end,monthly_rate\n"
        "007,2024-01-01,2024-06-30,100\n"
        "008,2024-01-01,2024-03-31,100\n"
        "008,2024-03-31,2024-06-30,100\n",
    )
    assert run(["spans", fi_file, pm_file, "--provider", ESFM, "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [(f["member"], f["code"]) for f in out["findings"]] == [("008", "pmpm-overlap")]
    assert out["findings"][0]["pmpm_lines"] == [3, 4] and out["findings"][0]["fi_lines"] == [3]
    assert out["pmpm"][0] == {
        "line": 2,
        "member": "007",
        "start": "2024-01-01",
        "end": "2024-06-30",
        "monthly_rate": 100.0,
        "units": 6,
        "cost": 600.0,
    }
    ok_file = write(tmp_path, "ok.csv", "member,start,end\n007,2024-01-01,2024-06-30\n")
    assert run(["spans", fi_file, ok_file, "--provider", ESFM]) == 1  # 008 has no PMPM
    assert (
        "FI file line 3: Add PMPM Service(s) to the plan [pmpm-missing]" in capsys.readouterr().out
    )


def test_spans_text_output_names_lines_never_members(tmp_path, capsys) -> None:
    members = ["0012345", "MBR-778", "Ana Smith"]  # IDs with zeros, codes, even names
    fi_file = write(
        tmp_path,
        "fi.csv",
        "member,provider,start,end\n"
        + "".join(f"{m},{ESFM},2024-01-01,2024-06-30\n" for m in members)
        + "MBR-900,Other FI,2024-01-01,2024-06-30\n",
    )
    pm_file = write(
        tmp_path,
        "pmpm.csv",
        "member,start,end,monthly_rate\n"
        "0012345,2023-12-01,2024-03-31,100\n"  # line 2: starts early
        "0012345,2024-03-31,2024-06-30,100\n"  # line 3: overlaps line 2
        "Ana Smith,2024-01-01,2024-05-31,\n"  # line 4: does not cover June
        "MBR-900,2024-01-01,2024-06-30,100\n",  # line 5: no FI with ESFM
    )
    assert run(["spans", fi_file, pm_file, "--provider", ESFM]) == 1
    out = capsys.readouterr().out
    for member in [*members, "MBR-900"]:
        assert member not in out
    assert "MBR" not in out and "12345" not in out
    assert "FI file line 3: Add PMPM Service(s) to the plan [pmpm-missing]" in out
    assert "FI file line 2, PMPM file lines 2, 3: PMPM services dates are overlapping" in out
    assert "FI file line 5, PMPM file line 5: Remove PMPM Service(s)" in out
    assert "  line 4  2024-01-01 to 2024-05-31: no rate" in out
    assert run(["spans", fi_file, pm_file, "--provider", ESFM, "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert {f["member"] for f in found} == {"0012345", "MBR-778", "Ana Smith", "MBR-900"}


@pytest.mark.parametrize(
    "text, line, column",
    [
        ("member,start,end\n007,2024-01-01,2024-13-01\n", 2, "end"),
        ("member,start,end\n\n007,2024-01-01,2024-06-30\n008,1/2/2024,2024-06-30\n", 4, "start"),
        ("member,start,end\n007,2024-06-30,2024-01-01\n", 2, "end"),
        ("member,start,end\n,2024-01-01,2024-06-30\n", 2, "member"),
        ("member,start,end,monthly_rate\n007,2024-01-01,2024-06-30,$100\n", 2, "monthly_rate"),
        ("member,start\n007,2024-01-01\n", 1, None),
    ],
)
def test_spans_command_bad_input_names_file_line_and_column(
    tmp_path, capsys: pytest.CaptureFixture[str], text: str, line: int, column: str | None
) -> None:
    fi_file = write(
        tmp_path, "fi.csv", f"member,provider,start,end\n007,{ESFM},2024-01-01,2024-06-30\n"
    )
    pm_file = write(tmp_path, "pmpm.csv", text)
    assert run(["spans", fi_file, pm_file, "--provider", ESFM]) == 2
    err = capsys.readouterr().err
    assert "pmpm.csv" in err and f"line {line}" in err
    if column:
        assert f"column '{column}'" in err
