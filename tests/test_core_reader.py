"""Reading a tier report: encodings, all-text cells, file line numbers, the input left untouched."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from core_helpers import (
    AGENCY,
    AS_OF,
    BILLED,
    BOOK,
    HEADER,
    LAYOUT,
    MONTH,
    NAME,
    PATIENT,
    TIER,
    check_bytes,
    csv_bytes,
    csv_text,
    valid_rows,
    valid_table,
    write,
)

from xl_pmpm import files, workflow
from xl_pmpm.errors import PmpmInputError
from xl_pmpm.report import decode_text, parse_tier_report


def rows_with_accents() -> list[dict[str, str]]:
    rows = valid_rows(3)
    rows[0][NAME] = "José García"
    rows[1][NAME] = "Renée Lefèvre"
    rows[2][PATIENT] = "0012345"
    return rows


ENCODINGS = {
    "utf-8": (lambda text: text.encode("utf-8"), None),
    "utf-8-bom": (lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"), None),
    "cp1252": (lambda text: text.encode("cp1252"), "cp1252"),
    "utf-16": (lambda text: text.encode("utf-16"), "utf-16"),
    "utf-16-be-bom": (lambda text: b"\xfe\xff" + text.encode("utf-16-be"), "utf-16"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_reads_the_same_values(tmp_path: Path, encoding: str) -> None:
    text = csv_text(HEADER, rows_with_accents())
    encode, finding = ENCODINGS[encoding]
    checked = check_bytes(tmp_path, encode(text))
    reference = check_bytes(tmp_path, text.encode("utf-8"), name="ref.csv")
    pd.testing.assert_frame_equal(checked.report.table, reference.report.table)
    assert list(checked.report.table.columns) == HEADER  # no BOM glued to 'Agency ID'
    assert checked.report.table.at[2, NAME] == "José García"
    expected = [] if finding is None else [finding]
    assert checked.of("encoding")["value"].tolist() == expected
    assert set(checked.codes()) <= {"encoding"}


def test_excel_unicode_text_is_utf16_with_tabs(tmp_path: Path) -> None:
    text = csv_text(HEADER, rows_with_accents(), sep="\t")
    checked = check_bytes(tmp_path, text.encode("utf-16"))
    assert checked.codes() == {"encoding", "delimiter"}
    assert checked.of("delimiter")["value"].tolist() == ["\t"]
    reference = check_bytes(tmp_path, csv_bytes(HEADER, rows_with_accents()), name="ref.csv")
    pd.testing.assert_frame_equal(checked.report.table, reference.report.table)


def test_decode_text_names_the_encoding() -> None:
    assert decode_text("é".encode())[1] == "utf-8"
    assert decode_text(b"\xef\xbb\xbf" + "é".encode())[1] == "utf-8-sig"
    assert decode_text("é".encode("cp1252")) == ("é", "cp1252")
    assert decode_text("é".encode("utf-16"))[1] == "utf-16"
    assert decode_text(b"\x81\x8d") == ("\x81\x8d", "latin-1")


def test_utf8_bom_file_header_is_matched_exactly(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + csv_bytes(HEADER, valid_rows(2))
    checked = check_bytes(tmp_path, data)
    assert checked.findings.empty
    assert checked.report.table.columns[0] == AGENCY


def test_all_cells_are_text(tmp_path: Path) -> None:
    rows = valid_rows(3)
    rows[0][PATIENT] = "0012345"
    rows[1][BILLED] = "160"
    rows[2][NAME] = ""
    table = check_bytes(tmp_path, csv_bytes(HEADER, rows)).report.table
    for name in table.columns:
        assert pd.api.types.is_string_dtype(table[name]), name
        assert all(isinstance(v, str) for v in table[name]), name
    assert table.at[2, PATIENT] == "0012345"
    assert table.at[3, BILLED] == "160"
    assert table.at[2, AGENCY] == "48213"
    assert table.at[4, NAME] == ""


@pytest.mark.parametrize("value", ["NA", "null", "NaN", "None", "#N/A", "TRUE"])
def test_na_like_text_stays_text(tmp_path: Path, value: str) -> None:
    rows = valid_rows(1)
    rows[0][NAME] = value
    table = check_bytes(tmp_path, csv_bytes(HEADER, rows)).report.table
    assert table.at[2, NAME] == value


def test_line_numbers_start_at_2(tmp_path: Path) -> None:
    table = check_bytes(tmp_path, csv_bytes(HEADER, valid_rows(3))).report.table
    assert list(table.index) == [2, 3, 4]
    assert table.index.name == "line"


def test_blank_line_in_the_middle_shifts_later_line_numbers(tmp_path: Path) -> None:
    lines = csv_text(HEADER, valid_rows(4)).split("\r\n")
    lines.insert(3, "")  # file line 4 is empty
    rows = valid_rows(4)
    checked = check_bytes(tmp_path, "\r\n".join(lines).encode())
    assert list(checked.report.table.index) == [2, 3, 4, 5, 6]
    assert checked.report.table.at[5, PATIENT] == rows[2][PATIENT]
    assert checked.report.table.at[6, PATIENT] == rows[3][PATIENT]
    assert checked.places("blank-row") == [("error", 4, None)]


def test_later_errors_point_at_the_physical_line_after_a_blank_line(tmp_path: Path) -> None:
    rows = valid_rows(3)
    rows[2][TIER] = "3"
    lines = csv_text(HEADER, rows, eol="\n").split("\n")
    lines[2:2] = ["", ""]  # file lines 3 and 4 empty: the rows move to 5 and 6
    checked = check_bytes(tmp_path, "\n".join(lines).encode())
    assert checked.places("blank-row") == [("error", 3, None), ("error", 4, None)]
    assert checked.places("tier-mismatch") == [("error", 6, TIER)]


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"])
def test_line_terminators_give_the_same_table(tmp_path: Path, eol: str) -> None:
    data = csv_bytes(HEADER, valid_rows(3), eol=eol)
    table = check_bytes(tmp_path, data).report.table
    pd.testing.assert_frame_equal(table, valid_table(3), check_index_type=False)


def test_file_without_final_newline(tmp_path: Path) -> None:
    data = csv_bytes(HEADER, valid_rows(2)).rstrip(b"\r\n")
    checked = check_bytes(tmp_path, data)
    assert checked.findings.empty
    assert list(checked.report.table.index) == [2, 3]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    checked = check_bytes(tmp_path, csv_bytes(HEADER, []))
    assert checked.report.readable
    assert checked.report.table.empty
    assert checked.validation.rows == 0
    assert list(checked.report.table.columns) == HEADER


def test_parse_tier_report_keeps_size_and_source() -> None:
    data = csv_bytes(HEADER, valid_rows(2))
    report = parse_tier_report(data, LAYOUT, source="x.csv")
    assert (report.size, report.source, report.encoding) == (len(data), "x.csv", "utf-8")


def test_reading_and_validating_leave_the_file_unchanged(tmp_path: Path) -> None:
    rows = valid_rows(4)
    rows[1][TIER] = "3"
    rows[2][PATIENT] = "1.23457E+11"
    data = b"\xef\xbb\xbf" + csv_bytes(HEADER, rows, sep=";")
    path = write(tmp_path, data)
    original = write(tmp_path, csv_bytes(HEADER, valid_rows(4)), "original.csv")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    digest_original = hashlib.sha256(original.read_bytes()).hexdigest()
    mtime = path.stat().st_mtime_ns

    checked = workflow.check_file(path, LAYOUT, BOOK, month=MONTH, as_of=AS_OF, original=original)
    actions = workflow.suggest_review(checked)
    workflow.apply_actions(checked.report.table, actions, LAYOUT, at=datetime(2025, 4, 2))

    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert hashlib.sha256(original.read_bytes()).hexdigest() == digest_original
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["original.csv", "report.csv"]


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(PmpmInputError, match="not found"):
        files.read_tier_report(tmp_path / "nope.csv", LAYOUT)
    with pytest.raises(PmpmInputError, match="folder"):
        files.read_tier_report(tmp_path, LAYOUT)


def test_bundled_sample_reads_with_its_line_numbers() -> None:
    report = files.read_tier_report(files.bundled("sample_tier_report.csv"), LAYOUT)
    raw = files.bundled("sample_tier_report.csv").read_bytes().splitlines()
    assert report.table.index[0] == 2
    assert report.table.index[-1] == len(raw)
    assert report.table.at[2, PATIENT] == raw[1].decode().split(",")[2]
