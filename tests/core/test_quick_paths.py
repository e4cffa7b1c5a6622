"""The checks' quick paths change no answer.

The value checks do not search plain text (a name, a code, an ID: `plain_text`) for line
breaks, formula signs, Excel's error values, invisible characters or digits other than 0-9;
the repeated-header check tells most values from their first two bytes that they are no
column's name (`leading_bytes`). Each is compared with the same check done the long way."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from core_helpers import (
    AS_OF,
    BILLED,
    CAREGIVER,
    LAYOUT,
    MONTH,
    NAME,
    PATIENT,
    SCHED_START,
    valid_table,
)
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from xl_pmpm.core import row_checks, value_checks
from xl_pmpm.core.validation import validate_table
from xl_pmpm.core.values import plain_text
from xl_pmpm.io import files

BOOK = files.load_rate_book()

# Characters of every kind the checks tell apart: letters of several scripts and the
# punctuation of names, signs, "#", line breaks, spaces, a combining accent, invisible
# characters (the blank Hangul letters among them), digits other than 0-9.
CHARACTERS = "aZ09 ,.'’-=+@#()\r\n\t\u00a0éÑøễλЖ王ع\u0301\u200b\u00ad\u3164\u115f\ufeff\u0600１٣²"
COLUMNS = [NAME, PATIENT, CAREGIVER, BILLED, SCHED_START]
# And values that are nearly plain: a name or number behind a sign, a space, an invisible
# character or a "#".
NEARLY_PLAIN = st.builds(
    str.__add__,
    st.sampled_from(["", "=", "+", "-", "@", "#", " ", "\u200b", "\u3164", "\n"]),
    st.text(alphabet="aZ09 ,.'’-éễЖ", max_size=10),
)
VALUES = st.one_of(st.text(alphabet=CHARACTERS, max_size=12), NEARLY_PLAIN)


def every_value_searched(values: pd.Series) -> np.ndarray:
    return np.zeros(len(values), dtype=bool)


def findings_both_ways(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    quick, _ = validate_table(table, LAYOUT, BOOK, month=MONTH, as_of=AS_OF)
    with mock.patch.object(value_checks, "plain_text", every_value_searched):
        slow, _ = validate_table(table, LAYOUT, BOOK, month=MONTH, as_of=AS_OF)
    return quick.findings, slow.findings


@settings(max_examples=50, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.sampled_from(COLUMNS), VALUES),
        min_size=1,
        max_size=12,
    )
)
@example(cells=[(NAME, "\u3164Kim"), (NAME, "Kim\u3164"), (CAREGIVER, "A\u0301=1")])
@example(cells=[(PATIENT, "０１２"), (NAME, "=Kim"), (CAREGIVER, "O'Neil-Day, Zoë")])
def test_skipping_plain_text_changes_no_finding(cells: list[tuple[str, str]]) -> None:
    table = valid_table(6)
    for k, (column, value) in enumerate(cells):
        table.at[table.index[k % len(table)], column] = value
    quick, slow = findings_both_ways(table)
    pd.testing.assert_frame_equal(quick, slow)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ("Nguyễn, Zoë M.", True),
        ("O'Neil-Day", True),
        ("Петров, Ольга", True),
        ("0140096016", True),
        ("-Smith", False),  # a sign first: the formula test decides
        ("\u3164Kim", False),  # a blank Hangul letter is invisible
        ("Zoe\u0301", False),  # a combining accent
        ("１２", False),  # full-width digits
        ("#N/A", False),
        ("a\nb", False),
    ],
)
def test_plain_text_is_letters_digits_and_the_punctuation_of_names(value: str, plain: bool):
    assert plain_text(pd.Series([value], dtype="str")).tolist() == [plain]
    # Text that is not Arrow's is told by the ASCII letters and digits alone.
    assert plain_text(pd.Series([value], dtype=object)).tolist() == [
        value.isascii() and value.isalnum()
    ]


# A header cell as a pasted second export or a hand edit may write it, or a value near one.
def header_like(name: str) -> st.SearchStrategy[str]:
    return st.builds(
        lambda text, upper, before, between: (
            before + (text.upper() if upper else text).replace(" ", between)
        ),
        st.sampled_from([name, name, name[:2], "Park, Ana", "Pa", "P", "X"]),
        st.booleans(),
        st.sampled_from(["", " ", "\ufeff", "\t", "\u00a0"]),
        st.sampled_from([" ", "  ", "\t", "", "\u3000"]),
    )


@settings(max_examples=50, deadline=None)
@given(data=st.data(), lines=st.integers(1, 4))
def test_telling_headers_by_two_bytes_changes_no_answer(data: st.DataObject, lines: int) -> None:
    """Each line holds its columns' names in one column fewer than a repeated header needs
    (half the columns), and a drawn value in one more: the line is a header exactly when
    that value is its column's name."""
    table = valid_table(lines + 1)
    columns = list(table.columns)
    short = max(3, (len(columns) + 1) // 2) - 1
    for line in table.index[:lines]:
        drawn = data.draw(st.sampled_from(columns))
        others = [c for c in columns if c != drawn]
        for k, column in enumerate(others):
            table.at[line, column] = column if k < short else "x"
        table.at[line, drawn] = data.draw(header_like(drawn))
    quick = row_checks.repeated_header_rows(table)
    with mock.patch.object(row_checks, "leading_bytes", lambda values, count: None):
        slow = row_checks.repeated_header_rows(table)
    pd.testing.assert_series_equal(quick, slow)
    note(f"header rows: {int(quick.sum())} of {lines}")
