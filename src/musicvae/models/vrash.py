"""VRASH (Tikhonov & Yamshchikov) and its two baselines, on note events of variable length.

Place in the flow: ``prepare --kind notes`` shards -> ``training.notes`` (collate into a
:class:`NoteBatch`) -> :class:`NoteLM` / :class:`NoteVAE` / :class:`VRASH` -> ``loss`` for
training, ``cross_entropy_per_note`` for ``experiments/vrash_vs_lm.py``, ``sample`` ->
``(n, 3)`` event arrays -> ``NoteEventConverter.decode`` -> MIDI.

A note is three factors ``(pitch_class, octave, duration_bucket)`` (see
:mod:`musicvae.representations.notes`; rests are pitch class 12 / octave 11). A track
carries metadata ``(instrument_group, collection)``.

Decoder cells: LSTM by default; ``cell="highway"`` takes recurrent highway layers
(:mod:`.modules.highway`, the paper's "recurrent highway gated network"; its depth is not given
in the paper, ``highway_depth`` sets it).

* :class:`NoteLM`: LSTM language model; at step t it reads the previous note (history)
  and the track embedding and predicts note t. No z, no KL.
* :class:`NoteVAE`: a bidirectional LSTM encoder (``modules.note_encoder``) compresses the
  track to z (16 by default); the decoder reconstructs from z alone: z sets its initial state and is
  its input at every step with the track embedding and the step position, no history.
* :class:`VRASH`: the same VAE whose decoder also reads the previous note at each step
  (Bowman et al.'s sentence VAE). ``history_dropout`` p (word dropout): while training,
  each step's history embedding is replaced by a learned "unknown" vector with
  probability p; in eval mode history is always read, except at p = 1.0 where it is
  always replaced (the decoder then depends on z, track and position alone, in both modes).

End of track: **an end token is added to each factor's vocabulary** (index = the
converter's vocabulary size of that factor). A track of n events has n + 1 targets, the
last one ``(END, END, END)``; the loss is the sum of the three cross-entropies at every
target position. When sampling, the pitch-class head decides the end (END is masked out
of the octave and duration heads, and out of the pitch-class head for the first
``min_notes`` notes); octave is constrained to agree with the pitch class (rest octave
for a rest, a real octave for a note), so every sampled event is valid for the converter.

"Per note" means per predicted position: each of a track's n notes plus its end token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..representations.notes import NUM_INSTRUMENT_GROUPS, REST_OCTAVE, REST_PITCH_CLASS
from .distributions import LN2, draw, free_bits_kl, kl_per_dim
from .interface import MusicModel
from .modules.highway import RecurrentHighway
from .modules.note_encoder import NoteEncoder

FACTORS = ("pitch_class", "octave", "duration")
NOTE_VOCAB = (13, 12, 16)  # NoteEventConverter().vocab_sizes


@dataclass
class NoteBatch:
    """Padded note sequences. ``events`` (B, T, 3) int64 (padding 0), ``lengths`` (B,) events
    per track (>= 1), ``meta`` (B, 2) ``[instrument_group, collection]``, ``has_end`` (B,) bool:
    False for a track cut at ``max_notes`` (no end target)."""

    events: torch.Tensor
    lengths: torch.Tensor
    meta: torch.Tensor
    has_end: torch.Tensor

    def to(self, device: torch.device | str) -> "NoteBatch":
        return NoteBatch(*(t.to(device) for t in (self.events, self.lengths, self.meta, self.has_end)))

    def __len__(self) -> int:
        return int(self.events.shape[0])


def collate_notes(items: Sequence[tuple[np.ndarray, np.ndarray]], max_notes: int | None = None) -> NoteBatch:
    """``(events (n_i, 3), meta (2,))`` pairs -> :class:`NoteBatch` padded to the longest track.

    A track longer than ``max_notes`` is cut to it and gets ``has_end=False`` (no end target).
    Raises ValueError for an empty track or an empty list.
    """
    if not items:
        raise ValueError("no tracks to collate")
    lens = [len(e) for e, _ in items]
    if min(lens) < 1:
        raise ValueError("a track without events cannot be collated")
    has_end = [max_notes is None or n <= max_notes for n in lens]
    lens = [n if max_notes is None else min(n, max_notes) for n in lens]
    events = np.zeros((len(items), max(lens), 3), dtype=np.int64)  # (B, T, 3)
    for b, ((ev, _), n) in enumerate(zip(items, lens)):
        events[b, :n] = ev[:n]
    meta = np.stack([np.asarray(m, dtype=np.int64) for _, m in items])  # (B, 2)
    return NoteBatch(torch.from_numpy(events), torch.tensor(lens, dtype=torch.long), torch.from_numpy(meta),
                     torch.tensor(has_end, dtype=torch.bool))


class NoteEmbedding(nn.Module):
    """Note factors and track metadata -> concatenated embeddings.

    ``notes(events)`` (B, T, 3) -> (B, T, note_size); ``track(meta)`` (B, 2) -> (B, track_size);
    ``forward`` concatenates both at every step: (B, T, size). A size of 0 drops that part.
    """

    def __init__(
        self,
        vocab_sizes: tuple[int, int, int] = NOTE_VOCAB,
        *,
        pitch_size: int = 16, octave_size: int = 4, duration_size: int = 8,
        instruments: int = NUM_INSTRUMENT_GROUPS, instrument_size: int = 4,  # GM families + drums
        collections: int = 1, collection_size: int = 4,  # source collections (0 = unknown)
    ):
        super().__init__()
        if len(vocab_sizes) != 3:
            raise ValueError(f"vocab_sizes must be (pitch classes, octaves, durations), not {vocab_sizes}")
        self.factors = nn.ModuleList(nn.Embedding(v, s) for v, s in zip(vocab_sizes, (pitch_size, octave_size, duration_size)))
        self.instrument = nn.Embedding(instruments, instrument_size) if instrument_size else None
        self.collection = nn.Embedding(max(collections, 1), collection_size) if collection_size else None
        self.note_size = pitch_size + octave_size + duration_size
        self.track_size = instrument_size + collection_size
        self.size = self.note_size + self.track_size

    def notes(self, events: torch.Tensor) -> torch.Tensor:
        return torch.cat([emb(events[..., k].long()) for k, emb in enumerate(self.factors)], dim=-1)  # (B, T, N)

    def track(self, meta: torch.Tensor) -> torch.Tensor:
        parts = [m(meta[:, k].long()) for k, m in enumerate((self.instrument, self.collection)) if m is not None]
        if not parts:
            return meta.new_zeros((meta.shape[0], 0), dtype=torch.float32)
        return torch.cat(parts, dim=-1)  # (B, M)

    def forward(self, events: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        notes = self.notes(events)  # (B, T, N)
        track = self.track(meta).unsqueeze(1).expand(-1, notes.shape[1], -1)  # (B, T, M)
        return torch.cat([notes, track], dim=-1)  # (B, T, N + M)


def positions(steps: torch.Tensor, size: int) -> torch.Tensor:
    """Sinusoidal features of step indices: (...) int -> (..., size) (sin/cos pairs)."""
    half = size // 2
    freq = torch.exp(-math.log(1000.0) * torch.arange(half, device=steps.device) / max(half, 1))  # (size/2,)
    angle = steps.float().unsqueeze(-1) * freq  # (..., size/2)
    out = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
    return F.pad(out, (0, size - 2 * half))


class NoteSequenceModel(MusicModel):
    """Shared machinery; subclasses fix ``latent`` (has an encoder and z) and ``history``."""

    latent = False
    history = True

    def __init__(
        self,
        vocab_sizes: tuple[int, int, int] = NOTE_VOCAB,
        *,
        pitch_size: int = 16, octave_size: int = 4, duration_size: int = 8,  # note embedding
        instrument_size: int = 4, collections: int = 1, collection_size: int = 4,  # track embedding
        hidden_size: int = 256, num_layers: int = 1,  # decoder LSTM
        z_size: int = 16, encoder_hidden: int = 256, encoder_layers: int = 1,  # latent models only
        position_size: int = 8,  # sinusoidal step features fed to the decoder (0: none)
        history_dropout: float = 0.0,
        dropout: float = 0.0,
        cell: str = "lstm",  # decoder cells: "lstm" or "highway" (recurrent highway, modules.highway)
        highway_depth: int = 3,  # recurrence depth of the highway cells (the paper gives none)
    ):
        hparams = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__()
        if not 0.0 <= history_dropout <= 1.0:
            raise ValueError(f"history_dropout must be in [0, 1], not {history_dropout}")
        if cell not in ("lstm", "highway"):
            raise ValueError(f"cell must be 'lstm' or 'highway', not {cell!r}")
        if history_dropout and not self.history:
            raise ValueError(f"{type(self).__name__} reads no history: history_dropout must be 0")
        self.hparams = {**hparams, "vocab_sizes": tuple(int(v) for v in vocab_sizes)}  # rebuild: type(m)(**m.hparams)
        self.vocab_sizes = self.hparams["vocab_sizes"]
        self.end_ids = self.vocab_sizes  # the end token of factor k is index vocab_sizes[k]
        self.out_sizes = tuple(v + 1 for v in self.vocab_sizes)
        self.history_dropout = float(history_dropout)
        self.position_size = position_size
        self.embed = NoteEmbedding(self.vocab_sizes, pitch_size=pitch_size, octave_size=octave_size,
                                   duration_size=duration_size, instrument_size=instrument_size,
                                   collections=collections, collection_size=collection_size)
        self.z_size = z_size if self.latent else 0
        in_size = self.embed.track_size + position_size + self.z_size
        if self.history:
            in_size += self.embed.note_size
            self.start = nn.Parameter(torch.randn(self.embed.note_size) * 0.1)  # history before the first note
            self.unknown = nn.Parameter(torch.zeros(self.embed.note_size))  # dropped history
        self.state_parts = RecurrentHighway.state_parts if cell == "highway" else 2  # highway (s,); LSTM (h, c)
        if self.latent:
            self.encoder = NoteEncoder(self.embed.size, encoder_hidden, encoder_layers, z_size, dropout)
            self.to_state = nn.Linear(z_size, self.state_parts * num_layers * hidden_size)
        if cell == "highway":
            self.decoder = RecurrentHighway(in_size, hidden_size, num_layers, highway_depth, dropout)
        else:
            self.decoder = nn.LSTM(in_size, hidden_size, num_layers, batch_first=True,
                                   dropout=dropout if num_layers > 1 else 0.0)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, v) for v in self.out_sizes)

    # ---------------------------------------------------------------- pieces
    def encode(self, batch: NoteBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma), each (B, Z); latent models only."""
        if not self.latent:
            raise self._no_latent("encoding")
        return self.encoder(self.embed(batch.events, batch.meta), batch.lengths)

    def _initial_state(self, z: torch.Tensor | None, b: int, device) -> tuple[torch.Tensor, ...] | None:
        if z is None:
            return None  # zeros
        layers, hidden = self.decoder.num_layers, self.decoder.hidden_size
        parts = torch.tanh(self.to_state(z)).view(b, self.state_parts, layers, hidden).permute(1, 2, 0, 3)
        return tuple(p.contiguous() for p in parts)  # LSTM (h, c), highway (s,); each (L, B, H)

    def _drop_history(self, hist: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """hist (B, T, N): replace steps by ``unknown`` (word dropout; see the module doc)."""
        p = self.history_dropout
        if p >= 1.0:
            return self.unknown.expand_as(hist)
        if p <= 0.0 or not self.training:
            return hist
        drop = torch.rand(hist.shape[:2], generator=generator, device=hist.device) < p  # (B, T)
        return torch.where(drop.unsqueeze(-1), self.unknown.expand_as(hist), hist)

    def _step_inputs(self, track: torch.Tensor, z: torch.Tensor | None, hist: torch.Tensor | None,
                     steps: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Decoder inputs (B, T, D): track (B, M), z (B, Z), history (B, T, N), step indices (T,)."""
        b, t = track.shape[0], steps.shape[0]
        parts = [track.unsqueeze(1).expand(b, t, -1)]
        if z is not None:
            parts.append(z.unsqueeze(1).expand(b, t, -1))
        if hist is not None:
            parts.append(self._drop_history(hist, generator))
        if self.position_size:
            parts.append(positions(steps, self.position_size).unsqueeze(0).expand(b, t, -1))
        return torch.cat(parts, dim=-1)

    def decoder_logits(self, z: torch.Tensor | None, events: torch.Tensor, meta: torch.Tensor,
                       generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Teacher-forced logits for targets 0..T (the T notes, then the end): 3 x (B, T + 1, V_k + 1)."""
        b, t = events.shape[:2]
        hist = None
        if self.history:
            prev = self.embed.notes(events)  # (B, T, N)
            hist = torch.cat([self.start.expand(b, 1, -1), prev], dim=1)  # (B, T + 1, N): note t-1 at step t
        steps = torch.arange(t + 1, device=events.device)
        x = self._step_inputs(self.embed.track(meta), z, hist, steps, generator)  # (B, T + 1, D)
        out, _ = self.decoder(x, self._initial_state(z, b, events.device))  # (B, T + 1, H)
        return [head(out) for head in self.heads]

    def forward(self, batch: NoteBatch, *, generator: torch.Generator | None = None,
                use_mean: bool = False) -> dict[str, torch.Tensor | list | None]:
        mu = sigma = z = None
        if self.latent:
            mu, sigma = self.encode(batch)
            z = mu if use_mean else mu + sigma * torch.randn(mu.shape, generator=generator, device=mu.device,
                                                             dtype=mu.dtype)
        logits = self.decoder_logits(z, batch.events, batch.meta, generator)
        return {"logits": logits, "mu": mu, "sigma": sigma, "z": z}

    def targets(self, batch: NoteBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets (B, T + 1, 3) with the end token at each track's length, and mask (B, T + 1)."""
        b, t = batch.events.shape[:2]
        tgt = F.pad(batch.events.long(), (0, 0, 0, 1))  # (B, T + 1, 3)
        rows = torch.arange(b, device=tgt.device)
        tgt[rows, batch.lengths.long()] = torch.tensor(self.end_ids, device=tgt.device)
        steps = torch.arange(t + 1, device=tgt.device).unsqueeze(0)  # (1, T + 1)
        mask = (steps < batch.lengths.unsqueeze(1)) | ((steps == batch.lengths.unsqueeze(1)) & batch.has_end.unsqueeze(1))
        return tgt, mask

    # ---------------------------------------------------------------- losses
    def _terms(self, batch: NoteBatch, out: dict) -> dict[str, torch.Tensor]:
        tgt, mask = self.targets(batch)
        valid = mask.float()  # (B, T + 1)
        ce, correct = [], []
        for k, logits in enumerate(out["logits"]):  # (B, T + 1, V_k + 1)
            ce_k = F.cross_entropy(logits.float().transpose(1, 2), tgt[..., k], reduction="none")  # (B, T + 1)
            ce.append((ce_k * valid).sum(dim=1))  # (B,)
            correct.append(((logits.argmax(-1) == tgt[..., k]).float() * valid).sum())
        per_factor = torch.stack(ce, dim=-1)  # (B, 3)
        if self.latent:
            kl_dims = kl_per_dim(out["mu"].float(), out["sigma"].float())  # (B, Z)
        else:
            kl_dims = per_factor.new_zeros((per_factor.shape[0], 1))
        return {"per_factor": per_factor, "kl_dims": kl_dims, "positions": valid.sum(), "correct": torch.stack(correct)}

    def loss(self, batch: NoteBatch, *, beta: float = 1.0, free_bits: float = 0.0, per_dim_free_bits: bool = False,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Training objective and metrics (scalars unless noted).

        ``loss = mean_b(sum CE_b + beta * kl_cost_b)`` (CE summed over the track's positions and
        the 3 factors; ``kl_cost`` = KL after ``free_bits``, as :func:`elbo_loss`). ``nll_per_note``:
        summed CE / positions; ``kl`` nats per track; ``elbo = -mean_b(sum CE_b + KL_b)``;
        ``ce_<factor>`` and ``acc_<factor>`` per position, ``accuracy`` over the 3 factors.
        """
        terms = self._terms(batch, self(batch, generator=generator))
        r = terms["per_factor"].sum(dim=-1)  # (B,)
        kl = terms["kl_dims"].sum(dim=-1)  # (B,)
        kl_cost = free_bits_kl(terms["kl_dims"] if per_dim_free_bits else kl, free_bits, per_dim=per_dim_free_bits)
        n = terms["positions"].clamp(min=1.0)
        acc = terms["correct"] / n  # (3,)
        out = {
            "loss": (r + beta * kl_cost).mean(), "r_loss": r.mean(), "nll_per_note": r.sum() / n,
            "kl": kl.mean(), "kl_bits": kl.mean() / LN2, "kl_cost": kl_cost.mean(), "kl_per_note": kl.sum() / n,
            "elbo": -(r + kl).mean(), "accuracy": acc.mean(), "positions": terms["positions"],
        }
        for k, name in enumerate(FACTORS):
            out[f"ce_{name}"] = terms["per_factor"][:, k].sum() / n
            out[f"acc_{name}"] = acc[k]
        return out

    @torch.no_grad()
    def cross_entropy_per_note(self, batch: NoteBatch, *, use_mean: bool = True,
                               generator: torch.Generator | None = None) -> dict[str, float]:
        """Held-out cross-entropy (nats) per note, as the paper's Fig. 5.

        ``ce`` is the teacher-forced CE summed over the 3 factors, per position; latent
        models decode from z = mu (``use_mean``) or a sampled z. ``bound`` adds KL / positions:
        for the VAEs a (single-sample when ``use_mean=False``) upper bound of the true NLL per
        note, comparable with the LM's ``ce``. ``*_sum`` and ``positions`` let callers pool
        batches (see ``training.notes.evaluate_cross_entropy``). Call ``model.eval()`` first.
        """
        terms = self._terms(batch, self(batch, generator=generator, use_mean=use_mean))
        n = float(terms["positions"])
        ce_sum = float(terms["per_factor"].sum())
        kl_sum = float(terms["kl_dims"].sum())
        out = {"ce": ce_sum / max(n, 1.0), "bound": (ce_sum + kl_sum) / max(n, 1.0), "kl_per_note": kl_sum / max(n, 1.0),
               "ce_sum": ce_sum, "kl_sum": kl_sum, "positions": n, "sequences": float(len(batch))}
        for k, name in enumerate(FACTORS):
            out[f"ce_{name}_sum"] = float(terms["per_factor"][:, k].sum())
            out[f"ce_{name}"] = out[f"ce_{name}_sum"] / max(n, 1.0)
            out[f"acc_{name}_sum"] = float(terms["correct"][k])  # teacher-forced argmax hits
            out[f"acc_{name}"] = out[f"acc_{name}_sum"] / max(n, 1.0)
        return out

    # --------------------------------------------------------------- sampling
    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
               meta: torch.Tensor | None = None, max_notes: int = 256) -> list[np.ndarray]:
        """Codes (n, Z) -> n tracks of events (see :meth:`sample`)."""
        if not self.latent:
            raise self._no_latent("decoding")
        return self.sample(len(z), temperature, generator, z=z, meta=meta, max_notes=max_notes)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None, *, max_notes: int = 256, meta: torch.Tensor | None = None,
               z: torch.Tensor | None = None, min_notes: int = 1) -> list[np.ndarray]:
        """n tracks of ``(length, 3)`` int64 events, each ending where the pitch-class head chose
        END (at least ``min_notes`` notes; a track reaching ``max_notes`` is cut there).

        ``meta`` (or ``labels``) (n, 2) or (2,) ``[instrument_group, collection]`` (default zeros);
        ``z`` (n, Z) for latent models (default: :meth:`prior_sample` with ``generator``, which must
        live on the model's device). Runs in eval mode and restores the previous mode.
        """
        meta = labels if meta is None else meta
        was_training = self.training
        self.eval()
        try:
            return self._sample(n, max_notes, temperature, generator, meta, z, min_notes)
        finally:
            self.train(was_training)

    def _sample(self, n, max_notes, temperature, generator, meta, z, min_notes) -> list[np.ndarray]:
        if max_notes < 1 or n < 1:
            raise ValueError("n and max_notes must be >= 1")
        dev = next(self.parameters()).device
        meta = torch.zeros(n, 2, dtype=torch.long, device=dev) if meta is None else meta.to(dev).long().expand(n, 2)
        if self.latent and z is None:
            z = self.prior_sample(n, generator=generator)
        z = z.to(dev) if self.latent else None
        track = self.embed.track(meta)  # (n, M)
        state = self._initial_state(z, n, dev)
        hist = self.start.expand(n, 1, -1) if self.history else None  # (n, 1, N)
        rules = self.vocab_sizes[:2] == NOTE_VOCAB[:2]  # default vocab: rests have their own octave
        not_end = [torch.arange(v, device=dev) != end for v, end in zip(self.out_sizes, self.end_ids)]  # (V_k,)
        rest_octave = torch.arange(self.out_sizes[1], device=dev) == REST_OCTAVE  # (V_1,)
        events = torch.zeros(n, max_notes, 3, dtype=torch.long, device=dev)
        lengths = torch.full((n,), max_notes, dtype=torch.long, device=dev)
        alive = torch.ones(n, dtype=torch.bool, device=dev)
        for t in range(max_notes):
            x = self._step_inputs(track, z, hist, torch.tensor([t], device=dev), None)  # (n, 1, D)
            out, state = self.decoder(x, state)  # (n, 1, H)
            h = out[:, 0]  # (n, H)
            pc = draw(self.heads[0](h), temperature, generator, not_end[0] | (t >= min_notes))  # (n,)
            ended = alive & (pc == self.end_ids[0])
            lengths[ended] = t
            alive &= ~ended
            if not alive.any():
                break
            oct_allowed = not_end[1]
            if rules:  # a rest takes the rest octave, a note any other
                oct_allowed = oct_allowed & ((pc == REST_PITCH_CLASS).unsqueeze(-1) == rest_octave)  # (n, V_1)
            octave = draw(self.heads[1](h), temperature, generator, oct_allowed)
            dur = draw(self.heads[2](h), temperature, generator, not_end[2])
            pc = torch.where(pc == self.end_ids[0], torch.zeros_like(pc), pc)  # ended rows: placeholder
            note = torch.stack([pc, octave, dur], dim=-1)  # (n, 3)
            events[:, t] = note
            if self.history:
                hist = self.embed.notes(note.unsqueeze(1))  # (n, 1, N)
        ev = events.cpu().numpy()
        return [ev[i, : int(lengths[i])] for i in range(n)]


class NoteLM(NoteSequenceModel):
    """LSTM language model over notes: history + track embedding -> next note. No z."""

    latent = False
    history = True


class NoteVAE(NoteSequenceModel):
    """Recurrent VAE: z (+ track, position) is all the decoder sees; no history."""

    latent = True
    history = False


class VRASH(NoteSequenceModel):
    """Recurrent VAE whose decoder also reads its previous notes; ``history_dropout`` as word dropout."""

    latent = True
    history = True


MODELS: dict[str, type[NoteSequenceModel]] = {"lm": NoteLM, "vae": NoteVAE, "vrash": VRASH}


def build_note_model(kind: str, **kwargs) -> NoteSequenceModel:
    """``kind`` in :data:`MODELS` (``lm``, ``vae``, ``vrash``); kwargs as :class:`NoteSequenceModel`."""
    if kind not in MODELS:
        raise ValueError(f"unknown note model {kind!r}; choose from {', '.join(MODELS)}")
    return MODELS[kind](**kwargs)
