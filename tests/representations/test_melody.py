"""Melody converter: token layout, monophony, 90/130 classes, round trips (synthetic and real)."""

import numpy as np
import pytest
from synth import random_melody_tokens

from musicvae.music import NoteSequence, TrackInfo
from musicvae.representations import MelodyConverter
from musicvae.representations.streams import HOLD, NOTE_OFF


def test_token_layout_known_answer():
    seq = NoteSequence.from_tuples([(60, 0, 4), (62, 4, 6), (64, 8, 16)])
    tokens = MelodyConverter().encode(seq)[:, 0]
    expected = np.zeros(16, dtype=np.int16)
    expected[0], expected[4], expected[6], expected[8] = 62, 64, NOTE_OFF, 66
    np.testing.assert_array_equal(tokens, expected)


def test_vocab_sizes_and_one_hot():
    assert MelodyConverter().vocab_sizes == (130,)
    assert MelodyConverter(21, 108).vocab_sizes == (90,)
    seq = NoteSequence.from_tuples([(60, 0, 4)])
    one_hot = MelodyConverter().one_hot(MelodyConverter().encode(seq))
    assert one_hot.shape == (16, 130)
    assert (one_hot.sum(axis=1) == 1).all()
    assert one_hot[0, 62] == 1 and one_hot[4, NOTE_OFF] == 1 and one_hot[5, HOLD] == 1


def test_polyphony_keeps_highest_or_lowest():
    seq = NoteSequence.from_tuples([(60, 0, 8), (67, 0, 4), (64, 4, 8)])
    high = MelodyConverter().decode(MelodyConverter().encode(seq)).to_tuples()
    low = MelodyConverter(keep="lowest").decode(MelodyConverter(keep="lowest").encode(seq)).to_tuples()
    assert high == [(67, 0, 4), (64, 4, 8)]
    assert low == [(60, 0, 4), (64, 4, 8)]


def test_90_class_squashes_out_of_range_by_octaves():
    conv = MelodyConverter(21, 108)
    seq = NoteSequence.from_tuples([(10, 0, 2), (115, 2, 4)])
    assert conv.decode(conv.encode(seq)).to_tuples() == [(22, 0, 2), (103, 2, 4)]


def test_programs_filter_and_drums_excluded():
    seq = NoteSequence.from_tracks(
        [(TrackInfo(0), [(60, 0, 4)]), (TrackInfo(40), [(62, 0, 4)]), (TrackInfo(0, True), [(36, 0, 1)])]
    )
    assert len(MelodyConverter().candidates(seq)) == 1  # program 40 is not in 0-31
    assert len(MelodyConverter(programs=None).candidates(seq)) == 2  # never the drums


@pytest.mark.parametrize("vocab", [130, 90])
def test_random_canonical_tokens_round_trip(vocab):
    rng = np.random.default_rng(vocab)
    conv = MelodyConverter() if vocab == 130 else MelodyConverter(21, 108)
    for _ in range(200):
        tokens = random_melody_tokens(rng, 32, vocab)[:, None]
        if not (tokens >= 2).any():
            continue
        assert conv.is_valid(tokens)
        np.testing.assert_array_equal(conv.encode(conv.decode(tokens)), tokens)


def test_orphan_note_off_is_not_canonical():
    conv = MelodyConverter()
    tokens = np.array([NOTE_OFF, 62, 0, 0] + [0] * 12, dtype=np.int16)[:, None]
    assert not conv.is_valid(tokens)
    assert conv.canonicalize(tokens)[0, 0] == HOLD
    assert conv.is_valid(conv.canonicalize(tokens))


def test_sounding_follows_note_on_until_note_off():
    conv = MelodyConverter()
    tokens = np.array([0, 62, 0, 1, 0, 64, 0, 0], dtype=np.int16)
    assert conv.sounding(tokens)[:, 0].astype(int).tolist() == [0, 1, 1, 0, 0, 1, 1, 1]


def test_real_files_round_trip(real_sequences):
    conv = MelodyConverter()
    checked = 0
    for seq in real_sequences:
        for tokens in conv.candidates(seq):
            assert conv.is_valid(tokens)
            again = conv.encode(conv.decode(tokens, seq.qpm))
            np.testing.assert_array_equal(again, tokens)
            checked += 1
    assert checked >= 30
