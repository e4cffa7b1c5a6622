"""`xl-pmpm demo` (the whole month on the bundled sample), `build-template` and `layout`."""

from __future__ import annotations

import argparse
from datetime import datetime

import pandas as pd

from xl_pmpm.cli.app import SAMPLE, SAMPLE_MONTH, _apply, _settings, left_text, render_findings
from xl_pmpm.core.layout import layout_markdown
from xl_pmpm.core.review import KEEP
from xl_pmpm.io import files, ledger
from xl_pmpm.io.workflow import (
    check_file,
    export_import_file,
    month_summary,
    suggest_review,
)


def cmd_demo(args: argparse.Namespace) -> int:
    layout, book = _settings(args)
    out = files.ensure_private_dir(args.out)
    sample = files.bundled(SAMPLE)
    as_of = pd.Period(SAMPLE_MONTH, freq="M").end_time.date() + pd.Timedelta(days=5)
    print(
        f"xl-pmpm demo: the bundled sample extract ({sample.name}, invented data), "
        f"billing month {SAMPLE_MONTH}, as of {as_of}."
    )
    checked = check_file(sample, layout, book, as_of=as_of)
    print("\n1. Validate the extract as downloaded")
    print(render_findings(checked.validation, layout, limit=12))
    s = month_summary(checked.report.table, checked.flags)
    print(
        f"\n2. Tier flags: {s['members']} rows; {s['at_risk_members']} member(s) at risk, "
        f"${s['at_risk_dollars']:,.2f} if their unbilled hours were billed first."
    )
    for tier, t in s["by_tier"].items():
        print(
            f"   Tier {tier}: {t['members']} member(s), {t['hours']:,.2f} h, ${t['dollars']:,.2f}"
        )
    actions = suggest_review(checked, layout, book)
    now = datetime.now()
    table, archive = _apply(checked, actions, layout, now, sample.name)
    kept = files.write_archive(out / "archive", archive, "review", now)
    counts = actions["action"].value_counts().to_dict()
    print(
        f"\n3. Review: deleted {counts.get('delete', 0)} row(s) with errors and deferred "
        f"{counts.get('defer', 0)} at-risk row(s); originals kept in {kept}"
        + left_text(actions[actions["action"] == KEEP])
    )
    # The demo's own ledger (never the agency's, never among the files to upload).
    demo_ledger = out / ledger.LEDGER_NAME
    done = export_import_file(
        table,
        out / "export",
        layout,
        book,
        as_of=as_of,
        at=now,
        source=sample.name,
        ledger=demo_ledger,
    )
    print(
        f"\n4. Export: {done.rows} row(s), {done.validation.warning_count} warning(s), "
        f"{len(done.files)} file(s):"
    )
    for p in done.files:
        print(f"   {p}")
    from xl_pmpm.workbook.template import (
        workbook_bytes,  # openpyxl and the VBA writer: only when needed
    )

    month_start = pd.Period(SAMPLE_MONTH, freq="M").start_time.date()
    filled = files.write_new_file(
        out,
        f"PMPM_Tier_Report_{SAMPLE_MONTH}_{now:%Y%m%dT%H%M%S}.xlsm",
        workbook_bytes(
            layout,
            book,
            rows=table,
            billing_month=month_start,
            as_of=as_of,
            deferred=archive,
            history=ledger.history(demo_ledger),
        ),
    )
    print(
        f"\n5. Workbook: the reviewed month (Deferred, Export History and KPIs included), "
        f"ready to open in Excel: {filled}"
    )
    print(
        f"\nDone. Everything is in {out}. Your own extract: xl-pmpm validate FILE, "
        "then xl-pmpm export FILE --out DIR."
    )
    return 0


def cmd_build_template(args: argparse.Namespace) -> int:
    """Build the workbook into --out; print the path."""
    from xl_pmpm.workbook import template  # openpyxl and the VBA writer: only when needed

    layout = files.load_layout(args.layout)
    book = files.load_rate_book(args.rates, args.payers)
    print(template.build_template(args.out, layout, book))
    return 0


def cmd_layout(args: argparse.Namespace) -> int:
    layout = files.load_layout(args.layout)
    print(layout_markdown(layout))
    return 0
