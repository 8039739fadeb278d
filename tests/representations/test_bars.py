"""MCVAE bar converter: per-bar layout, start token, song splitting, round trips."""

import numpy as np
import pytest

from musicvae.music import NoteSequence
from musicvae.representations import BarConverter


def test_bars_shape_and_start_token():
    conv = BarConverter()
    seq = NoteSequence.from_tuples([(60, 0, 4), (62, 16, 20), (64, 40, 48)])
    (bars,) = conv.encode(seq)
    assert bars.shape == (3, 16)
    assert conv.start_token == 130 and conv.vocab_size == 131
    assert bars[1, 0] == 64 and bars[2, 8] == 66
    with pytest.raises(ValueError):
        conv.decode(np.full((1, 16), 130))


def test_round_trip():
    conv = BarConverter()
    seq = NoteSequence.from_tuples([(60, 0, 4), (62, 16, 20), (64, 40, 48)])
    (bars,) = conv.encode(seq)
    assert conv.decode(bars).to_tuples() == seq.to_tuples()
    np.testing.assert_array_equal(conv.encode(conv.decode(bars))[0], bars)


def test_songs_split_at_long_rests_and_keep_order():
    conv = BarConverter()
    # bars 0-2 play, bars 3-5 rest (3 bars > 1), bars 6-8 play
    notes = [(60 + b, b * 16, b * 16 + 8) for b in (0, 1, 2, 6, 7, 8)]
    songs = conv.songs(NoteSequence.from_tuples(notes), min_bars=2)
    assert [len(s) for s in songs] == [3, 3]
    assert songs[0][0, 0] == 62 and songs[1][0, 0] == 68
    # one bar of rest is allowed inside a song
    notes = [(60, 0, 8), (62, 32, 40)]
    assert [len(s) for s in conv.songs(NoteSequence.from_tuples(notes), min_bars=2)] == [3]
