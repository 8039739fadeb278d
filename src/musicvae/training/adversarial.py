"""Adversarial training of MusAE: WGAN-GP critic updates, then one autoencoder update.

Place in the flow: token batch (+ style labels) -> :class:`AdversarialStep` ->
``MusAE`` (``models.musae``) updated in place -> dict of floats for the trainer's logs;
:func:`adversarial_beta` gives the adversarial weight for the step.

One :meth:`AdversarialStep.step`:

1. ``critic_steps`` critic updates. "Real" codes are prior draws (of each example's
   style component when labelled, ``-1`` = any), "fake" codes the encoder's, detached:
   ``L_C = critic(fake).mean() - critic(real).mean() + gp_weight * GP`` (WGAN-GP).
2. one autoencoder update: ``L_AE = s * mean_batch(sum_{steps, tracks} CE) + beta * (-critic(z).mean())``,
   ``s = reconstruction_scale`` (1: nats per window, as MusicVAE; ``1 / T``: CE averaged over
   steps and summed over tracks, the balance of MusAE's own code, where beta <= 1 matters).

Two optimisers, strictly separated (the public reference code put both losses into one
compiled model, where the adversarial terms of encoder and critic cancel; not here):
the critic optimiser holds exactly the critic's parameters and the autoencoder optimiser
encoder + decoder only (checked at construction). During the critic phase the codes are
computed without a graph, so no gradient reaches the encoder; during the autoencoder
phase the critic's parameters are frozen (``requires_grad=False``), so ``L_AE`` leaves
their ``.grad`` untouched, and gradients are cleared before each phase.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.modules.critic import gradient_penalty
from .losses import accuracy


def adversarial_beta(step: int, every: int = 10000, increment: float = 0.1, max_beta: float = 1.0) -> float:
    """The paper's annealing: ``min(max_beta, increment * floor(step / every))``, so 0, 0.1, ..., 1."""
    if step < 0 or every <= 0:
        raise ValueError(f"need step >= 0 and every > 0, got step={step}, every={every}")
    return float(min(max_beta, round(increment * (int(step) // int(every)), 12)))


def _param_ids(optimizer: torch.optim.Optimizer) -> set[int]:
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


def _score(critic: nn.Module, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Critic scores (B,), passing labels only to a label-conditioned critic."""
    if getattr(critic, "label_classes", 0) > 0:
        return critic(z, labels)
    return critic(z)


class AdversarialStep:
    """One MusAE training step with separate critic and autoencoder optimisers.

    ``critic_steps`` defaults to 5, WGAN-GP's ``n_critic``; ``gp_weight`` to its 10.
    ``grad_clip`` (> 0) clips the autoencoder's gradient norm before its update (the
    critic's is left to the gradient penalty).
    """

    def __init__(
        self,
        model: nn.Module,
        ae_optimizer: torch.optim.Optimizer,
        critic_optimizer: torch.optim.Optimizer,
        critic_steps: int = 5,
        gp_weight: float = 10.0,
        grad_clip: float | None = None,
        reconstruction_scale: float = 1.0,
    ):
        if critic_steps < 0:
            raise ValueError(f"critic_steps must be >= 0, got {critic_steps}")
        self.model, self.ae_optimizer, self.critic_optimizer = model, ae_optimizer, critic_optimizer
        self.critic_steps, self.gp_weight = int(critic_steps), float(gp_weight)
        self.grad_clip = float(grad_clip) if grad_clip else None
        self.reconstruction_scale = float(reconstruction_scale)
        critic_ids = {id(p) for p in model.critic.parameters()}
        ae_ids = {id(p) for p in model.encoder.parameters()} | {id(p) for p in model.decoder.parameters()}
        in_ae, in_critic = _param_ids(ae_optimizer), _param_ids(critic_optimizer)
        if in_ae & critic_ids:
            raise ValueError("the autoencoder optimiser must not hold critic parameters")
        if in_ae - ae_ids:
            raise ValueError("the autoencoder optimiser holds parameters outside the encoder and decoder")
        if in_critic - critic_ids:
            raise ValueError("the critic optimiser must hold only critic parameters")

    def critic_update(
        self, tokens: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, float]:
        """``critic_steps`` updates of the critic; encoder and decoder are not touched."""
        model, critic = self.model, self.model.critic
        with torch.no_grad():
            fake = model.code(tokens, generator)  # (B, Z), no graph: nothing flows to the encoder
        stats = {"critic_loss": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0}
        for _ in range(self.critic_steps):
            real = model.prior_sample(fake.shape[0], labels, generator).to(fake)  # (B, Z)
            self.critic_optimizer.zero_grad(set_to_none=True)
            w = _score(critic, real, labels).mean() - _score(critic, fake, labels).mean()
            gp = gradient_penalty(critic, real, fake, generator=generator,
                                  labels=labels if getattr(critic, "label_classes", 0) > 0 else None)
            loss = -w + self.gp_weight * gp
            loss.backward()
            self.critic_optimizer.step()
            stats = {"critic_loss": loss.item(), "wasserstein": w.item(), "gradient_penalty": gp.item()}
        self.critic_optimizer.zero_grad(set_to_none=True)
        return stats

    def autoencoder_update(
        self, tokens: torch.Tensor, labels: torch.Tensor | None = None, beta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> dict[str, float]:
        """One update of encoder + decoder on reconstruction + ``beta`` * adversarial loss; critic frozen."""
        model, critic = self.model, self.model.critic
        frozen = [p for p in critic.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            self.ae_optimizer.zero_grad(set_to_none=True)
            out = model(tokens, generator=generator)
            r_loss = model.loss(tokens, out)["r_loss"]
            adv = -_score(critic, out["z"], labels).mean()
            loss = self.reconstruction_scale * r_loss + (beta * adv if beta else 0.0)
            loss.backward()
            grad_norm = float("nan")
            if self.grad_clip is not None:
                params = [p for group in self.ae_optimizer.param_groups for p in group["params"]]
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.grad_clip))
            self.ae_optimizer.step()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        acc, _ = accuracy(out["logits"].detach(), tokens, model.vocab_sizes)
        stats = {"loss": loss.item(), "r_loss": r_loss.item(), "adversarial_loss": adv.item(),
                 "accuracy": acc.item(), "beta": float(beta)}
        if self.grad_clip is not None:
            stats["grad_norm"] = grad_norm
        return stats

    def step(
        self,
        tokens: torch.Tensor,
        labels: torch.Tensor | None = None,
        beta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> dict[str, float]:
        """Critic phase then autoencoder phase on the batch ``tokens`` (B, T, K); ``labels`` (B,) or None."""
        self.model.train()
        stats = self.critic_update(tokens, labels, generator)
        stats.update(self.autoencoder_update(tokens, labels, beta, generator))
        return stats
