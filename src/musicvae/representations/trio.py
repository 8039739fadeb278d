"""Trios: melody + bass + drums on one grid, ``(T, 3)`` tokens, one-hot [130|130|512].

Place in the flow: NoteSequence -> :class:`TrioConverter` -> windows -> trio models.

Melody comes from GM programs 0-31, bass from 32-39 (both reduced to one line,
highest note kept), drums from every drum track merged. A file with two melody
tracks and two bass tracks gives all four combinations, as magenta's
``TrioConverter`` does; the window rules (rest, has notes) apply to each part.
The combinations are bounded and streamed: the first ``max_parts`` (8) melody and
bass tracks of a file pair up (64 grids at most), built one at a time, so a file
with a hundred of each cannot grow memory with their product (magenta's has no bound).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..music.attributes import drum_notes
from ..music.monophonic import Keep
from ..music.sequence import NoteSequence, TrackInfo
from .base import StreamConverter
from .melody import BASS_PROGRAMS, MEL_PROGRAMS
from .streams import DrumStream, MelodyStream

MAX_PARTS = 8  # melody and bass tracks of a file that pair up (8 x 8 = 64 grids at most)


class TrioConverter(StreamConverter):
    kind = "trio"
    stream_names = ("melody", "bass", "drums")
    required_streams = (0, 1, 2)

    def __init__(self, min_pitch: int = 0, max_pitch: int = 127, drum_mapping: str = "current", keep: Keep = "highest",
                 max_parts: int = MAX_PARTS):
        self.max_parts = int(max_parts)
        streams = [MelodyStream(min_pitch, max_pitch, keep), MelodyStream(min_pitch, max_pitch, keep), DrumStream(drum_mapping)]
        tracks = [TrackInfo(0, False, "melody"), TrackInfo(33, False, "bass"), TrackInfo(0, True, "drums")]
        super().__init__(streams, tracks)

    def candidates(self, seq: NoteSequence) -> Iterator[np.ndarray]:
        """Each (melody, bass) pairing's grid, one at a time (at most ``max_parts`` of each)."""
        T = seq.total_steps
        mel, bass = [], []
        for idx, info in enumerate(seq.tracks):
            if info.is_drum or not len(seq.track_notes(idx)):
                continue
            if info.program in MEL_PROGRAMS and len(mel) < self.max_parts:
                mel.append(idx)
            elif info.program in BASS_PROGRAMS and len(bass) < self.max_parts:
                bass.append(idx)
        if not mel or not bass:
            return iter(())
        drums = self.streams[2].encode(drum_notes(seq), T)
        if not drums.any():
            return iter(())
        bass_tokens = [self.streams[1].encode(seq.track_notes(b), T) for b in bass]

        def grids() -> Iterator[np.ndarray]:
            for m in mel:
                mel_tokens = self.streams[0].encode(seq.track_notes(m), T)
                for b in bass_tokens:
                    yield np.stack([mel_tokens, b, drums], axis=1)

        return grids()

    def config(self) -> dict:
        s = self.streams[0]
        return dict(super().config(), min_pitch=s.min_pitch, max_pitch=s.max_pitch, drum_mapping=self.streams[2].mapping,
                    max_parts=self.max_parts)
