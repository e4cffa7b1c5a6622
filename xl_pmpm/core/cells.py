"""Reading typed values out of text columns, failing at the first bad cell.

Settings tables (rates), visits files and import results are read as text; these
helpers turn a column into numbers or dates and, where a cell cannot be read,
raise a PmpmInputError naming the file, the line (the table's index) and the
column, with the fix. Shared so every reader reports a bad cell the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.values import per_value

NUMBER_FIX = "Write a plain number such as 146.45."


def fail_at_first(
    bad: pd.Series, raw: pd.Series, *, file: str, column: str, message: str, fix: str
) -> None:
    """Raise for the first True of `bad`; `message` may hold `{value}` (that cell of `raw`)."""
    if bad.any():
        line = int(bad.idxmax())
        raise PmpmInputError(
            message.format(value=raw.at[line]), file=file, row=line, column=column, fix=fix
        )


def parse_numbers(
    frame: pd.DataFrame,
    col: str,
    file: str,
    *,
    blank_ok: bool = False,
    fix: str = NUMBER_FIX,
) -> pd.Series:
    """Column `col` of a text table as float64 (NaN where blank and `blank_ok`)."""
    text = frame[col].fillna("").astype(str)
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    bad = values.isna() & ~(blank_ok & (text == ""))
    fail_at_first(bad, text, file=file, column=col, message="'{value}' is not a number.", fix=fix)
    return values


def unreadable_csv(exc: Exception, what: str, file: str, fix: str) -> PmpmInputError:
    """The error for a CSV pandas could not parse: `what` ("The visits file") and the
    first line of the parser's message, which names the line."""
    return PmpmInputError(
        f"{what} cannot be read as CSV ({str(exc).splitlines()[0]}).", file=file, fix=fix
    )


def parse_dates_in_formats(values: pd.Series, formats: Iterable[str]) -> pd.Series:
    """Text as datetimes, trying each strptime format in turn; NaT where none fits.

    Parses each distinct value once (most columns repeat a few dates).
    """
    formats = tuple(formats)

    def parse(u: pd.Series) -> pd.Series:
        out = pd.Series(pd.NaT, index=u.index, dtype="datetime64[ns]")
        text = u.str.strip()
        for fmt in formats:
            todo = out.isna()
            if not todo.any():
                break
            out[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        return out

    return per_value(values.fillna("").astype(str), parse)
