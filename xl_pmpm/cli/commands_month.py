"""Commands for the month's bookkeeping: visits, summary, history, reconcile, carry-over.

`add_commands(sub)` adds them to the `xl-pmpm` subparsers; each parser sets `func`,
which returns the exit code: 0 done, 1 findings found (rows to review, rejections
outstanding, export refused), 2 bad input (PmpmInputError naming file, line and
column; reported on one line, never a traceback). Text output never prints member
IDs or names; `--format json` gives everything.

The ledger defaults to $XL_PMPM_LEDGER, else `pmpm-ledger.sqlite3` in the export
folder (`export --out DIR`) or, for `history`, in the current folder.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import pandas as pd

from xl_pmpm.cli.options import (
    Rows,
    add_settings,
    emit,
    guarded,
    parse_as_of,
    parse_month,
    progress,
    warn_if_on_network,
)
from xl_pmpm.core.carryover import (
    RESTORE,
    outstanding_records,
)
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.export import csv_file
from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.summary import summary_payload, summary_text, visit_summary
from xl_pmpm.core.unbilled import REASONS, Unbilled, cents, unbilled_lines
from xl_pmpm.core.validation import billing_month, validate_report, validate_table
from xl_pmpm.core.visits import aggregate_visits, visits_report, with_split_contracts
from xl_pmpm.io import files, ledger
from xl_pmpm.io.ledger import LEDGER_HELP, default_ledger
from xl_pmpm.io.reconcile import load_results_mapping, reconcile_results
from xl_pmpm.io.unbilled import unbilled_from_files
from xl_pmpm.io.visits_reader import load_mapping, read_visit_sums


def parse_lines(text: str, option: str = "--lines") -> list[int]:
    """Line numbers from text like `5,9-12` (PmpmInputError naming the bad part)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        a, _, b = part.partition("-")
        try:
            first, last = int(a), int(b or a)
        except ValueError:
            raise PmpmInputError(
                f"{option} '{part}' is not a line number or a range.",
                fix="Write line numbers like 14,27-29.",
            ) from None
        if first < 2 or last < first:
            raise PmpmInputError(
                f"{option} '{part}' is not a range of data lines.",
                fix="Data lines start at 2 (the header is line 1); write ranges low-high.",
            )
        out.extend(range(first, last + 1))
    return out


def _settings(args: argparse.Namespace):
    layout = files.load_layout(getattr(args, "layout", None))
    book = files.load_rate_book(getattr(args, "rates", None), getattr(args, "payers", None))
    return layout, book


# --- commands ------------------------------------------------------------------------------


@guarded
def cmd_visits(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    month = parse_month(args.month)
    mapping = load_mapping(args.mapping)
    progress(f"reading and summing {files.source_name(args.file)}", args.file)
    table = visits_report(read_visit_sums(args.file, mapping, month), layout, book, month)
    data = csv_file(table, layout)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    path = files.write_new_file(args.out, f"tier_report_{month}_{stamp}.csv", data)
    report, _ = validate_table(table, layout, book, month=month, source=path.name)
    report = with_split_contracts(report, table.attrs["split_contracts"], layout)
    counts = table.attrs["visits"]
    payload = {"file": str(path), "month": month, **counts, "validation": report.to_dict()}
    text = (
        f"Wrote {path} ({counts['rows']} member row(s) for {month}) from "
        f"{counts['in_month']} visit(s); {counts['outside_month']} visit(s) outside "
        f"{month} ignored."
    )
    if counts["split_members"]:
        text += (
            f"\n{counts['split_members']} member(s) with billed hours under more than one "
            "contract: their hours are added up on one row each, tiered on the sum "
            "(split-contracts warnings, listed with --format json)."
        )
    if counts["auto_billed_members"]:
        text += (
            f"\n{counts['auto_billed_members']} member(s) left out: a contract of theirs is "
            "billed by HHAeXchange itself (auto_billed in the payer settings)."
        )
    if not report.valid:
        text += (
            f"\n{report.error_count} error(s) to review "
            f"({', '.join(f'{k}: {v}' for k, v in report.summary().items())}): "
            f"run `xl-pmpm validate {path}`."
        )
    emit(args, payload, text)
    return 0 if report.valid else 1


@guarded
def cmd_summary(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    report = files.read_tier_report(args.file, layout)
    if not report.readable:
        v = ValidationReport(report.findings, 0, report.source)
        emit(args, v.to_dict(), f"{report.source} cannot be read: see `xl-pmpm validate`.")
        return 2
    validation, flags = validate_report(report, layout, book, month=parse_month(args.month))
    archive = None
    if args.archive:  # rows restored since are no longer set aside (carried ones still are)
        archive = outstanding_records(files.read_archive(args.archive), settled_by=(RESTORE,))
    summary = visit_summary(report.table, flags, archive, layout=layout)
    payload = {"file": report.source, "month": validation.month, **summary_payload(summary)}
    payload["errors"] = validation.error_count
    text = f"{report.source}, {validation.month}\n" + summary_text(summary)
    if not validation.valid:
        text += f"\n{validation.error_count} error(s): run `xl-pmpm validate` before exporting."
    emit(args, payload, text)
    return 0 if validation.valid and not summary["at_risk_members"] else 1


@guarded
def cmd_history(args: argparse.Namespace) -> int:
    db = args.ledger or default_ledger()
    warn_if_on_network(db)
    entries = ledger.history(db)
    if args.month:
        entries = entries[entries["month"] == parse_month(args.month)]
    by_file = (
        entries.groupby(["month", "file_name", "status"], sort=True)
        .agg(
            rows=("id", "size"),
            corrections=("correction", "sum"),
            placeholders=("placeholder", "sum"),
            exported_at=("exported_at", "first"),
        )
        .reset_index()
    )
    payload = {"entries": Rows(entries), "files": Rows(by_file)}
    lines = [f"{len(entries)} ledger entr{'y' if len(entries) == 1 else 'ies'}."]
    for r in by_file.itertuples(index=False):
        notes = [f"{r.corrections} correction(s)"] if r.corrections else []
        if r.placeholders:
            notes.append(f"{r.placeholders} placeholder(s), not billed")
        fixes = f"  ({'; '.join(notes)})" if notes else ""
        lines.append(
            f"  {r.month}  {r.exported_at[:16]}  {r.status:8} {r.rows:>6}  {r.file_name}{fixes}"
        )
    emit(args, payload, "\n".join(lines))
    return 0


@guarded
def cmd_reconcile(args: argparse.Namespace) -> int:
    if bool(args.corrected) != bool(args.out):
        raise PmpmInputError(
            "--corrected and --out go together.", fix="Give both, or neither to only record."
        )
    layout, book = _settings(args)
    corrected = None
    source = ""
    if args.corrected:
        report = files.read_tier_report(args.corrected, layout)
        if not report.readable:
            raise PmpmInputError(
                "The corrected file cannot be read.", file=args.corrected, fix="Validate it."
            )
        corrected, source = report.table, report.source
    db = args.ledger or default_ledger()
    if not ledger.exists(db):
        raise PmpmInputError(
            "No ledger here.", file=ledger.shown(db), fix="Give the ledger of your exports."
        )
    warn_if_on_network(db)
    outcome = reconcile_results(
        args.results,
        db,
        layout,
        book,
        at=datetime.now(),
        corrected=corrected,
        out_dir=args.out,
        month=parse_month(args.month),
        as_of=parse_as_of(args.as_of),
        mapping=load_results_mapping(args.results_columns),
        source=source,
    )
    failed = outcome.failed
    lines = [
        f"{len(failed)} failed row(s) in {args.results}; {outcome.marked} marked rejected "
        f"in the ledger; {len(outcome.unmatched)} not found in the ledger."
    ]
    if outcome.summary:
        lines.append(f"The import reported {outcome.summary[0]} of {outcome.summary[1]} imported.")
    for reason, n in failed["reason"].value_counts().sort_index().items() if len(failed) else []:
        lines.append(f"  {n:>5}  {reason}")
    payload: dict = {
        "failed": Rows(failed.reset_index()),
        "marked": outcome.marked,
        "unmatched": Rows(outcome.unmatched.reset_index()),
        "outstanding": Rows(outcome.outstanding),
        "import_summary": outcome.summary,
    }
    if outcome.selection is not None:
        sel = outcome.selection
        done = outcome.exported
        payload["resubmission"] = {
            "files": [str(p) for p in done.files] if done else [],
            "rows": done.rows if done else 0,
            "unchanged_lines": [int(n) for n in sel.unchanged],
            "not_rejected_lines": [int(n) for n in sel.not_rejected],
            "missing": len(sel.missing),
        }
        lines.append(
            f"Resubmission: {done.rows if done else 0} corrected row(s)"
            + (f" in {', '.join(str(p) for p in done.files)}" if done else "")
            + f"; {len(sel.unchanged)} unchanged (left out), "
            f"{len(sel.not_rejected)} not rejected (left out), "
            f"{len(sel.missing)} rejection(s) without a row in the file."
        )
    lines.append(f"{len(outcome.outstanding)} rejection(s) still waiting for a correction.")
    emit(args, payload, "\n".join(lines))
    return 0 if outcome.outstanding.empty and outcome.unmatched.empty else 1


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def _twice_note(twice: pd.Series, first: int) -> str:
    lines = [first + i for i, hit in enumerate(twice) if hit]
    if not lines:
        return ""
    return (
        f"\nNote: the member of carried line(s) {', '.join(map(str, lines))} is already in the "
        "report: keep one row per member (validate reports them as duplicate-member)."
    )


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _unbilled_groups(rows: pd.DataFrame) -> list[str]:
    """One line per month, payer and reason: counts, dollars and days left; no member."""
    if rows.empty:
        return []
    grouped = (
        rows.groupby(["month", "payer", "reason", "submit_until"], sort=True)
        .agg(n=("rate", "size"), rate=("rate", "sum"), days=("days_left", "min"))
        .reset_index()
        .sort_values(["days", "month", "payer", "reason"])
    )
    return [
        f"  {r.month}  {str(r.payer)[:24]:24} {r.reason:15} {r.n:>6} member-month(s) "
        f"{_money(cents(r.rate)):>14}"
        f"  last day {r.submit_until} ({r.days} day(s) left)"
        for r in grouped.itertuples(index=False)
    ]


def unbilled_text(found: Unbilled, ledger_note: str) -> str:
    """Totals first, then one line per month, payer and reason; never a member ID or name."""
    t = found.totals()
    months = ", ".join(t["months"]) or "none"
    lines = [
        f"Unbilled PMPM as of {t['as_of']} (months with billed visits: {months}; {ledger_note})",
        f"  Recoverable: {_money(t['recoverable_dollars'])} in "
        f"{t['recoverable_member_months']} member-month(s) of {t['recoverable_members']} "
        "member(s)"
        + (
            f"; nearest deadline {t['nearest_deadline']} ({t['nearest_days_left']} day(s) "
            f"left, {t['nearest_month']})."
            if t["nearest_deadline"]
            else "."
        ),
        f"  Lost (past the submission window): {_money(t['lost_dollars'])} in "
        f"{t['lost_member_months']} member-month(s) of {t['lost_members']} member(s).",
        f"  Earned: {t['earned_member_months']} member-month(s), "
        f"{t['confirmed_member_months']} confirmed in the ledger"
        + (
            f", {t['not_yet_open_member_months']} not billable yet (window not open)."
            if t["not_yet_open_member_months"]
            else "."
        ),
    ]
    if t["auto_billed_member_months"]:
        lines.append(
            f"  Not listed: {t['auto_billed_member_months']} member-month(s) on contracts "
            "HHAeXchange bills itself (auto_billed in the payer settings)."
        )
    if t["by_reason"]:
        lines.append("Recoverable by reason:")
        lines += [f"  {code:15} {n:>6}  {REASONS[code][0]}" for code, n in t["by_reason"].items()]
        lines.append("Recoverable by month, payer and reason (nearest deadline first):")
        lines += _unbilled_groups(found.recoverable)
    if len(found.lost):
        lines.append("Lost, listed apart (their window closed):")
        lines += _unbilled_groups(found.lost)
    if len(found.recoverable):
        lines.append(
            "Members are listed with --format json. Bring a month's rows back: "
            "xl-pmpm unbilled VISITS... --into THAT_MONTHS_REPORT.csv --out DIR"
        )
    return "\n".join(lines)


def _unbilled_into(args: argparse.Namespace, run, layout, book, month: str | None) -> dict:
    """Write the month's recoverable rows, with the report's rows not yet exported."""
    report = files.read_tier_report(args.into, layout)
    if not report.readable:
        raise PmpmInputError(
            "The tier report cannot be read.", file=args.into, fix="Run `xl-pmpm validate` on it."
        )
    found = billing_month(report.table, layout)[0]
    if found is None and month is None:
        raise PmpmInputError(
            "The report's billing month cannot be told from its dates.",
            file=args.into,
            fix="Give it with --month YYYY-MM.",
        )
    if month is not None and found is not None and str(found) != month:
        raise PmpmInputError(
            f"The report is for {found}, not {month}.",
            file=args.into,
            fix="Give the tier report of the month you bring rows back into.",
        )
    month = month or str(found)
    table = report.table
    db = run.ledger
    exported = (
        ledger.already_exported(db, table, month, layout) if db is not None else pd.DataFrame()
    )
    done_lines = set(exported["row"].dropna().astype(int)) if len(exported) else set()
    kept = table[~table.index.isin(done_lines)]
    recoverable = run.unbilled.recoverable
    wanted = recoverable[recoverable["month"] == month]
    id_col = layout.name_of("patient_number")
    present = set(kept[id_col].fillna("").astype(str).str.strip())
    wanted = wanted[~wanted["patient_number"].isin(present)]
    payload: dict = {"into": str(args.into), "month": month, "file": None}
    if wanted.empty:
        payload.update(brought_back=0, kept_from_report=len(kept))
        return payload
    visits = run.visits_of(set(wanted["patient_number"]))
    built = aggregate_visits(visits, layout, book, month, mapping=run.mapping)
    lines = unbilled_lines(built, wanted, layout, month)
    lines = lines.reindex(columns=list(table.columns)).fillna("").astype(str)
    out = pd.concat([kept, lines], ignore_index=True)
    data = out.to_csv(index=False, lineterminator=layout.line_terminator).encode(layout.encoding)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    path = files.write_new_file(args.out, f"{Path(args.into).stem}_unbilled_{stamp}.csv", data)
    first = len(kept) + 2
    payload.update(
        file=str(path),
        brought_back=len(lines),
        kept_from_report=len(kept),
        left_out_exported=len(table) - len(kept),
        lines=list(range(first, first + len(lines))),
    )
    return payload


@guarded
def cmd_unbilled(args: argparse.Namespace) -> int:
    if bool(args.into) != bool(args.out):
        raise PmpmInputError(
            "--into and --out go together.",
            fix="Give both to write the month's rows back as a tier report, or neither to list.",
        )
    layout, book = _settings(args)
    months = [parse_month(m) for m in args.month] if args.month else None
    if args.into and months and len(months) > 1:
        raise PmpmInputError("--into takes one month.", fix="Give one --month with --into.")
    mapping = load_mapping(args.mapping)
    db = args.ledger or default_ledger()
    progress(f"reading {len(args.files)} visits file(s)", *args.files)
    run = unbilled_from_files(
        args.files,
        mapping,
        layout,
        book,
        parse_as_of(args.as_of),
        ledger_path=db,
        ledger_required=bool(args.ledger),
        archive=args.archive,
        months=months,
        remittance=args.remittance or (),
    )
    found = run.unbilled
    payload: dict = {
        "ledger": None if run.ledger is None else ledger.shown(run.ledger),
        "archive": None if run.archive is None else str(run.archive),
        "totals": found.totals(),
        "recoverable": Rows(found.recoverable),
        "lost": Rows(found.lost),
        "reasons": {code: {"means": m, "fix": f} for code, (m, f) in REASONS.items()},
    }
    note = (
        f"ledger {ledger.shown(run.ledger)}"
        if run.ledger is not None
        else f"no ledger at {ledger.shown(db)}: nothing counts as exported"
    )
    text = unbilled_text(found, note)
    if args.into:
        done = _unbilled_into(args, run, layout, book, months[0] if months else None)
        payload["into"] = done
        if done["file"] is None:
            text += (
                f"\nNothing to bring back into {args.into}: no recoverable member-month of "
                f"{done['month']} is missing from it."
            )
        else:
            last = done["lines"][-1]
            text += (
                f"\nWrote {done['file']}: {done['kept_from_report']} row(s) of "
                f"{Path(args.into).name} not exported yet"
                + (
                    f" ({done['left_out_exported']} already exported left out)"
                    if done["left_out_exported"]
                    else ""
                )
                + f" and {done['brought_back']} brought-back row(s) of {done['month']} at "
                f"line(s) {_span(done['lines'][0], last)}.\n"
                f"Review them, then `xl-pmpm validate {done['file']}` and export as usual."
            )
    emit(args, payload, text)
    return 1 if len(found.recoverable) else 0


# --- parsers -------------------------------------------------------------------------------


def add_commands(sub: argparse._SubParsersAction) -> None:
    # carry-over uses this module's helpers: imported here.
    from xl_pmpm.cli.commands_carry import cmd_carry_over

    """Add visits, summary, history, reconcile, carry-over and unbilled to `xl-pmpm`."""

    def common(p: argparse.ArgumentParser, settings: bool = True) -> None:
        add_settings(p, layout=settings, rates=settings)

    p = sub.add_parser(
        "visits",
        help="build the month's tier report from a visits file",
        description="Sum a visits export (one row per visit) into the month's tier report: "
        "one row per member-month, with its hours and tier.",
        example="xl-pmpm visits visits.csv --month 2026-10 --out work",
        group="visits",
    )
    p.add_argument("file", metavar="FILE", help="visits CSV, one row per visit; - for stdin")
    p.add_argument("--month", required=True, help="billing month YYYY-MM")
    p.add_argument("--out", required=True, help="folder for the tier report")
    p.add_argument("--mapping", help="visits column mapping TOML (default: the bundled one)")
    common(p)
    p.set_defaults(func=cmd_visits)

    p = sub.add_parser(
        "summary",
        help="members, hours and dollars by tier and contract",
        description="Members, hours and dollars by tier and contract of a tier report, and "
        "the rows set aside in the archive.",
        example="xl-pmpm summary report.csv",
        group="month",
    )
    p.add_argument("file", metavar="FILE", help="tier report CSV; - for stdin")
    p.add_argument("--month", help="billing month YYYY-MM (default: from the file)")
    p.add_argument("--archive", help="archive folder of `xl-pmpm review` (deferred/removed rows)")
    common(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "history",
        help="the export ledger: what was exported, when, in which file",
        description="Every member-month exported: when, in which import file, and its state "
        "(exported, placeholder, rejected, correction). Member IDs are not printed.",
        example="xl-pmpm history --month 2026-10",
        group="ledger",
    )
    p.add_argument(
        "--ledger",
        help=LEDGER_HELP,
    )
    p.add_argument("--month", help="only this month YYYY-MM")
    common(p, settings=False)
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "reconcile",
        help="record the import's failed rows; resubmit corrections",
        description="Read the import's failed-rows attachment, mark those member-months "
        "rejected in the ledger, and (with --corrected) write the resubmission file.",
        example="xl-pmpm reconcile failed_rows.csv",
        group="month",
    )
    p.add_argument("results", metavar="RESULTS_FILE", help="the failed-rows attachment (CSV)")
    p.add_argument("--ledger", help=LEDGER_HELP)
    p.add_argument("--corrected", help="tier report holding the corrected rows")
    p.add_argument("--out", help="folder for the resubmission file")
    p.add_argument("--month", help="billing month YYYY-MM (default: from the results)")
    p.add_argument("--as-of", help="submission date YYYY-MM-DD (default: today)")
    p.add_argument("--results-columns", help="TOML with a [results] table mapping the headers")
    common(p)
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser(
        "carry-over",
        help="rows deferred or removed in earlier months, back into a new report",
        description="List the rows set aside by `review` in earlier months and not restored, "
        "carried or exported yet; with --out, write them into a new report of their own "
        "service month each, within that month's submission window.",
        example="xl-pmpm carry-over --archive work/archive --month 2026-11",
        group="month",
    )
    p.add_argument("--archive", required=True, help="archive folder of `xl-pmpm review`")
    p.add_argument("--month", help="the new month YYYY-MM (default: the --into report's month)")
    p.add_argument(
        "--into",
        metavar="NEW_REPORT",
        help="the new month's tier report CSV: its month and columns (the carried rows go to "
        "a report of their own service month each)",
    )
    p.add_argument(
        "--out",
        help="write the carried rows here: one report per service month (needs --month or --into)",
    )
    p.add_argument("--lines", help="only these original lines, e.g. 5,9-12 (default: all)")
    p.add_argument("--source", help="only rows set aside from this report file name")
    p.add_argument("--ledger", help=LEDGER_HELP)
    p.add_argument(
        "--as-of", help="the day to check the submission windows on YYYY-MM-DD (default: today)"
    )
    common(p)
    p.set_defaults(func=cmd_carry_over)

    p = sub.add_parser(
        "unbilled",
        help="member-months with billed care and no confirmed PMPM, with dollars and days left",
        description="Set the visits beside the ledger and the archive: every member-month that "
        "earned a PMPM not yet confirmed, with its reason, dollars and days left to bill it. "
        "Exit 1 when something is recoverable.",
        example="xl-pmpm unbilled visits.csv",
        group="month",
    )
    p.add_argument("files", nargs="+", metavar="VISITS", help="visits CSV(s), one row per visit")
    p.add_argument("--ledger", help=LEDGER_HELP)
    p.add_argument("--archive", help="archive folder of `xl-pmpm review` (deleted/deferred rows)")
    p.add_argument(
        "--remittance",
        nargs="+",
        metavar="FILE",
        help="835 remittance file(s): add the member-months they deny, reverse or underpay "
        "(reason denied-or-underpaid)",
    )
    p.add_argument("--as-of", help="the day to count days left from YYYY-MM-DD (default: today)")
    p.add_argument(
        "--month", action="append", help="only this month YYYY-MM (repeat for more; default: all)"
    )
    p.add_argument("--mapping", help="visits column mapping TOML (default: the bundled one)")
    p.add_argument(
        "--into",
        metavar="REPORT",
        help="the month's tier report: its rows not yet exported "
        "and the month's recoverable rows go into a new file",
    )
    p.add_argument("--out", help="folder for the new report (with --into)")
    common(p)
    p.set_defaults(func=cmd_unbilled)
