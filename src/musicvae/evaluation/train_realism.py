"""Sample realism during training: the headline out-of-distribution rate of a few prior samples.

Place in the flow: the trainer's periodic eval (``training.trainer.Trainer``, which may not
import this later stage) calls the hook the ``train`` command hands it -> prior samples of the
model being trained -> the attributes and ranges of :mod:`.realism` -> ``sample_ood_rate`` in
``metrics.jsonl`` next to the held-out accuracies.

The figure is the ``samples`` study's headline (``musicvae evaluate --studies samples``) on a
budget: ``n`` (default 32, ``train.eval_samples``) samples from N(0, I) at temperature 0.5,
always drawn with the same seed so that steps compare, against at most ``max_data`` held-out
windows whose attributes are measured once. With 32 samples a step of the rate is 3.1 %; it
flags prior holes (the bundled mel_2bar before its fitted prior: 14.65 % with 2,000 samples),
not fine differences. ``sample_ood_rate_data`` is the held-out windows' own rate (one random
half against the other's range), logged with the first eval.
"""

from __future__ import annotations

import numpy as np
import torch

from . import realism
from .studies import realism_attributes


class SampleRealismHook:
    """``hook(model) -> {"sample_ood_rate": float, ...}`` for :class:`~musicvae.training.trainer.Trainer`.

    ``converter``: the data's grid converter (tokens -> NoteSequences); ``tokens``: held-out
    windows ``(N, T, K)``. ``n`` prior samples per call (``n`` >= 1).
    """

    def __init__(self, converter, tokens: np.ndarray, n: int = 32, temperature: float = 0.5, seed: int = 0,
                 max_data: int = 512):
        if n < 1:
            raise ValueError(f"eval_samples must be >= 1, got {n}")
        self.converter, self.n, self.temperature, self.seed = converter, int(n), float(temperature), int(seed)
        tokens = np.asarray(tokens, dtype=np.int64)
        rng = np.random.default_rng(seed)
        if len(tokens) > max_data:
            tokens = tokens[np.sort(rng.choice(len(tokens), max_data, replace=False))]
        self.data = realism_attributes(self._sequences(tokens), converter.kind)
        self.data_rate = realism.data_ood_rate(self.data, rng)
        self.calls = 0

    def _sequences(self, tokens: np.ndarray) -> list:
        conv = self.converter
        return [conv.decode(conv.canonicalize(conv.as_grid(t))) for t in tokens]

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict:
        was_training = model.training
        model.eval()
        try:
            device = next(model.parameters()).device
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed + 7)
            drawn = model.sample(self.n, self.temperature, gen).cpu().numpy().astype(np.int64)
        finally:
            model.train(was_training)
        sampled = realism_attributes(self._sequences(drawn), self.converter.kind)
        out = {"sample_ood_rate": realism.compare(sampled, self.data)["ood_rate"]}
        if self.calls == 0 and self.data_rate is not None:
            out["sample_ood_rate_data"] = self.data_rate
        self.calls += 1
        return out


def sample_realism_hook(trainer, n: int) -> SampleRealismHook | None:
    """The hook for a trainer's model and data, or None where it does not apply (``n`` = 0, MusAE,
    note-sequence models, models without ``sample``, an empty held-out split)."""
    model = trainer.model
    if n <= 0 or trainer.config.model.family not in ("musicvae", "lm") or not hasattr(model, "sample"):
        return None
    sets = getattr(trainer, "family", trainer)  # the family plug-in holds the datasets
    if not hasattr(sets, "eval_set") or not len(sets.eval_set):
        return None
    return SampleRealismHook(sets.train_set.converter, np.asarray(sets.eval_set.tokens), n,
                             seed=trainer.config.train.seed)
