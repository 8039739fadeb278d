"""Windows cut from the real MIDI fixtures, for every grid kind."""

import pytest


@pytest.fixture(scope="session")
def real_windows(real_sequences):
    from musicvae.data.windows import WindowRules, grid_windows
    from musicvae.representations import DrumConverter, MelodyConverter, MultitrackConverter, TrioConverter

    out = []
    for conv, bars in ((MelodyConverter(), 2), (DrumConverter(), 2), (TrioConverter(), 4), (MultitrackConverter(), 4)):
        wins = []
        for seq in real_sequences:
            for grid in conv.candidates(seq):
                w, _ = grid_windows(conv, grid, WindowRules(bars))
                wins.extend(w)
        out.append((conv, wins))
    return out
