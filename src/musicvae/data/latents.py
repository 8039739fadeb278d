"""The MCVAE latent dataset: songs as bars -> a trained bar VAE -> one code (mu) per bar, per song.

Place in the flow: a prepared ``bars`` folder (``musicvae prepare SRC --kind bars --bars 16``,
whose records are whole songs in bar order, split train/eval by source file)
-> ``training.composer.encode_songs`` (a trained bar VAE encodes them) -> :class:`LatentSet`
-> :func:`save_latents` / :func:`load_latents` -> ``training.composer``.
Also :func:`seed_bars`: the bars a ``compose`` seed starts from, with the clear errors.

A "song" is one melody line of a piece split at long rests (``BarConverter.songs``). Songs
shorter than ``min_bars`` (16) are dropped, and so are outliers longer than ``max_bars``
(the thesis kept songs under 3 x 113 bars = 339); both counts are reported in ``info``.

On disk (no pickle): ``DIR/latents.safetensors`` holds ``codes`` (total_bars, Z) float32 -
the songs one after another - with ``lengths`` (N,) and ``sources`` (N,) int64;
``DIR/latents.json`` holds ``info`` (bar VAE fingerprint, thresholds, counts). Songs are
stored back to back rather than padded: on ``folk`` one 300-bar song would pad 2,300 songs
of ~27 bars each to 11x the size. :meth:`LatentSet.padded` gives the padded tensor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..music.midi_io import MidiError, read_midi
from ..music.quantize import quantize_score
from ..music.sequence import NoteSequence
from ..representations.bars import BarConverter
from ..representations.streams import FIRST_NOTE_ON
from ..utils.io import atomic_write_json
from ..utils.stored import StoredFileError, read_json, read_safetensors, safetensors_bytes, write_file

LATENTS_FORMAT = "musicvae-latents"
LATENTS_VERSION = 1
MIN_BARS = 16
MAX_BARS = 3 * 113  # the thesis: songs under three times the mean length (113 bars)
STEPS_PER_BAR = 16


class LatentDataError(ValueError):
    """A latent dataset that cannot be built or read (one-line message)."""


class SeedError(ValueError):
    """A seed the composer cannot continue from (one line: the input and the reason)."""


# --------------------------------------------------------------------------- songs
def songs_from_prepared(root: str | os.PathLike, split: str = "train") -> list[tuple[int, np.ndarray]]:
    """``(source item, bars (n_bars, 16))`` per song of a prepared ``bars`` folder's split."""
    from .dataset import DatasetError, PreparedDataset

    try:
        data = PreparedDataset(root, split)
    except DatasetError as exc:
        raise LatentDataError(str(exc)) from None
    if data.kind != "bars":
        raise LatentDataError(
            f"{root}: holds {data.manifest.get('bars')}-bar {data.kind} windows, not whole songs; "
            f"prepare with --kind bars --bars {MIN_BARS}"
        )
    arr = data.arrays
    if "offsets" not in arr:
        return []
    off, bars, src = arr["offsets"], arr["data"], arr["source"]
    return [(int(src[i]), bars[off[i] : off[i + 1]]) for i in range(len(off) - 1)]


# --------------------------------------------------------------------------- the set
@dataclass
class LatentSet:
    """Per-song sequences of bar codes, stored back to back."""

    codes: torch.Tensor  # (total_bars, Z) float32
    lengths: torch.Tensor  # (N,) int64, bars per song
    sources: torch.Tensor  # (N,) int64, source item of each song
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lengths = self.lengths.long()
        self.sources = self.sources.long()
        if self.codes.dim() != 2 or self.lengths.dim() != 1 or self.sources.shape != self.lengths.shape:
            raise LatentDataError(
                f"inconsistent latent arrays: codes {tuple(self.codes.shape)}, lengths {tuple(self.lengths.shape)}, "
                f"sources {tuple(self.sources.shape)}"
            )
        if int(self.lengths.sum()) != self.codes.shape[0]:
            raise LatentDataError(f"lengths sum to {int(self.lengths.sum())} bars but there are {self.codes.shape[0]} codes")
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), self.lengths.cumsum(0)])  # (N + 1,)

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def z_size(self) -> int:
        return int(self.codes.shape[1])

    def song(self, i: int) -> torch.Tensor:
        """Codes of song ``i``, (L_i, Z)."""
        return self.codes[self.offsets[i] : self.offsets[i + 1]]

    def padded(self, indices: Sequence[int] | None = None, max_bars: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Songs ``indices`` (default all) zero-padded -> (codes (B, L, Z), lengths (B,)).

        ``max_bars`` keeps at most that many bars of each song (from its start).
        """
        idx = list(range(len(self))) if indices is None else [int(i) for i in indices]
        lengths = self.lengths[idx] if idx else torch.zeros(0, dtype=torch.long)
        if max_bars is not None:
            lengths = lengths.clamp(max=max_bars)
        L = int(lengths.max()) if len(idx) else 0
        out = self.codes.new_zeros(len(idx), L, self.z_size)  # (B, L, Z)
        for j, i in enumerate(idx):
            n = int(lengths[j])
            out[j, :n] = self.codes[self.offsets[i] : self.offsets[i] + n]
        return out, lengths

    def subset(self, indices: Sequence[int]) -> "LatentSet":
        idx = [int(i) for i in indices]
        parts = [self.song(i) for i in idx]
        codes = torch.cat(parts) if parts else self.codes.new_zeros(0, self.z_size)
        info = dict(self.info, songs=len(idx))
        return LatentSet(codes, self.lengths[idx], self.sources[idx], info)

    def split(self, eval_fraction: float, seed: int = 0) -> tuple["LatentSet", "LatentSet"]:
        """(train, eval) by source item: all songs of one source land on the same side."""
        from .records import is_eval_source

        names = [str(int(s)) for s in self.sources]
        is_eval = [is_eval_source(n, eval_fraction, seed) for n in names]
        if eval_fraction > 0 and not any(is_eval) and len(set(names)) >= 2:
            first = min(set(names), key=lambda n: (is_eval_source(n, 1.0, seed), n))
            is_eval = [n == first for n in names]
        tr = [i for i, e in enumerate(is_eval) if not e]
        ev = [i for i, e in enumerate(is_eval) if e]
        return self.subset(tr), self.subset(ev)


# --------------------------------------------------------------------------- disk
def save_latents(latents: LatentSet, out_dir: str | os.PathLike) -> Path:
    """Write ``latents.safetensors`` then ``latents.json`` atomically into ``out_dir``."""
    out = Path(out_dir)
    tensors = {"codes": latents.codes.float().contiguous(), "lengths": latents.lengths.contiguous(),
               "sources": latents.sources.contiguous()}
    record = write_file(out / "latents.safetensors", safetensors_bytes(tensors, LATENTS_FORMAT))
    doc = dict(latents.info, format=LATENTS_FORMAT, version=LATENTS_VERSION, sha256=record["sha256"])
    atomic_write_json(out / "latents.json", doc)
    return out


def load_latents(path: str | os.PathLike) -> LatentSet:
    """Read a latent dataset written by :func:`save_latents` (a folder or its ``latents.json``)."""
    root = Path(path)
    if root.name == "latents.json":
        root = root.parent
    meta_path, data_path = root / "latents.json", root / "latents.safetensors"
    if not meta_path.is_file() or not data_path.is_file():
        raise LatentDataError(f"{root}: no latent dataset here (latents.json + latents.safetensors)")
    try:
        info = read_json(meta_path)
    except StoredFileError as exc:
        raise LatentDataError(str(exc)) from None
    if not isinstance(info, dict) or info.get("format") != LATENTS_FORMAT or info.get("version") != LATENTS_VERSION:
        raise LatentDataError(f"{meta_path}: not a {LATENTS_FORMAT} v{LATENTS_VERSION} file")
    try:
        t = read_safetensors(data_path, info.get("sha256") or None)
        return LatentSet(t["codes"], t["lengths"], t["sources"], {k: v for k, v in info.items() if k != "sha256"})
    except StoredFileError as exc:
        raise LatentDataError(str(exc)) from None
    except (KeyError, LatentDataError) as exc:
        raise LatentDataError(f"{data_path}: {exc}") from None


# --------------------------------------------------------------------------- seeds
def seed_bars(
    source: str | os.PathLike | NoteSequence | np.ndarray,
    max_bars: int | None = None,
    converter: BarConverter | None = None,
) -> np.ndarray:
    """The bars a composition continues from: (P, 16) int64 melody tokens, 1 <= P (<= ``max_bars``).

    ``source`` is a MIDI path, a NoteSequence or melody tokens (T,), (T, 1) or (P, 16). The
    music must last at least one full 4/4 bar (to the nearest 16th; a MIDI file's length is
    the end of its last event); a trailing partial bar of tokens is dropped. Music starts at
    its first bar with a note, and the first melody line (any non-drum program) is used.
    Raises :class:`SeedError` naming the input and the reason.
    """
    conv = converter or BarConverter(programs=None)
    spb = conv.steps_per_bar
    if isinstance(source, (np.ndarray, torch.Tensor)):
        tokens = np.asarray(source)
        name = "seed tokens"
        if tokens.ndim == 2 and tokens.shape[1] == 1:
            tokens = tokens[:, 0]
        if tokens.ndim == 2 and tokens.shape[1] == spb:
            tokens = tokens.reshape(-1)
        if tokens.ndim != 1:
            raise SeedError(f"{name}: expected melody tokens (T,), (T, 1) or (bars, {spb}), got shape {tokens.shape}")
        if len(tokens) < spb:
            raise SeedError(f"{name}: {len(tokens)} steps is shorter than one bar ({spb} sixteenth notes)")
        if tokens.min() < 0 or tokens.max() >= conv.start_token:
            raise SeedError(f"{name}: tokens must be melody classes 0..{conv.start_token - 1}")
        lines = [conv.canonicalize(tokens[: len(tokens) // spb * spb].astype(np.int64))]
    else:
        seqs, name, length = _seed_sequences(source)
        if length < spb - 0.5:
            raise SeedError(f"{name}: the music lasts {length / 4:g} beats, shorter than one bar (4 beats); "
                            f"give at least one full bar")
        lines = [line for seq in seqs for line in conv.encode(seq)]
    for bars in lines:
        has = np.flatnonzero((bars >= FIRST_NOTE_ON).any(axis=1))  # bars with a note-on
        if len(has):
            out = bars[has[0] :]
            return np.asarray(out[:max_bars] if max_bars else out, dtype=np.int64)
    raise SeedError(f"{name}: no melody notes to continue from (drums only, or silence)")


def _seed_sequences(source: str | os.PathLike | NoteSequence) -> tuple[list[NoteSequence], str, float]:
    """Quantized 4/4 sequences of a seed, its name, and its length in 16th steps."""
    if isinstance(source, NoteSequence):
        end = int(source.notes[:, 1].max()) if len(source.notes) else 0
        return [source], source.source or "seed sequence", float(end)
    path = Path(source)
    if not path.exists():
        raise SeedError(f"{path}: no such file")
    if path.is_dir():
        raise SeedError(f"{path}: is a directory, expected a MIDI file")
    try:
        score = read_midi(path)
        length = float(score.end()) * 4.0 / max(int(score.ticks_per_quarter), 1)  # in 16th steps
        return quantize_score(score, path), str(path), length
    except MidiError as exc:
        raise SeedError(str(exc)) from None
