"""The conductor: the top level of MusicVAE's hierarchical decoder.

Place in the flow: z -> :class:`Conductor` -> one embedding per segment (bar, or
2-bar segment for the 32-bar model) -> bottom decoders.

``tanh(Linear(z))`` initialises a (2-layer) LSTM that runs for U steps on zero
inputs: it is *not* autoregressive, so each embedding depends on z alone.
"""

from __future__ import annotations

import torch
from torch import nn


class Conductor(nn.Module):
    def __init__(self, *, z_size: int, hidden_size: int, num_layers: int, segments: int):
        super().__init__()
        self.hidden_size, self.num_layers, self.segments = hidden_size, num_layers, segments
        self.init_state = nn.Linear(z_size, 2 * num_layers * hidden_size)
        self.lstm = nn.LSTM(1, hidden_size, num_layers, batch_first=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, Z) -> embeddings (B, U, H)."""
        batch = z.shape[0]
        s = torch.tanh(self.init_state(z)).view(batch, 2, self.num_layers, self.hidden_size)
        s = s.permute(1, 2, 0, 3).contiguous()  # (2, L, B, H)
        zeros = z.new_zeros(batch, self.segments, 1)
        out, _ = self.lstm(zeros, (s[0], s[1]))  # (B, U, H)
        return out
