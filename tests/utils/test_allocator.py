"""keep_freed_memory: glibc keeps a freed 64 MB block mapped (no munmap, no page faults next time);
keep_chunk_memory: a pass's many few-MB arrays stay in the heap for the next pass; MUSICVAE_MALLOC=system
leaves the defaults."""

import os
import platform
import subprocess
import sys

import pytest

PROBE = r"""
import json, resource, sys
from musicvae.utils import allocator
applied = getattr(allocator, sys.argv[1])()
import ctypes
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def big():  # 64 MB, written, freed: above any mmap threshold glibc would pick
    p = libc.malloc(64 << 20); ctypes.memset(p, 1, 64 << 20); libc.free(p)
def chunk():  # a prepare pass: 40 arrays of 2 MB, written, then all freed (80 MB free at the heap's top)
    ps = [libc.malloc(2 << 20) for _ in range(40)]
    for p in ps: ctypes.memset(p, 1, 2 << 20)
    for p in reversed(ps): libc.free(p)
block = big if sys.argv[2] == "big" else chunk
block()  # the first touch faults in either case
before = faults()
for _ in range(5):
    block()
print(json.dumps({"applied": applied, "faults": faults() - before}))
"""

glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _probe(fn="keep_freed_memory", pattern="big", **env):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}, **env}
    out = subprocess.run([sys.executable, "-c", PROBE, fn, pattern], capture_output=True, text=True, env=env,
                         check=True)
    import json

    return json.loads(out.stdout)


@pytest.mark.skipif(not glibc, reason="glibc only")
def test_freed_big_blocks_stay_mapped():
    on = _probe()
    off = _probe(MUSICVAE_MALLOC="system")
    assert on["applied"] is True and off["applied"] is False
    assert off["faults"] > 1000  # each new block is a fresh mmap, faulted in again (4 KiB or 2 MiB pages)
    assert on["faults"] * 20 < off["faults"]  # the same heap memory is reused


@pytest.mark.skipif(not glibc, reason="glibc only")
def test_user_malloc_variables_win():
    assert _probe(MALLOC_MMAP_MAX_="65536")["applied"] is False


@pytest.mark.skipif(not glibc, reason="glibc only")
def test_prepare_passes_reuse_the_heap():
    on = _probe("keep_chunk_memory", "chunk")
    off = _probe("keep_chunk_memory", "chunk", MUSICVAE_MALLOC="system")
    assert on["applied"] is True and off["applied"] is False
    assert off["faults"] > 1000  # glibc trims the freed 80 MB and faults it in again next pass
    assert on["faults"] * 20 < off["faults"]
    assert _probe("keep_chunk_memory", "chunk", MALLOC_TRIM_THRESHOLD_="1")["applied"] is False
