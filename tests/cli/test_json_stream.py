"""`--format json` is written a piece at a time by `options.write_json`, whatever encoder
CPython would pick: the text is json.dumps's (indent 2), a `Rows` its records."""

from __future__ import annotations

import io
import json
from datetime import date

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from xl_pmpm.cli.options import Rows, _records_json, write_json

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


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=6),
            SCALARS
            | st.floats()
            | st.dates()
            | st.sampled_from(["},\n    {", "}", "{", "\n"])
            | st.lists(SCALARS, max_size=2),
            max_size=5,
        ),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
)
def test_a_chunk_of_records_is_json_dumps_text_of_them(
    records: list[dict], ascii_only: bool
) -> None:
    """The C encoder's records laid out as json.dumps(indent=2) lays them out (a value that
    looks like the separators included; a list in a cell, a record without a column: by
    json.dumps itself)."""
    want = json.dumps(records, indent=2, ensure_ascii=ascii_only, default=str)
    assert _records_json(records, ascii_only) == want
