"""Claim dates, export codes and the service-code / rate setup (HHAeXchange, seed 001)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from xl_pmpm.cli.commands_rules import add_commands
from xl_pmpm.cli.parser import Parser
from xl_pmpm.core.claims import claim_dates_for, export_code
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import CODES
from xl_pmpm.core.rates import parse_rate_book
from xl_pmpm.core.service_setup import SETUP_CODES, check_service_setup
from xl_pmpm.io import files

BOOK = files.load_rate_book()

# --- claim dates -------------------------------------------------------------------------


def test_elderplan_uses_the_first_day_for_from_and_through() -> None:
    assert claim_dates_for("2024-11", "Elderplan", BOOK) == (date(2024, 11, 1), date(2024, 11, 1))


@pytest.mark.parametrize("payer", ["*", "Sample Health Plan", "A payer not listed"])
def test_other_payers_use_the_whole_month(payer: str) -> None:
    assert claim_dates_for("2024-11", payer, BOOK) == (date(2024, 11, 1), date(2024, 11, 30))


def test_leap_february_through_date() -> None:
    assert claim_dates_for("2024-02", "*", BOOK)[1] == date(2024, 2, 29)
    assert claim_dates_for("2024-02", "Elderplan", BOOK)[1] == date(2024, 2, 1)


def test_the_exception_is_data_not_code() -> None:
    payers = "payer,contracts,hours_basis,claim_dates\n*,,utilized,first_day\nElderplan,,,month\n"
    rates = (files.bundled("rates.csv")).read_text(encoding="utf-8")
    book = parse_rate_book(rates, payers)
    assert claim_dates_for("2024-11", "Elderplan", book)[1] == date(2024, 11, 30)
    assert claim_dates_for("2024-11", "Other", book)[1] == date(2024, 11, 1)


def test_claim_dates_bad_month() -> None:
    with pytest.raises(PmpmInputError):
        claim_dates_for("November", "*", BOOK)


# --- export codes ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["2443", "2444", "2445", " 2444 "])
def test_plain_rate_codes_leave_the_export_code_blank(code: str) -> None:
    assert export_code(code, "PMPM Tier Code") == ""


def test_other_codes_get_five_colons_and_the_description() -> None:
    assert export_code("SHP-T1", "PMPM Tier 1") == "SHP-T1:::::PMPM Tier 1"
    assert export_code("2443 Skilled", "PMPM Tier 1") == "2443 Skilled:::::PMPM Tier 1"


def test_a_modifiers_colon_is_the_first_of_the_five() -> None:
    assert export_code("T2040", "PMPM", "HI") == "T2040:HI::::PMPM"
    assert export_code("T2040", "PMPM", ["HI", "22"]) == "T2040:HI:22:::PMPM"
    assert export_code("T2040", "PMPM", "") == "T2040:::::PMPM"
    for text in ("T2040:HI::::PMPM", "T2040:HI:22:::PMPM"):
        assert text.count(":") == 5


def test_a_plain_code_with_a_modifier_is_not_plain() -> None:
    assert export_code("2443", "PMPM Tier 1", "U1") == "2443:U1::::PMPM Tier 1"


def test_the_blank_codes_are_a_parameter() -> None:
    assert export_code("SHP-T1", "PMPM Tier 1", blank_codes=("SHP-T1",)) == ""
    assert export_code("2443", "PMPM Tier 1", blank_codes=()) == "2443:::::PMPM Tier 1"


def test_export_code_bad_input() -> None:
    with pytest.raises(PmpmInputError):
        export_code(" ", "PMPM")
    with pytest.raises(PmpmInputError):
        export_code("T2040", "PMPM", ["A", "B", "C", "D", "E"])


# --- service-code and rate setup ---------------------------------------------------------

HEADER = (
    "payer,tier,min_hours,max_hours,rate_code,service_code,skilled_service_code,"
    "revenue_code,rate,effective_from,effective_to\n"
)
DEFAULT_ROWS = (
    "*,1,1,160,2443,2443,2443 Skilled,,146.45,2024-08-01,\n"
    "*,2,160,480,2444,2444,2444 Skilled,,387.84,2024-08-01,\n"
    "*,3,480,,2445,2445,2445 Skilled,,1046.36,2024-08-01,\n"
)
PAYERS = "payer,contracts,hours_basis,claim_dates\n*,,utilized,month\n"


def book_of(rows: str):
    return parse_rate_book(HEADER + rows, PAYERS)


def test_the_bundled_setup_is_clean() -> None:
    for payer in ("*", "Elderplan", "Sample Health Plan"):
        found = check_service_setup(BOOK, payer, ["2024-08", "2025-01", "2026-10"])
        assert found.empty, found.to_dict("records")


def test_hcpcs_must_match_the_tier_rate_code_exactly() -> None:
    rows = DEFAULT_ROWS.replace("*,2,160,480,2444,", "*,2,160,480,2444.0,")
    found = check_service_setup(book_of(rows), "*", ["2024-09"])
    assert found["code"].tolist() == ["hcpcs-mismatch"]
    assert found["row"].tolist() == [3]
    assert found["field"].tolist() == ["rate_code"]
    assert found["value"].tolist() == ["2444.0"]


def test_an_hcpcs_column_is_checked_when_present() -> None:
    header = HEADER.replace("\n", ",hcpcs\n")
    rows = "".join(
        line + ("," + ("02443" if line.startswith("*,1") else line.split(",")[4])) + "\n"
        for line in DEFAULT_ROWS.splitlines()
    )
    book = parse_rate_book(header + rows, PAYERS)
    found = check_service_setup(book, "*", ["2024-09"])
    assert found[["code", "field", "value"]].values.tolist() == [
        ["hcpcs-mismatch", "hcpcs", "02443"]
    ]


def test_blank_revenue_code_warns_for_payer_rows_only() -> None:
    rows = DEFAULT_ROWS + (
        "Plan A,1,1,160,2443,PA-T1,PA-T1 Skilled,0189,150,2025-01-01,\n"
        "Plan A,2,160,480,2444,PA-T2,PA-T2 Skilled,,395,2025-01-01,\n"
    )
    found = check_service_setup(book_of(rows), "Plan A", ["2025-01"])
    assert found[["code", "severity", "row"]].values.tolist() == [
        ["revenue-code-missing", "warning", 6]
    ]
    assert check_service_setup(book_of(rows), "*", ["2025-01"]).empty


def test_every_tier_needs_a_rate_every_month() -> None:
    rows = DEFAULT_ROWS.replace(
        "*,3,480,,2445,2445,2445 Skilled,,1046.36,2024-08-01,",
        ("*,3,480,,2445,2445,2445 Skilled,,1046.36,2024-08-01,2024-09-30"),
    )
    found = check_service_setup(book_of(rows), "*", ["2024-07", "2024-09", "2024-10"])
    no_rate = found[found["code"] == "no-rate"]
    assert no_rate["value"].tolist() == ["1", "2", "3", "3"]
    assert no_rate["row"].isna().all()
    messages = " ".join(no_rate["message"])
    assert "2024-07" in messages and "2024-10" in messages and "2024-09" not in messages


def test_service_codes_are_unique_across_tiers() -> None:
    rows = DEFAULT_ROWS.replace("2444 Skilled", "2443 Skilled")
    found = check_service_setup(book_of(rows), "*", ["2024-09"])
    assert found["code"].tolist() == ["duplicate-service-code"] * 2
    assert found["row"].tolist() == [2, 3]
    assert set(found["value"]) == {"2443 Skilled"}


def test_a_missing_service_code() -> None:
    rows = DEFAULT_ROWS.replace("*,1,1,160,2443,2443,", "*,1,1,160,2443,,")
    found = check_service_setup(book_of(rows), "*", ["2024-09"])
    assert found["code"].tolist() == ["service-code-missing"]


def test_tier_rate_codes_are_a_parameter() -> None:
    found = check_service_setup(BOOK, "*", ["2024-09"], tier_rate_codes={1: "T1", 2: "2444"})
    assert found["code"].tolist() == ["hcpcs-mismatch"]


def test_setup_findings_take_severity_and_fix_from_the_one_code_table() -> None:
    rows = (
        DEFAULT_ROWS.replace("*,2,160,480,2444,", "*,2,160,480,2444.0,")
        .replace("2444 Skilled", "2443 Skilled")
        .replace("*,3,480,,2445,2445,", "*,3,480,,2445,,")
    ) + "Plan A,1,1,160,2443,PA-T1,PA-T1 Skilled,,150,2025-01-01,\n"
    found = check_service_setup(book_of(rows), "Plan A", ["2024-07", "2024-09", "2025-01"])
    assert set(found["code"]) == set(SETUP_CODES)
    for f in found.to_dict("records"):
        severity, fix = CODES[f["code"]]
        assert f["severity"] == severity and f["message"].endswith(" " + fix), f


def test_setup_bad_month() -> None:
    with pytest.raises(PmpmInputError):
        check_service_setup(BOOK, "*", ["2024/09"])


# --- the claim-dates command -------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = Parser(prog="xl-pmpm")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_claim_dates_command(capsys) -> None:
    assert run(["claim-dates", "2024-11", "--payer", "Elderplan", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "month": "2024-11",
        "payer": "Elderplan",
        "rule": "first_day",
        "from": "2024-11-01",
        "through": "2024-11-01",
        "submit_from": "2024-12-01",
        "submit_until": "2025-02-28",
        "warnings": [],
    }
    assert run(["claim-dates", "2024-11"]) == 0
    assert "claim From 2024-11-01, Through 2024-11-30" in capsys.readouterr().out


def test_claim_dates_command_bad_input(tmp_path, capsys) -> None:
    assert run(["claim-dates", "11/2024"]) == 2
    assert "MONTH" in capsys.readouterr().err
    assert run(["claim-dates", "2024-11", "--payers", str(tmp_path / "none.csv")]) == 2
    assert "not found" in capsys.readouterr().err


def test_every_command_sets_func() -> None:
    parser = Parser(prog="xl-pmpm")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    assert set(sub.choices) == {
        "prorate",
        "perdiem",
        "spans",
        "claim-dates",
        "kpi",
        "service-setup",
    }
    for p in sub.choices.values():
        assert callable(p.get_default("func"))
        assert p.get_default("format") == "text"
