"""release_free_memory(): hand the C heap's freed pages back to the operating system (glibc's malloc_trim).

glibc unmaps a freed block only if it was allocated with mmap, and its mmap threshold is dynamic: once a block
above it is freed, the threshold rises to that block's size (up to 32 MiB on 64-bit), so after one large photo
the working buffers of the next ones (PIL's decode blocks, grey and resized copies) come from the malloc arenas.
Freed arena memory stays resident unless it borders the top of its heap; `malloc_trim(0)` releases the free
pages anywhere in every arena. Elsewhere (macOS, Windows, musl) there is no such call and this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Callable


def _c_library() -> ctypes.CDLL:
    """The C library this process already uses (dlopen(NULL): its global symbols)."""
    return ctypes.CDLL(None)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = _c_library().malloc_trim
    except (OSError, AttributeError, TypeError):  # no such library or symbol (musl has no malloc_trim)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS; True if any were released (False: none, or not glibc)."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
