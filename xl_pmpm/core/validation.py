"""Validation of a tier report against the import layout, the rates and the claim rules.

One pass, vectorized per column (no Python loop per row), collecting every
finding; see findings.py for the codes. The checks live beside it: value_checks
(each value), row_checks (whole rows), tier_checks (rows against their tier flags),
file_checks (the file as a whole) and hygiene (cells a biller cannot see).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.file_checks import (
    check_locked_fields,
    check_submission_window,
    payer_findings,
    skipped_checks,
)
from xl_pmpm.core.findings import ValidationReport, combine, file_finding, finding_rows
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.hygiene import hours_implausible, tier_not_a_label, without_tier_noise
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.parallel import by_row_slices, side_by_side
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.report import TierReport
from xl_pmpm.core.row_checks import (
    blank_rows,
    duplicate_members,
    pair_findings,
    repeated_header_rows,
    time_findings,
    totals_rows,
)
from xl_pmpm.core.tier_checks import tier_findings
from xl_pmpm.core.value_checks import cell_checks, column_findings, parse_datetimes
from xl_pmpm.core.values import Distinct, distinct_values, per_value_columns

# The roles the tier flags and the tier checks read, kept factorized for them.
_TIER_ROLES = (
    "contract",
    "billed_hours",
    "unbilled_hours",
    "authorized_hours",
    "tier",
    "service_code",
    "discipline",
    "visit_start",
    "visit_end",
)


def billing_month(
    table: pd.DataFrame,
    layout: Layout,
    rows: np.ndarray | None = None,
    coded: Mapping[str, Distinct] | None = None,
) -> tuple[pd.Period | None, int]:
    """The month most schedule start dates fall in (of the `rows` true, where given), and
    how many months appear. Each distinct date is read once (`coded`: the column's
    factorizing where the caller made it), counted as often as rows hold it."""
    col = layout.column("schedule_start")
    if col is None or col.name not in table.columns:
        return None, 0
    column = coded.get(col.name) if coded else None
    if column is None:
        column = distinct_values(table[col.name])
    codes = column.codes if rows is None else column.codes[rows]
    counts = np.bincount(codes, minlength=len(column.uniques))
    stamps = parse_datetimes(column.uniques.str.strip(), col)
    read = stamps.notna().to_numpy() & (counts > 0)
    if not read.any():
        return None, 0
    months = pd.Series(counts[read], index=stamps[read].dt.to_period("M").array)
    per_month = months.groupby(level=0).sum()
    most = per_month[per_month == per_month.max()]
    return most.index.min(), len(per_month)  # ties: the earliest month, as Series.mode


def validate_table(
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    *,
    month: pd.Period | str | None = None,
    as_of: date | None = None,
    original: pd.DataFrame | None = None,
    flags: pd.DataFrame | None = None,
    source: str = "",
    read_findings: pd.DataFrame | None = None,
) -> tuple[ValidationReport, pd.DataFrame]:
    """Validate a tier-report table; returns the report and the rows' tier flags."""
    parts: list[pd.DataFrame] = [] if read_findings is None else [read_findings]
    if table.empty:
        parts.append(file_finding("no-rows", "The file holds a header but no member rows."))
    # Each column factorized once for the row checks and the cell checks.
    coded = (
        dict(
            zip(
                table.columns,
                side_by_side(distinct_values, (table[n] for n in table.columns), len(table)),
                strict=True,
            )
        )
        if table.columns.is_unique
        else {}
    )
    blank = blank_rows(table, coded)
    if blank.any():
        parts.append(finding_rows("blank-row", table.index[blank], None, "", "The row is blank."))
    header = repeated_header_rows(table, coded) & ~blank
    if header.any():
        parts.append(
            finding_rows(
                "repeated-header",
                table.index[header],
                None,
                "",
                "The line repeats the header (two files pasted together?).",
            )
        )
    totals = totals_rows(table, layout, coded) & ~blank & ~header
    if totals.any():
        parts.append(
            finding_rows(
                "totals-row",
                table.index[totals],
                None,
                "",
                "The line is a totals line, not a member.",
            )
        )
    live = ~(blank | header | totals)  # lines that are not member rows get no cell findings

    parsed: dict[str, pd.Series] = {}
    cols = [col for col in layout.columns if col.name in table.columns]
    raws = [table[col.name].fillna("").astype(str) for col in cols]
    distinct = [coded.get(col.name, raw) for col, raw in zip(cols, raws, strict=True)]
    every_check = per_value_columns(
        distinct,
        lambda u, owner: by_row_slices(lambda s: cell_checks(u.iloc[s], cols, owner[s]), len(u)),
        lazy=True,
    )
    parts.extend(  # a generator: its loop names go with it (none when no column is known)
        found
        for col, raw, checks in zip(cols, raws, every_check, strict=True)
        for found in column_findings(table, col, raw, checks, live, parsed)
    )
    # The member key from the IDs factorized above; then the factorized columns go (their
    # codes and distinct values are a large table's biggest scratch).
    duplicates = duplicate_members(table, layout, live, coded)
    if month is None:  # each distinct date read once, before the factorized columns go
        found, count = billing_month(table, layout, None if live.all() else live, coded)
    # The tier rules' columns stay factorized (a few distinct values each).
    kept = {c.name: coded[c.name] for c in map(layout.column, _TIER_ROLES) if c and c.name in coded}
    del coded, distinct, every_check, raws
    parts.extend(pair_findings(table, layout, live, kept))
    if live.any():
        parts.extend(skipped_checks(table, layout))

    if month is None:
        if found is None:
            if live.any():
                parts.append(file_finding("no-month", "No schedule start date could be read."))
        elif count > 1:
            parts.append(
                file_finding(
                    "mixed-months",
                    f"The schedule dates span {count} months; {found} is taken as "
                    "the billing month.",
                    value=str(found),
                )
            )
        period = found
    else:
        period = pd.Period(month, freq="M")
    parts.extend(time_findings(table, layout, parsed, period))
    parts.extend(duplicates)
    parts.extend(tier_not_a_label(table, layout, book, live, kept))
    if period is not None:
        if flags is None:
            try:
                flags = flag_tier_risk(table, layout, book, period.to_timestamp(), coded=kept)
            except PmpmInputError as missing:  # no rate in force for a payer and month
                parts.append(file_finding("no-rate", missing.message, value=str(period)))
        if flags is not None:
            parts.extend(tier_findings(table, layout, flags, live, kept))
        parts.extend(payer_findings(table, layout, book, live, period, kept))
        parts.extend(hours_implausible(table, layout, live, period, kept))
        if as_of is not None:
            present = sorted(flags.loc[live, "payer"].unique()) if flags is not None else None
            parts.extend(check_submission_window(period, as_of, book, present or None))
    if original is not None:
        parts.append(check_locked_fields(original, table, layout))
    findings = without_tier_noise(combine(parts))
    # An ID the reader already proved mangled (a number in a workbook) is not also
    # reported as merely suspicious.
    mangled = findings["code"] == "id-mangled"
    if mangled.any():
        twice = findings[mangled].duplicated(["row", "field"], keep="first")
        findings = findings.drop(index=twice[twice].index).reset_index(drop=True)
    report = ValidationReport(
        findings=findings,
        rows=int(live.sum()),
        source=source,
        month=None if period is None else str(period),
        as_of=None if as_of is None else as_of.isoformat(),
    )
    return report, flags if flags is not None else pd.DataFrame(index=table.index)


def validate_report(
    report: TierReport,
    layout: Layout,
    book: RateBook,
    *,
    month: pd.Period | str | None = None,
    as_of: date | None = None,
    original: pd.DataFrame | None = None,
) -> tuple[ValidationReport, pd.DataFrame]:
    """Validate a tier report as read from a file (reading findings included)."""
    if not report.readable:
        result = ValidationReport(
            report.findings,
            0,
            report.source,
            None if month is None else str(month),
            None if as_of is None else as_of.isoformat(),
        )
        return result, pd.DataFrame(index=report.table.index)
    return validate_table(
        report.table,
        layout,
        book,
        month=month,
        as_of=as_of,
        original=original if original is not None else report.original,
        source=report.source,
        read_findings=report.findings,
    )
