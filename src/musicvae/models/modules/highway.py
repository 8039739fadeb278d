"""Recurrent highway layers (Zilly et al., ICML 2017), a drop-in for ``nn.LSTM`` in VRASH's decoder.

Place in the flow: ``models.vrash`` builds its decoder from this module when
``notes.decoder_cell = "highway"``; it reads ``(B, T, D)`` inputs and returns ``(B, T, H)`` outputs
and its state, as ``nn.LSTM(batch_first=True)`` does.

VRASH (Tikhonov & Yamshchikov 2017) describes its decoder as "a recurrent highway gated network"
and gives no depth, width or gate details; this follows Zilly et al.: within each time step,
``depth`` micro-layers update the state ``s``,

    h_l = tanh(W_H x [l = 1] + R_H,l s_{l-1} + b_H,l)
    t_l = sigmoid(W_T x [l = 1] + R_T,l s_{l-1} + b_T,l)
    s_l = h_l * t_l + s_{l-1} * (1 - t_l)            (carry gate coupled: c = 1 - t)

with ``s_0`` the previous step's ``s_depth`` and the input read at the first micro-layer only.
The transform-gate bias starts at ``gate_bias`` (-2, Zilly's choice: carry the state at first).
``num_layers`` such layers stack; the state is a 1-tuple ``(s,)`` with ``s`` of shape ``(L, B, H)``
(``state_parts = 1``; the LSTM's is ``(h, c)``).
"""

from __future__ import annotations

import torch
from torch import nn


class RecurrentHighway(nn.Module):
    """``num_layers`` recurrent highway layers of recurrence depth ``depth``, batch first."""

    state_parts = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, depth: int = 3,
                 dropout: float = 0.0, gate_bias: float = -2.0):
        super().__init__()
        if num_layers < 1 or depth < 1:
            raise ValueError(f"num_layers and depth must be >= 1, not {num_layers}, {depth}")
        self.input_size, self.hidden_size, self.num_layers, self.depth = input_size, hidden_size, num_layers, depth
        self.inputs = nn.ModuleList(nn.Linear(input_size if i == 0 else hidden_size, 2 * hidden_size, bias=False)
                                    for i in range(num_layers))
        self.recurrent = nn.ModuleList(nn.Linear(hidden_size, 2 * hidden_size) for _ in range(num_layers * depth))
        with torch.no_grad():
            for lin in self.recurrent:
                lin.bias[hidden_size:].fill_(gate_bias)
        self.drop = nn.Dropout(dropout) if dropout and num_layers > 1 else nn.Identity()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        """x (B, T, D), state ``(s,)`` with s (L, B, H) or None (zeros) -> out (B, T, H), ``(s,)``."""
        b, t = x.shape[:2]
        s_all = x.new_zeros(self.num_layers, b, self.hidden_size) if state is None else state[0]
        finals, layer_in = [], x
        for layer in range(self.num_layers):
            projected = self.inputs[layer](layer_in)  # (B, T, 2H): the input enters at micro-layer 1
            s, outs = s_all[layer], []
            for step in range(t):
                for micro in range(self.depth):
                    pre = self.recurrent[layer * self.depth + micro](s)
                    if micro == 0:
                        pre = pre + projected[:, step]
                    h, gate = torch.tanh(pre[:, :self.hidden_size]), torch.sigmoid(pre[:, self.hidden_size:])
                    s = h * gate + s * (1.0 - gate)
                outs.append(s)
            out = torch.stack(outs, dim=1)  # (B, T, H)
            finals.append(s)
            layer_in = self.drop(out) if layer + 1 < self.num_layers else out
        return layer_in, (torch.stack(finals),)
