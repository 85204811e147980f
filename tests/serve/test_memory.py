"""serve.memory.release_free_memory(): glibc's malloc_trim(0) where there is one, a no-op elsewhere."""

from __future__ import annotations

import ctypes
import os
import sys

import pytest

from serve import memory


@pytest.fixture(autouse=True)
def fresh_lookup():
    """Each test looks the C library up again (the lookup is cached for the process)."""
    memory._malloc_trim.cache_clear()
    yield
    memory._malloc_trim.cache_clear()


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "gnu_get_libc_version") else None


@pytest.mark.skipif(glibc() is None, reason="needs Linux with glibc")
def test_freed_heap_pages_go_back_to_the_os_on_glibc():
    libc = glibc()
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    memory.release_free_memory()  # start from a trimmed heap
    # 64 MiB in 64 KiB blocks (below glibc's mmap threshold: they come from the heap), touched so they are
    # resident, then freed under a block that stays in use: free memory inside the heap, not at its top, which
    # free() itself never returns.
    blocks = [libc.malloc(64 * 1024) for _ in range(1024)]
    assert all(blocks)
    for block in blocks:
        ctypes.memset(block, 1, 64 * 1024)
    keeper = libc.malloc(64 * 1024)
    for block in blocks:
        libc.free(block)
    before = resident_bytes()
    try:
        assert memory.release_free_memory() is True
        assert before - resident_bytes() > 32 * 2**20
    finally:
        libc.free(keeper)


def test_no_malloc_trim_in_the_c_library_is_a_no_op(monkeypatch):
    """macOS, musl, ...: the C library has no malloc_trim; the call does nothing and raises nothing."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(memory, "_c_library", lambda: object())  # no malloc_trim attribute
    assert memory.release_free_memory() is False


def test_no_c_library_is_a_no_op(monkeypatch):
    def missing():
        raise OSError("no C library")

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(memory, "_c_library", missing)
    assert memory.release_free_memory() is False


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_other_platforms_do_not_look_the_library_up(monkeypatch, platform):
    def never():
        raise AssertionError("looked up")

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(memory, "_c_library", never)
    assert memory.release_free_memory() is False
