"""Per-stream codecs: one instrument line <-> one column of tokens.

Place in the flow: used by every grid converter (``melody``, ``drums``, ``trio``,
``multitrack``, ``bars``), which decide which tracks feed which stream.

* :class:`MelodyStream`: magenta's monophonic melody encoding. Token 0 = no event
  (hold the sounding note, or keep resting), 1 = note-off, ``2 + p - min_pitch`` =
  note-on of pitch ``p``. With pitches 0-127 that is 130 classes; with 21-108, 90.
* :class:`DrumStream`: 9 canonical drum classes as a bitmask, 2^9 = 512 tokens.
"""

from __future__ import annotations

import numpy as np

from ..music.monophonic import Keep, monophonic_line
from ..music.sequence import END, PITCH, START

HOLD, NOTE_OFF, FIRST_NOTE_ON = 0, 1, 2
TOKEN_DTYPE = np.int16


class MelodyStream:
    """A monophonic line on the step grid (130 or 90 classes)."""

    pitched = True

    def __init__(self, min_pitch: int = 0, max_pitch: int = 127, keep: Keep = "highest"):
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise ValueError(f"need 0 <= min_pitch <= max_pitch <= 127, got {min_pitch}, {max_pitch}")
        if max_pitch - min_pitch < 11:
            raise ValueError("the pitch range must span at least an octave")
        self.min_pitch, self.max_pitch, self.keep = min_pitch, max_pitch, keep
        self.vocab_size = FIRST_NOTE_ON + max_pitch - min_pitch + 1

    def squash(self, pitches: np.ndarray) -> np.ndarray:
        """Move out-of-range pitches by whole octaves into range (magenta's ``squash``)."""
        p = pitches.astype(np.int64).copy()
        low = p < self.min_pitch
        p[low] += 12 * (-(-(self.min_pitch - p[low]) // 12))
        high = p > self.max_pitch
        p[high] -= 12 * (-(-(p[high] - self.max_pitch) // 12))
        return p

    def encode(self, notes: np.ndarray, total_steps: int) -> np.ndarray:
        """Notes ``(n, 5)`` (any polyphony) -> tokens ``(total_steps,)``."""
        tokens = np.zeros(total_steps, dtype=TOKEN_DTYPE)
        line = monophonic_line(notes, self.keep)
        line = line[line[:, START] < total_steps]
        if len(line) == 0:
            return tokens
        ends = line[:, END]
        tokens[ends[ends < total_steps]] = NOTE_OFF
        tokens[line[:, START]] = FIRST_NOTE_ON + self.squash(line[:, PITCH]) - self.min_pitch
        return tokens

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens -> ``(n, 3)`` int array of (pitch, start, end)."""
        tokens = np.asarray(tokens)
        events = np.flatnonzero(tokens != HOLD)
        if len(events) == 0:
            return np.zeros((0, 3), dtype=np.int64)
        nxt = np.append(events[1:], len(tokens))
        on = tokens[events] >= FIRST_NOTE_ON
        pitch = tokens[events[on]].astype(np.int64) - FIRST_NOTE_ON + self.min_pitch
        return np.stack([pitch, events[on], nxt[on]], axis=1)

    def sounding(self, tokens: np.ndarray) -> np.ndarray:
        """True where a note is sounding (from its note-on until note-off or the next note)."""
        tokens = np.asarray(tokens)
        idx = np.where(tokens != HOLD, np.arange(len(tokens)), -1)
        last = np.maximum.accumulate(idx) if len(idx) else idx
        return (last >= 0) & (tokens[np.maximum(last, 0)] >= FIRST_NOTE_ON)

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return np.asarray(tokens) >= FIRST_NOTE_ON

    def canonicalize(self, tokens: np.ndarray) -> np.ndarray:
        """A note-off where nothing sounds (e.g. at the start of a cut window) becomes a hold."""
        tokens = np.asarray(tokens)
        out = tokens.copy()
        prev = np.concatenate([[False], self.sounding(tokens)[:-1]])
        out[(tokens == NOTE_OFF) & ~prev] = HOLD
        return out

    def canonicalize_cut(self, windows: np.ndarray) -> np.ndarray:
        """Canonical form of windows ``(n, W)`` cut from a canonical line, in place.

        Inside a cut window only the first event can be an orphan: the note-off
        of a note that began before the cut. It becomes a hold.
        """
        events = windows != HOLD
        first = events.argmax(axis=1)
        rows = np.flatnonzero(events.any(axis=1) & (windows[np.arange(len(windows)), first] == NOTE_OFF))
        windows[rows, first[rows]] = HOLD
        return windows



# GM drum pitches -> 9 canonical classes. The first pitch of each class is the one
# written back. "current" is note_seq's DEFAULT_DRUM_TYPE_PITCHES today; "2018" is
# the mapping the MusicVAE paper's models were trained with.
DRUM_CLASS_NAMES = ("kick", "snare", "closed_hat", "open_hat", "low_tom", "mid_tom", "high_tom", "crash", "ride")
DRUM_MAPPINGS: dict[str, list[list[int]]] = {
    "current": [
        [36, 35],
        [38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85],
        [42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22],
        [46, 67, 72, 74, 79, 81, 26],
        [45, 29, 41, 43, 61, 64, 84],
        [48, 47, 60, 63, 77, 86, 87],
        [50, 30, 62, 76, 83],
        [49, 52, 55, 57, 58],
        [51, 53, 59, 82],
    ],
    "2018": [
        [36, 35],
        [38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85],
        [42, 44, 54, 68, 69, 70, 71, 73, 78, 80],
        [46, 67, 72, 74, 79, 81],
        [45, 29, 41, 61, 64, 84],
        [48, 47, 60, 63, 77, 86, 87],
        [50, 30, 43, 62, 76, 83],
        [49, 55, 57, 58],
        [51, 52, 53, 59, 82],
    ],
}


class DrumStream:
    """All drum hits of a step as a 9-bit mask (token 0 = no hit)."""

    pitched = False

    def __init__(self, mapping: str = "current"):
        if mapping not in DRUM_MAPPINGS:
            raise ValueError(f"unknown drum mapping {mapping!r}; choose from {sorted(DRUM_MAPPINGS)}")
        self.mapping = mapping
        classes = DRUM_MAPPINGS[mapping]
        self.num_classes = len(classes)
        self.vocab_size = 2**self.num_classes
        self.pitch_to_class = np.full(128, -1, dtype=np.int64)
        for c, pitches in enumerate(classes):
            self.pitch_to_class[pitches] = c
        self.class_pitches = np.array([p[0] for p in classes], dtype=np.int64)

    def encode(self, notes: np.ndarray, total_steps: int) -> np.ndarray:
        """Drum notes ``(n, 5)`` -> tokens; pitches outside the mapping are ignored."""
        tokens = np.zeros(total_steps, dtype=np.int64)
        if len(notes):
            cls = self.pitch_to_class[notes[:, PITCH]]
            keep = (cls >= 0) & (notes[:, START] < total_steps)
            np.bitwise_or.at(tokens, notes[keep, START], 1 << cls[keep])
        return tokens.astype(TOKEN_DTYPE)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens -> ``(n, 3)`` (canonical pitch, step, step + 1)."""
        tokens = np.asarray(tokens).astype(np.int64)
        bits = (tokens[:, None] >> np.arange(self.num_classes)) & 1  # (T, 9)
        step, cls = np.nonzero(bits)
        return np.stack([self.class_pitches[cls], step, step + 1], axis=1)

    def sounding(self, tokens: np.ndarray) -> np.ndarray:
        return np.asarray(tokens) != 0

    onsets = sounding

    def canonicalize(self, tokens: np.ndarray) -> np.ndarray:
        return np.array(tokens, copy=True)

    def canonicalize_cut(self, windows: np.ndarray) -> np.ndarray:
        return windows  # every drum grid is canonical

