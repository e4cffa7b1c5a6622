"""Writing owner-only files that never replace another: the one way every writer does it.

`publish` puts a finished temp file under its final name atomically and never over
another file: a hard link where the folder has them; where it has none (a USB stick's
FAT/exFAT, some network shares), the name is reserved with an exclusive create and the
temp file then renamed over that reservation (its own, so nothing else is replaced).

Billing data is health data, so files are the owner's only; an import file or an
archive is never written over, so a taken name gets `-2`, `-3`, ... before its
extension; a file is on the disk (fsync'd) before anything refers to it.
"""

from __future__ import annotations

import errno
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


# What os.link raises on a file system without hard links (FAT/exFAT, some SMB shares,
# Android storage): not permitted, not supported, no such call.
NO_LINKS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK}
)


def publish(temp: Path, final: Path) -> None:
    """Put the finished `temp` at `final`: atomically, never over an existing file.

    A hard link where the folder has them (`temp` stays; the caller removes it). Where
    it has none, `final` is reserved with an exclusive create (FileExistsError if taken,
    as a link would fail) and `temp` renamed over that reservation: only our own empty
    file is ever replaced. A crash in between leaves an empty `final` beside `temp`:
    `is_reservation` tells the recovery it is ours to finish.
    """
    try:
        os.link(temp, final)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in NO_LINKS:
            raise
    os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    try:
        os.replace(temp, final)
    except BaseException:
        final.unlink(missing_ok=True)  # our reservation, still empty
        raise


def is_reservation(final: Path) -> bool:
    """An empty file where `publish` was to put a finished one (never an import file:
    those always hold their header line)."""
    try:
        return final.stat().st_size == 0
    except OSError:
        return False
