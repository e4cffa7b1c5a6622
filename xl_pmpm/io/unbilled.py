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
    earned_member_months,
    find_unbilled,
    set_aside_member_months,
)
from xl_pmpm.core.visits import VisitsMapping
from xl_pmpm.io import files, ledger
from xl_pmpm.io.visits_reader import read_visits

LEDGER_FIX = "Give the ledger your exports were recorded in (xl-pmpm history --ledger shows it)."


@dataclass
class UnbilledRun:
    """What was read and what was found."""

    unbilled: Unbilled
    visits: pd.DataFrame  # the normalized visits of every file, for --into
    ledger: Path | None  # None: no ledger yet (nothing exported)
    archive: Path | None


def read_visits_files(paths: Sequence[str | Path], mapping: VisitsMapping) -> pd.DataFrame:
    """The normalized visits of several files, one after the other."""
    if not paths:
        raise PmpmInputError("No visits file given.", fix="Name one visits CSV or more.")
    frames = [read_visits(p, mapping) for p in paths]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_entries(
    path: str | Path | None, *, required: bool
) -> tuple[pd.DataFrame | None, Path | None]:
    """The ledger's entries; (None, None) when `path` is missing and not `required`."""
    if path is None:
        return None, None
    p = Path(path)
    if not p.exists():
        if required:
            raise PmpmInputError("No ledger here.", file=str(p), fix=LEDGER_FIX)
        return None, None
    if p.is_dir():
        raise PmpmInputError("This is a folder, not a ledger file.", file=str(p), fix=LEDGER_FIX)
    return ledger.history(p), p


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
) -> UnbilledRun:
    """Read everything and find the unbilled member-months (see core.unbilled)."""
    archive_dir = Path(archive) if archive else None
    if archive_dir is not None and not archive_dir.is_dir():
        raise PmpmInputError(
            "No archive folder here.",
            file=str(archive_dir),
            fix="Give the archive folder `xl-pmpm review` wrote (OUT/archive by default).",
        )
    visits = read_visits_files(visits_paths, mapping)
    entries, used = read_entries(ledger_path, required=ledger_required)
    aside = (
        set_aside_member_months(files.read_archive(archive_dir), layout)
        if archive_dir is not None
        else None
    )
    earned = earned_member_months(visits, book, months)
    found = find_unbilled(earned, entries, book, as_of, set_aside=aside)
    return UnbilledRun(found, visits, used, archive_dir)
