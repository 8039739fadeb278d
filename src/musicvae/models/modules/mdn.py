"""Mixture-density head: a hidden state -> a mixture of diagonal Gaussians over a latent code.

Place in the flow: the MCVAE composer's LSTM output ``h`` (..., H) -> :class:`MDNHead` ->
:class:`MDNParams` (mixing logits, means, log-sigmas) -> :func:`mdn_nll` (training, the
negative log-likelihood of the next bar's latent) or :func:`mdn_sample` (composition).

With ``M`` components over ``Z`` dimensions the density of a code ``z`` is::

    p(z) = sum_m pi_m prod_d N(z_d; mu_md, sigma_md^2),   pi = softmax(logits)

and :func:`mdn_nll` computes ``-log p(z)`` exactly with a log-sum-exp over components.

Sampling (as sketch-rnn, with the two temperatures kept apart):

* the mixture temperature ``tau_m`` divides the logits, ``pi = softmax(logits / tau_m)``;
  ``tau_m -> 0`` picks the most likely component (argmax), ``tau_m = 1`` the model's mixture;
* the sigma temperature ``tau_s`` scales the standard deviations,
  ``z = mu_k + tau_s * sigma_k * eps``; ``tau_s = 0`` returns the chosen component's mean.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


class MDNParams(NamedTuple):
    """Mixture parameters; any leading batch shape ``...``."""

    logits: torch.Tensor  # (..., M) unnormalised mixing weights
    means: torch.Tensor  # (..., M, Z)
    log_sigmas: torch.Tensor  # (..., M, Z) natural log of the standard deviations

    @property
    def components(self) -> int:
        return int(self.logits.shape[-1])

    @property
    def z_size(self) -> int:
        return int(self.means.shape[-1])

    def at(self, index) -> "MDNParams":
        """Index the leading dimensions of all three tensors alike, e.g. ``params.at((slice(None), -1))``."""
        return MDNParams(self.logits[index], self.means[index], self.log_sigmas[index])


class MDNHead(nn.Module):
    """``Linear(H -> M * (1 + 2 Z))`` split into logits, means and log-sigmas.

    The log-sigmas get a smooth lower bound, ``min_log_sigma + softplus(raw - min_log_sigma)``
    (about the identity well above the bound): latent dimensions that the bar VAE never uses
    hold near-constant codes, and without a floor the likelihood of those would let sigma
    (and the loss) run off to -infinity.
    """

    def __init__(self, hidden_size: int, z_size: int, components: int = 10, min_log_sigma: float = -7.0):
        super().__init__()
        if components < 1 or z_size < 1:
            raise ValueError(f"components and z_size must be >= 1, got {components} and {z_size}")
        self.hidden_size, self.z_size, self.components = int(hidden_size), int(z_size), int(components)
        self.min_log_sigma = float(min_log_sigma)
        self.proj = nn.Linear(hidden_size, components * (1 + 2 * z_size))

    def forward(self, h: torch.Tensor) -> MDNParams:
        """``h`` (..., H) -> :class:`MDNParams` with logits (..., M), means and log-sigmas (..., M, Z)."""
        M, Z = self.components, self.z_size
        out = self.proj(h)  # (..., M * (1 + 2Z))
        logits, rest = out.split([M, 2 * M * Z], dim=-1)
        rest = rest.reshape(*h.shape[:-1], M, 2 * Z)  # (..., M, 2Z)
        means, raw = rest.split([Z, Z], dim=-1)  # (..., M, Z) each
        log_sigmas = self.min_log_sigma + F.softplus(raw - self.min_log_sigma)
        return MDNParams(logits, means, log_sigmas)


def _check(params: MDNParams, target: torch.Tensor) -> None:
    lead = params.logits.shape[:-1]
    if params.means.shape != (*lead, params.components, params.means.shape[-1]) or params.log_sigmas.shape != params.means.shape:
        raise ValueError(
            f"inconsistent mixture shapes: logits {tuple(params.logits.shape)}, means {tuple(params.means.shape)}, "
            f"log_sigmas {tuple(params.log_sigmas.shape)}"
        )
    if target.shape != (*lead, params.z_size):
        raise ValueError(f"target shape {tuple(target.shape)} != {(*lead, params.z_size)} expected by the mixture")


def mdn_log_prob(params: MDNParams, target: torch.Tensor) -> torch.Tensor:
    """``log p(target)`` under the mixture, per example: target (..., Z) -> (...)."""
    _check(params, target)
    z = target.unsqueeze(-2)  # (..., 1, Z)
    inv_sigma = torch.exp(-params.log_sigmas)  # (..., M, Z)
    # log N(z; mu, sigma^2) summed over the Z independent dimensions
    comp = -0.5 * ((z - params.means) * inv_sigma).pow(2) - params.log_sigmas - 0.5 * LOG_2PI  # (..., M, Z)
    comp = comp.sum(dim=-1)  # (..., M)
    log_pi = F.log_softmax(params.logits, dim=-1)  # (..., M)
    return torch.logsumexp(log_pi + comp, dim=-1)  # (...)


def mdn_nll(params: MDNParams, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood in nats, per example: target (..., Z) -> (...)."""
    return -mdn_log_prob(params, target)


def mdn_sample(
    params: MDNParams,
    mixture_temperature: float = 1.0,
    sigma_temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One draw per example: (...) mixtures -> codes (..., Z).

    ``mixture_temperature <= 1e-6`` takes the argmax component; ``sigma_temperature = 0``
    returns the chosen component's mean (see the module docstring).
    """
    if mixture_temperature < 0 or sigma_temperature < 0:
        raise ValueError(f"temperatures must be >= 0, got {mixture_temperature} and {sigma_temperature}")
    lead = params.logits.shape[:-1]
    M, Z = params.components, params.z_size
    logits = params.logits.reshape(-1, M).float()  # (N, M)
    if mixture_temperature <= 1e-6:
        k = logits.argmax(dim=-1)  # (N,)
    else:
        probs = F.softmax(logits / mixture_temperature, dim=-1)  # (N, M)
        k = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (N,)
    idx = k.view(-1, 1, 1).expand(-1, 1, Z)  # (N, 1, Z)
    mean = params.means.reshape(-1, M, Z).gather(1, idx).squeeze(1)  # (N, Z)
    if sigma_temperature == 0:
        return mean.reshape(*lead, Z)
    sigma = params.log_sigmas.reshape(-1, M, Z).gather(1, idx).squeeze(1).exp()  # (N, Z)
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return (mean + sigma_temperature * sigma * eps).reshape(*lead, Z)
