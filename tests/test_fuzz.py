"""Fuzzing the reader and the export round trip (hypothesis, bounded examples).

- Any bytes into the reader give a TierReport or a PmpmError with a message,
  and validating what was read never raises either.
- A valid generated table, exported and read back, validates and equals the
  original up to the documented normalisation (values stripped of surrounding
  spaces, schedule times in the layout's first format): `export.import_frame`.

Delete / defer / restore in any order is fuzzed in tests/test_core_review.py.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
from core_helpers import (
    BILLED,
    BOOK,
    DAY,
    EXPORT_HEADER,
    HEADER,
    LAYOUT,
    MONTH,
    NAME,
    PATIENT,
    SCHED_END,
    SCHED_START,
    csv_text,
    valid_row,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xl_pmpm.core.errors import PmpmError
from xl_pmpm.core.export import import_frame
from xl_pmpm.core.hygiene import is_excel_error
from xl_pmpm.core.report import TierReport
from xl_pmpm.core.validation import FORMULA_PREFIXES, validate_report
from xl_pmpm.io import files, workflow
from xl_pmpm.io.csv_reader import parse_tier_report

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT = datetime(2025, 4, 2, 10, 0, 0)


def read_and_validate(data: bytes) -> None:
    """The property: a report (then a validation) or a PmpmError with a message."""
    try:
        report = parse_tier_report(data, LAYOUT, source="fuzz.csv")
    except PmpmError as exc:
        assert str(exc).strip()
        return
    assert isinstance(report, TierReport)
    assert report.findings["message"].str.len().gt(0).all()
    validation, _ = validate_report(report, LAYOUT, BOOK)
    assert validation.findings["code"].notna().all()
    if not report.readable:
        assert not validation.valid


# --- any bytes --------------------------------------------------------------------------

CSV_ALPHABET = st.sampled_from(
    [",", ";", "\t", '"', "\r", "\n", "\r\n", " ", "=", "-", "@", "0", "1", "9", ".", "E+",
     "/", ":", "a", "é", "Ł", "\ufeff", "\x00", "sep=;", "Total", "PA", *HEADER[:4]]
)  # fmt: skip
PREFIXES = st.sampled_from(
    [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"PK\x03\x04", b"%PDF", b"sep=,\n"]
)


@FUZZ
@given(data=st.binary(max_size=3000))
def test_any_bytes_give_a_report_or_a_clear_error(data: bytes) -> None:
    read_and_validate(data)


@FUZZ
@given(prefix=PREFIXES, body=st.lists(CSV_ALPHABET, max_size=300).map("".join))
def test_csv_like_text_gives_a_report_or_a_clear_error(prefix: bytes, body: str) -> None:
    read_and_validate(prefix + body.encode("utf-8"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=20), max_size=12),
    sep=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]),
)
def test_header_plus_random_rows_give_a_report(
    cells: list[list[str]], sep: str, encoding: str
) -> None:
    text = csv_text(HEADER, cells, sep=sep)
    read_and_validate(text.encode(encoding, errors="surrogatepass"))


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


@FUZZ
@given(
    names=st.lists(
        st.sampled_from(
            ["xl/workbook.xml", "[Content_Types].xml", "xl/worksheets/sheet1.xml", "_rels/.rels"]
        ),
        unique=True,
        max_size=4,
    ),
    body=st.binary(max_size=400),
)
def test_damaged_workbooks_give_a_report_or_a_clear_error(names: list[str], body: bytes) -> None:
    read_and_validate(_zip(dict.fromkeys(names, body)))


# --- the export round trip --------------------------------------------------------------

# Names as billers meet them: any letters, marks, digits, punctuation and spaces,
# never a line break or a control character, never a formula's first character.
NAMES = st.text(
    alphabet=st.characters(
        whitelist_categories=("L", "M", "N", "P", "S", "Zs"), blacklist_characters="\x85"
    ),
    max_size=30,
).filter(lambda s: not s.strip().startswith(FORMULA_PREFIXES))
# A name that is one of Excel's error values ("#FIELD!") is an error, not a valid table.
NAMES = NAMES.filter(lambda s: not is_excel_error(pd.Series([s], dtype="str")).iloc[0])


@st.composite
def valid_tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 12))
    ids = draw(st.lists(st.integers(0, 10**10 - 1), min_size=n, max_size=n, unique=True))
    rows = []
    for i, pid in enumerate(ids):
        hours = draw(st.integers(100, 15_999)) / 100  # Tier 1 (1 to 159.99 h)
        row = valid_row(
            i,
            **{
                PATIENT: f"{pid:010d}",
                NAME: draw(NAMES),
                BILLED: f"{hours:.2f}",
                SCHED_START: draw(st.sampled_from([f"{DAY} 03:00", f"{DAY} 03:00 AM"])),
                SCHED_END: draw(st.sampled_from([f"{DAY} 03:15", f"{DAY} 03:15 AM"])),
            },
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=HEADER, dtype=str)
    frame.index = pd.RangeIndex(2, n + 2, name="line")
    return frame


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=valid_tables())
def test_exported_valid_table_reads_back_valid_and_equal(table: pd.DataFrame) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        # refused (ExportRefused) unless the generated table is valid
        done = workflow.export_import_file(table, Path(tmp), LAYOUT, BOOK, month=MONTH, at=AT)
        (path,) = done.files
        back = files.read_tier_report(path, LAYOUT)
    again, _ = validate_report(back, LAYOUT, BOOK, month=MONTH)
    assert again.valid, again.findings.to_string()
    want = import_frame(table, LAYOUT)  # the documented normalisation
    pd.testing.assert_frame_equal(back.table, want, check_dtype=False)
    assert list(back.table.columns) == EXPORT_HEADER
    # nothing but the normalisation changed: the stripped values are the originals
    stripped = table[EXPORT_HEADER].apply(lambda c: c.str.strip())
    others = [c for c in EXPORT_HEADER if c not in (SCHED_START, SCHED_END)]
    assert back.table[others].astype(object).equals(stripped[others].astype(object))


# --- issue 15: the byte reader (pyarrow) and the csv module read alike ------------------

ROW_PIECES = st.sampled_from(
    [",", ";", '"', '""', "\r\n", "\n", "\r", " ", "a", "é", "5'10\"", "O\"Brien", "x,y",
     "Total", "=1", "\t", "sep=;", "My Title", *HEADER[:3]]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    top=st.sampled_from(["", "sep=,\n", "PMPM Tier Report\n", "Title,,\n\n"]),
    body=st.lists(ROW_PIECES, max_size=80).map("".join),
    end=st.sampled_from(["", "\n", "\r\n", "\n\n"]),
)
def test_the_byte_reader_and_the_csv_module_read_the_same(top: str, body: str, end: str) -> None:
    """UTF-8 goes through pyarrow when it can; UTF-16 always through the csv module."""
    text = top + ",".join(HEADER) + "\r\n" + body + end
    fast = parse_tier_report(text.encode("utf-8"), LAYOUT)
    exact = parse_tier_report(text.encode("utf-16"), LAYOUT)
    pd.testing.assert_frame_equal(fast.table, exact.table, check_index_type=False)
    found = exact.findings[exact.findings["code"] != "encoding"].reset_index(drop=True)
    pd.testing.assert_frame_equal(fast.findings, found)
