"""`xl-pmpm paid`: the 835 remittances per exported member-month.

Exit 0 every PMPM judged was paid at its tier's rate; 1 something is recoverable
(underpaid, paid at a lower tier, denied, reversed, or no remittance after the payer's
days); 2 a file is unreadable or an 835 is malformed (the segment and its byte named).
The text names no member; `--format json` lists each member-month.
"""

from __future__ import annotations

import argparse

from xl_pmpm.cli.commands_kpi import _read_history
from xl_pmpm.cli.options import Rows, add_settings, emit, guarded, parse_as_of, progress
from xl_pmpm.core.remittance import (
    NO_REMITTANCE,
    PAID_TABLES,
    RESULTS,
    UNMATCHED,
    Remittance,
    paid_vs_billed,
)
from xl_pmpm.io import files, ledger
from xl_pmpm.io.ledger import LEDGER_HELP, default_ledger


def _money(value: float) -> str:
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def paid_text(found: Remittance, ledger_name: str) -> str:
    """Totals, then one line per month, payer and result; never a member ID or name."""
    t = found.totals()
    lines = [
        f"Remittances as of {t['as_of']} against {ledger_name}: {t['claims']} claim(s) read, "
        f"{t['pmpm_claims']} PMPM, {t['other_claims']} other (left aside).",
        f"  {_money(t['paid_dollars'])} paid of {_money(t['billed_dollars'])} billed in the "
        f"{t['member_months'] - t['by_result'].get(NO_REMITTANCE, 0)} member-month(s) remitted.",
        f"  Recoverable: {_money(t['recoverable_dollars'])} in "
        f"{t['recoverable_member_months']} member-month(s).",
    ]
    if t["awaiting_member_months"]:
        lines.append(
            f"  Awaiting: {t['awaiting_member_months']} exported member-month(s) without a "
            "claim yet, inside the payer's remittance days."
        )
    if t["by_result"]:
        lines.append("By result:")
        lines += [f"  {code:15} {n:>6}  {RESULTS[code][0]}" for code, n in t["by_result"].items()]
    rec = found.recoverable
    if len(rec):
        lines.append("Recoverable by month, payer and result (nearest deadline first):")
        grouped = (
            rec.groupby(["month", "payer", "result", "submit_until"], sort=True)
            .agg(n=("rate", "size"), short=("difference", "sum"), days=("days_left", "min"))
            .reset_index()
            .sort_values(["days", "month", "payer", "result"])
        )
        for r in grouped.itertuples(index=False):
            left = f"{r.days} day(s) left" if r.days >= 0 else "window closed"
            lines.append(
                f"  {r.month}  {str(r.payer)[:24]:24} {r.result:15} {r.n:>6} member-month(s) "
                f"{_money(r.short):>12}  resubmit by {r.submit_until} ({left})"
            )
        carcs = rec[rec["carc"] != ""].groupby(["carc", "carc_meaning"]).size()
        if len(carcs):
            lines.append("Reason codes (CARC):")
            lines += [f"  {c:8} {n:>6}  {m}" for (c, m), n in carcs.items()]
        lines.append("What to do:")
        lines += [f"  {code}: {RESULTS[code][1]}" for code in sorted(set(rec["result"]))]
    if len(found.unmatched):
        lines.append(f"Unmatched PMPM claims: {len(found.unmatched)}")
        lines += [
            f"  {why:17} {n:>6}  {UNMATCHED[why]}"
            for why, n in found.unmatched["why"].value_counts().items()
        ]
    plb = found.provider_adjustments
    if len(plb):
        lines.append(
            f"Provider adjustments (PLB, not per claim): {len(plb)}, "
            f"{_money(t['provider_adjustments'])} in all."
        )
    if len(rec) or len(found.unmatched):
        lines.append("Member-months are listed with --format json.")
    return "\n".join(lines)


@guarded
def cmd_paid(args: argparse.Namespace) -> int:
    from xl_pmpm.io.remittance import remittance_from_files  # only when 835s are read

    args.ledger = args.ledger or str(default_ledger())
    shown_ledger = ledger.shown(args.ledger) or args.ledger
    history = _read_history(args.ledger)
    book = files.load_rate_book(args.rates, args.payers)
    progress(f"reading {len(args.files)} 835 file(s)", *args.files)
    found = remittance_from_files(
        args.files, history, book, parse_as_of(args.as_of), crosswalk=args.crosswalk
    )
    tables = paid_vs_billed(found)
    payload = {
        "ledger": shown_ledger,
        "totals": found.totals(),
        "results": Rows(found.results),
        "unmatched": Rows(found.unmatched),
        "provider_adjustments": Rows(found.provider_adjustments),
        **{name: Rows(tables[name]) for name in PAID_TABLES},
        "meanings": {code: {"means": m, "fix": f} for code, (m, f) in RESULTS.items()},
    }
    emit(args, payload, paid_text(found, shown_ledger))
    return 1 if len(found.recoverable) else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `paid` to the `xl-pmpm` subparsers."""
    p = sub.add_parser(
        "paid",
        help="835 remittances per member-month: paid, underpaid, denied, reversed, missing",
        description="Read 835 remittance files and match each PMPM claim to its exported "
        "member-month in the ledger: paid, underpaid, paid-lower-tier, denied (with the "
        "reason code), reversed, or no remittance after the payer's days. Exit 0 all paid, "
        "1 something to recover, 2 unreadable input or a malformed 835.",
        example="xl-pmpm paid remittance_2026-11.835 --as-of 2026-12-15",
        group="ledger",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="835 remittance file(s)")
    p.add_argument("--ledger", help=LEDGER_HELP)
    p.add_argument(
        "--crosswalk",
        metavar="CSV",
        help="CSV: Patient Number, Member ID and/or Patient Control Number (default: the "
        "claim's patient control number, then its member ID, is the Patient Number)",
    )
    p.add_argument("--as-of", help="day the remittance days count to YYYY-MM-DD (default: today)")
    add_settings(p, layout=False)
    p.set_defaults(func=cmd_paid)
