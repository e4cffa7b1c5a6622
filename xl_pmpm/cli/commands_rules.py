"""Commands for the billing rules: prorate, perdiem, spans, claim-dates, and the KPIs.

`add_commands(sub)` adds them to the `xl-pmpm` subparsers; each parser sets `func`,
which returns the exit code: 0 done, 1 findings or alerts found, 2 bad input. Bad input
is raised as PmpmInputError (naming file, line and column) and reported without a
traceback, here or by `cli.main`.

Input CSVs are read as text (IDs and codes keep their leading zeros), headers are
matched case-insensitively, blank lines are skipped, and rows are numbered by file line
(the header is line 1).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from xl_pmpm.cli.options import (
    Rows,
    add_settings,
    emit,
    guarded,
    parse_as_of,
    parse_day,
    parse_month,
    warn_if_on_network,
)
from xl_pmpm.core import cells
from xl_pmpm.core.billing_rates import check_billing_rates
from xl_pmpm.core.cells import fail_at_first
from xl_pmpm.core.claims import claim_dates_for, submission_window
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.kpi import EARNED_TABLES, KPI_TABLES, billed_vs_earned, kpi_tables, status_counts
from xl_pmpm.core.perdiem import PerDiemSettings, billable_occurrences
from xl_pmpm.core.rates import RateBook, unknown_payer
from xl_pmpm.core.service_setup import check_service_setup
from xl_pmpm.core.setup_export import SETUP_FIELDS, SETUP_OPTIONAL, check_setup_export
from xl_pmpm.core.spans import check_pmpm_spans, price_spans, prorate
from xl_pmpm.io import files, ledger
from xl_pmpm.io.csv_reader import read_csv_text
from xl_pmpm.io.ledger import LEDGER_HELP, default_ledger
from xl_pmpm.io.setup_files import load_billing_rate_mapping
from xl_pmpm.io.unbilled import earned_from_files
from xl_pmpm.io.visits_reader import load_mapping
from xl_pmpm.io.workflow import this_month

DATE_FIX = "Write dates as YYYY-MM-DD, e.g. 2024-08-01."
NUMBER_FIX = "Write a plain number such as 146.45 (no $ or thousands separator)."


# --- reading -----------------------------------------------------------------------------


def _fail(
    frame: pd.DataFrame, bad: pd.Series, col: str, source: str, message: str, fix: str
) -> None:
    fail_at_first(bad, frame[col], file=source, column=col, message=message, fix=fix)


def parse_dates(frame: pd.DataFrame, col: str, source: str, blank_ok: bool = False) -> pd.Series:
    values = pd.to_datetime(frame[col].replace("", None), format="%Y-%m-%d", errors="coerce")
    bad = values.isna() & ~(blank_ok & (frame[col] == ""))
    _fail(frame, bad, col, source, "'{value}' is not a date.", DATE_FIX)
    return values


def parse_numbers(frame: pd.DataFrame, col: str, source: str, blank_ok: bool = False) -> pd.Series:
    """`cells.parse_numbers` with this module's fix text."""
    return cells.parse_numbers(frame, col, str(source), blank_ok=blank_ok, fix=NUMBER_FIX)


def require_text(frame: pd.DataFrame, col: str, source: str) -> pd.Series:
    _fail(frame, frame[col] == "", col, source, "The cell is blank.", "Fill it in.")
    return frame[col]


def check_order(frame: pd.DataFrame, start: str, end: str, source: str) -> None:
    bad = frame[end].notna() & (frame[end] < frame[start])
    _fail(frame, bad, end, source, "The end date {value} is before the start date.", DATE_FIX)


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise PmpmInputError(f"{name} '{text}' is not a number.", column=name, fix=NUMBER_FIX)
    return value


def _whole(text: str, name: str) -> int:
    value = _number(text, name)
    if value != int(value) or value < 0:
        raise PmpmInputError(
            f"{name} '{text}' is not a whole number of 0 or more.", column=name, fix="Write e.g. 2."
        )
    return int(value)


def _codes(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(c.strip() for c in text.split(",") if c.strip())


# --- output ------------------------------------------------------------------------------


def _records(frame: pd.DataFrame) -> Rows:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return Rows(out)


def _file_lines(frame: pd.DataFrame, keys: list[str], found: pd.DataFrame) -> list[list[int]]:
    """For each row of `found`, the file lines (index) of `frame` with the same `keys`."""
    by = keys[0] if len(keys) == 1 else keys
    groups = frame.groupby(by, sort=False).groups if len(frame) else {}
    picked = found[by] if len(keys) == 1 else found[keys].itertuples(index=False, name=None)
    return [sorted(int(n) for n in groups.get(k, [])) for k in picked]


def _lines_text(what: str, lines: list[int], most: int = 8) -> str:
    """ "FI file lines 2, 5" (text output names rows by line, never by member)."""
    if not lines:
        return ""
    shown = ", ".join(str(n) for n in lines[:most])
    more = f" and {len(lines) - most} more" if len(lines) > most else ""
    return f"{what} line{'s' if len(lines) > 1 else ''} {shown}{more}"


# --- commands ----------------------------------------------------------------------------


@guarded
def cmd_prorate(args: argparse.Namespace) -> int:
    rate = _number(args.rate, "RATE")
    start, end = parse_day(args.start, "START"), parse_day(args.end, "END")
    units, cost = prorate(rate, start, end)
    payload = {"rate": rate, "start": str(start), "end": str(end), "units": units, "cost": cost}
    emit(args, payload, f"{start} to {end} at ${rate:,.2f} a month: {units} unit(s), ${cost:,.2f}")
    return 0


def _read_units(path: str) -> pd.DataFrame:
    frame = read_csv_text(path, "Units file", ["client", "date", "code", "units"])
    require_text(frame, "client", path)
    return frame.assign(
        date=parse_dates(frame, "date", path), units=parse_numbers(frame, "units", path)
    )


def _read_auths(path: str) -> pd.DataFrame:
    cols = ["client", "code", "start", "end", "units_authorized", "units_used"]
    frame = read_csv_text(path, "Authorization file", cols)
    require_text(frame, "client", path)
    frame = frame.assign(
        start=parse_dates(frame, "start", path),
        end=parse_dates(frame, "end", path, blank_ok=True),
        units_authorized=parse_numbers(frame, "units_authorized", path),
        units_used=parse_numbers(frame, "units_used", path, blank_ok=True),
    )
    check_order(frame, "start", "end", path)
    return frame


def _read_existing(path: str) -> pd.DataFrame:
    """Occurrences created by earlier runs: client, date (other columns ignored)."""
    frame = read_csv_text(path, "The existing occurrences file", ["client", "date"])
    require_text(frame, "client", path)
    frame["date"] = parse_dates(frame, "date", path)
    return frame


@guarded
def cmd_perdiem(args: argparse.Namespace) -> int:
    units = _read_units(args.file)
    if args.auth:
        auths = _read_auths(args.auth)
    else:
        auths = pd.DataFrame(
            columns=["client", "code", "start", "end", "units_authorized", "units_used"]
        )
    non_billable = _codes(args.non_billable) or tuple(sorted(set(units["code"]) - {""}))
    billable = _codes(args.billable) or tuple(sorted(set(auths["code"]) - {""}))
    if not billable:
        raise PmpmInputError(
            "No billable code is known.",
            column="--billable",
            fix="Give --billable CODES, or --auth with the client authorizations.",
        )
    settings = PerDiemSettings(
        threshold=_number(args.threshold, "--threshold"),
        non_billable_codes=non_billable,
        billable_codes=billable,
        note_minutes=_whole(args.minutes, "--minutes"),
        days_in_arrears=_whole(args.arrears, "--arrears"),
        run_date=parse_day(args.run_date, "--run-date"),
        look_back_days=None if args.look_back is None else _whole(args.look_back, "--look-back"),
    )
    existing = _read_existing(args.existing) if args.existing else None
    occurrences, alerts = billable_occurrences(units, auths, settings, existing)
    # The documented units behind each day: how text output names a client's day.
    counted = units[units["code"].isin(settings.non_billable_codes)]
    occurrences = occurrences.assign(lines=_file_lines(counted, ["client", "date"], occurrences))
    alerts = alerts.assign(lines=_file_lines(counted, ["client", "date"], alerts))
    cutoff = f"{settings.cutoff:%Y-%m-%d}"
    payload = {
        "run_date": args.run_date,
        "cutoff": cutoff,
        "occurrences": _records(occurrences),
        "alerts": _records(alerts),
    }
    first = settings.first_day
    if first is None:
        days = f"days up to {cutoff}"
    else:
        days = (
            f"day {cutoff}"
            if f"{first:%Y-%m-%d}" == cutoff
            else f"days {first:%Y-%m-%d} to {cutoff}"
        )
    payload["first_day"] = None if first is None else f"{first:%Y-%m-%d}"
    payload["existing"] = 0 if existing is None else len(existing)
    lines = [
        f"Run of {args.run_date} ({days}): {len(occurrences)} billable "
        f"occurrence(s), {len(alerts)} alert(s)."
    ]
    if first is None and existing is None:
        lines.append(
            "  (every day up to the cutoff was looked at: give --existing, the occurrences "
            "already created, or --look-back 1 as the nightly run does, so no day is billed "
            "twice)"
        )
    lines += [
        f"  {_lines_text('units file', r['lines'])}: {r['date']:%Y-%m-%d}  {r['code']}  "
        f"{r['minutes']} min"
        for _, r in occurrences.iterrows()
    ]
    if len(alerts):
        lines.append("Alerts:")
        lines += [
            f"  {_lines_text('units file', r['lines'])}: {r['message']}"
            for _, r in alerts.iterrows()
        ]
    emit(args, payload, "\n".join(lines))
    return 1 if len(alerts) else 0


def _read_spans(path: str, what: str, columns: list[str], optional=()) -> pd.DataFrame:
    frame = read_csv_text(path, what, columns, optional)
    require_text(frame, "member", path)
    frame = frame.assign(
        start=parse_dates(frame, "start", path), end=parse_dates(frame, "end", path)
    )
    check_order(frame, "start", "end", path)
    return frame


@guarded
def cmd_spans(args: argparse.Namespace) -> int:
    fi = _read_spans(args.fi_file, "FI services file", ["member", "provider", "start", "end"])
    pmpm = _read_spans(
        args.pmpm_file, "PMPM services file", ["member", "start", "end"], ("monthly_rate",)
    )
    findings = check_pmpm_spans(fi, pmpm, args.provider)
    # A finding is about a member: text output names the member's lines in both files.
    findings = findings.assign(
        fi_lines=_file_lines(fi, ["member"], findings),
        pmpm_lines=_file_lines(pmpm, ["member"], findings),
    )
    payload: dict = {"provider": args.provider, "findings": _records(findings)}
    lines = [f"{len(findings)} finding(s) for the PMPM services with {args.provider} as the FI."]
    for _, r in findings.iterrows():
        where = [_lines_text("FI file", r["fi_lines"]), _lines_text("PMPM file", r["pmpm_lines"])]
        lines.append(f"  {', '.join(w for w in where if w)}: {r['message']} [{r['code']}]")
    if "monthly_rate" in pmpm.columns:
        pmpm = pmpm.assign(
            monthly_rate=parse_numbers(pmpm, "monthly_rate", args.pmpm_file, blank_ok=True)
        )
        priced = price_spans(pmpm)[["member", "start", "end", "monthly_rate", "units", "cost"]]
        payload["pmpm"] = _records(priced.reset_index(names="line"))
        lines.append("PMPM services:")
        lines += [
            f"  line {line}  {r['start']:%Y-%m-%d} to {r['end']:%Y-%m-%d}: "
            + ("no rate" if pd.isna(r["cost"]) else f"{r['units']} unit(s), ${r['cost']:,.2f}")
            for line, r in priced.iterrows()
        ]
    emit(args, payload, "\n".join(lines))
    return 1 if len(findings) else 0


@guarded
def cmd_claim_dates(args: argparse.Namespace) -> int:
    month = parse_month(args.month, "MONTH")
    book = files.load_rate_book(args.rates, args.payers)
    first, through = claim_dates_for(month, args.payer, book)
    settings = book.payer_settings(args.payer)
    opens, closes = submission_window(month, int(settings["submission_days"]))
    rule = str(settings["claim_dates"])
    unknown = unknown_payer(book, args.payer)
    payload = {
        "month": month,
        "payer": book.payer_named(args.payer) or args.payer,
        "rule": rule,
        "from": str(first),
        "through": str(through),
        "submit_from": str(opens),
        "submit_until": str(closes),
        "warnings": [unknown] if unknown else [],
    }
    text = (
        f"{month}, payer {payload['payer']}: claim From {first}, Through {through} "
        f"(rule {rule}); submit from {opens} to {closes}."
    )
    if unknown:
        text += f"\nWARNING (payer-unknown): {unknown['message']}"
    emit(args, payload, text)
    return 0


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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add prorate, perdiem, spans, claim-dates and kpi to the `xl-pmpm` subparsers."""

    def fmt(p: argparse.ArgumentParser) -> None:
        add_settings(p, layout=False, rates=False)

    p = sub.add_parser(
        "prorate",
        help="units and prorated cost of a PMPM service",
        description="Units (months) and the prorated cost of a PMPM service between two days.",
        example="xl-pmpm prorate 146.45 2026-10-10 2026-11-15",
        group="rules",
    )
    p.add_argument("rate", metavar="RATE", help="monthly rate, e.g. 146.45")
    p.add_argument("start", metavar="START", help="first day YYYY-MM-DD")
    p.add_argument("end", metavar="END", help="last day YYYY-MM-DD (included)")
    fmt(p)
    p.set_defaults(func=cmd_prorate)

    p = sub.add_parser(
        "perdiem",
        help="per-diem billable occurrences from documented units",
        description="The per-diem occurrences a run creates from documented units: a day "
        "meeting the threshold, in arrears, within the authorization.",
        example="xl-pmpm perdiem units.csv --threshold 8 --arrears 3 --run-date 2026-10-20",
        group="rules",
    )
    p.add_argument("file", metavar="FILE", help="documented units CSV: client,date,code,units")
    p.add_argument("--threshold", required=True, help="units a day needs (met exactly counts)")
    p.add_argument("--arrears", required=True, help="days in arrears")
    p.add_argument("--run-date", required=True, help="day of the run YYYY-MM-DD")
    p.add_argument(
        "--auth",
        help="authorizations CSV: client,code,start,end,units_authorized,units_used",
    )
    p.add_argument(
        "--non-billable", help="codes that count, comma-separated (default: all in FILE)"
    )
    p.add_argument("--billable", help="billable codes, comma-separated (default: all in --auth)")
    p.add_argument("--minutes", default="180", help="billable note minutes (default: 180)")
    p.add_argument(
        "--look-back",
        metavar="DAYS",
        help="service days a run looks at, ending at the cutoff (1 = the nightly run's one "
        "day; default: every day up to the cutoff)",
    )
    p.add_argument(
        "--existing",
        metavar="FILE",
        help="CSV client,date of the occurrences already created: those days are skipped",
    )
    fmt(p)
    p.set_defaults(func=cmd_perdiem)

    p = sub.add_parser(
        "spans",
        help="check PMPM services cover the FI services, no overlaps",
        description="Check that the PMPM service spans cover the FI's service spans, without "
        "gaps or overlaps, for one provider.",
        example='xl-pmpm spans fi.csv pmpm.csv --provider "Sample FI"',
        group="rules",
    )
    p.add_argument("fi_file", metavar="FI_FILE", help="CSV: member,provider,start,end")
    p.add_argument("pmpm_file", metavar="PMPM_FILE", help="CSV: member,start,end[,monthly_rate]")
    p.add_argument("--provider", required=True, help="the FI's provider name")
    fmt(p)
    p.set_defaults(func=cmd_spans)

    p = sub.add_parser(
        "claim-dates",
        help="claim From/Through dates and submission window",
        description="A service month's claim From and Through dates and its submission "
        "window, by the payer's rule.",
        example="xl-pmpm claim-dates 2026-10 --payer Elderplan",
        group="rules",
    )
    p.add_argument("month", metavar="MONTH", help="service month YYYY-MM")
    p.add_argument("--payer", default="*", help="payer name from the payer settings")
    add_settings(p, layout=False)
    p.set_defaults(func=cmd_claim_dates)

    p = sub.add_parser(
        "service-setup",
        help="check the service-code setup and billing rates against the rate table",
        description="Check a service-code setup export against the rate table (HCPCS, "
        "service, revenue and export codes: phase 1) and the contracts' billing-rate export "
        "(missing or inactive rates, rates other than the tier's, billing units, gaps: phase "
        "2). Exit 0 matches, 1 errors.",
        example=[
            "xl-pmpm service-setup setup.csv --month 2026-10",
            "xl-pmpm service-setup --billing-rates billing_rates.csv --month 2026-10",
        ],
        group="rules",
    )
    p.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="CSV: Contract, Discipline, Service Code, Description, Export Code, Revenue Code, "
        "HCPCS Code[, Modifier]",
    )
    p.add_argument(
        "--billing-rates",
        metavar="CSV",
        help="the contracts' billing-rate export (rate, billing units, active, from/to dates "
        "per service code): checked for every month from its first From Date to --month",
    )
    p.add_argument(
        "--billing-rates-mapping",
        metavar="TOML",
        help="the billing-rate export's column names (default: the bundled "
        "billing_rates_columns.toml)",
    )
    p.add_argument("--month", help="month whose rates apply YYYY-MM (default: this month)")
    add_settings(p)
    p.set_defaults(func=cmd_service_setup)

    p = sub.add_parser(
        "kpi",
        help="PMPM revenue per member, tiers, tier mix and payers by month",
        description="KPIs from the ledger: PMPM revenue per member per month, members and "
        "revenue by tier, tier mix month over month, per payer.",
        example="xl-pmpm kpi --visits visits_2026-09.csv",
        group="ledger",
    )
    p.add_argument("--ledger", help=LEDGER_HELP)
    p.add_argument(
        "--visits",
        nargs="+",
        metavar="VISITS",
        help="visits CSV(s): add billed vs earned PMPM per month and payer",
    )
    p.add_argument("--mapping", help="visits column mapping TOML (default: the bundled one)")
    p.add_argument(
        "--remittance",
        nargs="+",
        metavar="FILE",
        help="835 remittance file(s): add paid vs billed PMPM per month and payer",
    )
    p.add_argument("--as-of", help="day the remittance days count to YYYY-MM-DD (default: today)")
    add_settings(p, layout=False)
    p.set_defaults(func=cmd_kpi)
