"""NoteSequence: building, ordering, slicing bars and transposing."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.music import NoteSequence, TrackInfo
from musicvae.music.sequence import DEFAULT_VELOCITY


def test_from_tuples_defaults_and_total_steps():
    s = NoteSequence.from_tuples([(60, 0, 4), (62, 4, 8, 33)])
    assert s.total_steps == 16 and s.num_bars == 1 and len(s) == 2
    assert s.notes[:, 3].tolist() == [DEFAULT_VELOCITY, 33]
    assert s.notes.dtype == np.int32 and s.notes.flags["C_CONTIGUOUS"]
    assert NoteSequence.from_tuples([(60, 0, 16)]).total_steps == 16
    assert NoteSequence.from_tuples([(60, 0, 17)]).total_steps == 32
    assert NoteSequence.from_tuples([(60, 0, 4)], total_steps=64).total_steps == 64
    empty = NoteSequence.from_tuples([])
    assert empty.total_steps == 16 and len(empty) == 0 and empty.notes.shape == (0, 5)
    assert empty.to_tuples() == []


def test_notes_sorted_by_start_track_pitch():
    s = NoteSequence.from_tracks(
        [(TrackInfo(0), [(67, 4, 8), (60, 0, 4), (64, 0, 4)]), (TrackInfo(33), [(36, 0, 8), (30, 4, 6)])]
    )
    assert [tuple(r) for r in s.notes[:, [0, 4, 2]].tolist()] == [
        (0, 0, 60), (0, 0, 64), (0, 1, 36), (4, 0, 67), (4, 1, 30)
    ]
    assert s.to_tuples(1) == [(36, 0, 8), (30, 4, 6)]
    assert s.track_notes(0)[:, 2].tolist() == [60, 64, 67]


def test_copy_is_independent():
    s = NoteSequence.from_tuples([(60, 0, 4)], meta={"a": 1})
    c = s.copy(label="x")
    c.notes[0, 2] = 10
    c.meta["b"] = 2
    assert s.notes[0, 2] == 60 and s.meta == {"a": 1} and c.label == "x" and s.label == ""


# --------------------------------------------------------------------------- slice_bars

THREE_BARS = NoteSequence.from_tuples(
    [(60, 0, 20), (62, 14, 18), (64, 16, 20), (65, 30, 40), (67, 40, 48)], qpm=90.0, label="L", meta={"k": 1}
)


def test_slice_bars_middle():
    s = THREE_BARS.slice_bars(1, 2)
    # starting inside only (the note from bar 0 still sounding is dropped), cut at the end, shifted to 0
    assert s.to_tuples() == [(64, 0, 4), (65, 14, 16)]
    assert s.total_steps == 16 and s.qpm == 90.0 and s.label == "L"
    assert s.meta == {"k": 1, "start_bar": 1}


def test_slice_bars_whole_and_tail():
    whole = THREE_BARS.slice_bars(0, 3)
    np.testing.assert_array_equal(whole.notes, THREE_BARS.notes)
    assert whole.total_steps == 48
    tail = THREE_BARS.slice_bars(2, 3)
    assert tail.to_tuples() == [(67, 8, 16)]


def test_slice_of_slice_accumulates_start_bar_and_leaves_original():
    before = THREE_BARS.notes.copy()
    s = THREE_BARS.slice_bars(1, 3).slice_bars(1, 2)
    assert s.meta["start_bar"] == 2 and s.to_tuples() == [(67, 8, 16)]
    np.testing.assert_array_equal(THREE_BARS.notes, before)
    assert "start_bar" not in THREE_BARS.meta


def test_slice_empty_bar():
    s = NoteSequence.from_tuples([(60, 0, 4), (62, 32, 36)]).slice_bars(1, 2)
    assert len(s) == 0 and s.notes.shape == (0, 5) and s.total_steps == 16


def test_slice_other_bar_length():
    s = NoteSequence.from_tuples([(60, 0, 4), (62, 12, 14), (64, 13, 24)], steps_per_bar=12)
    assert s.total_steps == 24
    t = s.slice_bars(1, 2)
    assert t.to_tuples() == [(62, 0, 2), (64, 1, 12)] and t.total_steps == 12


# --------------------------------------------------------------------------- transpose

BAND = NoteSequence.from_tracks(
    [
        (TrackInfo(0, False, "lead"), [(72, 0, 4), (76, 4, 8)]),
        (TrackInfo(0, True, "drums"), [(36, 0, 1), (42, 2, 3)]),
        (TrackInfo(33, False, "bass"), [(36, 0, 8)]),
    ]
)


def test_transpose_moves_pitched_tracks_only():
    up = BAND.transpose(5)
    assert up.to_tuples(0) == [(77, 0, 4), (81, 4, 8)]
    assert up.to_tuples(1) == [(36, 0, 1), (42, 2, 3)]  # drum track left alone
    assert up.to_tuples(2) == [(41, 0, 8)]
    assert BAND.to_tuples(0) == [(72, 0, 4), (76, 4, 8)]  # original unchanged
    assert BAND.transpose(0).to_tuples() == BAND.to_tuples()
    np.testing.assert_array_equal(BAND.transpose(-7).transpose(7).notes, BAND.notes)


def test_transpose_range_edges():
    s = NoteSequence.from_tuples([(0, 0, 4), (120, 4, 8)])
    assert s.transpose(7).to_tuples() == [(7, 0, 4), (127, 4, 8)]
    with pytest.raises(ValueError, match="pitch range"):
        s.transpose(8)
    with pytest.raises(ValueError, match="pitch range"):
        s.transpose(-1)


def test_transpose_drums_near_the_edge_do_not_raise():
    drums = NoteSequence.from_tuples([(127, 0, 1), (0, 1, 2)], is_drum=True)
    np.testing.assert_array_equal(drums.transpose(12).notes, drums.notes)
    mixed = NoteSequence.from_tracks([(TrackInfo(0, True), [(127, 0, 1)]), (TrackInfo(0), [(60, 0, 4)])])
    assert mixed.transpose(60).to_tuples() == [(127, 0, 1), (120, 0, 4)]
    with pytest.raises(ValueError):
        mixed.transpose(68)


def test_transpose_empty():
    assert len(NoteSequence.from_tuples([]).transpose(100)) == 0
