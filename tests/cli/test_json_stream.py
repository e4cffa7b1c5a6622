"""`--format json` is written a piece at a time by `options.write_json`, whatever encoder
CPython would pick: the text is json.dumps's (indent 2), a `Rows` its records."""

from __future__ import annotations

import io
import json
from datetime import date

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from xl_pmpm.cli.options import Rows, write_json

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
KEYS = st.text(max_size=6) | st.integers() | st.booleans() | st.none()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def _written(value: object, *, ascii_only: bool) -> str:
    out = io.StringIO()
    write_json(value, out.write, ascii_only=ascii_only)
    return out.getvalue()


@given(VALUES, st.booleans())
def test_the_text_is_json_dumps(value: object, ascii_only: bool) -> None:
    want = json.dumps(value, indent=2, ensure_ascii=ascii_only, default=str)
    assert _written(value, ascii_only=ascii_only) == want


def test_rows_are_their_records_with_nulls_and_dates_as_text() -> None:
    frame = pd.DataFrame({"member": ["Zoë", None], "day": [date(2026, 10, 1), None]})
    rows = Rows(frame)
    Rows.CHUNK, chunk = 1, Rows.CHUNK  # one record a chunk
    try:
        text = _written({"rows": rows, "none": Rows(frame.iloc[:0])}, ascii_only=False)
    finally:
        Rows.CHUNK = chunk
    records = [{"member": "Zoë", "day": "2026-10-01"}, {"member": None, "day": None}]
    assert json.loads(text) == {"rows": records, "none": []}
    assert text == json.dumps({"rows": records, "none": []}, indent=2, ensure_ascii=False)
    assert not isinstance(rows, list)  # no list whose encoding depends on the encoder


@given(
    st.lists(st.tuples(st.text(max_size=6) | st.none(), st.integers()), max_size=7),
    st.integers(min_value=1, max_value=3),
    st.booleans(),
)
def test_rows_read_as_json_dumps_of_their_records_at_any_depth_and_chunk(
    values: list[tuple[str | None, int]], chunk: int, ascii_only: bool
) -> None:
    """Records written a chunk at a time, deep in a payload, are json.dumps's text of them."""
    frame = pd.DataFrame(values, columns=["name\n", "n"], dtype=object)
    records = [{"name\n": name, "n": n} for name, n in values]
    Rows.CHUNK, saved = chunk, Rows.CHUNK
    try:
        text = _written({"a": [{"rows": Rows(frame)}, 1]}, ascii_only=ascii_only)
    finally:
        Rows.CHUNK = saved
    want = {"a": [{"rows": records}, 1]}
    assert text == json.dumps(want, indent=2, ensure_ascii=ascii_only, default=str)


# Cells as a payload's tables hold them, and text that looks like the layout's separators.
CELLS = (
    SCALARS
    | st.floats(allow_nan=False)
    | st.dates()
    | st.sampled_from(["},\n    {", "}", "{", "\n", '": "'])
    | st.lists(SCALARS, max_size=2)
)


@given(
    st.lists(st.text(max_size=6), unique=True, max_size=4).flatmap(
        lambda columns: st.tuples(
            st.just(columns),
            st.lists(st.lists(CELLS, min_size=len(columns), max_size=len(columns)), max_size=5),
        )
    ),
    st.integers(min_value=1, max_value=3),
    st.booleans(),
)
def test_rows_of_any_cells_read_as_json_dumps_of_their_records(
    drawn: tuple[list[str], list[list]], chunk: int, ascii_only: bool
) -> None:
    """Whatever the cells (text like the separators, dates, a list in a cell) and however
    many columns (none too), a chunk of records is json.dumps's text of them, whichever
    encoder writes it."""
    columns, rows = drawn
    frame = pd.DataFrame(rows, columns=columns, index=range(len(rows)), dtype=object)
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    Rows.CHUNK, saved = chunk, Rows.CHUNK
    try:
        text = _written({"rows": Rows(frame)}, ascii_only=ascii_only)
    finally:
        Rows.CHUNK = saved
    want = {"rows": records}
    assert text == json.dumps(want, indent=2, ensure_ascii=ascii_only, default=str)
