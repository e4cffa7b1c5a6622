"""Vectorized helpers over columns of text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray


def squash(text: object) -> str:
    """Text compared loosely (headers, labels): BOMs, runs of whitespace and case aside."""
    if text is None:
        return ""
    return " ".join(str(text).replace("\ufeff", " ").split()).casefold()


def squash_values(values: pd.Series) -> pd.Series:
    """`squash` over a column of text at once."""
    text = values.str.replace("\ufeff", " ", regex=False)
    return text.str.replace(r"\s+", " ", regex=True).str.strip().str.casefold()


def per_value(
    series: pd.Series, check: Callable[[pd.Series], pd.DataFrame | pd.Series]
) -> pd.DataFrame | pd.Series:
    """Run `check` on the distinct values of `series` only, and spread the answer back.

    Most columns of a tier report hold a handful of distinct values (IDs, dates,
    codes), so this turns a pass over every cell into a pass over a few.
    """
    return next(per_value_columns([series], lambda u, _: check(u)))


def column_values(
    table: pd.DataFrame,
    name: str,
    check: Callable[[pd.Series], pd.DataFrame | pd.Series],
    coded: Mapping[str, Distinct] | None = None,
) -> pd.DataFrame | pd.Series:
    """`per_value` of `table[name]`, from its factorizing in `coded` where a caller (validation)
    already made it."""
    column = coded.get(name) if coded else None
    return next(
        per_value_columns([table[name] if column is None else column], lambda u, _: check(u))
    )


def map_distinct(values: pd.Series, lookup: Callable[[Any], Any]) -> pd.Series:
    """`lookup` of each value, called once per distinct value (a million rows name a few
    payers); pandas' `map` calls Python once per row on Arrow text."""
    return per_value(values, lambda distinct: distinct.map(lookup))


def text_chunks(values: pa.Array | pa.ChunkedArray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each chunk of Arrow text as its offsets (one per row and one past the last, from 0)
    and its bytes, both numpy views of Arrow's buffers (no copy)."""
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        wide = chunk.type in (pa.large_string(), pa.large_binary())
        bufs = chunk.buffers()
        offsets = np.frombuffer(bufs[1], np.int64 if wide else np.int32)
        offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
        start = int(offsets[0]) if len(offsets) else 0
        data = data[start : int(offsets[-1])] if len(offsets) else data[:0]
        yield offsets - start, data


def leading_bytes(values: pd.Series, count: int) -> np.ndarray | None:
    """Each value's first `count` bytes (a row per value; 0 past its end) where `values` is
    Arrow text, from its buffers (no copy of the text); None for other text."""
    if not isinstance(values.array, ArrowStringArray):
        return None
    out = []
    for offsets, data in text_chunks(values.array.__arrow_array__()):
        sizes, starts = np.diff(offsets), offsets[:-1]
        head = np.zeros((len(sizes), count), dtype=np.uint8)
        for k in range(count):
            some = sizes > k
            head[some, k] = data[starts[some] + k]
        out.append(head)
    return np.concatenate(out) if out else np.zeros((0, count), dtype=np.uint8)


@dataclass(frozen=True)
class Distinct:
    """A column as its distinct values (text, missing as "") and, per row, which one."""

    codes: np.ndarray  # int32, one per row
    uniques: pd.Series
    index: pd.Index


def distinct_values(column: pd.Series) -> Distinct:
    """`column` factorized once, for several `per_value_columns` passes over it."""
    if _one_value(column):  # an agency's ID on every row: no hashing
        codes = np.zeros(len(column), dtype=np.int32)
        return Distinct(codes, pd.Series(column.array[:1]).astype(str), column.index)
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    # Text stays Arrow text: a million distinct IDs never become Python objects.
    text = pd.Series(uniques) if column.dtype == "str" else pd.Series(uniques, dtype=object)
    return Distinct(codes.astype(np.int32), text.fillna("").astype(str), column.index)


def _one_value(column: pd.Series) -> bool:
    """Whether Arrow text holds one value on every row, none missing (one compare per row;
    a column whose first chunk differs is told by that chunk)."""
    if not isinstance(column.array, ArrowStringArray) or not len(column):
        return False
    values = column.array.__arrow_array__()
    if values.null_count:
        return False
    first = values[0]
    return all(pc.all(pc.equal(part, first)).as_py() for part in (values.chunk(0), values))


@dataclass(frozen=True)
class Spread:
    """A column's answers of a per-value check (a frame: one row per distinct value), spread
    to the column's rows one answer at a time, as asked: an answer False for every distinct
    value is False on every row without a take."""

    answers: pd.DataFrame
    codes: np.ndarray
    index: pd.Index

    def __getitem__(self, name: str) -> pd.Series:
        answer = self.answers[name].to_numpy()
        if answer.dtype == bool and not answer.any():
            return pd.Series(np.zeros(len(self.codes), dtype=bool), index=self.index, name=name)
        return pd.Series(answer.take(self.codes), index=self.index, name=name)


def per_value_columns(
    columns: list[pd.Series | Distinct],
    check: Callable[[pd.Series, np.ndarray], pd.DataFrame | pd.Series],
    lazy: bool = False,
) -> Iterator:
    """`per_value` over several columns with ONE call of `check`; the columns' answers in turn.

    `check` gets the distinct values of every column stacked, and for each value the
    position in `columns` of the column it comes from. A pandas operation costs about
    the same for 16 values as for one, so a small table pays it once, not per column.
    Each answer is spread back to its column's rows only when asked for, so a large
    table holds one column's answer at a time. A column given as `Distinct` (factorized
    once for several passes) is not factorized again. With `lazy`, `check`'s frame is
    spread one answer at a time, as the caller asks for it (`Spread`).
    """
    # int32 codes: every column's codes are held until its answer is spread
    coded = [c if isinstance(c, Distinct) else distinct_values(c) for c in columns]
    if not coded:
        return
    sizes = [len(d.uniques) for d in coded]
    owner = np.repeat(np.arange(len(columns)), sizes)
    distinct = [d.uniques for d in coded]
    stacked = distinct[0] if len(distinct) == 1 else pd.concat(distinct, ignore_index=True)
    del distinct
    result = check(stacked, owner)
    del stacked, owner
    start = 0
    for d, size in zip(coded, sizes, strict=True):
        if lazy:
            yield Spread(result.iloc[start : start + size], d.codes, d.index)
            start += size
            continue
        yield _spread(result, start, size, d)
        start += size


def _spread(result: pd.Series | pd.DataFrame, start: int, size: int, d: Distinct):
    """The answers `result[start : start + size]` (a column's distinct values') on its rows."""
    if isinstance(result, pd.Series) and isinstance(result.dtype, np.dtype):
        # numpy answers: one take of the column's own slice (no offset codes made), none
        # where a yes/no answer is no for every value
        answer = result.to_numpy()[start : start + size]
        if answer.dtype == bool and not answer.any():
            rows = np.zeros(len(d.codes), dtype=bool)
        else:
            rows = answer.take(d.codes)
        return pd.Series(rows, index=d.index, name=result.name)
    spread = result.take(d.codes + start)
    spread.index = d.index
    return spread


# --- characters a biller cannot see (issue 14) ---------------------------------------------

# Format characters (Unicode category Cf: zero-width space U+200B, word joiner U+2060,
# byte-order mark U+FEFF, direction marks, soft hyphen ...), line and paragraph
# separators, control characters other than tab, CR and LF, and the blank letters
# (Hangul fillers, combining grapheme joiner). Listed rather than computed from
# unicodedata at import (a scan of every code point takes half a second).
_INVISIBLE_RANGES = (
    (0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD),
    (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x115F, 0x1160),
    (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064),
    (0x2066, 0x206F), (0x3164, 0x3164), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip


def _class_member(code: int) -> str:
    # `\xHH`, or the character itself: both Python's re and pyarrow's RE2 read them, so
    # pandas runs the class in Arrow (a `\U` escape sends it to Python, value by value).
    return f"\\x{code:02x}" if code <= 0xFF else chr(code)


INVISIBLE = (
    "["
    + "".join(
        _class_member(a) if a == b else f"{_class_member(a)}-{_class_member(b)}"
        for a, b in _INVISIBLE_RANGES
    )
    + "]"
)
_INVISIBLE_RE = re.compile(INVISIBLE)
# Python's `\s` (str.isspace: no whitespace lies above U+3000) spelt as a class that
# RE2 reads alike: pandas sends a `\s` pattern to Python value by value, this one not.
SPACE = "[" + "".join(_class_member(c) for c in range(0x3001) if chr(c).isspace()) + "]"
_NON_ASCII_DIGIT_RE = re.compile(r"[^\x00-\x7f]")


def invisible_characters(text: str) -> list[str]:
    """The invisible characters of `text`, in order, as `U+XXXX NAME`."""
    return [
        f"U+{ord(ch):04X}" + (f" {unicodedata.name(ch)}" if unicodedata.name(ch, "") else "")
        for ch in _INVISIBLE_RE.findall(text)
    ]


def strip_invisible(values: pd.Series) -> pd.Series:
    """`values` without their invisible characters."""
    return values.str.replace(INVISIBLE, "", regex=True)


def has_non_ascii_digit(values: pd.Series) -> pd.Series:
    """Where a value holds a digit that is not 0-9 (full-width ７, Arabic-Indic ٧, ...)."""
    return per_value(values.fillna("").astype(str), non_ascii_digits)


def non_ascii_digits(values: pd.Series) -> pd.Series:
    """`has_non_ascii_digit` of text values that are already distinct (no factorizing)."""
    maybe = ~values.str.isascii()
    out = pd.Series(False, index=values.index)
    if maybe.any():
        out[maybe] = values[maybe].map(lambda s: any(c.isdigit() and not c.isascii() for c in s))
    return out


def _member_key_of(text: str) -> str:
    text = unicodedata.normalize("NFKC", _INVISIBLE_RE.sub("", text))
    if _NON_ASCII_DIGIT_RE.search(text):
        text = "".join(
            str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch
            for ch in text
        )
    return text.strip()


def member_key(values: pd.Series | Distinct) -> pd.Series:
    """IDs as one member is one ID: the ONE normalisation behind every "same member?" test.

    Used alike by the duplicate check within a file, the export ledger across files
    and carry-over. Surrounding (and non-breaking) spaces, invisible characters
    (U+200B, U+2060, U+FEFF, ...) and look-alike digits (full-width `０１２`,
    Arabic-Indic `٠١٢`, ...) do not make another member: `０１２\u2060` is `012`.
    Validation reports such IDs (`invisible-character`, `type`) so the source is
    fixed; this key makes sure they never pass as new members meanwhile.
    """

    if isinstance(values, Distinct):  # factorized already (validation's columns)
        return next(per_value_columns([values], lambda u, _: member_keys(u)))
    return per_value(values.fillna("").astype(str), member_keys)


def letters_and_digits(values: pd.Series) -> np.ndarray:
    """Where a value is not empty and only ASCII letters and digits (one pass in Arrow)."""
    if isinstance(values.array, ArrowStringArray):
        found = pc.ascii_is_alnum(values.array.__arrow_array__())
        return np.asarray(pc.fill_null(found, False), dtype=bool)
    return values.str.fullmatch(r"[0-9A-Za-z]+").fillna(False).to_numpy(bool)


# Plain text, for the value checks' quick path (`plain_text`): a letter (Latin, Greek or
# Cyrillic script: no invisible or combining character, no digit other than 0-9 is one) or
# a digit 0-9 first, then those, spaces and the punctuation of names (", . ' ’ -").
_PLAIN_LETTER = r"\p{Latin}\p{Greek}\p{Cyrillic}0-9"
_PLAIN_TEXT = rf"^[{_PLAIN_LETTER}][{_PLAIN_LETTER} ,.'’-]*$"


def plain_text(values: pd.Series) -> np.ndarray:
    """Where a value is plain text (`_PLAIN_TEXT`: "Nguyễn, Zoë M.", "O'Neil-Day", "0123"):
    it holds no line break, formula sign, "#", invisible character or digit other than
    0-9, so the value checks for those have nothing to find in it. One pass in Arrow (RE2
    knows scripts); other text by `letters_and_digits` (Python's re does not)."""
    if isinstance(values.array, ArrowStringArray):
        found = pc.match_substring_regex(values.array.__arrow_array__(), _PLAIN_TEXT)
        return np.asarray(pc.fill_null(found, False), dtype=bool)
    return letters_and_digits(values)


def member_keys(values: pd.Series) -> pd.Series:
    """`member_key` of text values that are already distinct (no factorizing)."""
    out = values.str.strip()
    odd = ~values.str.isascii() | values.str.contains(INVISIBLE, regex=True)
    if odd.any():
        out[odd] = values[odd].map(_member_key_of)
    return out
