"""Tiers, rates and payers: boundaries, vectorized assignment, overrides, dates, rate errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from core_helpers import (
    AUTHORIZED,
    BILLED,
    BOOK,
    CONTRACT,
    HEADER,
    LAYOUT,
    SERVICE,
    TIER,
    UNBILLED,
    check_bytes,
    check_rows,
    csv_bytes,
    valid_row,
    valid_rows,
)

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.rates import tier_for_hours
from xl_pmpm.io import files

MONTH = "2025-03"
RATES_TEXT = files.bundled("rates.csv").read_text(encoding="utf-8")
PAYERS_TEXT = files.bundled("payers.csv").read_text(encoding="utf-8")
AUTH_CONTRACT = "Authorized Example Home Care"


def reference_tier(hours: float) -> int | None:
    """The NY CDPAP tiers: 1 for [1, 160), 2 for [160, 480), 3 for 480 and above."""
    if math.isnan(hours) or hours < 1:
        return None
    if hours < 160:
        return 1
    if hours < 480:
        return 2
    return 3


# --- boundaries -------------------------------------------------------------------------


BOUNDARIES = [
    (0, None, None, None),
    (0.99, None, None, None),
    (1, 1, "2443", 146.45),
    (159.5, 1, "2443", 146.45),
    (159.99, 1, "2443", 146.45),
    (160, 2, "2444", 387.84),
    (479.99, 2, "2444", 387.84),
    (480, 3, "2445", 1046.36),
]


@pytest.mark.parametrize(("hours", "tier", "rate_code", "rate"), BOUNDARIES)
def test_tier_boundary(hours: float, tier: int | None, rate_code: str | None, rate) -> None:
    row = tier_for_hours(hours, month=MONTH, book=BOOK).iloc[0]
    if tier is None:
        assert pd.isna(row["tier"])
        assert pd.isna(row["rate_code"])
        assert math.isnan(row["rate"])
    else:
        assert row["tier"] == tier
        assert row["rate_code"] == rate_code
        assert row["service_code"] == rate_code
        assert row["rate"] == pytest.approx(rate)


def test_tier_boundaries_in_one_call() -> None:
    hours = [h for h, *_ in BOUNDARIES]
    out = tier_for_hours(hours, month=MONTH, book=BOOK)
    assert out["hours"].tolist() == hours
    assert [None if pd.isna(t) else int(t) for t in out["tier"]] == [t for _, t, _, _ in BOUNDARIES]


@pytest.mark.parametrize("value", ["", "abc", None, float("nan"), -3])
def test_not_a_number_or_negative_hours_have_no_tier(value) -> None:
    out = BOOK.assign(pd.Series([value], dtype=object), "*", MONTH)
    assert pd.isna(out["tier"].iloc[0])


def test_vectorized_assignment_equals_reference_on_100k_values() -> None:
    rng = np.random.default_rng(7)
    hours = np.round(rng.uniform(-5, 800, 100_000), 2)
    hours[:12] = [0, 0.99, 1, 159.5, 159.99, 160, 479.99, 480, np.nan, -0.0, 1e6, 0.999]
    series = pd.Series(hours, index=pd.RangeIndex(2, 100_002))
    out = BOOK.assign(series, "*", MONTH)
    assert out.index.equals(series.index)
    got = [None if pd.isna(t) else int(t) for t in out["tier"]]
    assert got == [reference_tier(h) for h in hours]
    rates = {1: 146.45, 2: 387.84, 3: 1046.36}
    expected_rate = pd.Series([rates.get(t, np.nan) for t in got], index=series.index)
    pd.testing.assert_series_equal(out["rate"], expected_rate, check_names=False)
    codes = {1: "2443", 2: "2444", 3: "2445"}
    assert out["rate_code"].fillna("").tolist() == [codes.get(t, "") for t in got]


def test_mixed_payers_with_tables_of_other_sizes_equal_a_row_by_row_lookup() -> None:
    """Each row's tier is its own payer's: the row of that payer's table whose bounds hold
    its hours (min <= hours < max), none outside every row, none without a payer."""
    extra = (
        "Short Plan,1,1,100,2443,SP-T1,SP-T1 Skilled,0189,100.00,2024-08-01,,test\n"
        "Short Plan,2,100,300,2444,SP-T2,SP-T2 Skilled,0189,300.00,2024-08-01,,test\n"
    )
    book = files.parse_rate_book(RATES_TEXT + extra, PAYERS_TEXT)
    rng = np.random.default_rng(11)
    names = ["*", "Sample Health Plan", "Short Plan", None]
    payers = pd.Series(rng.choice(np.array(names, dtype=object), 20_000))
    hours = np.round(rng.uniform(-5, 700, len(payers)), 2)
    hours[:10] = [0, 1, 99.99, 100, 159.99, 160, 299.99, 300, 480, np.nan]
    out = book.assign(pd.Series(hours), payers, MONTH)

    def lookup(payer, h):
        if not isinstance(payer, str) or np.isnan(h):  # no payer (missing), no hours
            return None
        table = book.tier_table(payer, pd.Timestamp(MONTH))
        inside = table[(table["min_hours"] <= h) & (h < table["max_hours"])]
        return int(inside["tier"].iloc[0]) if len(inside) else None

    got = [None if pd.isna(t) else int(t) for t in out["tier"]]
    assert got == [lookup(p, h) for p, h in zip(payers, hours, strict=True)]
    assert {t for t, p in zip(got, payers, strict=True) if p == "Short Plan"} >= {1, 2, None}


def test_hours_as_text_are_read_as_numbers() -> None:
    out = BOOK.assign(pd.Series(["159.99", "160.00", " 480 "]), "*", MONTH)
    assert out["tier"].tolist() == [1, 2, 3]


# --- payers and effective dates ---------------------------------------------------------


def test_payer_override_has_its_own_codes_and_rates() -> None:
    out = tier_for_hours([100, 200, 500], "Sample Health Plan", MONTH, book=BOOK)
    assert out["tier"].tolist() == [1, 2, 3]
    assert out["service_code"].tolist() == ["SHP-T1", "SHP-T2", "SHP-T3"]
    assert out["skilled_service_code"].tolist() == [
        "SHP-T1 Skilled",
        "SHP-T2 Skilled",
        "SHP-T3 Skilled",
    ]
    assert out["rate_code"].tolist() == ["2443", "2444", "2445"]
    assert out["revenue_code"].tolist() == ["0189"] * 3
    assert out["rate"].tolist() == [150.0, 395.0, 1060.0]


def test_payer_override_applies_from_its_effective_date_only() -> None:
    out = tier_for_hours([100, 200, 500], "Sample Health Plan", "2024-12", book=BOOK)
    assert out["service_code"].tolist() == ["2443", "2444", "2445"]
    assert out["rate"].tolist() == [146.45, 387.84, 1046.36]


def test_unknown_payer_gets_the_default_rates() -> None:
    out = tier_for_hours([100, 200, 500], "Nobody Health", MONTH, book=BOOK)
    assert out["rate"].tolist() == [146.45, 387.84, 1046.36]


def test_partial_override_falls_back_tier_by_tier() -> None:
    extra = "Partial Plan,2,160,480,2444,PP-T2,PP-T2 Skilled,0190,400.00,2024-08-01,,test\n"
    book = files.parse_rate_book(RATES_TEXT + extra, PAYERS_TEXT)
    out = tier_for_hours([100, 200, 500], "Partial Plan", MONTH, book=book)
    assert out["tier"].tolist() == [1, 2, 3]
    assert out["service_code"].tolist() == ["2443", "PP-T2", "2445"]
    assert out["rate"].tolist() == [146.45, 400.0, 1046.36]


def test_mixed_payers_in_one_series() -> None:
    hours = pd.Series([100.0, 100.0, 500.0, 500.0])
    payers = pd.Series(["*", "Sample Health Plan", "Sample Health Plan", "*"])
    out = BOOK.assign(hours, payers, MONTH)
    assert out["rate"].tolist() == [146.45, 150.0, 1060.0, 1046.36]


def test_contracts_map_to_payers_by_pattern() -> None:
    contracts = pd.Series(
        ["Sample Health Plan PMPM", "elderplan cdpap", "Linked - Nowhere Health", AUTH_CONTRACT]
    )
    payers = BOOK.payer_for_contracts(contracts).tolist()
    assert payers == ["Sample Health Plan", "Elderplan", "*", "Authorized Example Plan"]


@pytest.mark.parametrize(
    "contract",
    ["Linked - Elderplan CDPAP", "ELDER PLAN internal", "Elder-Plan", "UPR – elderplan, MLTC"],
)
def test_contracts_match_payers_whatever_the_case_spaces_and_punctuation(contract: str) -> None:
    assert BOOK.payer_for_contracts(pd.Series([contract])).tolist() == ["Elderplan"]


@pytest.mark.parametrize("name", ["elderplan", "Elder Plan", "ELDER-PLAN", " elderplan "])
def test_payers_are_named_loosely(name: str) -> None:
    assert BOOK.payer_named(name) == "Elderplan"
    assert BOOK.payer_settings(name)["claim_dates"] == "first_day"


def test_an_unknown_payer_name_is_none_and_resolves_to_the_default() -> None:
    assert BOOK.payer_named("Nowhere Health") is None
    assert BOOK.resolve_payer("Nowhere Health") == "*"
    assert BOOK.payer_settings("Nowhere Health")["payer"] == "*"


def test_payer_windows_and_code_settings_are_read_with_defaults() -> None:
    payers = (
        "payer,contracts,hours_basis,claim_dates,late,submission_days\n"
        "*,,,,,\nStrict,Strict*,,,error,60\n"
    )
    book = files.parse_rate_book(RATES_TEXT, payers)
    strict = book.payer_settings("strict")
    assert (strict["late"], strict["submission_days"], strict["own_codes"]) == ("error", 60, "no")
    assert book.payer_settings("*")["submission_days"] == 90


def test_a_bad_late_setting_names_its_line() -> None:
    payers = "payer,contracts,hours_basis,claim_dates,late\n*,,,,warning\nX,X*,,,maybe\n"
    with pytest.raises(PmpmInputError) as raised:
        files.parse_rate_book(RATES_TEXT, payers)
    assert raised.value.row == 3 and raised.value.column == "late"


@pytest.mark.parametrize(
    ("month", "rates"),
    [
        ("2021-04", [145.0, 384.0, 1036.0]),
        ("2023-06", [145.0, 384.0, 1036.0]),
        ("2024-07", [145.0, 384.0, 1036.0]),
        ("2024-08", [146.45, 387.84, 1046.36]),
        ("2026-10", [146.45, 387.84, 1046.36]),
    ],
)
def test_effective_dating(month: str, rates: list[float]) -> None:
    out = tier_for_hours([100, 200, 500], month=month, book=BOOK)
    assert out["rate"].tolist() == rates


def test_month_inside_dates_uses_the_first_of_the_month() -> None:
    out = tier_for_hours([100], month=pd.Timestamp("2024-07-31 23:00"), book=BOOK)
    assert out["rate"].tolist() == [145.0]


@pytest.mark.parametrize("month", ["2021-03", "2019-12"])
def test_month_with_no_rate_raises(month: str) -> None:
    with pytest.raises(PmpmInputError, match="No rate is in force"):
        tier_for_hours([100], month=month, book=BOOK)


def test_bundled_sample_health_plan_validates_with_its_codes(tmp_path: Path) -> None:
    rows = valid_rows(2, **{CONTRACT: "Sample Health Plan PMPM", SERVICE: "SHP-T1"})
    rows[1][SERVICE] = "2443"
    checked = check_rows(tmp_path, rows)
    assert checked.places("service-code-mismatch") == [("error", 3, SERVICE)]
    assert len(checked.findings) == 1
    assert checked.flags["rate"].tolist() == [150.0, 150.0]


# --- rate-table errors ------------------------------------------------------------------


def write_rates(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "my_rates.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rate_lines() -> list[str]:
    return RATES_TEXT.strip("\n").split("\n")


def assert_points_at(exc: PmpmInputError, path: Path, line: int, column: str) -> None:
    assert exc.file == str(path)
    assert exc.row == line
    assert exc.column == column
    text = str(exc)
    assert str(path) in text
    assert f"line {line}" in text
    assert f"column '{column}'" in text


def test_overlapping_effective_dates_are_refused(tmp_path: Path) -> None:
    lines = rate_lines()
    lines.append("*,1,1,160,2443,2443,2443 Skilled,,150.00,2024-06-01,,overlap")  # line 11
    path = write_rates(tmp_path, lines)
    with pytest.raises(PmpmInputError, match="same days") as info:
        files.load_rate_book(path)
    assert_points_at(info.value, path, 11, "effective_from")


def test_adjacent_effective_dates_are_accepted(tmp_path: Path) -> None:
    lines = rate_lines()
    lines[4] = lines[4].replace("2021-04-01,2024-07-31", "2021-04-01,2024-07-30")
    lines.append("*,1,1,160,2443,2443,2443 Skilled,,145.50,2024-07-31,2024-07-31,one day")
    book = files.load_rate_book(write_rates(tmp_path, lines))
    assert tier_for_hours([100], month="2024-07", book=book)["rate"].tolist() == [145.0]


@pytest.mark.parametrize("bounds", ["160,160", "200,160"])
def test_min_not_below_max_is_refused(tmp_path: Path, bounds: str) -> None:
    lines = rate_lines()
    assert lines[2].startswith("*,2,160,480,")  # line 3
    lines[2] = lines[2].replace("*,2,160,480,", f"*,2,{bounds},", 1)
    path = write_rates(tmp_path, lines)
    with pytest.raises(PmpmInputError, match="min_hours") as info:
        files.load_rate_book(path)
    assert_points_at(info.value, path, 3, "min_hours")


def test_rate_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    lines = rate_lines()
    lines[5] = lines[5].replace("384.00", "$384")  # line 6
    path = write_rates(tmp_path, lines)
    with pytest.raises(PmpmInputError, match=r"'\$384' is not a number") as info:
        files.load_rate_book(path)
    assert_points_at(info.value, path, 6, "rate")


@pytest.mark.parametrize(
    ("old", "new", "column", "said"),
    [
        ("*,2,160,", "*,1e999,160,", "tier", "'1e999' is not a number"),  # found by the fuzzer
        ("*,2,160,", "*,2.5,160,", "tier", "'2.5' is not a whole number"),
        ("*,2,160,", "*,2,inf,", "min_hours", "'inf' is not a number"),
        ("384.00", "1e999", "rate", "'1e999' is not a number"),
    ],
)
def test_a_number_that_is_not_finite_or_a_tier_that_is_not_whole_is_refused(
    tmp_path: Path, old: str, new: str, column: str, said: str
) -> None:
    lines = rate_lines()
    assert lines[5].startswith("*,2,160,480,")  # line 6
    lines[5] = lines[5].replace(old, new, 1)
    path = write_rates(tmp_path, lines)
    with pytest.raises(PmpmInputError, match=re.escape(said)) as info:
        files.load_rate_book(path)
    assert_points_at(info.value, path, 6, column)


def test_date_that_is_not_a_date_is_refused(tmp_path: Path) -> None:
    lines = rate_lines()
    lines[7] = lines[7].replace("2025-01-01", "1/1/2025")  # line 8
    path = write_rates(tmp_path, lines)
    with pytest.raises(PmpmInputError, match="not a date") as info:
        files.load_rate_book(path)
    assert_points_at(info.value, path, 8, "effective_from")


def test_rate_table_missing_a_column_is_refused(tmp_path: Path) -> None:
    lines = [line.rsplit(",", 1)[0] for line in rate_lines()]  # drop `source`: still fine
    files.load_rate_book(write_rates(tmp_path, lines))
    lines = [",".join(line.split(",")[:8] + line.split(",")[9:]) for line in rate_lines()]
    path = write_rates(tmp_path, lines)
    with pytest.raises(PmpmInputError, match="rate") as info:
        files.load_rate_book(path)
    assert info.value.file == str(path)
    assert info.value.row == 1


def test_unknown_hours_basis_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "payers.csv"
    path.write_text(PAYERS_TEXT.replace("authorized", "approved"), encoding="utf-8")
    with pytest.raises(PmpmInputError, match="approved") as info:
        files.load_rate_book(payers=path)
    assert (info.value.file, info.value.row, info.value.column) == (str(path), 5, "hours_basis")


# --- authorized-hours basis -------------------------------------------------------------

AUTH_HEADER = [*HEADER, AUTHORIZED]


def auth_row(i: int = 0, authorized: str = "200.00", **overrides: str) -> dict[str, str]:
    base = {CONTRACT: AUTH_CONTRACT, BILLED: "100.00", TIER: "2", SERVICE: "2444"}
    return dict(valid_row(i, **{**base, **overrides}), **{AUTHORIZED: authorized})


def test_authorized_basis_takes_the_tier_from_authorized_hours(tmp_path: Path) -> None:
    rows = [auth_row(0), auth_row(1, "100.00", **{TIER: "1", SERVICE: "2443"})]
    checked = check_bytes(tmp_path, csv_bytes(AUTH_HEADER, rows))
    assert checked.findings.empty, checked.findings.to_string()
    assert checked.flags["hours_basis"].tolist() == ["authorized", "authorized"]
    assert checked.flags["tier"].tolist() == [2, 1]


def test_authorized_basis_is_never_at_risk(tmp_path: Path) -> None:
    rows = [
        auth_row(0, "150.00", **{BILLED: "150.00", UNBILLED: "40.00", TIER: "1", SERVICE: "2443"}),
        auth_row(1, "470.00", **{BILLED: "300.00", UNBILLED: "300.00"}),
    ]
    checked = check_bytes(tmp_path, csv_bytes(AUTH_HEADER, rows))
    assert checked.findings.empty, checked.findings.to_string()
    assert not checked.flags["at_risk"].any()
    assert checked.flags["dollar_effect"].tolist() == [0.0, 0.0]


def test_utilized_basis_with_the_same_hours_is_at_risk(tmp_path: Path) -> None:
    rows = [valid_row(0, **{BILLED: "150.00", UNBILLED: "40.00"})]
    rows[0][AUTHORIZED] = "150.00"
    checked = check_bytes(tmp_path, csv_bytes(AUTH_HEADER, rows))
    assert checked.places("tier-at-risk") == [("warning", 2, BILLED)]


def test_authorized_basis_without_authorized_hours_is_required(tmp_path: Path) -> None:
    rows = [auth_row(0, ""), valid_row(1)]
    rows[1][AUTHORIZED] = ""  # a utilized payer needs none
    checked = check_bytes(tmp_path, csv_bytes(AUTH_HEADER, rows))
    assert checked.places("required") == [("error", 2, AUTHORIZED)]


def test_authorized_basis_when_the_column_is_absent_is_required(tmp_path: Path) -> None:
    rows = [valid_row(0, **{CONTRACT: AUTH_CONTRACT})]
    checked = check_bytes(tmp_path, csv_bytes(HEADER, rows))
    assert checked.places("required") == [("error", 2, AUTHORIZED)]


def test_authorized_hours_column_is_type_checked(tmp_path: Path) -> None:
    checked = check_bytes(tmp_path, csv_bytes(AUTH_HEADER, [auth_row(0, "lots")]))
    assert ("error", 2, AUTHORIZED) in checked.places("type")


def test_flags_on_an_authorized_table_directly() -> None:
    table = pd.DataFrame([auth_row(0, "480.00", **{BILLED: "10.00"})], index=[2], dtype=str)
    flags = flag_tier_risk(table, LAYOUT, BOOK, pd.Timestamp(MONTH))
    assert flags.loc[2, "basis_hours"] == 480.0
    assert flags.loc[2, "tier"] == 3
    assert flags.loc[2, "rate"] == 1046.36
    assert not flags.loc[2, "below_minimum"]
