"""Whole-sequence decoders with one interface: flat and hierarchical.

Place in the flow: z -> :class:`FlatDecoder` or :class:`HierarchicalDecoder` ->
logits (B, T, sum V) / tokens (B, T, K) -> losses, sampling.

The hierarchical decoder (ICML 2018, Fig. 2): the conductor emits U embeddings;
for each segment a bottom decoder starts from ``tanh(Linear(embedding))`` (its state
reset per segment) and reads the embedding at every step. As in magenta, the first
input of a segment is the last token of the previous one (the sequence's inputs are
shifted as a whole); only the state is reset. With ``stream_groups`` (a trio) there
is one bottom decoder per instrument, each reading only its own previous tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from .conductor import Conductor
from .decoders import CoreDecoder, shift_right
from .encoder import one_hot


class FlatDecoder(nn.Module):
    """One autoregressive LSTM over the whole window (2-bar models, flat baselines)."""

    def __init__(self, core: CoreDecoder, steps: int):
        super().__init__()
        self.core, self.steps = core, steps
        self.vocab_sizes = core.vocab_sizes
        self.segment_steps = steps

    def teacher(self, z: torch.Tensor | None, targets: torch.Tensor) -> torch.Tensor:
        """targets (B, T, K) -> logits (B, T, D)."""
        prev = shift_right(one_hot(targets, self.vocab_sizes))  # (B, T, D)
        return self.core.teacher(z, prev)

    def unroll(self, z, batch: int, *, targets=None, feed_sample=None, temperature=1.0, generator=None):
        first = self.core.output.weight.new_zeros(batch, self.core.depth)
        return self.core.unroll(z, first, self.steps, targets=targets, feed_sample=feed_sample,
                                temperature=temperature, generator=generator)


class HierarchicalDecoder(nn.Module):
    def __init__(self, conductor: Conductor, cores: list[CoreDecoder], stream_groups: list[list[int]], steps: int):
        super().__init__()
        if len(cores) != len(stream_groups):
            raise ValueError("one core decoder per stream group")
        flat = [k for g in stream_groups for k in g]
        if flat != list(range(len(flat))):
            raise ValueError(f"stream groups must cover the streams in order, got {stream_groups}")
        self.conductor = conductor
        self.cores = nn.ModuleList(cores)
        self.groups = [list(g) for g in stream_groups]
        self.steps = steps
        self.segments = conductor.segments
        if steps % self.segments:
            raise ValueError(f"{steps} steps do not split into {self.segments} segments")
        self.segment_steps = steps // self.segments
        self.vocab_sizes = tuple(v for core in cores for v in core.vocab_sizes)

    def teacher(self, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """targets (B, T, K) -> logits (B, T, D); all segments decoded as one batch."""
        B, U, S = targets.shape[0], self.segments, self.segment_steps
        emb = self.conductor(z).reshape(B * U, -1)  # (B*U, E)
        out = []
        for core, group in zip(self.cores, self.groups):
            prev = shift_right(one_hot(targets[..., group], core.vocab_sizes))  # (B, T, Dg)
            logits = core.teacher(emb, prev.reshape(B * U, S, -1))  # (B*U, S, Dg)
            out.append(logits.reshape(B, U * S, -1))
        return torch.cat(out, dim=-1)  # (B, T, D)

    def unroll(self, z, batch: int, *, targets=None, feed_sample=None, temperature=1.0, generator=None):
        """Segment by segment; each core's first input is the token fed at the end of the last segment."""
        U, S = self.segments, self.segment_steps
        emb = self.conductor(z)  # (B, U, E)
        logits_out, tokens_out = [], []
        last = [core.output.weight.new_zeros(batch, core.depth) for core in self.cores]
        # inference: every segment's initial state and constant gate input in one product per core
        prepared = [self._prepare_segments(core, emb) if core.inference_path(targets) else None for core in self.cores]
        for u in range(U):
            seg = slice(u * S, (u + 1) * S)
            seg_logits, seg_tokens = [], []
            for g, (core, group) in enumerate(zip(self.cores, self.groups)):
                tgt = targets[:, seg][..., group] if targets is not None else None
                fs = feed_sample[:, seg] if feed_sample is not None else None
                prep = None if prepared[g] is None else (prepared[g][0][:, :, u], prepared[g][1][:, :, u], prepared[g][2][:, u])
                logits, tokens = core.unroll(emb[:, u], last[g], S, targets=tgt, feed_sample=fs,
                                             temperature=temperature, generator=generator, prepared=prep)
                fed = tokens[:, -1]
                if tgt is not None and fs is not None:
                    fed = torch.where(fs[:, -1:], tokens[:, -1], tgt[:, -1])
                last[g] = one_hot(fed.unsqueeze(1), core.vocab_sizes)[:, 0]
                seg_logits.append(logits)
                seg_tokens.append(tokens)
            logits_out.append(torch.cat(seg_logits, dim=-1))
            tokens_out.append(torch.cat(seg_tokens, dim=-1))
        return torch.cat(logits_out, dim=1), torch.cat(tokens_out, dim=1)

    @staticmethod
    def _prepare_segments(core: CoreDecoder, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """emb (B, U, E) -> initial h and c (L, B, U, H) and constant gates (B, U, 4H) of every segment."""
        B, U = emb.shape[:2]
        h0, c0, const0 = core.prepare(emb.reshape(B * U, -1), B * U)
        L = h0.shape[0]
        return h0.view(L, B, U, -1), c0.view(L, B, U, -1), const0.reshape(B, U, -1)
