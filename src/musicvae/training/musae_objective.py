"""MusAE inside the :class:`~musicvae.training.trainer.Trainer`: its optimisers, train step and evaluation.

Place in the flow: ``Trainer`` (batches, schedules, checkpoints, logging) ->
:class:`MusAEObjective` -> ``training.adversarial.AdversarialStep`` on ``models.musae.MusAE``;
the trainer saves :attr:`MusAEObjective.optimizer` like any optimiser.

* Two optimisers, never mixed: Adam on encoder + decoder (learning rate schedule of the
  VAEs) and Adam on the critic (``critic_learning_rate``, betas ``(0, 0.9)`` as WGAN-GP).
  :class:`OptimizerPair` saves and restores both as one state (``optimizer.safetensors``
  + ``optimizer.json`` of the checkpoint), so ``--resume`` continues exactly.
* Style labels (ids into the dataset's label names) become flower petals through
  :func:`~musicvae.models.modules.priors.label_components`; ``-1`` (unlabelled) stays ``-1``.
* Evaluation: the decoder is not autoregressive, so teacher-forced and free-running
  argmax decoding coincide (``tf_accuracy == argmax_accuracy``), and so does magenta's
  ``sampled_accuracy`` (argmax while fed its own samples: nothing is fed back);
  ``free_running_accuracy`` scores tokens drawn at temperature 1. Per-track (and per-bar) accuracy, the critic's Wasserstein
  estimate on held-out codes and, with labels and the flower prior, the nearest-component
  accuracy: the share of labelled windows whose code lies nearest (highest prior density,
  :meth:`~musicvae.models.modules.priors.FlowerPrior.nearest_component`) to one of its labels' petals.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..config import Config
from ..models.modules.priors import label_components
from ..models.musae import MusAE, tokens_from_logits
from .adversarial import AdversarialStep, _score
from .losses import accuracy, predicted_tokens, reconstruction_loss, segment_accuracy, token_accuracy


class OptimizerPair:
    """The autoencoder's and the critic's optimisers, checkpointed as one ``{"autoencoder", "critic"}`` state."""

    def __init__(self, autoencoder: torch.optim.Optimizer, critic: torch.optim.Optimizer):
        self.autoencoder, self.critic = autoencoder, critic

    @property
    def param_groups(self) -> list[dict]:
        """The autoencoder's groups (what the learning-rate schedule sets)."""
        return self.autoencoder.param_groups

    def state_dict(self) -> dict[str, Any]:
        return {"autoencoder": self.autoencoder.state_dict(), "critic": self.critic.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"autoencoder", "critic"}:
            raise ValueError("expected the states of both the autoencoder and the critic optimiser")
        self.autoencoder.load_state_dict(state["autoencoder"])
        self.critic.load_state_dict(state["critic"])


def petal_table(label_names: list[str], config: Config) -> dict[str, int]:
    """Label name -> flower petal (empty unless the prior is the flower and there are labels)."""
    if config.model.prior != "flower" or not label_names:
        return {}
    return label_components(label_names, config.model.components)


class MusAEObjective:
    """Adversarial training and evaluation of a :class:`MusAE` for the trainer."""

    def __init__(self, model: MusAE, config: Config, label_names: list[str], stream_names: tuple[str, ...]):
        tc = config.train
        self.model, self.config = model, config
        self.label_names, self.stream_names = list(label_names), tuple(stream_names)
        self.optimizer = OptimizerPair(
            torch.optim.Adam(model.autoencoder_parameters(), lr=tc.learning_rate),
            torch.optim.Adam(model.critic.parameters(), lr=tc.critic_learning_rate, betas=(0.0, 0.9)),
        )
        scale = 1.0 / model.steps if tc.reconstruction == "per_step" else 1.0
        self.step_fn = AdversarialStep(model, self.optimizer.autoencoder, self.optimizer.critic,
                                       critic_steps=tc.critic_steps, gp_weight=tc.gp_weight, grad_clip=tc.grad_clip,
                                       reconstruction_scale=scale)
        self.petals = petal_table(self.label_names, config)
        # label id -> petal, with a trailing -1 so that id -1 (unlabelled) indexes to -1
        table = [self.petals[n] for n in self.label_names] if self.petals else []
        self._table = np.array(table + [-1], dtype=np.int64)

    def to_petals(self, label_ids: np.ndarray, device: torch.device) -> torch.Tensor | None:
        """Label ids ``(B,)`` (``-1`` = none) -> petal ids ``(B,)`` on ``device``; None without a label-driven prior."""
        if not self.petals:
            return None
        return torch.as_tensor(self._table[np.asarray(label_ids, dtype=np.int64)], device=device)

    def train_step(self, tokens: torch.Tensor, label_ids: np.ndarray, beta: float, lr: float,
                   generator: torch.Generator | None) -> dict[str, float]:
        """Critic steps then one autoencoder step on ``tokens`` (B, T, K); returns floats for the log."""
        for group in self.optimizer.autoencoder.param_groups:
            group["lr"] = lr
        stats = self.step_fn.step(tokens, self.to_petals(label_ids, tokens.device), beta, generator)
        stats["lr"] = lr
        stats["labelled"] = float(np.mean(np.asarray(label_ids) >= 0)) if self.petals else 0.0
        return stats

    @torch.no_grad()
    def evaluate(self, batches: list[torch.Tensor], label_sets: np.ndarray | None, device: torch.device,
                 generator_for: Callable[[int], torch.Generator]) -> dict[str, Any]:
        """Figures on the fixed eval batches; ``label_sets`` ``(n, M)`` label ids of their windows."""
        model, vocab = self.model, tuple(self.model.vocab_sizes)
        model.eval()
        sums: dict[str, float] = {}
        per_stream_arg, per_stream_s, per_bar, n, offset = 0.0, 0.0, 0.0, 0, 0
        codes = []
        for i, tokens in enumerate(batches):
            tokens = tokens.to(device)  # (b, T, K)
            w, gen = tokens.shape[0], generator_for(i)
            z = model.code(tokens)  # (b, Z)
            logits = model.decoder(z).float()  # (b, T, sum V)
            r_loss, _ = reconstruction_loss(logits, tokens, vocab)  # (b,)
            acc, acc_streams = accuracy(logits, tokens, vocab)
            s_acc, s_streams = token_accuracy(tokens_from_logits(logits, vocab, 1.0, gen), tokens)
            petals = None
            if label_sets is not None and self.petals:
                first = label_sets[offset:offset + w, 0]  # (b,) first label of each window, -1 = none
                petals = self.to_petals(first, device)
            real = model.prior_sample(w, petals, gen).to(z)  # (b, Z)
            wasserstein = _score(model.critic, real, petals).mean() - _score(model.critic, z, petals).mean()
            for key, value in (("eval_loss", r_loss.mean()), ("eval_r_loss", r_loss.mean()), ("tf_accuracy", acc),
                               ("argmax_accuracy", acc), ("sampled_accuracy", acc),
                               ("free_running_accuracy", s_acc),
                               ("eval_wasserstein", wasserstein)):
                sums[key] = sums.get(key, 0.0) + float(value) * w
            per_stream_arg = per_stream_arg + acc_streams.cpu().numpy() * w
            per_stream_s = per_stream_s + s_streams.cpu().numpy() * w
            if model.steps > 16:
                per_bar = per_bar + segment_accuracy(predicted_tokens(logits, vocab), tokens, 16).cpu().numpy() * w
            codes.append(z.float().cpu())
            n, offset = n + w, offset + w
        out: dict[str, Any] = {k: v / max(n, 1) for k, v in sums.items()}
        out["tf_accuracy_per_stream"] = dict(zip(self.stream_names, (per_stream_arg / max(n, 1)).round(4).tolist()))
        out["free_running_accuracy_per_stream"] = dict(zip(self.stream_names, (per_stream_s / max(n, 1)).round(4).tolist()))
        if model.steps > 16:
            out["argmax_accuracy_per_bar"] = (per_bar / max(n, 1)).round(4).tolist()
        if label_sets is not None and self.petals and codes:
            nearest = model.prior.nearest_component(torch.cat(codes).to(device)).cpu().numpy()
            acc_c, labelled = nearest_component_accuracy(nearest, label_sets[:offset], self._table)
            if labelled:
                out["component_accuracy"], out["labelled_eval_windows"] = acc_c, labelled
        return out


def nearest_component_accuracy(nearest: np.ndarray, label_sets: np.ndarray, table: np.ndarray) -> tuple[float, int]:
    """Share of labelled windows whose nearest petal ``(n,)`` is one of its labels' petals.

    ``label_sets`` ``(n, M)`` label ids (``-1`` padding), ``table`` label id -> petal with a
    trailing ``-1``. Returns ``(accuracy, labelled windows)``; ``(nan, 0)`` when none is labelled.
    """
    sets = np.asarray(label_sets, dtype=np.int64)
    petal_sets = table[sets]  # (n, M): -1 stays -1
    labelled = (petal_sets >= 0).any(axis=1)  # (n,)
    if not labelled.any():
        return float("nan"), 0
    hit = (petal_sets == np.asarray(nearest)[:, None]).any(axis=1)
    return float(hit[labelled].mean()), int(labelled.sum())
