"""The latent critic of MusAE (a WGAN-GP critic on codes) and its gradient penalty.

Place in the flow: prior samples ("real") and encoder codes ("fake"), each (B, Z) ->
:class:`Critic` -> one score per code; ``training.adversarial`` trains it with
``critic(fake).mean() - critic(real).mean() + gp_weight * gradient_penalty(...)`` and
the encoder against it.

Optionally label-conditioned (``label_classes > 0``): the critic then reads
``[z, onehot(label + 1)]`` with ``label_classes + 1`` slots, slot 0 meaning "unlabelled"
(label ``-1``), as in the supervised adversarial autoencoder of Makhzani et al. that
MusAE builds on; without the label the critic only sees the marginal, which cannot tie
an example of style ``l`` to petal ``l`` of the flower prior.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Critic(nn.Module):
    """MLP ``Z (+ labels) -> hidden -> ... -> 1`` with ``layers`` tanh hidden layers, linear scalar output."""

    def __init__(self, z_size: int, hidden: int = 256, layers: int = 2, label_classes: int = 0):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.z_size, self.label_classes = int(z_size), int(label_classes)
        width = z_size + (label_classes + 1 if label_classes > 0 else 0)
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.Tanh()]
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z`` (B, Z), ``labels`` (B,) long or None -> scores (B,)."""
        if self.label_classes > 0:
            if labels is None:
                labels = torch.full((z.shape[0],), -1, dtype=torch.long, device=z.device)
            onehot = F.one_hot(labels.long() + 1, self.label_classes + 1).to(z.dtype)  # (B, L + 1)
            z = torch.cat([z, onehot], dim=-1)  # (B, Z + L + 1)
        return self.net(z).squeeze(-1)  # (B,)


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al., 2017), a scalar.

    ``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U(0, 1)`` per example;
    ``mean((||grad_x critic(x_hat)||_2 - 1)^2)``. The gradient graph is kept
    (``create_graph=True``) so the penalty trains the critic. ``real``/``fake`` (B, Z) are
    treated as constants; ``labels`` (B,) go to a label-conditioned critic unchanged.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    eps = torch.rand(real.shape[0], 1, generator=generator, device=real.device, dtype=real.dtype)  # (B, 1)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)  # (B, Z)
    scores = critic(x_hat) if labels is None else critic(x_hat, labels)  # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, Z)
    return (grad.norm(2, dim=-1) - 1.0).pow(2).mean()
