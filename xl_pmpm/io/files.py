"""Everything that touches the disk: settings files, reports, exports and the archive.

Files are written atomically (temp file, then a link to the final name that
fails rather than overwrite) and owner-only: billing data is health data.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from pathlib import Path

import pandas as pd

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.layout import Layout, parse_layout
from xl_pmpm.core.rates import RateBook, parse_rate_book
from xl_pmpm.core.report import TierReport
from xl_pmpm.io import sniff
from xl_pmpm.io.atomic import DIR_MODE, FILE_MODE, numbered_names, publish, write_synced
from xl_pmpm.io.csv_reader import decode_text, parse_tier_report
from xl_pmpm.io.memory import release_unused

ARCHIVE_NAME = "archive_{stamp}_{action}.csv"


def bundled(name: str) -> Path:
    return Path(str(resources.files("xl_pmpm") / "data" / name))


STDIN = sniff.STDIN


is_stdin = sniff.is_stdin


def source_name(path: str | Path) -> str:
    """How a file read is named in findings and messages: its name, or "stdin"."""
    return "stdin" if is_stdin(path) else Path(path).name


def read_input(path: str | Path, what: str) -> bytes:
    """The bytes of an input file, as they are (`sniff.read_bytes`): for a reader that
    says itself what else the file is. Text a command reads goes through `sniff.read_input`."""
    return sniff.read_bytes(path, what)


def load_layout(path: str | Path | None = None) -> Layout:
    """The import layout from a TOML file (the bundled one when `path` is None)."""
    path = Path(path) if path else bundled("layout.toml")
    raw = sniff.load_toml(path, "The layout file", "Compare it with the bundled layout.toml.")
    return parse_layout(raw, source=str(path))


def load_rate_book(rates: str | Path | None = None, payers: str | Path | None = None) -> RateBook:
    """The rate table and payer settings (the bundled ones by default)."""
    rp = Path(rates) if rates else bundled("rates.csv")
    pp = Path(payers) if payers else bundled("payers.csv")
    limit = sniff.MAX_SETTINGS_BYTES
    return parse_rate_book(
        decode_text(sniff.read_input(rp, "The rate table", max_bytes=limit))[0],
        decode_text(sniff.read_input(pp, "The payer settings file", max_bytes=limit))[0],
        str(rp),
        str(pp),
    )


# The largest tier report read at all (a month of 250,000 members is about 40 MB).
MAX_REPORT_BYTES = 512_000_000


def read_tier_report(path: str | Path, layout: Layout) -> TierReport:
    """Read a tier report file (CSV, or a workbook by its content); never modifies it.

    Refused (PmpmInputError, nothing read) past MAX_REPORT_BYTES.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # _read_bytes reports a missing file or a folder clearly
    if size > MAX_REPORT_BYTES:
        raise PmpmInputError(
            f"The file is {size / 1e6:,.0f} MB; xl-pmpm reads tier reports up to "
            f"{MAX_REPORT_BYTES / 1e6:,.0f} MB.",
            fix="Check that this is the tier report, or split the extract by contract.",
            file=path.name,
        )
    data = read_input(path, "Tier report")
    if len(data) > MAX_REPORT_BYTES:  # standard input has no size to look at first
        raise PmpmInputError(
            f"The input is {len(data) / 1e6:,.0f} MB; xl-pmpm reads tier reports up to "
            f"{MAX_REPORT_BYTES / 1e6:,.0f} MB.",
            fix="Check that this is the tier report, or split the extract by contract.",
            file=source_name(path),
        )
    report = parse_tier_report(data, layout, source=source_name(path))
    del data
    release_unused()  # the file's bytes and the parser's buffers: before validation
    return report


def ensure_private_dir(path: str | Path) -> Path:
    path = Path(path)
    with folder_errors(path):
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    return path


@contextlib.contextmanager
def folder_errors(folder: str | Path) -> Iterator[None]:
    """OSErrors of writing into `folder` as a PmpmInputError naming the folder (exit 2).

    A full disk, a folder that cannot be written, a file where the folder should be:
    the biller's to fix, never an internal error. Whoever writes cleans up first.
    """
    try:
        yield
    except PmpmInputError:
        raise
    except OSError as exc:
        raise folder_error(folder, exc) from None


def folder_error(folder: str | Path, exc: OSError) -> PmpmInputError:
    where = str(folder)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PmpmInputError(
            f"The disk holding the folder {where} is full; nothing was written.",
            fix="Free some space (or choose a folder on another disk) and run it again.",
        )
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(exc, NotADirectoryError):
        return PmpmInputError(
            f"{where} is a file, not a folder; nothing was written.",
            fix="Give a folder (a new one is created) rather than a file.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PmpmInputError(
            f"The folder {where} cannot be written ({exc.strerror}); nothing was written.",
            fix="Choose a folder you can write to, or ask for write access to this one.",
        )
    return PmpmInputError(
        f"The folder {where} cannot be written ({exc.strerror or type(exc).__name__}); "
        "nothing was written.",
        fix="Check the folder and the disk, then run it again.",
    )


def write_new_file(directory: str | Path, name: str, data: bytes, mode: int = FILE_MODE) -> Path:
    """Write `data` atomically under a name that does not exist yet; never overwrites.

    If `name` is taken, `-2`, `-3`, ... is added before the extension.
    """
    directory = ensure_private_dir(directory)
    with folder_errors(directory):
        return _write_new_file(directory, name, data, mode)


def _write_new_file(directory: Path, name: str, data: bytes, mode: int) -> Path:
    _remove_stale_temps(directory, name)
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    try:
        write_synced(tmp, data, mode)
        for candidate in numbered_names(name):
            final = directory / candidate
            try:
                publish(tmp, final)  # atomic, and fails instead of replacing
                return final
            except FileExistsError:
                continue
        raise AssertionError("unreachable: numbered_names never ends")
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale_temps(directory: Path, name: str) -> None:
    """Delete temp files of `name` left by a process that was killed mid-write."""
    for tmp in directory.glob(f".{glob_escape(name)}.*.tmp"):
        pid = tmp.name[len(name) + 2 : -4]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_archive(
    directory: str | Path, records: pd.DataFrame, action: str, at: datetime
) -> Path | None:
    """Keep archive records (removed / deferred / restored rows) in a new owner-only file."""
    if records.empty:
        return None
    data = records.to_csv(index=False).encode("utf-8")
    name = ARCHIVE_NAME.format(stamp=at.strftime("%Y%m%dT%H%M%S"), action=action)
    return write_new_file(directory, name, data)


def read_archive(directory: str | Path) -> pd.DataFrame:
    """Every archive record kept in `directory`, oldest first, all text.

    Archives of a review still pending (its reviewed file never written: the
    process was killed) are left out; `write_review` sets them aside.
    """
    directory = Path(directory)
    files = sorted(directory.glob("archive_*.csv")) if directory.is_dir() else []
    pending = {
        j.get("archive")
        for j in _pending_reviews(directory)
        if not Path(str(j.get("reviewed", ""))).is_file()  # committed once the file is there
    }
    files = [f for f in files if f.name not in pending]
    frames = [_archive_records(f) for f in files]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _archive_records(path: Path) -> pd.DataFrame:
    """One archive file's records, checked to be what `write_archive` wrote."""
    what = "The archive record file"
    fix = (
        "Move this file out of the archive folder (keep it): xl-pmpm wrote none like it. "
        "If it was one of its archive files, restore it from your backup."
    )
    try:
        data = sniff.read_input(path, what)
    except PmpmInputError as exc:
        raise PmpmInputError(exc.message, file=exc.file, row=exc.row, fix=fix) from None
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        lines = pd.to_numeric(frame["line"], errors="raise").astype("int64")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, KeyError, TypeError):
        raise PmpmInputError(
            f"{what} is not an xl-pmpm archive (no whole-number 'line' column, or not CSV).",
            file=str(path),
            fix=fix,
        ) from None
    frame["line"] = lines
    return frame


def write_line_manifest(
    directory: str | Path,
    reviewed_name: str,
    lines: list[int],
    archive: Path | None = None,
) -> Path:
    """Which original line each row of a reviewed file came from (numbers only, no member
    data), and a sha256 of each row of the review's `archive` as written (`archive_rows`):
    `check_archive` refuses an archive edited since (Excel drops leading zeros)."""
    entry: dict = {"file": reviewed_name, "lines": [int(n) for n in lines]}
    if archive is not None:
        entry["archive"] = archive.name
        entry["archive_rows"] = archive_row_hashes(_read_archive_file(archive))
    return write_new_file(directory, f"manifest_{reviewed_name}.json", json.dumps(entry).encode())


def _read_archive_file(path: Path) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str, keep_default_na=False)


def archive_row_hashes(records: pd.DataFrame) -> list[str]:
    """A sha256 of each archive record, column names and text values as read back."""
    columns = [str(c) for c in records.columns]
    return [
        hashlib.sha256(
            "\x1e".join(f"{c}\x1f{v}" for c, v in zip(columns, row, strict=True)).encode()
        ).hexdigest()
        for row in records.astype(str).itertuples(index=False, name=None)
    ]


def review_sources(directory: str | Path, reviewed_name: str) -> set[str] | None:
    """The reports a reviewed file came from, through every review before it (their
    names, as the archive records' `source` holds them); None when a manifest of an
    earlier release does not say (then every record of the folder is the file's)."""
    directory, name = Path(directory), reviewed_name
    sources: set[str] = set()
    while True:
        try:
            entry = json.loads((directory / f"manifest_{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return sources or None
        if not isinstance(entry, dict) or "archive_rows" not in entry:
            return sources or None
        archive = directory / str(entry.get("archive"))
        if not entry.get("archive") or not archive.is_file():
            return sources  # nothing set aside in this review: the chain ends here
        found = set(_read_archive_file(archive).get("source", pd.Series(dtype=str)))
        if not found or found <= sources:
            return sources
        sources |= found
        name = sorted(found)[0]


def check_archive(directory: str | Path) -> None:
    """Refuse an archive a review wrote whose rows differ from what it wrote (edited and
    saved back, e.g. by Excel): PmpmInputError naming the archive and its line."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    for manifest in sorted(directory.glob("manifest_*.json")):
        try:
            entry = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(entry, dict) or "archive_rows" not in entry:
            continue  # a manifest of an earlier release: nothing to check against
        path = directory / str(entry.get("archive"))
        if not path.is_file():
            continue  # a review rolled back (`recover_reviews`), or its archive moved
        try:
            found = archive_row_hashes(_read_archive_file(path))
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
            found = []
        wanted = list(entry["archive_rows"])
        for n, (a, b) in enumerate(zip(found, wanted, strict=False), start=2):
            if a != b:
                raise _edited_archive(path, n)
        if len(found) != len(wanted):
            raise _edited_archive(path, min(len(found), len(wanted)) + 2)


def _edited_archive(path: Path, line: int) -> PmpmInputError:
    return PmpmInputError(
        f"The archive {path.name} was changed since `xl-pmpm review` wrote it (line {line} "
        "differs: e.g. opened and saved in Excel, which drops leading zeros); nothing was "
        "restored.",
        file=str(path),
        row=line,
        fix="Put back the archive file as review wrote it (your backup, or undo the edit); "
        "never restore from an edited copy: it would bring back a changed member ID.",
    )


def read_line_manifest(directory: str | Path, reviewed_name: str, rows: int) -> list[int]:
    """The original line numbers of a reviewed file's rows, as `write_line_manifest` kept them."""
    path = Path(directory) / f"manifest_{reviewed_name}.json"
    fix = "Restore into the file `xl-pmpm review` wrote, with the archive folder it named."
    if not path.exists():
        raise PmpmInputError(f"No line manifest for {reviewed_name} in {directory}.", fix=fix)
    data = sniff.read_bytes(path, "The line manifest")
    try:
        lines = json.loads(data.decode("utf-8"))["lines"]
        if not isinstance(lines, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in lines
        ):
            raise TypeError
    except (KeyError, ValueError, TypeError, IndexError):
        raise PmpmInputError(
            "The line manifest is not one xl-pmpm wrote (damaged, or edited by hand).",
            file=str(path),
            fix=f"Put back the manifest `xl-pmpm review` wrote. {fix}",
        ) from None
    if len(lines) != rows:
        raise PmpmInputError(
            f"{reviewed_name} has {rows} rows but was written with {len(lines)}.",
            fix="Restore into the reviewed file as it was written (rows added or removed since).",
        )
    return lines


# --- the review's files, written so that a kill at any point leaves them consistent --------

PENDING = ".review_pending_{stamp}_{pid}.json"


def _pending_reviews(directory: Path) -> list[dict]:
    out: list[dict] = []
    if not directory.is_dir():
        return out
    for journal in sorted(directory.glob(".review_pending_*.json")):
        try:
            entry = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict):
            out.append({**entry, "journal": journal.name})
    return out


def recover_reviews(archive_dir: str | Path) -> list[str]:
    """Finish or roll back reviews a killed process left half-written; the files set aside.

    A review is committed when its reviewed file exists: its journal is then
    removed. Otherwise its archive and line manifest were never in use, and are
    renamed `rolled-back_*` (kept, never deleted: they hold member rows).
    """
    archive_dir = Path(archive_dir)
    set_aside = []
    for entry in _pending_reviews(archive_dir):
        if entry.get("pid") and _alive(int(entry["pid"])) and entry["pid"] != os.getpid():
            continue  # another review is writing right now
        reviewed = Path(str(entry.get("reviewed", "")))
        if not reviewed.is_file():
            for key in ("archive", "manifest"):
                part = archive_dir / str(entry.get(key) or "")
                if entry.get(key) and part.is_file():
                    part.rename(archive_dir / f"rolled-back_{part.name}")
                    set_aside.append(part.name)
        (archive_dir / entry["journal"]).unlink(missing_ok=True)
    return set_aside


def write_review(
    out_dir: str | Path,
    name: str,
    data: bytes,
    archive_dir: str | Path,
    records: pd.DataFrame,
    lines: list[int],
    at: datetime,
) -> tuple[Path, Path | None]:
    """Write a reviewed file with its archive and line manifest; returns (reviewed, archive).

    Order: a journal naming what is about to be written, the archive, the line
    manifest, then the reviewed file (the commit: it appears complete, under its
    final name, or not at all), then the journal is removed. Killed before the
    commit, the next review into the same archive folder rolls the rest back
    (`recover_reviews`) and `read_archive` ignores it meanwhile; so re-running the
    review finishes the job and the archive always matches the reviewed files.
    """
    out_dir = ensure_private_dir(out_dir)
    archive_dir = ensure_private_dir(archive_dir)
    recover_reviews(archive_dir)
    final = _free_name(out_dir, name)
    stamp = at.strftime("%Y%m%dT%H%M%S")
    journal = archive_dir / PENDING.format(stamp=stamp, pid=os.getpid())
    archive_name = ARCHIVE_NAME.format(stamp=stamp, action="review")
    entry = {"reviewed": str(final.resolve()), "pid": os.getpid(), "archive": None}
    entry["manifest"] = f"manifest_{final.name}.json"
    # Reserve the archive's name in the journal before it exists.
    entry["archive"] = _free_name(archive_dir, archive_name).name if not records.empty else None
    journal = write_new_file(archive_dir, journal.name, json.dumps(entry).encode())
    kept = write_archive(archive_dir, records, "review", at)
    if kept is not None and kept.name != entry["archive"]:  # taken meanwhile: say so
        entry["archive"] = kept.name
        _rewrite_journal(journal, entry)
    write_line_manifest(archive_dir, final.name, lines, kept)
    written = write_new_file(out_dir, final.name, data)
    if written != final:  # the name was taken meanwhile: keep the manifest in step
        write_line_manifest(archive_dir, written.name, lines, kept)
    journal.unlink(missing_ok=True)
    return written, kept


def _free_name(directory: Path, name: str) -> Path:
    return next(directory / c for c in numbered_names(name) if not (directory / c).exists())


def _rewrite_journal(journal: Path, entry: dict) -> None:
    tmp = journal.with_name(journal.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(json.dumps(entry).encode())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, journal)
