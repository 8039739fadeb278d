"""A model family's plug-in to the one training loop (:class:`~.trainer.Trainer`): :class:`Family`.

Place in the flow: ``Trainer`` (device, seeds, the loop, logging, checkpoints, resume) ->
a :class:`Family` (its data, its model and optimiser, one step, its evaluation, what its
checkpoints record, how its progress reads) -> ``models``. The pattern of audiocraft's solvers.

Families: ``training.grid.GridFamily`` (MusicVAE and the LSTM LM: the ELBO on token grids),
``training.musae_objective.MusAEFamily`` (adversarial, same grids), ``training.notes.NoteFamily``
(the VRASH family on note events), ``training.composer.ComposerFamily`` (the MCVAE composer). Every random choice of step ``s`` comes from
:func:`step_generator` ``(seed, s)``, so ``--resume`` continues the very same curve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .trainer import Trainer


class TrainError(ValueError):
    """A problem with the training request (one-line message)."""


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + step * 7919 + 17) % (2**63))
    return gen


class Family:
    """What a model family supplies to :class:`~.trainer.Trainer`.

    The constructor reads the data in ``data_dir`` and sets :attr:`model`, :attr:`optimizer`,
    :attr:`batch_size` (examples per step, for the throughput figure), :attr:`manifest` (the
    prepared folder's, which checkpoints identify their data by) and :attr:`vocab_sizes`.
    """

    unit = "seq"  # what the throughput counts (progress line)
    scaler = torch.amp.GradScaler("cuda", enabled=False)  # a pass-through; fp16 on CUDA: enabled (grid)
    model: torch.nn.Module
    optimizer: Any
    batch_size: int
    manifest: dict
    vocab_sizes: tuple[int, ...]

    def __init__(self, trainer: "Trainer", data_dir):
        self.trainer, self.config = trainer, trainer.config

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    def optimise(self, loss: torch.Tensor, params) -> float:
        """One optimiser step on ``loss`` with gradients clipped to ``train.grad_clip``; returns their norm."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)  # the clip sees the true gradients
        norm = torch.nn.utils.clip_grad_norm_(params, self.config.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(norm)

    def train_step(self, step: int) -> dict[str, float]:
        """One optimisation step on the batch of ``step``; floats for the log."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, Any]:
        """Held-out figures; ``eval_loss`` (lower is better) picks the best checkpoint."""
        raise NotImplementedError

    def checkpoint_extra(self) -> dict[str, Any]:
        """What a checkpoint records besides weights, optimiser, config and metrics (JSON)."""
        return {}

    def progress_line(self, record: dict) -> tuple[str, bool]:
        """The progress bar's text for a log or eval record, and whether to also print it as a line."""
        if "eval_loss" in record:
            return f"eval: loss {record['eval_loss']:.3f}", True
        return f"loss {record['loss']:.2f} {record.get('seq_per_s', 0):.0f} {self.unit}/s", False

    def done_line(self, final: dict) -> str:
        """The last line of ``musicvae train``."""
        return f"held-out loss {final.get('eval_loss', float('nan')):.3f}"
