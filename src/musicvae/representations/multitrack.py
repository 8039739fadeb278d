"""MusAE's four-track grid: drums, bass, guitar/piano, strings; 130 classes each.

Place in the flow: NoteSequence -> :class:`MultitrackConverter` -> ``(T, 4)`` tokens -> MusAE.

Tracks are grouped by GM program: drums (channel 10), bass (32-39), guitar and
piano (0-31), and everything else merged into "strings". Each group becomes one
line keeping the *lowest* note (MusAE's choice); drums keep their GM pitches.
The window rules apply to the mix, so a window may leave some groups silent; with
``window_rule="per_track"`` (``prepare --window-rule per_track``, the paper's rule) they apply to
every group. By default the tracks of a group are merged into one line; with
``cross_product=True`` (``prepare --cross-product``, the paper's way) each combination of one
track per group is a candidate of its own. Those combinations are bounded and streamed as the
trio's are: the first ``max_parts`` (4) tracks of each group, at most ``max_combinations`` (64)
grids per file, built one at a time, so a file with many tracks cannot grow memory with their
product (the paper's has no bound).
"""

from __future__ import annotations

import itertools
from typing import Iterator

import numpy as np

from ..music.sequence import TRACK, NoteSequence, TrackInfo
from .base import StreamConverter
from .melody import BASS_PROGRAMS, MEL_PROGRAMS
from .streams import MelodyStream

GROUPS = ("drums", "bass", "guitar_piano", "strings")
MAX_PARTS = 4  # tracks of one group that enter the cross product
MAX_COMBINATIONS = 64  # grids per file at most (as the trio's 8 x 8)


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

    def __init__(self, window_rule: str = "mix", cross_product: bool = False, max_parts: int = MAX_PARTS,
                 max_combinations: int = MAX_COMBINATIONS):
        """``window_rule``: ``"mix"`` (ours, the default: the rest and onset rules apply to the mix of
        the four groups) or ``"per_track"`` (the MusAE paper: every group plays, and rests at most
        ``max_rest_bars`` in a row, in every window). ``cross_product``: one candidate per
        combination of one track per group (the paper) instead of each group's tracks merged."""
        if window_rule not in ("mix", "per_track"):
            raise ValueError(f"window_rule must be 'mix' or 'per_track', not {window_rule!r}")
        if int(max_parts) < 1 or int(max_combinations) < 1:
            raise ValueError(f"max_parts and max_combinations must be >= 1, not {max_parts}, {max_combinations}")
        self.window_rule = window_rule
        self.cross_product = bool(cross_product)
        self.max_parts, self.max_combinations = int(max_parts), int(max_combinations)
        if window_rule == "per_track":
            self.required_streams = tuple(range(len(GROUPS)))
        streams = [MelodyStream(0, 127, keep="lowest") for _ in GROUPS]
        tracks = [TrackInfo(0, True, "drums"), TrackInfo(33, False, "bass"), TrackInfo(0, False, "guitar_piano"), TrackInfo(48, False, "strings")]
        super().__init__(streams, tracks)
        self.streams[0].pitched = False  # drum "pitches" are instruments: never transposed

    def candidates(self, seq: NoteSequence) -> list[np.ndarray] | Iterator[np.ndarray]:
        if len(seq.notes) == 0:
            return []
        if self.cross_product:
            return self._combinations(seq)
        groups = np.array([track_group(t) for t in seq.tracks], dtype=np.int64)
        note_group = groups[seq.notes[:, TRACK]]
        parts = [seq.notes[note_group == g] for g in range(len(GROUPS))]
        return [self.encode_streams(parts, seq.total_steps)]

    def _combinations(self, seq: NoteSequence) -> Iterator[np.ndarray]:
        """One grid per combination of one sounding track per group (a group without one stays
        silent): the first ``max_parts`` tracks of each group, ``max_combinations`` grids at most.
        Each track's line is encoded once; grids are built one at a time."""
        T = seq.total_steps
        members: list[list[int]] = [[] for _ in GROUPS]
        for idx, info in enumerate(seq.tracks):
            g = track_group(info)
            if len(members[g]) < self.max_parts and len(seq.track_notes(idx)):
                members[g].append(idx)
        lines = [[self.streams[g].encode(seq.track_notes(i), T) for i in members[g]]
                 or [self.streams[g].encode(seq.notes[:0], T)] for g in range(len(GROUPS))]
        return (np.stack(combo, axis=1) for combo in itertools.islice(itertools.product(*lines), self.max_combinations))

    def config(self) -> dict:
        return dict(super().config(), window_rule=self.window_rule, cross_product=self.cross_product,
                    max_parts=self.max_parts, max_combinations=self.max_combinations)
