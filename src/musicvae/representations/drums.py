"""Drum patterns: 9 canonical drum classes, one 512-way token per 16th note.

Place in the flow: NoteSequence -> :class:`DrumConverter` -> ``(T, 1)`` tokens -> windows.

Every drum track (``is_drum``, i.e. MIDI channel 10) of a sequence is merged into
one pattern. Pitches map to kick, snare, closed/open hi-hat, low/mid/high tom,
crash and ride with note_seq's current table (``mapping="current"``) or the 2018
table the MusicVAE paper used (``mapping="2018"``); unmapped pitches are dropped.
Decoding writes each class's canonical pitch (36, 38, 42, 46, 45, 48, 50, 49, 51).
"""

from __future__ import annotations

import numpy as np

from ..music.attributes import drum_notes
from ..music.sequence import NoteSequence, TrackInfo
from .base import StreamConverter
from .streams import DRUM_CLASS_NAMES, DRUM_MAPPINGS, DrumStream

__all__ = ["DrumConverter", "DRUM_CLASS_NAMES", "DRUM_MAPPINGS"]


class DrumConverter(StreamConverter):
    kind = "drums"
    stream_names = ("drums",)
    required_streams = (0,)

    def __init__(self, mapping: str = "current"):
        super().__init__([DrumStream(mapping)], [TrackInfo(0, True, "drums")])

    @property
    def stream(self) -> DrumStream:
        return self.streams[0]

    def candidates(self, seq: NoteSequence) -> list[np.ndarray]:
        notes = drum_notes(seq)
        if len(notes) == 0:
            return []
        tokens = self.stream.encode(notes, seq.total_steps)
        return [tokens[:, None]] if tokens.any() else []

    def config(self) -> dict:
        return dict(super().config(), mapping=self.stream.mapping)
