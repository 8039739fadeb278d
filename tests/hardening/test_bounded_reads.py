"""Issue 20, item 4: bounded reads. Inputs that are not regular files (a FIFO, ``/dev/zero``)
are refused before reading; a tiny MIDI spanning 60,000 bars is refused by audio rendering
with its length; ``prepare --kind trio`` on a file with many melody and bass tracks stays flat."""

from __future__ import annotations

import os
import struct

import pytest
from cli_run import invoke, run_cli_rss
from synth import write_song


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bounded")
    write_song(root / "good.mid", [60 + j % 7 for j in range(32)])
    os.mkfifo(root / "pipe.mid")  # nobody ever writes to it: reading it would block forever
    return root


@pytest.mark.parametrize("command, special", [
    (["reconstruct", "SPECIAL"], "pipe.mid"),
    (["interpolate", "GOOD", "SPECIAL"], "pipe.mid"),
    (["similar", "SPECIAL"], "pipe.mid"),
    (["attribute", "SPECIAL", "--attribute", "note_density"], "/dev/zero"),
    (["average", "GOOD", "SPECIAL"], "/dev/zero"),
])
def test_special_files_are_refused_before_reading(inputs, tmp_path, command, special):
    path = special if special.startswith("/") else str(inputs / special)
    args = [a.replace("SPECIAL", path).replace("GOOD", str(inputs / "good.mid")) for a in command]
    proc = invoke(*args, "--out", str(tmp_path / "o"), timeout=60)  # a hang fails here
    assert proc.returncode == 2, proc.out
    kind = "FIFO" if special == "pipe.mid" else "character device"
    assert f"{path}: not a regular file (a {kind})" in proc.out and "Traceback" not in proc.out


def _long_tiny_midi(path):
    """45 bytes: ticks-per-quarter 1, one note held for 244,000 quarters (61,000 bars)."""
    def vlq(v):
        out = [v & 0x7F]
        v >>= 7
        while v:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(reversed(out))
    track = b"\x00\x90\x3c\x40" + vlq(244_000) + b"\x80\x3c\x00" + b"\x00\xff\x2f\x00"
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + b"MTrk" + struct.pack(">I", len(track)) + track
    path.write_bytes(data)
    return len(data)


def test_render_refuses_hours_of_audio_with_its_length(tmp_path):
    size = _long_tiny_midi(tmp_path / "long.mid")
    assert size < 64
    proc, rss_kb = run_cli_rss("render", str(tmp_path / "long.mid"), "--out", str(tmp_path / "r"), "--no-png")
    assert proc.returncode == 2, proc.out
    assert "61,000 bars" in proc.out and "audio is rendered up to 20 minutes" in proc.out
    assert "Traceback" not in proc.out and rss_kb < 1_000_000


def test_trio_cross_product_is_bounded(tmp_path):
    from symusic import Note, Score, Track

    score = Score(96)
    for k in range(60):  # 30 melody and 30 bass tracks: 900 pairings unbounded
        track = Track(f"t{k}", k % 32 if k < 30 else 32 + k % 8, False)
        for i in range(200 * 4):
            track.notes.append(Note(i * 96, 90, 40 + (k * 7 + i * (k % 5 + 1)) % 40 + (30 if k < 30 else 0), 80))
        score.tracks.append(track)
    drums = Track("drums", 0, True)
    for i in range(200 * 8):
        drums.notes.append(Note(i * 48, 40, 36 + i % 3 * 2, 90))
    score.tracks.append(drums)
    (tmp_path / "in").mkdir()
    score.dump_midi(str(tmp_path / "in" / "many.mid"))
    proc, rss_kb = run_cli_rss("prepare", str(tmp_path / "in"), "--kind", "trio", "--out", str(tmp_path / "o"),
                               "--workers", "1")
    assert proc.returncode == 0, proc.out
    assert rss_kb < 400_000  # 1.8 GB for 60 x 60 tracks before the bound; ~100 MB with it
