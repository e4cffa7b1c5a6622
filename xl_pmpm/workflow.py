"""The monthly workflow on files: read, validate, review, export. A shell over the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from . import files
from .export import build_import_parts
from .findings import ValidationReport
from .flags import risk_total
from .layout import Layout
from .rates import RateBook
from .report import TierReport
from .review import DEFER, DELETE, defer_rows, delete_rows, suggest_actions
from .validation import validate_report, validate_table


@dataclass
class Checked:
    """A tier report read and validated, with its rows' tier flags."""

    report: TierReport
    validation: ValidationReport
    flags: pd.DataFrame


@dataclass
class Exported:
    files: list[Path]
    rows: int
    validation: ValidationReport
    contracts: dict[str, int] = field(default_factory=dict)


def check_file(
    path: str | Path,
    layout: Layout,
    book: RateBook,
    *,
    month: str | None = None,
    as_of: date | None = None,
    original: str | Path | None = None,
) -> Checked:
    """Read and validate a tier report file."""
    report = files.read_tier_report(path, layout)
    before = files.read_tier_report(original, layout).table if original else None
    validation, flags = validate_report(
        report, layout, book, month=month, as_of=as_of, original=before
    )
    return Checked(report, validation, flags)


def export_import_file(
    table: pd.DataFrame,
    out_dir: str | Path,
    layout: Layout,
    book: RateBook,
    *,
    month: str | None = None,
    as_of: date | None = None,
    at: datetime,
    source: str = "",
    read_findings: pd.DataFrame | None = None,
) -> Exported:
    """Validate `table` and, if no error remains, write its import file(s) to `out_dir`.

    Raises ExportRefused (nothing written) while errors remain.
    """
    validation, _ = validate_table(
        table, layout, book, month=month, as_of=as_of, source=source, read_findings=read_findings
    )
    parts = build_import_parts(
        table, layout, validation, month=validation.month or "month", stamp=at
    )
    written = [files.write_new_file(out_dir, p.name, p.data) for p in parts]
    contracts: dict[str, int] = {}
    for p in parts:
        contracts[p.contract] = contracts.get(p.contract, 0) + p.rows
    return Exported(written, sum(p.rows for p in parts), validation, contracts)


def apply_actions(
    table: pd.DataFrame,
    actions: pd.DataFrame,
    layout: Layout,
    *,
    at: datetime,
    source: str = "",
    month: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply (line, action, reason) rows; returns the new table and all archive records."""
    records = []
    for action, group in actions.groupby("action", sort=False):
        for reason, rows in group.groupby("reason", sort=True):
            if action == DELETE:
                table, rec = delete_rows(
                    table, rows["line"], reason=reason, at=at, source=source, month=month
                )
            elif action == DEFER:
                table, rec = defer_rows(
                    table, rows["line"], layout, reason=reason, at=at, source=source, month=month
                )
            else:
                continue
            records.append(rec)
    archive = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
    return table, archive


def month_summary(table: pd.DataFrame, flags: pd.DataFrame) -> dict:
    """Members, hours and dollars by tier, and the dollars at risk."""
    live = flags.loc[flags.index.intersection(table.index)]
    by_tier = (
        live.dropna(subset=["tier"])
        .groupby("tier")
        .agg(members=("tier", "size"), hours=("billed_hours", "sum"), dollars=("rate", "sum"))
    )
    return {
        "members": int(len(live)),
        "by_tier": {
            int(t): {
                "members": int(r.members),
                "hours": round(float(r.hours), 2),
                "dollars": round(float(r.dollars), 2),
            }
            for t, r in by_tier.iterrows()
        },
        "billable_dollars": round(float(live["rate"].sum()), 2),
        "at_risk_members": int(live["at_risk"].sum()),
        "at_risk_dollars": risk_total(live),
    }


def suggest_review(checked: Checked) -> pd.DataFrame:
    return suggest_actions(checked.validation.findings, checked.flags)
