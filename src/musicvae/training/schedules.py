"""Step-dependent training schedules: KL weight, learning rate, scheduled sampling.

Place in the flow: models -> training losses / **schedules** -> trainer. The trainer asks
these pure functions, given the global step, for the KL weight ``beta`` handed to
:func:`musicvae.models.distributions.elbo_loss`, the optimiser's learning rate, and the
probability (plus the per-position mask, :func:`sampling_mask`) with which the decoder
feeds back its own sample instead of the ground truth.

Every formula follows magenta's ``MusicVAE`` (``magenta/models/music_vae``) exactly:

* ``beta = (1 - beta_rate ** step) * max_beta``  (KL annealing). Note ``0 ** 0 == 1``,
  so with ``beta_rate = 0`` beta is 0 at step 0 and ``max_beta`` from step 1 on, as in
  magenta's ``(1 - tf.pow(beta_rate, step)) * max_beta``.
* ``lr = (initial - min_lr) * decay_rate ** step + min_lr``.
* sampling probability, by ``schedule``:
  ``constant`` -> ``rate``; ``exponential`` -> ``1 - rate ** step``;
  ``inverse_sigmoid`` -> ``1 - k / (k + exp(step / k))`` with ``k = rate``.

Scalar steps give plain Python floats; numpy arrays of steps give numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

Step = Union[int, float, np.ndarray]
Value = Union[float, np.ndarray]

SCHEDULES = ("constant", "exponential", "inverse_sigmoid")
MODES = ("per_example", "per_step")


def _out(x: np.ndarray | float) -> Value:
    """0-d results become a Python float; arrays stay arrays."""
    arr = np.asarray(x, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr


def _steps(step: Step) -> np.ndarray:
    arr = np.asarray(step, dtype=np.float64)
    if np.any(arr < 0):
        raise ValueError(f"step must be >= 0, got {step!r}")
    return arr


def beta(step: Step, max_beta: float, beta_rate: float) -> Value:
    """KL weight at ``step``: ``max_beta * (1 - beta_rate ** step)`` (magenta's annealing).

    ``beta_rate`` in [0, 1]: 0 jumps to ``max_beta`` at step 1 (step 0 gives 0, since
    ``0 ** 0 == 1``); 1 keeps beta at 0 forever; 0.99999 reaches ~63% of max at 100k steps.
    """
    if not 0.0 <= beta_rate <= 1.0:
        raise ValueError(f"beta_rate must be in [0, 1], got {beta_rate}")
    if max_beta < 0:
        raise ValueError(f"max_beta must be >= 0, got {max_beta}")
    return _out(max_beta * (1.0 - np.power(beta_rate, _steps(step))))


def learning_rate(step: Step, initial: float = 1e-3, decay_rate: float = 0.9999, min_lr: float = 1e-5) -> Value:
    """Exponentially decayed learning rate ``(initial - min_lr) * decay_rate ** step + min_lr``."""
    if not 0.0 < decay_rate <= 1.0:
        raise ValueError(f"decay_rate must be in (0, 1], got {decay_rate}")
    if min_lr < 0 or initial < min_lr:
        raise ValueError(f"need 0 <= min_lr <= initial, got initial={initial}, min_lr={min_lr}")
    return _out((initial - min_lr) * np.power(decay_rate, _steps(step)) + min_lr)


def _check_rate(schedule: str, rate: float) -> None:
    if schedule == "constant":
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"constant sampling schedule needs rate in [0, 1], got {rate}")
    elif schedule == "exponential":
        if not 0.0 < rate < 1.0:
            raise ValueError(f"exponential sampling schedule needs rate in (0, 1), got {rate}")
    elif schedule == "inverse_sigmoid":
        if not rate >= 1.0:
            raise ValueError(f"inverse_sigmoid sampling schedule needs rate (k) >= 1, got {rate}")
    else:
        raise ValueError(f"unknown sampling schedule {schedule!r}; expected one of {SCHEDULES}")


def sampling_probability(step: Step, schedule: str, rate: float) -> Value:
    """Probability of feeding back the model's own sample (not the ground truth) at ``step``.

    ``constant``: ``rate``; ``exponential``: ``1 - rate ** step``;
    ``inverse_sigmoid``: ``1 - k / (k + exp(step / k))`` with ``k = rate``.
    Raises ``ValueError`` for an unknown schedule or a rate outside its valid range.
    """
    _check_rate(schedule, rate)
    s = _steps(step)
    if schedule == "constant":
        return _out(np.full_like(s, rate))
    if schedule == "exponential":
        return _out(1.0 - np.power(rate, s))
    k = float(rate)
    with np.errstate(over="ignore"):  # exp overflow -> inf -> probability exactly 1
        return _out(1.0 - k / (k + np.exp(s / k)))


@dataclass(frozen=True)
class ScheduledSampling:
    """Scheduled-sampling settings: a probability schedule and how draws are shared.

    ``mode="per_step"`` draws independently for every (sequence, step);
    ``mode="per_example"`` draws once per sequence (the whole sequence is either
    teacher-forced or free-running).
    """

    schedule: str = "constant"
    rate: float = 0.0
    mode: str = "per_step"

    def __post_init__(self) -> None:
        _check_rate(self.schedule, self.rate)
        if self.mode not in MODES:
            raise ValueError(f"unknown scheduled-sampling mode {self.mode!r}; expected one of {MODES}")

    def probability(self, step: Step) -> Value:
        return sampling_probability(step, self.schedule, self.rate)

    def mask(self, step: int, batch: int, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """:func:`sampling_mask` at this schedule's probability for ``step``."""
        return sampling_mask(float(self.probability(step)), batch, steps, self.mode, generator)


def sampling_mask(
    prob: float, batch: int, steps: int, mode: str = "per_step", generator: torch.Generator | None = None
) -> torch.Tensor:
    """Bool ``(B, T)``: True where the decoder feeds back its own sample.

    ``prob <= 0`` gives all False and ``prob >= 1`` all True, without drawing anything.
    """
    if mode not in MODES:
        raise ValueError(f"unknown scheduled-sampling mode {mode!r}; expected one of {MODES}")
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"sampling probability must be in [0, 1], got {prob}")
    if prob == 0.0:
        return torch.zeros(batch, steps, dtype=torch.bool)
    if prob == 1.0:
        return torch.ones(batch, steps, dtype=torch.bool)
    if mode == "per_example":
        draws = torch.rand(batch, 1, generator=generator) < prob  # (B, 1)
        return draws.expand(batch, steps).clone()  # (B, T)
    return torch.rand(batch, steps, generator=generator) < prob  # (B, T)
