"""Keep freed memory in the process (glibc): large tensors are then reused instead of mapped afresh.

By default glibc returns every block above 32 MiB to the system when it is freed, and the next frame's
tensors of the same size are mapped again and zero-filled page by page; at 480p a segmenter frees and maps
hundreds of MiB per frame that way. :func:`keep_freed_memory` tells glibc to serve all allocations from its
heap and never to shrink it, so the process stays at its peak size (as it would within a frame anyway) and
frames reuse the same pages. It acts on the whole process and lasts until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

#: glibc's ``mallopt`` parameters
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


@functools.cache
def keep_freed_memory() -> bool:
    """Apply the setting (once per process); False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))
