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

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.io import csv_reader, files, workflow
from xl_pmpm.io.csv_reader import decode_text, parse_tier_report


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
    actions = workflow.suggest_review(checked, LAYOUT, BOOK)
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


# --- issue 6: Excel's delimiter hint, damaged UTF-16, a quote never closed, size limits ---


def test_excel_sep_hint_line_is_skipped_and_reported(tmp_path: Path) -> None:
    data = b"sep=;\r\n" + csv_bytes(HEADER, valid_rows(2), sep=";")
    checked = check_bytes(tmp_path, data, month=MONTH, as_of=AS_OF)
    assert checked.codes() == {"delimiter"}
    assert "sep=;" in checked.of("delimiter")["message"].iloc[0]
    assert list(checked.report.table.columns) == HEADER
    assert list(checked.report.table.index) == [2, 3]  # as Excel numbers the rows


@pytest.mark.parametrize("data", [b"sep=;\r,", b"sep=;\r" + ";".join(HEADER).encode()])
def test_a_sep_line_ended_by_a_lone_cr_is_read_as_the_csv_module_reads_it(data: bytes) -> None:
    fast = parse_tier_report(data, LAYOUT)
    exact = parse_tier_report(data.decode("utf-8").encode("utf-16"), LAYOUT)
    pd.testing.assert_frame_equal(fast.table, exact.table, check_index_type=False)
    found = exact.findings[exact.findings["code"] != "encoding"].reset_index(drop=True)
    pd.testing.assert_frame_equal(fast.findings, found)


def test_a_utf16_bom_on_damaged_bytes_is_read_not_a_crash(tmp_path: Path) -> None:
    checked = check_bytes(tmp_path, b"\xff\xfe,")
    assert "encoding" in checked.codes()
    assert not checked.validation.valid


def test_a_quote_never_closed_in_a_big_file_is_a_finding(tmp_path: Path) -> None:
    rows = valid_rows(3)
    rows[1][NAME] = "PLACEHOLDER"
    data = csv_bytes(HEADER, rows).replace(b"PLACEHOLDER", b'"Nana' + b"x" * 200_000)
    checked = check_bytes(tmp_path, data)
    assert "line-break" in checked.codes() or "ragged-row" in checked.codes()


@pytest.mark.parametrize("block", [64, 97, 256, 1000])
def test_quoted_line_breaks_at_any_block_cut_read_as_the_csv_module_reads_them(
    block: int, monkeypatch
) -> None:
    """Arrow cuts its blocks at line ends without looking at quotes: a line break inside a
    quoted name, wherever the cut falls, still reads as one cell on the record's first line."""
    rows = valid_rows(60)
    for i in range(0, 60, 7):
        rows[i][NAME] = f"Rossi,\nZoë {i}"
    text = csv_text(HEADER, rows)
    monkeypatch.setattr(csv_reader, "_BLOCK_BYTES", block)
    fast = parse_tier_report(text.encode("utf-8"), LAYOUT)
    exact = parse_tier_report(text.encode("utf-16"), LAYOUT)
    pd.testing.assert_frame_equal(fast.table, exact.table)
    assert fast.table[NAME].iloc[0] == "Rossi,\nZoë 0"
    assert list(fast.table.index[:3]) == [2, 4, 5]  # the record after a break: its own line


def test_a_file_without_line_breaks_in_values_is_read_by_arrow_whatever_its_blocks(
    monkeypatch,
) -> None:
    rows = valid_rows(60)
    for i in range(0, 60, 7):
        rows[i][NAME] = f"Rossi, Zoë {i}"
    data = csv_text(HEADER, rows).encode("utf-8")
    monkeypatch.setattr(csv_reader, "_BLOCK_BYTES", 1000)  # a dozen blocks
    read = []
    real = csv_reader._records_with_lines
    monkeypatch.setattr(csv_reader, "_records_with_lines", lambda *a: read.append(1) or real(*a))
    fast = parse_tier_report(data, LAYOUT)
    assert not read  # not the csv module's way
    assert fast.table[NAME].iloc[7] == "Rossi, Zoë 7"
    assert len(fast.table) == 60


def test_a_nul_byte_anywhere_makes_it_a_binary_file(tmp_path: Path) -> None:
    data = csv_bytes(HEADER, valid_rows(400)) + b"\x00"
    assert len(data) > 65536
    checked = check_bytes(tmp_path, data)
    assert checked.codes() == {"not-csv"}


def test_an_oversized_file_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, csv_bytes(HEADER, valid_rows(2)))
    monkeypatch.setattr(files, "MAX_REPORT_BYTES", 100)
    with pytest.raises(PmpmInputError, match="reads tier reports up to") as raised:
        files.read_tier_report(path, LAYOUT)
    assert raised.value.file == "report.csv"


# --- workbooks in file mode ---------------------------------------------------------------


def workbook_of(rows: list[list[object]], sheet: str = "All", at: str = "A1") -> bytes:
    import io as _io

    import openpyxl
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    letters, r0 = coordinate_from_string(at)
    c0 = column_index_from_string(letters)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value not in (None, ""):
                ws.cell(r0 + r, c0 + c, value)
    buffer = _io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_workbook_cells_read_as_the_csv_reader_reads_them(tmp_path: Path) -> None:
    rows = valid_rows(3)
    csv_table = check_bytes(tmp_path, csv_bytes(HEADER, rows), name="r.csv").report.table
    typed: list[list[object]] = [list(HEADER)]
    for r in rows:
        cells: list[object] = [r[h] for h in HEADER]
        for h in ("Schedule Start Time", "Visit End Time"):
            cells[HEADER.index(h)] = datetime.strptime(r[h], "%Y-%m-%d %H:%M")
        cells[HEADER.index(BILLED)] = float(r[BILLED])  # 100.0 -> "100.00", the column's 2 dp
        typed.append(cells)
    checked = check_bytes(tmp_path, workbook_of(typed), name="r.xlsx", month=MONTH)
    table = checked.report.table
    assert checked.codes() == {"not-csv"}  # the warning saying where it was read from
    assert checked.of("not-csv")["severity"].tolist() == ["warning"]
    # The same text as the CSV: one cell-to-text rule (core.cells.cell_text) for every shell.
    pd.testing.assert_frame_equal(table, csv_table, check_index_type=False)


def test_workbook_moved_table_keeps_excel_row_numbers(tmp_path: Path) -> None:
    rows = valid_rows(2)
    rows[1][TIER] = "3"
    data = workbook_of([["title"], [], list(HEADER), *[[r[h] for h in HEADER] for r in rows]],
                       sheet="Oct", at="B3")  # fmt: skip
    checked = check_bytes(tmp_path, data, name="r.xlsx", month=MONTH)
    assert list(checked.report.table.index) == [6, 7]
    assert checked.places("tier-mismatch") == [("error", 7, TIER)]
    assert "sheet 'Oct', header row at B5" in checked.of("not-csv")["message"].iloc[0]


def test_workbook_without_the_table_names_the_file_and_what_was_looked_for(
    tmp_path: Path,
) -> None:
    checked = check_bytes(tmp_path, workbook_of([["a", "b"], [1, 2]]), name="book.xlsx")
    assert not checked.report.readable
    (message,) = checked.of("empty-file")["message"]
    assert "book.xlsx" in message and AGENCY in message and "'All'" in message


def test_workbook_limits_refuse_before_parsing(tmp_path: Path, monkeypatch) -> None:
    from xl_pmpm.io import workbook_reader as workbook_file

    data = workbook_of([list(HEADER)])
    path = write(tmp_path, data, "r.xlsx")
    monkeypatch.setattr(workbook_file, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(PmpmInputError, match="inflate"):
        files.read_tier_report(path, LAYOUT)
    monkeypatch.setattr(workbook_file, "MAX_WORKBOOK_BYTES", 100)
    with pytest.raises(PmpmInputError, match="reads workbooks up to"):
        files.read_tier_report(path, LAYOUT)


def test_workbooks_are_read_only_through_defusedxml(tmp_path: Path, monkeypatch) -> None:
    import openpyxl

    assert openpyxl.DEFUSEDXML is True  # openpyxl found defusedxml and parses through it
    path = write(tmp_path, workbook_of([list(HEADER)]), "r.xlsx")
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(PmpmInputError, match="defusedxml"):
        files.read_tier_report(path, LAYOUT)


def test_billion_laughs_is_refused_without_memory_blowup() -> None:
    import tracemalloc

    path = Path(__file__).resolve().parents[1] / "corpus" / "files" / "billion_laughs.xlsx"
    tracemalloc.start()
    try:
        with pytest.raises(PmpmInputError, match="entities"):
            files.read_tier_report(path, LAYOUT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # expanded, the entity would be 3 GB
