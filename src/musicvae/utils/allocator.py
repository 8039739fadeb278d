"""glibc malloc settings for CPU training: keep freed memory instead of unmapping it every step.

Place in the flow: a leaf helper; :class:`~musicvae.training.trainer.Trainer` calls
:func:`keep_freed_memory` when it trains on the CPU.

A CPU LSTM step allocates temporaries of tens of MB (the gate activations of every time
step, kept for the backward pass). glibc serves every block above its mmap threshold with a
fresh ``mmap`` and gives it back with ``munmap`` when freed, so every training step faults
those pages in again: ~19 % of hierdec-mel_16bar_cpu's CPU time was kernel time. glibc reads
its ``MALLOC_*`` environment variables only when the process starts, but ``mallopt`` changes
the same parameters at run time, for every block allocated afterwards:

* ``M_MMAP_MAX = 0``: no block is served by its own mmap (all come from the heap);
* ``M_TRIM_THRESHOLD = 2 GiB - 1``: freed memory at the top of the heap is kept, not returned.

The cost is resident memory: the process keeps its high-water mark of temporaries
(measured in ``benchmarks/RESULTS.md``: a few hundred MiB for the *_cpu presets). Set
``MUSICVAE_MALLOC=system`` to leave glibc's defaults (and any ``MALLOC_*`` variables you set)
alone. Elsewhere than glibc (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int
ENV = "MUSICVAE_MALLOC"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the settings once per process; True when they are in force (glibc, not switched off)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get(ENV, "").strip().lower() in ("system", "off", "0", "default"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")):
        return False  # the user chose the allocator's settings
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):
        return False
    _applied = bool(ok)
    return _applied
