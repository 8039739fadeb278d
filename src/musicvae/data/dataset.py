"""Read a prepared dataset back: shards -> arrays -> training windows.

Place in the flow: ``prepare`` output (``manifest.json`` + shards) -> :class:`PreparedDataset`
-> :class:`WindowDataset` (windows + how far each may be transposed) ->
``training.batches.BatchStream`` (the trainer's batches).

Transposition augmentation happens at training time, not in ``prepare``, and in one place:
``BatchStream`` shifts each window of a batch by a random whole number of semitones (``[-5, 6]``
by default, the MusicVAE paper's range) clipped to the room :class:`WindowDataset` computes here,
what keeps every note of that window inside the representation's pitch range. Drums never move.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..representations import GRID_KINDS, get_converter
from ..representations.streams import FIRST_NOTE_ON
from ..utils.io import load_npz
from .records import concat


class DatasetError(ValueError):
    """A prepared-data folder that cannot be used (one-line message)."""


class PreparedDataset:
    """The arrays of one split of a prepared folder (all shards concatenated)."""

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.exists():
            raise DatasetError(f"{self.root}: no manifest.json (run `musicvae prepare` first)")
        try:
            self.manifest = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: unreadable manifest ({exc.msg})") from None
        if split not in ("train", "eval"):
            raise DatasetError(f"split must be 'train' or 'eval', not {split!r}")
        self.split = split
        self.kind = self.manifest["kind"]
        shards = [load_npz(self.root / rel) for rel in self.manifest["shards"].get(split, [])]
        self.arrays = concat(shards) if shards else {"source": np.zeros(0, np.int32)}

    def __len__(self) -> int:
        return len(self.arrays.get("source", []))

    @property
    def tokens(self) -> np.ndarray:
        """``(n, T, K)`` int16 windows (grid kinds)."""
        if self.kind not in GRID_KINDS:
            raise DatasetError(f"{self.root}: a {self.kind} dataset has no fixed-size token windows")
        return self.arrays["tokens"]

    @property
    def label_names(self) -> list[str]:
        """Style label names (index = label id); empty when the data has no labels."""
        return list(self.manifest.get("labels", {}).get("names", []))

    @property
    def labels(self) -> np.ndarray | None:
        """``(n, M)`` int16 label ids per window, ``-1`` padding (None without labels)."""
        labels = self.arrays.get("labels")
        if labels is None and self.label_names:
            return np.full((len(self), 1), -1, np.int16)  # a split whose files are all unlabelled
        return labels

    def converter(self):
        """The converter that wrote this dataset, rebuilt from the manifest's settings."""
        return converter_from_config(self.manifest["representation"])


def converter_from_config(rep: dict):
    """Rebuild a converter from its ``config()`` (descriptive keys are ignored)."""
    import inspect

    kind = rep["kind"]
    cls = type(get_converter(kind))
    accepted = inspect.signature(cls.__init__).parameters
    return get_converter(kind, **{k: v for k, v in rep.items() if k in accepted and k != "self"})


def window_rule_notice(root: str | os.PathLike, expected: str) -> str | None:
    """A one-line notice when a multitrack folder's windows are not the ones a preset expects.

    ``expected`` is ``Config.data.window_rule``: ``""`` (any), ``"mix"`` (ours) or ``"per_track"``
    (the MusAE paper: per-track rest rule over the cross product of tracks). None when they agree,
    when nothing is expected, or for other kinds; a missing or unreadable manifest is left to the
    dataset's own errors."""
    try:
        manifest = json.loads((Path(root) / "manifest.json").read_text())
        rep = manifest["representation"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not expected or not isinstance(rep, dict) or rep.get("kind") != "multitrack":
        return None
    rule, cross = rep.get("window_rule", "mix"), bool(rep.get("cross_product", False))
    if expected == "per_track" and (rule, cross) != ("per_track", True):
        return (f"{root}: windows prepared with the {rule!r} rule{' over the cross product' if cross else ''}; this preset "
                "is the MusAE paper's (prepare --kind multitrack --window-rule per_track --cross-product)")
    if expected == "mix" and rule != "mix":
        return f"{root}: windows prepared with the {rule!r} rule; this preset expects the 'mix' rule"
    return None


def transpose_room(tokens: np.ndarray, pitched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window, semitones it can move ``(down, up)`` keeping note-ons in range.

    ``tokens`` is ``(n, T, K)`` melody-style tokens; ``pitched`` a ``(K,)`` mask of
    streams that transpose (vocab sizes are needed for the top: see :class:`WindowDataset`).
    Returns note-on token minimum and maximum per window (``FIRST_NOTE_ON``-based);
    windows without notes get ``(big, -big)``.
    """
    big = np.iinfo(np.int16).max
    sel = tokens[:, :, pitched] if pitched.any() else np.zeros((len(tokens), 1, 1), tokens.dtype)
    on = sel >= FIRST_NOTE_ON
    lo = np.where(on, sel, big).reshape(len(tokens), -1).min(axis=1)
    hi = np.where(on, sel, -big).reshape(len(tokens), -1).max(axis=1)
    return lo, hi


class WindowDataset:
    """Fixed-size token windows with each window's transposition room (``room_down``, ``room_up``,
    semitones; ``pitched``: the streams that transpose), for ``BatchStream``, which transposes.

    ``dataset[i]`` returns window ``i`` as stored, an ``int64`` array ``(T, K)`` (a torch tensor with
    ``as_torch=True``). ``transpose`` is accepted for older callers and must be None.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", *, transpose: None = None,
                 as_torch: bool = True):
        if transpose is not None:
            raise TypeError("WindowDataset does not transpose: BatchStream(transpose=...) does")
        self.data = PreparedDataset(root, split)
        self.tokens = self.data.tokens
        self.labels = self.data.labels  # (n, M) int16 or None
        self.label_names = self.data.label_names
        self.converter = self.data.converter()
        self.as_torch = as_torch
        pitched = np.array([getattr(s, "pitched", False) for s in self.converter.streams], dtype=bool)
        self.pitched = pitched
        lo, hi = transpose_room(self.tokens, pitched)
        tops = [s.vocab_size - 1 for s, p in zip(self.converter.streams, pitched) if p]
        top = min(tops) if tops else 0
        # room per window: down = lo - FIRST_NOTE_ON, up = top - hi
        self.room_down = np.clip(lo.astype(np.int64) - FIRST_NOTE_ON, 0, None)
        self.room_up = np.clip(top - hi.astype(np.int64), 0, None)

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int):
        window = self.tokens[index].astype(np.int64)
        if self.as_torch:
            import torch

            return torch.from_numpy(window)
        return window
