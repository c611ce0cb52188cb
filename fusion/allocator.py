"""Keep a long-running server's memory flat: large buffers go back to the OS when they are freed.

glibc serves allocations above a threshold (128 kB at start) with their own ``mmap``, which ``free`` returns to
the OS at once. But each time such a block is freed, glibc raises the threshold to that block's size (up to
32 MB), so after a few requests every image-sized buffer comes from the heap instead, whose freed pages stay with
the process. A server that decodes, resizes and encodes images of varying sizes then grows request after request:
+8.4 % RSS over 1,000 mixed requests with the default, +2.9 % with the threshold fixed at 128 kB
(``benchmarks/load.py``, ``benchmarks/results/load.md``). Fixing it costs one ``mmap``/``munmap`` pair per
large buffer, microseconds against requests of tens of milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

#: ``mallopt`` parameter number of ``M_MMAP_THRESHOLD`` in glibc's ``malloc.h``.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Pin glibc's mmap threshold (which also stops its dynamic growth); whether it was set.

    Does nothing off glibc (macOS, musl, Windows) or when ``MALLOC_MMAP_THRESHOLD_`` already says what to do.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))
    if not done:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) failed; memory may grow under load", threshold)
    return done
