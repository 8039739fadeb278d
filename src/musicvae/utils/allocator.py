"""glibc malloc settings for CPU training and prepare: keep freed memory instead of unmapping it.

Place in the flow: a leaf helper; :class:`~musicvae.training.trainer.Trainer` calls
:func:`keep_freed_memory` when it trains on the CPU, ``data.prepare``'s batched path
:func:`keep_chunk_memory` in each process that windows chunks.

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

``prepare``'s batched passes allocate arrays of a few MB and free them when a pass ends; by
default glibc maps those on their own and unmaps them at once, so every pass faults the same
pages in again (68k page faults on ``data/mixed``'s 8,443 files, 16k with these settings, ~0.15 s
of ~1.6 s). :func:`keep_chunk_memory` is the milder setting for that: arrays up to 32 MB from
the heap and memory given back once over 128 MB is free at its top (peak RSS +2 MB there).
"""

from __future__ import annotations

import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int
ENV = "MUSICVAE_MALLOC"

_applied: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Training: no block on its own mapping, freed memory kept; once per process; True when in force."""
    return _apply("training", ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))


def keep_chunk_memory() -> bool:
    """prepare: blocks up to 32 MB from the heap, memory given back over 128 MB free; True when in force."""
    return _apply("prepare", ((M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 128 * 2**20)))


def _apply(name: str, settings: tuple[tuple[int, int], ...]) -> bool:
    if name not in _applied:
        _applied[name] = _mallopt(settings)
    return _applied[name]


def _mallopt(settings: tuple[tuple[int, int], ...]) -> bool:
    if os.environ.get(ENV, "").strip().lower() in ("system", "off", "0", "default"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")):
        return False  # the user chose the allocator's settings
    import ctypes  # here: prepare's start-up does not pay for it

    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: glibc's mallopt (no find_library subprocess)
        return all(libc.mallopt(param, value) == 1 for param, value in settings)
    except (OSError, AttributeError):
        return False
