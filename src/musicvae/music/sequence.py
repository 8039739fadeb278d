"""The note sequence every stage after MIDI parsing shares.

Place in the flow: ``music/`` (MIDI -> :class:`NoteSequence`) -> ``representations/``.

A :class:`NoteSequence` is *quantized*: note times are integer 16th-note steps
(``steps_per_quarter=4``, 16 steps per 4/4 bar). Notes live in one ``(N, 5)``
int32 array (start, end, pitch, velocity, track) so that slicing, transposing
and hashing stay vectorised; ``tracks`` describes each track index.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

START, END, PITCH, VELOCITY, TRACK = range(5)
DEFAULT_VELOCITY = 80


@dataclass(frozen=True)
class TrackInfo:
    """One instrument part: General MIDI program (0-127), drum flag, name."""

    program: int = 0
    is_drum: bool = False
    name: str = ""


@dataclass
class NoteSequence:
    """Quantized notes of one 4/4 stretch of a piece.

    Attributes:
        notes: ``(N, 5)`` int32 array of (start, end, pitch, velocity, track),
            times in steps, sorted by (start, track, pitch); ``end > start``.
        tracks: one :class:`TrackInfo` per track index used in ``notes``.
        total_steps: length in steps, a whole number of bars.
        qpm: tempo in quarter notes per minute (first tempo of the stretch).
        source: file or corpus item the notes came from.
        label: free label (collection, genre, style) used by conditional models.
        meta: extra facts (e.g. ``{"paired_2_4": True}``), JSON-serialisable.
    """

    notes: np.ndarray
    tracks: list[TrackInfo]
    total_steps: int
    steps_per_bar: int = 16
    steps_per_quarter: int = 4
    qpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    source: str = ""
    label: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        notes = np.asarray(self.notes, dtype=np.int32).reshape(-1, 5)
        if len(notes) > 1:
            # one int64 key instead of a 3-key lexsort (the hot path of prepare)
            key = (notes[:, START].astype(np.int64) << 24) | (notes[:, TRACK].astype(np.int64) << 8) | notes[:, PITCH]
            if (np.diff(key) < 0).any():
                notes = notes[np.argsort(key, kind="stable")]
        self.notes = np.ascontiguousarray(notes)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_tuples(
        cls,
        notes: Iterable[tuple[int, ...]],
        *,
        program: int = 0,
        is_drum: bool = False,
        total_steps: int | None = None,
        **kwargs,
    ) -> "NoteSequence":
        """Single-track sequence from ``(pitch, start, end[, velocity])`` tuples.

        >>> s = NoteSequence.from_tuples([(60, 0, 4), (62, 4, 8)])
        >>> s.total_steps, len(s)
        (16, 2)
        """
        return cls.from_tracks([(TrackInfo(program, is_drum), notes)], total_steps, **kwargs)

    @classmethod
    def from_tracks(
        cls,
        parts: Sequence[tuple[TrackInfo, Iterable[tuple[int, ...]]]],
        total_steps: int | None = None,
        **kwargs,
    ) -> "NoteSequence":
        """Multi-track sequence from ``[(TrackInfo, [(pitch, start, end[, vel]), ...]), ...]``."""
        rows = [(t[1], t[2], t[0], t[3] if len(t) > 3 else DEFAULT_VELOCITY, idx)
                for idx, (_, notes) in enumerate(parts) for t in notes]
        arr = np.array(rows, dtype=np.int32).reshape(-1, 5)
        spb = kwargs.get("steps_per_bar", 16)
        if total_steps is None:
            last = int(arr[:, END].max()) if len(arr) else 0
            total_steps = max(spb, -(-last // spb) * spb)
        return cls(arr, [info for info, _ in parts], total_steps, **kwargs)

    # ----------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.notes)

    @property
    def num_bars(self) -> int:
        return self.total_steps // self.steps_per_bar

    def track_notes(self, index: int) -> np.ndarray:
        """Notes of one track, ``(n, 5)``, in time order."""
        return self.notes[self.notes[:, TRACK] == index]

    def to_tuples(self, track: int | None = None) -> list[tuple[int, int, int]]:
        """``(pitch, start, end)`` tuples (all tracks or one), for tests and debugging."""
        notes = self.notes if track is None else self.track_notes(track)
        return [(int(n[PITCH]), int(n[START]), int(n[END])) for n in notes]

    def copy(self, **changes) -> "NoteSequence":
        """A copy with fields replaced (``notes`` is copied unless given)."""
        changes.setdefault("notes", self.notes.copy())
        changes.setdefault("meta", dict(self.meta))
        return replace(self, **changes)

    def slice_bars(self, start_bar: int, end_bar: int) -> "NoteSequence":
        """Bars ``[start_bar, end_bar)``: notes starting inside, cut at the end, times shifted to 0."""
        lo, hi = start_bar * self.steps_per_bar, end_bar * self.steps_per_bar
        n = self.notes
        keep = (n[:, START] >= lo) & (n[:, START] < hi)
        sub = n[keep].copy()
        sub[:, END] = np.minimum(sub[:, END], hi)
        sub[:, START:END + 1] -= lo
        meta = dict(self.meta, start_bar=self.meta.get("start_bar", 0) + start_bar)
        return replace(self, notes=sub, total_steps=hi - lo, meta=meta)

    def transpose(self, semitones: int) -> "NoteSequence":
        """Shift every non-drum note by ``semitones`` (notes leaving 0-127 raise ValueError)."""
        n = self.notes.copy()
        pitched = np.array([not self.tracks[t].is_drum for t in n[:, TRACK]], dtype=bool)
        n[pitched, PITCH] += semitones
        if len(n) and (n[:, PITCH].min() < 0 or n[:, PITCH].max() > 127):
            raise ValueError(f"transposing by {semitones} leaves the MIDI pitch range")
        return self.copy(notes=n)
