"""Rows grouped by several columns of codes at once, as one integer a row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def combined_codes(parts: Sequence[tuple[np.ndarray, int]], rows: int) -> tuple[np.ndarray, int]:
    """One integer a row for its combination of the code columns `parts` ((codes from 0,
    how many values)), and how many such integers there could be (their width): rows alike
    in every column get the same integer, any other two different ones. Renumbered on the
    way where the product of the columns' values would leave 64 bits."""
    key = np.zeros(rows, dtype=np.int64)
    width = 1
    for codes, values in parts:
        values = max(values, 1)
        if width * values >= 2**62:
            key = pd.factorize(key)[0].astype(np.int64)
            width = int(key.max(initial=0)) + 1
        key *= values
        key += codes
        width *= values
    return key, width


def a_row_of_each(ids: np.ndarray, count: int) -> np.ndarray:
    """A row of each group (0 to `count` - 1, every one some row's) of the rows' group `ids`
    (its last: one scatter): a group's value of a column its rows share is that row's."""
    row = np.zeros(count, dtype=np.intp)
    row[ids] = np.arange(len(ids), dtype=np.intp)
    return row


def first_rows(ids: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """The first of `rows` (row numbers) of each group (0 to `count` - 1) of their `ids`; -1
    where a group has none of them."""
    none = np.iinfo(np.intp).max
    out = np.full(count, none, dtype=np.intp)
    np.minimum.at(out, ids, rows)
    out[out == none] = -1
    return out
