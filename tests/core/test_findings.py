"""Every finding code, each shown on a small CSV file read and validated as the workflow does.

Rows are file line numbers (header = 1, first data row = 2; None for file-level findings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from core_helpers import (
    AGENCY,
    AS_OF,
    BILLED,
    BOOK,
    CAREGIVER,
    CONTRACT,
    DAY,
    DISCIPLINE,
    HEADER,
    LAYOUT,
    MONTH,
    NAME,
    OFFICE,
    PATIENT,
    SCHED_END,
    SCHED_START,
    SERVICE,
    TIER,
    UNBILLED,
    VISIT_END,
    VISIT_START,
    Checked,
    check_bytes,
    check_rows,
    csv_bytes,
    csv_text,
    valid_row,
    valid_rows,
    valid_table,
    write,
)

from benchmarks import sample
from xl_pmpm.core.claims import submission_window
from xl_pmpm.core.findings import CODES, ERROR, WARNING, ValidationReport, combine, file_finding
from xl_pmpm.io import workflow

Places = list[tuple[str, int | None, str | None]]


def rows_with(line: int, n: int = 3, **overrides: str) -> list[dict[str, str]]:
    """`n` valid rows, the one on file line `line` changed by `overrides`."""
    rows = valid_rows(n)
    rows[line - 2] = valid_row(line - 2, **overrides)
    return rows


def lines_of(rows: list[dict[str, str]], header: list[str] | None = None) -> list[str]:
    """The physical lines of a CSV (index 0 = file line 1), without terminators."""
    return csv_text(HEADER if header is None else header, rows).split("\r\n")[:-1]


def join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --- one builder per code: (tmp_path) -> Checked, and where the finding must be ---------


def _not_csv(tmp: Path) -> Checked:
    return check_bytes(tmp, b"PK\x03\x04" + b"\x00" * 200, name="report.xlsx")


def _file_too_large(tmp: Path) -> Checked:
    small = dataclasses.replace(LAYOUT, max_upload_bytes=300)
    return check_bytes(tmp, csv_bytes(HEADER, valid_rows(3)), layout=small)


def _encoding(tmp: Path) -> Checked:
    rows = rows_with(2, **{NAME: "José Lefèvre"})
    return check_bytes(tmp, csv_bytes(HEADER, rows, encoding="cp1252"))


def _delimiter(tmp: Path) -> Checked:
    return check_bytes(tmp, csv_bytes(HEADER, valid_rows(3), sep=";"))


def _title_line(tmp: Path) -> Checked:
    # issue 15: a title and an empty line above the header; lines keep the file's numbers
    return check_bytes(tmp, b"PMPM Tier Report, October\r\n\r\n" + csv_bytes(HEADER, valid_rows(3)))


def _empty_file(tmp: Path) -> Checked:
    return check_bytes(tmp, b"")


def _missing_column(tmp: Path) -> Checked:
    header = [h for h in HEADER if h != OFFICE]
    return check_bytes(tmp, csv_bytes(header, valid_rows(2)))


def _checks_skipped(tmp: Path) -> Checked:
    header = [h for h in HEADER if h != TIER]  # an informational column: not an import field
    return check_bytes(tmp, csv_bytes(header, valid_rows(2)))


def _tier_raised(tmp: Path) -> Checked:
    # 150 billed h is Tier 1; with 20 unbilled h it reaches Tier 2, and the row bills Tier 2.
    return check_rows(
        tmp, rows_with(2, **{BILLED: "150.00", UNBILLED: "20.00", TIER: "2", SERVICE: "2444"})
    )


def _discipline_code_mismatch(tmp: Path) -> Checked:
    rows = rows_with(2, **{SERVICE: "2443 Skilled"})  # PA with the skilled code
    rows[1] = valid_row(1, **{DISCIPLINE: "Other (Skilled)", SERVICE: "2443"})  # and the reverse
    return check_rows(tmp, rows)


def _payer_unknown(tmp: Path) -> Checked:
    return check_rows(tmp, valid_rows(2, **{CONTRACT: "Linked - Nowhere Health CDPAP"}))


def _payer_codes_unset(tmp: Path) -> Checked:
    # Seed 000 names Elderplan; the bundled rate table has no Elderplan rows of its own.
    return check_rows(tmp, valid_rows(2, **{CONTRACT: "Linked - Elder Plan CDPAP"}))


def _extra_column(tmp: Path) -> Checked:
    rows = [dict(r, Notes="call back") for r in valid_rows(2)]
    return check_bytes(tmp, csv_bytes([*HEADER, "Notes"], rows))


def _duplicate_column(tmp: Path) -> Checked:
    return check_bytes(tmp, csv_bytes([*HEADER, TIER], valid_rows(2)))


def _header_variant(tmp: Path) -> Checked:
    header = ["patient number" if h == PATIENT else h for h in HEADER]
    rows = [[r[h] for h in HEADER] for r in valid_rows(2)]
    return check_bytes(tmp, csv_bytes(header, rows))


def _column_order(tmp: Path) -> Checked:
    header = [OFFICE, AGENCY, *HEADER[2:]]
    return check_bytes(tmp, csv_bytes(header, valid_rows(2)))


def _ragged_row(tmp: Path) -> Checked:
    rows = valid_rows(3)
    rows[0][NAME] = "Ana\nSmith"  # file lines 2-3
    lines = lines_of(rows)
    lines[2] = ",".join(lines[2].split(",")[:10])  # file line 4: 10 of 16 values
    return check_bytes(tmp, join(lines))


def _blank_row(tmp: Path) -> Checked:
    lines = lines_of(valid_rows(3))
    lines.insert(2, "," * (len(HEADER) - 1))  # file line 3: a row of empty cells
    return check_bytes(tmp, join(lines))


def _required(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(3, **{CAREGIVER: ""}))


def _type(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{OFFICE: "70a"}))


def _max_length(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{CAREGIVER: "1" * 51}))


def _allowed_value(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(4, n=4, **{DISCIPLINE: "HHA"}))


def _line_break(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(3, **{NAME: "Ana\nSmith"}))


def _datetime_format(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{VISIT_START: "3/1/2025 3:00"}))


def _end_before_start(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{SCHED_END: f"{DAY} 02:00"}))


def _outside_billing_month(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(3, **{VISIT_END: "2025-04-01 03:15"}), month=MONTH)


def _duplicate_member(tmp: Path) -> Checked:
    rows = valid_rows(3)
    rows[2][PATIENT] = rows[0][PATIENT]
    return check_rows(tmp, rows)


def _tier_mismatch(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{TIER: "2"}))


def _service_code_mismatch(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{SERVICE: "2444"}))


def _below_minimum_hours(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{BILLED: "0.50"}))


def _tier_at_risk(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{BILLED: "150.00", UNBILLED: "20.00"}))


def _formula_prefix(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{CAREGIVER: "=1000"}))


def _id_mangled(tmp: Path) -> Checked:
    return check_rows(tmp, rows_with(2, **{PATIENT: "1.23457E+11"}))


def _locked_modified(tmp: Path) -> Checked:
    original = valid_table(3)
    rows = rows_with(3, **{PATIENT: "0009999999"})
    return check_rows(tmp, rows, original=original)


def _too_early(tmp: Path) -> Checked:
    return check_rows(tmp, valid_rows(2), as_of=date(2025, 3, 31))


def _past_deadline(tmp: Path) -> Checked:
    return check_rows(tmp, valid_rows(2), as_of=date(2025, 6, 30))


def _no_month(tmp: Path) -> Checked:
    return check_rows(tmp, valid_rows(2, **{SCHED_START: "soon", SCHED_END: "later"}))


def _mixed_months(tmp: Path) -> Checked:
    rows = valid_rows(3)
    rows[2][SCHED_START] = "2025-02-01 03:00"
    return check_rows(tmp, rows)


def _no_rate(tmp: Path) -> Checked:
    return check_rows(tmp, valid_rows(2, **NO_RATE_STAMPS))


NO_RATE_STAMPS = {  # March 2021: before the first rate in the bundled table (2021-04-01)
    SCHED_START: "2021-03-01 03:00",
    SCHED_END: "2021-03-01 03:15",
    VISIT_START: "2021-03-01 03:00",
    VISIT_END: "2021-03-01 03:15",
}

CASES: dict[str, tuple[Callable[[Path], Checked], Places]] = {
    "not-csv": (_not_csv, [(ERROR, None, None)]),
    "file-too-large": (_file_too_large, [(ERROR, None, None)]),
    "encoding": (_encoding, [(WARNING, None, None)]),
    "delimiter": (_delimiter, [(WARNING, None, None)]),
    "title-line": (_title_line, [(WARNING, 3, None)]),
    "empty-file": (_empty_file, [(ERROR, None, None)]),
    "missing-column": (_missing_column, [(ERROR, 1, OFFICE)]),
    "extra-column": (_extra_column, [(WARNING, 1, "Notes")]),
    "duplicate-column": (_duplicate_column, [(ERROR, 1, TIER)]),
    "header-variant": (_header_variant, [(WARNING, 1, PATIENT)]),
    "column-order": (_column_order, [(WARNING, 1, None)]),
    "ragged-row": (_ragged_row, [(ERROR, 4, None)]),
    "blank-row": (_blank_row, [(ERROR, 3, None)]),
    "required": (_required, [(ERROR, 3, CAREGIVER)]),
    "type": (_type, [(ERROR, 2, OFFICE)]),
    "max-length": (_max_length, [(ERROR, 2, CAREGIVER)]),
    "allowed-value": (_allowed_value, [(ERROR, 4, DISCIPLINE)]),
    "line-break": (_line_break, [(ERROR, 3, NAME)]),
    "datetime-format": (_datetime_format, [(ERROR, 2, VISIT_START)]),
    "end-before-start": (_end_before_start, [(ERROR, 2, SCHED_END)]),
    "outside-billing-month": (_outside_billing_month, [(ERROR, 3, VISIT_END)]),
    "duplicate-member": (_duplicate_member, [(ERROR, 2, PATIENT), (ERROR, 4, PATIENT)]),
    "tier-mismatch": (_tier_mismatch, [(ERROR, 2, TIER)]),
    "service-code-mismatch": (_service_code_mismatch, [(ERROR, 2, SERVICE)]),
    "below-minimum-hours": (_below_minimum_hours, [(ERROR, 2, BILLED)]),
    "tier-at-risk": (_tier_at_risk, [(WARNING, 2, BILLED)]),
    "formula-prefix": (_formula_prefix, [(ERROR, 2, CAREGIVER)]),
    "id-mangled": (_id_mangled, [(ERROR, 2, PATIENT)]),
    "locked-modified": (_locked_modified, [(ERROR, 3, PATIENT)]),
    "too-early": (_too_early, [(ERROR, None, None)]),
    "past-deadline": (_past_deadline, [(WARNING, None, None)]),
    "no-month": (_no_month, [(ERROR, None, None)]),
    "mixed-months": (_mixed_months, [(WARNING, None, None)]),
    "no-rate": (_no_rate, [(ERROR, None, None)]),
    # Added with issue 6 (hardening); tests/project/test_corpus.py has these on realistic files.
    "no-rows": (lambda p: check_bytes(p, csv_bytes(HEADER, [])), [(ERROR, None, None)]),
    "repeated-header": (
        lambda p: check_rows(p, [*valid_rows(2), dict(zip(HEADER, HEADER, strict=True))]),
        [(ERROR, 4, None)],
    ),
    "totals-row": (
        lambda p: check_rows(p, [*valid_rows(2), {AGENCY: "Total", BILLED: "200.00"}]),
        [(ERROR, 4, None)],
    ),
    # Added with issue 13 (true to the sources).
    "checks-skipped": (_checks_skipped, [(WARNING, 1, TIER)]),
    "tier-raised": (_tier_raised, [(WARNING, 2, TIER)]),
    "discipline-code-mismatch": (
        _discipline_code_mismatch,
        [(ERROR, 2, SERVICE), (ERROR, 3, SERVICE)],
    ),
    "payer-unknown": (_payer_unknown, [(WARNING, None, CONTRACT)]),
    "payer-codes-unset": (_payer_codes_unset, [(WARNING, None, CONTRACT)]),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_finding_code_on_small_file(tmp_path: Path, code: str) -> None:
    build, expected = CASES[code]
    checked = build(tmp_path)
    assert checked.places(code) == expected, checked.findings.to_string()
    assert all(sev == CODES[code][0] for sev, _, _ in expected)


@pytest.mark.parametrize("code", sorted(CASES))
def test_finding_message_carries_the_fix(tmp_path: Path, code: str) -> None:
    build, _ = CASES[code]
    messages = build(tmp_path).of(code)["message"]
    assert len(messages) > 0
    assert all(m.endswith(CODES[code][1]) for m in messages)


# Codes that need a ledger; each is asserted in test_ledger.py / test_reconcile.py.
LEDGER_TESTED = {
    "already-exported": "tests/io/test_ledger.py",
    "still-rejected": "tests/io/test_reconcile.py",
    "placeholder-open": "tests/io/test_ledger.py",
}
# Codes of the payer's service-code and rate setup check (rows are rate-table lines).
SETUP_TESTED = (
    dict.fromkeys(
        [
            "hcpcs-mismatch",
            "revenue-code-missing",
            "service-code-missing",
            "duplicate-service-code",
        ],
        "tests/core/test_claim_rules.py",
    )
    | dict.fromkeys(  # issue 13: `xl-pmpm service-setup FILE`
        ["setup-code-unknown", "revenue-code-mismatch", "export-code-format"],
        "tests/cli/test_service_setup.py",
    )
    | dict.fromkeys(  # issue 29: `xl-pmpm service-setup --billing-rates FILE`
        [
            "billing-rate-missing",
            "billing-rate-inactive",
            "billing-rate-mismatch",
            "billing-units",
            "billing-rate-gap",
            "billing-rate-value",
        ],
        "tests/cli/test_service_setup_billing_rates.py",
    )
)

# Issue 14's codes: each is given by corpus files (tests/project/test_corpus.py runs them).
CORPUS_TESTED = dict.fromkeys(
    [
        "invisible-character",
        "excel-error",
        "hours-implausible",
        "several-reports",
        "hidden-row",
        "lone-cr",
    ],
    "tests/corpus/expected.toml",
)


# Issue 22: a member's hours over contracts; contracts HHAeXchange bills itself.
CONTRACTS_TESTED = dict.fromkeys(
    ["split-contracts", "auto-billed-contract"], "tests/core/test_split_contracts.py"
)


def test_every_finding_code_has_a_test() -> None:
    tested = set(CASES) | set(LEDGER_TESTED) | set(SETUP_TESTED) | set(CORPUS_TESTED)
    assert tested | set(CONTRACTS_TESTED) == set(CODES)
    root = Path(__file__).resolve().parents[2]
    every = {**LEDGER_TESTED, **SETUP_TESTED, **CORPUS_TESTED, **CONTRACTS_TESTED}
    for code, test_file in every.items():
        assert f'"{code}"' in (root / test_file).read_text(encoding="utf-8")


def test_the_valid_rows_have_no_finding(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, valid_rows(5), month=MONTH, as_of=AS_OF)
    assert checked.findings.empty, checked.findings.to_string()
    assert checked.validation.valid
    assert checked.validation.rows == 5


def test_check_file_finds_the_same_as_read_and_validate(tmp_path: Path) -> None:
    rows = rows_with(3, **{TIER: "3"})
    path = write(tmp_path, csv_bytes(HEADER, rows))
    checked = workflow.check_file(path, LAYOUT, BOOK, month=MONTH, as_of=AS_OF)
    direct = check_rows(tmp_path, rows, month=MONTH, as_of=AS_OF)
    assert checked.validation.findings.equals(direct.findings)
    assert list(checked.validation.findings["code"]) == ["tier-mismatch"]


# --- file level ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n%binary", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, b"abc\x00def"],
    ids=["pdf", "xls", "nul-bytes"],
)
def test_non_text_files_are_not_csv_and_unreadable(tmp_path: Path, data: bytes) -> None:
    checked = check_bytes(tmp_path, data)
    assert checked.places("not-csv") == [(ERROR, None, None)]
    assert not checked.report.readable
    assert checked.validation.rows == 0


def test_file_at_the_size_limit_is_not_too_large(tmp_path: Path) -> None:
    data = csv_bytes(HEADER, valid_rows(3))
    exact = dataclasses.replace(LAYOUT, max_upload_bytes=len(data))
    assert check_bytes(tmp_path, data, layout=exact).of("file-too-large").empty
    under = dataclasses.replace(LAYOUT, max_upload_bytes=len(data) - 1)
    checked = check_bytes(tmp_path, data, layout=under)
    assert checked.of("file-too-large")["value"].tolist() == [str(len(data))]


def test_real_file_over_10_mb_is_too_large(tmp_path: Path) -> None:
    frame = sample.generate_extract(60_000, MONTH, LAYOUT, BOOK, mangle=False)
    data = sample.extract_csv(frame)
    assert len(data) > 10_000_000
    checked = check_bytes(tmp_path, data)
    assert checked.places("file-too-large") == [(ERROR, None, None)]
    assert checked.report.readable
    assert len(checked.report.table) == 60_000


def test_cp1252_file_reads_accented_name(tmp_path: Path) -> None:
    checked = _encoding(tmp_path)
    assert checked.of("encoding")["value"].tolist() == ["cp1252"]
    assert checked.report.table.at[2, NAME] == "José Lefèvre"
    assert checked.codes() == {"encoding"}


def test_semicolon_file_reads_every_value(tmp_path: Path) -> None:
    checked = _delimiter(tmp_path)
    assert checked.codes() == {"delimiter"}
    expected = valid_table(3)
    assert checked.report.table.astype(object).equals(expected.astype(object))


def test_whitespace_only_file_is_empty(tmp_path: Path) -> None:
    checked = check_bytes(tmp_path, b"\r\n  \r\n\r\n")
    assert checked.places("empty-file") == [(ERROR, None, None)]
    assert not checked.report.readable


def test_header_variant_is_read_under_the_layout_name(tmp_path: Path) -> None:
    checked = _header_variant(tmp_path)
    assert checked.codes() == {"header-variant"}
    assert checked.of("header-variant")["value"].tolist() == ["patient number"]
    assert PATIENT in checked.report.table.columns


def test_spacing_and_case_header_variant(tmp_path: Path) -> None:
    header = ["  patient   NUMBER " if h == PATIENT else h for h in HEADER]
    rows = [[r[h] for h in HEADER] for r in valid_rows(2)]
    checked = check_bytes(tmp_path, csv_bytes(header, rows))
    assert checked.places("header-variant") == [(WARNING, 1, PATIENT)]


BILLED_HEADERS = ["Total Billed", "Billed Hours", " TOTAL billed ", "billed hours"]


@pytest.mark.parametrize("written", BILLED_HEADERS)
def test_an_informational_header_is_read_as_the_extract_has_it(tmp_path: Path, written) -> None:
    # Not one of the import's fields: any spelling the layout accepts is the extract's own.
    header = [written if h == BILLED else h for h in HEADER]
    rows = [[r[h] for h in HEADER] for r in valid_rows(2, **{BILLED: "0.50"})]
    checked = check_bytes(tmp_path, csv_bytes(header, rows))
    assert checked.places("below-minimum-hours") == [(ERROR, 2, BILLED), (ERROR, 3, BILLED)]
    assert set(checked.findings["code"]) == {"below-minimum-hours"}
    assert checked.report.headers[BILLED] == written  # written back exactly so


def test_missing_optional_column_is_no_finding(tmp_path: Path) -> None:
    assert "Authorized Hours" not in HEADER
    assert check_rows(tmp_path, valid_rows(2)).findings.empty


# --- ragged rows and blank rows ---------------------------------------------------------


def test_short_line_is_ragged_row_error(tmp_path: Path) -> None:
    lines = lines_of(valid_rows(3))
    lines[2] = ",".join(lines[2].split(",")[:10])  # file line 3: 10 of 16 values
    checked = check_bytes(tmp_path, join(lines))
    assert checked.places("ragged-row") == [(ERROR, 3, None)]


def test_short_line_after_a_multiline_cell_is_ragged_row_error(tmp_path: Path) -> None:
    checked = _ragged_row(tmp_path)
    assert checked.of("ragged-row")["value"].tolist() == ["10"]
    assert checked.places("line-break") == [(ERROR, 2, NAME)]
    assert list(checked.report.table.index) == [2, 4, 5]


def test_trailing_delimiters_on_one_line_are_a_warning_on_that_line(tmp_path: Path) -> None:
    lines = lines_of(valid_rows(3))
    lines[2] += ",,"  # file line 3 only
    checked = check_bytes(tmp_path, join(lines))
    assert checked.places("ragged-row") == [(WARNING, 3, None)]
    assert checked.validation.valid


def test_long_line_with_data_is_ragged_row_error(tmp_path: Path) -> None:
    lines = lines_of(valid_rows(3))
    lines[2] += ",stray value"  # file line 3: 17 values
    checked = check_bytes(tmp_path, join(lines))
    assert checked.places("ragged-row") == [(ERROR, 3, None)]
    assert checked.of("extra-column").empty


def test_trailing_delimiters_on_every_line_are_one_warning(tmp_path: Path) -> None:
    lines = [line + ",," for line in lines_of(valid_rows(3))]
    checked = check_bytes(tmp_path, join(lines))
    assert checked.places("ragged-row") == [(WARNING, 1, None)]
    assert checked.codes() == {"ragged-row"}
    assert list(checked.report.table.columns) == HEADER


def test_empty_line_is_blank_row(tmp_path: Path) -> None:
    lines = lines_of(valid_rows(3))
    lines.insert(3, "")  # file line 4
    checked = check_bytes(tmp_path, join(lines))
    assert checked.places("blank-row") == [(ERROR, 4, None)]
    assert checked.codes() == {"blank-row"}
    assert checked.validation.rows == 3


def test_spaces_only_row_is_blank_row(tmp_path: Path) -> None:
    rows = valid_rows(3)
    rows[1] = dict.fromkeys(HEADER, " ")
    checked = check_rows(tmp_path, rows)
    assert checked.places("blank-row") == [(ERROR, 3, None)]
    assert checked.of("required").empty


# --- cells ------------------------------------------------------------------------------


def test_visit_pair_half_filled_is_required(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, rows_with(3, **{VISIT_END: ""}))
    assert checked.places("required") == [(ERROR, 3, VISIT_END)]
    checked = check_rows(tmp_path, rows_with(2, **{VISIT_START: ""}))
    assert checked.places("required") == [(ERROR, 2, VISIT_START)]


def test_visit_pair_both_blank_is_a_deferred_row_not_an_error(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{VISIT_START: "", VISIT_END: ""}))
    assert checked.findings.empty


@pytest.mark.parametrize(
    ("column", "value"),
    [(BILLED, "12.345"), (BILLED, "ten"), (AGENCY, "48 213"), (OFFICE, "7.5")],
)
def test_bad_numbers_are_type_errors(tmp_path: Path, column: str, value: str) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{column: value}))
    assert checked.places("type") == [(ERROR, 2, column)]


def test_negative_hours_are_type_error_not_formula_prefix(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{BILLED: "-5"}))
    assert checked.places("type") == [(ERROR, 2, BILLED)]
    assert checked.of("formula-prefix").empty


def test_max_length_allows_exactly_the_limit(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{CAREGIVER: "1" * 50}))
    assert checked.findings.empty


def test_skilled_discipline_is_allowed(tmp_path: Path) -> None:
    rows = rows_with(2, **{DISCIPLINE: "Other (Skilled)", SERVICE: "2443 Skilled"})
    assert check_rows(tmp_path, rows).findings.empty


@pytest.mark.parametrize("value", ["=1+1", "+A1", "-A1", "@SUM(A1)", " =HYPERLINK(1)"])
def test_formula_prefixes_in_text_cell(tmp_path: Path, value: str) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{CAREGIVER: value}))
    assert checked.places("formula-prefix") == [(ERROR, 2, CAREGIVER)]


@pytest.mark.parametrize(
    ("column", "value"),
    [(PATIENT, "1.23457E+11"), (PATIENT, "4.12346e+08"), (AGENCY, "48213.0"), (OFFICE, "702.00")],
)
def test_excel_mangled_ids(tmp_path: Path, column: str, value: str) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{column: value}))
    assert checked.places("id-mangled") == [(ERROR, 2, column)]
    assert checked.of("type").empty


def test_leading_zero_patient_number_is_not_mangled(tmp_path: Path) -> None:
    assert check_rows(tmp_path, rows_with(2, **{PATIENT: "0012345"})).findings.empty


def test_line_break_keeps_physical_line_numbers_after_it(tmp_path: Path) -> None:
    rows = valid_rows(4)
    rows[1][NAME] = "Ana\nSmith"  # file lines 3-4
    rows[2][OFFICE] = "70a"  # file line 5
    rows[3][TIER] = "3"  # file line 6
    checked = check_rows(tmp_path, rows)
    assert list(checked.report.table.index) == [2, 3, 5, 6]
    assert checked.places("line-break") == [(ERROR, 3, NAME)]
    assert checked.places("type") == [(ERROR, 5, OFFICE)]
    assert checked.places("tier-mismatch") == [(ERROR, 6, TIER)]


def test_crlf_inside_a_cell_is_a_line_break(tmp_path: Path) -> None:
    rows = rows_with(2, **{CAREGIVER: "10\r\n00"})
    rows[1][TIER] = "2"
    checked = check_rows(tmp_path, rows)
    assert checked.places("line-break") == [(ERROR, 2, CAREGIVER)]
    assert checked.places("tier-mismatch") == [(ERROR, 4, TIER)]


# --- dates and times --------------------------------------------------------------------


def test_excel_reformatted_date_is_datetime_format(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, rows_with(3, **{SCHED_START: "8/1/2024 3:00"}))
    assert checked.places("datetime-format") == [(ERROR, 3, SCHED_START)]


@pytest.mark.parametrize("column", [SCHED_START, SCHED_END])
def test_am_pm_form_is_accepted_for_schedule_times(tmp_path: Path, column: str) -> None:
    value = f"{DAY} 03:00 AM" if column == SCHED_START else f"{DAY} 03:15 AM"
    checked = check_rows(tmp_path, rows_with(2, **{column: value}))
    assert checked.findings.empty, checked.findings.to_string()


@pytest.mark.parametrize("column", [VISIT_START, VISIT_END])
def test_am_pm_form_is_refused_for_visit_times(tmp_path: Path, column: str) -> None:
    value = f"{DAY} 03:00 AM" if column == VISIT_START else f"{DAY} 03:15 AM"
    checked = check_rows(tmp_path, rows_with(2, **{column: value}))
    assert checked.places("datetime-format") == [(ERROR, 2, column)]


@pytest.mark.parametrize("value", [f"{DAY} 13:00 PM", "2025-02-30 03:00", f"{DAY} 3:00"])
def test_impossible_or_loose_schedule_times_are_refused(tmp_path: Path, value: str) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{SCHED_START: value}))
    assert checked.places("datetime-format") == [(ERROR, 2, SCHED_START)]


def test_pm_schedule_end_compares_after_start(tmp_path: Path) -> None:
    rows = rows_with(2, **{SCHED_START: f"{DAY} 01:00 PM", SCHED_END: f"{DAY} 12:30"})
    checked = check_rows(tmp_path, rows)
    assert checked.places("end-before-start") == [(ERROR, 2, SCHED_END)]


def test_visit_end_before_visit_start(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{VISIT_END: f"{DAY} 02:59"}))
    assert checked.places("end-before-start") == [(ERROR, 2, VISIT_END)]


def test_equal_start_and_end_is_not_end_before_start(tmp_path: Path) -> None:
    rows = rows_with(2, **{VISIT_END: f"{DAY} 03:00"})
    assert check_rows(tmp_path, rows).findings.empty


def test_whole_file_in_another_month_than_asked(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, valid_rows(2), month="2025-04")
    assert checked.validation.month == "2025-04"
    assert set(checked.places("outside-billing-month")) == {
        (ERROR, line, col)
        for line in (2, 3)
        for col in (SCHED_START, SCHED_END, VISIT_START, VISIT_END)
    }


def test_mixed_months_takes_the_most_common_month(tmp_path: Path) -> None:
    checked = _mixed_months(tmp_path)
    assert checked.validation.month == MONTH
    assert checked.of("mixed-months")["value"].tolist() == [MONTH]
    assert checked.places("outside-billing-month") == [(ERROR, 4, SCHED_START)]


def test_no_month_skips_the_tier_checks(tmp_path: Path) -> None:
    rows = valid_rows(2, **{SCHED_START: "soon", SCHED_END: "later", TIER: "3"})
    checked = check_rows(tmp_path, rows)
    assert "no-month" in checked.codes()
    assert checked.validation.month is None
    assert checked.of("tier-mismatch").empty


# --- members and tiers ------------------------------------------------------------------


def test_duplicate_member_message_names_both_lines(tmp_path: Path) -> None:
    messages = _duplicate_member(tmp_path).of("duplicate-member")["message"]
    assert all("lines 2, 4" in m for m in messages)


def test_tier_mismatch_message_names_the_right_tier(tmp_path: Path) -> None:
    messages = _tier_mismatch(tmp_path).of("tier-mismatch")["message"]
    assert messages.str.contains("Tier 1").all()


def test_tier_with_spaces_around_is_read(tmp_path: Path) -> None:
    rows = rows_with(2, **{BILLED: "200.00", TIER: " 2 ", SERVICE: "2444"})
    assert check_rows(tmp_path, rows).findings.empty


@pytest.mark.parametrize("tier", ["Tier 2", "tier 2", "02"])
def test_tier_must_be_exactly_a_rate_book_label(tmp_path: Path, tier: str) -> None:
    # issue 14: the upload carries the Tier as typed, so only the rate book's label passes
    rows = rows_with(2, **{BILLED: "200.00", TIER: tier, SERVICE: "2444"})
    found = check_rows(tmp_path, rows).findings
    assert list(found["code"]) == ["allowed-value"], found.to_string()
    assert found["message"].str.contains("tier labels: 1, 2, 3").all()


def test_skilled_service_code_matches_its_tier(tmp_path: Path) -> None:
    skilled = {DISCIPLINE: "Other (Skilled)", SERVICE: "2445 Skilled"}
    rows = rows_with(2, **{BILLED: "500.00", TIER: "3", **skilled})
    assert check_rows(tmp_path, rows).findings.empty


def test_discipline_code_mismatch_names_the_code_the_discipline_takes(tmp_path: Path) -> None:
    messages = _discipline_code_mismatch(tmp_path).of("discipline-code-mismatch")["message"]
    assert messages.iloc[0].startswith("Discipline PA takes the Tier 1 service code 2443, not")
    assert messages.iloc[1].startswith(
        "Discipline Other (Skilled) takes the Tier 1 service code 2443 Skilled, not 2443."
    )


def test_a_code_of_another_tier_is_a_service_code_mismatch_only(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{SERVICE: "2444 Skilled"}))
    assert set(checked.findings["code"]) == {"service-code-mismatch"}


def test_a_raised_tier_bills_the_raised_tier_and_says_what_it_adds(tmp_path: Path) -> None:
    checked = _tier_raised(tmp_path)
    message = checked.of("tier-raised")["message"].iloc[0]
    assert message.startswith("Billed 150.00 h is Tier 1; the row bills Tier 2")
    assert "(+$241.39)" in message
    flags = checked.flags.loc[2]
    assert (flags["claim_tier"], flags["claim_rate"], flags["tier"]) == (2, 387.84, 1)
    assert flags["tier_raised"] and flags["claim_service_code"] == "2444"
    assert set(checked.findings["code"]) == {"tier-raised"}  # not also tier-at-risk


def test_a_tier_the_unbilled_hours_do_not_reach_stays_a_mismatch(tmp_path: Path) -> None:
    rows = rows_with(2, **{BILLED: "150.00", UNBILLED: "20.00", TIER: "3", SERVICE: "2445"})
    assert check_rows(tmp_path, rows).places("tier-mismatch") == [(ERROR, 2, TIER)]
    # a raised tier with the billed hours' service code is a service-code mismatch
    rows = rows_with(2, **{BILLED: "150.00", UNBILLED: "20.00", TIER: "2"})
    assert check_rows(tmp_path, rows).places("service-code-mismatch") == [(ERROR, 2, SERVICE)]


def test_service_code_mismatch_message_names_both_codes(tmp_path: Path) -> None:
    message = _service_code_mismatch(tmp_path).of("service-code-mismatch")["message"].iloc[0]
    assert "2443" in message
    assert "2443 Skilled" in message


@pytest.mark.parametrize("billed", ["0", "0.00", "0.99"])
def test_under_one_billed_hour_is_below_minimum_only(tmp_path: Path, billed: str) -> None:
    checked = check_rows(tmp_path, rows_with(2, **{BILLED: billed, UNBILLED: "5.00"}))
    assert checked.places("below-minimum-hours") == [(ERROR, 2, BILLED)]
    assert checked.codes() == {"below-minimum-hours"}


def test_one_billed_hour_is_billable(tmp_path: Path) -> None:
    assert check_rows(tmp_path, rows_with(2, **{BILLED: "1.00"})).findings.empty


@pytest.mark.parametrize(
    ("billed", "unbilled", "tier", "code", "dollars"),
    [
        ("150.00", "20.00", "1", "2443", "+$241.39"),
        ("159.99", "0.01", "1", "2443", "+$241.39"),
        ("470.00", "20.00", "2", "2444", "+$658.52"),
    ],
)
def test_tier_at_risk_message_holds_the_dollar_difference(
    tmp_path: Path, billed: str, unbilled: str, tier: str, code: str, dollars: str
) -> None:
    rows = rows_with(2, **{BILLED: billed, UNBILLED: unbilled, TIER: tier, SERVICE: code})
    checked = check_rows(tmp_path, rows)
    assert checked.places("tier-at-risk") == [(WARNING, 2, BILLED)]
    assert f"({dollars})" in checked.of("tier-at-risk")["message"].iloc[0]
    assert checked.validation.valid


def test_unbilled_hours_within_the_tier_are_not_at_risk(tmp_path: Path) -> None:
    rows = rows_with(2, **{BILLED: "150.00", UNBILLED: "9.99"})
    assert check_rows(tmp_path, rows).findings.empty


def test_deferred_row_is_not_flagged_at_risk_again(tmp_path: Path) -> None:
    rows = rows_with(2, **{BILLED: "150.00", UNBILLED: "20.00", VISIT_START: "", VISIT_END: ""})
    assert check_rows(tmp_path, rows).findings.empty


# --- locked fields ----------------------------------------------------------------------


def test_locked_modified_through_check_file_original(tmp_path: Path) -> None:
    original = write(tmp_path, csv_bytes(HEADER, valid_rows(3)), "extract.csv")
    rows = valid_rows(3)
    rows[0][AGENCY] = "48214"
    rows[1][CAREGIVER] = "2000"  # not locked: may be edited
    edited = write(tmp_path, csv_bytes(HEADER, rows), "edited.csv")
    checked = workflow.check_file(edited, LAYOUT, BOOK, original=original)
    f = checked.validation.findings
    found = f[f["code"] == "locked-modified"]
    assert list(zip(found["row"], found["field"], found["value"], strict=True)) == [
        (2, AGENCY, "48214")
    ]


def test_unchanged_locked_fields_are_no_finding(tmp_path: Path) -> None:
    checked = check_rows(tmp_path, valid_rows(3), original=valid_table(3))
    assert checked.findings.empty


# --- submission window ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "code"),
    [
        (date(2025, 3, 15), "too-early"),
        (date(2025, 3, 31), "too-early"),
        (date(2025, 4, 1), None),
        (date(2025, 6, 29), None),
        (date(2025, 6, 30), "past-deadline"),
        (date(2026, 1, 1), "past-deadline"),
    ],
)
def test_submission_window_boundaries(tmp_path: Path, as_of: date, code: str | None) -> None:
    checked = check_rows(tmp_path, valid_rows(2), as_of=as_of)
    expected = set() if code is None else {code}
    assert checked.codes() == expected
    assert checked.validation.as_of == as_of.isoformat()


@pytest.mark.parametrize(
    ("month", "first", "last"),
    [
        ("2025-03", date(2025, 4, 1), date(2025, 6, 29)),
        ("2024-02", date(2024, 3, 1), date(2024, 5, 29)),
        ("2024-12", date(2025, 1, 1), date(2025, 3, 31)),
    ],
)
def test_submission_window_dates(month: str, first: date, last: date) -> None:
    assert submission_window(month) == (first, last)


def test_past_deadline_message_names_the_last_day(tmp_path: Path) -> None:
    message = _past_deadline(tmp_path).of("past-deadline")["message"].iloc[0]
    assert "2025-06-29" in message


# --- no rate ----------------------------------------------------------------------------


def test_no_rate_month_is_a_finding_not_an_exception(tmp_path: Path) -> None:
    checked = _no_rate(tmp_path)
    assert checked.codes() == {"no-rate"}
    assert checked.of("no-rate")["value"].tolist() == ["2021-03"]
    assert "2021-03" in checked.of("no-rate")["message"].iloc[0]
    assert checked.validation.month == "2021-03"
    assert not checked.validation.valid


def test_no_rate_still_checks_the_submission_window(tmp_path: Path) -> None:
    rows = valid_rows(2, **NO_RATE_STAMPS)
    checked = check_rows(tmp_path, rows, as_of=date(2025, 1, 1))
    assert checked.codes() == {"no-rate", "past-deadline"}


def test_first_month_with_a_rate_has_no_finding(tmp_path: Path) -> None:
    stamps = {k: v.replace("2021-03", "2021-04") for k, v in NO_RATE_STAMPS.items()}
    checked = check_rows(tmp_path, valid_rows(2, **stamps))
    assert checked.findings.empty
    assert checked.flags["rate"].tolist() == [145.0, 145.0]


def test_report_counts_its_errors_and_warnings_as_its_records_list_them() -> None:
    findings = combine(
        [
            file_finding("no-rows", "The file holds a header but no member rows."),
            file_finding("revenue-code-missing", "No revenue code.", row=1),
            file_finding("tier-at-risk", "At risk.", row=2),
        ]
    )
    report = ValidationReport(findings, rows=3, source="x.csv")
    out = report.to_dict()
    assert (report.error_count, report.warning_count) == (1, 2)
    assert (out["error_count"], out["warning_count"]) == (len(out["errors"]), len(out["warnings"]))
    assert ValidationReport(findings.iloc[0:0], rows=0).warning_count == 0
