"""`xl-pmpm`: the monthly PMPM workflow on files.

Exit codes: 0 done (validate: valid, warnings allowed); 1 errors found or export
refused; 2 unreadable input or bad usage; 3 an internal error (reported without
a traceback and without member data).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

from xl_pmpm import __version__
from xl_pmpm.cli.commands_ledger import add_commands as add_ledger_commands
from xl_pmpm.cli.commands_month import add_commands as add_month_commands
from xl_pmpm.cli.commands_month import parse_lines
from xl_pmpm.cli.commands_remittance import add_commands as add_remittance_commands
from xl_pmpm.cli.commands_rules import add_commands as add_rule_commands
from xl_pmpm.cli.commands_workbook import add_commands as add_workbook_commands
from xl_pmpm.cli.install import add_commands as add_install_command
from xl_pmpm.cli.options import (
    add_settings,
    emit,
    known_errors,
    parse_as_of,
    parse_month,
    progress,
    report_error,
    safe_streams,
    warn_if_on_network,
)
from xl_pmpm.cli.parser import Parser, finish, parse
from xl_pmpm.core.carryover import RESTORE, outstanding_records
from xl_pmpm.core.errors import ExportRefused, PmpmError
from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook, tier_for_hours, unknown_payer
from xl_pmpm.core.report import as_written
from xl_pmpm.core.review import KEEP, restore_rows
from xl_pmpm.io import files, ledger
from xl_pmpm.io.ledger import (
    LEDGER_ENV,
    LOCK_TIMEOUT,
    default_ledger,
    refuse_unmerged,
)
from xl_pmpm.io.memory import use_system_memory_pool
from xl_pmpm.io.workflow import (
    Checked,
    apply_actions,
    check_file,
    export_import_file,
    suggest_review,
    this_month,
)

log = logging.getLogger("xl_pmpm")

REPORT_HELP = "the tier report: CSV extract or the billers' workbook (.xlsx/.xlsm); - for stdin"

SAMPLE = "sample_tier_report.csv"
SAMPLE_MONTH = "2026-10"


class UsageError(PmpmError):
    pass


def _settings(args: argparse.Namespace) -> tuple[Layout, RateBook]:
    layout = files.load_layout(getattr(args, "layout", None))
    book = files.load_rate_book(getattr(args, "rates", None), getattr(args, "payers", None))
    return layout, book


def _sensitive(layout: Layout) -> set[str]:
    return {c.name for c in layout.columns if c.id or c.role == "patient_name"}


def render_findings(report: ValidationReport, layout: Layout, limit: int = 50) -> str:
    """A biller-readable text report. Member IDs and names are never printed."""
    hidden = _sensitive(layout)
    head = (
        f"{report.source}: {report.error_count} error(s), {report.warning_count} warning(s) "
        f"in {report.rows} row(s)"
    )
    if report.month:
        head += f"; billing month {report.month}"
    if report.as_of:
        head += f", as of {report.as_of}"
    lines = [head]
    if report.summary():
        lines.append("  " + ", ".join(f"{code}: {n}" for code, n in report.summary().items()))
    for _, f in report.findings.head(limit).iterrows():
        where = "file" if pd.isna(f["row"]) else f"line {int(f['row'])}"
        if isinstance(f["field"], str):
            where += f", {f['field']}"
        value = f["value"] if isinstance(f["value"], str) else ""
        shown = "" if not value or f["field"] in hidden else f" [value: {value!r}]"
        lines.append(f"  {f['severity'].upper():7} {where} ({f['code']}): {f['message']}{shown}")
    if len(report.findings) > limit:
        lines.append(f"  ... and {len(report.findings) - limit} more (use --format json for all)")
    if report.valid:
        lines.append("Valid: ready to export." if report.rows else "Valid.")
    return "\n".join(lines)


def _corrections(args: argparse.Namespace) -> list[int]:
    return parse_lines(args.correction, "--correction") if args.correction else []


def cmd_validate(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    db = args.ledger or default_ledger()
    if not args.ledger and not os.environ.get(LEDGER_ENV, "").strip() and not ledger.exists(db):
        db = None  # the agency's ledger, before anything was exported: nothing to check
    if db is None and args.correction:
        raise UsageError("--correction needs the ledger: give --ledger DB.")
    progress(f"reading and validating {files.source_name(args.file)}", args.file)
    checked = check_file(
        args.file,
        layout,
        book,
        month=parse_month(args.month),
        as_of=parse_as_of(args.as_of),
        original=args.original,
        ledger=db,
        corrections=_corrections(args),
    )
    v = checked.validation
    text = render_findings(v, layout)
    if db is not None:
        warn_if_on_network(db)
        text += f"\nChecked against the ledger {ledger.shown(db)}" + (
            "" if ledger.exists(db) else " (not there yet: nothing exported)"
        )
    emit(args, lambda: {**v.to_dict(), "ledger": ledger.shown(db)}, text)
    if not checked.report.readable:
        return 2
    return 0 if v.valid else 1


def cmd_export(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    progress(f"reading {files.source_name(args.file)}", args.file)
    report = files.read_tier_report(args.file, layout)
    if not report.readable:
        v = ValidationReport(report.findings, 0, report.source)
        emit(args, v.to_dict(), render_findings(v, layout))
        return 2
    if args.no_ledger and (args.ledger or args.correction):
        raise UsageError("--no-ledger leaves the ledger out: drop --ledger and --correction.")
    db = None if args.no_ledger else args.ledger or default_ledger()
    if db is not None:
        refuse_unmerged(args.out, db)
    warn_if_on_network(db)
    original = files.read_tier_report(args.original, layout).table if args.original else None
    try:
        done = export_import_file(
            report.table,
            args.out,
            layout,
            book,
            month=parse_month(args.month),
            as_of=parse_as_of(args.as_of),
            at=datetime.now(),
            source=report.source,
            read_findings=report.findings,
            original=original if original is not None else report.original,
            ledger=db,
            corrections=_corrections(args),
            lock_timeout=args.wait,
            progress=lambda step: progress(step, args.file),  # each step, with its count
        )
    except ExportRefused as refused:
        v = refused.report
        payload = {"files": [], "rows": 0, "refused": True, "ledger": ledger.shown(db)}
        payload |= v.to_dict()
        note = f"\n{refused}\nNo file was written" + (
            f"; the ledger {ledger.shown(db)} is unchanged." if db else "."
        )
        emit(args, payload, render_findings(v, layout) + note)
        return 1

    def exported() -> dict:  # built for JSON only: a large report's records are not made for text
        return {
            "files": [str(p) for p in done.files],
            "rows": done.rows,
            "contracts": done.contracts,
            "file_contracts": done.file_contracts,
            "refused": False,
            "ledger": ledger.shown(db),
            "corrections": _corrections(args),
            **done.validation.to_dict(),
        }

    lines = [f"Exported {done.rows} row(s) in {len(done.files)} file(s):"]
    lines += [
        f"  {f['file']}  (contract {f['contract']!r}: {f['rows']} row(s))"
        for f in done.file_contracts
    ]
    if db is not None:
        lines.append(f"Recorded in the ledger {ledger.shown(db)}.")
    if done.recovered is not None and done.recovered.changed:
        r = done.recovered
        lines.append(
            f"An interrupted export was finished first: {len(r.confirmed + r.rolled_forward)} "
            f"file(s) confirmed, {len(r.dropped)} dropped."
        )
    text = "\n".join(lines)
    if done.validation.warning_count:
        text += f"\n({done.validation.warning_count} warning(s): run validate to see them.)"
    emit(args, exported, text)
    return 0


def cmd_tier(args: argparse.Namespace) -> int:
    _, book = _settings(args)
    hours = []
    for h in args.hours:
        try:
            hours.append(float(h))
        except ValueError:
            raise UsageError(f"'{h}' is not a number of hours.") from None
    month = this_month(parse_month(args.month))
    out = tier_for_hours(hours, args.payer, month, book=book)
    rows = [
        {
            "hours": h,
            "tier": None if pd.isna(t) else int(t),
            "rate_code": None if pd.isna(c) else str(c),
            "rate": None if pd.isna(r) else float(r),
        }
        for h, t, c, r in zip(hours, out["tier"], out["rate_code"], out["rate"], strict=True)
    ]
    text = "\n".join(
        f"{r['hours']:g} h: "
        + (
            f"Tier {r['tier']}, rate code {r['rate_code']}, ${r['rate']:,.2f}"
            if r["tier"]
            else "no tier (under the minimum hours)"
        )
        for r in rows
    )
    unknown = unknown_payer(book, args.payer)
    if unknown:  # the JSON stays a list of rows; the warning goes to stderr
        print(f"warning (payer-unknown): {unknown['message']}", file=sys.stderr)
    emit(args, rows, text)
    return 0


def _apply(
    checked: Checked, actions: pd.DataFrame, layout: Layout, at: datetime, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The review `actions` applied to a checked report: the new table and its archive."""
    return apply_actions(
        checked.report.table,
        actions,
        layout,
        at=at,
        source=source,
        month=checked.validation.month,
    )


def cmd_review(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    checked = check_file(
        args.file, layout, book, month=parse_month(args.month), as_of=parse_as_of(args.as_of)
    )
    if not checked.report.readable:
        print(render_findings(checked.validation, layout))
        return 2
    frames = []
    for action, lines in (("delete", args.delete), ("defer", args.defer)):
        if lines:
            frames.append(
                pd.DataFrame(
                    {
                        "line": parse_lines(lines, f"--{action}"),
                        "action": action,
                        "reason": args.reason,
                    }
                )
            )
    if args.suggested:  # after the lines given: the biller's own choice wins
        frames.append(suggest_review(checked, layout, book))
    if not frames:
        raise UsageError("Say what to do: --delete LINES, --defer LINES or --suggested.")
    actions = pd.concat(frames, ignore_index=True).drop_duplicates("line")
    left = actions[actions["action"] == KEEP]
    actions = actions[actions["action"] != KEEP]
    now = datetime.now()
    table, archive = _apply(checked, actions, layout, now, checked.report.source)
    out = Path(args.out)
    stem = Path(files.source_name(args.file)).stem
    archive_dir = Path(args.archive or out / "archive")
    written, kept = files.write_review(  # crash-safe: archive and manifest, then the file
        out,
        f"{stem}_reviewed_{now:%Y%m%dT%H%M%S}.csv",
        as_written(table, layout).to_csv(index=False, lineterminator="\r\n").encode(),
        archive_dir,
        archive,
        table.index.tolist(),
        now,
    )
    counts = actions["action"].value_counts().to_dict()
    emit(
        args,
        {
            "file": str(written),
            "archive": str(kept) if kept else None,
            "actions": counts,
            "left": [
                {"line": int(r.line), "reason": r.reason, "note": r.note} for r in left.itertuples()
            ],
        },
        f"Deleted {counts.get('delete', 0)} and deferred {counts.get('defer', 0)} row(s).\n"
        f"  reviewed file: {written}\n  archive: "
        + (f"{kept} (owner-only; `xl-pmpm restore` undoes)" if kept else "none (no row changed)")
        + left_text(left),
    )
    return 0


def left_text(left: pd.DataFrame, limit: int = 10) -> str:
    """What review left for the biller to fix by hand: one line per note ('' if none)."""
    if left.empty:
        return ""
    notes = list(dict.fromkeys(left["note"]))
    shown = "".join(f"\n  - {note}" for note in notes[:limit])
    more = len(notes) - limit
    rest = f"\n  ... and {more} more (listed with --format json)" if more > 0 else ""
    return (
        f"\nLeft {len(left)} row(s) as they are, to fix by hand before export "
        f"(duplicate-member under different contracts):{shown}{rest}"
    )


def cmd_restore(args: argparse.Namespace) -> int:
    layout, _ = _settings(args)
    report = files.read_tier_report(args.file, layout)
    files.check_archive(args.archive)  # an archive edited since review: refused, exit 2
    archive = outstanding_records(files.read_archive(args.archive))
    sources = files.review_sources(args.archive, Path(args.file).name)
    if sources is not None and not archive.empty:  # only this file's reviews, not others'
        archive = archive[archive["source"].astype(str).isin(sources)]
    if archive.empty:
        raise UsageError(f"No archive records waiting to be restored in {args.archive}.")
    table = report.table
    table.index = pd.Index(
        files.read_line_manifest(args.archive, Path(args.file).name, len(table)),
        name=table.index.name,
    )
    lines = parse_lines(args.lines) if args.lines else None
    table, _ = restore_rows(table, archive, lines)
    now = datetime.now()
    written = files.write_new_file(
        args.out,
        f"{Path(args.file).stem}_restored_{now:%Y%m%dT%H%M%S}.csv",
        as_written(table, layout).to_csv(index=False, lineterminator="\r\n").encode(),
    )
    # Restores are archive records too: a restored row is not offered for carry-over.
    restored = archive if lines is None else archive[archive["line"].isin(lines)]
    files.write_archive(args.archive, restored.assign(action=RESTORE), RESTORE, now)
    emit(
        args,
        {"file": str(written), "rows": len(table), "restored_records": len(restored)},
        f"Restored {len(table) - len(report.table)} deleted row(s) and the deferred values.\n"
        f"  {written}",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    # The demo and the workbook's commands use this module's helpers: imported here.
    from xl_pmpm.cli.commands_demo import cmd_build_template, cmd_demo, cmd_layout

    parser = Parser(
        prog="xl-pmpm",
        description="Review, validate and export New York CDPAP PMPM tier reports: the month "
        "from the HHAeXchange extract to the import file, every exported member-month "
        "recorded in a ledger so none is billed twice. A FILE of - is read from standard input.",
    )
    parser.add_argument("--version", action="version", version=f"xl-pmpm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, month: bool = True) -> None:
        add_settings(p)
        if month:
            p.add_argument("--month", help="billing month YYYY-MM (default: from the file)")
            p.add_argument("--as-of", help="submission date YYYY-MM-DD (default: today)")

    p = sub.add_parser(
        "demo",
        help="the whole workflow on the bundled sample",
        description="Validate, review and export the bundled sample month (300 invented "
        "members), and write the filled workbook: the first thing to run.",
        example="xl-pmpm demo --out xl-pmpm-demo",
        group="start",
    )
    p.add_argument("--out", default="xl-pmpm-demo", help="output folder (default: ./xl-pmpm-demo)")
    common(p, month=False)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "validate",
        help="check a tier report against the import layout",
        description="Every problem in a tier report (CSV or the billers' workbook) in one "
        "pass, each with its line, column and how to fix it. Exit 0 valid (warnings allowed), "
        "1 errors, 2 unreadable.",
        example="xl-pmpm validate report.csv --as-of 2026-11-05",
        group="month",
    )
    p.add_argument("file", metavar="FILE", help=REPORT_HELP)
    p.add_argument("--original", help="the extract as downloaded, to check locked fields")
    p.add_argument(
        "--ledger",
        help=f"also report rows already exported (default: ${LEDGER_ENV}, else the agency's "
        "ledger once there is one: `xl-pmpm ledger where`)",
    )
    p.add_argument("--correction", metavar="LINES", help="lines exported again as corrections")
    common(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "export",
        help="write the import-ready CSV (refused while errors remain)",
        description="Write one import file per contract (split under the size limit) and "
        "record every member-month in the ledger, so none is billed twice. Refused, with "
        "nothing written, while an error remains.",
        example="xl-pmpm export work/reviewed.csv --out upload --as-of 2026-11-05",
        group="month",
    )
    p.add_argument("file", metavar="FILE", help=REPORT_HELP)
    p.add_argument("--out", required=True, help="folder for the import file(s)")
    p.add_argument(
        "--ledger",
        help=f"export ledger (default: ${LEDGER_ENV}, else the agency's ledger in your data "
        "folder: `xl-pmpm ledger where`); refuses rows already exported",
    )
    p.add_argument("--no-ledger", action="store_true", help="do not check or record the ledger")
    p.add_argument(
        "--original",
        help="the extract as downloaded, to refuse changed locked fields (a billers' workbook "
        "carries its own)",
    )
    p.add_argument(
        "--correction",
        metavar="LINES",
        help="lines (e.g. 14,27-29) to export again although already in the ledger",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=LOCK_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for another export using the ledger (default {LOCK_TIMEOUT:g})",
    )
    common(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "tier",
        help="tier, rate code and rate for hours",
        description="The tier, rate code and rate of a month's total hours, for a payer and "
        "month (under 1 hour: no tier).",
        example="xl-pmpm tier 158 160 480 --month 2026-10",
        group="rules",
    )
    p.add_argument("hours", nargs="+", metavar="HOURS", help="a member's total hours in the month")
    p.add_argument("--payer", default="*", help="payer name from the payer settings")
    common(p)
    p.set_defaults(func=cmd_tier)

    p = sub.add_parser(
        "review",
        help="delete or defer rows, keeping the originals in an archive",
        description="Write a new reviewed file with rows deleted or deferred (a deferred row "
        "goes out as a placeholder); the originals go to an owner-only archive, so "
        "`restore` and `carry-over` can bring them back.",
        example="xl-pmpm review report.csv --suggested --out work",
        group="month",
    )
    p.add_argument("file", metavar="FILE", help=REPORT_HELP)
    p.add_argument("--delete", help="lines to delete, e.g. 5,9-12")
    p.add_argument("--defer", help="lines to defer (clears Visit Start / Visit End)")
    p.add_argument(
        "--suggested", action="store_true", help="delete rows with errors and defer rows at risk"
    )
    p.add_argument("--reason", default="biller review", help="why, kept in the archive")
    p.add_argument("--out", required=True, help="folder for the reviewed file")
    p.add_argument("--archive", help="archive folder (default: OUT/archive)")
    common(p)
    p.set_defaults(func=cmd_review)

    p = sub.add_parser(
        "build-template",
        help="build the macro-enabled billers' workbook",
        description="Build the billers' workbook (.xlsm: ribbon, sheets, formulas, VBA) from "
        "the layout and the rate table.",
        example="xl-pmpm build-template --out PMPM_Tier_Report.xlsm",
        group="workbook",
    )
    p.add_argument("--out", required=True, help="the .xlsm file to write")
    common(p, month=False)
    p.set_defaults(func=cmd_build_template)

    add_rule_commands(sub)
    add_month_commands(sub)
    add_ledger_commands(sub)
    add_remittance_commands(sub)
    add_install_command(sub)
    add_workbook_commands(sub)

    p = sub.add_parser(
        "layout",
        help="print the import layout as a Markdown table",
        description="The HHAeXchange import layout this xl-pmpm checks against: columns, "
        "types, lengths, formats.",
        example="xl-pmpm layout",
        group="rules",
    )
    add_settings(p, rates=False, output=False)
    p.set_defaults(func=cmd_layout)

    p = sub.add_parser(
        "restore",
        help="undo delete/defer actions from an archive",
        description="Undo `review` exactly: the deleted rows and the deferred values come "
        "back from the archive, into a new file.",
        example="xl-pmpm restore work/reviewed.csv --archive work/archive --out work",
        group="month",
    )
    p.add_argument("file", metavar="FILE", help="the reviewed file `review` wrote")
    p.add_argument("--archive", required=True, help="the archive folder `review` wrote")
    p.add_argument("--lines", help="only these lines (default: all)")
    p.add_argument("--out", required=True, help="folder for the restored file")
    common(p, month=False)
    p.set_defaults(func=cmd_restore)
    finish(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    safe_streams()
    args = parse(build_parser(), argv)
    use_system_memory_pool()
    try:
        return args.func(args)
    except known_errors() as exc:
        return report_error(exc)
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A disk or folder problem the commands did not foresee: the biller's to fix (exit 2).
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"error: cannot read or write{where} ({exc.strerror or type(exc).__name__}). "
            "Check the folder, its permissions and the free disk space, then run it again.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; files already written are complete, nothing half-written.",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # noqa: BLE001 - the user must never see a traceback
        # The exception text may hold cell values; only its type is reported.
        log.debug("internal error", exc_info=True)
        print(
            f"internal error ({type(exc).__name__}); no file was left half-written. "
            "Please report this with the command you ran (not the file).",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
