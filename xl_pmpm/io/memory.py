"""Handing freed memory back to the system between the steps of a large export.

pandas, pyarrow and the C library keep memory they have freed for later reuse;
at a million rows that is hundreds of MB the next step cannot use for anything
else. Releasing it between read, validation and export keeps the peak near what
the tables themselves need.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pyarrow as pa

# Arrow's own allocator (mimalloc) keeps large reserves per thread: at 100,000 rows the
# peak is about 50 MB lower with the C library's allocator, whose freed memory
# malloc_trim also hands back. Set once, when the readers and writers are first used.
pa.set_memory_pool(pa.system_memory_pool())


def release_unused() -> None:
    """Return freed memory to the system (pyarrow's pool; glibc's heap on Linux)."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        _malloc_trim()


def _malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim): nothing to do
        return
