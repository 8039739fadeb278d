"""Encoder of the recurrent VAEs: a bidirectional LSTM reading the whole window.

Place in the flow: token grid -> one-hot -> :class:`BidirectionalEncoder` -> (mu, sigma)
-> reparameterised z -> decoders.

The final states of both directions of the top layer are concatenated and mapped
by two linear layers to mu and sigma: ``sigma = softplus(.)`` as in the ICML paper,
or ``sigma = exp(2 * .)`` (``sigma_activation="exp"``), the workshop paper's form.
``state_norm`` layer-normalises the concatenated final states first (MusAE presets): at
initialisation they barely differ between windows (folk 2-bar melodies, 2 x 256 units: the
codes' spread is ~0.002), which a VAE's sampling noise hides but which leaves a deterministic
adversarial autoencoder's decoder nothing to learn from, so its codes collapse to a constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def one_hot(tokens: torch.Tensor, vocab_sizes: tuple[int, ...]) -> torch.Tensor:
    """``(B, T, K)`` int tokens -> ``(B, T, sum(vocab_sizes))`` float concatenated one-hot."""
    parts = [F.one_hot(tokens[..., k].long(), v) for k, v in enumerate(vocab_sizes)]
    return torch.cat(parts, dim=-1).float()


class BidirectionalEncoder(nn.Module):
    def __init__(
        self,
        *,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        z_size: int,
        sigma_activation: str = "softplus",
        state_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        if sigma_activation not in ("softplus", "exp"):
            raise ValueError(f"sigma_activation must be 'softplus' or 'exp', not {sigma_activation!r}")
        self.sigma_activation = sigma_activation
        self.lstm = nn.LSTM(
            input_size, hidden_size, num_layers, batch_first=True, bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.norm = nn.LayerNorm(2 * hidden_size) if state_norm else None
        self.to_mu = nn.Linear(2 * hidden_size, z_size)
        self.to_sigma = nn.Linear(2 * hidden_size, z_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, D) one-hot -> ``(mu, sigma)``, each (B, Z)."""
        _, (h, _) = self.lstm(x)  # h: (layers * 2, B, H)
        last = torch.cat([h[-2], h[-1]], dim=-1)  # (B, 2H): top layer, forward and backward
        if self.norm is not None:
            last = self.norm(last)  # (B, 2H), zero mean and unit variance per window
        mu = self.to_mu(last)
        pre = self.to_sigma(last)
        sigma = F.softplus(pre) if self.sigma_activation == "softplus" else torch.exp(2.0 * pre)
        return mu, sigma
