"""Bars for the MCVAE: each melody as an ordered list of 16-step bars.

Place in the flow: NoteSequence -> :class:`BarConverter` -> ``(n_bars, 16)`` tokens
per song -> per-bar VAE + mixture-density RNN over bar latents.

A bar uses the 130 melody classes; class 130 is a start token that the bar
decoder reads before the first step (never produced by encoding). Songs are
kept whole and in order; ``songs()`` splits a line where it rests longer than
``max_rest_bars`` (a long silence is not something to compose bar by bar).
"""

from __future__ import annotations

import numpy as np

from ..music.monophonic import Keep
from ..music.sequence import NoteSequence
from .melody import MEL_PROGRAMS, MelodyConverter
from .streams import FIRST_NOTE_ON


class BarConverter:
    kind = "bars"
    record = "song"  # whole songs of bars (data.records.SongRecords)

    def __init__(self, steps_per_bar: int = 16, keep: Keep = "highest", programs=MEL_PROGRAMS):
        self.melody = MelodyConverter(0, 127, keep, programs)
        self.steps_per_bar = steps_per_bar
        self.start_token = self.melody.vocab_sizes[0]  # 130
        self.vocab_size = self.start_token + 1  # 131 with the start token

    def config(self) -> dict:
        mel = self.melody
        return {
            "kind": self.kind,
            "steps_per_bar": self.steps_per_bar,
            "keep": mel.stream.keep,
            "programs": None if mel.programs is None else sorted(mel.programs),
            "vocab_size": self.vocab_size,
            "start_token": self.start_token,
        }

    def encode(self, seq: NoteSequence) -> list[np.ndarray]:
        """One ``(n_bars, steps_per_bar)`` array per melody track of the sequence."""
        return [c[:, 0].reshape(-1, self.steps_per_bar) for c in self.melody.candidates(seq)]

    def decode(self, bars: np.ndarray, qpm: float = 120.0) -> NoteSequence:
        bars = np.asarray(bars)
        if bars.ndim != 2 or bars.shape[1] != self.steps_per_bar:
            raise ValueError(f"bars must have shape (n_bars, {self.steps_per_bar}), got {bars.shape}")
        if (bars >= self.start_token).any():
            raise ValueError("the start token cannot be decoded into notes")
        return self.melody.decode(bars.reshape(-1), qpm)

    def canonicalize(self, bars: np.ndarray) -> np.ndarray:
        flat = self.melody.canonicalize(np.asarray(bars).reshape(-1))
        return flat.reshape(-1, self.steps_per_bar)

    def songs(self, seq: NoteSequence, min_bars: int = 2, max_rest_bars: int = 1) -> list[np.ndarray]:
        """Each melody line split at rests longer than ``max_rest_bars``; pieces of >= ``min_bars``."""
        out = []
        spb = self.steps_per_bar
        for bars in self.encode(seq):
            flat = bars.reshape(-1)
            sounding = self.melody.stream.sounding(flat)
            bar_silent = ~sounding.reshape(-1, spb).any(axis=1)
            # a bar is a break point if it sits inside a silent run longer than allowed
            n = len(bar_silent)
            run = np.zeros(n, dtype=np.int64)
            for i in range(n):  # bars per song: a few hundred at most
                run[i] = run[i - 1] + 1 if bar_silent[i] and i > 0 else int(bar_silent[i])
            breaks = np.zeros(n, dtype=bool)
            for i in np.flatnonzero(run > max_rest_bars):
                breaks[i - run[i] + 1 : i + 1] = True
            edges = np.flatnonzero(np.diff(np.concatenate([[0], ~breaks, [0]]).astype(np.int8)))
            for start, stop in zip(edges[::2], edges[1::2]):  # each maximal stretch without a break
                # trim silent bars at both ends; a piece must hold notes
                keep = np.flatnonzero(~bar_silent[start:stop])
                if len(keep):
                    piece = self.canonicalize(bars[start:stop][keep[0] : keep[-1] + 1])
                    if len(piece) >= min_bars and (piece >= FIRST_NOTE_ON).any():
                        out.append(piece)
        return out
