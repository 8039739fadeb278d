"""Attribute and evaluation metrics: hand-made sequences with hand-computed answers."""

import math

import numpy as np
import pytest

from musicvae.music.attributes import (
    ATTRIBUTES,
    PAPER_ATTRIBUTES,
    average_interval,
    c_diatonic,
    distinct_pitches,
    hamming_distance,
    measure,
    measure_many,
    note_density,
    pitch_range,
    relative_change,
    syncopation_8th,
    syncopation_16th,
)
from musicvae.music import NoteSequence, TrackInfo
from musicvae.representations import DrumConverter, MelodyConverter

PITCHED = [c_diatonic, average_interval, pitch_range, syncopation_16th, syncopation_8th]


def melody(pitches, length=4, total_steps=32):
    """Consecutive notes of ``length`` steps each, starting at step 0."""
    return NoteSequence.from_tuples([(p, i * length, (i + 1) * length) for i, p in enumerate(pitches)],
                                    total_steps=total_steps)


@pytest.fixture
def drums():
    # kick + closed hat at 0, snare at 4, hat at 8, kick at 12: 4 onset steps, 5 hits
    hits = [(36, 0, 1), (42, 0, 1), (38, 4, 5), (42, 8, 9), (36, 12, 13)]
    return NoteSequence.from_tracks([(TrackInfo(is_drum=True), hits)], total_steps=16)


# ------------------------------------------------------------------ edge cases
def test_empty_sequence():
    seq = NoteSequence.from_tuples([], total_steps=32)
    for fn in PITCHED:
        assert math.isnan(fn(seq)), fn.__name__
    assert note_density(seq) == 0.0
    assert distinct_pitches(seq) == 0.0


def test_zero_length_sequence_has_undefined_density():
    seq = NoteSequence(np.zeros((0, 5), dtype=np.int32), [TrackInfo()], total_steps=0)
    assert math.isnan(note_density(seq))


def test_single_note():
    seq = NoteSequence.from_tuples([(61, 0, 4)], total_steps=32)
    assert c_diatonic(seq) == 0.0  # C#
    assert note_density(seq) == 1 / 32
    assert math.isnan(average_interval(seq))
    assert pitch_range(seq) == 0.0
    assert distinct_pitches(seq) == 1.0
    assert syncopation_16th(seq) == 0.0 and syncopation_8th(seq) == 0.0


def test_drum_only_sequence(drums):
    for fn in PITCHED:
        assert math.isnan(fn(drums)), fn.__name__
    assert distinct_pitches(drums) == 0.0
    assert note_density(drums) == 4 / 16  # kick + hat at step 0 is one onset step


def test_pitched_metrics_ignore_drum_tracks():
    seq = NoteSequence.from_tracks(
        [(TrackInfo(0), [(60, 0, 4), (62, 4, 8)]),
         (TrackInfo(is_drum=True), [(42, 0, 1), (37, 2, 3), (49, 3, 6)])],  # F#, C#: not diatonic
        total_steps=16)
    assert c_diatonic(seq) == 1.0
    assert pitch_range(seq) == 2.0
    assert distinct_pitches(seq) == 2.0
    assert average_interval(seq) == 2.0
    assert syncopation_16th(seq) == 0.0  # the drum note 3-6 would be syncopated
    assert note_density(seq) == 4 / 16  # onsets 0, 2, 3, 4 from both tracks


# -------------------------------------------------------------- pitch metrics
def test_c_major_scale():
    seq = melody([60, 62, 64, 65, 67, 69, 71, 72])
    assert c_diatonic(seq) == 1.0
    assert note_density(seq) == 8 / 32
    assert average_interval(seq) == 12 / 7  # 2 2 1 2 2 2 1
    assert pitch_range(seq) == 12.0
    assert distinct_pitches(seq) == 8.0


def test_chromatic_scale():
    seq = melody(range(60, 72), length=1, total_steps=16)
    assert c_diatonic(seq) == 7 / 12
    assert average_interval(seq) == 1.0
    assert note_density(seq) == 12 / 16
    assert pitch_range(seq) == 11.0
    assert distinct_pitches(seq) == 12.0


def test_c_diatonic_uses_pitch_class_in_every_octave():
    assert c_diatonic(melody([0, 12, 127, 1, 6, 66])) == 0.5  # C, C, G, C#, F#, F#


def test_known_intervals():
    assert average_interval(melody([60, 64, 62])) == 3.0
    assert average_interval(melody([72, 60, 72, 72])) == 8.0  # 12 12 0


def test_intervals_skip_rests():
    seq = NoteSequence.from_tuples([(60, 0, 2), (67, 12, 14)], total_steps=16)
    assert average_interval(seq) == 7.0


def test_intervals_use_highest_note_of_each_onset():
    chord_then_note = NoteSequence.from_tuples([(60, 0, 4), (64, 0, 4), (67, 0, 4), (72, 4, 8)], total_steps=16)
    assert average_interval(chord_then_note) == 5.0  # 67 -> 72
    assert c_diatonic(chord_then_note) == 1.0
    assert note_density(chord_then_note) == 2 / 16
    assert distinct_pitches(chord_then_note) == 4.0
    assert math.isnan(average_interval(NoteSequence.from_tuples([(60, 0, 4), (64, 0, 4)])))  # one onset


def test_intervals_across_pitched_tracks():
    seq = NoteSequence.from_tracks(
        [(TrackInfo(0), [(60, 0, 4), (62, 4, 8)]), (TrackInfo(33), [(67, 0, 4)])], total_steps=16)
    assert average_interval(seq) == 5.0  # top line 67 -> 62


def test_distinct_pitches_counts_octaves_apart():
    assert distinct_pitches(melody([60, 72, 60, 60])) == 2.0


# ------------------------------------------------------------- rhythm metrics
def test_syncopated_rhythm():
    """ICML 2018 Appendix C: an onset on an odd 16th (8th) position with none on the 16th (8th) before."""
    seq = NoteSequence.from_tuples([
        (60, 0, 3),    # on the beat: neither
        (62, 3, 6),    # odd 16th, no onset at 2: 16th-syncopated
        (64, 6, 10),   # odd 8th (6 = 3 eighths), no onset at 4: 8th-syncopated
        (65, 10, 12),  # odd 8th, no onset at 8: 8th-syncopated (its length does not matter)
        (67, 13, 14),  # odd 16th, no onset at 12: 16th-syncopated
        (69, 15, 18),  # odd 16th, no onset at 14: 16th-syncopated
        (71, 16, 17),  # on the bar line: neither
        (72, 17, 18),  # odd 16th after an onset at 16: not syncopated
        (74, 18, 20),  # odd 8th, but 16 (the 8th before) has an onset: not 8th-syncopated
    ], total_steps=32)
    assert syncopation_16th(seq) == 3 / 9
    assert syncopation_8th(seq) == 2 / 9


def test_straight_rhythms_are_not_syncopated():
    assert syncopation_16th(melody(range(60, 76), length=1)) == 0.0
    assert syncopation_8th(melody(range(60, 68), length=2)) == 0.0
    assert syncopation_16th(melody(range(60, 68), length=2)) == 0.0


def test_fully_syncopated():
    sixteenths = NoteSequence.from_tuples([(60, s, s + 2) for s in range(1, 16, 2)], total_steps=32)
    assert syncopation_16th(sixteenths) == 1.0
    assert syncopation_8th(sixteenths) == 0.0
    eighths = NoteSequence.from_tuples([(60, s, s + 4) for s in range(2, 16, 4)], total_steps=32)
    assert syncopation_8th(eighths) == 1.0
    assert syncopation_16th(eighths) == 0.0


def test_syncopation_needs_a_16th_grid():
    seq = NoteSequence.from_tuples([(60, 0, 3)], steps_per_quarter=3, steps_per_bar=12)
    with pytest.raises(ValueError, match="steps_per_quarter"):
        syncopation_16th(seq)


def test_known_density():
    seq = NoteSequence.from_tuples([(60, 0, 4), (62, 4, 8), (64, 8, 12), (65, 12, 16)], total_steps=32)
    assert note_density(seq) == 0.125


# --------------------------------------------------------- decoded model output
def test_metrics_of_decoded_token_grids():
    conv = MelodyConverter()
    seq = conv.decode(conv.encode(melody([60, 64, 62], total_steps=16)))
    assert average_interval(seq) == 3.0 and c_diatonic(seq) == 1.0 and note_density(seq) == 3 / 16
    dconv = DrumConverter()
    beat = NoteSequence.from_tracks([(TrackInfo(is_drum=True), [(36, 0, 1), (38, 4, 5), (36, 8, 9)])],
                                    total_steps=16)
    decoded = dconv.decode(dconv.encode(beat))
    assert note_density(decoded) == 3 / 16
    assert math.isnan(c_diatonic(decoded))


# ---------------------------------------------------------------------- hamming
def test_hamming_distance_1d():
    a = np.array([1, 2, 3, 4])
    assert hamming_distance(a, a.copy()) == 0.0
    assert hamming_distance(a, a + 10) == 1.0
    assert hamming_distance(a, np.array([1, 2, 0, 0])) == 0.5
    assert hamming_distance(a, np.array([1, 2, 0, 0]), per_stream=True) == 0.5


def test_hamming_distance_2d_steps_and_streams():
    a = np.array([[1, 1], [2, 2], [3, 3], [4, 4]])
    b = np.array([[1, 1], [2, 9], [3, 3], [9, 9]])
    assert hamming_distance(a, b) == 2 / 4
    assert hamming_distance(a, b, per_stream=True) == 3 / 8
    assert hamming_distance(a, a) == 0.0
    assert hamming_distance(a, a + 1) == 1.0


def test_hamming_distance_shape_errors_and_empty():
    with pytest.raises(ValueError, match="equal shape"):
        hamming_distance(np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match="equal shape"):
        hamming_distance(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(T,\) or \(T, K\)"):
        hamming_distance(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    assert math.isnan(hamming_distance(np.zeros(0), np.zeros(0)))


# --------------------------------------------------------------------- registry
def test_registry():
    assert list(ATTRIBUTES) == ["c_diatonic", "note_density", "average_interval", "syncopation_16th",
                                "syncopation_8th", "pitch_range", "distinct_pitches"]
    assert PAPER_ATTRIBUTES == tuple(ATTRIBUTES)[:5]


def test_measure():
    seq = melody([60, 64, 62], total_steps=16)
    assert measure(seq) == {"c_diatonic": 1.0, "note_density": 3 / 16, "average_interval": 3.0,
                            "syncopation_16th": 0.0, "syncopation_8th": 0.0, "pitch_range": 4.0,
                            "distinct_pitches": 3.0}
    assert measure(seq, ["pitch_range"]) == {"pitch_range": 4.0}
    with pytest.raises(KeyError, match="'loudness'"):
        measure(seq, ["pitch_range", "loudness"])


def test_measure_many_matches_measure(drums):
    rng = np.random.default_rng(0)
    seqs = [drums, NoteSequence.from_tuples([], total_steps=32), melody([60])]
    for _ in range(50):
        n = int(rng.integers(1, 12))
        starts = np.sort(rng.choice(32, n, replace=False))
        ends = np.minimum(starts + rng.integers(1, 6, n), 32)
        seqs.append(NoteSequence.from_tuples(
            list(zip(rng.integers(40, 90, n).tolist(), starts.tolist(), ends.tolist())), total_steps=32))
    out = measure_many(seqs)
    assert list(out) == list(ATTRIBUTES)
    for name, values in out.items():
        assert values.shape == (len(seqs),) and values.dtype == np.float64
        expected = np.array([ATTRIBUTES[name](s) for s in seqs])
        np.testing.assert_array_equal(values, expected)
    assert math.isnan(out["average_interval"][0]) and out["note_density"][0] == 0.25
    empty = measure_many([], PAPER_ATTRIBUTES)
    assert list(empty) == list(PAPER_ATTRIBUTES) and all(v.shape == (0,) for v in empty.values())


# -------------------------------------------------------------- relative change
def test_relative_change():
    assert relative_change(np.array([1.0, 3.0]), np.array([3.0, 5.0])) == 1.0
    assert relative_change(np.array([4.0]), np.array([1.0])) == -0.75
    assert relative_change(np.array([-2.0]), np.array([-1.0])) == 0.5  # |baseline| keeps the sign of the change


def test_relative_change_when_the_attribute_is_zero():
    zero = np.array([0.0, 0.0])
    assert relative_change(zero, np.array([0.0, 0.0])) == 0.0
    assert relative_change(zero, np.array([0.5, 0.0])) == math.inf
    assert relative_change(zero, np.array([-0.5])) == -math.inf
    assert relative_change(np.array([-1.0, 1.0]), np.array([1.0])) == math.inf  # mean 0, not all zeros


def test_relative_change_ignores_nan():
    assert relative_change(np.array([1.0, np.nan, 3.0]), np.array([np.nan, 4.0])) == 1.0
    assert math.isnan(relative_change(np.array([np.nan]), np.array([1.0])))
    assert math.isnan(relative_change(np.array([]), np.array([1.0])))
    assert math.isnan(relative_change(np.array([1.0]), np.array([np.nan, np.nan])))
