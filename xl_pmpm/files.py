"""Everything that touches the disk: settings files, reports, exports and the archive.

Files are written atomically (temp file, then a link to the final name that
fails rather than overwrite) and owner-only: billing data is health data.
"""

from __future__ import annotations

import io
import json
import os
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import PmpmInputError
from .layout import Layout, parse_layout
from .rates import RateBook, parse_rate_book
from .report import TierReport, decode_text, parse_tier_report

FILE_MODE = 0o600
DIR_MODE = 0o700
ARCHIVE_NAME = "archive_{stamp}_{action}.csv"


def bundled(name: str) -> Path:
    return Path(str(resources.files("xl_pmpm") / "data" / name))


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PmpmInputError(
            f"{what} not found: {path}", fix="Check the file name and folder."
        ) from None
    except IsADirectoryError:
        raise PmpmInputError(
            f"{path} is a folder, not a file.", fix="Name the file itself."
        ) from None
    except PermissionError:
        raise PmpmInputError(
            f"{path} cannot be read (permission denied).",
            fix="Close it in Excel or check its permissions.",
        ) from None


def load_layout(path: str | Path | None = None) -> Layout:
    """The import layout from a TOML file (the bundled one when `path` is None)."""
    path = Path(path) if path else bundled("layout.toml")
    try:
        raw = tomllib.loads(_read_bytes(path, "Layout file").decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PmpmInputError(
            f"{path} is not valid TOML: {exc}", fix="Compare it with the bundled layout.toml."
        ) from None
    return parse_layout(raw, source=str(path))


def load_rate_book(rates: str | Path | None = None, payers: str | Path | None = None) -> RateBook:
    """The rate table and payer settings (the bundled ones by default)."""
    rp = Path(rates) if rates else bundled("rates.csv")
    pp = Path(payers) if payers else bundled("payers.csv")
    return parse_rate_book(
        decode_text(_read_bytes(rp, "Rate table"))[0],
        decode_text(_read_bytes(pp, "Payer settings"))[0],
        str(rp),
        str(pp),
    )


def read_tier_report(path: str | Path, layout: Layout) -> TierReport:
    """Read a tier report file; the file itself is never modified."""
    path = Path(path)
    return parse_tier_report(_read_bytes(path, "Tier report"), layout, source=path.name)


def ensure_private_dir(path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    return path


def write_new_file(directory: str | Path, name: str, data: bytes, mode: int = FILE_MODE) -> Path:
    """Write `data` atomically under a name that does not exist yet; never overwrites.

    If `name` is taken, `-2`, `-3`, ... is added before the extension.
    """
    directory = ensure_private_dir(directory)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        n = 1
        while True:
            final = directory / (name if n == 1 else f"{stem}-{n}{dot}{ext}")
            try:
                os.link(tmp, final)  # atomic, and fails instead of replacing
                return final
            except FileExistsError:
                n += 1
    finally:
        tmp.unlink(missing_ok=True)


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
    """Every archive record kept in `directory`, oldest first, all text."""
    directory = Path(directory)
    files = sorted(directory.glob("archive_*.csv")) if directory.is_dir() else []
    frames = [
        pd.read_csv(io.BytesIO(f.read_bytes()), dtype=str, keep_default_na=False) for f in files
    ]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["line"] = out["line"].astype("int64")
    return out


def write_line_manifest(directory: str | Path, reviewed_name: str, lines: list[int]) -> Path:
    """Which original line each row of a reviewed file came from (numbers only, no member data)."""
    data = json.dumps({"file": reviewed_name, "lines": [int(n) for n in lines]}).encode()
    return write_new_file(directory, f"manifest_{reviewed_name}.json", data)


def read_line_manifest(directory: str | Path, reviewed_name: str, rows: int) -> list[int]:
    """The original line numbers of a reviewed file's rows, as `write_line_manifest` kept them."""
    path = Path(directory) / f"manifest_{reviewed_name}.json"
    try:
        lines = json.loads(path.read_text(encoding="utf-8"))["lines"]
    except (FileNotFoundError, KeyError, ValueError):
        raise PmpmInputError(
            f"No line manifest for {reviewed_name} in {directory}.",
            fix="Restore into the file `xl-pmpm review` wrote, with the archive folder it named.",
        ) from None
    if len(lines) != rows:
        raise PmpmInputError(
            f"{reviewed_name} has {rows} rows but was written with {len(lines)}.",
            fix="Restore into the reviewed file as it was written (rows added or removed since).",
        )
    return lines
