"""MCVAE: a per-bar MusicVAE plus a mixture-density LSTM "composer" over the bars' latent codes.

Place in the flow:
* training: songs as bars -> bar VAE encoder -> one mu per bar (``training.composer.encode_songs``) ->
  :class:`Composer` trained by the NLL of z_{n+1} given z_1..z_n (``training.composer``);
* composition: seed bars (or one prior draw) -> bar codes -> :meth:`Composer.continue_`
  predicts the next codes one bar at a time -> the bar VAE's decoder turns each code into a
  16-step bar -> :meth:`MCVAE.compose` returns the concatenated tokens (B, n_bars * 16, K).

The bar VAE is an ordinary :class:`~musicvae.models.musicvae.MusicVAE` built for 1-bar windows
(a flat decoder over the 130 melody classes; its all-zero first input plays the role of the
bar representation's start token 130). The composer never sees tokens, only codes, so it can
be trained, saved and swapped independently, provided it was trained on the codes of *this*
bar VAE: :func:`bar_vae_fingerprint` identifies the VAE's weights for that check.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from .interface import MusicModel
from .modules.encoder import one_hot
from .modules.mdn import MDNHead, MDNParams, mdn_nll, mdn_sample
from .musicvae import MusicVAE

State = tuple[torch.Tensor, torch.Tensor]
COMPOSER_FORMAT = "musicvae-composer"  # composer.json of the first composer folders (generation.compose reads them)
COMPOSER_VERSION = 1


class Composer(nn.Module):
    """LSTM over bar codes whose output parameterises a Gaussian mixture over the next code."""

    def __init__(self, *, z_size: int, hidden_size: int = 512, num_layers: int = 2, components: int = 10,
                 dropout: float = 0.0):
        super().__init__()
        self.z_size, self.hidden_size, self.num_layers = int(z_size), int(hidden_size), int(num_layers)
        self.components = int(components)
        self.lstm = nn.LSTM(z_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = MDNHead(hidden_size, z_size, components)

    def hyperparameters(self) -> dict:
        """The constructor's arguments (dropout aside), as stored next to the weights."""
        return {"z_size": self.z_size, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "components": self.components}

    def run(self, z_seq: torch.Tensor, state: State | None = None) -> tuple[MDNParams, State]:
        """z_seq (B, N, Z) -> (mixtures (B, N, ...) where step t predicts z_{t+1}, final LSTM state)."""
        if z_seq.dim() != 3 or z_seq.shape[-1] != self.z_size:
            raise ValueError(f"expected bar codes (B, N, {self.z_size}), got {tuple(z_seq.shape)}")
        out, state = self.lstm(z_seq, state)  # (B, N, H)
        return self.head(out), state

    def forward(self, z_seq: torch.Tensor) -> MDNParams:
        """z_seq (B, N, Z) -> the mixture over the next code after every prefix: logits (B, N, M), ..."""
        return self.run(z_seq)[0]

    def step_nll(self, z_seq: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step NLL of z_{t+1} given z_1..z_t and the mask of valid steps, each (B, N - 1).

        ``lengths`` (B,) gives each song's number of bars (padding after it is ignored);
        ``None`` means every song fills the N bars.
        """
        B, N, _ = z_seq.shape
        if N < 2:
            raise ValueError(f"need at least 2 bars per sequence to predict the next one, got {N}")
        params = self(z_seq[:, :-1])  # (B, N-1, ...)
        nll = mdn_nll(params, z_seq[:, 1:])  # (B, N-1)
        if lengths is None:
            mask = torch.ones_like(nll, dtype=torch.bool)
        else:
            lengths = torch.as_tensor(lengths, device=z_seq.device).long()
            if lengths.shape != (B,):
                raise ValueError(f"lengths must have shape ({B},), got {tuple(lengths.shape)}")
            steps = torch.arange(1, N, device=z_seq.device)  # (N-1,): index of the predicted bar
            mask = steps.unsqueeze(0) < lengths.unsqueeze(1)  # (B, N-1)
        return nll, mask

    def loss(self, z_seq: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Mean NLL (nats per predicted bar) over the valid steps of a padded batch (B, N, Z)."""
        nll, mask = self.step_nll(z_seq, lengths)
        count = mask.sum()
        if int(count) == 0:
            raise ValueError("no valid step in the batch: every sequence is shorter than 2 bars")
        return (nll * mask).sum() / count

    @torch.no_grad()
    def continue_(
        self,
        z_prefix: torch.Tensor,
        bars: int,
        mixture_temperature: float = 1.0,
        sigma_temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Predict ``bars`` codes after ``z_prefix`` (B, P, Z), P >= 1, one at a time -> (B, bars, Z).

        Each predicted code is drawn from the mixture (see ``mdn_sample``) and fed back.
        """
        z_prefix = check_seed_codes(z_prefix, self.z_size)
        B = z_prefix.shape[0]
        if bars < 0:
            raise ValueError(f"bars must be >= 0, got {bars}")
        if bars == 0:
            return z_prefix.new_zeros(B, 0, self.z_size)
        params, state = self.run(z_prefix)  # the mixture after the last seed bar
        nxt = params.at((slice(None), -1))  # (B, ...)
        out = []
        for i in range(bars):
            z = mdn_sample(nxt, mixture_temperature, sigma_temperature, generator)  # (B, Z)
            out.append(z)
            if i + 1 < bars:
                params, state = self.run(z.unsqueeze(1), state)
                nxt = params.at((slice(None), 0))
        return torch.stack(out, dim=1)  # (B, bars, Z)


def check_seed_codes(seed_codes: torch.Tensor, z_size: int) -> torch.Tensor:
    """Validate seed codes, (P, Z) or (B, P, Z) -> (B, P, Z); a seed of no bars is an error."""
    if seed_codes.dim() == 2:
        seed_codes = seed_codes.unsqueeze(0)
    if seed_codes.dim() != 3 or seed_codes.shape[-1] != z_size:
        raise ValueError(f"seed codes must be (bars, {z_size}) or (batch, bars, {z_size}), got {tuple(seed_codes.shape)}")
    if seed_codes.shape[1] < 1:
        raise ValueError("the seed holds no bar: give at least one full bar (16 steps) to continue from")
    if seed_codes.shape[0] < 1:
        raise ValueError("empty batch of seeds")
    return seed_codes


def bar_vae_fingerprint(model: nn.Module) -> str:
    """A short hash of a model's weights: names, shapes and values rounded to float16.

    Rounding to float16 first makes the fp32 weights of a training checkpoint and the fp16
    weights of an exported copy of the same model give the same fingerprint.
    """
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float16)
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(np.ascontiguousarray(t.numpy()).tobytes())
    return h.hexdigest()[:16]


class MCVAE(MusicModel):
    """A 1-bar :class:`MusicVAE` and a :class:`Composer` over its codes."""

    def __init__(self, bar_vae: MusicVAE, composer: Composer, steps_per_bar: int = 16):
        super().__init__()
        if not hasattr(bar_vae, "encoder") or getattr(bar_vae, "z_size", 0) <= 0:
            raise ValueError("the bar model must be a VAE with a latent code (a MusicVAE), not a language model")
        if int(bar_vae.steps) != steps_per_bar:
            raise ValueError(
                f"the bar VAE reads {bar_vae.steps}-step windows; MCVAE needs a 1-bar ({steps_per_bar}-step) VAE "
                f"(train it on `prepare --kind melody --bars 1` data)"
            )
        if composer.z_size != bar_vae.z_size:
            raise ValueError(
                f"the composer predicts {composer.z_size}-dim codes but the bar VAE's latent has {bar_vae.z_size} "
                f"dims: this composer was trained for another bar VAE"
            )
        self.bar_vae, self.composer = bar_vae, composer
        self.steps_per_bar = int(steps_per_bar)
        self.z_size = int(bar_vae.z_size)
        self.vocab_sizes = tuple(bar_vae.vocab_sizes)

    def _device(self) -> torch.device:
        return next(self.bar_vae.parameters()).device

    @torch.no_grad()
    def encode_bars(self, tokens: torch.Tensor) -> torch.Tensor:
        """Bars -> posterior means, one per bar: (B, n*16, K) or (B, n, 16, K) -> (B, n, Z)."""
        return self.encode(tokens)[0]

    @torch.no_grad()
    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bars -> ``(mu, sigma)`` of each bar: (B, n*16, K) or (B, n, 16, K) -> (B, n, Z) each."""
        S, K = self.steps_per_bar, len(self.vocab_sizes)
        if tokens.dim() == 3:
            if tokens.shape[1] % S or tokens.shape[1] == 0:
                raise ValueError(f"{tokens.shape[1]} steps are not a whole number (>= 1) of {S}-step bars")
            tokens = tokens.reshape(tokens.shape[0], -1, S, tokens.shape[-1])
        if tokens.dim() != 4 or tokens.shape[2:] != (S, K):
            raise ValueError(f"expected bars (B, n, {S}, {K}) or (B, n*{S}, {K}), got {tuple(tokens.shape)}")
        B, n = tokens.shape[:2]
        for k, v in enumerate(self.vocab_sizes):
            part = tokens[..., k]
            if part.numel() and (int(part.min()) < 0 or int(part.max()) >= v):
                raise ValueError(f"stream {k} holds tokens outside 0..{v - 1} (the start token is never encoded)")
        mu, sigma = self.bar_vae.encoder(one_hot(tokens.reshape(B * n, S, K).to(self._device()), self.vocab_sizes))
        return mu.reshape(B, n, self.z_size), sigma.reshape(B, n, self.z_size)  # (B, n, Z)

    def prior_sample(self, n: int, labels: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, 1, Z)``: a first bar's code from the bar VAE's prior N(0, I) (the composer continues it)."""
        if labels is not None:
            raise ValueError("MCVAE's prior has no style labels")
        return torch.randn(n, 1, self.z_size, generator=generator, device=self._device())

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 0.5, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None, bars: int = 16) -> torch.Tensor:
        """``n`` compositions of ``bars`` bars from a prior draw -> tokens (n, bars*16, K)."""
        seed = self.prior_sample(n, labels, generator)  # (n, 1, Z)
        return self.compose(bars, seed, temperature=temperature, generator=generator)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], **weights) -> dict[str, torch.Tensor]:
        """The composer's NLL of each next bar's code: ``batch`` = (codes (B, L, Z), lengths (B,))."""
        nll = self.composer.loss(*batch)
        return {"loss": nll, "nll": nll}

    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes (B, n, Z) -> tokens (B, n*16, K), each bar decoded on its own from its code."""
        B, n, Z = z.shape
        tokens = self.bar_vae.decode(z.reshape(B * n, Z), temperature, generator)  # (B*n, 16, K)
        return tokens.reshape(B, n * self.steps_per_bar, tokens.shape[-1])

    decode_bars = decode

    @torch.no_grad()
    def compose_latents(
        self,
        n_bars: int,
        seed_codes: torch.Tensor | None = None,
        *,
        batch: int = 1,
        mixture_temperature: float = 1.0,
        sigma_temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n_bars`` codes (B, n_bars, Z): the seed's codes first, then the composer's continuation.

        Without a seed the first code is a prior draw ``N(0, I)`` (``batch`` of them).
        """
        if n_bars < 1:
            raise ValueError(f"n_bars must be >= 1, got {n_bars}")
        dev = self._device()
        if seed_codes is None:
            seed = self.prior_sample(batch, generator=generator)
        else:
            seed = check_seed_codes(seed_codes, self.z_size).to(dev)
        if seed.shape[1] > n_bars:
            raise ValueError(f"the seed holds {seed.shape[1]} bars, more than the {n_bars} to compose")
        rest = self.composer.continue_(seed, n_bars - seed.shape[1], mixture_temperature, sigma_temperature, generator)
        return torch.cat([seed, rest], dim=1)  # (B, n_bars, Z)

    @torch.no_grad()
    def compose(
        self,
        n_bars: int,
        seed_codes: torch.Tensor | None = None,
        *,
        temperature: float = 0.5,
        mixture_temperature: float = 1.0,
        sigma_temperature: float = 1.0,
        batch: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Compose ``n_bars`` bars (seed bars included, re-decoded from their codes) -> tokens (B, n_bars*16, K).

        ``temperature`` is the bar decoder's sampling temperature (0 = argmax);
        ``mixture_temperature`` / ``sigma_temperature`` steer the composer (see ``mdn_sample``).
        """
        z = self.compose_latents(n_bars, seed_codes, batch=batch, mixture_temperature=mixture_temperature,
                                 sigma_temperature=sigma_temperature, generator=generator)
        return self.decode(z, temperature, generator)
