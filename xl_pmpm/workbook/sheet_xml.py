"""Worksheet XML that openpyxl does not write, or not fast enough: streamed rows, ignoredErrors.

openpyxl builds one cell object per cell; on a filled Tier Report (hundreds of thousands
of rows, each written on All and on its contract's sheet) that was nearly all of the
fill's time. So the report sheets' data rows are written here as XML text, a column at a
time, and spliced into the sheet part openpyxl wrote (header, views, table, formats):
values as inline strings or numbers, each formula column's whole formula in every cell
(``<f>…</f>``), as Excel itself writes a table's calculated column.

openpyxl has no writer for a sheet's ``<ignoredErrors>`` either; it is inserted at its
place in the schema's element order (ECMA-376, CT_Worksheet).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO
from xml.sax.saxutils import escape

MAX_ROW = 1048576
# CT_Worksheet: the elements that come after ignoredErrors (the first present is the place).
_AFTER_IGNORED_ERRORS = (
    b"<smartTags",
    b"<drawing",
    b"<legacyDrawing",
    b"<legacyDrawingHF",
    b"<drawingHF",
    b"<picture",
    b"<oleObjects",
    b"<controls",
    b"<webPublishItems",
    b"<tableParts",
    b"<extLst",
    b"</worksheet>",
)
# What XML 1.0 cannot hold (openpyxl refuses the same characters).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EDGE_SPACE = re.compile(r"(?:^|\x00)\s|\s(?:\x00|$)")


@dataclass(frozen=True)
class SheetExtras:
    """What is added to a sheet part openpyxl wrote.

    `rows`: yields the XML of the data rows that follow openpyxl's rows (bytes chunks).
    `number_as_text`: the cells (an sqref) where Excel should not flag numbers stored as
    text.
    """

    rows: Callable[[], Iterator[bytes]] | None = None
    number_as_text: str = ""


def column_letter(n: int) -> str:
    """The letters of 1-based column `n` (1 -> A, 27 -> AA)."""
    letters = ""
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def column_runs_sqref(columns: Iterable[int], first_row: int = 2) -> str:
    """An sqref of whole columns (1-based numbers) from `first_row` down, adjacent ones joined."""
    runs: list[list[int]] = []
    for c in sorted(set(columns)):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return " ".join(f"{column_letter(a)}{first_row}:{column_letter(b)}{MAX_ROW}" for a, b in runs)


def ignored_errors_xml(number_as_text: str) -> bytes:
    return (
        f'<ignoredErrors><ignoredError sqref="{number_as_text}" numberStoredAsText="1"/>'
        "</ignoredErrors>"
    ).encode()


def insert_ignored_errors(tail: bytes, number_as_text: str) -> bytes:
    """`tail` (the sheet XML after sheetData) with ignoredErrors at its schema place."""
    if not number_as_text:
        return tail
    at = min((i for tag in _AFTER_IGNORED_ERRORS if (i := tail.find(tag)) >= 0), default=-1)
    if at < 0:
        raise ValueError("not the end of a worksheet part: no </worksheet>")
    return tail[:at] + ignored_errors_xml(number_as_text) + tail[at:]


# --------------------------------------------------------------------------- cells


class IllegalCharacter(ValueError):
    """A value holds a character XML cannot; `index` is its place in the column given."""

    def __init__(self, index: int, code: int) -> None:
        self.index, self.code = index, code
        super().__init__(f"character {code} at value {index}")


def _text(value: str) -> str:
    if "&" in value or "<" in value or ">" in value:
        value = escape(value)
    if value[:1].isspace() or value[-1:].isspace():
        return f'<t xml:space="preserve">{value}</t>'
    return f"<t>{value}</t>"


def _plain(texts: Sequence[object]) -> bool:
    """Whether every text goes into XML as it is (no escape, no edge space); raises
    IllegalCharacter for a character XML cannot hold."""
    strings = [str(t) for t in texts]  # texts already: the caller checked each one's type
    if _ILLEGAL.search("\n".join(strings)):
        i, m = next((i, m) for i, t in enumerate(strings) if (m := _ILLEGAL.search(t)))
        raise IllegalCharacter(i, ord(m[0]))
    joined = "\x00".join(strings)  # NUL: a separator no legal text holds
    if "&" in joined or "<" in joined or ">" in joined:
        return False
    return not _EDGE_SPACE.search(joined)


def value_cells(
    letter: str, rows: Sequence[str], values: Sequence[object], style: int | None
) -> list[str]:
    """One column's cells: text inline, numbers as numbers, a blank empty (styled if `style`).

    Raises IllegalCharacter (with the value's index) for text XML cannot hold.
    """
    s = f' s="{style}"' if style else ""
    blank = f'<c r="{letter}{{}}"{s}/>' if s else ""
    present = [v for v in values if v is not None]
    if all(type(v) is str for v in present):
        try:
            plain = _plain(present)
        except IllegalCharacter as e:  # its index among all the values
            e.index = [i for i, v in enumerate(values) if v is not None][e.index]
            raise
        if plain:
            head, tail = f'<c r="{letter}', f'"{s} t="inlineStr"><is><t>'
            return [
                f"{head}{r}{tail}{v}</t></is></c>" if v else (blank.format(r) if s else "")
                for r, v in zip(rows, values, strict=True)
            ]
    elif all(type(v) in (int, float) for v in present):  # numbers as openpyxl writes them
        head, tail = f'<c r="{letter}', f'"{s}><v>'
        return [
            f"{head}{r}{tail}{v:.16g}</v></c>" if v is not None else (blank.format(r) if s else "")
            for r, v in zip(rows, values, strict=True)
        ]
    out = []
    for i, (r, v) in enumerate(zip(rows, values, strict=True)):
        if v is None or v == "":
            out.append(blank.format(r) if s else "")
        elif isinstance(v, str):
            if m := _ILLEGAL.search(v):
                raise IllegalCharacter(i, ord(m[0]))
            out.append(f'<c r="{letter}{r}"{s} t="inlineStr"><is>{_text(v)}</is></c>')
        elif isinstance(v, bool):
            out.append(f'<c r="{letter}{r}"{s} t="b"><v>{int(v)}</v></c>')
        else:
            out.append(f'<c r="{letter}{r}"{s}><v>{v:.16g}</v></c>')
    return out


def formula_cells(letter: str, rows: Sequence[str], formula: str, style: int | None) -> list[str]:
    """One formula column's cells: the whole formula in every cell, as Excel writes a
    table's calculated column (the same text as the table's ``calculatedColumnFormula``;
    Excel's own files never hold a shared formula with structured references)."""
    s = f' s="{style}"' if style else ""
    text = escape(formula[1:] if formula.startswith("=") else formula)
    head, tail = f'<c r="{letter}', f'"{s}><f>{text}</f></c>'
    return [f"{head}{r}{tail}" for r in rows]


def rows_xml(first: int, columns: Sequence[Sequence[str]]) -> str:
    """`<row>` elements from row `first`, one cell list per column (all of one length)."""
    n = len(columns[0]) if columns else 0
    parts = [
        f'<row r="{first + i}">{"".join(cells)}</row>'
        for i, cells in zip(range(n), zip(*columns, strict=True), strict=False)
    ]
    return "".join(parts)


# --------------------------------------------------------------------------- parts


def worksheet_parts(workbook_xml: bytes, workbook_rels: bytes) -> dict[str, str]:
    """{sheet name: its part in the zip} from xl/workbook.xml and its relationships."""
    targets = {
        m["id"]: m["target"]
        for m in re.finditer(
            rb'<Relationship\b(?=[^>]*\bId="(?P<id>[^"]+)")(?=[^>]*\bTarget="(?P<target>[^"]+)")',
            workbook_rels,
        )
    }
    out = {}
    for m in re.finditer(
        rb'<sheet\b(?=[^>]*\bname="(?P<name>[^"]*)")(?=[^>]*\br:id="(?P<id>[^"]+)")',
        workbook_xml,
    ):
        target = targets[m["id"]].decode()
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        name = m["name"].decode("utf-8")
        for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'")):
            name = name.replace(entity, char)
        out[name.replace("&amp;", "&")] = part
    return out


def write_sheet_part(part: bytes, extras: SheetExtras, out: IO[bytes]) -> None:
    """`part` (a sheet openpyxl wrote) with `extras` spliced in, written to `out`."""
    end = part.find(b"</sheetData>")
    if end < 0:  # no rows at all: <sheetData /> (openpyxl) or <sheetData/>
        m = re.search(rb"<sheetData\s*/>", part)
        if m is None:
            raise ValueError("not a worksheet part: no sheetData")
        head, tail = part[: m.start()] + b"<sheetData>", part[m.end() :]
    else:
        head, tail = part[:end], part[end + len(b"</sheetData>") :]
    out.write(head)
    if extras.rows is not None:
        for chunk in extras.rows():
            out.write(chunk)
    out.write(b"</sheetData>")
    out.write(insert_ignored_errors(tail, extras.number_as_text))


def sheet_extras_by_part(
    extras: Mapping[str, SheetExtras], workbook_xml: bytes, workbook_rels: bytes
) -> dict[str, SheetExtras]:
    """`extras` (by sheet name) keyed by the sheet's part instead."""
    parts = worksheet_parts(workbook_xml, workbook_rels)
    return {parts[name]: e for name, e in extras.items()}
