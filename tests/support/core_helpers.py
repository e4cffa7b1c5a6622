"""Shared builders for the core tests: valid tier-report rows and CSV bytes from the layout."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.report import TierReport
from xl_pmpm.core.validation import validate_report
from xl_pmpm.io import files

LAYOUT: Layout = files.load_layout()
BOOK: RateBook = files.load_rate_book()

MONTH = "2025-03"
DAY = "2025-03-01"
# Inside the submission window of MONTH (2025-04-01 .. 2025-06-29).
AS_OF = date(2025, 4, 15)

# The tier report as downloaded: the import fields and the informational columns.
HEADER: list[str] = [c.name for c in LAYOUT.columns if not c.optional]
EXPORT_HEADER: list[str] = [c.name for c in LAYOUT.export_columns]

# Column names by role, so tests read like the layout.
AGENCY = LAYOUT.name_of("agency_id")
OFFICE = LAYOUT.name_of("office_id")
PATIENT = LAYOUT.name_of("patient_number")
SCHED_START = LAYOUT.name_of("schedule_start")
SCHED_END = LAYOUT.name_of("schedule_end")
VISIT_START = LAYOUT.name_of("visit_start")
VISIT_END = LAYOUT.name_of("visit_end")
CAREGIVER = LAYOUT.name_of("caregiver_code")
PAY_RATE = LAYOUT.name_of("pay_rate")
DISCIPLINE = LAYOUT.name_of("discipline")
CONTRACT = LAYOUT.name_of("contract")
SERVICE = LAYOUT.name_of("service_code")
NAME = LAYOUT.name_of("patient_name")
BILLED = LAYOUT.name_of("billed_hours")
UNBILLED = LAYOUT.name_of("unbilled_hours")
TIER = LAYOUT.name_of("tier")
AUTHORIZED = LAYOUT.name_of("authorized_hours")

DEFAULT_CONTRACT = "Linked - Metro MLTC CDPAP"


def valid_row(i: int = 0, **overrides: str) -> dict[str, str]:
    """One valid Tier 1 row of MONTH (patient number unique per `i`).

    Overrides are keyed by column name: `valid_row(**{TIER: "2"})`.
    """
    row = {
        AGENCY: "48213",
        OFFICE: "702",
        PATIENT: f"{1000000 + i:010d}",
        SCHED_START: f"{DAY} 03:00",
        SCHED_END: f"{DAY} 03:15",
        VISIT_START: f"{DAY} 03:00",
        VISIT_END: f"{DAY} 03:15",
        CAREGIVER: "1000",
        PAY_RATE: "Non Payable",
        DISCIPLINE: "PA",
        CONTRACT: DEFAULT_CONTRACT,
        SERVICE: "2443",
        NAME: f"Ana Smith {i}",
        BILLED: "100.00",
        UNBILLED: "0.00",
        TIER: "1",
    }
    unknown = set(overrides) - set(row)
    if unknown:
        raise KeyError(f"not a layout column: {sorted(unknown)}")
    row.update(overrides)
    return row


def valid_rows(n: int, **overrides: str) -> list[dict[str, str]]:
    return [valid_row(i, **overrides) for i in range(n)]


def valid_table(n: int = 3) -> pd.DataFrame:
    """A valid all-text table indexed by file line number (first data row = line 2)."""
    frame = pd.DataFrame(valid_rows(n), columns=HEADER, dtype=str)
    frame.index = pd.RangeIndex(2, n + 2, name="line")
    return frame


def csv_text(
    header: list[str],
    rows: list[dict[str, str]] | list[list[str]],
    *,
    sep: str = ",",
    eol: str = "\r\n",
) -> str:
    """CSV text: `rows` are dicts (ordered by `header`) or ready lists of cells."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator=eol)
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.get(h, "") for h in header] if isinstance(r, dict) else r)
    return buf.getvalue()


def csv_bytes(
    header: list[str] | None = None,
    rows: list[dict[str, str]] | list[list[str]] | None = None,
    *,
    sep: str = ",",
    eol: str = "\r\n",
    encoding: str = "utf-8",
) -> bytes:
    header = HEADER if header is None else header
    rows = valid_rows(2) if rows is None else rows
    return csv_text(header, rows, sep=sep, eol=eol).encode(encoding)


def write(tmp_path: Path, data: bytes, name: str = "report.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@dataclass
class Checked:
    report: TierReport
    validation: ValidationReport
    flags: pd.DataFrame

    @property
    def findings(self) -> pd.DataFrame:
        return self.validation.findings

    def of(self, code: str) -> pd.DataFrame:
        """The findings of one code."""
        return self.findings[self.findings["code"] == code]

    def codes(self) -> set[str]:
        return set(self.findings["code"])

    def places(self, code: str) -> list[tuple[str, int | None, str | None]]:
        """(severity, row, field) of each finding of `code`, in report order."""
        f = self.of(code)
        return [
            (
                str(s),
                None if pd.isna(r) else int(r),
                None if pd.isna(fl) else str(fl),
            )
            for s, r, fl in zip(f["severity"], f["row"], f["field"], strict=True)
        ]


def check_bytes(
    tmp_path: Path,
    data: bytes,
    *,
    layout: Layout = LAYOUT,
    book: RateBook = BOOK,
    name: str = "report.csv",
    month: str | None = None,
    as_of: date | None = None,
    original: pd.DataFrame | None = None,
) -> Checked:
    """Write `data` to a file, then read and validate it as the workflow does."""
    path = write(tmp_path, data, name)
    report = files.read_tier_report(path, layout)
    validation, flags = validate_report(
        report, layout, book, month=month, as_of=as_of, original=original
    )
    return Checked(report, validation, flags)


def check_rows(tmp_path: Path, rows: list[dict[str, str]], **kw) -> Checked:
    return check_bytes(tmp_path, csv_bytes(HEADER, rows), **kw)
