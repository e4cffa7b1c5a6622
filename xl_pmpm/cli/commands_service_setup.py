"""`xl-pmpm service-setup`: a service-code setup export and the contracts' billing-rate
export checked against the rate table (and the rate table itself).

Exit 0 everything matches, 1 errors found, 2 bad input. A setup holds no member data.
The parser is added by `commands_rules.add_commands`.
"""

from __future__ import annotations

import argparse

import pandas as pd

from xl_pmpm.cli.commands_rules import _records
from xl_pmpm.cli.options import emit, guarded, parse_month
from xl_pmpm.core.billing_rates import check_billing_rates
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.service_setup import check_service_setup
from xl_pmpm.core.setup_export import SETUP_FIELDS, SETUP_OPTIONAL, check_setup_export
from xl_pmpm.io import files
from xl_pmpm.io.csv_reader import read_csv_text
from xl_pmpm.io.setup_files import load_billing_rate_mapping
from xl_pmpm.io.workflow import this_month


def _setup_text(path: str, month: str, found: dict[str, pd.DataFrame]) -> str:
    """The findings of `service-setup` as lines (no member data: a setup holds none)."""
    counts = {k: int((f["severity"] == "error").sum()) for k, f in found.items()}
    parts = []
    if "setup" in found:
        parts.append(
            f"{counts['setup']} error(s) in the setup, {counts['rate_table']} in the rate table"
        )
    if "billing_rates" in found:
        parts.append(f"{counts['billing_rates']} error(s) in the billing rates")
    lines = [f"{path}: {', '.join(parts)}; month {month}"]
    for where, frame in found.items():
        for _, f in frame.iterrows():
            place = "file" if pd.isna(f["row"]) else f"line {int(f['row'])}"
            if where == "rate_table":
                place = "rate table " + place
            elif where == "billing_rates":
                place = "billing rates " + place
            if isinstance(f["field"], str):
                place += f", {f['field']}"
            lines.append(f"  {f['severity'].upper():7} {place} ({f['code']}): {f['message']}")
    if not any(counts.values()):
        lines.append(
            "The setup matches the rate table."
            if "setup" in found
            else "The billing rates match the rate table."
        )
    return "\n".join(lines)


def _billing_rates(args: argparse.Namespace, book: RateBook, month: str) -> pd.DataFrame:
    """The findings of the contract billing-rate export (`--billing-rates`)."""
    mapping = load_billing_rate_mapping(args.billing_rates_mapping)
    by_header = {v.lower(): k for k, v in mapping.columns.items()}
    frame = read_csv_text(
        args.billing_rates,
        "The billing-rate export",
        [h for h in by_header if by_header[h] != "to_date"],
        optional=tuple(h for h in by_header if by_header[h] == "to_date"),
    ).rename(columns=by_header)
    if "to_date" not in frame:
        frame["to_date"] = ""
    return check_billing_rates(frame, book, month, mapping)


@guarded
def cmd_service_setup(args: argparse.Namespace) -> int:
    """Check a service-code setup export and/or a billing-rate export against the rate book
    (and the rate book itself)."""
    if not args.file and not args.billing_rates:
        raise PmpmInputError(
            "Nothing to check.",
            fix="Give the service-code setup export (FILE), --billing-rates FILE, or both.",
        )
    month = this_month(parse_month(args.month))
    book = files.load_rate_book(args.rates, args.payers)
    found: dict[str, pd.DataFrame] = {}
    payers: list[str] = []
    rows = 0
    if args.file:
        layout = files.load_layout(args.layout)
        names = {**SETUP_FIELDS, **SETUP_OPTIONAL}
        by_header = {v.lower(): k for k, v in names.items()}
        frame = read_csv_text(
            args.file,
            "The service-code setup",
            [v.lower() for v in SETUP_FIELDS.values()],
            optional=tuple(v.lower() for v in SETUP_OPTIONAL.values()),
        ).rename(columns=by_header)
        disc = layout.column("discipline")
        skilled = disc.skilled if disc is not None and disc.skilled else ("Other (Skilled)",)
        pa = next((a for a in (disc.allowed if disc else ()) if a not in skilled), "PA")
        setup = check_setup_export(frame, book, month, skilled=skilled, pa=pa)
        payers = sorted({book.payer_of_contract(c) for c in frame["contract"]})
        table = pd.concat(
            [check_service_setup(book, p, [month]) for p in payers] or [setup.iloc[0:0]],
            ignore_index=True,
        ).drop_duplicates()
        found = {"setup": setup, "rate_table": table}
        rows = len(frame)
    if args.billing_rates:
        found["billing_rates"] = _billing_rates(args, book, month)
    errors = sum(int((f["severity"] == "error").sum()) for f in found.values())
    payload = {
        "file": str(args.file) if args.file else None,
        "billing_rates_file": str(args.billing_rates) if args.billing_rates else None,
        "month": month,
        "rows": rows,
        "payers": payers,
        "valid": errors == 0,
        **{k: _records(f) for k, f in found.items()},
    }
    shown = " and ".join(str(p) for p in (args.file, args.billing_rates) if p)
    emit(args, payload, _setup_text(shown, month, found))
    return 0 if errors == 0 else 1
