"""Trios: melody + bass + drums on one grid, ``(T, 3)`` tokens, one-hot [130|130|512].

Place in the flow: NoteSequence -> :class:`TrioConverter` -> windows -> trio models.

Melody comes from GM programs 0-31, bass from 32-39 (both reduced to one line,
highest note kept), drums from every drum track merged. A file with two melody
tracks and two bass tracks gives all four combinations, as magenta's
``TrioConverter`` does; the window rules (rest, has notes) apply to each part.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..music.monophonic import Keep
from ..music.sequence import NoteSequence, TrackInfo
from .base import StreamConverter
from .drums import drum_notes
from .melody import BASS_PROGRAMS, MEL_PROGRAMS
from .streams import DrumStream, MelodyStream


class TrioConverter(StreamConverter):
    kind = "trio"
    stream_names = ("melody", "bass", "drums")
    required_streams = (0, 1, 2)

    def __init__(self, min_pitch: int = 0, max_pitch: int = 127, drum_mapping: str = "current", keep: Keep = "highest"):
        streams = [MelodyStream(min_pitch, max_pitch, keep), MelodyStream(min_pitch, max_pitch, keep), DrumStream(drum_mapping)]
        tracks = [TrackInfo(0, False, "melody"), TrackInfo(33, False, "bass"), TrackInfo(0, True, "drums")]
        super().__init__(streams, tracks)

    def candidates(self, seq: NoteSequence) -> list[np.ndarray]:
        T = seq.total_steps
        mel, bass = [], []
        for idx, info in enumerate(seq.tracks):
            if info.is_drum:
                continue
            notes = seq.track_notes(idx)
            if not len(notes):
                continue
            if info.program in MEL_PROGRAMS:
                mel.append(self.streams[0].encode(notes, T))
            elif info.program in BASS_PROGRAMS:
                bass.append(self.streams[1].encode(notes, T))
        drums = self.streams[2].encode(drum_notes(seq), T)
        if not mel or not bass or not drums.any():
            return []
        return [np.stack([m, b, drums], axis=1) for m, b in itertools.product(mel, bass)]

    def config(self) -> dict:
        s = self.streams[0]
        return dict(super().config(), min_pitch=s.min_pitch, max_pitch=s.max_pitch, drum_mapping=self.streams[2].mapping)
