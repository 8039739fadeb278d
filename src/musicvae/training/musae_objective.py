"""MusAE in the training loop: :class:`MusAEFamily`, its optimisers, train step and evaluation.

Place in the flow: ``Trainer`` (the loop, checkpoints, logging) -> :class:`MusAEFamily` (the
grids and batches of ``training.grid``) -> ``training.adversarial.AdversarialStep`` on
``models.musae.MusAE``; the trainer saves :attr:`MusAEFamily.optimizer` like any optimiser.

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

from typing import Any

import numpy as np
import torch

from ..models.modules.priors import label_components
from . import schedules
from .adversarial import AdversarialStep, _score, adversarial_beta
from .family import TrainError, step_generator
from .grid import GridFamily
from .losses import reconstruction_metrics


class OptimizerPair:
    """The autoencoder's and the critic's optimisers, checkpointed as one ``{"autoencoder", "critic"}`` state."""

    def __init__(self, autoencoder: torch.optim.Optimizer, critic: torch.optim.Optimizer):
        self.autoencoder, self.critic = autoencoder, critic

    def state_dict(self) -> dict[str, Any]:
        return {"autoencoder": self.autoencoder.state_dict(), "critic": self.critic.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"autoencoder", "critic"}:
            raise ValueError("expected the states of both the autoencoder and the critic optimiser")
        self.autoencoder.load_state_dict(state["autoencoder"])
        self.critic.load_state_dict(state["critic"])


class MusAEFamily(GridFamily):
    """MusAE's plug-in to the trainer: the grids of :class:`~.grid.GridFamily`, trained adversarially."""

    def setup(self, data_dir) -> None:
        tc = self.config.train
        if self.trainer.dist.world_size > 1:
            raise TrainError("MusAE trains on one process; run it without torchrun")
        if tc.precision == "fp16":
            raise TrainError("MusAE trains in fp32 or bf16, not fp16 (--precision bf16)")
        if self.config.musae.prior == "flower" and not self.label_names:
            self.trainer.config = self.config = config = self.config.copy()
            config.musae.prior = "gauss"
            self.trainer.notices.append(
                f"{data_dir}: no style labels, so the mixture (flower) prior has nothing to drive it; "
                f"training with the Gaussian prior (prepare with --labels FILE for labels)")

    def make_optimizer(self) -> OptimizerPair:
        model, tc, a = self.model, self.config.train, self.config.musae
        self.stream_names = tuple(self.train_set.converter.stream_names)
        optimizer = OptimizerPair(
            torch.optim.Adam(model.autoencoder_parameters(), lr=tc.learning_rate),
            torch.optim.Adam(model.critic.parameters(), lr=a.critic_learning_rate, betas=(0.0, 0.9)),
        )
        scale = 1.0 / model.steps if a.reconstruction == "per_step" else 1.0
        self.step_fn = AdversarialStep(model, optimizer.autoencoder, optimizer.critic,
                                       critic_steps=a.critic_steps, gp_weight=a.gp_weight, grad_clip=tc.grad_clip,
                                       reconstruction_scale=scale)
        # label name -> flower petal (none unless the prior is the flower and there are labels)
        flower = a.prior == "flower" and self.label_names
        self.petals = label_components(self.label_names, a.components) if flower else {}
        # label id -> petal, with a trailing -1 so that id -1 (unlabelled) indexes to -1
        table = [self.petals[n] for n in self.label_names] if self.petals else []
        self._table = np.array(table + [-1], dtype=np.int64)
        return optimizer

    def to_petals(self, label_ids: np.ndarray, device: torch.device) -> torch.Tensor | None:
        """Label ids ``(B,)`` (``-1`` = none) -> petal ids ``(B,)`` on ``device``; None without a label-driven prior."""
        if not self.petals:
            return None
        return torch.as_tensor(self._table[np.asarray(label_ids, dtype=np.int64)], device=device)

    def train_step(self, step: int) -> dict[str, float]:
        """Critic steps then one autoencoder step on the batch of ``step``; floats for the log."""
        tc, a = self.config.train, self.config.musae
        tokens = self.batches.batch(step, self.device)  # (b, T, K)
        label_ids = self.batches.labels(step)
        gen = self.generator(step)
        lr = float(schedules.learning_rate(step, tc.learning_rate, tc.decay_rate, tc.min_learning_rate))
        beta = adversarial_beta(step, a.beta_every, a.beta_increment, tc.max_beta)
        for group in self.optimizer.autoencoder.param_groups:
            group["lr"] = lr
        with self.trainer.autocast():
            stats = self.step_fn.step(tokens, self.to_petals(label_ids, tokens.device), beta, gen)
        stats["lr"] = lr
        stats["labelled"] = float(np.mean(np.asarray(label_ids) >= 0)) if self.petals else 0.0
        return stats

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Figures on the fixed eval batches (see the module's docstring)."""
        model, device, label_sets = self.model, self.device, self.eval_label_sets
        model.eval()
        seed, codes, offset = self.config.train.seed + 99, [], [0]

        def critic(i: int, tokens: torch.Tensor, out: dict, gen) -> dict:
            w, z, petals = tokens.shape[0], out["z"], None
            if label_sets is not None and self.petals:
                first = label_sets[offset[0]:offset[0] + w, 0]  # (b,) first label of each window, -1 = none
                petals = self.to_petals(first, device)
            real = model.prior_sample(w, petals, gen).to(z)  # (b, Z)
            codes.append(z.float().cpu())
            offset[0] += w
            return {"eval_wasserstein": _score(model.critic, real, petals).mean() - _score(model.critic, z, petals).mean()}

        m = reconstruction_metrics(model, (t.to(device) for t in self.eval_batches),
                                   lambda i: step_generator(seed, i, device), 16, extra=critic)
        # not autoregressive: nothing is fed back, so teacher-forced, sampled and argmax coincide
        out: dict[str, Any] = {"eval_loss": m["r_loss"], "eval_r_loss": m["r_loss"], "tf_accuracy": m["tf_accuracy"],
                               "argmax_accuracy": m["tf_accuracy"], "sampled_accuracy": m["tf_accuracy"],
                               "free_running_accuracy": m["free_running_accuracy"],
                               "eval_wasserstein": m["eval_wasserstein"]}
        for key in ("tf", "free_running"):
            out[f"{key}_accuracy_per_stream"] = dict(zip(self.stream_names, m["per_stream"][key].round(4).tolist()))
        if model.steps > 16:
            out["argmax_accuracy_per_bar"] = m["per_segment"]["tf"].round(4).tolist()
        if label_sets is not None and self.petals and codes:
            nearest = model.prior.nearest_component(torch.cat(codes).to(device)).cpu().numpy()
            acc_c, labelled = nearest_component_accuracy(nearest, label_sets[:offset[0]], self._table)
            if labelled:
                out["component_accuracy"], out["labelled_eval_windows"] = acc_c, labelled
        return out

    def checkpoint_extra(self) -> dict:
        return {**super().checkpoint_extra(), "labels": {"names": self.label_names, "components": self.petals}}

    def progress_line(self, rec: dict) -> tuple[str, bool]:
        if "loss" in rec:  # the adversarial weight and the critic's Wasserstein estimate
            return (f"loss {rec['loss']:.2f} acc {rec['accuracy']:.3f} W {rec['wasserstein']:.2f} "
                    f"beta {rec['beta']:.1f} {rec['seq_per_s']:.0f} seq/s"), False
        line, _ = super().progress_line(rec)
        if "component_accuracy" in rec:
            line += f" nearest-component {rec['component_accuracy']:.3f}"
        return line, True


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
