"""One writer per output folder: an advisory lock on ``OUT/.lock``.

Place in the flow: a leaf used by the commands that write a folder over minutes (``prepare``,
``train``): two of them writing one ``--out`` would interleave checkpoints, metrics or shards.

The lock is ``fcntl.flock`` on ``OUT/.lock``, which holds the holder's pid: the kernel drops
it when the holder exits or is killed, so a crash never leaves a stale lock behind. The file
itself stays (removing it would let a third process lock a new file while a second holds the
old one).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".lock"


class LockError(OSError):
    """Another process writes this folder (one-line message naming its pid)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "locked"


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if missing) for the ``with`` block, or raise :class:`LockError`."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks; run unguarded
        yield Path(folder)
        return
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise LockError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 128, 0).decode("ascii", "replace").split(None, 1)
            pid = f"pid {holder[0]}" if holder else "another process"
            what_else = f" ({holder[1].strip()})" if len(holder) > 1 else ""
            raise LockError(f"{folder}: in use by {pid}{what_else}; wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        yield folder
    finally:
        os.close(fd)  # closing releases the lock
