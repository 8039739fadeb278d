"""Drum converter: the 9-class mappings, bitmask tokens, round trips."""

import numpy as np
import pytest

from musicvae.music import NoteSequence, TrackInfo
from musicvae.representations import DRUM_MAPPINGS, DrumConverter


def test_bitmask_known_answer():
    seq = NoteSequence.from_tuples([(36, 0, 1), (42, 0, 1), (38, 4, 5), (51, 4, 5)], is_drum=True)
    tokens = DrumConverter().encode(seq)[:, 0]
    assert tokens[0] == 0b101  # kick + closed hat
    assert tokens[4] == 0b100000010  # snare + ride
    assert tokens.sum() == 0b101 + 0b100000010
    assert DrumConverter().vocab_sizes == (512,)


def test_decode_writes_canonical_pitches():
    seq = NoteSequence.from_tuples([(35, 0, 3), (44, 2, 3), (57, 4, 5)], is_drum=True)
    conv = DrumConverter()
    assert conv.decode(conv.encode(seq)).to_tuples() == [(36, 0, 1), (42, 2, 3), (49, 4, 5)]
    assert conv.decode(conv.encode(seq)).tracks[0].is_drum


@pytest.mark.parametrize(
    "pitch, current, old",
    [(22, 2, None), (26, 3, None), (43, 4, 6), (52, 7, 8), (36, 0, 0)],
)
def test_mappings_differ_where_documented(pitch, current, old):
    def cls(mapping):
        for c, pitches in enumerate(DRUM_MAPPINGS[mapping]):
            if pitch in pitches:
                return c
        return None

    assert cls("current") == current
    assert cls("2018") == old


def test_unmapped_pitches_and_non_drum_tracks_ignored():
    seq = NoteSequence.from_tracks([(TrackInfo(0, True), [(100, 0, 1), (36, 4, 5)]), (TrackInfo(0, False), [(38, 8, 9)])])
    tokens = DrumConverter().encode(seq)[:, 0]
    assert tokens.nonzero()[0].tolist() == [4]
    assert DrumConverter().candidates(NoteSequence.from_tuples([(60, 0, 1)])) == []


def test_every_token_round_trips():
    conv = DrumConverter()
    tokens = np.arange(512, dtype=np.int16)[:, None]
    np.testing.assert_array_equal(conv.encode(conv.decode(tokens)), tokens)


def test_real_files_round_trip(real_sequences):
    for mapping in ("current", "2018"):
        conv = DrumConverter(mapping)
        n = 0
        for seq in real_sequences:
            for tokens in conv.candidates(seq):
                np.testing.assert_array_equal(conv.encode(conv.decode(tokens)), tokens)
                n += 1
        assert n >= 20
