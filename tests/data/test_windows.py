"""Window extraction rules: stride, rest limit, canonical cut, has-notes, mix rule."""

import numpy as np

from musicvae.data.windows import WindowRules, grid_windows, silent_run_lengths
from musicvae.music import NoteSequence, TrackInfo
from musicvae.representations import DrumConverter, MelodyConverter, MultitrackConverter


def _windows(conv, seq, bars=2, rest=1.0):
    return grid_windows(conv, conv.encode(seq), WindowRules(bars, max_rest_bars=rest))


def test_one_bar_stride_over_busy_melody():
    seq = NoteSequence.from_tuples([(60 + i % 12, 4 * i, 4 * i + 4) for i in range(16)])  # 4 bars
    wins, starts = _windows(MelodyConverter(), seq)
    assert starts.tolist() == [0, 1, 2]
    assert wins.shape == (3, 32, 1)


def test_rest_longer_than_one_bar_rejects_window():
    conv = MelodyConverter()
    # notes in bars 0 and 3; bars 1-2 rest (2 bars); a 4-bar window must be rejected
    seq = NoteSequence.from_tuples([(60, 0, 16), (62, 48, 64)])
    wins, _ = _windows(conv, seq, bars=4)
    assert len(wins) == 0
    # exactly one bar of rest is allowed
    seq = NoteSequence.from_tuples([(60, 0, 16), (62, 32, 48)])
    wins, _ = _windows(conv, seq, bars=3)
    assert len(wins) == 1
    # ...unless the limit is lowered
    assert len(_windows(conv, seq, bars=3, rest=0.5)[0]) == 0


def test_held_note_before_window_counts_as_silence_inside_it():
    conv = MelodyConverter()
    # a note held through bars 0-2, then a note at the start of bar 3
    seq = NoteSequence.from_tuples([(60, 0, 48), (62, 48, 52)])
    wins, starts = _windows(conv, seq, bars=3)
    # window at bar 1 sees 2 bars of silence (the held note began before it): rejected
    assert starts.tolist() == [0]


def test_cut_window_is_canonical():
    conv = MelodyConverter()
    seq = NoteSequence.from_tuples([(60, 0, 16), (62, 20, 24), (64, 32, 40), (65, 40, 48)])
    wins, starts = _windows(conv, seq, bars=2)
    assert starts.tolist() == [0, 1]
    second = wins[1]
    assert second[0, 0] == 0  # the note-off of the note that ended at step 16 was dropped
    assert conv.is_valid(second)


def test_window_without_notes_rejected():
    conv = MelodyConverter()
    seq = NoteSequence.from_tuples([(60, 0, 4)], total_steps=48)
    wins, starts = _windows(conv, seq, bars=1, rest=2)
    assert starts.tolist() == [0]


def test_drum_rest_rule_uses_hits():
    conv = DrumConverter()
    seq = NoteSequence.from_tuples([(36, 0, 1), (36, 30, 31)], is_drum=True)  # 29 silent steps
    assert len(_windows(conv, seq)[0]) == 0
    seq = NoteSequence.from_tuples([(36, 0, 1), (36, 17, 18)], is_drum=True)  # 16 silent steps
    assert len(_windows(conv, seq)[0]) == 1


def test_multitrack_rules_apply_to_the_mix():
    conv = MultitrackConverter()
    seq = NoteSequence.from_tracks(
        [(TrackInfo(33), [(36, 0, 16)]), (TrackInfo(0), [(60, 16, 32)])]  # each part rests one bar
    )
    assert len(_windows(conv, seq)[0]) == 1


def test_silent_run_lengths():
    silent = np.array([[1], [1], [0], [1], [1], [1]], dtype=bool)
    assert silent_run_lengths(silent)[:, 0].tolist() == [1, 2, 0, 1, 2, 3]


def test_orphan_note_off_after_held_start_is_dropped():
    conv = MelodyConverter()
    # note 60 held from step 8 to 19 ends inside the second window (starting at bar 1, step 16)
    seq = NoteSequence.from_tuples([(60, 8, 19), (62, 24, 28), (64, 32, 40), (65, 40, 48)])
    wins, starts = _windows(conv, seq, bars=2)
    assert 1 in starts.tolist()
    second = wins[starts.tolist().index(1)]
    assert second[3, 0] == 0  # was the note-off of the held note
    assert conv.is_valid(second)


def test_every_window_of_real_files_round_trips(real_windows):
    for conv, wins in real_windows:
        assert len(wins) > 50
        for w in wins:
            assert conv.is_valid(w)
            np.testing.assert_array_equal(conv.encode(conv.decode(w)), w)
