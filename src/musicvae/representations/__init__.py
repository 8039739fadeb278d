"""Reversible representations: NoteSequence <-> model tokens.

Place in the flow: ``music`` -> ``representations`` -> ``data`` (windows, datasets).

Grid kinds (``(T, K)`` tokens on the 16th-note grid): ``melody``, ``drums``,
``trio``, ``multitrack``; song kinds: ``bars`` (MCVAE) and ``notes`` (VRASH).
"""

from __future__ import annotations

from .bars import BarConverter
from .base import GridConverter, StreamConverter
from .drums import DRUM_CLASS_NAMES, DRUM_MAPPINGS, DrumConverter
from .melody import MelodyConverter
from .multitrack import GROUPS, MultitrackConverter
from .notes import NoteEventConverter, TrackMeta
from .trio import TrioConverter

# the converter registry: kind -> class; each class names its ``record`` unit (window, song or track)
CONVERTERS = {c.kind: c for c in (MelodyConverter, DrumConverter, TrioConverter, MultitrackConverter, BarConverter,
                                  NoteEventConverter)}
KINDS = tuple(CONVERTERS)
GRID_KINDS = tuple(k for k, c in CONVERTERS.items() if c.record == "window")


def converter_class(kind: str) -> type:
    """The converter class of ``--kind``."""
    if kind not in CONVERTERS:
        raise ValueError(f"unknown representation kind {kind!r}; choose from {', '.join(KINDS)}")
    return CONVERTERS[kind]


def get_converter(kind: str, **options):
    """The converter for ``--kind``; options are the converter's keyword arguments."""
    return converter_class(kind)(**options)


__all__ = [
    "BarConverter",
    "DRUM_CLASS_NAMES",
    "DRUM_MAPPINGS",
    "DrumConverter",
    "GROUPS",
    "CONVERTERS",
    "GRID_KINDS",
    "GridConverter",
    "KINDS",
    "MelodyConverter",
    "converter_class",
    "MultitrackConverter",
    "NoteEventConverter",
    "StreamConverter",
    "TrackMeta",
    "TrioConverter",
    "get_converter",
]
