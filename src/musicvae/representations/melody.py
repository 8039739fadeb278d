"""Monophonic melodies: 130 classes per 16th note (or magenta's 90-class variant).

Place in the flow: NoteSequence -> :class:`MelodyConverter` -> ``(T, 1)`` tokens -> windows.

Tokens: 0 = hold/rest (no event), 1 = note-off, 2.. = note-on. Each eligible
track (by default GM programs 0-31, magenta's ``MEL_PROGRAMS``; drums never)
gives one candidate line, reduced to one note at a time by keeping the highest
(or lowest) note of each onset.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..music.monophonic import Keep
from ..music.sequence import NoteSequence, TrackInfo
from .base import StreamConverter
from .streams import MelodyStream

MEL_PROGRAMS = tuple(range(0, 32))  # piano, chromatic percussion, organ, guitar
BASS_PROGRAMS = tuple(range(32, 40))


class MelodyConverter(StreamConverter):
    kind = "melody"
    stream_names = ("melody",)
    required_streams = (0,)

    def __init__(
        self,
        min_pitch: int = 0,
        max_pitch: int = 127,
        keep: Keep = "highest",
        programs: Iterable[int] | None = MEL_PROGRAMS,
    ):
        self.programs = None if programs is None else frozenset(int(p) for p in programs)
        stream = MelodyStream(min_pitch, max_pitch, keep)
        super().__init__([stream], [TrackInfo(0, False, "melody")])

    @property
    def stream(self) -> MelodyStream:
        return self.streams[0]

    def eligible(self, info: TrackInfo) -> bool:
        return not info.is_drum and (self.programs is None or info.program in self.programs)

    def candidates(self, seq: NoteSequence) -> list[np.ndarray]:
        return [self.stream.encode(notes, seq.total_steps)[:, None] for idx, info in enumerate(seq.tracks)
                if self.eligible(info) and len(notes := seq.track_notes(idx))]

    def config(self) -> dict:
        s = self.stream
        return dict(
            super().config(),
            min_pitch=s.min_pitch,
            max_pitch=s.max_pitch,
            keep=s.keep,
            programs=None if self.programs is None else sorted(self.programs),
        )
