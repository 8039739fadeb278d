"""Reducing one track to a single line: highest or lowest note per onset."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.music import NoteSequence, monophonic_line


def notes_of(*tuples):
    return NoteSequence.from_tuples(tuples).notes


def line(notes, keep="highest"):
    return [(int(n[2]), int(n[0]), int(n[1])) for n in monophonic_line(notes, keep)]


CHORDS = notes_of((60, 0, 4), (64, 0, 4), (67, 0, 2), (48, 4, 8), (55, 4, 6), (72, 8, 16))


def test_highest_on_chords_keeps_its_own_end():
    assert line(CHORDS, "highest") == [(67, 0, 2), (55, 4, 6), (72, 8, 16)]


def test_lowest_on_chords():
    assert line(CHORDS, "lowest") == [(60, 0, 4), (48, 4, 8), (72, 8, 16)]


def test_default_is_highest():
    assert line(CHORDS) == line(CHORDS, "highest")


def test_overlapping_notes_are_cut_at_the_next_onset():
    notes = notes_of((60, 0, 16), (64, 4, 6), (55, 8, 12), (62, 10, 20))
    assert line(notes, "highest") == [(60, 0, 4), (64, 4, 6), (55, 8, 10), (62, 10, 20)]
    assert line(notes, "lowest") == [(60, 0, 4), (64, 4, 6), (55, 8, 10), (62, 10, 20)]


def test_overlap_and_chord_together():
    # a held low note under a later chord: the chord onset cuts it; then one pitch per onset
    notes = notes_of((40, 0, 8), (70, 2, 4), (50, 2, 12))
    assert line(notes, "highest") == [(40, 0, 2), (70, 2, 4)]
    assert line(notes, "lowest") == [(40, 0, 2), (50, 2, 12)]


def test_same_pitch_repeated_onsets():
    notes = notes_of((60, 0, 8), (60, 4, 8))
    assert line(notes) == [(60, 0, 4), (60, 4, 8)]


def test_output_never_overlaps_and_keeps_columns():
    rng = np.random.default_rng(0)
    start = rng.integers(0, 64, 200)
    rows = np.stack([start, start + rng.integers(1, 12, 200), rng.integers(30, 90, 200),
                     rng.integers(1, 128, 200), np.zeros(200, int)], axis=1).astype(np.int32)
    for keep in ("highest", "lowest"):
        out = monophonic_line(rows, keep)
        assert (np.diff(out[:, 0]) > 0).all()  # one note per onset, in time order
        assert (out[:-1, 1] <= out[1:, 0]).all()  # never overlaps itself
        assert (out[:, 1] > out[:, 0]).all()
        assert len(out) == len(np.unique(start))
        for n in out:  # each output row is an input note, maybe shortened
            same = rows[(rows[:, 0] == n[0]) & (rows[:, 2] == n[2]) & (rows[:, 3] == n[3])]
            assert len(same) and n[1] <= same[:, 1].max()
            pitches = rows[rows[:, 0] == n[0], 2]
            assert n[2] == (pitches.max() if keep == "highest" else pitches.min())


def test_velocity_and_track_columns_follow_the_winner():
    notes = np.array([[0, 4, 60, 10, 3], [0, 4, 67, 99, 3]], dtype=np.int32)
    assert monophonic_line(notes, "highest").tolist() == [[0, 4, 67, 99, 3]]
    assert monophonic_line(notes, "lowest").tolist() == [[0, 4, 60, 10, 3]]


def test_unsorted_input_and_input_not_modified():
    notes = np.array([[8, 12, 62, 80, 0], [0, 16, 60, 80, 0]], dtype=np.int32)
    before = notes.copy()
    assert monophonic_line(notes).tolist() == [[0, 8, 60, 80, 0], [8, 12, 62, 80, 0]]
    np.testing.assert_array_equal(notes, before)


def test_empty_input():
    out = monophonic_line(np.zeros((0, 5), np.int32))
    assert out.shape == (0, 5)
    out = monophonic_line(np.zeros((0,), np.int32))
    assert out.shape == (0, 5)


@pytest.mark.parametrize("notes", [CHORDS, np.zeros((0, 5), np.int32)])
def test_bad_keep_raises_even_when_empty(notes):
    with pytest.raises(ValueError, match="keep"):
        monophonic_line(notes, "middle")
