"""Monophonic extraction: reduce one track's (possibly polyphonic) notes to a single line.

Place in the flow: NoteSequence track -> :func:`monophonic_line` -> melody tokens.

At each onset step the highest note wins (magenta's ``ignore_polyphonic_notes``),
or the lowest with ``keep="lowest"`` (MusAE's choice, which suits bass lines).
A new onset cuts the note before it, so the line never overlaps itself.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .sequence import END, PITCH, START

Keep = Literal["highest", "lowest"]


def monophonic_line(notes: np.ndarray, keep: Keep = "highest") -> np.ndarray:
    """``(n, 5)`` notes -> ``(m, 5)`` non-overlapping notes, one per onset step.

    Edge cases: an empty input gives an empty output; notes sharing an onset keep
    only the highest (or lowest) pitch, with that note's own end; a note still
    sounding when the next onset arrives is cut at that onset.
    """
    if keep not in ("highest", "lowest"):
        raise ValueError(f"keep must be 'highest' or 'lowest', not {keep!r}")
    if len(notes) == 0:
        return notes.reshape(0, notes.shape[1] if notes.ndim == 2 else 5)
    sign = -1 if keep == "highest" else 1
    order = np.lexsort((sign * notes[:, PITCH], notes[:, START]))
    ordered = notes[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:, START] != ordered[:-1, START]
    line = ordered[first].copy()
    if len(line) > 1:
        line[:-1, END] = np.minimum(line[:-1, END], line[1:, START])
    return line
