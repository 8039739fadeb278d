"""MusAE's four-track grid: drums, bass, guitar/piano, strings; 130 classes each.

Place in the flow: NoteSequence -> :class:`MultitrackConverter` -> ``(T, 4)`` tokens -> MusAE.

Tracks are grouped by GM program: drums (channel 10), bass (32-39), guitar and
piano (0-31), and everything else merged into "strings". Each group becomes one
line keeping the *lowest* note (MusAE's choice); drums keep their GM pitches.
The window rules apply to the mix, so a window may leave some groups silent; with
``window_rule="per_track"`` (``prepare --window-rule per_track``, the paper's rule) they apply to
every group. (The paper also takes windows over the cross product of a song's tracks; here the
tracks of a group are merged into one line.)
"""

from __future__ import annotations

import numpy as np

from ..music.sequence import TRACK, NoteSequence, TrackInfo
from .base import StreamConverter
from .melody import BASS_PROGRAMS, MEL_PROGRAMS
from .streams import MelodyStream

GROUPS = ("drums", "bass", "guitar_piano", "strings")


def track_group(info: TrackInfo) -> int:
    """Index into :data:`GROUPS` for a track."""
    if info.is_drum:
        return 0
    if info.program in BASS_PROGRAMS:
        return 1
    if info.program in MEL_PROGRAMS:
        return 2
    return 3


class MultitrackConverter(StreamConverter):
    kind = "multitrack"
    stream_names = GROUPS
    required_streams = None  # rules apply to the mix of the four tracks

    def __init__(self, window_rule: str = "mix"):
        """``window_rule``: ``"mix"`` (ours, the default: the rest and onset rules apply to the mix of
        the four groups) or ``"per_track"`` (the MusAE paper: every group plays, and rests at most
        ``max_rest_bars`` in a row, in every window)."""
        if window_rule not in ("mix", "per_track"):
            raise ValueError(f"window_rule must be 'mix' or 'per_track', not {window_rule!r}")
        self.window_rule = window_rule
        if window_rule == "per_track":
            self.required_streams = tuple(range(len(GROUPS)))
        streams = [MelodyStream(0, 127, keep="lowest") for _ in GROUPS]
        tracks = [TrackInfo(0, True, "drums"), TrackInfo(33, False, "bass"), TrackInfo(0, False, "guitar_piano"), TrackInfo(48, False, "strings")]
        super().__init__(streams, tracks)
        self.streams[0].pitched = False  # drum "pitches" are instruments: never transposed

    def candidates(self, seq: NoteSequence) -> list[np.ndarray]:
        if len(seq.notes) == 0:
            return []
        groups = np.array([track_group(t) for t in seq.tracks], dtype=np.int64)
        note_group = groups[seq.notes[:, TRACK]]
        parts = [seq.notes[note_group == g] for g in range(len(GROUPS))]
        return [self.encode_streams(parts, seq.total_steps)]
