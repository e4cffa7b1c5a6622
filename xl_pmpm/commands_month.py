"""Commands for the month's bookkeeping: visits, summary, history and reconcile.

`add_commands(sub)` adds them to the `xl-pmpm` subparsers; each parser sets `func`,
which returns the exit code: 0 done, 1 findings found (rows to review, rejections
outstanding, export refused), 2 bad input (PmpmInputError naming file, line and
column; reported on one line, never a traceback). Text output never prints member
IDs or names; `--format json` gives everything.

The ledger defaults to $XL_PMPM_LEDGER, else ~/.xl-pmpm/ledger.sqlite3.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from . import files, ledger
from .errors import ExportRefused, PmpmInputError
from .findings import ValidationReport
from .reconcile import load_results_mapping, reconcile_results
from .summary import summary_payload, summary_text, visit_summary
from .validation import validate_report, validate_table
from .visits import aggregate_visits, load_mapping, read_visits


def default_ledger() -> Path:
    env = os.environ.get("XL_PMPM_LEDGER")
    return Path(env) if env else Path.home() / ".xl-pmpm" / "ledger.sqlite3"


def _month(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return f"{datetime.strptime(text.strip(), '%Y-%m'):%Y-%m}"
    except ValueError:
        raise PmpmInputError(
            f"--month '{text}' is not a month.", fix="Write it as YYYY-MM."
        ) from None


def _day(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise PmpmInputError(
            f"--as-of '{text}' is not a date.", fix="Write it as YYYY-MM-DD."
        ) from None


def _settings(args: argparse.Namespace):
    layout = files.load_layout(getattr(args, "layout", None))
    book = files.load_rate_book(getattr(args, "rates", None), getattr(args, "payers", None))
    return layout, book


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _emit(args: argparse.Namespace, payload: object, text: str) -> None:
    if getattr(args, "format", "text") == "json":
        print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        print(text)


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad input: one line on stderr and exit 2; a refused export: exit 1. No traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except PmpmInputError as exc:
            print(f"error: {exc.describe()}", file=sys.stderr)
            return 2
        except ExportRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except sqlite3.Error as exc:
            print(f"error: the ledger cannot be used ({exc}).", file=sys.stderr)
            return 2

    return run


# --- commands ------------------------------------------------------------------------------


@_guarded
def cmd_visits(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    month = _month(args.month)
    mapping = load_mapping(args.mapping)
    visits = read_visits(args.file, mapping)
    table = aggregate_visits(visits, layout, book, month, mapping=mapping, source=args.file)
    data = table.to_csv(index=False, lineterminator=layout.line_terminator).encode(layout.encoding)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    path = files.write_new_file(args.out, f"tier_report_{month}_{stamp}.csv", data)
    report, _ = validate_table(table, layout, book, month=month, source=path.name)
    counts = table.attrs["visits"]
    payload = {"file": str(path), "month": month, **counts, "validation": report.to_dict()}
    text = (
        f"Wrote {path} ({counts['rows']} member row(s) for {month}) from "
        f"{counts['in_month']} visit(s); {counts['outside_month']} visit(s) outside "
        f"{month} ignored."
    )
    if not report.valid:
        text += (
            f"\n{len(report.errors)} error(s) to review "
            f"({', '.join(f'{k}: {v}' for k, v in report.summary().items())}): "
            f"run `xl-pmpm validate {path}`."
        )
    _emit(args, payload, text)
    return 0 if report.valid else 1


@_guarded
def cmd_summary(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    report = files.read_tier_report(args.file, layout)
    if not report.readable:
        v = ValidationReport(report.findings, 0, report.source)
        _emit(args, v.to_dict(), f"{report.source} cannot be read: see `xl-pmpm validate`.")
        return 2
    validation, flags = validate_report(report, layout, book, month=_month(args.month))
    archive = files.read_archive(args.archive) if args.archive else None
    summary = visit_summary(report.table, flags, archive, layout=layout)
    payload = {"file": report.source, "month": validation.month, **summary_payload(summary)}
    payload["errors"] = len(validation.errors)
    text = f"{report.source}, {validation.month}\n" + summary_text(summary)
    if not validation.valid:
        text += f"\n{len(validation.errors)} error(s): run `xl-pmpm validate` before exporting."
    _emit(args, payload, text)
    return 0 if validation.valid and not summary["at_risk_members"] else 1


@_guarded
def cmd_history(args: argparse.Namespace) -> int:
    entries = ledger.history(args.ledger or default_ledger())
    if args.month:
        entries = entries[entries["month"] == _month(args.month)]
    by_file = (
        entries.groupby(["month", "file_name", "status"], sort=True)
        .agg(rows=("id", "size"), exported_at=("exported_at", "first"))
        .reset_index()
    )
    payload = {"entries": _records(entries), "files": _records(by_file)}
    lines = [f"{len(entries)} ledger entr{'y' if len(entries) == 1 else 'ies'}."]
    for r in by_file.itertuples(index=False):
        lines.append(f"  {r.month}  {r.exported_at[:16]}  {r.status:8} {r.rows:>6}  {r.file_name}")
    _emit(args, payload, "\n".join(lines))
    return 0


@_guarded
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
    db = args.ledger
    if not Path(db).exists():
        raise PmpmInputError("No ledger here.", file=db, fix="Give the ledger of your exports.")
    outcome = reconcile_results(
        args.results,
        db,
        layout,
        book,
        at=datetime.now(),
        corrected=corrected,
        out_dir=args.out,
        month=_month(args.month),
        as_of=_day(args.as_of),
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
        "failed": _records(failed.reset_index()),
        "marked": outcome.marked,
        "unmatched": _records(outcome.unmatched.reset_index()),
        "outstanding": _records(outcome.outstanding),
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
    _emit(args, payload, "\n".join(lines))
    return 0 if outcome.outstanding.empty and outcome.unmatched.empty else 1


# --- parsers -------------------------------------------------------------------------------


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add visits, summary, history and reconcile to the `xl-pmpm` subparsers."""

    def common(p: argparse.ArgumentParser, settings: bool = True) -> None:
        if settings:
            p.add_argument("--layout", help="import layout TOML (default: the bundled one)")
            p.add_argument("--rates", help="rate table CSV (default: the bundled one)")
            p.add_argument("--payers", help="payer settings CSV (default: the bundled one)")
        p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("visits", help="build the month's tier report from a visits file")
    p.add_argument("file", metavar="FILE", help="visits CSV, one row per visit")
    p.add_argument("--month", required=True, help="billing month YYYY-MM")
    p.add_argument("--out", required=True, help="folder for the tier report")
    p.add_argument("--mapping", help="visits column mapping TOML (default: the bundled one)")
    common(p)
    p.set_defaults(func=cmd_visits)

    p = sub.add_parser("summary", help="members, hours and dollars by tier and contract")
    p.add_argument("file", metavar="FILE", help="tier report CSV")
    p.add_argument("--month", help="billing month YYYY-MM (default: from the file)")
    p.add_argument("--archive", help="archive folder of `xl-pmpm review` (deferred/removed rows)")
    common(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("history", help="the export ledger: what was exported, when, in which file")
    p.add_argument("--ledger", help="ledger database (default: $XL_PMPM_LEDGER or ~/.xl-pmpm)")
    p.add_argument("--month", help="only this month YYYY-MM")
    common(p, settings=False)
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("reconcile", help="record the import's failed rows; resubmit corrections")
    p.add_argument("results", metavar="RESULTS_FILE", help="the failed-rows attachment (CSV)")
    p.add_argument("--ledger", required=True, help="ledger database")
    p.add_argument("--corrected", help="tier report holding the corrected rows")
    p.add_argument("--out", help="folder for the resubmission file")
    p.add_argument("--month", help="billing month YYYY-MM (default: from the results)")
    p.add_argument("--as-of", help="submission date YYYY-MM-DD (default: today)")
    p.add_argument("--results-columns", help="TOML with a [results] table mapping the headers")
    common(p)
    p.set_defaults(func=cmd_reconcile)
