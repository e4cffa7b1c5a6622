"""Handing freed memory back to the system between the steps of a large export.

pandas, pyarrow and the C library keep memory they have freed for later reuse;
at a million rows that is hundreds of MB the next step cannot use for anything
else. Releasing it between read, validation and export keeps the peak near what
the tables themselves need.
"""

from __future__ import annotations

import ctypes
import sys

import pyarrow as pa


def use_system_memory_pool() -> None:
    """Make pyarrow allocate from the C library, not its own allocator (mimalloc), which
    keeps large reserves per thread: at 100,000 rows the peak is about 50 MB lower, and
    malloc_trim hands the freed memory back. A process-wide setting: each shell calls it
    once, at the start of a command, before any table is read (importing changes nothing).
    """
    pa.set_memory_pool(pa.system_memory_pool())


def release_unused() -> None:
    """Return freed memory to the system (pyarrow's pool; glibc's heap on Linux)."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        _malloc_trim()


def _malloc_trim() -> None:
    # The C library the process runs on, as loaded (no `ctypes.util.find_library`, which
    # runs `ldconfig -p` in a child process each time).
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim): nothing to do
        return
