"""The bundled real-music corpora shipped inside the package (nothing downloads).

Place in the flow: ``assets/corpora/*.npz`` (built by ``scripts/corpora/``) ->
:func:`load_corpus` -> ``prepare`` (treated like quantized MIDI files).

Each corpus is a note collection (see :mod:`musicvae.music.collection`);
``assets/corpora/PROVENANCE.md`` names its source package, version and license.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..music.collection import load_collection, read_collection_header
from ..music.sequence import NoteSequence

CORPORA = {
    "folk": "Folk melodies from music21's corpus (Essen, O'Neill's 1850, Aird's Airs, misc folk, Nottingham)",
    "fiddle": "Fiddle tunes of Ryan's Mammoth Collection (1883) from music21's corpus (reels, hornpipes, ...)",
    "bach": "Bach chorales from music21's corpus, 4 voices (soprano, alto, tenor, bass)",
    "grooves": "Drum and bass grooves rendered from Debian's mma groove library",
    "games": "Multitrack game music with melody, bass and drums (Debian planetblupi-music-midi, openttd-openmsx)",
    "freedoom": "Freedoom's composed soundtrack, multitrack with drums (Debian freedoom; held out from drum training)",
}


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    description: str
    path: Path
    items: int
    notes: int
    bars: int
    available: bool


def corpus_dir() -> Path:
    return Path(str(resources.files("musicvae") / "assets" / "corpora"))


def corpus_path(name: str) -> Path:
    if name not in CORPORA:
        raise KeyError(f"unknown corpus {name!r}; bundled corpora: {', '.join(CORPORA)}")
    return corpus_dir() / f"{name}.npz"


def corpus_parts(source: str) -> list[str]:
    """The bundled corpora named by ``source``: one name, or several joined by ``+``
    (``grooves+games``: the items of each, in that order); ``[]`` when it names none."""
    parts = source.split("+")
    if not all(p in CORPORA for p in parts) or len(set(parts)) != len(parts):
        return []
    return parts


def is_corpus_name(source: str) -> bool:
    return bool(corpus_parts(source))


@lru_cache(maxsize=4)
def load_corpus(name: str) -> tuple[NoteSequence, ...]:
    """All sequences of a bundled corpus, or of several joined by ``+`` (cached per process)."""
    parts = corpus_parts(name)
    if len(parts) > 1:
        return tuple(seq for part in parts for seq in load_corpus(part))
    path = corpus_path(name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: bundled corpus {name!r} is missing from this installation")
    return tuple(load_collection(path))


def corpus_info(name: str) -> CorpusInfo:
    path = corpus_path(name)
    if not path.exists():
        return CorpusInfo(name, CORPORA[name], path, 0, 0, 0, False)
    header = read_collection_header(path)
    items = header["items"]
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        n_notes = int(data["offsets"][-1])
    bars = sum(int(it["total_steps"]) // int(it["steps_per_bar"]) for it in items)
    return CorpusInfo(name, CORPORA[name], path, len(items), n_notes, bars, True)


def list_corpora() -> list[CorpusInfo]:
    return [corpus_info(name) for name in CORPORA]
