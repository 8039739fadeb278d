"""`NoteModel`: whole melodies from a trained VRASH-family model (``note_lm``, ``note_vae``, ``vrash``).

Place in the flow: a ``musicvae train --preset {lm,vae,vrash}-notes*`` run (or its export) ->
:class:`NoteModel` -> ``(n, 3)`` note events of variable length -> ``NoteEventConverter.decode``
-> NoteSequences -> ``render`` (MIDI, WAV, piano rolls). ``musicvae sample`` uses it for these
models (``cli.generate``); the grid-based :class:`~.model.TrainedModel` serves the others.

A sampled track needs what the events do not hold: its instrument and source collection
(the track embedding) and, to decode, a median duration, an octave shift and a program. The
checkpoint's ``notes`` entry (``training.notes.NoteFamily``) stores the (instrument family,
collection) pairs seen in training with their counts, the collection names and the medians
of the training tracks; a sample draws its pair from those counts (``label``: a collection,
then only its pairs), and decodes with the medians and the family's most common program.
Every random draw takes a ``seed``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..data.dataset import converter_from_config
from ..models.vrash import collate_notes
from ..music.sequence import NoteSequence
from ..representations.notes import DRUM_GROUP, TrackMeta
from .model import LoadedModel
from .store import ModelFiles
from .windows import InputError

UNKNOWN = "<unknown>"


def is_note_model(files: ModelFiles) -> bool:
    """Whether ``files`` holds a VRASH-family model (``config.model.family``)."""
    from ..models.builders import NOTE_FAMILIES

    return files.config.model.family in NOTE_FAMILIES


class NoteModel(LoadedModel):
    """A trained note-level LM, VAE or VRASH with what it needs to sample and decode whole tracks."""

    def __init__(self, files: ModelFiles, device: str | torch.device = "cpu"):
        if not is_note_model(files):
            raise InputError(f"{files.name}: a {files.config.model.family} model, not a note-level one (VRASH family)")
        super().__init__(files, device)
        self.converter = converter_from_config(files.representation)
        info = files.info.get("notes") or {}
        self.collections: list[str] = list(info.get("collections") or [UNKNOWN])
        dec = info.get("decode") or {}
        self.median_duration = int(dec.get("median_duration", 4))
        self.octave_shift = int(dec.get("octave_shift", 0))
        self.programs = {int(k): int(v) for k, v in (dec.get("programs") or {}).items()}
        pairs = [(int(g), int(c), int(n)) for g, c, n in info.get("track_meta") or []]
        self.track_pairs = [p for p in pairs if p[2] > 0] or [(0, 0, 1)]
        self.max_notes = int(info.get("max_notes") or self.config.notes.max_notes)

    def _cap(self, meta: np.ndarray) -> np.ndarray:
        """Collections past the model's embedding rows share row 0 (as in training)."""
        emb = self.model.embed.collection
        meta = np.array(meta, dtype=np.int64).reshape(-1, 2)
        if emb is not None:
            meta[:, 1] = np.where(meta[:, 1] < emb.num_embeddings, meta[:, 1], 0)
        return meta

    # ------------------------------------------------------------ properties
    @property
    def kind(self) -> str:
        return "notes"

    @property
    def labels(self) -> list[str]:
        """Collections ``sample(label=...)`` accepts (those seen in training), sorted."""
        seen = {self.collections[c] for _, c, _ in self.track_pairs if 0 <= c < len(self.collections)}
        return sorted(seen - {UNKNOWN})

    # --------------------------------------------------------------- tracks
    def collection_id(self, label: str) -> int:
        """Index of a collection by name (exact, else case-insensitive, or one part of ``a/b``)."""
        if label in self.collections:
            return self.collections.index(label)
        want = label.lower()
        found = [k for k, name in enumerate(self.collections)
                 if name.lower() == want or want in (part.lower() for part in name.replace(":", "/").split("/"))]
        if len(found) != 1:
            known = ", ".join(self.labels) or "none"
            what = "ambiguous" if found else "unknown"
            raise InputError(f"{self.name}: {what} collection {label!r}; known collections: {known}")
        return found[0]

    def draw_meta(self, n: int, seed: int | None = None, label: str | None = None) -> np.ndarray:
        """``(n, 2)`` ``[instrument_group, collection]`` rows drawn from the training tracks' pairs."""
        pairs = self.track_pairs
        if label is not None:
            k = self.collection_id(label)
            pairs = [p for p in pairs if p[1] == k] or [(max(pairs, key=lambda p: p[2])[0], k, 1)]
        weights = np.array([p[2] for p in pairs], dtype=np.float64)
        pick = np.random.default_rng(seed).choice(len(pairs), size=n, p=weights / weights.sum())
        return np.array([[pairs[i][0], pairs[i][1]] for i in pick], dtype=np.int64).reshape(n, 2)

    def track_meta(self, group: int) -> TrackMeta:
        """Decoding settings of a sampled track of instrument family ``group``."""
        drum = int(group) == DRUM_GROUP
        program = self.programs.get(int(group), 0 if drum else 8 * int(group))
        return TrackMeta(program, drum, self.median_duration, 0 if drum else self.octave_shift)

    def to_sequence(self, events: np.ndarray, group: int = 0, qpm: float = 120.0) -> NoteSequence:
        """``(n, 3)`` events -> a one-track NoteSequence, padded to whole bars."""
        seq = self.converter.decode(np.asarray(events, dtype=np.int64).reshape(-1, 3), self.track_meta(group))
        bar = seq.steps_per_bar
        total = max(bar, int(math.ceil(seq.total_steps / bar)) * bar)
        return seq.copy(total_steps=total, qpm=float(qpm), source=self.name)

    # -------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_events(self, n: int, temperature: float = 1.0, seed: int | None = None, label: str | None = None,
                      max_notes: int | None = None, z: np.ndarray | None = None,
                      meta: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """``n`` whole tracks of ``(length, 3)`` events and their ``(n, 2)`` track meta rows.

        Latent models draw z from N(0, I) (or take ``z`` ``(n, Z)``); a track ends where the
        model chooses (at most ``max_notes`` events, default the training cut).
        """
        if n < 1:
            raise InputError(f"the number of samples must be at least 1, got {n}")
        meta = self.draw_meta(n, seed, label) if meta is None else np.asarray(meta, dtype=np.int64).reshape(n, 2)
        zt = None
        if z is not None:
            if not self.has_latent:
                raise InputError(f"{self.name}: a language model has no latent space")
            zt = torch.as_tensor(np.asarray(z, dtype=np.float32).reshape(n, -1), device=self.device)
        events = self.model.sample(n, max_notes=int(max_notes or self.max_notes), temperature=float(temperature),
                                   generator=self._generator(None if seed is None else seed + 1),
                                   meta=torch.as_tensor(self._cap(meta), device=self.device), z=zt)
        return events, meta

    def sample(self, n: int = 1, temperature: float | None = None, seed: int | None = None, qpm: float = 120.0,
               label: str | None = None) -> list[NoteSequence]:
        """``n`` new melodies of variable length (``label``: a collection the model was trained on)."""
        events, meta = self.sample_events(n, self.temperature_or_default(temperature), seed, label)
        return [self.to_sequence(ev, int(m[0]), qpm) for ev, m in zip(events, meta)]

    # -------------------------------------------------------------- encoding
    @torch.no_grad()
    def encode_events(self, events: Sequence[np.ndarray], meta: np.ndarray,
                      batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """Posterior ``(mu, sigma)``, each ``(B, Z)``, of tracks (cut to ``max_notes`` events) with their meta rows."""
        if not self.has_latent:
            raise InputError(f"{self.name}: a language model has no latent space; encoding needs a VAE")
        meta = self._cap(meta)
        empty = np.zeros((0, self.z_size), np.float32)  # what no track gives
        mus, sigmas = [empty], [empty]
        for lo in range(0, len(events), batch_size):
            items = [(np.asarray(e)[: self.max_notes], m) for e, m in zip(events[lo: lo + batch_size], meta[lo: lo + batch_size])]
            mu, sigma = self.model.encode(collate_notes(items, self.max_notes).to(self.device))
            mus.append(mu.float().cpu().numpy())
            sigmas.append(sigma.float().cpu().numpy())
        return np.concatenate(mus), np.concatenate(sigmas)
