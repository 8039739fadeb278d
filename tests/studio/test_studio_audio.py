"""The studio's streamed WAV: a valid file of the announced size, chunk by chunk, sounding like one render."""

import io
import wave

import numpy as np

from musicvae.music import NoteSequence
from musicvae.render.audio import render_audio
from musicvae.studio.audio import OUT_RATE, SYNTH_RATE, _chunks, stream_wav, wav_length


def _tune(bars: int) -> NoteSequence:
    return NoteSequence.from_tuples([(60 + [0, 4, 7, 12][i % 4], 4 * i, 4 * i + 6) for i in range(4 * bars)],
                                    total_steps=16 * bars)  # notes overlap the chunk borders


def test_chunks_grow_from_two_bars():
    assert _chunks(16 * 16, 16) == [(0, 16), (16, 48), (48, 112), (112, 240), (240, 256)]
    assert _chunks(16, 16) == [(0, 16)]


def test_streamed_wav_matches_a_whole_render():
    seq = _tune(8)
    parts = list(stream_wav(seq))
    assert len(parts) >= 3  # header + chunks: the first bars go out before the rest is rendered
    data = b"".join(parts)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (OUT_RATE, 1, wav_length(seq))
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32767
    ref = render_audio(seq, SYNTH_RATE, stereo=False)[0]
    ref = ref[: len(ref) // 2 * 2].reshape(-1, 2).mean(axis=1)
    assert len(x) == len(ref)
    bar = OUT_RATE * 2  # 2 s per bar at 120 qpm
    np.testing.assert_allclose(x[:bar], ref[:bar], atol=2e-4)  # the first chunk is the same render
    for b in range(1, 8):  # later chunks: same notes, same loudness (onsets may move by a synth block, ~1 ms)
        seg = slice(b * bar, (b + 1) * bar)
        assert abs(np.sqrt(np.mean(x[seg] ** 2)) / np.sqrt(np.mean(ref[seg] ** 2)) - 1) < 0.1


def test_silence_streams_as_zeros():
    seq = NoteSequence.from_tuples([], total_steps=32)
    data = b"".join(stream_wav(seq))
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnframes() == wav_length(seq)
        assert not np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").any()
