"""Shared helpers for representation tests: random canonical grids and the real MIDI fixtures."""

from pathlib import Path

import pytest

from synth import REAL_DIR


@pytest.fixture(scope="session")
def real_files() -> list[Path]:
    files = sorted(REAL_DIR.rglob("*.mid"))
    if not files:
        pytest.skip("no real MIDI fixtures")
    return files


@pytest.fixture(scope="session")
def real_sequences(real_files):
    from musicvae.music import MidiError, load_sequences

    seqs = []
    for f in real_files:
        try:
            seqs.extend(load_sequences(f))
        except MidiError:
            pass
    return seqs
