"""The import-ready CSV: exactly the layout's columns, dates in its format, split under the limit.

Pure: builds the files' names and bytes. Writing them (atomically, never over an
existing file) is the shell's job (files.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from xl_pmpm.core.errors import ExportRefused, PmpmInputError
from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.report import written_headers
from xl_pmpm.core.validation import blank_rows, parse_datetimes

# Findings that export itself cures, so they do not block it.
CURED_BY_EXPORT = {"file-too-large"}


@dataclass
class ExportPart:
    """One file of an export: its name, bytes, and the report lines it holds."""

    name: str
    data: bytes
    contract: str
    lines: list[int] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.lines)


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe form of a contract name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")
    return cleaned[:limit].rstrip("-") or "contract"


def import_frame(table: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """The rows as the import file holds them: layout columns, formats normalised.

    An informational column the file does not have is left out (the extract is
    itself the import: a file of only the import's fields is exported as such).
    """
    cols = [c for c in layout.export_columns if c.name in table.columns or not c.informational]
    missing = [c.name for c in cols if c.name not in table.columns]
    if missing:
        raise PmpmInputError(
            f"The table lacks the column(s) {', '.join(missing)}.",
            fix="Restore the missing columns before exporting.",
        )
    out = table[[c.name for c in cols]].fillna("").astype(str).copy()
    for c in cols:
        values = out[c.name].str.strip()
        if c.type == "datetime":
            other = ~values.str.fullmatch(c.format_patterns()[0][1:-1]) & (values != "")
            if other.any():
                stamps = parse_datetimes(values[other], c)
                values = values.copy()
                values[other] = stamps.dt.strftime(c.export_format).where(
                    stamps.notna(), values[other]
                )
        out[c.name] = values
    return out


def _encode(frame: pd.DataFrame, layout: Layout, header: bool) -> bytes:
    text = frame.to_csv(index=False, header=header, lineterminator=layout.line_terminator)
    return text.encode(layout.encoding)


def split_rows(body: bytes, header: bytes, limit: int, terminator: bytes) -> list[tuple[int, int]]:
    """Cut `body` (one record per line) into (first_row, end_row) spans under `limit` bytes each."""
    if not body:
        return []
    ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == terminator[-1]) + 1
    budget = limit - len(header) - 1
    spans = []
    start_row, start_byte = 0, 0
    while start_row < len(ends):
        stop = int(np.searchsorted(ends, start_byte + budget, side="right"))
        if stop <= start_row:
            raise PmpmInputError(
                f"Row {start_row + 1} alone is larger than the {limit:,}-byte upload limit.",
                fix="Shorten its values.",
            )
        spans.append((start_row, stop))
        start_byte = int(ends[stop - 1])
        start_row = stop
    return spans


def build_import_parts(
    table: pd.DataFrame,
    layout: Layout,
    report: ValidationReport,
    *,
    month: str,
    stamp: datetime,
    prefix: str = "PMPM",
) -> list[ExportPart]:
    """The import files for a validated table, one set per contract.

    Refused (ExportRefused, nothing built) while `report` holds errors.
    """
    blocking = report.errors[~report.errors["code"].isin(CURED_BY_EXPORT)]
    if not blocking.empty:
        raise ExportRefused(
            report,
            f"Export refused: {len(blocking)} error(s) remain "
            f"({', '.join(sorted(set(blocking['code'])))}). Fix them and validate again.",
        )
    live = table[~blank_rows(table)]
    frame = import_frame(live, layout)
    contract_col = layout.name_of("contract")
    heading = frame.iloc[0:0].copy()
    heading.columns = written_headers(table, layout, list(frame.columns))
    header = _encode(heading, layout, header=True)
    term = layout.line_terminator.encode(layout.encoding)
    parts: list[ExportPart] = []
    when = stamp.strftime("%Y%m%dT%H%M%S")
    for contract, rows in frame.groupby(frame[contract_col], sort=True):
        if rows.empty:
            continue
        body = _encode(rows, layout, header=False)
        if body.count(term) != len(rows):
            raise PmpmInputError("A cell holds a line break.", fix="Validate and fix it first.")
        offsets = np.concatenate(
            [[0], np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == term[-1]) + 1]
        )
        spans = split_rows(body, header, layout.max_upload_bytes, term)
        for seq, (a, b) in enumerate(spans, start=1):
            data = header + body[offsets[a] : offsets[b]]
            name = f"{prefix}_{slug(str(contract))}_{month}_{when}_{seq:02d}.csv"
            parts.append(ExportPart(name, data, str(contract), rows.index[a:b].tolist()))
    return parts
