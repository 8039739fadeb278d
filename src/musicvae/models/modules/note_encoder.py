"""Encoder of the note-level VAEs (VRASH family): a bidirectional LSTM over variable-length tracks.

Place in the flow: embedded notes ``(B, T, E)`` + lengths ``(B,)`` (``models.vrash.NoteEmbedding``)
-> :class:`NoteEncoder` -> ``(mu, sigma)`` ``(B, Z)`` -> z for ``models.vrash.NoteVAE`` / ``VRASH``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` steps, padding stays at the end: (B, T, D) -> (B, T, D)."""
    t = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
    n = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    idx = torch.where(t < n, n - 1 - t, t)  # (B, T)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class NoteEncoder(nn.Module):
    """Bidirectional LSTM over each track's own length -> (mu, sigma).

    Same function as ``nn.LSTM(bidirectional=True)`` on a packed sequence, but each direction
    is run on the padded batch (the backward one on the tracks reversed within their lengths):
    packing made the encoder ~7x slower on CPU.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, z_size: int, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.LSTM(input_size if i == 0 else 2 * hidden_size, hidden_size, batch_first=True) for _ in range(2))
            for i in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.to_mu = nn.Linear(2 * hidden_size, z_size)
        self.to_sigma = nn.Linear(2 * hidden_size, z_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, E), lengths (B,) -> mu, sigma (B, Z); softplus sigma (+1e-5 keeps log finite)."""
        rows = torch.arange(x.shape[0], device=x.device)
        last_step = lengths.to(x.device).long() - 1  # (B,)
        h = x
        for i, (fwd, bwd) in enumerate(self.layers):
            if i:
                h = self.dropout(h)
            out_f, _ = fwd(h)  # (B, T, H)
            out_b, _ = bwd(reverse_within(h, lengths))  # (B, T, H), in reversed time
            last = torch.cat([out_f[rows, last_step], out_b[rows, last_step]], dim=-1)  # (B, 2H)
            h = torch.cat([out_f, reverse_within(out_b, lengths)], dim=-1)  # (B, T, 2H)
        return self.to_mu(last), F.softplus(self.to_sigma(last)) + 1e-5
