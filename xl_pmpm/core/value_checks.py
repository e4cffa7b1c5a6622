"""Checks of each value on its own, whatever row it is on: blanks, line breaks, IDs
Excel reformatted, formula prefixes, numbers, dates, lengths and allowed values.

All the values of all the columns are checked at once (`cell_checks`), each distinct
value once; `column_findings` turns one column's checks into findings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

from xl_pmpm.core.findings import WARNING, finding_rows
from xl_pmpm.core.hygiene import cell_findings, has_invisible, is_excel_error
from xl_pmpm.core.layout import Column
from xl_pmpm.core.values import Spread, non_ascii_digits, plain_text, strip_invisible

FORMULA_PREFIXES = ("=", "+", "-", "@")
# A sign before a plain number or a plain name (-1000, -Smith, +O'Neil-Day) is no formula:
# it computes nothing and calls nothing (a function needs "(", a DDE link "|").
_SIGNED_PLAIN = (
    r"[+-]\s*(?:[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|[^\W\d_]+(?:(?:, |[ '’.-])[^\W\d_]+)*\.?)"
)
_MANGLED_ID = r"[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+|[0-9]+\.0+|'.*"
# Dates as Excel rewrites them: a serial number (46296.125), or a regional form
# (10/1/2026 3:00, 01.10.2026, 2026/10/01, 1-Oct-26) where day and month may be swapped.
_DATE_SERIAL = r"\d{5}(?:\.\d+)?"
_DATE_REGIONAL = r"\d{1,4}[/.-](?:\d{1,2}|[A-Za-z]{3,9})[/.-]\d{1,4}(?:[ T].*)?"
# An ID column is expected to hold IDs of one width when this share of them has it.
_ID_WIDTH_SHARE = 0.8
_ID_WIDTH_MIN_ROWS = 5


def parse_datetimes(values: pd.Series, column: Column) -> pd.Series:
    """Timestamps where a value has one of the column's formats exactly, NaT elsewhere."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt, pattern in zip(column.formats, column.format_patterns(), strict=True):
        todo = out.isna() & values.str.fullmatch(pattern[1:-1])
        if todo.any():
            out[todo] = _in_range(pd.to_datetime(values[todo], format=fmt, errors="coerce"))
    return out


def _in_range(stamps: pd.Series) -> pd.Series:
    """NaT for years a nanosecond timestamp cannot hold (outside 1677-2262: 0001, 3026)."""
    inside = (stamps >= pd.Timestamp.min) & (stamps <= pd.Timestamp.max)
    return stamps.where(inside).astype("datetime64[ns]")


def formula_cells(values: pd.Series) -> pd.Series:
    """Where a text value would run as a formula when the file is opened in a spreadsheet.

    Seen through whitespace and invisible prefixes (U+200B=HYPERLINK(...) is one); a
    sign before a plain number or name (-1000, -Smith) is not.
    """
    lead = strip_invisible(values).str.lstrip()
    starts = lead.str.startswith(FORMULA_PREFIXES).to_numpy(bool)
    signed = _only(lead, starts, lambda v: v.str.fullmatch(_SIGNED_PLAIN))
    return pd.Series(starts & ~signed, index=values.index)


def _only(values: pd.Series, where: np.ndarray, test) -> np.ndarray:
    """`test` of the values `where` is true (False elsewhere); skipped when none is."""
    out = np.zeros(len(values), dtype=bool)
    if where.any():
        out[where] = np.asarray(test(values[where]), dtype=bool)
    return out


def _ascii_digits(values: pd.Series) -> np.ndarray:
    """Where a value is not empty and only the digits 0-9 (one pass in Arrow)."""
    if isinstance(values.array, ArrowStringArray):
        found = pc.ascii_is_decimal(values.array.__arrow_array__())
        return np.asarray(pc.fill_null(found, False), dtype=bool)
    return values.str.fullmatch(r"[0-9]+").fillna(False).to_numpy(bool)


def cell_checks(raw: pd.Series, cols: list[Column], owner: np.ndarray) -> pd.DataFrame:
    """What is wrong with each value, regardless of the row it is on.

    All columns at once: value i is of column `cols[owner[i]]`.
    """

    def of(kind) -> np.ndarray:  # which values are of a column of this kind
        return np.array([bool(kind(c)) for c in cols], dtype=bool)[owner]

    is_id, is_number = of(lambda c: c.id), of(lambda c: c.type == "number")
    is_datetime = of(lambda c: c.type == "datetime")
    values = raw.str.strip()
    # Plain text (a name, a code, an ID) holds no line break, formula sign, "#", invisible
    # character or foreign digit: the tests for those look only at the other values.
    odd = ~plain_text(raw)
    out: dict[str, np.ndarray | pd.Series] = {}
    out["blank"] = blank = (values == "").to_numpy(bool)
    out["line_break"] = _only(raw, odd, lambda v: v.str.contains(r"[\r\n]", regex=True))
    # An ID's count of digits, where it is only digits (-1 elsewhere): `_short_ids`.
    digits = is_id & _ascii_digits(values)
    # (an ID of digits only is no number Excel reformatted: that needs "e", "." or "'")
    out["mangled"] = _only(values, is_id & ~digits, lambda v: v.str.fullmatch(_MANGLED_ID))
    out["id_width"] = width = np.full(len(raw), -1, dtype=np.int64)
    if digits.any():
        width[digits] = values[digits].str.len().to_numpy(dtype=np.int64)
    # A signed number in a number column is a type error, not a formula; in any other
    # column a leading =, +, - or @ would be exported as it is, so it is a formula.
    # (only a value that is not plain letters and digits can be a formula)
    numeric_like = _only(
        values, is_number & odd, lambda v: v.str.fullmatch(r"[+-]?[0-9]+(?:\.[0-9]+)?")
    )
    out["formula"] = _only(raw, odd, formula_cells) & ~numeric_like
    out["excel_error"] = _only(raw, odd, is_excel_error)
    out["invisible"] = _only(raw, odd, has_invisible)
    out["foreign_digits"] = _only(raw, (is_number | is_id) & odd, non_ascii_digits)
    ok = ~blank & ~out["mangled"] & ~out["formula"] & ~out["excel_error"] & ~out["foreign_digits"]
    out["type"] = np.zeros(len(raw), dtype=bool)
    for decimals in sorted({c.decimals or 0 for c in cols if c.type == "number"}):
        pattern = r"[0-9]+" if decimals == 0 else rf"[0-9]+(?:\.[0-9]{{1,{decimals}}})?"
        these = ok & of(lambda c, d=decimals: c.type == "number" and (c.decimals or 0) == d)
        out["type"] |= _only(values, these, lambda v, p=pattern: ~v.str.fullmatch(p))
    stamps = np.full(len(raw), np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    for i, col in enumerate(cols):
        these = (owner == i) & ~blank
        if col.type == "datetime" and these.any():
            stamps[these] = parse_datetimes(values[these], col).to_numpy("datetime64[ns]")
    out["stamp"] = pd.Series(stamps, index=raw.index)
    out["datetime"] = datetime = ok & is_datetime & np.isnat(stamps)
    out["serial"] = _only(values, datetime, lambda v: v.str.fullmatch(_DATE_SERIAL))
    out["regional"] = (
        _only(values, datetime, lambda v: v.str.fullmatch(_DATE_REGIONAL)) & ~out["serial"]
    )
    out["bad_year"] = _only(values, datetime, _year_out_of_range)
    max_length = np.array([c.max_length or 0 for c in cols])[owner]
    out["too_long"] = (max_length > 0) & (raw.str.len().to_numpy() > max_length)
    out["not_allowed"] = np.zeros(len(raw), dtype=bool)
    for i, col in enumerate(cols):
        these = ok & (owner == i)
        if col.allowed and these.any():
            out["not_allowed"][these] = ~values[these].isin(col.allowed).to_numpy(bool)
    return pd.DataFrame(out, index=raw.index, copy=False)


def _year_out_of_range(values: pd.Series) -> pd.Series:
    """Where a value starts with a year a timestamp cannot hold (0001-, 3026-)."""
    year = pd.to_numeric(values.str.extract(r"^([0-9]{4})-", expand=False), errors="coerce")
    return ((year < 1678) | (year > 2261)).fillna(False)


def column_findings(
    table: pd.DataFrame,
    col: Column,
    raw: pd.Series,
    checks: pd.DataFrame | Spread,
    live: pd.Series,
    parsed: dict[str, pd.Series],
) -> list[pd.DataFrame]:
    filled = live & ~checks["blank"]
    out: list[pd.DataFrame] = []
    name = col.name

    def add(code: str, mask: pd.Series, message: str) -> None:
        if mask.any():
            out.append(finding_rows(code, table.index[mask], name, raw[mask], message))

    if col.required == "yes":
        add("required", live & checks["blank"], f"{name} is blank.")
    add("line-break", filled & checks["line_break"], f"{name} holds a line break.")
    out.extend(cell_findings(table.index, col, raw, filled, checks))
    add(
        "id-mangled",
        filled & checks["mangled"],
        f"{name} looks like a value Excel reformatted (a number, or its leading apostrophe).",
    )
    if col.id:
        usable = filled & ~checks["mangled"] & ~checks["formula"]
        out.extend(_short_ids(table, col, usable, checks["id_width"]))
    add("formula-prefix", filled & checks["formula"], f"{name} starts with =, +, - or @.")
    if col.type == "number":
        kind = (
            "a whole number"
            if not col.decimals
            else f"a number with at most {col.decimals} decimals"
        )
        add(
            "type", filled & checks["type"], f"{name} must be {kind} (no signs, spaces or letters)."
        )
    if col.type == "datetime":
        parsed[name] = checks["stamp"].where(live)
        forms = " or ".join(_human(f) for f in col.formats)
        bad = filled & checks["datetime"]
        if bad.any():
            why = pd.Series(f"{name} is not in the form {forms}.", index=table.index)
            why[checks["regional"].astype(bool)] = (
                f"{name} is in a regional form Excel writes (day and month may be swapped), "
                f"not {forms}."
            )
            why[checks["serial"].astype(bool)] = (
                f"{name} holds an Excel date serial number, not a date and time in the form "
                f"{forms}."
            )
            why[checks["bad_year"].astype(bool)] = (
                f"{name} has a year no billing month can have (a typo?), in the form {forms}."
            )
            out.append(finding_rows("datetime-format", table.index[bad], name, raw[bad], why[bad]))
    if col.max_length:
        add(
            "max-length",
            filled & checks["too_long"],
            f"{name} is longer than {col.max_length} characters.",
        )
    if col.allowed:
        add(
            "allowed-value",
            filled & checks["not_allowed"],
            f"{name} must be one of: {', '.join(col.allowed)}.",
        )
    return out


def _short_ids(
    table: pd.DataFrame, col: Column, filled: pd.Series, id_width: pd.Series
) -> list[pd.DataFrame]:
    """IDs of digits shorter than the column's usual width: Excel dropped leading zeros?

    Only when most IDs of the column share one width (a warning: an agency may
    mix widths; checking against the original extract with --original is exact).
    `id_width`: each row's count of digits where its value (stripped) is only digits,
    else -1 (`cell_checks`).
    """
    widths = id_width[filled.to_numpy(bool) & (id_width.to_numpy() > 0)]
    if len(widths) < _ID_WIDTH_MIN_ROWS:
        return []
    usual = int(widths.mode().iloc[0])
    if (widths == usual).mean() < _ID_WIDTH_SHARE:
        return []
    short = widths[widths < usual].index
    if not len(short):
        return []
    return [
        finding_rows(
            "id-mangled",
            short,
            col.name,
            table.loc[short, col.name],
            f"{col.name} is shorter than the column's other IDs ({usual} digits): "
            "Excel may have dropped its leading zeros.",
            severity=WARNING,
        )
    ]


def _human(fmt: str) -> str:
    for d, h in (
        ("%Y", "YYYY"),
        ("%m", "MM"),
        ("%d", "DD"),
        ("%H", "HH"),
        ("%I", "HH"),
        ("%M", "MM"),
        ("%S", "SS"),
        ("%p", "AM/PM"),
    ):
        fmt = fmt.replace(d, h)
    return fmt
