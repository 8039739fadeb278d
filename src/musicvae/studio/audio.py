"""Studio audio: a clip's WAV rendered in growing chunks, so the page can start playing at once.

Place in the flow: a clip's NoteSequence -> ``render.audio.render_audio`` (the package's General
MIDI SoundFont), one chunk of bars at a time -> WAV bytes streamed to the page's <audio> element.

Synthesis is linear in the notes (each voice is rendered on its own and summed), so the notes
that *start* in bars ``[a, b)``, rendered from bar ``a`` with their full length and release,
added at their offset, give the same audio as one render of the whole clip; samples before
bar ``b`` are final once every chunk starting before ``b`` is in. The first chunk is 1 bar
(some 50 ms to render), each next one twice as long, so every chunk is ready long before
the audio already sent has played. Output: mono, 16-bit, 24 kHz (the synthesizer's 48 kHz
with pairs of samples averaged: no resampling pass; a preview, not ``musicvae render``'s WAV).
"""

from __future__ import annotations

import struct
from typing import Iterator

import numpy as np

from ..music.sequence import NoteSequence
from ..render.audio import DEFAULT_TAIL, render_audio, sequence_seconds

SYNTH_RATE = 48000  # midirenderer's fixed output rate
OUT_RATE = SYNTH_RATE // 2
FIRST_CHUNK_BARS = 1


def wav_header(samples: int, rate: int = OUT_RATE) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV of ``samples`` samples."""
    data = 2 * samples
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
            + b"data" + struct.pack("<I", data))


def _chunks(total_steps: int, steps_per_bar: int) -> list[tuple[int, int]]:
    out, start, bars = [], 0, FIRST_CHUNK_BARS
    while start < total_steps:
        end = min(total_steps, start + bars * steps_per_bar)
        out.append((start, end))
        start, bars = end, bars * 2
    return out


def wav_length(seq: NoteSequence) -> int:
    """Samples (at :data:`OUT_RATE`) of the clip's WAV: its length plus the release tail."""
    return int(round(sequence_seconds(seq, DEFAULT_TAIL) * SYNTH_RATE)) // 2


def stream_wav(seq: NoteSequence, steps_per_bar: int = 16) -> Iterator[bytes]:
    """The header, then the 16-bit samples chunk by chunk (see the module docstring)."""
    total = wav_length(seq)
    yield wav_header(total)
    acc = np.zeros(2 * total + SYNTH_RATE, dtype=np.float32)  # 48 kHz accumulator (+1 s of slack)
    per_step = 60.0 / float(seq.qpm) / seq.steps_per_quarter * SYNTH_RATE
    notes = np.asarray(seq.notes).reshape(-1, 5)
    sent = 0  # output samples sent
    chunks = _chunks(int(seq.total_steps), steps_per_bar) or [(0, 0)]
    for i, (a, b) in enumerate(chunks):
        mine = notes[(notes[:, 0] >= a) & ((notes[:, 0] < b) | (i == len(chunks) - 1))]
        if len(mine):
            part = mine.copy()
            part[:, :2] -= a
            sub = seq.copy(notes=part, total_steps=int(part[:, 1].max()))
            audio = render_audio(sub, SYNTH_RATE, stereo=False)[0]
            at = int(round(a * per_step))
            n = min(len(audio), len(acc) - at)
            acc[at:at + n] += audio[:n]
        final = total if i == len(chunks) - 1 else min(total, int(b * per_step) // 2)
        if final > sent:
            pair = acc[2 * sent:2 * final].reshape(-1, 2).mean(axis=1)
            yield np.clip(np.round(pair * 32767.0), -32768, 32767).astype("<i2").tobytes()
            sent = final
