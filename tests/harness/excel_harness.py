"""Run Excel-facing code under pytest without Excel, through xlwings' remote engine.

The remote engine builds a real ``xw.Book`` from the JSON payload that the Office.js
add-in client sends, and records every change as a JSON action (``book.json()``). This
module adds what xlwings does not have:

* :func:`make_payload` builds a payload shaped like the Office.js client's.
* :func:`open_book` turns a payload into a Book (one open remote book at a time).
* :func:`replay` applies recorded actions to a copy of a payload, the way Excel would,
  so a test can reopen the result and read the final state (``run -> replay -> open``).
* :func:`count_range_calls` counts the Range objects that code under test obtains.
* :func:`sheet_frame` / :func:`sheet_values` / :func:`format_at` read a payload back.

Replayed payloads carry private top-level keys, all ignored by :func:`open_book`:

``_formats``
    ``{sheet name: [FormatRecord(func, address, args), ...]}``: a log, oldest first, of
    everything that has no place in ``values`` (fill colours, fonts, number formats,
    autofit, widths, borders, merges, hyperlinks, notes, freeze panes, formulas, ...).
    ``address`` is an A1 string (several areas are comma-joined) or ``None`` for
    sheet-level entries. Addresses follow later row/column deletes and inserts, as
    Excel's formats follow their cells. ``setRangeColors`` is stored as one
    ``setRangeColor`` record per horizontal run of equal colour.
``_alerts``
    ``[{"prompt", "title", "buttons", "mode", "callback"}, ...]``.
``_events``
    Book-level actions with no visible state: save, calculate, setScreenUpdating,
    runMacro.
``_selections``
    ``{sheet name: address}``, so activating a sheet restores its selection.

Only the test path may use this module: the remote engine is licensed here under the
PolyForm Noncommercial licence (see ``tests/conftest.py``).
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import math
import numbers
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xlwings as xw

if not xw.__pro__:  # pragma: no cover - depends on import order
    raise ImportError(
        "xlwings' remote engine is unavailable: set XLWINGS_LICENSE_KEY before the first "
        "'import xlwings' (tests/conftest.py does this)."
    )

from xlwings import utils as xw_utils  # noqa: E402
from xlwings.constants import MAX_COLUMNS, MAX_ROWS  # noqa: E402
from xlwings.pro import _xlremote  # noqa: E402

__all__ = [
    "ENGINE_ACTIONS",
    "HANDLED_ACTIONS",
    "UNSUPPORTED_ACTIONS",
    "ExcelHarness",
    "FormatRecord",
    "RangeCallCounter",
    "ReplayError",
    "ScriptRun",
    "UnsupportedActionError",
    "close_books",
    "count_range_calls",
    "format_at",
    "formats",
    "make_payload",
    "open_book",
    "record_status_bar",
    "replay",
    "sheet_frame",
    "sheet_values",
    "to_excel_datetime",
    "workbook_payload",
]

Rect = tuple[int, int, int, int]  # 0-based (row, column, row_count, column_count)
Grid = list[list[Any]]

# What the Office.js client sends for a new, empty sheet (its values are a 1x1 window).
_EMPTY_VALUES: Grid = [[""]]
_ISO_RE = re.compile(_xlremote.datetime_pattern)
_ERRORS = frozenset(["#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#DATA!"])


class ReplayError(AssertionError):
    """An action cannot be applied the way Excel would apply it."""


class UnsupportedActionError(ReplayError):
    """The action is unknown to, or deliberately not modelled by, :func:`replay`."""

    def __init__(self, func: str, detail: str = "") -> None:
        self.func = func
        message = f"replay() has no handler for action {func!r}"
        super().__init__(f"{message}: {detail}" if detail else message)


class FormatRecord(NamedTuple):
    """One entry of the ``_formats`` log."""

    func: str
    address: str | None
    args: list[Any]


# ---------------------------------------------------------------------------------------
# Values: Python -> what the Office.js client sends
# ---------------------------------------------------------------------------------------


def to_excel_datetime(value: dt.datetime | dt.date | dt.time) -> str:
    """Return the ISO string the Office.js client sends for a date cell (``...Z``)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=None)
    elif isinstance(value, dt.date):
        value = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, dt.time):
        value = dt.datetime.combine(dt.date(1899, 12, 30), value.replace(tzinfo=None))
    else:
        raise TypeError(f"not a date/time: {value!r}")
    # JavaScript's Date.toISOString(): millisecond precision and a literal "Z". Without
    # the "Z" the engine cuts off the last digit and fails to parse the value.
    return value.isoformat(timespec="milliseconds") + "Z"


def _number(value: float) -> int | float:
    """Mimic a JavaScript number after JSON: integral values come back as ``int``.

    JavaScript prints the shortest round-trip digits (``12345678901234600000``), which
    is what Python then parses, not the float's exact binary value.
    """
    if value.is_integer() and abs(value) < 1e21:
        return int(value) if abs(value) < 2**53 else int(decimal.Decimal(repr(value)))
    return value


def _payload_value(value: Any) -> Any:
    """Convert a Python cell value to its payload (JSON) form."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return "" if math.isnan(value) else _number(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return to_excel_datetime(value)
    if hasattr(value, "item"):  # numpy scalars
        return _payload_value(value.item())
    raise TypeError(f"unsupported cell value {value!r} ({type(value).__name__})")


def _rectangle(values: Iterable[Sequence[Any]]) -> Grid:
    rows = [[_payload_value(v) for v in row] for row in values]
    return _trim(rows)


def _trim(rows: Grid) -> Grid:
    """Pad to a rectangle, drop trailing empty rows/columns; empty -> ``[[""]]``."""
    while rows and all(v == "" for v in rows[-1]):
        rows.pop()
    width = 0
    for row in rows:
        for ix in range(len(row) - 1, width - 1, -1):
            if row[ix] != "":
                width = ix + 1
                break
    if not rows or width == 0:
        return [list(row) for row in _EMPTY_VALUES]
    for ix, row in enumerate(rows):
        if len(row) > width:
            del row[width:]
        elif len(row) < width:
            rows[ix] = row + [""] * (width - len(row))
    return rows


def _used_range(rows: Grid) -> Rect | None:
    """Bounding box of the non-empty cells (Excel's values-only used range)."""
    top = left = None
    bottom = right = -1
    for r, row in enumerate(rows):
        cols = [c for c, v in enumerate(row) if v != ""]
        if cols:
            top = r if top is None else top
            bottom = r
            left = cols[0] if left is None else min(left, cols[0])
            right = max(right, cols[-1])
    if top is None or left is None:
        return None
    return top, left, bottom - top + 1, right - left + 1


def _set_used_range(sheet: dict[str, Any]) -> None:
    rect = _used_range(sheet["values"])
    sheet["used_range_address"] = None if rect is None else _address(rect)
    sheet["used_range_row_count"] = 0 if rect is None else rect[2]
    sheet["used_range_column_count"] = 0 if rect is None else rect[3]


# ---------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------


def _cell(row: int, col: int) -> str:
    return f"{xw_utils.col_name(col + 1)}{row + 1}"


def _address(rect: Rect) -> str:
    """0-based rect -> A1 address without ``$`` (``A1`` or ``A1:C3``)."""
    r, c, nr, nc = rect
    first = _cell(r, c)
    return first if nr == 1 and nc == 1 else f"{first}:{_cell(r + nr - 1, c + nc - 1)}"


def _parse(address: str) -> Rect:
    """A1 address (``$`` and a sheet prefix allowed, ``A:C`` / ``2:5`` too) -> rect."""
    ref = address.rsplit("!", 1)[-1].replace("$", "")
    first, last = xw_utils.a1_to_tuples(ref)
    if first is None:
        raise ReplayError(f"not an A1 address: {address!r}")
    last = last or first
    return first[0] - 1, first[1] - 1, last[0] - first[0] + 1, last[1] - first[1] + 1


def _areas(address: str | None) -> list[Rect]:
    return [] if not address else [_parse(part) for part in address.split(",")]


def _join(areas: Iterable[Rect]) -> str | None:
    parts = [_address(a) for a in areas]
    return ",".join(parts) if parts else None


def _covers(rect: Rect, row: int, col: int) -> bool:
    r, c, nr, nc = rect
    return r <= row < r + nr and c <= col < c + nc


def _intersects(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _sheet_prefix(name: str) -> str:
    return _xlremote._sheet_name_prefix(name)


def _shift_area(area: Rect, op: str, shift: str, rect: Rect) -> list[Rect]:
    """Where the cells of ``area`` end up after deleting/inserting ``rect`` with ``shift``.

    Returns 0..3 areas: the part of ``area`` in the shifted band moves (or shrinks or
    grows), the parts beside the band stay put.
    """
    vertical = shift in ("up", "down")
    if not vertical:  # work on the transposed problem
        area = (area[1], area[0], area[3], area[2])
        rect = (rect[1], rect[0], rect[3], rect[2])
    r, c, nr, nc = area
    br, bc, bnr, bnc = rect
    pieces: list[Rect] = []
    lo, hi = max(c, bc), min(c + nc, bc + bnc)
    if lo >= hi:  # no overlap with the shifted band
        pieces.append(area)
    else:
        if c < lo:
            pieces.append((r, c, nr, lo - c))
        if hi < c + nc:
            pieces.append((r, hi, nr, c + nc - hi))
        if op == "delete":
            overlap = max(0, min(r + nr, br + bnr) - max(r, br))
            new_r = r if r < br else (r - bnr if r >= br + bnr else br)
            count = nr - overlap
        else:  # insert: shift from br on; an area straddling br grows
            new_r, count = r, nr
            if r >= br:
                new_r = r + bnr
            elif r + nr > br:
                count = nr + bnr
        limit = MAX_ROWS if vertical else MAX_COLUMNS  # cells pushed off the sheet
        if count > 0 and new_r < limit:
            pieces.append((new_r, lo, min(count, limit - new_r), hi - lo))
    if not vertical:
        pieces = [(p[1], p[0], p[3], p[2]) for p in pieces]
    return pieces


# ---------------------------------------------------------------------------------------
# Excel's coercion of values written through Office.js (like typing into a cell)
# ---------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(
    r"^(?P<sign>[+-]?)(?P<cur>\$?)(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)"
    r"(?P<exp>[eE][+-]?\d+)?(?P<pct>%?)$"
)
_YMD_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$"
)
_MDY_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _fifteen_digits(value: float, digits: int) -> int | float:
    """Excel keeps 15 significant digits of numbers typed as text."""
    if digits > 15:
        value = float(f"{value:.15g}")
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return _number(value)


def _parse_date(text: str) -> str | None:
    for regex, order in ((_YMD_RE, (0, 1, 2)), (_MDY_RE, (2, 0, 1))):
        m = regex.match(text)
        if not m:
            continue
        g = m.groups()
        year, month, day = (int(g[i]) for i in order)
        hour, minute, second = (int(x) if x else 0 for x in g[3:6])
        micro = int((g[6] or "0").ljust(6, "0")) if len(g) > 6 else 0
        try:
            value = dt.datetime(year, month, day, hour, minute, second, micro)
        except ValueError:
            return None
        return to_excel_datetime(value) if year >= 1900 else None
    return None


def _coerce(value: Any, text_format: bool) -> tuple[Any, bool]:
    """Return (stored value, is_formula) for a value written with ``range.values``."""
    kind = type(value)
    if kind is str:
        return _coerce_text(value, text_format)
    if kind is int or kind is bool:
        return value, False
    if value is None:
        return "", False
    if isinstance(value, numbers.Integral):
        return int(value), False
    if isinstance(value, numbers.Real):  # a number stays the exact double it was
        value = float(value)
        return ("" if math.isnan(value) or math.isinf(value) else _number(value)), False
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return to_excel_datetime(value), False
    if isinstance(value, str):
        return _coerce_text(str(value), text_format)
    return value, False


def _coerce_text(value: str, text_format: bool) -> tuple[Any, bool]:
    if text_format or not value:
        return value, False
    first = value[0]
    if first == "'":
        return value[1:], False
    if first == "=" and len(value) > 1:
        return value, True
    if first.isdigit() or first in "+-$.":
        m = _NUMBER_RE.match(value)
        if m and any(ch.isdigit() for ch in m["num"]):
            mantissa = m["num"].replace(",", "")
            number = float(mantissa + (m["exp"] or ""))
            if m["pct"]:
                number /= 100
            digits = len(mantissa.replace(".", "").lstrip("0"))
            return _fifteen_digits(-number if m["sign"] == "-" else number, digits), False
        date = _parse_date(value)
        if date is not None:
            return date, False
    elif len(value) in (4, 5) and value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE", False
    return value, False


# ---------------------------------------------------------------------------------------
# Payload construction and Books
# ---------------------------------------------------------------------------------------


def _new_sheet(name: str, values: Grid | None = None) -> dict[str, Any]:
    sheet: dict[str, Any] = {
        "name": name,
        "visibility": "Visible",
        "print_area": None,
        "notes": [],
        "values": values if values is not None else [list(r) for r in _EMPTY_VALUES],
        "pictures": [],
        "shapes": [],
        "charts": [],
        "tables": [],
    }
    _set_used_range(sheet)
    return sheet


def _name_entry(entry: Mapping[str, Any], sheets: list[dict[str, Any]]) -> dict[str, Any]:
    """Complete a defined-name entry (``name`` + ``refers_to`` and optional ``scope``)."""
    sheet_names = [s["name"] for s in sheets]
    result = dict(entry)
    scope = result.pop("scope", None)
    refers_to = result.get("refers_to")
    result.setdefault("book_scope", scope is None)
    result.setdefault("scope_sheet_name", scope)
    result.setdefault("scope_sheet_index", None if scope is None else sheet_names.index(scope))
    if refers_to is not None and ("sheet_index" not in result or "address" not in result):
        result.update(_refers_to_metadata(refers_to, sheet_names))
    result.setdefault("sheet_index", None)
    result.setdefault("address", None)
    return result


def _refers_to_metadata(refers_to: str, sheet_names: list[str]) -> dict[str, Any]:
    m = re.fullmatch(
        r"=(?:'((?:[^']|'')+)'|([^'!]+))!(\$?[A-Za-z]+\$?\d+(?::\$?[A-Za-z]+\$?\d+)?)", refers_to
    )
    if m is None:
        return {"sheet_index": None, "address": None}
    sheet = (m[1] or m[2]).replace("''", "'")
    folded = [n.casefold() for n in sheet_names]
    if sheet.casefold() not in folded:
        return {"sheet_index": None, "address": None}
    return {
        "sheet_index": folded.index(sheet.casefold()),
        "address": _address(_parse(m[3])),
    }


def _table_entry(
    sheet: dict[str, Any],
    name: str,
    address: str,
    *,
    show_headers: bool = True,
    show_totals: bool = False,
    table_style: str = "TableStyleMedium2",
    **flags: Any,
) -> dict[str, Any]:
    """A table entry shaped like the Office.js client's; headers come from the values."""
    entry: dict[str, Any] = {
        "name": name,
        "show_headers": show_headers,
        "show_totals": show_totals,
        "table_style": table_style,
        "show_autofilter": flags.pop("show_autofilter", True),
        "show_table_style_first_column": flags.pop("show_table_style_first_column", False),
        "show_table_style_last_column": flags.pop("show_table_style_last_column", False),
        "show_table_style_row_stripes": flags.pop("show_table_style_row_stripes", True),
        "show_table_style_column_stripes": flags.pop("show_table_style_column_stripes", False),
    }
    if flags:
        raise TypeError(f"unknown table fields: {sorted(flags)}")
    _set_table_range(sheet, entry, _parse(address))
    return entry


def _set_table_range(sheet: dict[str, Any], table: dict[str, Any], rect: Rect) -> None:
    """Update a table's addresses (and column names) for its full range ``rect``."""
    r, c, nr, nc = rect
    head = int(table["show_headers"])
    tail = int(table["show_totals"])
    table["range_address"] = _address(rect)
    table["row_count"] = nr
    table["column_count"] = nc
    table["header_row_range_address"] = _address((r, c, 1, nc)) if head else None
    table["total_row_range_address"] = _address((r + nr - 1, c, 1, nc)) if tail else None
    body_rows = max(nr - head - tail, 1)
    table["data_body_range_address"] = _address((r + head, c, body_rows, nc))
    if head:
        # Excel keeps table headers as unique, non-empty text ("Column2", "Rate2", ...).
        grid = sheet["values"]
        _ensure(grid, r + 1, c + nc)
        table["columns"] = _unique_headers(grid[r][c : c + nc])
        grid[r][c : c + nc] = table["columns"]
    elif "columns" in table:
        old = table["columns"]
        table["columns"] = (old + [f"Column{i + 1}" for i in range(len(old), nc)])[:nc]
    else:
        table["columns"] = [f"Column{i + 1}" for i in range(nc)]


def _unique_headers(headers: Sequence[Any]) -> list[str]:
    """Excel's table header rules: text, ``ColumnN`` when empty, numbered duplicates."""
    result: list[str] = []
    seen: set[str] = set()
    for ix, value in enumerate(headers):
        text = str(_display(value)) if value != "" else f"Column{ix + 1}"
        candidate, n = text, 2
        while candidate.casefold() in seen:
            candidate, n = f"{text}{n}", n + 1
        seen.add(candidate.casefold())
        result.append(candidate)
    return result


def _display(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return value


def make_payload(
    sheets: Mapping[str, Sequence[Sequence[Any]]],
    active: str | None = None,
    selection: str = "A1",
    book_name: str = "PMPM_Tier_Report.xlsm",
    names: Sequence[Mapping[str, Any]] | None = None,
    tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Build a payload like the Office.js client's.

    ``sheets`` maps sheet names (in order) to rows starting at A1. Rows are padded to a
    rectangle with ``""``; ``None``/NaN become ``""``; dates/datetimes/times become
    ``YYYY-MM-DDTHH:MM:SS.mmmZ``; integral floats become ``int`` (as after JSON).
    ``names``: dicts with ``name`` and ``refers_to`` (e.g. ``"=Report!$A$1:$C$9"``),
    optionally ``scope`` (a sheet name for a sheet-scoped name).
    ``tables``: ``{sheet: [{"name": ..., "range_address": "A1:C9", ...flags}]}``.
    """
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    sheet_list = [_new_sheet(name, _rectangle(values)) for name, values in sheets.items()]
    order = list(sheets)
    active = order[0] if active is None else active
    for sheet_name, entries in (tables or {}).items():
        sheet = sheet_list[order.index(sheet_name)]
        for spec in entries:
            spec = dict(spec)
            sheet["tables"].append(
                _table_entry(sheet, spec.pop("name"), spec.pop("range_address"), **spec)
            )
            sheet["values"] = _trim(sheet["values"])
            _set_used_range(sheet)
    return {
        "client": "Office.js",
        "version": xw.__version__,
        "book": {
            "name": book_name,
            "active_sheet_index": order.index(active),
            "selection": selection,
        },
        "names": [_name_entry(n, sheet_list) for n in names or []],
        "sheets": sheet_list,
    }


def workbook_payload(
    source: str | Path | bytes,
    *,
    formula_values: Mapping[str, Any] | None = None,
    active: str | None = None,
    selection: str = "A1",
) -> dict[str, Any]:
    """The payload the Office.js client would send for an .xlsx/.xlsm file.

    Read with openpyxl: every sheet's values from A1 (hidden sheets ``"Hidden"``), its
    Excel Tables (name, range, style, header/total rows, autofilter, stripes) and the
    book's defined names. openpyxl holds no calculated results, so a formula cell gets
    ``formula_values[header]`` (the header is the text in row 1 of its column, or of
    its table's header row) and ``""`` otherwise: give there what Excel shows, e.g.
    ``{"At risk": False, "Dollar effect": 0}`` for the blank row of an empty template.
    """
    import io

    import openpyxl

    formula_values = formula_values or {}
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    wb = openpyxl.load_workbook(io.BytesIO(data), keep_vba=False)
    sheets: dict[str, Grid] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    column_formats: dict[str, list[FormatRecord]] = {}
    hidden: list[str] = []
    for ws in wb.worksheets:
        specs, header_of = [], {}
        for table in ws.tables.values():
            r, c, nr, nc = _parse(table.ref)
            header_row = [ws.cell(r + 1, c + 1 + i).value for i in range(nc)]
            for i, h in enumerate(header_row):
                for row in range(r + 1, r + nr):
                    header_of[(row, c + i)] = h
            style = table.tableStyleInfo
            specs.append(
                {
                    "name": table.name,
                    "range_address": table.ref,
                    "show_headers": table.headerRowCount != 0,
                    "show_totals": bool(table.totalsRowCount),
                    "table_style": style.name if style is not None else "TableStyleMedium2",
                    "show_autofilter": table.autoFilter is not None,
                    "show_table_style_row_stripes": bool(style and style.showRowStripes),
                    "show_table_style_column_stripes": bool(style and style.showColumnStripes),
                    "show_table_style_first_column": bool(style and style.showFirstColumn),
                    "show_table_style_last_column": bool(style and style.showLastColumn),
                }
            )
        grid: Grid = []
        for r, row in enumerate(ws.iter_rows(values_only=True)):
            out = []
            for c, value in enumerate(row):
                if isinstance(value, str) and value.startswith("=") and len(value) > 1:
                    header = header_of.get((r, c), ws.cell(1, c + 1).value if r else None)
                    value = formula_values.get(header, "")
                out.append(value)
            grid.append(out)
        sheets[ws.title] = grid or [[]]
        # Column number formats (text "@" above all): Excel keeps what a write puts there.
        for letter, dimension in sorted(ws.column_dimensions.items()):
            fmt = dimension.number_format
            if fmt and fmt != "General":
                column_formats.setdefault(ws.title, []).append(
                    FormatRecord("setNumberFormat", f"{letter}:{letter}", [fmt])
                )
        if specs:
            tables[ws.title] = specs
        if ws.sheet_state != "visible":
            hidden.append(ws.title)
    names = [
        {"name": name, "refers_to": "=" + str(defined.attr_text)}
        for name, defined in wb.defined_names.items()
    ]
    payload = make_payload(sheets, active=active, selection=selection, names=names, tables=tables)
    for sheet in payload["sheets"]:
        if sheet["name"] in hidden:
            sheet["visibility"] = "Hidden"
    if column_formats:
        payload.setdefault("_formats", {}).update(column_formats)
    return payload


def _copy_payload(payload: Mapping[str, Any], private: bool = True) -> dict[str, Any]:
    """Deep copy, but copy cell values row by row (much faster for big sheets)."""
    result: dict[str, Any] = {}
    for key, value in payload.items():
        if key.startswith("_") and not private:
            continue
        if key == "sheets":
            sheets = []
            for sheet in value:
                new = {k: copy.deepcopy(v) for k, v in sheet.items() if k != "values"}
                new["values"] = [list(row) for row in sheet["values"]]
                sheets.append(new)
            result[key] = sheets
        elif key == "_formats":  # records are immutable (NamedTuples, args never changed)
            result[key] = {name: list(records) for name, records in value.items()}
        else:
            result[key] = copy.deepcopy(value)
    return result


def close_books() -> None:
    """Close every open remote-engine book and drop the engine's range cache."""
    for app in xw.engines["remote"].apps:
        for book in list(app.books):
            book.close()
    # get_range_api is an unbounded lru_cache keyed by whole-sheet tuples: clear it so
    # big test sheets don't stay in memory for the rest of the session.
    _xlremote.get_range_api.cache_clear()


def open_book(payload: Mapping[str, Any]) -> xw.Book:
    """Close all remote books, then open ``payload`` (private keys stripped, copied)."""
    close_books()
    return xw.Book(json=_copy_payload(payload, private=False))


# ---------------------------------------------------------------------------------------
# Range-call counting
# ---------------------------------------------------------------------------------------


@dataclass
class RangeCallCounter:
    """Counts of remote-engine range work while :func:`count_range_calls` is active.

    ``count``: every ``xlwings.pro._xlremote.Range`` constructed, i.e. every Range the
    code obtains, whoever builds it: ``sheet["A1"]``, ``sheet.range(...)``,
    ``sheet.cells``, ``sheet.used_range``, ``rng[...]``/``rng(i, j)``, ``rows``/
    ``columns`` items, ``table.range``, and the ranges that ``expand()`` (~11),
    ``resize()``/``offset()`` (4 each) and ``end()`` build internally. ``.options()``
    and ``.value`` do not create one, so one whole-range read counts 1.
    ``views``: every evaluation of the engine's ``Range.api``, each of which rebuilds a
    tuple of the *whole sheet* (the real per-access cost): one per read, several per
    ``expand``/``resize``/write of a DataFrame.
    ``calls``: ``(sheet name, arg1, arg2)`` of each constructed Range, for messages.
    """

    count: int = 0
    views: int = 0
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)
    # Every other call that crosses to Excel, by kind: a sheet looked up, named or
    # yielded by iterating the sheets, a sheet added, copied, cleared, deleted, hidden or
    # activated, its position read, a table looked up, named, added or resized, the
    # book's names.
    crossings: dict[str, int] = field(default_factory=dict)
    # Every counted call in order: "Range <sheet> <address>" or the crossing's kind.
    log: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every call that crosses to Excel: ranges and all the others."""
        return self.count + sum(self.crossings.values())

    def breakdown(self) -> dict[str, int]:
        """{kind: calls}: the crossings by kind, and the ranges by sheet ("Range <sheet>")."""
        out = dict(self.crossings)
        for sheet, _, _ in self.calls:
            key = f"Range {sheet}"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


_ACTIVE_COUNTERS: list[RangeCallCounter] = []
# How deep inside a counted call the engine is: a call the engine makes inside one (the
# old name a rename reads, the name a copy reads to name the copy) is part of it, one
# crossing, as in desktop Excel, where each of those is a single COM call.
_DEPTH = [0]
# What else crosses to Excel (besides ranges), counted by `count_range_calls`.
_CROSSING_PROPERTIES = [
    (_xlremote.Sheets, "active"),
    (_xlremote.Sheet, "name"),
    (_xlremote.Sheet, "visible"),
    (_xlremote.Sheet, "tables"),
    (_xlremote.Table, "name"),
    (_xlremote.Book, "names"),
]
_CROSSING_METHODS = [
    (_xlremote.Sheets, "__call__"),
    (_xlremote.Sheets, "add"),
    (_xlremote.Sheets, "__len__"),
    (_xlremote.Sheet, "copy"),
    (_xlremote.Sheet, "move"),
    (_xlremote.Sheet, "clear_contents"),
    (_xlremote.Sheet, "delete"),
    (_xlremote.Sheet, "activate"),
    (_xlremote.Table, "resize"),
    (_xlremote.Tables, "add"),
    (_xlremote.Tables, "__call__"),
    (_xlremote.Tables, "__len__"),
]


def _sheets_add_extra(sheets: Any, *args: Any, **kwargs: Any) -> list[str]:
    """What xlwings' COM ``Sheets.add`` does besides the Add (``_xlwindows.Sheets.add``).

    With `after`, it reads the count and `after`'s index; after the last sheet it adds
    before it, then moves the last sheet (`after`) in front of the new one and activates
    the new one, each sheet looked up by its index; else it adds before the sheet at
    `after`'s index + 1, read again. A `name` is set after the Add.
    """
    before, after, name = (list(args) + [None, None, None])[:3]
    before, after = kwargs.get("before", before), kwargs.get("after", after)
    named = ["Sheet.name"] if kwargs.get("name", name) is not None else []
    if before is not None or after is None:
        return named
    if after.index >= len(sheets.api):  # after the last sheet
        return ["Sheets.__len__", "Sheet.index", *named] + [
            "Sheets.__len__", "Sheets.__call__", "Sheets.__len__", "Sheets.__call__",
            "Sheet.move", "Sheets.__len__", "Sheets.__call__", "Sheet.activate",
        ]  # fmt: skip
    return ["Sheets.__len__", "Sheet.index", "Sheet.index", "Sheets.__call__", *named]


# Calls xlwings' COM implementation makes besides the one counted (read in
# ``xlwings/_xlwindows.py``): each is a call of its own over COM.
_EXTRA_CROSSINGS: dict[str, Callable[..., list[str]]] = {
    "Sheets.add": _sheets_add_extra,
    # Sheet.delete: DisplayAlerts read, set False, set back around the Delete.
    "Sheet.delete": lambda *a, **k: ["App.display_alerts"] * 3,
    # Tables.add with a name: ListObjects.Add, then the new table's Name set.
    "Tables.add": lambda *a, **k: ["Table.name"] if k.get("name") is not None else [],
}
# A sheet's position, read through the public API (the engine reads it inside every call
# it sends, which is not a call of its own: only the front end's reads count).
_PUBLIC_PROPERTIES = [(xw.main.Sheet, "index")]
_ORIGINALS: dict[str, Any] = {}
_INHERITED: set[str] = set()  # counted methods the class inherits: deleted, not set back


def _install_counting() -> None:
    init = _xlremote.Range.__init__
    api = _xlremote.Range.api
    _ORIGINALS.update(init=init, api=api)

    def counting_init(self: Any, sheet: Any, arg1: Any, arg2: Any = None) -> None:
        init(self, sheet, arg1, arg2)
        if _DEPTH[0]:
            return
        call = (self.sheet.api["name"], arg1, arg2)  # not a counted name read
        for counter in _ACTIVE_COUNTERS:
            counter.count += 1
            counter.calls.append(call)
            counter.log.append(f"Range {call[0]} {arg1!r}" + ("" if arg2 is None else f" {arg2!r}"))

    def counting_api(self: Any) -> Any:
        for counter in _ACTIVE_COUNTERS:
            counter.views += 1
        return api.fget(self)

    _xlremote.Range.__init__ = counting_init  # type: ignore[method-assign]
    _xlremote.Range.api = property(counting_api)  # type: ignore[method-assign]
    for cls, attr in _CROSSING_PROPERTIES:
        _ORIGINALS[f"{cls.__name__}.{attr}"] = original = vars(cls)[attr]
        setattr(cls, attr, _counted_property(f"{cls.__name__}.{attr}", original))
    for cls, attr in _CROSSING_METHODS:
        if attr not in vars(cls):  # inherited (the tables' lookup and count)
            _INHERITED.add(f"{cls.__name__}.{attr}")
        _ORIGINALS[f"{cls.__name__}.{attr}"] = original = getattr(cls, attr)
        setattr(cls, attr, _counted_method(f"{cls.__name__}.{attr}", original))
    for cls, attr in _PUBLIC_PROPERTIES:
        _ORIGINALS[f"public {cls.__name__}.{attr}"] = original = vars(cls)[attr]
        setattr(cls, attr, _counted_property(f"{cls.__name__}.{attr}", original))
    _ORIGINALS["Sheets.__iter__"] = iterate = vars(_xlremote.Sheets)["__iter__"]

    def counting_iter(self: Any) -> Any:
        for sheet in iterate(self):  # one call per sheet, as COM's enumeration makes
            _cross("Sheets.__iter__")
            yield sheet

    _xlremote.Sheets.__iter__ = counting_iter  # type: ignore[method-assign]

    def counting_tables(self: Any) -> Any:
        for table in iterate_tables(self):  # one call per table, as for the sheets
            _cross("Tables.__iter__")
            yield table

    iterate_tables = _xlremote.Collection.__iter__
    _INHERITED.add("Tables.__iter__")
    _ORIGINALS["Tables.__iter__"] = iterate_tables
    _xlremote.Tables.__iter__ = counting_tables  # type: ignore[method-assign]


def _cross(kind: str) -> None:
    if _DEPTH[0]:
        return
    for counter in _ACTIVE_COUNTERS:
        counter.crossings[kind] = counter.crossings.get(kind, 0) + 1
        counter.log.append(kind)


@contextmanager
def _inside() -> Iterator[None]:
    _DEPTH[0] += 1
    try:
        yield
    finally:
        _DEPTH[0] -= 1


def _counted_property(kind: str, original: property) -> property:
    def get(self: Any) -> Any:
        _cross(kind)
        with _inside():
            return original.fget(self)

    def put(self: Any, value: Any) -> None:
        _cross(kind)
        with _inside():
            original.fset(self, value)

    return property(get, put if original.fset else None)


def _counted_method(kind: str, original: Any) -> Any:
    extra = _EXTRA_CROSSINGS.get(kind)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        _cross(kind)
        with _inside():
            more = extra(self, *args, **kwargs) if extra is not None else []
            result = original(self, *args, **kwargs)
        for other in more:
            _cross(other)
        return result

    return method


def _uninstall_counting() -> None:
    _xlremote.Range.__init__ = _ORIGINALS.pop("init")  # type: ignore[method-assign]
    _xlremote.Range.api = _ORIGINALS.pop("api")  # type: ignore[method-assign]
    for name, original in list(_ORIGINALS.items()):
        public = name.startswith("public ")
        cls_name, attr = name.removeprefix("public ").split(".")
        cls = getattr(xw.main if public else _xlremote, cls_name)
        if name in _INHERITED:  # removed again: the class inherits it
            delattr(cls, attr)
        else:
            setattr(cls, attr, original)
        del _ORIGINALS[name]


@contextmanager
def count_range_calls() -> Iterator[RangeCallCounter]:
    """Count Range objects (and whole-sheet view rebuilds) inside the block; nestable."""
    counter = RangeCallCounter()
    if not _ACTIVE_COUNTERS:
        _install_counting()
    _ACTIVE_COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _ACTIVE_COUNTERS.remove(counter)
        if not _ACTIVE_COUNTERS:
            _uninstall_counting()


# ---------------------------------------------------------------------------------------
# Reading payloads back
# ---------------------------------------------------------------------------------------


@contextmanager
def record_status_bar() -> Iterator[list[str | bool]]:
    """Record what code writes to ``app.status_bar``, in order (False = handed back to
    Excel, as ``Application.StatusBar = False`` does).

    The remote engine has no status bar (its setter raises NotImplementedError, which
    the front end's guarded helper swallows); here the setter appends to the list.
    """
    shown: list[str | bool] = []
    original = _xlremote.App.status_bar

    def setter(self: Any, value: str | bool) -> None:
        shown.append(value)

    _xlremote.App.status_bar = property(lambda self: shown[-1] if shown else False, setter)
    try:
        yield shown
    finally:
        _xlremote.App.status_bar = original


def _sheet(payload: Mapping[str, Any], name: str) -> dict[str, Any]:
    for sheet in payload["sheets"]:
        if sheet["name"].casefold() == name.casefold():
            return sheet
    raise KeyError(f"no sheet {name!r}; sheets: {[s['name'] for s in payload['sheets']]}")


def _python_value(value: Any) -> Any:
    if value == "":
        return None
    if isinstance(value, str) and _ISO_RE.match(value) and value.endswith("Z"):
        return dt.datetime.fromisoformat(value[:-1])
    return value


def sheet_values(
    payload: Mapping[str, Any], name: str, address: str | None = None, raw: bool = False
) -> Grid:
    """The sheet's values (or an A1 block of them) as rows.

    By default, like the engine reads them: ``""`` -> ``None``, ISO dates -> datetime.
    ``raw=True`` returns the payload form.
    """
    grid = _sheet(payload, name)["values"]
    if address is not None:
        r, c, nr, nc = _parse(address)
        clipped = _clip(grid, (r, c, nr, nc))
        nr = clipped[2] if nr >= MAX_ROWS else nr  # whole columns: up to the data
        nc = clipped[3] if nc >= MAX_COLUMNS else nc  # whole rows: likewise
        grid = _read_block(grid, (r, c, nr, nc))
    if raw:
        return [list(row) for row in grid]
    return [[_python_value(v) for v in row] for row in grid]


def sheet_frame(
    payload: Mapping[str, Any], name: str, address: str | None = None, header: bool = True
) -> pd.DataFrame:
    """The sheet (or an A1 block) as a DataFrame; by default the first row is the header.

    Cells convert as in :func:`sheet_values` (empty -> None, dates -> datetime).
    Empty header cells become ``Unnamed: <i>``.
    """
    rows = sheet_values(payload, name, address)
    if not header:
        return pd.DataFrame(rows)
    if rows == [[None]]:
        return pd.DataFrame()
    columns = [f"Unnamed: {ix}" if value is None else value for ix, value in enumerate(rows[0])]
    return pd.DataFrame(rows[1:], columns=columns)


def formats(payload: Mapping[str, Any], sheet: str, func: str | None = None) -> list[FormatRecord]:
    """The ``_formats`` log of ``sheet`` (optionally only entries of one ``func``)."""
    records = [FormatRecord(*r) for r in payload.get("_formats", {}).get(sheet, [])]
    return [r for r in records if func is None or r.func == func]


_FORMAT_RESETS = frozenset(["rangeClear", "rangeClearFormats", "sheetClear", "sheetClearFormats"])


def format_at(payload: Mapping[str, Any], sheet: str, cell: str, func: str, key: Any = None) -> Any:
    """The effective value that the latest ``func`` record gives ``cell``, else ``None``.

    ``key`` selects a sub-property: ``format_at(p, "S", "A1", "setFontProperty", "bold")``
    or ``("edge_bottom", "weight")`` for ``setBorderProperty``. A later clear of formats
    covering the cell resets it to ``None``.
    """
    row, col = _parse(cell)[:2]
    keys = None if key is None else (key if isinstance(key, tuple) else (key,))
    for record in reversed(formats(payload, sheet)):
        areas = _areas(record.address)
        covered = not areas or any(_covers(a, row, col) for a in areas)
        if not covered:
            continue
        if record.func in _FORMAT_RESETS:
            return None
        if record.func != func:
            continue
        args = list(record.args)
        if keys is not None:
            if tuple(args[: len(keys)]) != keys:
                continue
            args = args[len(keys) :]
        return args[0] if len(args) == 1 else tuple(args)
    return None


# ---------------------------------------------------------------------------------------
# Grid operations (0-based, rectangular, trimmed once at the end of a replay)
# ---------------------------------------------------------------------------------------


def _ensure(grid: Grid, nrows: int, ncols: int) -> None:
    width = len(grid[0]) if grid else 0
    if ncols > width:
        for row in grid:
            row.extend([""] * (ncols - width))
        width = ncols
    while len(grid) < nrows:
        grid.append([""] * width)


def _clip(grid: Grid, rect: Rect) -> Rect:
    """``rect`` cut to the grid's extent (for whole rows/columns)."""
    r, c, nr, nc = rect
    nrows, ncols = len(grid), len(grid[0]) if grid else 0
    return r, c, max(0, min(nr, nrows - r)), max(0, min(nc, ncols - c))


def _read_block(grid: Grid, rect: Rect) -> Grid:
    """Exactly ``rect``'s cells, ``""`` outside the grid (clip huge rects first)."""
    r, c, nr, nc = rect
    block = []
    for row in range(r, r + nr):
        src = grid[row] if row < len(grid) else []
        block.append([src[col] if col < len(src) else "" for col in range(c, c + nc)])
    return block


def _extent(src_sheet: dict[str, Any], src: Rect, dst_sheet: dict[str, Any], dst: Rect) -> Rect:
    """The part of ``src`` worth copying: cells beyond both sheets' data are blank."""
    src_rows, src_cols = len(src_sheet["values"]), len(src_sheet["values"][0])
    dst_rows, dst_cols = len(dst_sheet["values"]), len(dst_sheet["values"][0])
    nr = min(src[2], max(src_rows - src[0], dst_rows - dst[0], 1))
    nc = min(src[3], max(src_cols - src[1], dst_cols - dst[1], 1))
    return src[0], src[1], nr, nc


def _write_block(grid: Grid, r: int, c: int, block: Grid) -> None:
    if not block or not block[0]:
        return
    _ensure(grid, r + len(block), c + max(len(row) for row in block))
    for ix, values in enumerate(block):
        grid[r + ix][c : c + len(values)] = values


def _clear(grid: Grid, rect: Rect) -> None:
    r, c, nr, nc = rect
    for row in grid[r : r + nr]:
        end = min(c + nc, len(row))
        if c < end:
            row[c:end] = [""] * (end - c)


def _delete(grid: Grid, rect: Rect, shift: str) -> None:
    nrows, ncols = len(grid), len(grid[0]) if grid else 0
    r, c, nr, nc = rect
    if shift == "up":
        if r >= nrows or c >= ncols:
            return
        if c == 0 and c + nc >= ncols:
            del grid[r : r + nr]
            return
        for col in range(c, min(c + nc, ncols)):
            column = [grid[row][col] for row in range(r, nrows)]
            column = column[nr:] + [""] * min(nr, len(column))
            for ix, value in enumerate(column):
                grid[r + ix][col] = value
    else:  # left
        if r >= nrows or c >= ncols:
            return
        for row in grid[r : r + nr]:
            tail = row[c:]
            row[c:] = tail[nc:] + [""] * min(nc, len(tail))


def _insert(grid: Grid, rect: Rect, shift: str) -> None:
    nrows, ncols = len(grid), len(grid[0]) if grid else 0
    r, c, nr, nc = rect
    if shift == "down":
        if r >= nrows or c >= ncols:
            return
        if c == 0 and c + nc >= ncols:
            grid[r:r] = [[""] * ncols for _ in range(nr)]
            return
        _ensure(grid, nrows + nr, ncols)
        for col in range(c, min(c + nc, ncols)):
            column = [grid[row][col] for row in range(r, nrows)]
            for ix, value in enumerate(column):
                grid[r + nr + ix][col] = value
            for row in range(r, r + nr):
                grid[row][col] = ""
    else:  # right
        if r >= nrows or c >= ncols:
            return
        _ensure(grid, nrows, ncols + nc)
        for row in grid[r : r + nr]:
            tail = row[c:ncols]
            row[c : c + nc + len(tail)] = [""] * nc + tail


def _sort_key(value: Any, ascending: bool) -> tuple[Any, ...]:
    """Excel's sort order: numbers < text (case-insensitive) < booleans; blanks last."""
    if value == "" or value is None:
        return (1, 0, 0)  # blanks last in both directions
    if isinstance(value, bool):
        group, item = 2, int(value)
    elif isinstance(value, int | float):
        group, item = 0, value
    elif isinstance(value, str) and _ISO_RE.match(value):
        group, item = 0, dt.datetime.fromisoformat(value[:-1]).timestamp()
    elif isinstance(value, str) and value in _ERRORS:
        group, item = 3, 0
    else:
        group, item = 1, str(value).casefold()
    return (0, group, item) if ascending else (0, -group, _Reverse(item))


class _Reverse:
    """Inverts comparisons, for descending keys of non-numeric type."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]


def _sort_rows(rows: Grid, keys: Sequence[int], ascending: Sequence[bool]) -> Grid:
    result = list(rows)
    for key, asc in reversed(list(zip(keys, ascending, strict=True))):
        result.sort(key=lambda row, k=key, a=asc: _sort_key(row[k - 1], a))
    return result


# ---------------------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------------------

# Range actions recorded in `_formats` with their range address and args, unchanged.
_RECORDED_RANGE_ACTIONS = frozenset(
    [
        "setRangeColor",
        "setFontProperty",
        "setNumberFormat",
        "setAutofit",
        "setColumnWidth",
        "setRowHeight",
        "setWrapText",
        "setHorizontalAlignment",
        "setVerticalAlignment",
        "setBorderProperty",
        "rangeMerge",
        "rangeUnmerge",
        "rangeGroup",
        "rangeUngroup",
        "setRowHidden",
        "setColumnHidden",
        "rangeAdjustIndent",
        "rangeClearFormats",
        "addComment",
        "setDataValidationList",
        "setDataValidationRule",
        "deleteDataValidation",
        "addConditionalFormat",
        "setConditionalFormat",
        "deleteConditionalFormat",
        "clearConditionalFormats",
        "applyAutoFilterRange",
        "clearAutoFilterRange",
    ]
)
# Sheet-level actions recorded in `_formats` with address None.
_RECORDED_SHEET_ACTIONS = frozenset(
    [
        "setSheetAutofit",
        "freezePaneAtRange",
        "freezePaneUnfreeze",
        "sheetClearFormats",
        "addCommentReply",
        "deleteComment",
        "setCommentText",
        "setCommentResolved",
        "applyAutoFilterTable",
        "clearAutoFilterTable",
    ]
)
# Book-level actions with no visible state, recorded in `_events`.
_EVENT_ACTIONS = frozenset(["save", "calculate", "setScreenUpdating", "runMacro"])

# Known to the engine, deliberately not modelled: replay() raises for them.
UNSUPPORTED_ACTIONS = frozenset(
    [
        "addChart", "chartToPng", "deleteChart", "setChartAxis", "setChartName",
        "setChartPlotBy", "setChartPosition", "setChartSeries", "setChartSourceData",
        "setChartType", "setChartXAxisValues", "setChartTitle", "setChartStyle",
        "setChartLegend",
        "addPicture", "deletePicture", "updatePicture", "setPictureName", "setPictureLeft",
        "setPictureTop", "setPictureWidth", "setPictureHeight", "setPictureLockAspectRatio",
        "deleteShape", "scaleShape", "setShapeFontProperty", "setShapeHeight",
        "setShapeLeft", "setShapeName", "setShapeText", "setShapeTop", "setShapeWidth",
        "addPivotTable", "setPivotTableName", "setPivotLayout", "refreshPivotTable",
        "deletePivotTable", "removePivotField", "addPivotField", "setPivotValueField",
        "removePivotValueField", "addPivotValueField",
        "rangeToPng",
    ]
)  # fmt: skip


class _Replayer:
    def __init__(self, payload: dict[str, Any], coerce: bool) -> None:
        self.p = payload
        self.coerce = coerce
        payload.setdefault("_formats", {})
        payload.setdefault("_alerts", [])
        payload.setdefault("_events", [])
        book = payload["book"]
        sheets = payload["sheets"]
        selections = payload.setdefault("_selections", {})
        if book.get("selection") and sheets:
            selections.setdefault(sheets[book["active_sheet_index"]]["name"], book["selection"])
        self.dirty: list[dict[str, Any]] = []

    # -- helpers -------------------------------------------------------------------
    @property
    def sheets(self) -> list[dict[str, Any]]:
        return self.p["sheets"]

    def sheet(self, action: Mapping[str, Any]) -> dict[str, Any]:
        pos = action.get("sheet_position")
        if pos is None or not 0 <= pos < len(self.sheets):
            raise ReplayError(f"{action['func']}: no sheet at position {pos!r}")
        return self.sheets[pos]

    def touch(self, sheet: dict[str, Any]) -> Grid:
        if not any(s is sheet for s in self.dirty):
            self.dirty.append(sheet)
        return sheet["values"]

    @staticmethod
    def rect(action: Mapping[str, Any]) -> Rect:
        return (
            action["start_row"],
            action["start_column"],
            action["row_count"],
            action["column_count"],
        )

    def records(self, sheet: dict[str, Any]) -> list[FormatRecord]:
        records = self.p["_formats"].setdefault(sheet["name"], [])
        # Lists after a JSON round trip; typed once, then only records are appended.
        if records and not isinstance(records[0], FormatRecord):
            records[:] = [FormatRecord(*r) for r in records]
        return records

    def record(self, sheet: dict[str, Any], func: str, address: str | None, args: Any) -> None:
        self.records(sheet).append(FormatRecord(func, address, list(args)))

    def table(self, action: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        sheet = self.sheet(action)
        ix = action["args"][0]
        try:
            return sheet, sheet["tables"][ix]
        except (IndexError, TypeError):
            raise ReplayError(f"{action['func']}: no table #{ix} on {sheet['name']!r}") from None

    def sheet_names(self) -> list[str]:
        return [s["name"] for s in self.sheets]

    def remap_indices(self, mapping: Callable[[int], int | None]) -> None:
        """Apply a sheet-position change to the active sheet and to names."""
        book = self.p["book"]
        new_active = mapping(book["active_sheet_index"])
        book["active_sheet_index"] = 0 if new_active is None else new_active
        for entry in self.p["names"]:
            for key in ("sheet_index", "scope_sheet_index"):
                if entry.get(key) is not None:
                    entry[key] = mapping(entry[key])

    def text_formatted(self, sheet: dict[str, Any], rect: Rect) -> np.ndarray:
        """Which cells of ``rect`` are formatted as text ('@'), from the format log: each
        record that covers a cell, oldest first, paints it (the latest one wins)."""
        r0, c0, nr, nc = rect
        mask = np.zeros((nr, nc), dtype=bool)
        relevant = [
            rec
            for rec in self.records(sheet)
            if rec.func in _FORMAT_RESETS or rec.func == "setNumberFormat"
            if rec.address is None or any(_intersects(a, rect) for a in _areas(rec.address))
        ]
        if not any(rec.func == "setNumberFormat" and rec.args[0] == "@" for rec in relevant):
            return mask
        for rec in relevant:
            text = rec.func == "setNumberFormat" and rec.args[0] == "@"
            for r, c, n, m in _areas(rec.address) or [rect]:
                top, left = max(r, r0), max(c, c0)
                bottom, right = min(r + n, r0 + nr), min(c + m, c0 + nc)
                if top < bottom and left < right:
                    mask[top - r0 : bottom - r0, left - c0 : right - c0] = text
        return mask

    def write(self, sheet: dict[str, Any], r: int, c: int, values: Grid) -> None:
        """Write values as Excel stores them (coercion, formulas recorded)."""
        grid = self.touch(sheet)
        if not self.coerce:
            _write_block(grid, r, c, [[_coerce(v, True)[0] for v in row] for row in values])
            return
        width = max((len(row) for row in values), default=0)
        is_text = self.text_formatted(sheet, (r, c, len(values), width))
        block = []
        for i, row in enumerate(values):
            out = []
            text_row = is_text[i]
            for j, value in enumerate(row):
                stored, formula = _coerce(value, isinstance(value, str) and bool(text_row[j]))
                if formula:
                    self.record(sheet, "formula", _cell(r + i, c + j), [stored])
                out.append(stored)
            block.append(out)
        _write_block(grid, r, c, block)

    def shift_everything(self, sheet: dict[str, Any], op: str, shift: str, rect: Rect) -> None:
        """Move values, format records, tables, names and notes like Excel does."""
        grid = self.touch(sheet)
        for table in sheet["tables"]:
            pieces = _shift_area(_parse(table["range_address"]), op, shift, rect)
            if len(pieces) != 1:
                raise ReplayError(
                    f"Excel refuses to {op} {_address(rect)} shifting {shift}: it would "
                    f"move part of table {table['name']!r} ({table['range_address']})"
                )
        (_delete if op == "delete" else _insert)(grid, rect, shift)
        for table in sheet["tables"]:
            old = _parse(table["range_address"])
            new = _shift_area(old, op, shift, rect)[0]
            if shift in ("left", "right") and new[3] != old[3] and "columns" in table:
                self.fix_table_columns(table, old, new, op, rect)
            _set_table_range(sheet, table, new)
        records = self.records(sheet)
        for ix, rec in enumerate(records):
            if rec.address is None:
                continue
            pieces = [
                piece
                for area in _areas(rec.address)
                for piece in _shift_area(area, op, shift, rect)
            ]
            records[ix] = rec._replace(address=_join(pieces) or "")
        records[:] = [rec for rec in records if rec.address != ""]
        sheet_ix = next(i for i, s in enumerate(self.sheets) if s is sheet)
        for entry in self.p["names"]:
            if entry.get("sheet_index") != sheet_ix or not entry.get("address"):
                continue
            pieces = _shift_area(_parse(entry["address"]), op, shift, rect)
            if not pieces:
                entry.update(address=None, sheet_index=None, refers_to="=#REF!")
                continue
            top = min(p[0] for p in pieces)
            left = min(p[1] for p in pieces)
            bottom = max(p[0] + p[2] for p in pieces)
            right = max(p[1] + p[3] for p in pieces)
            entry["address"] = _address((top, left, bottom - top, right - left))
            if entry.get("refers_to"):
                entry["refers_to"] = (
                    f"={_sheet_prefix(sheet['name'])}!{_absolute(entry['address'])}"
                )
        notes = []
        for note in sheet.get("notes", []):
            pieces = _shift_area(_parse(note["address"]), op, shift, rect)
            if pieces:
                notes.append({**note, "address": _address(pieces[0])})
        if "notes" in sheet:
            sheet["notes"] = notes

    @staticmethod
    def fix_table_columns(table: dict[str, Any], old: Rect, new: Rect, op: str, rect: Rect) -> None:
        columns = list(table["columns"])
        start = max(rect[1] - old[1], 0)
        if op == "delete":
            del columns[start : start + (old[3] - new[3])]
        else:
            columns[start:start] = [""] * (new[3] - old[3])
        table["columns"] = columns

    # -- values --------------------------------------------------------------------
    def setValues(self, a: Mapping[str, Any]) -> None:
        r, c, nr, nc = self.rect(a)
        values = a["values"]
        if len(values) != nr or any(len(row) != nc for row in values):
            raise ReplayError(f"setValues: values are not {nr}x{nc}")
        self.write(self.sheet(a), r, c, values)

    def setFormula(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        r, c, nr, nc = self.rect(a)
        values = a["values"]
        if not isinstance(values, list):
            values = [[values] * nc for _ in range(nr)]
        elif values and not isinstance(values[0], list):
            values = [values]
        # Not evaluated: the cell keeps the formula text, and the formula is logged.
        self.record(sheet, "setFormula", _address((r, c, nr, nc)), [values])
        _write_block(self.touch(sheet), r, c, values)

    def setFormulaArray(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        rect = self.rect(a)
        self.record(sheet, "setFormulaArray", _address(rect), a["args"])
        _write_block(self.touch(sheet), rect[0], rect[1], [[a["args"][0]]])

    def rangeClearContents(self, a: Mapping[str, Any]) -> None:
        _clear(self.touch(self.sheet(a)), self.rect(a))

    def rangeClear(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        _clear(self.touch(sheet), self.rect(a))
        self.record(sheet, "rangeClear", _address(self.rect(a)), [])

    def sheetClearContents(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        self.touch(sheet)
        sheet["values"] = [list(r) for r in _EMPTY_VALUES]

    def sheetClear(self, a: Mapping[str, Any]) -> None:
        self.sheetClearContents(a)
        self.record(self.sheet(a), "sheetClear", None, [])

    def rangeDelete(self, a: Mapping[str, Any]) -> None:
        shift = a["args"][0]
        if shift not in ("up", "left"):
            raise ReplayError(f"rangeDelete: unknown shift {shift!r}")
        self.shift_everything(self.sheet(a), "delete", shift, self.rect(a))

    def rangeInsert(self, a: Mapping[str, Any]) -> None:
        shift = a["args"][0]
        if shift not in ("down", "right"):
            raise ReplayError(f"rangeInsert: unknown shift {shift!r}")
        self.shift_everything(self.sheet(a), "insert", shift, self.rect(a))

    def _copy(
        self,
        src_sheet: dict[str, Any],
        src: Rect,
        dst_sheet: dict[str, Any],
        dst: Rect,
        copy_type: str = "all",
        skip_blanks: bool = False,
        transpose: bool = False,
    ) -> None:
        block = _read_block(src_sheet["values"], _extent(src_sheet, src, dst_sheet, dst))
        if transpose:
            block = [list(col) for col in zip(*block, strict=True)]
        kind = (copy_type or "all").lower()
        if kind in ("all", "values", "formulas"):
            grid = self.touch(dst_sheet)
            for i, row in enumerate(block):
                for j, value in enumerate(row):
                    if skip_blanks and value == "":
                        continue
                    _write_block(grid, dst[0] + i, dst[1] + j, [[value]])
        elif kind != "formats":
            raise UnsupportedActionError("copyFromRange", f"copy type {copy_type!r}")
        if kind in ("all", "formats"):
            self.record(
                dst_sheet,
                "copyFormats",
                _address((dst[0], dst[1], len(block), len(block[0]) if block else 0)),
                [src_sheet["name"], _address(src)],
            )

    def copyRange(self, a: Mapping[str, Any]) -> None:
        dst_ix, dst_address = a["args"][:2]
        src = self.rect(a)
        dst = _parse(dst_address)
        self._copy(self.sheet(a), src, self.sheets[dst_ix], (dst[0], dst[1], src[2], src[3]))

    def copyFromRange(self, a: Mapping[str, Any]) -> None:
        src_ix, src_address, copy_type, skip_blanks, transpose = a["args"][:5]
        src = _parse(src_address)
        dst = self.rect(a)
        self._copy(
            self.sheets[src_ix],
            src,
            self.sheet(a),
            dst,
            copy_type,
            bool(skip_blanks),
            bool(transpose),
        )

    def moveRange(self, a: Mapping[str, Any]) -> None:
        dst_ix, dst_address = a["args"][:2]
        sheet = self.sheet(a)
        src = self.rect(a)
        dst = _parse(dst_address)
        block = _read_block(sheet["values"], _extent(sheet, src, self.sheets[dst_ix], dst))
        _clear(self.touch(sheet), src)
        _write_block(self.touch(self.sheets[dst_ix]), dst[0], dst[1], block)
        self.record(
            self.sheets[dst_ix],
            "moveRange",
            _address((dst[0], dst[1], src[2], src[3])),
            [sheet["name"], _address(src)],
        )

    def rangeSort(self, a: Mapping[str, Any]) -> None:
        keys, ascending, has_headers = a["args"][:3]
        keys = [keys] if isinstance(keys, int) else list(keys)
        if isinstance(ascending, bool):
            ascending = [ascending] * len(keys)
        sheet = self.sheet(a)
        r, c, nr, nc = _clip(sheet["values"], self.rect(a))
        head = int(bool(has_headers))
        body = _read_block(sheet["values"], (r + head, c, max(nr - head, 0), nc))
        if any(k > nc for k in keys):  # sort keys beyond the data are blank columns
            body = [row + [""] * (max(keys) - nc) for row in body]
        _write_block(self.touch(sheet), r + head, c, _sort_rows(body, keys, ascending))

    def tableSort(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        keys, ascending = a["args"][1:3]
        body = _parse(table["data_body_range_address"])
        rows = _read_block(sheet["values"], body)
        _write_block(self.touch(sheet), body[0], body[1], _sort_rows(rows, keys, ascending))

    def rangeRemoveDuplicates(self, a: Mapping[str, Any]) -> None:
        columns, has_headers = a["args"][:2]
        columns = [columns] if isinstance(columns, int) else list(columns)
        sheet = self.sheet(a)
        r, c, nr, nc = _clip(sheet["values"], self.rect(a))
        head = int(bool(has_headers))
        body = _read_block(sheet["values"], (r + head, c, max(nr - head, 0), nc))
        seen: set[tuple[Any, ...]] = set()
        kept = []
        for row in body:
            cells = [row[k - 1] if k <= nc else "" for k in columns]
            key = tuple(v.casefold() if isinstance(v, str) else v for v in cells)
            if key not in seen:
                seen.add(key)
                kept.append(row)
        kept += [[""] * nc for _ in range(len(body) - len(kept))]
        _write_block(self.touch(sheet), r + head, c, kept)

    def rangeReplaceAll(self, a: Mapping[str, Any]) -> None:
        old, new, whole, match_case = a["args"][:4]
        sheet = self.sheet(a)
        r, c, nr, nc = _clip(sheet["values"], self.rect(a))
        flags = 0 if match_case else re.IGNORECASE
        pattern = re.compile(rf"^{re.escape(old)}$" if whole else re.escape(old), flags)
        block = _read_block(sheet["values"], (r, c, nr, nc))
        changed = False
        for row in block:
            for j, value in enumerate(row):
                # Only text cells are modelled; Excel would also match numbers' text.
                if isinstance(value, str) and pattern.search(value):
                    row[j] = _coerce(pattern.sub(new.replace("\\", "\\\\"), value), False)[0]
                    changed = True
        if changed:
            _write_block(self.touch(sheet), r, c, block)

    def rangeAutofill(self, a: Mapping[str, Any]) -> None:
        dest_address, fill_type = a["args"][:2]
        sheet = self.sheet(a)
        src = self.rect(a)
        dst = _parse(dest_address)
        if fill_type == "FillFormats":
            self.record(sheet, "copyFormats", _address(dst), [sheet["name"], _address(src)])
            return
        if fill_type not in ("FillCopy", "FillValues"):
            raise UnsupportedActionError("rangeAutofill", f"fill type {fill_type!r}")
        block = _read_block(sheet["values"], src)
        out = [
            [block[(i - dst[0] + src[0]) % src[2]][(j - dst[1] + src[1]) % src[3]]
             for j in range(dst[1], dst[1] + dst[3])]
            for i in range(dst[0], dst[0] + dst[2])
        ]  # fmt: skip
        _write_block(self.touch(sheet), dst[0], dst[1], out)

    def addHyperlink(self, a: Mapping[str, Any]) -> None:
        address, text, tip = (list(a["args"]) + [None, None])[:3]
        sheet = self.sheet(a)
        rect = self.rect(a)
        self.record(sheet, "addHyperlink", _address(rect), [address, text, tip])
        # Office.js shows textToDisplay (the address if there is none) in the cell.
        shown = text if text not in (None, "") else address
        self.write(sheet, rect[0], rect[1], [[shown] * rect[3] for _ in range(rect[2])])

    def setRangeColors(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        r, c = self.rect(a)[:2]
        for i, row in enumerate(a["args"][0]):
            j = 0
            while j < len(row):
                color = row[j]
                k = j
                while k + 1 < len(row) and row[k + 1] == color:
                    k += 1
                if color != "keep":
                    self.record(
                        sheet, "setRangeColor", _address((r + i, c + j, 1, k - j + 1)), [color]
                    )
                j = k + 1

    # -- notes ---------------------------------------------------------------------
    def addNote(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        address, text = a["args"][:2]
        sheet.setdefault("notes", []).append({"address": _address(_parse(address))})
        self.record(sheet, "addNote", _address(_parse(address)), [text])

    def setNoteText(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        address, text = a["args"][:2]
        cell = _address(_parse(address))
        if not any(n["address"] == cell for n in sheet.get("notes", [])):
            raise ReplayError(f"setNoteText: no note on {cell}")
        self.record(sheet, "setNoteText", cell, [text])

    def deleteNote(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        cell = _address(_parse(a["args"][0]))
        sheet["notes"] = [n for n in sheet.get("notes", []) if n["address"] != cell]
        self.record(sheet, "deleteNote", cell, [])

    # -- sheets --------------------------------------------------------------------
    def addSheet(self, a: Mapping[str, Any]) -> None:
        position, name = (list(a["args"]) + [None])[:2]
        names = {n.casefold() for n in self.sheet_names()}
        if name is None:
            n = 1
            while f"sheet{n}" in names:
                n += 1
            name = f"Sheet{n}"
        elif name.casefold() in names:
            raise ReplayError(f"addSheet: a sheet named {name!r} already exists")
        position = min(int(position), len(self.sheets))
        self.sheets.insert(position, _new_sheet(name))
        # Office.js' worksheets.add() does not activate the new sheet (the engine's
        # in-script snapshot does); the active sheet keeps its identity.
        self.remap_indices(lambda ix: ix + 1 if ix >= position else ix)

    def setSheetName(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        old, new = sheet["name"], str(a["args"][0])
        if new.casefold() != old.casefold() and new.casefold() in {
            n.casefold() for n in self.sheet_names()
        }:
            raise ReplayError(f"setSheetName: a sheet named {new!r} already exists")
        sheet["name"] = new
        for key in ("_formats", "_selections"):
            if old in self.p[key]:
                self.p[key][new] = self.p[key].pop(old)
        position = a["sheet_position"]
        for entry in self.p["names"]:
            if entry.get("refers_to"):
                entry["refers_to"] = _xlremote._rename_sheet_in_formula(
                    entry["refers_to"], old, new
                )
            if entry.get("scope_sheet_index") == position:
                entry["scope_sheet_name"] = new

    def sheetDelete(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        position = a["sheet_position"]
        if len(self.sheets) == 1:
            raise ReplayError("sheetDelete: a workbook must keep at least one sheet")
        del self.sheets[position]
        for key in ("_formats", "_selections"):
            self.p[key].pop(sheet["name"], None)
        names = []
        for entry in self.p["names"]:
            if entry.get("scope_sheet_index") == position:
                continue  # sheet-scoped names go with their sheet
            if entry.get("sheet_index") == position:
                entry.update(sheet_index=None, address=None, refers_to="=#REF!")
            names.append(entry)
        self.p["names"] = names
        book = self.p["book"]
        active = book["active_sheet_index"]
        self.remap_indices(lambda ix: ix - 1 if ix > position else ix)
        if active == position:
            book["active_sheet_index"] = min(position, len(self.sheets) - 1)
            self.restore_selection()
        elif active > position:
            book["active_sheet_index"] = active - 1

    def restore_selection(self) -> None:
        book = self.p["book"]
        name = self.sheets[book["active_sheet_index"]]["name"]
        book["selection"] = self.p["_selections"].get(name, "A1")

    def activateSheet(self, a: Mapping[str, Any]) -> None:
        ix = int(a["args"][0])
        if not 0 <= ix < len(self.sheets):
            raise ReplayError(f"activateSheet: no sheet at position {ix}")
        self.p["book"]["active_sheet_index"] = ix
        self.restore_selection()

    def rangeSelect(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        address = _address(self.rect(a))
        self.p["book"]["active_sheet_index"] = a["sheet_position"]
        self.p["book"]["selection"] = address
        self.p["_selections"][sheet["name"]] = address

    def copySheet(self, a: Mapping[str, Any]) -> None:
        where, target, name = a["args"][:3]
        sheet = self.sheet(a)
        new = _copy_payload({"sheets": [sheet]})["sheets"][0]
        new["name"] = name
        taken = {t["name"].casefold() for s in self.sheets for t in s["tables"]}
        for table in new["tables"]:
            base, n = re.sub(r"\d+$", "", table["name"]), 1
            while f"{base}{n}".casefold() in taken:
                n += 1
            table["name"] = f"{base}{n}"
            taken.add(table["name"].casefold())
        position = int(target) + (1 if where == "After" else 0)
        self.sheets.insert(position, new)
        self.p["_formats"][name] = list(self.p["_formats"].get(sheet["name"], []))
        self.remap_indices(lambda ix: ix + 1 if ix >= position else ix)

    def setSheetPosition(self, a: Mapping[str, Any]) -> None:
        source = a["sheet_position"]
        target = int(a["args"][0])
        sheet = self.sheets.pop(source)
        self.sheets.insert(target, sheet)

        def moved(ix: int) -> int:
            if ix == source:
                return target
            if source < target and source < ix <= target:
                return ix - 1
            if target < source and target <= ix < source:
                return ix + 1
            return ix

        self.remap_indices(moved)

    def setSheetVisibility(self, a: Mapping[str, Any]) -> None:
        self.sheet(a)["visibility"] = a["args"][0]

    def setShowGridlines(self, a: Mapping[str, Any]) -> None:
        self.sheet(a)["show_gridlines"] = bool(a["args"][0])

    def setPrintArea(self, a: Mapping[str, Any]) -> None:
        area = a["args"][0]
        # Office.js reports addresses without "$"; "" or None removes the print area.
        self.sheet(a)["print_area"] = _join(_areas(area)) if area else None

    def setCalculation(self, a: Mapping[str, Any]) -> None:
        self.p["book"]["calculation"] = a["args"][0]

    # -- names ---------------------------------------------------------------------
    def add_name(self, name: str, refers_to: str, scope: int | None) -> None:
        for entry in self.p["names"]:
            if entry["name"].casefold() == name.casefold() and (
                entry.get("scope_sheet_index") == scope
            ):
                raise ReplayError(f"a name {name!r} already exists in that scope")
        self.p["names"].append(
            {
                "name": name,
                "refers_to": refers_to,
                **_refers_to_metadata(refers_to, self.sheet_names()),
                "book_scope": scope is None,
                "scope_sheet_name": None if scope is None else self.sheets[scope]["name"],
                "scope_sheet_index": scope,
            }
        )

    def namesAdd(self, a: Mapping[str, Any]) -> None:
        name, refers_to = a["args"][:2]
        self.add_name(name, refers_to, a.get("sheet_position"))

    def setRangeName(self, a: Mapping[str, Any]) -> None:
        sheet = self.sheet(a)
        refers_to = f"={_sheet_prefix(sheet['name'])}!{_absolute(_address(self.rect(a)))}"
        self.add_name(str(a["args"][0]), refers_to, None)

    def find_name(self, name: str, book_scope: bool, scope: int | None) -> dict[str, Any]:
        for entry in self.p["names"]:
            short = entry["name"].rsplit("!", 1)[-1]
            if short.casefold() == name.rsplit("!", 1)[-1].casefold() and (
                bool(entry.get("book_scope")) == bool(book_scope)
                and (book_scope or entry.get("scope_sheet_index") == scope)
            ):
                return entry
        raise ReplayError(f"no defined name {name!r}")

    def nameDelete(self, a: Mapping[str, Any]) -> None:
        _, _, name, _, book_scope, scope = a["args"][:6]
        entry = self.find_name(name, book_scope, scope)
        self.p["names"] = [e for e in self.p["names"] if e is not entry]

    def setNameRefersTo(self, a: Mapping[str, Any]) -> None:
        name, book_scope, scope, refers_to = a["args"][:4]
        entry = self.find_name(name, book_scope, scope)
        entry["refers_to"] = refers_to
        entry.update(_refers_to_metadata(refers_to, self.sheet_names()))

    # -- tables --------------------------------------------------------------------
    def addTable(self, a: Mapping[str, Any]) -> None:
        address, has_headers, style, name = (list(a["args"]) + [None] * 4)[:4]
        sheet = self.sheet(a)
        rect = _parse(address)
        for table in sheet["tables"]:
            if _intersects(rect, _parse(table["range_address"])):
                raise ReplayError(f"addTable: {address} overlaps table {table['name']!r}")
        taken = {t["name"].casefold() for s in self.sheets for t in s["tables"]}
        if name and name.casefold() in taken:
            raise ReplayError(f"addTable: a table named {name!r} already exists")
        if not name:
            n = 1
            while f"table{n}" in taken:
                n += 1
            name = f"Table{n}"
        if not has_headers:
            # Excel puts a header row (Column1, Column2, ...) above the data.
            self.shift_everything(sheet, "insert", "down", (rect[0], rect[1], 1, rect[3]))
            headers = [[f"Column{i + 1}" for i in range(rect[3])]]
            _write_block(self.touch(sheet), rect[0], rect[1], headers)
            rect = (rect[0], rect[1], rect[2] + 1, rect[3])
        self.touch(sheet)
        sheet["tables"].append(
            _table_entry(sheet, name, _address(rect), table_style=style or "TableStyleMedium2")
        )

    def setTableName(self, a: Mapping[str, Any]) -> None:
        _, table = self.table(a)
        table["name"] = a["args"][1]

    def setTableStyle(self, a: Mapping[str, Any]) -> None:
        _, table = self.table(a)
        table["table_style"] = a["args"][1]

    def _flag(self, key: str) -> Callable[[Mapping[str, Any]], None]:
        def handler(a: Mapping[str, Any]) -> None:
            _, table = self.table(a)
            table[key] = bool(a["args"][1])

        return handler

    def resizeTable(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        _set_table_range(sheet, table, _parse(a["args"][1]))

    def showHeadersTable(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        show = bool(a["args"][1])
        if show == table["show_headers"]:
            return
        r, c, nr, nc = _parse(table["range_address"])
        grid = self.touch(sheet)
        if show:
            if r == 0:
                raise ReplayError("showHeadersTable: no row above the table")
            _write_block(grid, r - 1, c, [list(table["columns"])])
            rect = (r - 1, c, nr + 1, nc)
        else:
            _clear(grid, (r, c, 1, nc))
            rect = (r + 1, c, nr - 1, nc)
        table["show_headers"] = show
        _set_table_range(sheet, table, rect)

    def showTotalsTable(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        show = bool(a["args"][1])
        if show == table["show_totals"]:
            return
        r, c, nr, nc = _parse(table["range_address"])
        grid = self.touch(sheet)
        if show:
            # Excel writes "Total" and SUBTOTAL formulas; formulas aren't evaluated here.
            _write_block(grid, r + nr, c, [["Total"] + [""] * (nc - 1)])
            rect = (r, c, nr + 1, nc)
        else:
            _clear(grid, (r + nr - 1, c, 1, nc))
            rect = (r, c, nr - 1, nc)
        table["show_totals"] = show
        _set_table_range(sheet, table, rect)

    def addTableRow(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        position, values = a["args"][1:3]
        r, c, nr, nc = _parse(table["range_address"])
        body = _parse(table["data_body_range_address"])
        row = body[0] + int(position)
        # Excel inserts cells in the table's columns only, shifting them down.
        _insert(self.touch(sheet), (row, c, 1, nc), "down")
        if values is not None:
            self.write(sheet, row, c, [list(values)])
        _set_table_range(sheet, table, (r, c, nr + 1, nc))

    def deleteTableRow(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        position = int(a["args"][1])
        r, c, nr, nc = _parse(table["range_address"])
        body = _parse(table["data_body_range_address"])
        _delete(self.touch(sheet), (body[0] + position, c, 1, nc), "up")
        _set_table_range(sheet, table, (r, c, nr - 1, nc))

    def addTableColumn(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        position, name = a["args"][1:3]
        r, c, nr, nc = _parse(table["range_address"])
        _insert(self.touch(sheet), (r, c + int(position), nr, 1), "right")
        if table["show_headers"]:
            _write_block(sheet["values"], r, c + int(position), [[name]])
        table["columns"] = list(table["columns"])
        table["columns"].insert(int(position), name)
        _set_table_range(sheet, table, (r, c, nr, nc + 1))

    def deleteTableColumn(self, a: Mapping[str, Any]) -> None:
        sheet, table = self.table(a)
        name = a["args"][1]
        position = table["columns"].index(name)
        r, c, nr, nc = _parse(table["range_address"])
        _delete(self.touch(sheet), (r, c + position, nr, 1), "left")
        del table["columns"][position]
        _set_table_range(sheet, table, (r, c, nr, nc - 1))

    # -- book ----------------------------------------------------------------------
    def alert(self, a: Mapping[str, Any]) -> None:
        prompt, title, buttons, mode, callback = (list(a["args"]) + [""] * 5)[:5]
        self.p["_alerts"].append(
            {"prompt": prompt, "title": title, "buttons": buttons, "mode": mode,
             "callback": callback}
        )  # fmt: skip

    # -- dispatch ------------------------------------------------------------------
    def apply(self, action: Mapping[str, Any]) -> None:
        func = action.get("func")
        if not isinstance(func, str):
            raise ReplayError(f"action without func: {action!r}")
        if func in _RECORDED_RANGE_ACTIONS:
            sheet = self.sheet(action)
            self.record(sheet, func, _address(self.rect(action)), action.get("args") or [])
            return
        if func in _RECORDED_SHEET_ACTIONS:
            self.record(self.sheet(action), func, None, action.get("args") or [])
            return
        if func in _EVENT_ACTIONS:
            self.p["_events"].append({"func": func, "args": list(action.get("args") or [])})
            return
        if func in _TABLE_FLAGS:
            self._flag(_TABLE_FLAGS[func])(action)
            return
        if func in UNSUPPORTED_ACTIONS or func not in _HANDLERS:
            detail = (
                "charts, pictures, shapes and pivots aren't modelled"
                if (func in UNSUPPORTED_ACTIONS)
                else "unknown action (new in this xlwings version?)"
            )
            raise UnsupportedActionError(func, detail)
        getattr(self, func)(action)

    def finish(self) -> None:
        for sheet in self.dirty:
            sheet["values"] = _trim(sheet["values"])
            _set_used_range(sheet)


def _absolute(address: str) -> str:
    return ":".join(re.sub(r"^([A-Z]+)(\d+)$", r"$\1$\2", part) for part in address.split(":"))


_TABLE_FLAGS = {
    "showAutofilterTable": "show_autofilter",
    "showTableStyleFirstColumn": "show_table_style_first_column",
    "showTableStyleLastColumn": "show_table_style_last_column",
    "showTableStyleRowStripes": "show_table_style_row_stripes",
    "showTableStyleColumnStripes": "show_table_style_column_stripes",
}
_HANDLERS = frozenset(
    [
        "setValues", "setFormula", "setFormulaArray", "rangeClearContents", "rangeClear",
        "sheetClear", "sheetClearContents", "rangeDelete", "rangeInsert", "copyRange",
        "copyFromRange", "moveRange", "rangeSort", "tableSort", "rangeRemoveDuplicates",
        "rangeReplaceAll", "rangeAutofill", "addHyperlink", "setRangeColors", "addNote",
        "setNoteText", "deleteNote", "addSheet", "setSheetName", "sheetDelete",
        "activateSheet", "rangeSelect", "copySheet", "setSheetPosition",
        "setSheetVisibility", "setShowGridlines", "setPrintArea", "setCalculation",
        "namesAdd", "setRangeName", "nameDelete", "setNameRefersTo", "addTable",
        "setTableName", "setTableStyle", "resizeTable", "showHeadersTable",
        "showTotalsTable", "addTableRow", "deleteTableRow", "addTableColumn",
        "deleteTableColumn", "alert",
    ]
)  # fmt: skip

HANDLED_ACTIONS = frozenset(
    _HANDLERS
    | _RECORDED_RANGE_ACTIONS
    | _RECORDED_SHEET_ACTIONS
    | _EVENT_ACTIONS
    | set(_TABLE_FLAGS)
)


def _engine_actions() -> frozenset[str]:
    """Every action func name the installed remote engine can emit (from its source)."""
    import inspect

    source = inspect.getsource(_xlremote)
    found = set(re.findall(r'func="([A-Za-z]+)"', source))
    # Actions queued through helpers (_queue, _set_format, AutoFilter._append, ...).
    found |= set(
        re.findall(r'"((?:set|add|delete|remove|refresh|apply|clear)[A-Z][A-Za-z]*)"', source)
    )
    return frozenset(found)


ENGINE_ACTIONS = _engine_actions()


def _actions(actions: Any) -> list[Mapping[str, Any]]:
    if isinstance(actions, xw.Book):
        actions = actions.json()
    if isinstance(actions, Mapping):
        actions = actions["actions"]
    return list(actions)


def replay(payload: Mapping[str, Any], actions: Any, *, coerce: bool = True) -> dict[str, Any]:
    """Apply recorded actions to a copy of ``payload`` the way Excel would; return it.

    ``actions``: ``book.json()``, its ``"actions"`` list, or the Book itself.
    ``coerce=True`` stores written values the way Excel does when Office.js sets
    ``range.values``: numeric/boolean/date text becomes a number/boolean/date (15
    significant digits, ``"00123"`` -> ``123``) unless the cell is formatted ``@``; a
    leading ``'`` keeps text; ``=...`` stays as unevaluated formula text (logged as a
    ``formula`` record). Raises :class:`UnsupportedActionError` for actions it doesn't
    model and :class:`ReplayError` for actions Excel would reject.
    """
    new = _copy_payload(payload)
    replayer = _Replayer(new, coerce)
    for action in _actions(actions):
        replayer.apply(action)
    replayer.finish()
    return new


# ---------------------------------------------------------------------------------------
# Fixture helper
# ---------------------------------------------------------------------------------------


@dataclass
class ScriptRun:
    """Outcome of :meth:`ExcelHarness.run`."""

    payload: dict[str, Any]
    actions: list[dict[str, Any]]
    result: Any
    book: xw.Book

    def funcs(self) -> list[str]:
        """The action names, in order."""
        return [a["func"] for a in self.actions]


def mark_actions(payload: dict, lines: dict[int, str]) -> dict:
    """Type Delete / Defer into the Action cells of the given lines on All."""
    values = next(s for s in payload["sheets"] if s["name"] == "All")["values"]
    action = values[0].index("Action")
    for row in values[1:]:
        if row[0] in lines:
            row[action] = lines[row[0]]
    return payload


class ExcelHarness:
    """What the ``excel`` fixture returns: the module's functions plus :meth:`run`."""

    make_payload = staticmethod(make_payload)
    workbook_payload = staticmethod(workbook_payload)
    open_book = staticmethod(open_book)
    replay = staticmethod(replay)
    count_range_calls = staticmethod(count_range_calls)
    record_status_bar = staticmethod(record_status_bar)
    sheet_frame = staticmethod(sheet_frame)
    sheet_values = staticmethod(sheet_values)
    formats = staticmethod(formats)
    format_at = staticmethod(format_at)

    def payload(self, sheets: Mapping[str, Sequence[Sequence[Any]]], **kwargs: Any) -> dict:
        """Shortcut for :func:`make_payload`."""
        return make_payload(sheets, **kwargs)

    def run(
        self,
        payload: Mapping[str, Any],
        script: Callable[..., Any],
        *args: Any,
        coerce: bool = True,
        **kwargs: Any,
    ) -> ScriptRun:
        """Open ``payload``, call ``script(book, *args, **kwargs)``, replay its actions."""
        book = open_book(payload)
        result = script(book, *args, **kwargs)
        actions = copy.deepcopy(book.json()["actions"])
        return ScriptRun(replay(payload, actions, coerce=coerce), actions, result, book)

    def close(self) -> None:
        """Close all remote books (fixture teardown)."""
        close_books()
