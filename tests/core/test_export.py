"""Export: refused on errors, exact layout, normalised dates, CRLF UTF-8, split under the limit."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import os
import stat
from datetime import datetime
from pathlib import Path
from unittest import mock

import pandas as pd
import pyarrow as pa
import pytest
from core_helpers import (
    AS_OF,
    AUTHORIZED,
    BOOK,
    CONTRACT,
    DAY,
    DISCIPLINE,
    EXPORT_HEADER,
    HEADER,
    LAYOUT,
    MONTH,
    NAME,
    PATIENT,
    SCHED_END,
    SCHED_START,
    SERVICE,
    TIER,
    VISIT_END,
    VISIT_START,
    check_bytes,
    csv_bytes,
    valid_rows,
    valid_table,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import sample
from xl_pmpm.core import export as export_module
from xl_pmpm.core import parallel
from xl_pmpm.core.errors import ExportRefused, PmpmInputError
from xl_pmpm.core.export import csv_lines, import_frame, import_parts
from xl_pmpm.core.review import delete_rows
from xl_pmpm.core.validation import validate_table
from xl_pmpm.io import files, workflow

AT = datetime(2025, 4, 2, 10, 0, 0)


def export(table: pd.DataFrame, out: Path, layout=LAYOUT, at: datetime = AT) -> workflow.Exported:
    # The as-of date defaults to today in every shell: give the test month's own.
    return workflow.export_import_file(table, out, layout, BOOK, month=MONTH, as_of=AS_OF, at=at)


def parts_of(table: pd.DataFrame, layout=LAYOUT):
    report, _ = validate_table(table, layout, BOOK, month=MONTH)
    return list(import_parts(table, layout, report, month=MONTH, stamp=AT))


def records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def table_from_rows(rows: list[dict[str, str]], header: list[str] = HEADER) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    frame.index = pd.RangeIndex(2, len(rows) + 2, name="line")
    return frame


# --- refused ----------------------------------------------------------------------------


def test_export_is_refused_while_an_error_remains_and_writes_nothing(tmp_path: Path) -> None:
    table = valid_table(3)
    table.at[3, TIER] = "3"
    out = tmp_path / "out"
    with pytest.raises(ExportRefused, match="tier-mismatch") as info:
        export(table, out)
    assert not info.value.report.valid
    assert not out.exists() or not any(out.iterdir())


def test_export_is_refused_into_an_existing_dir_without_writing(tmp_path: Path) -> None:
    table = valid_table(3)
    table.at[2, SCHED_START] = "8/1/2024 3:00"
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ExportRefused):
        export(table, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_import_parts_refuses_on_errors() -> None:
    table = valid_table(2)
    table.at[2, PATIENT] = "1.23457E+11"
    report, _ = validate_table(table, LAYOUT, BOOK)
    with pytest.raises(ExportRefused):
        list(import_parts(table, LAYOUT, report, month=MONTH, stamp=AT))


def test_warnings_do_not_block_export(tmp_path: Path) -> None:
    table = valid_table(2)
    table.at[2, "Billed Hours"] = "150.00"
    table.at[2, "Unbilled Hours"] = "20.00"
    result = export(table, tmp_path / "out")
    assert result.rows == 2
    assert set(result.validation.findings["code"]) == {"tier-at-risk"}


# --- file contents ----------------------------------------------------------------------


def test_export_has_exactly_the_layout_columns_in_order(tmp_path: Path) -> None:
    rows = valid_rows(3)
    for r in rows:
        r[AUTHORIZED] = "12.00"
    table = table_from_rows(rows, [TIER, *HEADER[:-1], AUTHORIZED])  # reordered, one extra
    result = export(table, tmp_path / "out")
    (path,) = result.files
    data = path.read_bytes()
    assert data.split(b"\r\n", 1)[0].decode() == ",".join(EXPORT_HEADER)
    assert EXPORT_HEADER == HEADER
    assert AUTHORIZED not in EXPORT_HEADER
    assert all(len(r) == len(EXPORT_HEADER) for r in records(data))


def test_export_without_informational_columns() -> None:
    lean = dataclasses.replace(LAYOUT, export_informational=False)
    (part,) = parts_of(valid_table(2), lean)
    header = records(part.data)[0]
    assert header == [c.name for c in LAYOUT.columns if not c.informational]
    assert len(header) == 12


def test_export_normalises_dates() -> None:
    table = valid_table(3)
    table.at[2, SCHED_START] = f"{DAY} 03:00 AM"
    table.at[3, SCHED_END] = f"{DAY} 03:15 PM"
    table.at[4, SCHED_START] = f" {DAY} 03:00 "
    (part,) = parts_of(table)
    body = pd.DataFrame(records(part.data)[1:], columns=EXPORT_HEADER)
    assert body[SCHED_START].tolist() == [f"{DAY} 03:00"] * 3
    assert body[SCHED_END].tolist() == [f"{DAY} 03:15", f"{DAY} 15:15", f"{DAY} 03:15"]
    stamps = body[[SCHED_START, SCHED_END, VISIT_START, VISIT_END]].stack()
    assert stamps.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}").all()


def test_deferred_rows_export_with_blank_visit_times() -> None:
    table = valid_table(2)
    table.loc[3, [VISIT_START, VISIT_END]] = ""
    (part,) = parts_of(table)
    body = records(part.data)[1:]
    assert body[1][EXPORT_HEADER.index(VISIT_START)] == ""
    assert body[1][EXPORT_HEADER.index(VISIT_END)] == ""


def test_export_is_utf8_without_bom_with_crlf_lines(tmp_path: Path) -> None:
    table = valid_table(3)
    table.at[2, NAME] = "Nguyễn Thị Kim"
    (path,) = export(table, tmp_path / "out").files
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8")
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == 4
    assert data.count(b"\n") == 4
    assert b"\r\n\r\n" not in data
    assert "Nguyễn Thị Kim".encode() in data


def test_export_has_no_blank_rows_after_review(tmp_path: Path) -> None:
    table = valid_table(5)
    table.loc[4] = ""  # a blank row...
    checked = validate_table(table, LAYOUT, BOOK)[0]
    assert set(checked.findings["code"]) == {"blank-row"}
    table, _ = delete_rows(table, [4], reason="blank", at=AT)  # ...deleted in review
    (path,) = export(table, tmp_path / "out").files
    lines = path.read_bytes().split(b"\r\n")
    assert lines[-1] == b""
    assert all(line.strip(b", ") for line in lines[:-1])
    assert len(lines) - 2 == 4


def test_export_one_file_per_contract(tmp_path: Path) -> None:
    table = valid_table(4)
    table.loc[[3, 5], CONTRACT] = "Sample Health Plan PMPM"
    table.loc[[3, 5], SERVICE] = "SHP-T1"
    result = export(table, tmp_path / "out")
    assert result.contracts == {"Linked - Metro MLTC CDPAP": 2, "Sample Health Plan PMPM": 2}
    names = sorted(p.name for p in result.files)
    assert names == [
        "PMPM_Linked-Metro-MLTC-CDPAP_2025-03_20250402T100000_01.csv",
        "PMPM_Sample-Health-Plan-PMPM_2025-03_20250402T100000_01.csv",
    ]


# --- never overwrite --------------------------------------------------------------------


def test_export_twice_in_the_same_second_writes_distinct_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = export(valid_table(2), out).files
    before = first[0].read_bytes()
    table = valid_table(3)
    second = export(table, out).files
    assert first[0] != second[0]
    assert second[0].name.endswith("_01-2.csv")
    assert first[0].read_bytes() == before
    assert len(records(second[0].read_bytes())) == 4
    assert len(list(out.iterdir())) == 2


def test_write_new_file_never_overwrites(tmp_path: Path) -> None:
    a = files.write_new_file(tmp_path, "upload.csv", b"one")
    b = files.write_new_file(tmp_path, "upload.csv", b"two")
    c = files.write_new_file(tmp_path, "upload.csv", b"three")
    assert [a.name, b.name, c.name] == ["upload.csv", "upload-2.csv", "upload-3.csv"]
    assert [p.read_bytes() for p in (a, b, c)] == [b"one", b"two", b"three"]
    assert {p.name for p in tmp_path.iterdir()} == {a.name, b.name, c.name}


def test_write_new_file_without_extension(tmp_path: Path) -> None:
    files.write_new_file(tmp_path, "README", b"1")
    assert files.write_new_file(tmp_path, "README", b"2").name == "README-2"


def test_files_are_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "exports"
    (path,) = export(valid_table(2), out).files
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    archive = files.write_archive(tmp_path / "archive", valid_table(1), "delete", AT)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700


def test_file_mode_holds_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = files.write_new_file(tmp_path / "d", "x.csv", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# --- splitting under the upload limit ----------------------------------------------------


def big_valid_table(n: int) -> pd.DataFrame:
    frame = sample.generate_extract(n, MONTH, LAYOUT, BOOK, mangle=False, below_minimum=False)
    frame[CONTRACT] = "Linked - Metro MLTC CDPAP"
    flags = validate_table(frame, LAYOUT, BOOK)[1]
    frame[SERVICE] = flags["service_code"].astype(str)
    frame[DISCIPLINE] = "PA"  # the PA service code goes with the PA discipline
    frame[TIER] = flags["tier"].astype(str)
    return frame


BIG = big_valid_table(400)


def test_big_table_is_valid() -> None:
    report, _ = validate_table(BIG, LAYOUT, BOOK)
    assert report.valid, report.errors.to_string()


@pytest.mark.parametrize("limit", [1_000, 4_096, 20_000])
def test_split_parts_are_under_the_limit_with_header_and_whole_rows(limit: int) -> None:
    whole = parts_of(BIG)
    assert len(whole) == 1
    whole_records = records(whole[0].data)
    small = dataclasses.replace(LAYOUT, max_upload_bytes=limit)
    parts = parts_of(BIG, small)
    assert len(parts) > 1
    rows: list[list[str]] = []
    for seq, part in enumerate(parts, start=1):
        assert len(part.data) <= limit
        recs = records(part.data)
        assert recs[0] == EXPORT_HEADER
        assert all(len(r) == len(EXPORT_HEADER) for r in recs)
        assert part.data.endswith(b"\r\n")
        assert part.rows == len(recs) - 1
        assert part.name.endswith(f"_{seq:02d}.csv")
        rows.extend(recs[1:])
    assert rows == whole_records[1:]
    assert [n for p in parts for n in p.lines] == list(BIG.index)


def test_split_export_writes_every_part(tmp_path: Path) -> None:
    small = dataclasses.replace(LAYOUT, max_upload_bytes=5_000)
    result = export(BIG, tmp_path / "out", layout=small)
    assert len(result.files) > 1
    assert result.rows == len(BIG)
    assert all(p.stat().st_size <= 5_000 for p in result.files)
    back = [check_bytes(tmp_path, p.read_bytes(), name=p.name) for p in sorted(result.files)]
    assert sum(len(c.report.table) for c in back) == len(BIG)
    assert all(c.validation.valid for c in back)


def test_limit_below_one_row_is_an_input_error(tmp_path: Path) -> None:
    tiny = dataclasses.replace(LAYOUT, max_upload_bytes=300)
    with pytest.raises(PmpmInputError, match="alone is larger"):
        export(valid_table(2), tmp_path / "out", layout=tiny)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_split_is_not_triggered_at_the_default_limit() -> None:
    assert len(parts_of(BIG)) == 1


# --- round trips ------------------------------------------------------------------------


def test_leading_zeros_and_non_ascii_names_survive_read_export_read(tmp_path: Path) -> None:
    rows = valid_rows(3)
    rows[0][PATIENT], rows[0][NAME] = "0012345", "Nguyễn Thị"
    rows[1][PATIENT], rows[1][NAME] = "0000001", "José"
    rows[2][NAME] = "Siobhán Ó Briain"
    first = check_bytes(tmp_path, csv_bytes(HEADER, rows), name="in.csv")
    assert first.validation.valid
    (path,) = export(first.report.table, tmp_path / "out").files
    again = check_bytes(tmp_path, path.read_bytes(), name="again.csv")
    table = again.report.table
    assert table[PATIENT].tolist() == ["0012345", "0000001", rows[2][PATIENT]]
    assert table[NAME].tolist() == ["Nguyễn Thị", "José", "Siobhán Ó Briain"]


def test_export_of_a_valid_table_reads_back_valid_and_equal(tmp_path: Path) -> None:
    table = BIG.copy()
    for col in (SCHED_START, SCHED_END):
        table[col] = table[col].str.replace(" AM", "", regex=False)  # already export form
    result = export(table, tmp_path / "out")
    (path,) = result.files
    back = check_bytes(tmp_path, path.read_bytes(), name="back.csv", month=MONTH)
    assert back.validation.valid, back.findings.to_string()
    before, _ = validate_table(table, LAYOUT, BOOK, month=MONTH)
    assert back.findings.equals(before.findings)  # the same warnings, on the same lines
    got = back.report.table
    pd.testing.assert_frame_equal(got, table[EXPORT_HEADER], check_dtype=False)
    assert got.astype(object).equals(table[EXPORT_HEADER].astype(object))


def test_export_round_trip_normalises_only_the_dates(tmp_path: Path) -> None:
    assert BIG[SCHED_START].str.endswith(" AM").any()
    (path,) = export(BIG, tmp_path / "out").files
    back = check_bytes(tmp_path, path.read_bytes(), name="back.csv").report.table
    want = import_frame(BIG, LAYOUT)
    pd.testing.assert_frame_equal(back, want, check_dtype=False)
    others = [c for c in EXPORT_HEADER if c not in (SCHED_START, SCHED_END)]
    assert back[others].astype(object).equals(BIG[others].astype(object))


def test_import_frame_strips_values_but_keeps_text() -> None:
    table = valid_table(1)
    table.at[2, PATIENT] = " 0012345 "
    frame = import_frame(table, LAYOUT)
    assert frame.at[2, PATIENT] == "0012345"
    assert list(frame.columns) == EXPORT_HEADER


CSV_CHARS = list("ab ,\"\r\né0\t;'-") + ["ë", "Ó", "\u2028", "\x85"]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda width: st.lists(
            st.lists(
                st.text(st.sampled_from(CSV_CHARS), max_size=6), min_size=width, max_size=width
            ),
            max_size=12,
        )
    ),
    st.sampled_from(["utf-8", "cp1252"]),
    st.sampled_from(["\r\n", "\n"]),
    st.sampled_from([0, 10**12]),
)
def test_csv_lines_are_the_bytes_pandas_writes(rows, encoding, terminator, side_by_side_rows):
    """Arrow writes every line, quoting only the values that need it: the bytes are pandas'
    own to_csv (QUOTE_MINIMAL) in every column (quotes, commas, line breaks, accents, empty
    values, one-column rows), whether the columns are quoted side by side (as a large
    table's are) or one after another."""
    layout = dataclasses.replace(LAYOUT, encoding=encoding, line_terminator=terminator)
    width = len(rows[0]) if rows else 3
    frame = pd.DataFrame(rows, columns=[f"c{k}" for k in range(width)], dtype="str")
    if encoding == "cp1252":
        frame = frame.map(lambda v: v.encode("cp1252", "replace").decode("cp1252"))
    expected = frame.to_csv(index=False, header=False, lineterminator=terminator)
    encoder = codecs.getincrementalencoder(encoding)()
    with mock.patch.object(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", side_by_side_rows):
        assert csv_lines(frame, layout, encoder) == expected.encode(encoding)


@pytest.mark.parametrize("by_contract", [False, True])  # reordered once / already in order
@pytest.mark.parametrize("side_by_side", [False, True], ids=["columns-in-turn", "side-by-side"])
def test_real_shaped_export_is_each_contracts_rows_in_order(
    monkeypatch, by_contract, side_by_side
) -> None:
    """A real-shaped extract (many contracts, every name "Family, Given", its text in several
    Arrow chunks), its lines made in pieces and cut into small slices, its columns made side
    by side as a large table's are or in turn: each contract's files hold exactly its rows,
    in the report's order, quoted as pandas quotes them, each row with its ledger
    fingerprint."""
    monkeypatch.setattr(export_module, "_ENCODE_ROWS", 97)  # slices across chunk edges
    monkeypatch.setattr(export_module, "_LINE_PIECE_ROWS", 250)  # and across pieces of lines
    frame = sample.generate_extract(
        2_000, MONTH, LAYOUT, BOOK, mangle=False, below_minimum=False, **sample.REAL_SHAPE
    )
    if by_contract:
        frame = frame.sort_values(LAYOUT.name_of("contract"), kind="stable")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    table = pa.Table.from_batches(arrow.to_batches(max_chunksize=333)).to_pandas()
    table.index = frame.index
    assert table[NAME].array.__arrow_array__().num_chunks > 1
    layout = dataclasses.replace(LAYOUT, max_upload_bytes=40_000)  # several files a contract
    monkeypatch.setattr(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", 0 if side_by_side else 10**12)
    parts = parts_of(table, layout)
    monkeypatch.setattr(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", 10**12)
    want = import_frame(table, layout)
    contract = LAYOUT.name_of("contract")
    assert {p.contract for p in parts} == set(want[contract])
    for key in sorted(set(want[contract])):
        mine = [p for p in parts if p.contract == key]
        lines = [line for p in mine for line in p.lines]
        rows = want[want[contract] == key]
        assert lines == rows.index.tolist()
        hashes = [h for p in mine for h in p.hashes]
        assert hashes == pd.util.hash_pandas_object(rows, index=False).tolist()
        body = b"".join(p.data.split(b"\r\n", 1)[1] for p in mine)
        expected = rows.to_csv(index=False, header=False, lineterminator="\r\n").encode()
        assert body == expected
        assert all(len(p.data) <= layout.max_upload_bytes for p in mine)
    assert any(b'"' in p.data for p in parts)  # the names were quoted
