"""Reversible representations: NoteSequence <-> model tokens.

Place in the flow: ``music`` -> ``representations`` -> ``data`` (windows, datasets).

Grid kinds (``(T, K)`` tokens on the 16th-note grid): ``melody``, ``drums``,
``trio``, ``multitrack``; song kinds: ``bars`` (MCVAE) and ``notes`` (VRASH).
"""

from __future__ import annotations

from .bars import BarConverter
from .base import GridConverter, StreamConverter
from .drums import DRUM_CLASS_NAMES, DRUM_MAPPINGS, DrumConverter
from .melody import MELODY_90, MELODY_130, MelodyConverter
from .multitrack import GROUPS, MultitrackConverter
from .notes import NoteEventConverter, TrackMeta
from .trio import TrioConverter

GRID_KINDS = ("melody", "drums", "trio", "multitrack")
KINDS = GRID_KINDS + ("bars", "notes")


def get_converter(kind: str, **options):
    """The converter for ``--kind``; options are the converter's keyword arguments."""
    if kind == "melody":
        return MelodyConverter(**options)
    if kind == "drums":
        return DrumConverter(**options)
    if kind == "trio":
        return TrioConverter(**options)
    if kind == "multitrack":
        return MultitrackConverter(**options)
    if kind == "bars":
        return BarConverter(**options)
    if kind == "notes":
        return NoteEventConverter(**options)
    raise ValueError(f"unknown representation kind {kind!r}; choose from {', '.join(KINDS)}")


__all__ = [
    "BarConverter",
    "DRUM_CLASS_NAMES",
    "DRUM_MAPPINGS",
    "DrumConverter",
    "GROUPS",
    "GRID_KINDS",
    "GridConverter",
    "KINDS",
    "MELODY_130",
    "MELODY_90",
    "MelodyConverter",
    "MultitrackConverter",
    "NoteEventConverter",
    "StreamConverter",
    "TrackMeta",
    "TrioConverter",
    "get_converter",
]
