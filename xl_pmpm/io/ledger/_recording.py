"""Writing the import files and recording their rows so that a crash loses neither.

`write_and_record` (which `workflow.export_import_file` calls when given a ledger):
a SQLite ledger is first copied to `<ledger>.backup` (`backup.backup_ledger`);
the import files are written to hidden temp files (`.NAME.pending`, fsync'd);
then, in ONE transaction, the member-months are checked against the ledger again
(already exported, or over an open placeholder), every entry is recorded as
`pending` and linked to the placeholder it replaces (the database's uniqueness rule refuses a
member-month another export recorded meanwhile: `LedgerConflict`, and the temp files
are removed, so the loser writes nothing); then each temp file is put at its final
name (`atomic.publish`: a hard link, or where the folder has none an exclusive
reservation replaced by the temp file; atomic, never over an existing file); then the
batch is confirmed in one transaction (its files' pending marks removed: no entry is
rewritten, db). A folder that refuses a file at that step gets
the export taken back (its files, temp files and pending entries) and a message naming
the folder and the cause.

`reconcile_pending` (run at the start of every export, or on its own) finishes an
interrupted batch: a pending entry whose final file exists with the recorded sha256
is confirmed; one whose temp file survives with that hash is rolled forward (linked,
then confirmed); one with neither is deleted. Temp files no entry refers to are
removed. After it, every entry names a file that exists with its recorded hash, and
every file written has all its entries.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from xl_pmpm.core.entries import EXPORTED, PENDING
from xl_pmpm.core.errors import PmpmError, PmpmInputError
from xl_pmpm.core.export import ExportPart
from xl_pmpm.core.findings import empty_findings, finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.io.atomic import is_reservation, numbered_names, publish, write_synced
from xl_pmpm.io.behind import write_behind
from xl_pmpm.io.ledger._address import exists
from xl_pmpm.io.ledger._backup import backup_ledger
from xl_pmpm.io.ledger._checks import blocked_rows, ledger_findings
from xl_pmpm.io.ledger._db import Ledger, opened
from xl_pmpm.io.ledger._inserts import export_entries, insert_entries, insert_files
from xl_pmpm.io.ledger._records import (
    any_placeholder,
    blocking_entries,
    hold_files,
    link_placeholders,
    members_of,
    sha256_hex,
)
from xl_pmpm.io.ledger._tables import exports, files, pending_files
from xl_pmpm.io.memory import release_unused

TEMP_SUFFIX = ".pending"


class LedgerConflict(PmpmError):
    """Another export recorded some of these member-months first; nothing was written."""

    def __init__(self, findings: pd.DataFrame) -> None:
        self.findings = findings
        super().__init__(
            f"{len(findings)} row(s) were exported by another export meanwhile; "
            "nothing was written."
        )


def _checkpoint(stage: str) -> None:
    """Between the steps of `write_and_record`; tests replace it to simulate a crash."""


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_path(directory: Path, name: str) -> Path:
    return directory / f".{name}{TEMP_SUFFIX}"


def _file_sha(path: Path) -> str | None:
    try:
        return sha256_hex(path.read_bytes())
    except OSError:
        return None


@dataclass
class Reconciled:
    """What `reconcile_pending` did, by file name."""

    confirmed: list[str] = field(default_factory=list)
    rolled_forward: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    temp_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.confirmed or self.rolled_forward or self.dropped or self.temp_removed)


def _pending_files(db: Ledger, only: str | None) -> pd.DataFrame:
    """directory, file_name, sha256 and batch of each file with pending entries (of `only`),
    oldest first: one row per file (`pending_files`), not per entry."""
    c = pending_files.c
    where = [c.directory == only] if only is not None else []
    query = sa.select(c.directory, c.file_name, c.sha256, c.batch).where(*where).order_by(c.id)
    with db.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["directory", "file_name", "sha256", "batch"], dtype=object)


# A file's entries (its batch's: by its `files` row, or, entries that hold their file
# themselves, as the file index finds them) and its pending mark. The entries of a
# pending file are stored `exported` (db); one marked rejected since stays, as it did
# when pending was stored.
_THE_FILE = (
    (files.c.directory == sa.bindparam("d"))
    & (files.c.file_name == sa.bindparam("n"))
    & (files.c.batch == sa.bindparam("b"))
)
_FILE_ENTRIES = (
    sa.or_(
        exports.c.file_id.in_(sa.select(files.c.id).where(_THE_FILE)),
        sa.and_(
            exports.c.file_id.is_(None),
            exports.c.directory == sa.bindparam("d"),
            exports.c.file_name == sa.bindparam("n"),
            exports.c.batch == sa.bindparam("b"),
        ),
    )
) & (exports.c.status == EXPORTED)
# A file's row once no entry names it (its entries dropped; a rejected one keeps it).
_UNUSED_FILE = _THE_FILE & ~sa.exists().where(exports.c.file_id == files.c.id)
_PENDING_FILE = (pending_files.c.directory == sa.bindparam("d")) & (
    pending_files.c.file_name == sa.bindparam("n")
)


def reconcile_pending(
    db_path: str | Path | Ledger, out_dir: str | Path | None = None
) -> Reconciled:
    """Finish interrupted exports (all folders, or only `out_dir`); see the module doc.

    Call it holding `lock.locked(db_path)`: a running export's pending entries
    must not be taken for an interrupted one's.
    """
    done = Reconciled()
    if not exists(db_path):
        return done
    only = str(Path(out_dir).resolve()) if out_dir is not None else None
    with opened(db_path, create=False) as db:
        waiting = _pending_files(db, only)
        confirm: list[dict] = []
        drop: list[dict] = []
        for directory, name, sha, batch in zip(
            waiting["directory"],
            waiting["file_name"],
            waiting["sha256"],
            waiting["batch"],
            strict=True,
        ):
            final, temp = Path(directory) / name, _temp_path(Path(directory), name)
            key = {"d": directory, "n": name, "b": batch}
            if final.exists() and is_reservation(final) and _file_sha(temp) == sha:
                os.replace(temp, final)  # our own reservation (a folder without hard links)
                _fsync_dir(Path(directory))
                confirm.append(key)
                done.rolled_forward.append(name)
            elif final.exists():
                if _file_sha(final) == sha:
                    confirm.append(key)
                    done.confirmed.append(name)
                else:  # someone else's file under that name: ours never got there
                    drop.append(key)
                    done.dropped.append(name)
            elif _file_sha(temp) == sha:
                publish(temp, final)
                _fsync_dir(Path(directory))
                confirm.append(key)
                done.rolled_forward.append(name)
            else:
                drop.append(key)
                done.dropped.append(name)
        with db.begin() as conn:
            if confirm:  # the entries stand as stored: only the pending mark goes
                conn.execute(sa.delete(pending_files).where(_PENDING_FILE), confirm)
            if drop:
                conn.execute(sa.delete(exports).where(_FILE_ENTRIES), drop)
                conn.execute(sa.delete(pending_files).where(_PENDING_FILE), drop)
                conn.execute(sa.delete(files).where(_UNUSED_FILE), drop)
    # Every pending entry of these folders is resolved: their temp files are leftovers
    # (rolled forward, confirmed, or written before the crash and never recorded).
    folders = {only} if only is not None else set(waiting["directory"])
    for folder in folders:
        d = Path(folder)
        if not d.is_dir():
            continue
        for temp in d.glob(f".*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)
            done.temp_removed.append(temp.name)
    return done


def _free_name(directory: Path, name: str, taken: set[str]) -> str:
    return next(
        c
        for c in numbered_names(name)
        if c not in taken and not (directory / c).exists() and not _temp_path(directory, c).exists()
    )


def _record_pending(
    db_path: str | Path | Ledger,
    made: list[ExportPart],
    table: pd.DataFrame,
    flags: pd.DataFrame,
    layout: Layout,
    month: str,
    at: datetime,
    corrections: list[int],
    batch: str,
    files_made: list[tuple[str, str, str]],
    hashes: list[np.ndarray] | None,
) -> None:
    """ONE transaction: the member-months checked again, then a `files` row per file and
    every entry of `made` recorded pending, a chunk at a time in member order (a correction
    linked to the placeholder it replaces).

    A member-month another export recorded since the first check (or a placeholder
    another export left open meanwhile) is a LedgerConflict, whether this transaction
    sees its entry or the uniqueness rule stops the insert.
    """
    period = str(pd.Period(month, freq="M")) if month else month
    with opened(db_path) as db:
        try:
            with db.begin() as conn:
                taken = ledger_findings(conn, table, period, layout, corrections)
                if not taken.empty:
                    raise LedgerConflict(taken)
                names = [(n, sha) for _, n, sha in files_made]
                # Whether a placeholder is open, asked before the batch's entries are in:
                # the look reads every entry, and the batch says itself whether it has one.
                before = any_placeholder(conn)
                ids = insert_files(conn, batch, files_made[0][0] if files_made else "", at, names)
                rows = export_entries(made, ids, table, flags, layout, corrections, hashes)
                held = insert_entries(conn, rows, str(month), PENDING)
                hold_files(conn, batch, files_made)
                link_placeholders(conn, batch, before or held)
        except IntegrityError:
            with db.connect() as conn:  # the winner's entries, now committed
                done = blocking_entries(conn, period, members_of(table, layout))
                taken = blocked_rows(done, table, period, layout, corrections)
            if taken.empty:  # only the rule saw it (e.g. two rows of one member)
                col = layout.name_of("patient_number")
                where = pd.Index([n for p in made for n in p.lines])
                taken = finding_rows(
                    "already-exported",
                    where,
                    col,
                    table.loc[where, col],
                    f"Already exported for {period} by another export.",
                )
            raise LedgerConflict(taken if not taken.empty else empty_findings()) from None


def _unpublish(
    db_path: str | Path | Ledger,
    batch: str,
    files_made: list[tuple[str, str, str]],
    written: list[Path],
    temps: list[Path],
) -> None:
    """Take back an export whose files could not all be put in place: the files it put
    there (its own: named by it a moment ago), its temp files, and its pending entries."""
    for path in [*written, *temps]:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    keys = [{"d": d, "n": n, "b": batch} for d, n, _ in files_made]
    with opened(db_path) as db, db.begin() as conn:
        conn.execute(sa.delete(exports).where(_FILE_ENTRIES), keys)
        conn.execute(sa.delete(pending_files).where(pending_files.c.batch == batch))
        conn.execute(sa.delete(files).where(_UNUSED_FILE), keys)


def _publish_error(directory: Path, exc: OSError) -> PmpmInputError:
    cause = exc.strerror or type(exc).__name__
    return PmpmInputError(
        f"The import files could not be put in place in the folder {directory} ({cause}); "
        "nothing was written and nothing recorded in the ledger.",
        file=str(directory),
        fix="Export to a folder on a local disk (then copy the files where they go), "
        "or check the folder's permissions and free space.",
    )


def write_and_record(
    parts: Iterable[ExportPart],
    out_dir: str | Path,
    db_path: str | Path | Ledger,
    table: pd.DataFrame,
    flags: pd.DataFrame,
    layout: Layout,
    *,
    month: str,
    at: datetime,
    corrections: Iterable[int] = (),
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the import files and record their rows, crash-safely (see the module doc).

    Temp files first (each part's `data` is emptied once written: the files hold it, and
    parts built one at a time, `export.import_parts`, are never all held),
    then (one transaction) the check and every entry as `pending`, then each file
    linked to its final name (never over an existing file), then the batch confirmed
    in one transaction. Call it holding `locked(db_path)`, after
    `reconcile_pending`. Returns the files written, in the order of `parts`. Raises
    LedgerConflict (nothing written) when another export recorded a member-month first.
    """
    from xl_pmpm.io.files import ensure_private_dir, folder_errors

    directory = ensure_private_dir(out_dir).resolve()
    corrections = list(corrections)
    backup_ledger(db_path)
    folder = str(directory)
    with opened(db_path) as db, db.connect() as conn:
        known = set(conn.scalars(sa.select(files.c.file_name).where(files.c.directory == folder)))
        known |= set(  # entries that hold their file themselves (recorded before version 6)
            conn.scalars(
                sa.select(exports.c.file_name)
                .where(exports.c.file_id.is_(None), exports.c.directory == folder)
                .distinct()
            )
        )
    say = progress or (lambda step: None)
    say("writing the import files")
    taken: set[str] = set()
    temps: list[Path] = []
    hashes: list[np.ndarray] = []
    made: list[ExportPart] = []

    def named(parts: Iterable[ExportPart]) -> Iterator[ExportPart]:
        for p in parts:  # built one at a time: written, then its bytes let go
            p.name = _free_name(directory, p.name, taken | known)
            taken.add(p.name)
            temps.append(_temp_path(directory, p.name))
            if len(p.hashes) == len(p.lines):  # a million Python ints, as one array
                hashes.append(np.asarray(p.hashes, dtype=np.uint64))
                p.hashes = []
            made.append(p)
            yield p

    def write(p: ExportPart) -> str:  # by the writer thread, while the next part is built
        write_synced(_temp_path(directory, p.name), p.data)
        sha = sha256_hex(p.data)
        p.data = b""  # the temp file holds it: a million rows' files are never all held
        return sha

    try:
        with folder_errors(directory):  # a full disk, a folder not writable: exit 2
            shas = write_behind(named(parts), write)
            _fsync_dir(directory)
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    release_unused()
    _checkpoint("temp-written")

    batch = f"{at.isoformat(timespec='seconds')}:{os.getpid()}:{made[0].name if made else ''}"
    files_made = [(str(directory), p.name, sha) for p, sha in zip(made, shas, strict=True)]
    say(f"recording {sum(len(p.lines) for p in made):,} row(s) in the ledger")
    try:
        _record_pending(
            db_path,
            made,
            table,
            flags,
            layout,
            month,
            at,
            corrections,
            batch,
            files_made,
            hashes if len(hashes) == len(made) else None,
        )
    except BaseException:
        # Nothing was recorded (one transaction): no entry refers to the temp files, which
        # hold member rows. A crash (no exception) leaves them for reconcile_pending.
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    _checkpoint("pending-recorded")

    written: list[Path] = []
    try:
        for p, temp in zip(made, temps, strict=True):
            final = directory / p.name
            publish(temp, final)  # atomic; fails rather than replace
            written.append(final)
            _checkpoint("linked")
    except OSError as exc:  # the folder refused the file: undo all of this export
        _unpublish(db_path, batch, files_made, written, temps)
        raise _publish_error(directory, exc) from None
    _fsync_dir(directory)
    with opened(db_path) as db, db.begin() as conn:  # one row per file: no entry rewritten
        conn.execute(sa.delete(pending_files).where(pending_files.c.batch == batch))
    _checkpoint("confirmed")
    for temp in temps:
        temp.unlink(missing_ok=True)
    return written
