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
from .decoders import CoreDecoder, gumbel_noise, shift_right
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

    def unroll(self, z, batch: int, *, targets=None, feed_sample=None, temperature=1.0, generator=None,
               noise_rows=None):
        first = self.core.output.weight.new_zeros(batch, self.core.depth)
        return self.core.unroll(z, first, self.steps, targets=targets, feed_sample=feed_sample,
                                temperature=temperature, generator=generator, noise_rows=noise_rows)

    def eval_unroll(self, z, targets, *, temperature=1.0, generator=None):
        """magenta's evaluation decoding (see :meth:`HierarchicalDecoder.eval_unroll`): for a flat
        decoder it is plain free running from the start token. -> logits (B, T, D), tokens (B, T, K)."""
        return self.unroll(z, targets.shape[0], temperature=temperature, generator=generator)


#: from this batch size on, free-running decoding goes segment after segment (each segment a batch of
#: B rows, from its known first input) instead of all segments at once with redone guesses: with
#: many sequences almost every one has a bar to redo, and the redo passes cost more than the longer
#: loop saves (mel_16bar, one thread: all at once 2.2x the plain path at 64 samples, 0.8x at 1,024).
SEGMENTWISE_BATCH = 256


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

    def teacher(self, z: torch.Tensor, targets: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        """targets (B, T, K) -> logits (B, T, D); all segments decoded as one batch.

        ``segments`` (B, k) int: decode only these segments of each example (the conductor still reads
        all of them) -> logits (B, k*S, D) for ``select_segments(targets, segments)``. Each segment's
        decoder starts from its conductor embedding and the true last token before it, so a subset is
        decoded exactly as in the whole pass.
        """
        B, U, S = targets.shape[0], self.segments, self.segment_steps
        emb = self.conductor(z)  # (B, U, E)
        if segments is not None:
            emb = emb.gather(1, segments.unsqueeze(-1).expand(-1, -1, emb.shape[-1]))  # (B, k, E)
        n = emb.shape[1]
        emb = emb.reshape(B * n, -1)  # (B*n, E)
        out = []
        for core, group in zip(self.cores, self.groups):
            prev = shift_right(one_hot(targets[..., group], core.vocab_sizes)).reshape(B, U, S, -1)  # (B, U, S, Dg)
            if segments is not None:
                prev = prev.gather(1, segments[:, :, None, None].expand(-1, -1, S, prev.shape[-1]))  # (B, k, S, Dg)
            logits = core.teacher(emb, prev.reshape(B * n, S, -1))  # (B*n, S, Dg)
            out.append(logits.reshape(B, n * S, -1))
        return torch.cat(out, dim=-1)  # (B, n*S, D)

    def unroll(self, z, batch: int, *, targets=None, feed_sample=None, temperature=1.0, generator=None,
               noise_rows=None):
        """Segment by segment; each core's first input is the last token of the segment before: the
        true one when ``targets`` and ``feed_sample`` are given (scheduled sampling, as magenta), else
        the model's own.

        Free-running inference (no targets, no grad, eval) takes :meth:`_generate` instead: the
        same tokens, all segments at once.
        """
        if targets is None and all(core.inference_path() for core in self.cores):
            return self._generate(z, batch, temperature, generator)
        U, S = self.segments, self.segment_steps
        emb = self.conductor(z)  # (B, U, E)
        logits_out, tokens_out = [], []
        last = [core.output.weight.new_zeros(batch, core.depth) for core in self.cores]
        for u in range(U):
            seg = slice(u * S, (u + 1) * S)
            seg_logits, seg_tokens = [], []
            for g, (core, group) in enumerate(zip(self.cores, self.groups)):
                tgt = targets[:, seg][..., group] if targets is not None else None
                fs = feed_sample[:, seg] if feed_sample is not None else None
                logits, tokens = core.unroll(emb[:, u], last[g], S, targets=tgt, feed_sample=fs,
                                             temperature=temperature, generator=generator, noise_rows=noise_rows)
                fed = tokens[:, -1]
                if tgt is not None and fs is not None:
                    # magenta calls its scheduled-sampling helper once per segment, and the helper's
                    # first input is always the given (true) one: a segment never starts from a sample
                    fed = tgt[:, -1]
                last[g] = one_hot(fed.unsqueeze(1), core.vocab_sizes)[:, 0]
                seg_logits.append(logits)
                seg_tokens.append(tokens)
            logits_out.append(torch.cat(seg_logits, dim=-1))
            tokens_out.append(torch.cat(seg_tokens, dim=-1))
        return torch.cat(logits_out, dim=1), torch.cat(tokens_out, dim=1)

    def eval_unroll(self, z, targets, *, temperature=1.0, generator=None):
        """magenta's evaluation decoding, what its "sampled accuracy" is the argmax accuracy of.

        In evaluation magenta's ``get_sampling_probability`` turns a scheduled-sampling model's
        schedule to probability 1, and ``ScheduledOutputTrainingHelper`` then feeds every step
        the model's own sample of the step before, except the first step of a helper call,
        which reads its given input. The hierarchical decoder calls the helper once per
        segment, so each segment starts from the *true* last token of the segment before
        (zeros for the first), then runs on its own samples. targets (B, T, K) ->
        logits (B, T, D), tokens (B, T, K). In eval mode without gradients all segments are
        decoded at once by the inference loop; otherwise by :meth:`unroll` fed its own samples
        (the same numbers).
        """
        B, U, S = targets.shape[0], self.segments, self.segment_steps
        if torch.is_grad_enabled() or not all(core.inference_path() for core in self.cores):
            feed = torch.ones(targets.shape[:2], dtype=torch.bool, device=targets.device)  # (B, T)
            return self.unroll(z, B, targets=targets, feed_sample=feed, temperature=temperature, generator=generator)
        emb = self.conductor(z).reshape(B * U, -1)  # (B*U, E), row b*U + u
        noise = [[gumbel_noise((S, B, core.depth), temperature, generator, z.device) for core in self.cores]
                 for _ in range(U)]  # the reference loop's draws, segment-major
        logits_out, tokens_out = [], []
        for g, (core, group) in enumerate(zip(self.cores, self.groups)):
            prepared = core.prepare(emb, B * U)
            nz = None
            if noise[0][g] is not None:
                nz = torch.stack([noise[u][g] for u in range(U)], dim=2).reshape(S, B * U, core.depth)  # (S, B*U, D)
            prev = shift_right(one_hot(targets[..., group], core.vocab_sizes))  # (B, T, Dg)
            first = prev.reshape(B, U, S, -1)[:, :, 0].reshape(B * U, -1)  # (B*U, Dg): true previous tokens
            logits, tokens = core.decode_prepared(first, S, prepared, nz)
            logits_out.append(logits.reshape(B, U * S, -1))
            tokens_out.append(tokens.reshape(B, U * S, -1))
        return torch.cat(logits_out, dim=-1), torch.cat(tokens_out, dim=-1)

    def _generate(self, z, batch: int, temperature: float, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-running decoding of every segment at once, exactly as :meth:`unroll` would decode them.

        A segment depends on the one before only through its first input, the last token of
        that segment (the state is reset). So all segments are decoded as one batch from an
        assumed first input ("no event"), and those whose assumption turns out wrong are decoded
        again from the right one, until none changes: after pass k the first k segments are
        final, so at most U passes; sampling mel_16bar at temperature 0.5 took one pass in 17
        of 20 samples and two in the others (measured). Each segment uses the Gumbel noise the
        segment-by-segment loop would draw for it (drawn here in that loop's order), so the
        tokens are the same. At batch 1 a 16-bar melody is 16 steps of batch 16 instead of 256
        steps of batch 1.
        """
        U, S, B = self.segments, self.segment_steps, batch
        emb = self.conductor(z).reshape(B * U, -1)  # (B*U, E), row b*U + u
        noise = [[gumbel_noise((S, B, core.depth), temperature, generator, z.device) for core in self.cores]
                 for _ in range(U)]  # the reference loop's draws, segment-major
        logits_out, tokens_out = [], []
        for g, core in enumerate(self.cores):
            h0, c0, const0 = core.prepare(emb, B * U)  # (L, B*U, H), (B*U, 4H)
            nz = None
            if noise[0][g] is not None:
                nz = torch.stack([noise[u][g] for u in range(U)], dim=2).reshape(S, B * U, core.depth)  # (S, B*U, D)
            logits = emb.new_zeros(B * U, S, core.depth)
            tokens = torch.zeros(B * U, S, len(core.vocab_sizes), dtype=torch.long, device=emb.device)
            # assumed first inputs: segment 0's (zeros) is right; the others get token 0 of each
            # stream, "no event" in every representation here (hold for melodies, no hit for drums),
            # the last token of 99.5 % of bars sampled from mel_16bar (T = 0.5)
            first = one_hot(tokens.new_zeros(B, U, len(core.vocab_sizes)), core.vocab_sizes)  # (B, U, D)
            first[:, 0] = 0.0
            first = first.reshape(B * U, -1)
            todo = torch.arange(B * U, device=emb.device)
            if B >= SEGMENTWISE_BATCH:  # segment after segment, each from its known first input
                rows = todo.view(B, U)
                for u in range(U):
                    r = rows[:, u]
                    lg, tk = core.decode_prepared(first[r], S, (h0[:, r], c0[:, r], const0[r]),
                                                  None if nz is None else nz[:, r])
                    logits[r], tokens[r] = lg, tk
                    if u + 1 < U:
                        first[rows[:, u + 1]] = one_hot(tk[:, -1:], core.vocab_sizes)[:, 0]
                todo = todo[:0]
            while len(todo):
                lg, tk = core.decode_prepared(first[todo], S, (h0[:, todo], c0[:, todo], const0[todo]),
                                              None if nz is None else nz[:, todo])
                logits[todo], tokens[todo] = lg, tk
                last = one_hot(tokens.view(B, U, S, -1)[:, :-1, -1:], core.vocab_sizes)[:, :, 0]  # (B, U-1, D)
                right = torch.cat([first.new_zeros(B, 1, core.depth), last], dim=1).reshape(B * U, -1)
                todo = (right != first).any(dim=1).nonzero().flatten()
                first = right
            logits_out.append(logits.view(B, U * S, -1))
            tokens_out.append(tokens.view(B, U * S, -1))
        return torch.cat(logits_out, dim=-1), torch.cat(tokens_out, dim=-1)


def scheduled_logits(decoder: nn.Module, z: torch.Tensor | None, targets: torch.Tensor, feed_sample: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Scheduled sampling's logits (B, T, D) at the cost of teacher forcing plus a gradient-free unroll.

    A sampled token is an argmax: no gradient flows through it, only through the logits and the
    LSTM state. So the step-by-step part is needed only to find *which* token each step is fed,
    and that runs without autograd, on the rows that feed back a sample (a row whose
    ``feed_sample`` is all False is fed the true tokens throughout). The logits, with their
    gradients, then come from one teacher-forced pass over the fed tokens, which computes what the
    step-by-step unroll computed (same inputs, same equations; equal up to float rounding, tested).
    Early in an inverse-sigmoid schedule (p ~ 0.001-0.01 per step) a few rows of 64 are unrolled;
    at any p the backward pass runs through one LSTM call instead of T small ones. The sampling
    noise is drawn for the whole batch, as before, so the sampled rows get the tokens they got when
    the whole batch was unrolled, and the generator ends in the same state.
    """
    B = targets.shape[0]
    rows = feed_sample.any(dim=1)  # (B,)
    fed = targets
    if bool(rows.any()):
        sub = rows.nonzero().flatten()
        with torch.no_grad():
            _, sampled = decoder.unroll(None if z is None else z[sub], len(sub), targets=targets[sub],
                                        feed_sample=feed_sample[sub], generator=generator, noise_rows=(sub, B))
        fed = targets.clone()
        fed[sub] = torch.where(feed_sample[sub].unsqueeze(-1), sampled.to(targets.dtype), targets[sub])
    return decoder.teacher(z, fed)  # inputs: the fed tokens, shifted right


def pick_segments(batch: int, segments: int, k: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """``k`` distinct segment indices per example, ascending, uniformly at random: (batch, k) int64."""
    keys = torch.rand(batch, segments, generator=generator, device=device)  # (B, U)
    return keys.argsort(dim=1)[:, :k].sort(dim=1).values


def select_segments(tokens: torch.Tensor, segments: torch.Tensor, segment_steps: int) -> torch.Tensor:
    """tokens (B, U*S, ...) -> the chosen segments' steps (B, k*S, ...), in the order of ``segments``."""
    B, k, S = tokens.shape[0], segments.shape[1], segment_steps
    steps = (segments.unsqueeze(-1) * S + torch.arange(S, device=segments.device)).reshape(B, k * S)  # (B, k*S)
    index = steps.reshape(B, k * S, *([1] * (tokens.dim() - 2))).expand(-1, -1, *tokens.shape[2:])
    return tokens.gather(1, index)

