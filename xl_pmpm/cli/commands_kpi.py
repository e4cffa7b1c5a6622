"""`xl-pmpm kpi`: the KPIs from the export ledger, and reading the ledger's history.

PMPM revenue per member per month, by tier, the tier mix and per payer; with `--visits`
billed vs earned PMPM, with `--remittance` paid vs billed. The text shows totals only,
never a member. `_read_history` (the ledger as the commands read it, with a fix naming
`--ledger`) serves `kpi` and `paid`. The parser is added by `commands_rules.add_commands`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from xl_pmpm.cli.commands_rules import _records
from xl_pmpm.cli.options import emit, guarded, parse_as_of, warn_if_on_network
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.kpi import EARNED_TABLES, KPI_TABLES, billed_vs_earned, kpi_tables, status_counts
from xl_pmpm.io import files, ledger
from xl_pmpm.io.ledger import default_ledger
from xl_pmpm.io.unbilled import earned_from_files
from xl_pmpm.io.visits_reader import load_mapping


def _read_history(path: str) -> pd.DataFrame:
    ledger_fix = (
        "Give --ledger the ledger file your exports were recorded in "
        "(`xl-pmpm ledger where` shows the one the commands use without it)."
    )
    shown = ledger.shown(path)
    server = ledger.looks_like_url(path)
    if not server and not Path(path).is_file():
        problem = "is a folder, not a ledger file" if Path(path).is_dir() else "not found"
        raise PmpmInputError(f"Ledger {problem}.", file=shown, fix=ledger_fix)
    warn_if_on_network(path)
    try:
        return ledger.history(path)
    except ledger.LedgerUnusable as exc:
        if server or exc.damaged:
            raise  # its own message says what is wrong and what to do (restore the backup)
        raise PmpmInputError(
            f"Ledger cannot be read ({exc.kind}).", file=shown, fix=ledger_fix
        ) from None
    except PmpmInputError as exc:
        if server or exc.message.startswith("The xl-pmpm ledger is damaged"):
            raise  # its own message says what is wrong and what to do (restore the backup)
        raise PmpmInputError(exc.message, file=shown, fix=ledger_fix) from None


def _kpi_text(path: str | None, tables: dict[str, pd.DataFrame], counts: dict[str, int]) -> str:
    """The KPI tables as text: totals only, never a member."""
    n = counts["exported"]
    lines = [
        f"KPIs of {path}: {n} exported entr{'y' if n == 1 else 'ies'} counted "
        f"(not counted: {counts['pending']} pending, {counts['rejected']} rejected, "
        f"{counts['placeholder']} placeholder(s))."
    ]
    if tables["by_month"].empty:
        lines.append("Nothing exported yet: no KPI to show.")
        return "\n".join(lines)
    titles = {
        "by_month": "PMPM revenue per member per month",
        "by_tier": "Members and revenue by tier",
        "tier_mix": "Tier mix: share of the month's members, change from the month before",
        "by_payer": "By payer",
    }
    money = "{:,.2f}".format
    formats = {
        "revenue": money,
        "revenue_per_member": money,
        "share": "{:.1%}".format,
        "share_change": lambda v: "" if pd.isna(v) else f"{v * 100:+.1f} pts",
    }
    for name in KPI_TABLES:
        frame = tables[name].astype(object).where(tables[name].notna(), "")
        for col, fmt in formats.items():
            if col in frame:
                frame[col] = [fmt(v) if v != "" else "" for v in frame[col]]
        lines += ["", f"{titles[name]}:", frame.to_string(index=False)]
    return "\n".join(lines)


@guarded
def cmd_kpi(args: argparse.Namespace) -> int:
    args.ledger = args.ledger or str(default_ledger())
    history = _read_history(args.ledger)
    book = files.load_rate_book(args.rates, args.payers)
    tables = kpi_tables(history, book)
    counts = status_counts(history)
    payload = {
        "ledger": ledger.shown(args.ledger),
        "counted": (
            "confirmed exported entries only; pending, rejected and placeholder entries "
            "are left out"
        ),
        "entries": counts,
        **{name: _records(tables[name]) for name in KPI_TABLES},
    }
    text = _kpi_text(ledger.shown(args.ledger), tables, counts)
    if args.visits:
        earned_rows = earned_from_files(args.visits, load_mapping(args.mapping), book)
        earned = billed_vs_earned(earned_rows, history, book)
        payload.update({name: _records(earned[name]) for name in EARNED_TABLES})
        text += "\n\n" + _earned_text(earned)
    if args.remittance:
        from xl_pmpm.core.remittance import PAID_TABLES, paid_vs_billed
        from xl_pmpm.io.remittance import remittance_from_files

        remit = remittance_from_files(args.remittance, history, book, parse_as_of(args.as_of))
        paid = paid_vs_billed(remit)
        payload.update({name: _records(paid[name]) for name in PAID_TABLES})
        text += "\n\n" + _paid_text(paid)
    emit(args, payload, text)
    return 0


def _paid_text(tables: dict[str, pd.DataFrame]) -> str:
    """Paid vs billed PMPM per month and per payer, from the 835s: totals, never a member."""
    titles = {
        "paid_vs_billed_by_month": "Paid vs billed PMPM (paid: the 835 remittances)",
        "paid_vs_billed_by_payer": "Paid vs billed PMPM by payer",
    }
    lines: list[str | None] = []
    for name, title in titles.items():
        frame = tables[name].astype(object).where(tables[name].notna(), "")
        for col in ("billed", "paid", "recoverable"):
            frame[col] = [f"{v:,.2f}" for v in frame[col]]
        frame["paid_share"] = ["" if v == "" else f"{v:.1%}" for v in frame["paid_share"]]
        lines += ["" if lines else None, f"{title}:", frame.to_string(index=False)]
    return "\n".join(x for x in lines if x is not None)


def _earned_text(tables: dict[str, pd.DataFrame]) -> str:
    """Billed vs earned PMPM, per month and per payer: totals only, never a member."""
    titles = {
        "billed_vs_earned_by_month": "Billed vs earned PMPM (earned: billed visits in the month)",
        "billed_vs_earned_by_payer": "Billed vs earned PMPM by payer",
    }
    lines: list[str | None] = []
    for name in EARNED_TABLES:
        frame = tables[name].astype(object).where(tables[name].notna(), "")
        for col in ("earned_revenue", "billed_revenue", "unbilled_revenue"):
            frame[col] = [f"{v:,.2f}" for v in frame[col]]
        frame["billed_share"] = ["" if v == "" else f"{v:.1%}" for v in frame["billed_share"]]
        lines += ["" if lines else None, f"{titles[name]}:", frame.to_string(index=False)]
    return "\n".join(x for x in lines if x is not None)
