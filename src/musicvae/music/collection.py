"""A compact on-disk collection of NoteSequences (the format of the bundled corpora).

Place in the flow: corpus build scripts -> :func:`save_collection` -> package assets
-> :func:`load_collection` -> ``data.prepare`` (same path as MIDI files after quantizing).

One ``.npz`` (no pickle): all notes concatenated as int32 ``(N, 5)``, offsets per
sequence, and a JSON document (stored as uint8 bytes) with each sequence's tracks,
tempo, time signature, source, label and meta.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..utils.io import atomic_save_npz, load_npz
from .sequence import NoteSequence, TrackInfo

FORMAT_VERSION = 1


def save_collection(seqs: Iterable[NoteSequence], path: str | os.PathLike, **info) -> Path:
    """Write sequences to ``path`` (.npz, compressed, atomic). ``info`` is stored as-is in the header."""
    seqs = list(seqs)
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s.notes) for s in seqs])
    notes = np.concatenate([s.notes for s in seqs]) if seqs else np.zeros((0, 5), np.int32)
    doc = {
        "format": "musicvae-collection",
        "version": FORMAT_VERSION,
        "info": info,
        "items": [
            {
                "tracks": [[t.program, int(t.is_drum), t.name] for t in s.tracks],
                "total_steps": s.total_steps,
                "steps_per_bar": s.steps_per_bar,
                "steps_per_quarter": s.steps_per_quarter,
                "qpm": round(float(s.qpm), 3),
                "time_signature": list(s.time_signature),
                "source": s.source,
                "label": s.label,
                "meta": s.meta,
            }
            for s in seqs
        ],
    }
    header = np.frombuffer(json.dumps(doc, separators=(",", ":")).encode(), dtype=np.uint8)
    return atomic_save_npz(path, compress=True, notes=notes.astype(np.int32), offsets=offsets, header=header)


def read_collection_header(path: str | os.PathLike) -> dict:
    """The JSON header of a collection (info and per-item metadata)."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(data["header"].tobytes().decode())


def load_collection(path: str | os.PathLike) -> list[NoteSequence]:
    """Read back what :func:`save_collection` wrote."""
    arrays = load_npz(path)
    doc = json.loads(arrays["header"].tobytes().decode())
    if doc.get("format") != "musicvae-collection":
        raise ValueError(f"{path}: not a musicvae note collection")
    notes, offsets = arrays["notes"], arrays["offsets"]
    return [
        NoteSequence(
            notes[offsets[i] : offsets[i + 1]],
            [TrackInfo(int(p), bool(d), str(n)) for p, d, n in item["tracks"]],
            int(item["total_steps"]),
            steps_per_bar=int(item["steps_per_bar"]),
            steps_per_quarter=int(item["steps_per_quarter"]),
            qpm=float(item["qpm"]),
            time_signature=tuple(item["time_signature"]),
            source=item["source"],
            label=item.get("label", ""),
            meta=item.get("meta", {}),
        )
        for i, item in enumerate(doc["items"])
    ]
