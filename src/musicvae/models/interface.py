"""The one interface every model family implements: :class:`MusicModel`.

Place in the flow: ``models.builders`` builds one of these from a config; ``training`` calls
:meth:`~MusicModel.loss` (through its family's plug-in), ``generation`` calls
:meth:`~MusicModel.encode`, :meth:`~MusicModel.decode`, :meth:`~MusicModel.prior_sample` and
:meth:`~MusicModel.sample`, and never needs to know which family it holds.

=================  ========================  ========================  ======================  ==================
method             MusicVAE / MusicLM        MusAE                     note models (VRASH...)  MCVAE
=================  ========================  ========================  ======================  ==================
encode(x)          (mu, sigma) (B, Z)        (z, 0): deterministic     (mu, sigma) of tracks   per bar (B, n, Z)
decode(z, T, g)    tokens (B, T, K)          tokens, one draw per step  event lists             tokens (B, n*16, K)
prior_sample(n)    N(0, I)                   its (flower) prior        N(0, I)                 first bar N(0, I)
loss(batch, ...)   ELBO terms (dict)         reconstruction terms      ELBO per note terms     composer NLL
=================  ========================  ========================  ======================  ==================

``z_size == 0`` means no latent space (the language models): ``encode``/``decode``/
``prior_sample`` raise, ``sample`` still works.
"""

from __future__ import annotations

import torch
from torch import nn


class NoLatentError(TypeError):
    """Asked a model without a latent space (a language model) for codes."""


class MusicModel(nn.Module):
    """Base of every model family (see the module's table)."""

    z_size: int = 0  # 0: no latent space
    learned_prior = False  # True: prior_sample draws from a trained prior (MusAE), not N(0, I)
    interpolation = "slerp"  # how codes are best interpolated (MusicVAE's paper: slerp)

    @property
    def has_latent(self) -> bool:
        return int(self.z_size) > 0

    def _no_latent(self, what: str) -> NoLatentError:
        return NoLatentError(f"{type(self).__name__} has no latent space; {what} needs a latent model")

    def encode(self, x):
        """Inputs -> ``(mu, sigma)`` of the posterior (``sigma == 0`` for a deterministic encoder)."""
        raise self._no_latent("encoding")

    def decode(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None):
        """Codes -> sampled outputs (temperature 0 = argmax), free running."""
        raise self._no_latent("decoding")

    def prior_sample(self, n: int, labels: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, Z)`` draws from the model's prior; ``labels`` (n,) pick mixture components where it has them."""
        if not self.has_latent:
            raise self._no_latent("a prior draw")
        if labels is not None:
            raise ValueError(f"{type(self).__name__}'s prior has no style labels")
        w = next(self.parameters())
        return torch.randn(n, self.z_size, generator=generator, device=w.device, dtype=w.dtype)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None):
        """``n`` new outputs: prior draws decoded (one generator for both, in that order)."""
        return self.decode(self.prior_sample(n, labels, generator), temperature, generator)

    def loss(self, batch, **weights) -> dict[str, torch.Tensor]:
        """The family's training terms on ``batch``: a dict whose ``"loss"`` is minimised."""
        raise NotImplementedError(f"{type(self).__name__} defines no loss")
