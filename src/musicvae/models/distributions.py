"""The models' two distributions: categorical tokens drawn with a temperature, and the Gaussian code's KL.

Place in the flow: every model in ``models/`` draws tokens here and computes its KL here;
``training.losses`` builds its objectives on the same KL helpers (models never import training).

Tokens (``(..., sum V)`` logits over K streams' concatenated vocabularies -> ``(..., K)``):
* :func:`gumbel_noise` + :func:`pick_tokens` - the Gumbel-max trick, used by the autoregressive
  decoders, which draw a whole sequence's noise before its first step;
* :func:`draw` / :func:`tokens_from_logits` - one softmax draw per row (``torch.multinomial``),
  used where the logits of every step exist at once (MusAE) or are masked per step (VRASH).
Both are ``softmax(logits / T)`` samples and argmax at ``T <= 0``; they consume random numbers
differently, so each model keeps the one its saved samples were made with.
:func:`split_temperature` reshapes a melody decoder's logits so that one Gumbel-max draw takes the
rhythm (hold, note-off or a note-on) at one temperature and the pitch at another.

KL (nats): ``KL(N(mu, sigma^2) || N(0, I))`` per dimension and summed, and magenta's free bits;
the grid models' objectives built from them (:func:`reconstruction_loss`: cross-entropy summed
over steps and streams; :func:`elbo_loss`), which ``MusicVAE.loss`` returns.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


# --------------------------------------------------------------------------- tokens
def gumbel_noise(
    shape: tuple[int, ...], temperature: float, generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor | None:
    """Temperature-scaled Gumbel noise ``-T log(-log U)`` (U ~ Uniform(0, 1)) of ``shape``, or None for T <= 1e-6.

    ``argmax(logits + noise)`` is then a sample of ``softmax(logits / T)`` (the Gumbel-max trick),
    so a decoder draws all its steps' randomness in one call before the loop and each step only
    adds and takes an argmax: at batch 1 the per-step sampling ops cost more than the sampling.
    ``-log U`` is an Exp(1) draw; drawing uniforms and taking the logs as tensor ops (which run on
    every intra-op thread) costs ~24 ms for 4M values on one thread where ``exponential_`` with a
    generator (one thread, a log per value inside the serial draw) cost ~88 ms (measured).
    """
    if temperature <= 1e-6:
        return None
    u = torch.rand(shape, device=device, generator=generator)
    # U = 0 would give -log U = inf (noise -inf: never picked, harmless) - clamped anyway; U < 1, so -log U > 0
    return u.clamp_(min=torch.finfo(u.dtype).tiny).log_().neg_().log_().mul_(-temperature)


def pick_tokens(logits: torch.Tensor, vocab_sizes: tuple[int, ...], noise: torch.Tensor | None = None) -> torch.Tensor:
    """``(..., sum V)`` logits (+ Gumbel ``noise`` of the same shape) -> ``(..., K)`` tokens, one argmax per stream."""
    if logits.shape[-1] != sum(vocab_sizes):
        raise ValueError(f"logits last dim {logits.shape[-1]} != sum(vocab_sizes) {sum(vocab_sizes)}")
    if noise is not None:
        logits = logits + noise
    if len(vocab_sizes) == 1:
        return logits.argmax(dim=-1, keepdim=True)
    return torch.stack([part.argmax(dim=-1) for part in logits.split(tuple(vocab_sizes), dim=-1)], dim=-1)


def split_temperature(logits: torch.Tensor, note_temperature: float, rhythm_temperature: float,
                      events: int = 2) -> torch.Tensor:
    """``(..., E + P)`` logits (E event tokens, then P note-ons) -> logits whose Gumbel-max draw at
    temperature 1 (``pick_tokens`` with T = 1 noise) samples in two stages: first *what happens*, one
    of the E events or "a note starts" (all note-ons' mass, ``logsumexp``), from ``softmax(. / rhythm)``;
    then, if a note starts, *which*, from ``softmax(note-on logits / note)``.

    Why: plain temperature ``T < 1`` sharpens every step toward the likeliest token, which in a melody
    is "hold", so samples thin out (mel_16bar at T 0.5: 0.8 std fewer notes than the data); drawing
    the rhythm near T = 1 keeps the model's own note density while the pitch choice is sharpened.
    ``note_temperature`` and ``rhythm_temperature`` must be > 0 (T = 0, argmax, uses plain logits).
    """
    ev, notes = logits[..., :events], logits[..., events:]
    start = torch.logsumexp(notes, dim=-1, keepdim=True)  # (..., 1): log-mass of "a note starts"
    return torch.cat([ev / rhythm_temperature, start / rhythm_temperature
                      + torch.log_softmax(notes / note_temperature, dim=-1)], dim=-1)


def draw(logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None,
         allowed: torch.Tensor | None = None) -> torch.Tensor:
    """``(N, V)`` logits -> ``(N,)`` draws of ``softmax(logits / T)`` (argmax at ``T <= 0``).

    ``allowed`` (``(N, V)`` or ``(V,)`` bool): tokens outside it are never drawn.
    """
    logits = logits.float()
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    if temperature <= 0:
        return logits.argmax(-1)
    return torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=generator).squeeze(-1)


def tokens_from_logits(
    logits: torch.Tensor,
    vocab_sizes: tuple[int, ...],
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``(B, T, sum V)`` -> ``(B, T, K)``: an independent :func:`draw` per step and stream."""
    b, t, _ = logits.shape
    parts = torch.split(logits, list(vocab_sizes), dim=-1)  # (B, T, V_k) each
    return torch.stack([draw(p.reshape(b * t, -1), temperature, generator).reshape(b, t) for p in parts], dim=-1)


# --------------------------------------------------------------------------- KL
def kl_per_dim(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, 1))`` per latent dimension in nats, ``(B, Z)``."""
    return 0.5 * (mu.pow(2) + sigma.pow(2) - 1.0 - 2.0 * torch.log(sigma))


def kl_divergence(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag sigma^2) || N(0, I))`` in nats, summed over Z: ``(B, Z)`` -> ``(B,)``."""
    return kl_per_dim(mu, sigma).sum(dim=-1)


def free_bits_kl(kl: torch.Tensor, free_bits: float, per_dim: bool = False) -> torch.Tensor:
    """KL cost after the free-bits allowance (magenta's ``max(kl - free_bits * ln 2, 0)``).

    ``per_dim=False``: ``kl`` is ``(B,)`` total nats; returns ``(B,)`` ``max(kl - free_bits ln2, 0)``.
    ``per_dim=True``: ``kl`` is ``(B, Z)``; the budget is split equally across the Z dims,
    returns ``(B,)`` ``sum_z max(kl_z - free_bits ln2 / Z, 0)``.
    """
    if free_bits < 0:
        raise ValueError(f"free_bits must be >= 0, got {free_bits}")
    free_nats = free_bits * LN2
    if per_dim:
        if kl.dim() != 2:
            raise ValueError(f"per_dim free bits needs kl of shape (B, Z), got {tuple(kl.shape)}")
        return torch.clamp(kl - free_nats / kl.shape[-1], min=0.0).sum(dim=-1)  # (B, Z) -> (B,)
    return torch.clamp(kl - free_nats, min=0.0)


# --------------------------------------------------------------------------- objectives on token grids
def _split(logits: torch.Tensor, vocab_sizes: tuple[int, ...] | list[int]) -> list[torch.Tensor]:
    """``(B, T, sum V)`` -> K tensors ``(B, T, V_k)``."""
    if logits.shape[-1] != sum(vocab_sizes):
        raise ValueError(f"logits last dim {logits.shape[-1]} != sum(vocab_sizes) {sum(vocab_sizes)}")
    return list(torch.split(logits, list(vocab_sizes), dim=-1))


def _targets3(targets: torch.Tensor) -> torch.Tensor:
    """Accept ``(B, T)`` for a single stream; always return ``(B, T, K)``."""
    return targets.unsqueeze(-1) if targets.dim() == 2 else targets


def _valid(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` bool of valid steps (all True without a mask)."""
    if mask is None:
        return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device)
    if mask.shape != like.shape[:2]:
        raise ValueError(f"mask shape {tuple(mask.shape)} != (B, T) {tuple(like.shape[:2])}")
    return mask.to(torch.bool)


def reconstruction_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    vocab_sizes: tuple[int, ...] | list[int],
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy summed over steps and streams.

    ``logits`` (B, T, sum V), ``targets`` (B, T, K) int64, ``mask`` (B, T) bool of valid steps.
    Returns ``(loss_per_example (B,), per_stream_loss (B, K))``; masked-out steps add 0
    (their targets may hold anything, e.g. padding).
    """
    targets = _targets3(targets)
    valid = _valid(mask, targets)  # (B, T)
    safe = targets.masked_fill(~valid.unsqueeze(-1), 0)  # (B, T, K): padding -> class 0
    per_stream = []
    for k, part in enumerate(_split(logits, vocab_sizes)):  # part: (B, T, V_k)
        ce = F.cross_entropy(part.float().transpose(1, 2), safe[..., k].long(), reduction="none")  # (B, T)
        per_stream.append((ce * valid).sum(dim=1))  # (B,)
    per_stream_loss = torch.stack(per_stream, dim=-1)  # (B, K)
    return per_stream_loss.sum(dim=-1), per_stream_loss


def elbo_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    vocab_sizes: tuple[int, ...] | list[int],
    mu: torch.Tensor | None,
    sigma: torch.Tensor | None,
    beta: float | torch.Tensor,
    free_bits: float,
    per_dim_free_bits: bool = False,
    mask: torch.Tensor | None = None,
    r_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The training objective and its parts (all batch means, scalars unless noted).

    ``loss = mean(r_loss + beta * kl_cost)``; ``r_loss`` summed CE; ``kl`` nats (unclipped);
    ``kl_bits = kl / ln 2``; ``kl_cost`` free-bits-clipped KL; ``elbo = mean(-(r_loss + kl))``;
    ``per_stream_r_loss`` (K,). With ``mu is None`` (language-model baseline) all KL terms are 0.
    ``r_scale`` multiplies the summed CE: ``U / k`` when ``logits`` cover ``k`` of a window's ``U``
    segments drawn at random, so ``r_loss`` stays an unbiased estimate of the whole window's.
    """
    r_per_example, per_stream = reconstruction_loss(logits, targets, vocab_sizes, mask)  # (B,), (B, K)
    if r_scale != 1.0:
        r_per_example, per_stream = r_per_example * r_scale, per_stream * r_scale
    if mu is None:
        kl = kl_cost = torch.zeros_like(r_per_example)  # (B,)
    else:
        if sigma is None:
            raise ValueError("sigma is required when mu is given")
        per_dim = kl_per_dim(mu.float(), sigma.float())  # (B, Z)
        kl = per_dim.sum(dim=-1)  # (B,)
        kl_cost = free_bits_kl(per_dim if per_dim_free_bits else kl, free_bits, per_dim=per_dim_free_bits)  # (B,)
    return {
        "loss": (r_per_example + beta * kl_cost).mean(),
        "r_loss": r_per_example.mean(),
        "kl": kl.mean(),
        "kl_bits": kl.mean() / LN2,
        "kl_cost": kl_cost.mean(),
        "elbo": (-(r_per_example + kl)).mean(),
        "per_stream_r_loss": per_stream.mean(dim=0),  # (K,)
    }
