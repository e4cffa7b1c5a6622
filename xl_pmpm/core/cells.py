"""Reading typed values out of text columns, failing at the first bad cell.

Settings tables (rates), visits files and import results are read as text; these
helpers turn a column into numbers or dates and, where a cell cannot be read,
raise a PmpmInputError naming the file, the line (the table's index) and the
column, with the fix. Shared so every reader reports a bad cell the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.layout import Column
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
    """Column `col` of a text table as float64 (NaN where blank and `blank_ok`); a value
    that is not a finite number ('inf', '1e999') is an error naming its line."""
    text = frame[col].fillna("").astype(str)
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    bad = ~np.isfinite(values) & ~(blank_ok & (text == ""))
    fail_at_first(bad, text, file=file, column=col, message="'{value}' is not a number.", fix=fix)
    return values


def parse_whole_numbers(frame: pd.DataFrame, col: str, file: str, *, fix: str) -> pd.Series:
    """Column `col` of a text table as int64: every value a whole number ('2', not '2.5')."""
    values = parse_numbers(frame, col, file, fix=fix)
    fail_at_first(
        values != values.round(),
        frame[col].astype(str),
        file=file,
        column=col,
        message="'{value}' is not a whole number.",
        fix=fix,
    )
    return values.astype("int64")


def unreadable_csv(exc: Exception, what: str, file: str, fix: str) -> PmpmInputError:
    """The error for a CSV pandas could not parse: `what` ("The visits file") and the
    first line of the parser's message, which names the line."""
    return PmpmInputError(
        f"{what} cannot be read as CSV ({str(exc).splitlines()[0]}).", file=file, fix=fix
    )


# A year's code in a strptime format (not a literal "%%Y").
_YEAR_CODE = re.compile(r"(?<!%)(?:%%)*%[YyG]")


def check_date_formats(formats: Iterable[str], source: str, key: str) -> tuple[str, ...]:
    """`formats` if each is a strptime format with a year; else a PmpmInputError naming
    `key` (a mapping's date_formats typed by hand: '%,m', a stray '%', an empty one, one
    without a year, whose dates no billing month could hold: 1900's)."""
    out = tuple(formats)
    for fmt in out:
        problem = "it is empty" if not fmt.strip() else ""
        if not problem and not _YEAR_CODE.search(fmt):
            problem = "it has no year: %Y or %y"
        try:
            if not problem:
                datetime.strptime("", fmt)
        except ValueError as exc:
            said = str(exc)
            if "does not match format" not in said and "unconverted data" not in said:
                problem = said
        except re.error:  # strptime's pattern names each code once: '%Y%m/%d/%Y'
            problem = "a code appears twice in it"
        if problem:
            raise PmpmInputError(
                f"{key} '{fmt}' is not a date format ({problem}).",
                file=source,
                fix="Write strftime codes, e.g. %Y-%m-%d or %m/%d/%Y.",
            )
    return out


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


# --- a spreadsheet cell's value as the extract's text ----------------------------------

EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of Excel's serial dates (1900 system)


def cell_text(value: object, column: Column | None = None) -> str:
    """A cell's value as the extract would have held it: the one rule for every shell.

    Whatever read the cell (the workbook file reader, the xlwings front end, a cell
    function), the same value gives the same text, so the same workbook gives the same
    import file whichever button or command exported it. Numbers keep the column's
    decimals (105.1 in a 2-decimal column is "105.10"), whole numbers lose ".0",
    datetimes take the column's export format.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        fmt = column.export_format if column is not None and column.export_format else None
        return value.strftime(fmt or "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, int | float):  # whole numbers may arrive as int (Office.js)
        if isinstance(value, float) and math.isnan(value):
            return ""
        decimals = (column.decimals or 0) if column is not None else 0
        if isinstance(value, int) and not decimals:
            return str(value)
        if decimals and round(value, decimals) == value:
            return f"{value:.{decimals}f}"
        if float(value).is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    return str(value)


def excel_date(value: object) -> date | None:
    """The day a cell holds: a date, an Excel serial number, or YYYY-MM-DD / YYYY-MM text.

    None when the cell is blank or holds no such day (the caller says what is wrong).
    """
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        if isinstance(value, int | float):
            return EXCEL_EPOCH + timedelta(days=int(value))
        text = str(value).strip()
        if len(text) in (6, 7) and text[4] == "-":
            text += "-01"
        return datetime.strptime(text, "%Y-%m-%d").date()
    except (ValueError, OverflowError, IndexError):
        return None
