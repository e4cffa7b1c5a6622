"""A tier report as read (the all-text table and what reading found) and its header rule.

Both readers (CSV in ``xl_pmpm.io.csv_reader``, workbooks in
``xl_pmpm.io.workbook_reader``) name their columns with :func:`match_header`, so a
header means the same whatever file it came in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from xl_pmpm.core.findings import (
    ERROR,
    WARNING,
    empty_findings,
    file_finding,
    finding_rows,
)
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.values import squash


@dataclass
class TierReport:
    """A tier report as read: the text table, where it came from, and what reading found."""

    table: pd.DataFrame
    source: str
    findings: pd.DataFrame = field(default_factory=empty_findings)
    encoding: str = "utf-8"
    size: int = 0
    readable: bool = True
    # The extract as first loaded (a billers' workbook keeps it), on the same rows: the
    # locked fields are checked against it.
    original: pd.DataFrame | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Each column's header as the file had it (see `match_header`)."""
        return dict(self.table.attrs.get(HEADERS_ATTR, {}))


# `table.attrs` key: layout column name -> the header text the file gave it.
HEADERS_ATTR = "headers"


def written_headers(table: pd.DataFrame, layout: Layout, names: list[str]) -> list[str]:
    """The header to write for each of `names` (layout column names).

    An import field gets its name in the import specification, exactly; an
    informational column (not in the specification) keeps the header the biller's
    file gave it ("Total Billed" stays "Total Billed"). Other names stay as they are.
    """
    read = table.attrs.get(HEADERS_ATTR, {})
    out = []
    for name in names:
        try:
            col = layout.get(name)
        except KeyError:
            out.append(name)
            continue
        out.append(read.get(name, name) if col.informational else name)
    return out


def as_written(table: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """`table` with its columns headed as `written_headers` says (for saving a reviewed file)."""
    out = table.copy()
    out.columns = written_headers(table, layout, list(table.columns))
    return out


# A UTF-8 byte-order mark read as Windows-1252 text and saved again ("ï»¿Agency ID").
_MOJIBAKE_BOM = "\u00ef\u00bb\u00bf"


def _squash(name: str) -> str:
    return squash(name.removeprefix(_MOJIBAKE_BOM))


def _trailing_message(extra: int, width: int, lengths: pd.Series | None) -> str:
    """What is true of the trailing delimiters that were trimmed: every line's, or the header's."""
    if lengths is None or len(lengths) < 2:
        return f"Every line ends with {extra} extra delimiter(s)."
    rows = lengths.iloc[1:]
    longer = int((rows > width).sum())
    if longer == len(rows):
        return f"Every line ends with {extra} extra delimiter(s)."
    if longer == 0:
        return f"The header ends with {extra} extra delimiter(s); the lines below do not."
    return (
        f"The header ends with {extra} extra delimiter(s), and so do {longer} of the "
        f"{len(rows)} lines below."
    )


def match_header(
    header: list[str],
    body: pd.DataFrame,
    lengths: pd.Series | None,
    layout: Layout,
    header_row: int = 1,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Name `body`'s columns from `header` against the layout, with the header's findings.

    `lengths` (each record's own length, for CSV) finds ragged rows; None for a
    workbook, whose rows cannot be ragged. `header_row` is the header's line.
    """
    findings: list[pd.DataFrame] = []
    exact = {h: c.name for c in layout.columns for h in c.header_names}
    squashed = {_squash(h): c.name for c in layout.columns for h in c.header_names}
    informational = {c.name for c in layout.columns if c.informational}
    as_read: dict[str, str] = {}
    width = len(header)
    while (
        width > 0
        and header[width - 1].strip() == ""
        and (body.empty or (body.iloc[:, width - 1] == "").all())
    ):
        width -= 1  # trailing delimiters on every line: empty unnamed columns
    names: list[str] = []
    seen: dict[str, int] = {}
    for pos, raw in enumerate(header[:width], start=1):
        name = raw
        if raw in exact:
            name = exact[raw]
            as_read.setdefault(name, raw)
        elif _squash(raw) in squashed and squashed[_squash(raw)] in informational:
            # Not in the import specification: any spelling of it is the extract's own.
            name = squashed[_squash(raw)]
            as_read.setdefault(name, raw)
        elif _squash(raw) in squashed:
            name = squashed[_squash(raw)]
            findings.append(
                file_finding(
                    "header-variant",
                    f"Header '{raw}' (column {pos}) should read '{name}'.",
                    field=name,
                    value=raw,
                    row=header_row,
                )
            )
        else:
            label = raw if raw.strip() else f"(unnamed column {pos})"
            findings.append(
                file_finding(
                    "extra-column",
                    f"Column {pos} '{label}' is not in the import layout.",
                    field=label,
                    value=raw,
                    row=header_row,
                )
            )
            name = label
        if name in seen:
            findings.append(
                file_finding(
                    "duplicate-column",
                    f"'{name}' appears as column {seen[name]} and again as column {pos}.",
                    field=name,
                    value=raw,
                    row=header_row,
                )
            )
            name = f"{name} (column {pos})"
        seen.setdefault(name, pos)
        names.append(name)
    if width < len(header):
        findings.append(
            file_finding(
                "ragged-row",
                _trailing_message(len(header) - width, width, lengths),
                value="",
                row=header_row,
                severity=WARNING,
            )
        )
    missing = [n for n in layout.expected_names if n not in seen]
    for n in missing:
        findings.append(
            file_finding("missing-column", f"The column '{n}' is missing.", field=n, row=header_row)
        )
    present = [n for n in layout.names if n in seen]
    if [n for n in names if n in set(present)] != present:
        findings.append(
            file_finding(
                "column-order", "The columns are not in the import layout's order.", row=header_row
            )
        )

    table = body.iloc[:, :width].copy()
    table.columns = names
    table.attrs[HEADERS_ATTR] = as_read
    if lengths is not None:
        rows = lengths.iloc[1:]
        extra = body.iloc[:, width:]
        lost = (extra != "").any(axis=1) if extra.shape[1] else pd.Series(False, index=body.index)
        blank_line = (body == "").all(axis=1)
        short = (rows < width) & ~blank_line
        # Longer than the header itself (a header ending in delimiters trims `width` only).
        long_ = (rows > len(header)) & lost
        trailing = (rows > len(header)) & ~lost & ~blank_line
        for bad, message, severity in (
            (short, f"The line has fewer values than the header's {width}.", ERROR),
            (long_, f"The line has more values than the header's {width}.", ERROR),
            (trailing, "The line ends with extra delimiters.", WARNING),
        ):
            if bad.any():
                findings.append(
                    finding_rows(
                        "ragged-row",
                        rows.index[bad],
                        None,
                        rows[bad].astype(str),
                        message,
                        severity=severity,
                    )
                )
        if long_.any():
            # keep the overflow so nothing is lost; export refuses while it is there
            for k in range(extra.shape[1]):
                table[f"(overflow {width + k + 1})"] = extra.iloc[:, k]
    return table, findings
