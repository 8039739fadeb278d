"""MusicVAE (Roberts et al., 2018) and its decoder-only LSTM baseline.

Place in the flow: token windows -> :class:`MusicVAE` (encoder -> z -> decoder) ->
logits for the losses in ``training``; z for ``generation`` (sample, interpolate...).

Built by composition, as magenta's ``configs.py``:
``MusicVAE(BidirectionalEncoder(...), HierarchicalDecoder(Conductor(...), [CoreDecoder(...)], ...))``;
``models.builders.build_model(config)`` reads a config and does exactly this.
"""

from __future__ import annotations

import torch
from torch import nn

from .distributions import elbo_loss
from .interface import MusicModel
from .modules.encoder import BidirectionalEncoder, one_hot
from .modules.hierarchical import pick_segments, scheduled_logits, select_segments


def grid_elbo(model: nn.Module, tokens: torch.Tensor, out: dict | None = None, *, beta: float = 1.0,
              free_bits: float = 0.0, per_dim_free_bits: bool = False,
              generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """:func:`~.distributions.elbo_loss` of ``tokens`` given the model's output ``out`` (computed when None)."""
    out = model(tokens, generator=generator) if out is None else out
    return elbo_loss(out["logits"].float(), out.get("targets", tokens), model.vocab_sizes, out["mu"], out["sigma"],
                     beta, free_bits, per_dim_free_bits, r_scale=out.get("r_scale", 1.0))


class MusicVAE(MusicModel):
    loss = grid_elbo

    def __init__(self, encoder: BidirectionalEncoder, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.vocab_sizes = tuple(decoder.vocab_sizes)
        self.steps = decoder.steps
        self.z_size = encoder.to_mu.out_features

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, T, K) -> (mu, sigma), each (B, Z)."""
        return self.encoder(one_hot(tokens, self.vocab_sizes))

    def forward(
        self,
        tokens: torch.Tensor,
        *,
        feed_sample: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        segment_subset: int = 0,
    ) -> dict[str, torch.Tensor]:
        """Reconstruct ``tokens`` (B, T, K). ``feed_sample`` (B, T) bool turns on scheduled sampling.

        ``segment_subset = k`` (teacher forcing, hierarchical decoder with more than ``k`` segments):
        decode only ``k`` random segments of each window; the output then also holds their
        ``targets`` (B, k*S, K) and ``r_scale = U / k`` for the loss (an unbiased estimate).
        """
        mu, sigma = self.encode(tokens)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + sigma * eps  # (B, Z)
        out = {"mu": mu, "sigma": sigma, "z": z}
        segments = getattr(self.decoder, "segments", 1)
        if feed_sample is not None and bool(feed_sample.any()):
            out["logits"] = scheduled_logits(self.decoder, z, tokens, feed_sample, generator)
        elif 0 < segment_subset < segments:
            picked = pick_segments(tokens.shape[0], segments, segment_subset, generator, tokens.device)  # (B, k)
            out["logits"] = self.decoder.teacher(z, tokens, picked)  # (B, k*S, D)
            out["targets"] = select_segments(tokens, picked, self.decoder.segment_steps)  # (B, k*S, K)
            out["r_scale"] = segments / segment_subset
        else:
            out["logits"] = self.decoder.teacher(z, tokens)
        return out

    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (B, Z) -> sampled tokens (B, T, K), free running."""
        _, tokens = self.decoder.unroll(z, z.shape[0], temperature=temperature, generator=generator)
        return tokens


class MusicLM(MusicModel):
    """Decoder-only LSTM language model (the workshop paper's "Baseline" column): no z, no KL."""

    loss = grid_elbo

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder
        self.vocab_sizes = tuple(decoder.vocab_sizes)
        self.steps = decoder.steps
        self.z_size = 0

    def forward(self, tokens, *, feed_sample=None, generator=None) -> dict[str, torch.Tensor | None]:
        if feed_sample is None or not bool(feed_sample.any()):
            logits = self.decoder.teacher(None, tokens)
        else:
            logits = scheduled_logits(self.decoder, None, tokens, feed_sample, generator)
        return {"logits": logits, "mu": None, "sigma": None, "z": None}

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            raise ValueError("a language model has no style labels")
        _, tokens = self.decoder.unroll(None, n, temperature=temperature, generator=generator)
        return tokens
