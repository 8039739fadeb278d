"""Shared by the corpus builders that read Debian packages (``build_games.py``, ``build_freedoom.py``).

Build-time only: musicvae never reads these packages at run time; the built ``.npz`` collections ship.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def package_version(pkg: str) -> str:
    """The installed version of Debian package ``pkg`` (``dpkg-query``; fails if it is not installed)."""
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                          check=True).stdout


def package_midis(pkg: str) -> list[Path]:
    """The ``.mid``/``.midi`` files installed by ``pkg``, sorted."""
    files = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=True).stdout.splitlines()
    return sorted(Path(f) for f in files if f.lower().endswith((".mid", ".midi")) and Path(f).is_file())


def roles(tracks) -> tuple[bool, bool, bool]:
    """Whether ``tracks`` hold a melody (GM programs 0-31), a bass (32-39) and drums."""
    melody = any(not t.is_drum and 0 <= t.program <= 31 for t in tracks)
    bass = any(not t.is_drum and 32 <= t.program <= 39 for t in tracks)
    drums = any(t.is_drum for t in tracks)
    return melody, bass, drums
