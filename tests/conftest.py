"""Shared test setup: make ``musicvae`` importable from ``src/`` when it is not installed,
and make the byte-level MIDI generators in ``tests/fixtures`` importable as ``bad_midi``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if importlib.util.find_spec("musicvae") is None:
    sys.path.insert(0, str(ROOT / "src"))

_FIXTURES = str(ROOT / "tests" / "fixtures")
if _FIXTURES not in sys.path:
    sys.path.insert(0, _FIXTURES)
