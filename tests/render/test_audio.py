"""Audio rendering: the bundled GM SoundFont sounds, lengths are exact, errors name the path."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from musicvae.music.sequence import NoteSequence, TrackInfo
from musicvae.render import RenderError, default_soundfont, render_audio, render_wav
from musicvae.render import audio as audio_mod

SR = 8000  # low rate: fast, and enough to hear that something plays


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wf:
        assert wf.getsampwidth() == 2
        frames = wf.readframes(wf.getnframes())
        data = np.frombuffer(frames, dtype="<i2").reshape(-1, wf.getnchannels()).T / 32768.0
        return data, wf.getframerate()


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _melody(**kw) -> NoteSequence:
    return NoteSequence.from_tuples([(60, 0, 4), (64, 4, 8)], total_steps=32, **kw)


def _drums() -> NoteSequence:
    hits = [(36, 0, 1), (42, 2, 3), (38, 4, 5), (42, 6, 7), (36, 8, 9), (42, 10, 11), (38, 12, 13), (46, 14, 15)]
    return NoteSequence.from_tracks([(TrackInfo(0, True, "drums"), hits)], total_steps=16)


def test_bundled_soundfont_is_installed():
    sf = default_soundfont()
    assert sf.name == "TimGM6mb.sf2" and sf.is_file()
    assert sf.read_bytes()[8:12] == b"sfbk"


def test_notes_sound_and_duration_is_exact(tmp_path):
    path = render_wav(_melody(), tmp_path / "m.wav", sample_rate=SR)
    data, rate = _read_wav(path)
    seconds = 32 / 4 * 60 / 120 + audio_mod.DEFAULT_TAIL
    assert rate == SR
    assert data.shape == (2, round(seconds * SR))
    assert _rms(data) > 1e-3
    # the first note starts at once, and the music stops after step 8 (1 s) plus its release
    assert np.abs(data[:, : SR // 10]).max() > 1e-3
    assert np.abs(data[:, int(2.5 * SR):]).max() < 1e-3
    assert [p.name for p in tmp_path.iterdir()] == ["m.wav"]  # no temp file left behind


def test_empty_sequence_is_exact_silence(tmp_path):
    seq = NoteSequence.from_tuples([], total_steps=16)
    audio = render_audio(seq, SR, tail=0.25)
    assert audio.dtype == np.float32 and audio.shape == (2, round((2.0 + 0.25) * SR))
    assert np.isfinite(audio).all() and not audio.any()
    data, _ = _read_wav(render_wav(seq, tmp_path / "e.wav", sample_rate=SR))
    assert data.shape[1] == round(2.5 * SR) and not data.any()


def test_qpm_and_tail_set_the_duration():
    fast = render_audio(_melody(qpm=120.0), SR, tail=0.0)
    slow = render_audio(_melody(qpm=60.0), SR, tail=0.0)
    odd = render_audio(_melody(qpm=97.0), SR, tail=0.3)
    assert fast.shape[1] == 4 * SR
    assert slow.shape[1] == 8 * SR
    assert odd.shape[1] == round((8 * 60 / 97 + 0.3) * SR)
    # a note at step 4 (one quarter) starts at 0.5 s at 120 qpm, at 1 s at 60 qpm
    onset = lambda a: int(np.argmax(np.abs(a).max(0) > 1e-3))  # noqa: E731
    one = NoteSequence.from_tuples([(60, 4, 8)], total_steps=16)
    assert onset(render_audio(one, SR)) == pytest.approx(SR // 2, abs=SR // 50)
    assert onset(render_audio(one.copy(qpm=60.0), SR)) == pytest.approx(SR, abs=SR // 50)


def test_drum_track_sounds_as_percussion():
    drums = render_audio(_drums(), SR)
    assert _rms(drums) > 1e-3
    # the same pitches on a piano track sound different: drums go to channel 10
    piano = _drums().copy(tracks=[TrackInfo(0, False, "piano")])
    assert np.abs(render_audio(piano, SR) - drums).max() > 1e-2


def test_output_format_options():
    stereo = render_audio(_melody(), 22050)
    mono = render_audio(_melody(), SR, stereo=False)
    assert stereo.shape == (2, round(4.5 * 22050)) and stereo.dtype == np.float32
    assert mono.shape == (1, round(4.5 * SR))
    assert np.abs(stereo).max() <= 1.0 and _rms(mono) > 1e-3


def test_loud_render_is_scaled_to_minus_1_dbfs(monkeypatch):
    def loud(seq, sf_path, sf_data, seconds):
        t = np.arange(int(seconds * 48000)) / 48000
        return np.stack([3 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32), 48000

    monkeypatch.setattr(audio_mod, "_synthesize", loud)
    out = render_audio(_melody(), SR)
    assert np.abs(out).max() == pytest.approx(10 ** (-1 / 20), rel=1e-3)


def test_resampling_is_band_limited_and_exact_length():
    t = np.arange(48000 * 2) / 48000
    x = np.sin(2 * np.pi * 440 * t)[None].astype(np.float32)
    for rate in (8000, 22050, 44100):
        y = audio_mod._resample(x, 48000, rate, 2 * rate)
        ref = np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate)
        assert y.shape == (1, 2 * rate)
        assert np.abs(y[0] - ref)[rate // 10: -rate // 10].max() < 1e-3


def test_missing_soundfont_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "gm.sf2"
    with pytest.raises(RenderError, match="nope/gm.sf2") as err:
        render_wav(_melody(), tmp_path / "x.wav", soundfont=missing, sample_rate=SR)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)
    assert not (tmp_path / "x.wav").exists()
    # an empty sequence still checks the SoundFont
    with pytest.raises(RenderError, match="gm.sf2"):
        render_audio(NoteSequence.from_tuples([]), SR, soundfont=missing)


def test_unreadable_soundfont_names_the_path(tmp_path):
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"not a soundfont" * 10)
    with pytest.raises(RenderError, match="junk.sf2"):
        render_audio(_melody(), SR, soundfont=junk)
    fake = tmp_path / "fake.sf2"  # right header, broken body: the synthesizer's own error
    fake.write_bytes(b"RIFF\x10\x00\x00\x00sfbk" + b"\x00" * 8)
    with pytest.raises(RenderError, match="fake.sf2"):
        render_audio(_melody(), SR, soundfont=fake)
    with pytest.raises(RenderError, match="is not a file"):
        render_audio(_melody(), SR, soundfont=tmp_path)


def test_soundfont_override_and_environment(tmp_path, monkeypatch):
    copy = tmp_path / "copy.sf2"
    copy.write_bytes(default_soundfont().read_bytes())
    assert _rms(render_audio(_melody(), SR, soundfont=copy)) > 1e-3
    monkeypatch.setenv(audio_mod.SOUNDFONT_ENV, str(tmp_path / "env.sf2"))
    assert default_soundfont() == tmp_path / "env.sf2"
    with pytest.raises(RenderError, match="env.sf2"):
        render_audio(_melody(), SR)


def test_bad_arguments_are_render_errors():
    with pytest.raises(RenderError, match="sample rate"):
        render_audio(_melody(), 100)
    with pytest.raises(RenderError, match="tail"):
        render_audio(_melody(), SR, tail=-1.0)
