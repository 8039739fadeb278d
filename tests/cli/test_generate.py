"""The generation commands end to end on a tiny model: files written, one-line refusals."""

import pytest
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.music import NoteSequence, write_midi
from musicvae.music.sequence import TrackInfo

runner = CliRunner()


@pytest.fixture(scope="module")
def tunes(tmp_path_factory):
    root = tmp_path_factory.mktemp("tunes")
    a = write_midi(NoteSequence.from_tuples([(60 + 2 * (i % 5), 2 * i, 2 * i + 2) for i in range(32)]), root / "a.mid")
    b = write_midi(NoteSequence.from_tuples([(72 - 3 * (i % 4), 4 * i, 4 * i + 4) for i in range(8)]), root / "b.mid")
    drums = write_midi(NoteSequence.from_tracks([(TrackInfo(is_drum=True), [(36, i, i + 1) for i in range(0, 32, 4)])]),
                       root / "drums.mid")
    return a, b, drums


def _ok(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def _refused(args, *needles):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, text
    return text


def test_sample_writes_midi_wav_png(tiny_mel_run, tmp_path):
    _ok(["sample", "--model", str(tiny_mel_run), "-n", "2", "--seed", "1", "--out", str(tmp_path), "--wav", "--png"])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["sample-01.mid", "sample-01.png", "sample-01.wav", "sample-02.mid", "sample-02.png", "sample-02.wav"]


def test_interpolate_writes_each_step_and_a_strip(tiny_mel_run, tunes, tmp_path):
    a, b, _ = tunes
    out = _ok(["interpolate", str(a), str(b), "--model", str(tiny_mel_run), "--steps", "3", "--out", str(tmp_path), "--png"])
    assert "a.mid: using bars 1-2, window 1 of 2" in out  # a.mid is 4 bars: the user learns which window was used
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a-to-b-01.mid", "a-to-b-01.png", "a-to-b-02.mid", "a-to-b-02.png", "a-to-b-03.mid",
                     "a-to-b-03.png", "a-to-b-strip.png"]


def test_reconstruct_average_similar_render(tiny_mel_run, tunes, tmp_path):
    a, b, _ = tunes
    _ok(["reconstruct", str(a), str(b), "--model", str(tiny_mel_run), "--out", str(tmp_path / "r")])
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["a-recon.mid", "b-recon.mid"]
    _ok(["average", str(a), str(b), "--model", str(tiny_mel_run), "--out", str(tmp_path / "avg")])
    assert (tmp_path / "avg" / "average.mid").is_file()
    _ok(["similar", str(a), "-n", "2", "--model", str(tiny_mel_run), "--out", str(tmp_path / "s")])
    assert len(list((tmp_path / "s").glob("*.mid"))) == 2
    _ok(["render", str(b), "--out", str(tmp_path / "w")])
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["b.png", "b.wav"]


def test_refusals_are_one_line(tiny_mel_run, tunes, tmp_path):
    a, b, drums = tunes
    m = ["--model", str(tiny_mel_run), "--out", str(tmp_path)]
    _refused(["reconstruct", str(tmp_path / "missing.mid"), *m], "missing.mid: no such file")
    _refused(["reconstruct", str(drums), *m], "drums.mid: nothing to read as a melody")
    junk = tmp_path / "junk.midi"
    junk.write_bytes(b"not a midi file at all")
    _refused(["reconstruct", str(junk), *m], "junk.midi")
    _refused(["sample", "--model", "nope"], "nope: unknown model")
    _refused(["reconstruct", str(a), "--window", "9", *m], "a.mid: has 2 2-bar window(s)")
    _refused(["reconstruct", str(a), str(b), "--window", "2", *m], "b.mid: has 1 2-bar window(s)")
    _refused(["attribute", str(a), "--attribute", "note_density", *m], "no attribute vector 'note_density'")
    _refused(["average", str(a), *m], "at least two")
    assert not any(tmp_path.glob("*.mid"))  # nothing half-written
