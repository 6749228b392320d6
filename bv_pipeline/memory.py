"""Handing memory a step has freed back to the operating system.

A site-day step frees hundreds of MB when it ends (pages, sort buffers, the day's table),
but the allocators keep much of it mapped: glibc's heap keeps freed blocks below its
top, Arrow's allocator keeps its pages. In one process the next step's peak then stacks
on the last one's. `release_freed_memory()` returns what is free (nothing live is touched).
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa

_libc = None


def _glibc():
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
            _libc = lib if lib is not None and hasattr(lib, "malloc_trim") else False
        except OSError:
            _libc = False
    return _libc or None


def release_freed_memory() -> None:
    """Return freed heap and Arrow pool memory to the OS (glibc's malloc_trim where it
    exists; elsewhere only Arrow's pool)."""
    pa.default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
