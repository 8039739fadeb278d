"""Windows cut from the real MIDI fixtures, for every grid kind."""

import pytest
from synth import REAL_DIR


@pytest.fixture(scope="session")
def real_windows():
    from musicvae.data.windows import WindowRules, grid_windows
    from musicvae.music import MidiError, load_sequences
    from musicvae.representations import DrumConverter, MelodyConverter, MultitrackConverter, TrioConverter

    files = sorted(REAL_DIR.rglob("*.mid"))
    if not files:
        pytest.skip("no real MIDI fixtures")
    seqs = []
    for f in files:
        try:
            seqs.extend(load_sequences(f))
        except MidiError:
            pass
    out = []
    for conv, bars in ((MelodyConverter(), 2), (DrumConverter(), 2), (TrioConverter(), 4), (MultitrackConverter(), 4)):
        wins = []
        for seq in seqs:
            for grid in conv.candidates(seq):
                w, _ = grid_windows(conv, grid, WindowRules(bars))
                wins.extend(w)
        out.append((conv, wins))
    return out
