"""Keys and scales: ``"D minor"``, ``"C:major"``, ``"F# dorian"`` -> the pitch classes they allow.

Place in the flow: a leaf of ``music`` read by ``generation`` (the key constraint masks the
logits of note-ons outside the scale while decoding) and the CLI / studio that parse ``--key``.

A key is a tonic (pitch class 0-11, C = 0) and a mode; :func:`parse_key` accepts a tonic
name (``C``, ``F#``, ``Bb``, ``C♯``, ``E♭``, any case) followed by a mode name, separated by a
space, a colon, a dash or an underscore; a tonic alone means major, ``Am`` / ``Amin`` minor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: scale steps (semitones above the tonic) of each mode; aliases map onto these names
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "major pentatonic": (0, 2, 4, 7, 9),
    "minor pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}
_ALIASES = {
    "": "major", "maj": "major", "ionian": "major", "m": "minor", "min": "minor", "aeolian": "minor",
    "natural minor": "minor", "harmonic": "harmonic minor", "melodic": "melodic minor",
    "pentatonic": "major pentatonic", "major pent": "major pentatonic", "minor pent": "minor pentatonic",
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_KEY_RE = re.compile(r"^\s*([a-gA-G])([#♯b♭]?)(?:[\s:_\-]+|(?=[a-zA-Z])|$)(.*?)\s*$")


class ScaleError(ValueError):
    """A key name that cannot be read (the message says what is accepted)."""


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class of the tonic, C = 0
    mode: str  # a name in MODES

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.tonic + s) % 12 for s in MODES[self.mode])

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    def allows(self, pitch: int) -> bool:
        return int(pitch) % 12 in self.pitch_classes


def parse_key(text: str | Key) -> Key:
    """``"D minor"``, ``"C:major"``, ``"f#-dorian"``, ``"Bb"``, ``"Am"`` -> :class:`Key`; :class:`ScaleError` otherwise."""
    if isinstance(text, Key):
        return text
    m = _KEY_RE.match(str(text))
    if not m:
        raise ScaleError(f"key {text!r}: expected a tonic (C, F#, Bb, ...) and a mode, e.g. 'D minor' or 'C:major'")
    letter, accidental, mode = m.groups()
    tonic = _LETTERS[letter.lower()] + {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}[accidental]
    mode = re.sub(r"[\s_\-]+", " ", mode.strip().lower())
    mode = _ALIASES.get(mode, mode)
    if mode not in MODES:
        raise ScaleError(f"key {text!r}: unknown mode {mode!r}; choose from {', '.join(MODES)}")
    return Key(tonic % 12, mode)
