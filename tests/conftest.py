"""Shared test setup: make ``musicvae`` importable from ``src/`` when it is not installed,
and make the byte-level MIDI generators in ``tests/fixtures`` importable as ``bad_midi``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if importlib.util.find_spec("musicvae") is None:
    sys.path.insert(0, str(ROOT / "src"))

# The models in tests are tiny: one intra-op thread is as fast, and it keeps the suite
# from collapsing (OpenMP spin-waits) when another process is using the cores.
import torch  # noqa: E402

torch.set_num_threads(1)

_FIXTURES = str(ROOT / "tests" / "fixtures")
if _FIXTURES not in sys.path:
    sys.path.insert(0, _FIXTURES)


# ---- the real MIDI fixtures (tests/fixtures/real), shared by every test folder
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def real_files() -> list[Path]:
    files = sorted((ROOT / "tests" / "fixtures" / "real").rglob("*.mid"))
    if not files:
        pytest.skip("no real MIDI fixtures")
    return files


@pytest.fixture(scope="session")
def real_sequences(real_files):
    """Every usable 4/4 stretch of the real files, quantized."""
    from musicvae.music import MidiError, load_sequences

    seqs = []
    for f in real_files:
        try:
            seqs.extend(load_sequences(f))
        except MidiError:
            pass
    return seqs
