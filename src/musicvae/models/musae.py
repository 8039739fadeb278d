"""MusAE (Valenti, Carta, Bacciu, ECAI 2020): an adversarial autoencoder over multitrack grids.

Place in the flow: multitrack token grid (B, T, 4) -> :class:`MusAE` (bidirectional
encoder -> deterministic z -> :class:`MultiTrackDecoder`) -> logits for
``training.losses``; ``training.adversarial`` pits z against ``MusAE.prior`` through
``MusAE.critic``; ``MusAE.sample`` decodes prior draws (optionally of given styles).

Composition, as :class:`~musicvae.models.musicvae.MusicVAE`:
``MusAE(BidirectionalEncoder(...), MultiTrackDecoder(...), FlowerPrior(...), Critic(...))``.

The encoder is stochastic in the paper and its reference code (``stochastic``, the full
presets): while training z = mu + sigma * eps with sigma = exp(2 pre), no KL term (the
critic does the regularising); codes for analysis and reconstruction are the mean. With
``stochastic`` off (the ``_cpu`` presets, and checkpoints made before the option) z is
the mean head ``mu`` and the ``sigma`` head is unused. The decoder is NOT autoregressive: each track's LSTM sees only z, as
its initial state and as its input at every step, so steps are conditionally
independent given z and teacher forcing equals free running.

``position_input`` (ours: on in the ``_cpu`` presets, off in the full ones) also feeds each step its place in the window: a
one-hot of the step within its bar and one of the bar. The paper feeds z alone, so the
LSTM must build its own clock from a constant input. (The clock alone did not unstick a
``_cpu`` model on folk 2-bar melodies, whose accuracy stayed at the majority class: the
codes had collapsed, which the encoder's ``state_norm`` addresses; presets turn on both.)
"""

from __future__ import annotations

import torch
from torch import nn

from .distributions import reconstruction_loss, tokens_from_logits
from .interface import MusicModel
from .modules.encoder import BidirectionalEncoder, one_hot


def step_clock(steps: int, steps_per_bar: int) -> torch.Tensor:
    """``(T, P)`` position features of a window: one-hot step within the bar ++ one-hot bar.

    ``P = steps_per_bar + bars`` (bars = ceil(T / steps_per_bar)); a 2-bar window of 16
    steps per bar gives (32, 18). A window shorter than a bar has one bar column.
    """
    if steps < 1 or steps_per_bar < 1:
        raise ValueError(f"steps and steps_per_bar must be positive, got {steps} and {steps_per_bar}")
    t = torch.arange(steps)
    bars = -(-steps // steps_per_bar)
    in_bar = nn.functional.one_hot(t % steps_per_bar, steps_per_bar)  # (T, S)
    bar = nn.functional.one_hot(t // steps_per_bar, bars)  # (T, bars)
    return torch.cat([in_bar, bar], dim=-1).float()  # (T, S + bars)


class MultiTrackDecoder(nn.Module):
    """One LSTM per track, all driven by z (and, with ``position_input``, a clock).

    For track ``k``: every layer's initial ``(h, c) = tanh(W_k z + b_k)`` (split), the
    input at every one of the ``steps`` steps is z itself (concatenated with the step's
    :func:`step_clock` row when ``position_input``), and a linear "softmax" layer maps the
    top layer's output to the track's ``V_k`` logits.
    """

    def __init__(
        self,
        *,
        z_size: int,
        vocab_sizes: tuple[int, ...],
        hidden_size: int,
        num_layers: int = 3,
        steps: int,
        steps_per_bar: int = 16,
        position_input: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.vocab_sizes = tuple(int(v) for v in vocab_sizes)
        self.steps, self.z_size = int(steps), int(z_size)
        self.hidden_size, self.num_layers = int(hidden_size), int(num_layers)
        if position_input:
            self.register_buffer("clock", step_clock(self.steps, int(steps_per_bar)), persistent=False)
        else:
            self.clock = None
        in_size = self.z_size + (0 if self.clock is None else self.clock.shape[1])
        self.init_states = nn.ModuleList(nn.Linear(z_size, 2 * num_layers * hidden_size) for _ in self.vocab_sizes)
        self.lstms = nn.ModuleList(
            nn.LSTM(in_size, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
            for _ in self.vocab_sizes
        )
        self.outputs = nn.ModuleList(nn.Linear(hidden_size, v) for v in self.vocab_sizes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, Z) -> logits (B, T, sum V)."""
        b = z.shape[0]
        x = z.unsqueeze(1).expand(b, self.steps, self.z_size)  # (B, T, Z): z at every step
        if self.clock is not None:
            clock = self.clock.to(z.dtype).unsqueeze(0).expand(b, -1, -1)  # (B, T, P)
            x = torch.cat([x, clock], dim=-1)  # (B, T, Z + P)
        parts = []
        for init, lstm, out in zip(self.init_states, self.lstms, self.outputs):
            state = torch.tanh(init(z)).reshape(b, 2, self.num_layers, self.hidden_size)  # (B, 2, L, H)
            h0 = state[:, 0].transpose(0, 1).contiguous()  # (L, B, H)
            c0 = state[:, 1].transpose(0, 1).contiguous()  # (L, B, H)
            y, _ = lstm(x, (h0, c0))  # (B, T, H)
            parts.append(out(y))  # (B, T, V_k)
        return torch.cat(parts, dim=-1)  # (B, T, sum V)

    # The autoregressive decoders' interface, so evaluation code written for them works.
    def teacher(self, z: torch.Tensor, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Same as ``forward(z)``: targets are never fed (not autoregressive)."""
        return self(z)

    def unroll(
        self,
        z: torch.Tensor,
        batch: int | None = None,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        targets: torch.Tensor | None = None,
        feed_sample: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, T, sum V), tokens (B, T, K))``; ``targets``/``feed_sample`` are irrelevant here."""
        logits = self(z)
        return logits, tokens_from_logits(logits, self.vocab_sizes, temperature, generator)

    def eval_unroll(self, z: torch.Tensor, targets: torch.Tensor, *, temperature: float = 1.0,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """magenta's evaluation decoding; nothing is fed back here, so it is :meth:`unroll`."""
        return self.unroll(z, targets.shape[0], temperature=temperature, generator=generator)


class MusAE(MusicModel):
    learned_prior = True  # the Gaussian or flower prior the critic matched the codes to
    interpolation = "lerp"  # the MusAE paper: the flower prior is not a sphere

    def __init__(self, encoder: BidirectionalEncoder, decoder: MultiTrackDecoder, prior: nn.Module, critic: nn.Module,
                 stochastic: bool = False):
        super().__init__()
        self.encoder, self.decoder, self.prior, self.critic = encoder, decoder, prior, critic
        self.stochastic = bool(stochastic)
        self.vocab_sizes = tuple(decoder.vocab_sizes)
        self.steps = decoder.steps
        self.z_size = encoder.to_mu.out_features
        if decoder.z_size != self.z_size or prior.z_size != self.z_size:
            raise ValueError(
                f"z sizes differ: encoder {self.z_size}, decoder {decoder.z_size}, prior {prior.z_size}"
            )

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """Encoder + decoder parameters: what the autoencoder optimiser (and only it) must hold."""
        return list(self.encoder.parameters()) + list(self.decoder.parameters())

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, T, K) -> ``(z, 0)``: the interface's ``(mu, sigma)`` of a code used as it is."""
        z = self.code(tokens)
        return z, torch.zeros_like(z)

    def code(self, tokens: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """tokens (B, T, K) -> z (B, Z).

        Deterministic encoder (default): the mean head ``mu``. Stochastic encoder
        (``stochastic``, the paper and its reference code): in training mode
        ``z = mu + sigma * eps`` with the encoder's ``sigma`` head (``exp(2 pre)`` in the
        presets); in eval mode (codes for analysis, reconstruction) the mean ``mu``.
        """
        mu, sigma = self.encoder(one_hot(tokens, self.vocab_sizes))
        if not (self.stochastic and self.training):
            return mu
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + sigma * eps

    def forward(
        self,
        tokens: torch.Tensor,
        *,
        feed_sample: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor | None]:
        """Reconstruct ``tokens`` (B, T, K): ``logits`` (B, T, sum V), ``z`` (B, Z).

        ``mu``/``sigma`` are None (no KL term: the critic regularises), and ``feed_sample`` is
        accepted and ignored, so the VAE trainer's calls and ``elbo_loss`` still apply;
        ``generator`` draws the stochastic encoder's noise.
        """
        z = self.code(tokens, generator)  # (B, Z)
        return {"logits": self.decoder(z), "z": z, "mu": None, "sigma": None}

    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (B, Z) -> tokens (B, T, K)."""
        return tokens_from_logits(self.decoder(z), self.vocab_sizes, temperature, generator)

    def prior_sample(self, n: int, labels: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws of the prior (of the components in ``labels`` (n,), -1 = any) -> (n, Z)."""
        return self.prior.sample(n, labels, generator=generator)

    def loss(self, tokens: torch.Tensor, out: dict | None = None, *,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The autoencoder's reconstruction terms (the adversarial ones live in ``training.adversarial``):
        cross-entropy summed over each window, batch mean."""
        out = self(tokens, generator=generator) if out is None else out
        r, per_stream = reconstruction_loss(out["logits"].float(), tokens, self.vocab_sizes)  # (B,), (B, K)
        return {"loss": r.mean(), "r_loss": r.mean(), "per_stream_r_loss": per_stream.mean(0)}
