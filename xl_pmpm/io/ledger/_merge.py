"""Merging a ledger an earlier release kept in an export folder into the agency's ledger.

Before issue 22 the default ledger was `pmpm-ledger.sqlite3` in each export folder:
two folders, two ledgers, and the same month could be billed from both. The default
is now one ledger per agency (`_address.default_ledger`); an export that finds
an old folder ledger refuses until it is merged (`xl-pmpm ledger merge OLD`).

`merge` (holding both ledgers' locks, in ONE transaction of the target):
- the old ledger's interrupted exports are finished first (`reconcile_pending`);
- an entry already in the target (same member, month, folder, file and line) is
  skipped, so merging twice adds nothing;
- a member-month that both ledgers hold as exported (or pending) in *different* files,
  neither a correction, is refused: nothing is merged, and the pairs of files are
  listed (by month, file and line: never a member ID);
- every other entry is copied with its status, batch and hashes; a correction's link to
  the placeholder it replaced (`replaces`) follows the placeholder's new id.
Afterwards the old file (and its `.backup`) is moved out of the export folder into
`merged/` in the user's data folder (kept, never deleted), with its lock file removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from xl_pmpm.core.entries import BLOCKING, ENTRY_COLUMNS
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.values import member_key
from xl_pmpm.io.ledger._address import FileAddress, address, backup_path, data_dir, exists
from xl_pmpm.io.ledger._db import Ledger, opened
from xl_pmpm.io.ledger._lock import lock_path, locked
from xl_pmpm.io.ledger._recording import reconcile_pending
from xl_pmpm.io.ledger._records import read_entries
from xl_pmpm.io.ledger._tables import exports

KEY = ["member", "month"]
SAME_ROW = ["member", "month", "directory", "file_name", "line"]


@dataclass
class Merged:
    """What `merge` did."""

    copied: int = 0
    skipped: int = 0
    moved_to: Path | None = None
    conflicts: list[str] = field(default_factory=list)


def _blocking(entries: pd.DataFrame) -> pd.DataFrame:
    keep = entries["status"].isin(BLOCKING) & entries["correction"].eq(0)
    return entries[keep]


def _conflicts(old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Member-months billed in both ledgers from different files: as 'month: a line n / b'."""
    a, b = _blocking(old), _blocking(new)
    both = a.merge(b, on=KEY, suffixes=("_old", "_new"))
    both = both[
        (both["directory_old"] != both["directory_new"])
        | (both["file_name_old"] != both["file_name_new"])
        | (both["placeholder_old"] != both["placeholder_new"])
    ]
    return [
        f"{r.month}: {Path(r.directory_old) / r.file_name_old} line {r.line_old} "
        f"and {Path(r.directory_new) / r.file_name_new} line {r.line_new}"
        for r in both.sort_values(["month", "file_name_old", "line_old"]).itertuples()
    ]


def _row_keys(entries: pd.DataFrame) -> list[tuple[str, ...]]:
    lines = pd.to_numeric(entries["line"], errors="coerce").astype("Int64").astype(str)
    return list(zip(*(entries[c].astype(str) for c in SAME_ROW[:-1]), lines, strict=True))


def _with_key(entries: pd.DataFrame) -> pd.DataFrame:
    return entries.assign(member=member_key(entries["patient_number"]).to_numpy())


def _move_aside(old: Path) -> Path:
    """Move the merged ledger (and its backup) into `merged/` of the data folder."""
    from xl_pmpm.io.files import ensure_private_dir

    folder = ensure_private_dir(data_dir() / "merged")
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    target = folder / f"{stamp}-{old.parent.name or 'folder'}-{old.name}"
    n = 2
    while target.exists():
        target = folder / f"{stamp}-{n}-{old.parent.name or 'folder'}-{old.name}"
        n += 1
    shutil.move(str(old), target)
    backup = backup_path(old)
    if backup.exists():
        shutil.move(str(backup), backup_path(target))
    return target


def merge(old: str | Path, into: str | Path | Ledger) -> Merged:
    """Merge the SQLite ledger `old` into the ledger `into` (see the module doc)."""
    source = address(old)
    if not isinstance(source, FileAddress):
        raise PmpmInputError(
            "Only a ledger file can be merged in.",
            file=source.shown,
            fix="Give the path of the old pmpm-ledger.sqlite3.",
        )
    old_path = source.path
    target = address(into)
    if not exists(source):
        raise PmpmInputError(
            "No ledger entries to merge in this file.",
            file=str(old_path),
            fix="Give the pmpm-ledger.sqlite3 an earlier export left in its folder.",
        )
    if isinstance(target, FileAddress) and target.path.resolve() == old_path.resolve():
        raise PmpmInputError(
            "That is the ledger in use; there is nothing to merge.",
            file=str(old_path),
            fix="Give the old ledger, and the agency's with --ledger (or its default).",
        )
    done = Merged()
    with locked(old_path), locked(into):
        reconcile_pending(old_path)
        with opened(old_path, read_only=True) as src, src.connect() as conn:
            entries = _with_key(read_entries(conn))
        with opened(into) as db, db.begin() as conn:
            have = _with_key(read_entries(conn))
            done.conflicts = _conflicts(entries, have)
            if done.conflicts:
                shown = "\n  ".join(done.conflicts[:20])
                extra = len(done.conflicts) - 20
                more = f"\n  ... and {extra} more" if extra > 0 else ""
                raise PmpmInputError(
                    f"{len(done.conflicts)} member-month(s) were exported in both ledgers, in "
                    f"different files; nothing was merged:\n  {shown}{more}",
                    file=str(old_path),
                    fix="One of each pair was billed twice: see which HHAeXchange imported, "
                    "mark the other rejected (`xl-pmpm reconcile` with its results file, in "
                    "the ledger that recorded it), then merge again.",
                )
            present = set(_row_keys(have))
            ids: dict[int, int] = {}
            later: list[tuple[int, int]] = []  # (new id, old placeholder id)
            columns = [c for c in ENTRY_COLUMNS if c != "id"]
            for row, key in zip(entries.itertuples(index=False), _row_keys(entries), strict=True):
                if key in present:
                    done.skipped += 1
                    continue
                values = {c: getattr(row, c) for c in columns}
                values = {k: (None if pd.isna(v) else v) for k, v in values.items()}
                values = {k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()}
                old_replaces = values.pop("replaces")
                new_id = conn.execute(
                    sa.insert(exports).values(**values).returning(exports.c.id)
                ).scalar_one()
                ids[int(row.id)] = new_id
                if old_replaces is not None:
                    later.append((new_id, int(old_replaces)))
                done.copied += 1
            for new_id, placeholder in later:
                if placeholder in ids:
                    conn.execute(
                        sa.update(exports)
                        .where(exports.c.id == new_id)
                        .values(replaces=ids[placeholder])
                    )
    done.moved_to = _move_aside(old_path)
    with contextlib.suppress(OSError):
        os.unlink(lock_path(old_path))
    return done
