"""`xl-pmpm fill`: the month's workbook from an extract, as Load Extract makes it.

A lead biller prepares the month's workbook for the team: every row on All and on its
contract's sheet, each contract with its payer on the Rates sheet, the billing month on
Settings, and the tier columns as formulas that Excel (or LibreOffice) recalculates.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from xl_pmpm.cli.options import add_settings, emit, parse_as_of, parse_month
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.validation import billing_month
from xl_pmpm.io import files

WORKBOOK_SUFFIXES = (".xlsm",)


def cmd_fill(args: argparse.Namespace) -> int:
    from xl_pmpm.workbook import template  # openpyxl and the VBA writer: only when needed

    out = Path(args.out)
    if out.suffix.lower() not in WORKBOOK_SUFFIXES:
        raise PmpmInputError(
            f"--out {out.name}: the workbook is macro-enabled.",
            fix="Name the file with .xlsm, e.g. --out PMPM_2026-10.xlsm.",
        )
    if out.exists():
        raise PmpmInputError(
            f"{out.name} exists already: fill never writes over a workbook.",
            fix="Give a new file name, or move the old workbook away first.",
        )
    layout = files.load_layout(args.layout)
    book = files.load_rate_book(args.rates, args.payers)
    report = files.read_tier_report(args.extract, layout)
    if not report.readable:
        v = ValidationReport(report.findings, 0, report.source)
        emit(args, v.to_dict(), "; ".join(report.findings["message"].astype(str)))
        return 2
    table = report.table.fillna("").astype(str)
    given = parse_month(args.month)
    month = (
        pd.Period(given, freq="M")
        if given is not None
        else billing_month(table, layout)[0]
        if len(table)
        else None
    )
    path = template.build_template(
        out,
        layout,
        book,
        rows=table,
        billing_month=None if month is None else month.start_time.date(),
        as_of=parse_as_of(args.as_of) if args.as_of else None,
    )
    contracts = template.extract_contracts(table, layout)
    payload = {
        "workbook": str(path),
        "rows": len(table),
        "contracts": len(contracts),
        "month": None if month is None else str(month),
    }
    text = (
        f"Wrote {path.name}: {len(table):,} row(s) on All and {len(contracts)} contract "
        f"sheet(s), billing month {payload['month'] or 'not set'}."
    )
    if len(report.findings):
        text += " Reading found problems: run xl-pmpm validate on the extract or the workbook."
    emit(args, payload, text)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fill",
        help="write the month's workbook from an extract (what Load Extract does)",
        description="Write a new billers' workbook (.xlsm) holding the extract: All and one "
        "sheet per contract, the tier columns as formulas. Never overwrites a file.",
        example="xl-pmpm fill report.csv --out PMPM_2026-10.xlsm",
        group="workbook",
    )
    p.add_argument("extract", help="the tier report extract (CSV or workbook)")
    p.add_argument("--out", required=True, help="the workbook to write (.xlsm, a new file)")
    p.add_argument("--month", help="billing month YYYY-MM (default: the extract's)")
    p.add_argument("--as-of", help="as-of date YYYY-MM-DD (default: today, in the workbook)")
    add_settings(p)
    p.set_defaults(func=cmd_fill)
