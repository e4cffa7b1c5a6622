"""`xl-pmpm carry-over`: rows deferred or removed in earlier months, back into a report."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import pandas as pd

from xl_pmpm.cli.commands_month import _settings, parse_lines
from xl_pmpm.cli.options import (
    Rows,
    emit,
    guarded,
    parse_as_of,
    parse_month,
    warn_if_on_network,
)
from xl_pmpm.core.carryover import (
    CARRY,
    Settled,
    against_ledger,
    by_month,
    carry_into,
    carry_over_candidates,
    choose_records,
    in_window,
)
from xl_pmpm.core.claims import submission_window
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.review import ARCHIVE_META
from xl_pmpm.core.unbilled import ledger_outcomes
from xl_pmpm.core.validation import validate_report
from xl_pmpm.io import files
from xl_pmpm.io.ledger import default_ledger
from xl_pmpm.io.unbilled import read_entries

CARRY_COLUMNS = ("billed_hours", "unbilled_hours", "tier", "contract")


def _carry_listing(rows: pd.DataFrame, layout) -> list[str]:
    """One line per record: where it came from and its hours; no member ID or name."""
    names = {r: layout.name_of(r) for r in CARRY_COLUMNS}
    lines = []
    for _, r in rows.iterrows():
        cells = {k: str(r.get(n, "")) if pd.notna(r.get(n, "")) else "" for k, n in names.items()}
        lines.append(
            f"  line {int(r['line']):>5}  {r['month'] or '(month?)':8} {r['action']:6} "
            f"{cells['contract'][:32]:32} billed {cells['billed_hours']:>7}  "
            f"unbilled {cells['unbilled_hours']:>7}  tier {cells['tier'] or '-':2}  "
            f"{r['reason']}  [{r['source']}]"
        )
    return lines


def _settle(args: argparse.Namespace, chosen: pd.DataFrame, layout) -> Settled:
    """`chosen` split by what the ledger holds of its member-months (none: all to carry)."""
    if chosen.empty:  # nothing set aside (an empty archive has no columns at all)
        return Settled(chosen, chosen, chosen)
    db = args.ledger or default_ledger()
    months = sorted(set(chosen["month"].astype(str)) - {""})
    entries, _ = read_entries(db, required=bool(args.ledger), months=months or None)
    if entries is None or not months:
        return Settled(chosen, chosen.iloc[0:0], chosen.iloc[0:0])
    warn_if_on_network(db)
    return against_ledger(chosen, ledger_outcomes(entries), layout.name_of("patient_number"))


def _own_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """An empty table of the columns the archived rows had in their own report."""
    kept = [c for c in rows.columns if c not in ARCHIVE_META and rows[c].notna().any()]
    return pd.DataFrame(columns=kept, dtype=str)


def _by_source(rows: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(month, source, 'lines a, b, c') for each month and report the rows came from."""
    if rows.empty:
        return []
    return [
        (str(m), str(src), ", ".join(str(n) for n in sorted(g["line"].astype(int))))
        for (m, src), g in rows.groupby(["month", "source"], sort=True)
    ]


def _held_lines(settled: Settled) -> list[str]:
    lines = []
    for month, source, which in _by_source(settled.placeholder):
        lines.append(
            f"  {source}, {month}: line(s) {which} went out as placeholders, not carried again. "
            "Confirm the placeholders in HHAeXchange instead (their visits wait in "
            "pre-billing, unconfirmed)."
        )
    for month, source, which in _by_source(settled.exported):
        lines.append(
            f"  {source}, {month}: line(s) {which} are already exported for {month} (another "
            "row of the member): nothing to carry."
        )
    return lines


@guarded
def cmd_carry_over(args: argparse.Namespace) -> int:
    if args.into and not args.out:
        raise PmpmInputError(
            "--into and --out go together.",
            fix="Give --out DIR for the carried rows' reports, or neither to list.",
        )
    if args.out and not (args.into or args.month):
        raise PmpmInputError(
            "--out needs the new month: --month YYYY-MM (or --into NEW_REPORT).",
            fix="Rows set aside before that month are carried, each to its own month's report.",
        )
    if args.lines and not args.out:
        raise PmpmInputError(
            "--lines chooses rows to carry.", fix="Give it with --out (and --month or --into)."
        )
    layout, book = _settings(args)
    archive_dir = Path(args.archive)
    if not archive_dir.is_dir():
        raise PmpmInputError(
            "No archive folder here.",
            file=str(archive_dir),
            fix="Give the archive folder `xl-pmpm review` wrote (OUT/archive by default).",
        )
    archive = files.read_archive(archive_dir)
    month = parse_month(args.month)
    as_of = parse_as_of(args.as_of)
    report = None
    if args.into:
        report = files.read_tier_report(args.into, layout)
        if not report.readable:
            raise PmpmInputError(
                "The new month's report cannot be read.",
                file=args.into,
                fix="Run `xl-pmpm validate` on it.",
            )
        if month is None:
            found = validate_report(report, layout, book)[0].month
            month = None if found is None else str(found)
    candidates = carry_over_candidates(archive, month)
    if not args.out:
        settled = _settle(args, candidates, layout)
        offered = settled.carry
        payload: dict[str, object] = {
            "archive": str(archive_dir),
            "month": month,
            "rows": Rows(offered),
            "placeholders": Rows(settled.placeholder),
            "exported": Rows(settled.exported),
        }
        lines = [
            f"{len(offered)} row(s) set aside"
            + (f" before {month}" if month else "")
            + f" and not restored, carried or exported yet ({archive_dir}):"
        ]
        lines += _carry_listing(offered, layout)
        lines += _held_lines(settled)
        if len(offered):
            lines.append(
                "Carry them, each into a report of its own service month: xl-pmpm carry-over "
                f"--archive {archive_dir} --into NEW_REPORT.csv --out DIR [--lines L]"
            )
        emit(args, payload, "\n".join(lines))
        return 0
    chosen = choose_records(
        candidates, parse_lines(args.lines) if args.lines else None, args.source
    )
    settled = _settle(args, chosen, layout)
    carry, closed, unknown = in_window(settled.carry, as_of)
    now = datetime.now()
    written: list[dict] = []
    notes: list[str] = []
    for service_month, rows in by_month(carry):
        start, until = submission_window(service_month)
        name = f"PMPM_Tier_Report_{service_month}_carried_{now:%Y%m%dT%H%M%S}.csv"
        # The columns of the new report, else those of the report the rows came from.
        columns = report.table.iloc[0:0] if report is not None else _own_columns(rows)
        table, records = carry_into(columns, rows, at=now, into=name)
        path = files.write_new_file(
            args.out, name, table.to_csv(index=False, lineterminator="\r\n").encode()
        )
        # Recorded only once the new file exists: a failure in between offers the rows
        # again rather than losing them.
        kept = files.write_archive(archive_dir, records, CARRY, now)
        written.append(
            {
                "month": service_month,
                "file": str(path),
                "archive": str(kept),
                "carried": len(rows),
                "lines": rows["line"].astype(int).tolist(),
                "submit_from": str(start),
                "submit_until": str(until),
                "rows": Rows(rows),
            }
        )
        opens = f"opens {start}, " if as_of < start else ""
        notes.append(
            f"Wrote {path}: {len(rows)} row(s) set aside from {service_month}, for "
            f"{service_month} with their original values ({service_month}'s submission "
            f"window: {opens}until {until}, {(until - as_of).days} day(s) left).\n"
            f"  recorded as carried in {kept}\n"
            f"  Check it: xl-pmpm validate {path} --month {service_month}"
        )
    for _, r in closed.iterrows():
        notes.append(
            f"  line {int(r['line'])} ({r['month']}, {r['source']}): {r['month']}'s submission "
            f"window closed on {submission_window(r['month'])[1]}; not carried (xl-pmpm "
            "unbilled lists it as lost)."
        )
    for _, r in unknown.iterrows():
        notes.append(
            f"  line {int(r['line'])} ({r['source']}): its service month is not recorded; "
            "not carried. Restore it into its own report with xl-pmpm restore."
        )
    notes += _held_lines(settled)
    if not written and not notes:
        notes.append(
            f"Nothing to carry: no row set aside before {month} is waiting in {archive_dir}."
        )
    payload = {
        "month": month,
        "files": written,
        "file": written[0]["file"] if len(written) == 1 else None,
        "carried": sum(w["carried"] for w in written),
        "closed": Rows(closed),
        "unknown_month": Rows(unknown),
        "placeholders": Rows(settled.placeholder),
        "exported": Rows(settled.exported),
    }
    emit(args, payload, "\n".join(notes))
    return 0
