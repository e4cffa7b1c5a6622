"""The monthly workflow on files: read, validate, review, export. A shell over the core.

`export_import_file` is the one export path: the CLI, the workbook and the
resubmission of corrected rows (reconcile.py) all go through it, with or without
the export ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from xl_pmpm.core.errors import ExportRefused, PmpmInputError
from xl_pmpm.core.export import ExportPart, import_parts
from xl_pmpm.core.findings import ValidationReport
from xl_pmpm.core.flags import risk_total
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.report import TierReport
from xl_pmpm.core.review import DEFER, DELETE, defer_rows, delete_rows, suggest_actions
from xl_pmpm.core.row_checks import blank_rows
from xl_pmpm.core.validation import validate_report, validate_table
from xl_pmpm.io import files
from xl_pmpm.io import ledger as ledger_room
from xl_pmpm.io.behind import write_behind
from xl_pmpm.io.ledger import LOCK_TIMEOUT, exists
from xl_pmpm.io.memory import release_unused

if TYPE_CHECKING:
    from xl_pmpm.io.ledger import Reconciled


@dataclass
class Checked:
    """A tier report read and validated, with its rows' tier flags."""

    report: TierReport
    validation: ValidationReport
    flags: pd.DataFrame


@dataclass
class Exported:
    """What an export wrote: files, rows, the validation it passed, rows per contract."""

    files: list[Path]
    rows: int
    validation: ValidationReport
    contracts: dict[str, int] = field(default_factory=dict)
    # Each file's contract and rows, in the order of `files` (file names shorten contracts).
    file_contracts: list[dict[str, object]] = field(default_factory=list)
    ledger: str | Path | None = None  # the ledger the rows were recorded in (None: not recorded)
    recovered: Reconciled | None = None  # an interrupted earlier export finished first


def as_of_date(given: date | None) -> date:
    """The day the checks count from: the one given, else today (every shell alike)."""
    return given if given is not None else date.today()


def this_month(given: str | None = None) -> str:
    """The billing month (YYYY-MM): the one given, else today's (every shell alike)."""
    return given if given else str(pd.Period(date.today(), freq="M"))


def check_file(
    path: str | Path,
    layout: Layout,
    book: RateBook,
    *,
    month: str | None = None,
    as_of: date | None = None,
    original: str | Path | None = None,
    ledger: str | Path | None = None,
    corrections: Iterable[int] = (),
) -> Checked:
    """Read and validate a tier report file (against the export ledger too, if given)."""
    report = files.read_tier_report(path, layout)
    before = files.read_tier_report(original, layout).table if original else None
    validation, flags = validate_report(
        report, layout, book, month=month, as_of=as_of_date(as_of), original=before
    )
    if ledger is not None and report.readable:
        validation = ledger_room.check_against_ledger(  # SQLAlchemy: only when used
            validation,
            ledger,
            report.table,
            layout,
            corrections=correction_lines(report.table, corrections),
        )
    return Checked(report, validation, flags)


def correction_lines(table: pd.DataFrame, lines: Iterable[int]) -> list[int]:
    """The correction lines, checked to be rows of `table` (PmpmInputError if not)."""
    wanted = list(dict.fromkeys(int(n) for n in lines))
    unknown = [n for n in wanted if n not in table.index]
    if unknown:
        raise PmpmInputError(
            f"Correction line(s) {', '.join(map(str, unknown[:5]))} are not rows of this report.",
            fix="Give the line numbers of the file (header = line 1, first row = line 2).",
        )
    return wanted


def blank_lines(table: pd.DataFrame, validation: ValidationReport) -> pd.Series:
    """The rows validation reported blank, so export does not look for them again."""
    found = validation.findings
    lines = found.loc[found["code"] == "blank-row", "row"]
    return pd.Series(table.index.isin(lines.astype("int64")), index=table.index)


def export_import_file(
    table: pd.DataFrame,
    out_dir: str | Path,
    layout: Layout,
    book: RateBook,
    *,
    month: str | None = None,
    as_of: date | None = None,
    at: datetime,
    source: str = "",
    read_findings: pd.DataFrame | None = None,
    original: pd.DataFrame | None = None,
    ledger: str | Path | None = None,
    corrections: Iterable[int] = (),
    lock_timeout: float = LOCK_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> Exported:
    """Validate `table` and, if no error remains, write its import file(s) to `out_dir`.

    Raises ExportRefused (nothing written, nothing recorded) while errors remain,
    a locked field changed since `original` (the extract as loaded) among them. The
    as-of date defaults to today, as everywhere.

    With `ledger` (a SQLite file, created if absent, or a server URL), one export at a
    time holds its lock (ExportBusy after `lock_timeout` seconds); an interrupted
    earlier export into `out_dir` is finished first; member-months already in the
    ledger are `already-exported` errors, except the rows whose lines are in
    `corrections`; the files are written and their rows recorded crash-safely
    (pending, linked, confirmed: see io/ledger/_recording.py). A member-month another export
    recorded in the meantime (the database's uniqueness rule) is refused the same way,
    nothing written. `progress` is told each step as it starts (a long export's
    reader sees it move), with its count of rows.
    """
    say = progress or (lambda step: None)
    if ledger is None and list(corrections):
        raise PmpmInputError(
            "Corrections are rows exported again: they need the export ledger.",
            fix="Export with the ledger, or leave out the correction lines.",
        )
    say(f"validating {len(table):,} row(s)")
    validation, flags = validate_table(
        table,
        layout,
        book,
        month=month,
        as_of=as_of_date(as_of),
        original=original,
        source=source,
        read_findings=read_findings,
    )
    fixes = correction_lines(table, corrections)
    name_month = validation.month or "month"
    blank = blank_lines(table, validation)
    # The rows' tier flags are the ledger's, and it records only their tier and rate (all
    # of them: a quarter GiB at a million rows).
    flags = None if ledger is None else claimed(flags)[[c for c in ("tier", "rate") if c in flags]]
    release_unused()  # validation's scratch: before the import files are built
    made: list[ExportPart] = []  # the parts as they are written (their bytes let go)
    try:
        parts: Iterable[ExportPart] | None = kept(
            import_parts(
                table,
                layout,
                validation,
                month=name_month,
                stamp=at,
                blank=blank,
                fingerprints=ledger is not None,  # the ledger's record of each row
            ),
            made,
        )
    except ExportRefused:
        if ledger is None or not exists(ledger):
            raise  # nothing touched: no folder, no ledger, no lock file
        parts = None  # refused below, with the ledger's findings in the report too
    recovered = None
    if ledger is None:
        assert parts is not None
        say("writing the import files")
        written = write_all_or_none(out_dir, parts)
    else:
        # From the ledger check to the last write, no other export may use the ledger;
        # it is opened once (one engine) for all the steps.
        with ledger_room.Ledger.for_export(ledger, lock_timeout) as db:
            recovered = db.reconcile(out_dir)
            say(f"checking {len(table):,} row(s) against the ledger")
            checked = db.check(validation, table, layout, corrections=fixes)
            if parts is None or checked is not validation:  # refused: nothing written
                list(import_parts(table, layout, checked, month=name_month, stamp=at, blank=blank))
            assert parts is not None
            try:
                written = db.record(
                    parts,
                    out_dir,
                    table,
                    claimed(flags),
                    layout,
                    month=validation.month or "",
                    at=at,
                    corrections=fixes,
                    progress=say,
                )
            except ledger_room.LedgerConflict as lost:
                # Another export recorded these member-months first: refused as any error.
                refused = checked.with_findings(lost.findings)
                list(import_parts(table, layout, refused, month=name_month, stamp=at, blank=blank))
                raise
    contracts: dict[str, int] = {}
    for p in made:
        contracts[p.contract] = contracts.get(p.contract, 0) + p.rows
    by_file = [
        {"file": str(path), "contract": p.contract, "rows": p.rows}
        for path, p in zip(written, made, strict=True)
    ]
    return Exported(
        written,
        sum(p.rows for p in made),
        validation,
        contracts,
        by_file,
        ledger,
        recovered,
    )


def kept(parts: Iterable[ExportPart], into: list[ExportPart]) -> Iterator[ExportPart]:
    """`parts`, each also appended to `into` as it is taken."""
    for p in parts:
        into.append(p)
        yield p


def write_all_or_none(out_dir: str | Path, parts: Iterable[ExportPart]) -> list[Path]:
    """Write every part (each atomically), or none: on a failure (a full disk, a folder that
    cannot be written, a part that cannot be built) the parts already written are removed
    again, so that an export is never uploaded in part. Each part is written while the next
    is built (`write_behind`), and its `data` emptied once written (the file holds it):
    parts built one at a time are never all held."""

    def write(p: ExportPart) -> Path:
        path = files.write_new_file(out_dir, p.name, p.data)
        p.data = b""
        return path

    return write_behind(parts, write, undo=lambda path: path.unlink(missing_ok=True))


def claimed(flags: pd.DataFrame) -> pd.DataFrame:
    """`flags` with the tier and rate each row is billed at (a raised tier's: tier-raised)."""
    if "claim_tier" not in flags:
        return flags
    return flags.assign(tier=flags["claim_tier"], rate=flags["claim_rate"])


def apply_actions(
    table: pd.DataFrame,
    actions: pd.DataFrame,
    layout: Layout,
    *,
    at: datetime,
    source: str = "",
    month: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply (line, action, reason) rows; returns the new table and all archive records.

    KEEP rows (a suggestion to leave the row as it is) change nothing.
    """
    records = []
    for action, group in actions.groupby("action", sort=False):
        for reason, rows in group.groupby("reason", sort=True):
            if action == DELETE:
                table, rec = delete_rows(
                    table, rows["line"], reason=reason, at=at, source=source, month=month
                )
            elif action == DEFER:
                table, rec = defer_rows(
                    table, rows["line"], layout, reason=reason, at=at, source=source, month=month
                )
            else:
                continue
            records.append(rec)
    archive = pd.concat(records, ignore_index=True) if records else pd.DataFrame()
    return table, archive


def month_summary(table: pd.DataFrame, flags: pd.DataFrame) -> dict:
    """Members, hours and dollars by tier, and the dollars at risk (blank rows aside,
    as validation counts rows)."""
    live = flags.loc[flags.index.intersection(table.index[~blank_rows(table)])]
    by_tier = (
        live.dropna(subset=["tier"])
        .groupby("tier")
        .agg(members=("tier", "size"), hours=("billed_hours", "sum"), dollars=("rate", "sum"))
    )
    return {
        "members": int(len(live)),
        "by_tier": {
            int(t): {
                "members": int(r.members),
                "hours": round(float(r.hours), 2),
                "dollars": round(float(r.dollars), 2),
            }
            for t, r in by_tier.iterrows()
        },
        "billable_dollars": round(float(live["rate"].sum()), 2),
        "at_risk_members": int(live["at_risk"].sum()),
        "at_risk_dollars": risk_total(live),
    }


def suggest_review(checked: Checked, layout: Layout, book: RateBook) -> pd.DataFrame:
    """`review.suggest_actions` on a checked report, in its billing month."""
    return suggest_actions(
        checked.validation.findings,
        checked.flags,
        checked.report.table,
        layout,
        book,
        checked.validation.month,
    )
