"""Rows grouped by several columns of codes (`core.groups`), against pandas' own grouping."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from xl_pmpm.core.groups import a_row_of_each, combined_codes, first_rows


@st.composite
def code_columns(draw):
    """Rows of a few code columns, some of them with so many values that their product
    leaves 64 bits (the key is renumbered on the way)."""
    rows = draw(st.integers(0, 60))
    columns = []
    for _ in range(draw(st.integers(1, 5))):
        values = draw(st.sampled_from([1, 2, 3, 7, 2**20, 2**40]))
        codes = draw(st.lists(st.integers(0, min(values, 5) - 1), min_size=rows, max_size=rows))
        # Codes spread over the whole range where there are many values.
        codes = np.array(codes, dtype=np.int64) * max(values // 5, 1)
        columns.append((codes, values))
    return rows, columns


@settings(max_examples=200, deadline=None)
@given(code_columns())
def test_rows_alike_in_every_column_and_only_they_share_a_key(drawn):
    rows, columns = drawn
    key, width = combined_codes(columns, rows)
    assert key.shape == (rows,)
    assert ((key >= 0) & (key < width)).all()
    frame = pd.DataFrame({i: codes for i, (codes, _) in enumerate(columns)})
    by_pandas = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    assert (pd.factorize(key)[0] == pd.factorize(by_pandas)[0]).all()


@given(st.lists(st.integers(0, 6), max_size=40))
def test_a_row_of_each_group_and_its_first(ids):
    ids = np.array(ids, dtype=np.intp)
    count = int(ids.max(initial=-1)) + 2  # the last group has no row
    rows = np.arange(len(ids), dtype=np.intp)
    first = first_rows(ids, rows, count)
    for group in range(count):
        mine = np.flatnonzero(ids == group)
        assert first[group] == (mine[0] if len(mine) else -1)
    present = np.unique(ids)
    row = a_row_of_each(ids, count)
    assert (ids[row[present]] == present).all()
