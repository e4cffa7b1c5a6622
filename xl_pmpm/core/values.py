"""Vectorized helpers over columns of text."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd


def squash(text: object) -> str:
    """Text compared loosely (headers, labels): BOMs, runs of whitespace and case aside."""
    if text is None:
        return ""
    return " ".join(str(text).replace("\ufeff", " ").split()).casefold()


def squash_values(values: pd.Series) -> pd.Series:
    """`squash` over a column of text at once."""
    text = values.str.replace("\ufeff", " ", regex=False)
    return text.str.replace(r"\s+", " ", regex=True).str.strip().str.casefold()


def per_value(series: pd.Series, check: Callable[[pd.Series], pd.DataFrame | pd.Series]):
    """Run `check` on the distinct values of `series` only, and spread the answer back.

    Most columns of a tier report hold a handful of distinct values (IDs, dates,
    codes), so this turns a pass over every cell into a pass over a few.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    # Text stays Arrow text: a million distinct IDs never become Python objects.
    distinct = pd.Series(uniques) if series.dtype == "str" else pd.Series(uniques, dtype=object)
    result = check(distinct.fillna("").astype(str))
    spread = result.take(codes)
    spread.index = series.index
    return spread
