"""Writing owner-only files that never replace another: the one way every writer does it.

Billing data is health data, so files are the owner's only; an import file or an
archive is never written over, so a taken name gets `-2`, `-3`, ... before its
extension; a file is on the disk (fsync'd) before anything refers to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def numbered_names(name: str) -> Iterator[str]:
    """`name`, then `stem-2.ext`, `stem-3.ext`, ...: the names to try while one is taken."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    yield name
    n = 2
    while True:
        yield f"{stem}-{n}{dot}{ext}"
        n += 1


def write_synced(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Create `path` (it must not exist yet) holding `data`, flushed to the disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
