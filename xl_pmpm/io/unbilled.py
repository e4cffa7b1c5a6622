"""The files behind `xl-pmpm unbilled` and the workbook's Unbilled button.

Reads the visits files, the export ledger and the review archive, and hands them to
:mod:`xl_pmpm.core.unbilled`, where the rules are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.unbilled import (
    Unbilled,
    combine_member_month_hours,
    earned_from_hours,
    earned_months,
    find_unbilled,
    member_month_hours,
    set_aside_member_months,
    with_remittance,
)
from xl_pmpm.core.visits import VisitsMapping
from xl_pmpm.io import files, ledger
from xl_pmpm.io.memory import release_unused
from xl_pmpm.io.visits_reader import iter_visits

LEDGER_FIX = "Give the ledger your exports were recorded in (xl-pmpm history --ledger shows it)."


@dataclass
class UnbilledRun:
    """What was read and what was found."""

    unbilled: Unbilled
    visits_paths: list[Path]
    mapping: VisitsMapping
    ledger: str | Path | None  # None: no ledger yet (nothing exported); a server's address
    archive: Path | None

    def visits_of(self, members: set[str]) -> pd.DataFrame:
        """The visits of these members, read again file by file (only they are kept)."""
        frames = [
            chunk[chunk["patient_number"].isin(members)]
            for path in self.visits_paths
            for chunk in iter_visits(path, self.mapping)
        ]
        return pd.concat(frames, ignore_index=True)


def read_member_month_hours(
    paths: Sequence[str | Path], mapping: VisitsMapping, months: list[str] | None = None
) -> pd.DataFrame:
    """`core.unbilled.member_month_hours` of several visits files, read one at a time.

    Large files are read a chunk at a time (`visits_reader.iter_visits`) and only the
    member-month sums are kept, so memory is one chunk plus the sums, whatever the
    number and size of the files.
    """
    if not paths:
        raise PmpmInputError("No visits file given.", fix="Name one visits CSV or more.")
    parts: list[pd.DataFrame] = []
    total_rows = pending = 0
    for path in paths:
        for chunk in iter_visits(path, mapping):
            parts.append(member_month_hours(chunk, months))
            del chunk
            release_unused()  # each chunk's text and codes, back before the next is read
            pending += len(parts[-1])
            # Folded in once the parts reach half the sums: memory holds about twice the
            # sums, never every file's visits, and the sums are not regrouped per chunk.
            if pending > max(total_rows // 2, 500_000):
                parts = [combine_member_month_hours(parts)]
                total_rows, pending = len(parts[0]), 0
    return combine_member_month_hours(parts) if parts else None


def earned_from_files(
    paths: Sequence[str | Path],
    mapping: VisitsMapping,
    book: RateBook,
    months: list[str] | None = None,
) -> pd.DataFrame:
    """The member-months the visits files earned (`core.unbilled.earned_member_months`)."""
    return earned_from_hours(read_member_month_hours(paths, mapping, months), book)


# The entry columns the unbilled rules read (core.unbilled.ledger_outcomes).
OUTCOME_COLUMNS = ("patient_number", "month", "status", "placeholder")


def read_entries(
    path: str | Path | None, *, required: bool, months: Sequence[str] | None = None
) -> tuple[pd.DataFrame | None, str | Path | None]:
    """The ledger's entries (OUTCOME_COLUMNS, of `months` if given); (None, None) when
    `path` is missing and not `required`."""
    if path is None:
        return None, None
    if ledger.address(path).server:  # a team's ledger server: connecting tells whether it is there
        return ledger.entry_columns(path, OUTCOME_COLUMNS, months), path
    p = Path(path)
    if not p.exists() or (p.is_file() and not ledger.exists(p)):  # none, or a blank file
        if required and not p.exists():
            raise PmpmInputError("No ledger here.", file=str(p), fix=LEDGER_FIX)
        return None, None
    if p.is_dir():
        raise PmpmInputError("This is a folder, not a ledger file.", file=str(p), fix=LEDGER_FIX)
    return ledger.entry_columns(p, OUTCOME_COLUMNS, months), p


def unbilled_from_files(
    visits_paths: Sequence[str | Path],
    mapping: VisitsMapping,
    layout: Layout,
    book: RateBook,
    as_of: date,
    *,
    ledger_path: str | Path | None,
    ledger_required: bool = True,
    archive: str | Path | None = None,
    months: list[str] | None = None,
    remittance: Sequence[str | Path] = (),
) -> UnbilledRun:
    """Read everything and find the unbilled member-months (see core.unbilled).

    `remittance`: 835 files; the member-months they deny, reverse or underpay are added
    (reason `denied-or-underpaid`, `core.unbilled.with_remittance`)."""
    archive_dir = Path(archive) if archive else None
    if archive_dir is not None and not archive_dir.is_dir():
        raise PmpmInputError(
            "No archive folder here.",
            file=str(archive_dir),
            fix="Give the archive folder `xl-pmpm review` wrote (OUT/archive by default).",
        )
    earned = earned_from_files(visits_paths, mapping, book, months)
    release_unused()  # what reading the visits freed, before the ledger is read
    months_seen = earned_months(earned)
    entries, used = read_entries(ledger_path, required=ledger_required, months=months_seen)
    aside = (
        set_aside_member_months(files.read_archive(archive_dir), layout)
        if archive_dir is not None
        else None
    )
    found = find_unbilled(earned, entries, book, as_of, set_aside=aside)
    if remittance:
        if used is None:
            raise PmpmInputError("No ledger to match the 835 remittances to.", fix=LEDGER_FIX)
        from xl_pmpm.core.remittance import NO_REMITTANCE  # only with 835 files
        from xl_pmpm.io.remittance import remittance_from_files

        remit = remittance_from_files(remittance, ledger.history(used), book, as_of)
        short = remit.recoverable[remit.recoverable["result"] != NO_REMITTANCE]
        if months:
            short = short[short["month"].isin(months)]
        found = with_remittance(found, short, earned)
    paths = [Path(p) for p in visits_paths]
    return UnbilledRun(found, paths, mapping, used, archive_dir)
