"""Quantizing scores to 16th-note steps and splitting them at time-signature changes."""

from __future__ import annotations

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

import bad_midi
from musicvae.music import NoUsableMusic, load_sequences, quantize_score, read_midi_bytes
from musicvae.music.quantize import MAX_STEPS, score_notes, time_signature_stretches

TPQ = 480
BAR = 4 * TPQ


def make_score(notes=(), *, tpq=TPQ, time_sigs=(), tempos=(), tracks=None) -> Score:
    """Score from ``(pitch, start_tick, end_tick)`` notes (one piano track) or ``tracks``:
    ``[(program, is_drum, [(pitch, start, end), ...]), ...]``."""
    score = Score(tpq)
    for t, q in tempos:
        score.tempos.append(Tempo(t, q))
    for t, n, d in time_sigs:
        score.time_signatures.append(TimeSignature(t, n, d))
    for program, is_drum, part in tracks if tracks is not None else [(0, False, notes)]:
        track = Track("", program, is_drum)
        for pitch, start, end in part:
            track.notes.append(Note(start, end - start, pitch, 100))
        score.tracks.append(track)
    return score


def one(score, **kwargs):
    seqs = quantize_score(score, "test.mid", **kwargs)
    assert len(seqs) == 1
    return seqs[0]


# --------------------------------------------------------------------------- snapping


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (119, 480, (1, 4)),  # 119/120 of a step snaps to step 1
        (59, 481, (0, 4)),  # just under half a step rounds down
        (60, 180, (1, 2)),  # exactly half a step rounds up (to 1), end 1.5 -> 2
        (1, 3, (0, 1)),  # a note shorter than a step lasts one step
        (480, 480 + 1, (4, 5)),
        (1919, 1921, (16, 17)),  # tick 1919 belongs to the next bar's first step
    ],
)
def test_snapping_to_nearest_step(start, end, expected):
    seq = quantize_score(make_score([(60, start, end)]), "x")[0]
    assert seq.to_tuples() == [(60, *expected)]


@pytest.mark.parametrize("tpq", [96, 100, 220, 384, 960])
def test_snapping_other_resolutions(tpq):
    q = tpq  # a quarter in ticks
    notes = [(60, 0, q), (62, q + q // 10, 2 * q), (64, 3 * q + q // 4, 3 * q + q // 2)]
    seq = one(make_score(notes, tpq=tpq))
    assert seq.to_tuples() == [(60, 0, 4), (62, 4, 8), (64, 13, 14)]


def test_zero_length_note_becomes_one_step():
    seq = one(make_score([(60, 480, 480), (62, 485, 490)]))
    assert seq.to_tuples() == [(60, 4, 5), (62, 4, 5)]


def test_last_bar_rounded_up_and_notes_kept():
    seq = one(make_score([(60, 0, 480), (62, 4 * BAR + 240, 4 * BAR + 480)]))
    assert seq.total_steps == 5 * 16 and seq.num_bars == 5
    assert seq.to_tuples()[-1] == (62, 66, 68)


def test_empty_tracks_dropped_and_track_indices_renumbered():
    score = make_score(tracks=[(0, False, []), (33, False, [(36, 0, 480)]), (0, True, [(42, 0, 60)])])
    raw, tracks = score_notes(score)
    assert [(t.program, t.is_drum) for t in tracks] == [(33, False), (0, True)]
    assert raw[:, 4].tolist() == [0, 1]
    seq = one(score)
    assert seq.to_tuples(0) == [(36, 0, 4)] and seq.to_tuples(1) == [(42, 0, 1)]


def test_no_notes_raises():
    with pytest.raises(NoUsableMusic, match="no notes") as info:
        quantize_score(make_score([]), "silence.mid")
    assert str(info.value) == "silence.mid: no notes"


def test_absurd_length_is_refused():
    far = (MAX_STEPS + 16) * (TPQ // 4)
    with pytest.raises(NoUsableMusic, match="too long"):
        quantize_score(make_score([(60, 0, 480), (62, far, far + 480)]), "x")
    # just inside the cap is fine (and does not allocate per-step memory here)
    ok = (MAX_STEPS - 16) * (TPQ // 4)
    assert one(make_score([(60, 0, 480), (62, ok, ok + 480)])).total_steps == MAX_STEPS


# --------------------------------------------------------------------------- time signatures


def test_default_is_4_4_without_time_signature():
    seq = one(make_score([(60, 0, 480)]))
    assert seq.time_signature == (4, 4) and seq.meta == {"stretch": 0, "start_step": 0}


def test_3_4_intro_then_4_4_body():
    body = 2 * 3 * TPQ  # two 3/4 bars
    score = make_score(
        [(60, 0, 480), (72, body, body + 480), (74, body + BAR + 120, body + BAR + 240)],
        time_sigs=[(0, 3, 4), (body, 4, 4)],
    )
    seq = one(score)
    assert seq.meta["start_step"] == 24 and seq.meta["stretch"] == 1
    assert seq.to_tuples() == [(72, 0, 4), (74, 17, 18)]
    assert seq.total_steps == 32 and seq.time_signature == (4, 4)


def test_4_4_then_6_8_then_4_4_gives_two_stretches():
    six8 = BAR + 3 * TPQ
    score = make_score(
        [(60, 0, 480), (62, BAR, BAR + 480), (64, six8, six8 + 480), (65, six8 + BAR, six8 + BAR + 480)],
        time_sigs=[(0, 4, 4), (BAR, 6, 8), (six8, 4, 4)],
    )
    first, second = quantize_score(score, "x")
    assert first.to_tuples() == [(60, 0, 4)] and first.total_steps == 16
    assert second.to_tuples() == [(64, 0, 4), (65, 16, 20)] and second.total_steps == 32
    assert second.meta == {"stretch": 2, "start_step": 28}


def test_stretch_ending_mid_bar_is_cut_to_whole_bars():
    change = BAR + 2 * TPQ  # 4/4 for 1.5 bars, then 3/4
    score = make_score(
        [(60, 0, 480), (62, BAR - 240, BAR + 240), (64, BAR + 120, BAR + 240), (66, change, change + 480)],
        time_sigs=[(0, 4, 4), (change, 3, 4)],
    )
    seq = one(score)
    assert seq.total_steps == 16
    # the note crossing the cut is clipped; the one starting in the half bar is dropped
    assert seq.to_tuples() == [(60, 0, 4), (62, 14, 16)]


def test_2_2_counts_as_16_steps():
    score = make_score([(60, 0, 480), (62, BAR, BAR + 480)], time_sigs=[(0, 2, 2)])
    seq = one(score)
    assert seq.time_signature == (2, 2) and seq.total_steps == 32


def test_only_3_4_rejected_with_reason_naming_signatures():
    with pytest.raises(NoUsableMusic) as info:
        quantize_score(make_score([(60, 0, 480)], time_sigs=[(0, 3, 4)]), "waltz.mid")
    assert str(info.value) == "waltz.mid: no 4/4 section (time signatures: 3/4)"


def test_min_bars_and_empty_4_4_stretch():
    score = make_score([(60, 3 * TPQ, 4 * TPQ)], time_sigs=[(0, 4, 4), (BAR, 3, 4)])
    assert one(score).total_steps == 16
    with pytest.raises(NoUsableMusic, match=r"at least 2 bar\(s\) with notes \(time signatures: 4/4\)"):
        quantize_score(score, "x", min_bars=2)
    # a 4/4 stretch without notes is skipped, not returned empty
    score = make_score([(60, BAR, BAR + 480)], time_sigs=[(0, 4, 4), (BAR, 3, 4)])
    with pytest.raises(NoUsableMusic, match="with notes"):
        quantize_score(score, "x")


def test_signatures_at_the_same_tick_the_later_wins():
    for sigs, expect in [([(0, 4, 4), (0, 3, 4)], None), ([(0, 3, 4), (0, 4, 4)], (4, 4))]:
        data = bad_midi.smf([bad_midi.conductor(time_sigs=sigs), bad_midi.notes_track([(60, 0, TPQ)])])
        score = read_midi_bytes(data)
        if expect is None:
            with pytest.raises(NoUsableMusic, match="3/4"):
                quantize_score(score, "x")
        else:
            assert one(score).time_signature == expect


def test_time_signature_stretches_direct():
    score = make_score([], time_sigs=[(0, 4, 4), (BAR, 4, 4), (2 * BAR, 3, 4), (2 * BAR + 3 * TPQ, 4, 4)])
    assert time_signature_stretches(score, TPQ / 4, 64) == [(0, 32, 4, 4), (32, 44, 3, 4), (44, 64, 4, 4)]
    # a first signature after tick 0 means 4/4 (the MIDI default) before it
    score = make_score([], time_sigs=[(BAR, 3, 4)])
    assert time_signature_stretches(score, TPQ / 4, 40) == [(0, 16, 4, 4), (16, 40, 3, 4)]
    # a change at or after the end leaves no empty stretch behind
    assert time_signature_stretches(score, TPQ / 4, 16) == [(0, 16, 4, 4)]


# --------------------------------------------------------------------------- tempo


def test_tempo_taken_from_the_stretch():
    body = 2 * 3 * TPQ
    score = make_score(
        [(60, 0, 480), (72, body, body + 480), (74, body + BAR, body + BAR + 480)],
        time_sigs=[(0, 3, 4), (body, 4, 4)],
        tempos=[(0, 120.0), (body, 90.0), (body + BAR, 150.0)],
    )
    assert one(score).qpm == pytest.approx(90.0, abs=1e-3)


def test_tempo_in_force_before_the_stretch_carries_over():
    six8 = BAR + 3 * TPQ
    score = make_score(
        [(60, 0, 480), (64, six8, six8 + 480)],
        time_sigs=[(0, 4, 4), (BAR, 6, 8), (six8, 4, 4)],
        tempos=[(0, 100.0), (BAR + TPQ, 75.0)],
    )
    first, second = quantize_score(score, "x")
    assert first.qpm == pytest.approx(100.0, abs=1e-3) and second.qpm == pytest.approx(75.0, abs=1e-3)


def test_no_tempo_means_120_and_tempo_changes_do_not_move_notes():
    assert one(make_score([(60, 0, 480)])).qpm == 120.0
    plain = one(make_score([(60, 0, 480), (62, BAR, BAR + 480)]))
    tempos = [(0, 60.0), (240, 200.0), (BAR - 1, 33.0)]
    changed = one(make_score([(60, 0, 480), (62, BAR, BAR + 480)], tempos=tempos))
    np.testing.assert_array_equal(plain.notes, changed.notes)
    assert changed.qpm == pytest.approx(60.0, abs=1e-3)


def test_load_sequences_sets_source(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(bad_midi.simple_song(bars=3))
    (seq,) = load_sequences(path)
    assert seq.source == str(path) and seq.total_steps == 48 and len(seq) == 12
    with pytest.raises(NoUsableMusic, match=r"at least 4 bar"):
        load_sequences(path, min_bars=4)
