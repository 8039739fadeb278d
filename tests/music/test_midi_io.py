"""MIDI in/out: round trips, and every nasty real-world file fails cleanly or parses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bad_midi
from musicvae.music import (
    MidiError,
    NoteSequence,
    NoUsableMusic,
    TrackInfo,
    load_sequences,
    midi_bytes,
    quantize_score,
    read_midi,
    read_midi_bytes,
    write_midi,
)
from musicvae.music.midi_io import MAX_MIDI_BYTES

# --------------------------------------------------------------------------- round trips


def _roundtrip(seq: NoteSequence, tpq: int = 480) -> NoteSequence:
    seqs = quantize_score(read_midi_bytes(midi_bytes(seq, tpq)), "rt")
    assert len(seqs) == 1
    return seqs[0]


def _assert_same(a: NoteSequence, b: NoteSequence) -> None:
    np.testing.assert_array_equal(a.notes, b.notes)
    assert [(t.program, t.is_drum, t.name) for t in a.tracks] == [(t.program, t.is_drum, t.name) for t in b.tracks]
    assert a.total_steps == b.total_steps
    assert a.qpm == pytest.approx(b.qpm)
    assert a.time_signature == b.time_signature


ROUNDTRIP_CASES = {
    "piano": NoteSequence.from_tuples([(60, 0, 4, 90), (64, 0, 4, 70), (67, 4, 5, 127), (72, 15, 16, 1)], program=0),
    "two_bars_qpm100": NoteSequence.from_tuples([(40, 0, 16), (43, 16, 30)], program=33, qpm=100.0),
    "cut_time": NoteSequence.from_tuples([(60, 2, 3), (61, 14, 18)], time_signature=(2, 2)),
    "trio": NoteSequence.from_tracks(
        [
            (TrackInfo(0, False, "lead"), [(72, 0, 2), (74, 2, 4), (76, 4, 12)]),
            (TrackInfo(33, False, "bass"), [(36, 0, 8), (38, 8, 16)]),
            (TrackInfo(0, True, "drums"), [(36, 0, 1), (42, 2, 3), (38, 4, 5), (36, 8, 9), (49, 31, 32)]),
        ]
    ),
}


@pytest.mark.parametrize("name", sorted(ROUNDTRIP_CASES))
@pytest.mark.parametrize("tpq", [480, 96, 220])
def test_roundtrip_sequence_midi_sequence(name, tpq):
    seq = ROUNDTRIP_CASES[name]
    _assert_same(_roundtrip(seq, tpq), seq)


def test_roundtrip_keeps_drum_flag_and_channel_10():
    seq = ROUNDTRIP_CASES["trio"]
    data = midi_bytes(seq)
    assert b"\x99" in data  # a note-on status on channel 10 (index 9)
    back = _roundtrip(seq)
    assert [t.is_drum for t in back.tracks] == [False, False, True]
    assert back.to_tuples(2) == seq.to_tuples(2)


def test_write_midi_then_read_midi(tmp_path):
    seq = ROUNDTRIP_CASES["trio"]
    path = write_midi(seq, tmp_path / "sub" / "out.mid")
    assert path.exists() and list(path.parent.iterdir()) == [path]  # no temp file left behind
    (back,) = load_sequences(path)
    _assert_same(back, seq)
    assert back.source == str(path)


def test_empty_tracks_are_dropped_and_indices_follow():
    seq = NoteSequence.from_tracks(
        [(TrackInfo(0), [(60, 0, 4)]), (TrackInfo(24, name="silent"), []), (TrackInfo(33), [(36, 0, 4)])]
    )
    back = _roundtrip(seq)
    assert [t.program for t in back.tracks] == [0, 33]
    assert back.to_tuples(0) == [(60, 0, 4)] and back.to_tuples(1) == [(36, 0, 4)]


# --------------------------------------------------------------------------- errors


def test_midi_error_message_is_path_and_reason():
    err = MidiError("a/b.mid", "empty file")
    assert str(err) == "a/b.mid: empty file" and err.path == "a/b.mid" and err.reason == "empty file"
    assert str(MidiError(None, "x")) == "<bytes>: x"
    assert issubclass(NoUsableMusic, MidiError)


def test_read_midi_missing_and_directory(tmp_path):
    with pytest.raises(MidiError, match="no such file"):
        read_midi(tmp_path / "nope.mid")
    with pytest.raises(MidiError, match="is a directory"):
        read_midi(tmp_path)


def test_read_midi_bytes_reasons():
    with pytest.raises(MidiError, match="empty file"):
        read_midi_bytes(b"")
    with pytest.raises(MidiError, match="not a MIDI file"):
        read_midi_bytes(b"MTrk\x00\x00\x00\x00")
    with pytest.raises(MidiError, match="RIFF file without a MIDI chunk"):
        read_midi_bytes(b"RIFF\x04\x00\x00\x00RMID")


def test_huge_file_is_refused_without_reading(tmp_path, monkeypatch):
    path = bad_midi.make_huge_midi(tmp_path / "huge.mid", megabytes=33)
    assert path.stat().st_size > MAX_MIDI_BYTES

    def no_read(self):  # read_midi must decide on the size alone
        raise AssertionError("read_bytes called on a huge file")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    t0 = time.perf_counter()
    with pytest.raises(MidiError, match="too large") as info:
        read_midi(path)
    assert time.perf_counter() - t0 < 0.5
    assert str(info.value).startswith(str(path))


def test_huge_bytes_are_refused():
    with pytest.raises(MidiError, match="too large"):
        read_midi_bytes(bad_midi.simple_song() + bytes(MAX_MIDI_BYTES))


# --------------------------------------------------------------------------- nasty files


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_midi")
    return root, bad_midi.make_bad_midi_dir(root)


BAD_NAMES = bad_midi.case_names()


def test_bad_dir_covers_the_cases(bad_dir):
    root, expected = bad_dir
    assert sorted(p.name for p in root.iterdir()) == sorted(expected) == BAD_NAMES
    assert (root / "empty.mid").stat().st_size == 0
    assert (root / "rmid_wrapped.rmi").read_bytes()[:4] == b"RIFF"
    assert {"karaoke.kar", "UPPER_CASE.MID", "long_extension.midi"} <= set(expected)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_file_parses_or_fails_cleanly(bad_dir, name):
    root, cases = bad_dir
    path, expected = root / name, cases[name]
    try:
        seqs = load_sequences(path)
    except MidiError as exc:  # NoUsableMusic included; any other exception type fails the test
        msg = str(exc)
        assert "\n" not in msg
        assert msg.startswith(f"{path}: ") and exc.reason and name in msg
        assert expected != "ok", f"{name} should load but failed: {msg}"
        if expected != "ok-or-error":
            assert expected in exc.reason
        return
    assert expected in ("ok", "ok-or-error"), f"{name} should fail with {expected!r}, got {len(seqs)} sequence(s)"
    assert seqs
    for s in seqs:
        assert len(s) > 0 and s.total_steps % 16 == 0 and s.total_steps > 0
        assert (s.notes[:, 1] > s.notes[:, 0]).all() and (s.notes[:, 0] >= 0).all()
        assert (s.notes[:, 1] <= s.total_steps).all()
        assert s.time_signature in {(4, 4), (2, 2)} and s.source == str(path)
    if name in bad_midi.EXPECTED_NOTES:
        assert [s.to_tuples() for s in seqs] == bad_midi.EXPECTED_NOTES[name]


def test_bad_files_never_crash_the_process(bad_dir):
    """Parse every file in a child process, so a segfault in the C++ parser is caught and named."""
    root, expected = bad_dir
    code = (
        "import json, sys\n"
        "from musicvae.music import load_sequences, MidiError\n"
        "for name in json.loads(sys.argv[2]):\n"
        "    print(name, flush=True)\n"
        "    try:\n"
        "        load_sequences(sys.argv[1] + '/' + name)\n"
        "    except MidiError:\n"
        "        pass\n"
        "print('DONE', flush=True)\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root), json.dumps(sorted(expected))],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": src},
    )
    lines = proc.stdout.split()
    assert proc.returncode == 0 and lines[-1:] == ["DONE"], (
        f"crashed (rc {proc.returncode}) on {lines[-1:]}: {proc.stderr[-800:]}"
    )


def test_extension_does_not_matter(bad_dir):
    root, _ = bad_dir
    ref = [s.to_tuples() for s in load_sequences(root / "UPPER_CASE.MID")]
    for name in ("long_extension.midi", "rmid_wrapped.rmi"):
        assert [s.to_tuples() for s in load_sequences(root / name)] == ref


def test_drums_only_file(bad_dir):
    root, _ = bad_dir
    (seq,) = load_sequences(root / "drums_only.mid")
    assert [t.is_drum for t in seq.tracks] == [True]
    assert seq.to_tuples() == [(36, 0, 1), (42, 2, 3), (38, 4, 5), (42, 6, 7)]


def test_format0_many_channels_splits_into_tracks(bad_dir):
    root, _ = bad_dir
    (seq,) = load_sequences(root / "format0_many_channels.mid")
    assert len(seq.tracks) == 16
    assert sorted(t.program for t in seq.tracks if not t.is_drum) == sorted(
        (ch * 8) % 128 for ch in range(16) if ch != 9
    )
    assert sum(t.is_drum for t in seq.tracks) == 1
    assert seq.qpm == pytest.approx(100.0)
    assert sorted(p for p, _, _ in seq.to_tuples()) == [40 + 2 * ch for ch in range(16)]


def test_overlapping_same_pitch_keeps_both_notes(bad_dir):
    root, _ = bad_dir
    (seq,) = load_sequences(root / "overlapping_same_pitch.mid")
    c4 = [t for t in seq.to_tuples() if t[0] == 60]
    assert [s for _, s, _ in c4] == [0, 4]  # both onsets survive, whatever the off pairing
    assert seq.to_tuples()[-1] == (64, 16, 20)


def test_karaoke_lyrics_are_ignored(bad_dir):
    root, _ = bad_dir
    (seq,) = load_sequences(root / "karaoke.kar")
    assert seq.to_tuples() == [(60, 0, 4), (60, 4, 8), (67, 8, 12), (67, 12, 16)]
