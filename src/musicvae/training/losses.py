"""Training losses and metrics: reconstruction cross-entropy, KL, free bits, ELBO, accuracy.

Place in the flow: models -> training **losses** / schedules -> trainer. A decoder emits
logits over the concatenation of K streams' vocabularies, ``(B, T, sum V)``; targets are
``(B, T, K)`` class indices. The encoder gives ``mu, sigma`` ``(B, Z)``. The trainer calls
:func:`elbo_loss` with ``beta`` from :func:`musicvae.training.schedules.beta`.

Conventions (following magenta's ``MusicVAE``):

* the reconstruction loss is cross-entropy **summed** over steps and streams (not
  averaged) per example, then averaged over the batch;
* KL is in nats, ``KL(N(mu, sigma^2) || N(0, I))`` summed over latent dimensions
  (the helpers live in ``models.distributions``, which the models use too);
* free bits: ``kl_cost = max(kl - free_bits * ln 2, 0)`` per example (magenta's
  ``free_nats = free_bits * ln 2``); with ``per_dim=True`` the budget is spread equally
  over the Z latent dimensions and clipped per dimension;
* ``loss = mean(r_loss + beta * kl_cost)``; ``elbo = mean(-(r_loss + kl))`` uses the
  unclipped KL.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..models.distributions import _targets3, _valid, pick_tokens  # the objectives and KL live with the models


# --------------------------------------------------------------------------- accuracy


predicted_tokens = pick_tokens  # per-stream argmax: (B, T, sum V) -> (B, T, K)


def token_accuracy(
    predicted: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fraction of valid (step, stream) positions where ``predicted == targets``.

    ``predicted``, ``targets`` (B, T, K) (or (B, T) for one stream), ``mask`` (B, T).
    Returns ``(overall scalar, per_stream (K,))``; 0 where there is no valid position.
    """
    predicted, targets = _targets3(predicted), _targets3(targets)
    valid = _valid(mask, targets).unsqueeze(-1)  # (B, T, 1)
    correct = ((predicted == targets) & valid).float()  # (B, T, K)
    n_valid = valid.float().sum()  # valid steps
    per_stream = correct.sum(dim=(0, 1)) / n_valid.clamp(min=1.0)  # (K,)
    overall = correct.sum() / (n_valid * targets.shape[-1]).clamp(min=1.0)
    return overall, per_stream


def accuracy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    vocab_sizes: tuple[int, ...] | list[int],
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced accuracy from logits: :func:`token_accuracy` of the per-stream argmax."""
    return token_accuracy(predicted_tokens(logits, vocab_sizes), targets, mask)


def segment_accuracy(
    predicted: torch.Tensor, targets: torch.Tensor, segment_steps: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Accuracy of each segment of ``segment_steps`` steps (e.g. each bar), ``(U,)``.

    Averaged over batch, steps of the segment and streams (valid positions only);
    T must be a multiple of ``segment_steps``.
    """
    predicted, targets = _targets3(predicted), _targets3(targets)
    b, t, k = targets.shape
    if segment_steps <= 0 or t % segment_steps:
        raise ValueError(f"T={t} is not a positive multiple of segment_steps={segment_steps}")
    u = t // segment_steps
    valid = _valid(mask, targets).unsqueeze(-1)  # (B, T, 1)
    correct = ((predicted == targets) & valid).float().reshape(b, u, segment_steps, k)  # (B, U, S, K)
    n_valid = valid.float().reshape(b, u, segment_steps).sum(dim=(0, 2)) * k  # (U,)
    return correct.sum(dim=(0, 2, 3)) / n_valid.clamp(min=1.0)  # (U,)


ACCURACY_KINDS: dict[str, str] = {
    "tf": "teacher-forced: argmax at each step with the true previous tokens as inputs",
    "sampled": "magenta's sampled accuracy (beside the papers' figures): argmax at each step while the "
               "decoder is fed its own temperature-1 samples (a hierarchical decoder's segments each "
               "start from the true previous token)",
    "free_running": "ours: the temperature-1 samples themselves scored against the data",
    "argmax": "greedy decoding (temperature 0) scored against the data",
}


@torch.no_grad()
def reconstruction_predictions(model, tokens: torch.Tensor, out: dict, generator: torch.Generator | None
                               ) -> dict[str, torch.Tensor]:
    """The four predictions of :data:`ACCURACY_KINDS` for windows ``tokens`` (B, T, K), each (B, T, K).

    ``out`` is ``model(tokens)``'s output (its ``logits`` and posterior sample ``z``; ``z`` is
    None for a language model). magenta scores ``sampled`` in ``BaseLstmDecoder.reconstruction_loss``
    at eval time, where ``get_sampling_probability`` sets the probability to 1: the metric
    ``metrics/accuracy`` is then the argmax of the logits computed on the model's own samples.
    """
    decoder, vocab, b = model.decoder, tuple(model.vocab_sizes), tokens.shape[0]
    z = out["z"]
    logits_s, tokens_s = decoder.eval_unroll(z, tokens, temperature=1.0, generator=generator)
    if getattr(decoder, "segment_steps", decoder.steps) != decoder.steps:
        # hierarchical: free running differs from eval_unroll at the segment starts
        _, free = decoder.unroll(z, b, temperature=1.0, generator=generator)
    else:
        free = tokens_s
    _, greedy = decoder.unroll(z, b, temperature=0.0)
    return {"tf": predicted_tokens(out["logits"].float(), vocab), "sampled": predicted_tokens(logits_s.float(), vocab),
            "free_running": free, "argmax": greedy}


def upgrade_accuracy_names(metrics: dict) -> dict:
    """Metrics written before ``free_running_accuracy`` existed named it ``sampled_accuracy``.

    Such records (no ``free_running_accuracy`` key) get their ``sampled_accuracy*`` keys renamed
    to ``free_running_accuracy*``, so an old figure is never read as magenta's definition;
    newer records are returned as they are. Returns a new dict.
    """
    out = dict(metrics)
    if "free_running_accuracy" in out or "sampled_accuracy" not in out:
        return out
    for key in [k for k in out if k.startswith("sampled_accuracy")]:
        out["free_running_accuracy" + key[len("sampled_accuracy"):]] = out.pop(key)
    return out


@torch.no_grad()
def reconstruction_metrics(model, batches, generator_for, segment_steps: int,
                           extra: Callable[[int, torch.Tensor, dict, torch.Generator | None], dict] | None = None,
                           on_batch: Callable[[int], None] | None = None) -> dict:
    """Held-out reconstruction figures of a grid model, means over every window of ``batches``.

    The one implementation behind the trainer's evaluation (``training.grid``, ``training.musae_objective``)
    and ``evaluate``'s Table 1 (``evaluation.studies.reconstruction_study``). ``batches`` yields
    ``(B, T, K)`` tokens on the model's device; batch ``i`` draws its randomness from
    ``generator_for(i)``. Returns ``n``, ``loss`` (reconstruction + KL), ``r_loss``, the KL terms
    and ``elbo`` when the model has them, ``<kind>_accuracy`` for each of :data:`ACCURACY_KINDS`,
    ``per_stream`` / ``per_segment`` (``segment_steps`` steps each) arrays per kind, and the
    means of what ``extra(i, tokens, out, generator)`` returns per batch. ``on_batch(B)`` after each.
    """
    totals: dict[str, float] = {}
    streams: dict[str, np.ndarray] = {}
    segments: dict[str, np.ndarray] = {}
    n = 0
    for i, x in enumerate(batches):
        gen = generator_for(i)
        out = model(x, generator=gen)
        terms = model.loss(x, out)
        preds = reconstruction_predictions(model, x, out, gen)  # tf, sampled, free_running, argmax
        accs = {key: token_accuracy(pred, x) for key, pred in preds.items()}
        values = {"loss": terms["r_loss"] + terms.get("kl", 0.0),
                  **{k: terms[k] for k in ("r_loss", "kl", "kl_bits", "elbo") if k in terms},
                  **{f"{key}_accuracy": acc[0] for key, acc in accs.items()}}
        if extra is not None:
            values.update(extra(i, x, out, gen))
        b = x.shape[0]
        for key, value in values.items():
            totals[key] = totals.get(key, 0.0) + float(value) * b
        for key, pred in preds.items():
            streams[key] = streams.get(key, 0.0) + accs[key][1].cpu().numpy() * b  # (K,)
            segments[key] = segments.get(key, 0.0) + segment_accuracy(pred, x, segment_steps).cpu().numpy() * b
        n += b
        if on_batch is not None:
            on_batch(b)
    return {**{k: v / max(n, 1) for k, v in totals.items()}, "n": n,
            "per_stream": {k: v / max(n, 1) for k, v in streams.items()},
            "per_segment": {k: v / max(n, 1) for k, v in segments.items()}}
