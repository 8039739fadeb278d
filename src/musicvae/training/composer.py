"""Train the MCVAE composer on a latent dataset, save it, and load it back with its bar VAE.

Place in the flow: ``data.latents`` (:class:`LatentSet`, one code per bar per song, from a
trained 1-bar VAE) -> :func:`train_composer` (Adam, gradient clipping, held-out NLL, progress
callback) -> ``OUT/composer.safetensors`` + ``OUT/composer.json`` (+ a copy of the bar VAE
in ``OUT/bar_vae.safetensors``) -> ``generation.compose`` (loads it) -> ``MCVAE.compose``.

:func:`run_composer_training` is the whole ``--vae RUN_DIR`` pipeline in one call: with the bar
VAE (``generation.compose.load_bar_vae``), encode the prepared ``bars`` songs of both splits
(:func:`encode_songs`: the bar VAE's posterior mean per bar), save the latent sets, train.

A composer is only meaningful with the bar VAE whose codes it learnt: ``composer.json``
records that VAE's :func:`~musicvae.models.mcvae.bar_vae_fingerprint`, and loading it with
any other bar VAE raises :class:`ComposerError` naming both.

The checkpoint kept is the one with the best held-out NLL (nats per predicted bar); every
file is written atomically, weights before ``composer.json``, and ``composer.json`` holds the
weights' sha256, so a torn pair is detected on load. No pickle anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from ..data.latents import (LATENTS_FORMAT, LATENTS_VERSION, MAX_BARS, MIN_BARS, STEPS_PER_BAR, LatentDataError,
                            LatentSet)
from ..models.mcvae import COMPOSER_FORMAT, COMPOSER_VERSION, Composer, bar_vae_fingerprint
from ..utils.io import atomic_write_json
from ..utils.stored import safetensors_bytes, write_file



class ComposerError(ValueError):
    """A composer that cannot be trained or loaded as asked (one-line message)."""


@dataclass
class ComposerConfig:
    hidden_size: int = 512
    num_layers: int = 2
    components: int = 10  # diagonal Gaussians in the mixture
    dropout: float = 0.0
    batch_size: int = 64  # songs per step
    steps: int = 5000
    learning_rate: float = 1e-3
    grad_clip: float = 1.0
    crop_bars: int = 0  # > 0: train on a random window of at most this many bars per song
    log_every: int = 50
    eval_every: int = 250
    eval_fraction: float = 0.1  # held-out songs (by source) when no eval set is given
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    @classmethod
    def from_dict(cls, d: dict) -> "ComposerConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ComposerError(f"unknown composer setting(s): {', '.join(sorted(unknown))}")
        return cls(**d)


# sizes for the preset variants (the thesis does not give the composer's size; these are ours)
COMPOSER_SIZES: dict[str, dict] = {
    "full": dict(hidden_size=512, num_layers=2, batch_size=64, steps=20_000),
    "cpu": dict(hidden_size=256, num_layers=2, batch_size=32, steps=4000, crop_bars=64, eval_every=500, log_every=100),
    "tiny": dict(hidden_size=32, num_layers=1, components=3, batch_size=8, steps=60, learning_rate=3e-3,
                 log_every=10, eval_every=20),
}


def composer_config_from(config, **overrides) -> ComposerConfig:
    """A :class:`ComposerConfig` from a project ``Config`` with (future) composer fields.

    Reads ``model.composer_hidden``, ``model.composer_layers``, ``model.mixture_components``,
    ``model.dropout``, ``train.{batch_size, steps, learning_rate, grad_clip, log_every,
    eval_every, seed, device}`` and ``train.crop_bars`` where they exist; the rest keeps its default.
    """
    m, t = config.model, config.train
    out = ComposerConfig()
    for name, section, key in (("hidden_size", m, "composer_hidden"), ("num_layers", m, "composer_layers"),
                               ("components", m, "mixture_components"), ("dropout", m, "dropout"),
                               ("batch_size", t, "batch_size"), ("steps", t, "steps"),
                               ("learning_rate", t, "learning_rate"), ("grad_clip", t, "grad_clip"),
                               ("crop_bars", t, "crop_bars"), ("log_every", t, "log_every"),
                               ("eval_every", t, "eval_every"), ("seed", t, "seed"), ("device", t, "device")):
        if hasattr(section, key):
            setattr(out, name, type(getattr(out, name))(getattr(section, key)))
    return dataclasses.replace(out, **overrides)


# --------------------------------------------------------------------------- songs -> codes
@torch.no_grad()
def encode_songs(
    bar_vae: torch.nn.Module,
    songs: Iterable[tuple[int, np.ndarray]],
    *,
    min_bars: int = MIN_BARS,
    max_bars: int | None = MAX_BARS,
    batch_size: int = 1024,
    info: dict | None = None,
) -> LatentSet:
    """Encode every song of ``min_bars`` to ``max_bars`` bars bar by bar -> its posterior means.

    ``songs`` yields ``(source item, bars (n_bars, 16))``; ``bar_vae`` is a 1-bar MusicVAE (its
    ``encode(tokens (B, 16, K)) -> (mu, sigma)``). ``max_bars=None`` keeps every length. The
    result's ``info`` reports ``songs``, ``dropped_short``, ``dropped_long``, ``bars`` and
    ``bar_vae`` (the fingerprint from ``models.mcvae.bar_vae_fingerprint``).
    """
    if min_bars < 2:
        raise LatentDataError(f"min_bars must be >= 2 (a song must have a next bar to predict), got {min_bars}")
    if max_bars is not None and max_bars < min_bars:
        raise LatentDataError(f"max_bars ({max_bars}) is below min_bars ({min_bars})")
    steps = int(getattr(bar_vae, "steps", STEPS_PER_BAR))
    if steps != STEPS_PER_BAR:
        raise LatentDataError(f"the bar VAE reads {steps}-step windows; a latent dataset needs a 1-bar (16-step) VAE")
    vocab = int(bar_vae.vocab_sizes[0])
    kept, sources = [], []
    short = long_ = 0
    for src, bars in songs:
        bars = np.asarray(bars)
        if bars.ndim != 2 or bars.shape[1] != STEPS_PER_BAR:
            raise LatentDataError(f"a song must be (n_bars, {STEPS_PER_BAR}) tokens, got {bars.shape}")
        if len(bars) < min_bars:
            short += 1
        elif max_bars is not None and len(bars) > max_bars:
            long_ += 1
        else:
            if bars.size and (int(bars.min()) < 0 or int(bars.max()) >= vocab):
                raise LatentDataError(f"song from source {src} holds tokens outside 0..{vocab - 1}")
            kept.append(bars)
            sources.append(int(src))
    bar_vae.eval()
    dev = next(bar_vae.parameters()).device
    flat = np.concatenate(kept) if kept else np.zeros((0, STEPS_PER_BAR), np.int64)  # (total_bars, 16)
    codes = []
    for lo in range(0, len(flat), batch_size):
        x = torch.as_tensor(flat[lo : lo + batch_size].astype(np.int64), device=dev).unsqueeze(-1)  # (b, 16, 1)
        mu, _ = bar_vae.encode(x)  # (b, Z)
        codes.append(mu.float().cpu())
    z = torch.cat(codes) if codes else torch.zeros(0, int(bar_vae.z_size))
    meta = dict(info or {})
    meta.update(
        format=LATENTS_FORMAT, version=LATENTS_VERSION, bar_vae=bar_vae_fingerprint(bar_vae), z_size=int(z.shape[1]),
        min_bars=min_bars, max_bars=max_bars, songs=len(kept), bars=int(len(flat)), dropped_short=short,
        dropped_long=long_,
    )
    return LatentSet(z, torch.tensor([len(b) for b in kept], dtype=torch.long), torch.tensor(sources, dtype=torch.long), meta)


@dataclass
class ComposerRun:
    composer: Composer
    best_eval_nll: float
    best_step: int
    history: list[dict] = field(default_factory=list)
    path: Path | None = None


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ComposerError("--device cuda: no CUDA device is available here")
    if name not in ("cpu", "cuda"):
        raise ComposerError(f"unknown device {name!r} (cpu, cuda or auto)")
    return torch.device(name)


def _batch(latents: LatentSet, idx: np.ndarray, crop: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Songs ``idx`` (optionally a random ``crop``-bar window of each), padded -> (B, L, Z), (B,)."""
    parts = []
    for i in idx:
        song = latents.song(int(i))  # (L_i, Z)
        if crop > 0 and len(song) > crop:
            lo = int(rng.integers(0, len(song) - crop + 1))
            song = song[lo : lo + crop]
        parts.append(song)
    lengths = torch.tensor([len(p) for p in parts], dtype=torch.long)
    x = torch.nn.utils.rnn.pad_sequence(parts, batch_first=True)  # (B, L, Z)
    return x, lengths


@torch.no_grad()
def evaluate_composer(composer: Composer, latents: LatentSet, batch_size: int = 64) -> float:
    """Mean NLL (nats per predicted bar) of every bar after the first of every song."""
    composer.eval()
    dev = next(composer.parameters()).device
    order = np.argsort(latents.lengths.numpy(), kind="stable")  # similar lengths together: less padding
    total, count = 0.0, 0
    for lo in range(0, len(order), batch_size):
        x, lengths = latents.padded(order[lo : lo + batch_size])
        if x.shape[1] < 2:
            continue
        nll, mask = composer.step_nll(x.to(dev), lengths.to(dev))
        total += float((nll * mask).sum())
        count += int(mask.sum())
    if count == 0:
        raise ComposerError("no song of 2 bars or more to evaluate on")
    return total / count


def unconditional_nll(train: LatentSet, eval_set: LatentSet) -> float:
    """Reference: NLL per bar of ``eval_set``'s bars after the first under one diagonal Gaussian fit to ``train``.

    A composer that uses the bars before does better than this.
    """
    mean, std = train.codes.mean(0), train.codes.std(0).clamp_min(1e-3)  # (Z,)
    targets = torch.cat([eval_set.song(i)[1:] for i in range(len(eval_set))])  # (n, Z)
    ll = torch.distributions.Normal(mean, std).log_prob(targets).sum(-1)  # (n,)
    return float(-ll.mean())


def train_composer(
    train: LatentSet,
    eval_set: LatentSet | None = None,
    config: ComposerConfig | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    bar_vae: torch.nn.Module | None = None,
    bar_vae_info: dict | None = None,
    progress: Callable[[int, dict], None] | None = None,
) -> ComposerRun:
    """Train a composer by NLL of the next bar's code; keep (and save, with ``out_dir``) the best on ``eval_set``.

    Without ``eval_set`` a ``config.eval_fraction`` of the songs (by source) is held out.
    ``bar_vae`` (optional) must be the VAE that encoded ``train``; with ``out_dir`` a copy of it
    is saved next to the composer, described by ``bar_vae_info`` (``config``, ``representation``,
    ``source``), so the composer folder composes on its own. ``progress(step, record)`` gets
    every log and eval record (also appended to ``OUT/metrics.jsonl``).
    """
    cfg = config or ComposerConfig()
    if eval_set is None:
        train, eval_set = train.split(cfg.eval_fraction, cfg.seed)
    if len(train) == 0 or int((train.lengths >= 2).sum()) == 0:
        raise ComposerError("the training latent set holds no song of 2 bars or more")
    if len(eval_set) == 0:
        raise ComposerError("the held-out latent set is empty (more songs, or a larger eval fraction)")
    fp = train.info.get("bar_vae")
    if eval_set.info.get("bar_vae") != fp:
        raise ComposerError(f"train and eval codes come from different bar VAEs ({fp} vs {eval_set.info.get('bar_vae')})")
    if bar_vae is not None and fp is not None and bar_vae_fingerprint(bar_vae) != fp:
        raise ComposerError(f"the latent set was encoded by bar VAE {fp}, not by the given one "
                            f"({bar_vae_fingerprint(bar_vae)}); rebuild the latents with it")
    dev = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    composer = Composer(z_size=train.z_size, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                        components=cfg.components, dropout=cfg.dropout).to(dev)
    opt = torch.optim.Adam(composer.parameters(), lr=cfg.learning_rate)
    usable = np.flatnonzero(train.lengths.numpy() >= 2)
    out = Path(out_dir) if out_dir is not None else None
    run = ComposerRun(composer, math.inf, 0, [], None)
    baseline = unconditional_nll(train, eval_set)

    def emit(record: dict) -> None:
        run.history.append(record)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")
        if progress:
            progress(record["step"], record)

    window: list[float] = []
    t0 = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        composer.train()
        rng = np.random.default_rng([cfg.seed, step])  # step s draws the same batch on every run
        idx = usable[rng.integers(0, len(usable), cfg.batch_size)]
        x, lengths = _batch(train, idx, cfg.crop_bars, rng)
        loss = composer.loss(x.to(dev), lengths.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(composer.parameters(), cfg.grad_clip)
        opt.step()
        window.append(float(loss.detach()))
        if step % cfg.log_every == 0 or step == cfg.steps:
            elapsed = time.perf_counter() - t0
            emit({"step": step, "nll": float(np.mean(window)), "grad_norm": float(grad_norm),
                  "steps_per_s": len(window) / elapsed if elapsed > 0 else 0.0})
            window, t0 = [], time.perf_counter()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            nll = evaluate_composer(composer, eval_set, cfg.batch_size)
            emit({"step": step, "eval_nll": nll, "eval_nll_unconditional": baseline})
            if nll < run.best_eval_nll:
                run.best_eval_nll, run.best_step = nll, step
                if out is not None:
                    best_state = {k: v.detach().clone() for k, v in composer.state_dict().items()}
                    run.path = save_composer(out, composer, cfg, vae_fingerprint=fp, step=step,
                                             metrics={"eval_nll": nll, "eval_nll_unconditional": baseline,
                                                      "train_songs": len(train), "eval_songs": len(eval_set)},
                                             bar_vae=bar_vae, bar_vae_info=bar_vae_info)
    if run.path is not None:  # the weights in memory are the last step's; the saved ones the best
        composer.load_state_dict(best_state)
    return run


# --------------------------------------------------------------------------- files
def _weights(model: torch.nn.Module) -> bytes:
    return safetensors_bytes({k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()},
                             COMPOSER_FORMAT)


def save_composer(
    out_dir: str | os.PathLike,
    composer: Composer,
    config: ComposerConfig,
    *,
    vae_fingerprint: str | None,
    step: int = 0,
    metrics: dict | None = None,
    bar_vae: torch.nn.Module | None = None,
    bar_vae_info: dict | None = None,
) -> Path:
    """Write ``composer.safetensors`` (+ ``bar_vae.safetensors``) then ``composer.json``; returns the folder."""
    out = Path(out_dir)
    files = {}
    files["composer.safetensors"] = write_file(out / "composer.safetensors", _weights(composer))["sha256"]
    vae_doc = None
    if bar_vae is not None:
        fp = bar_vae_fingerprint(bar_vae)
        if vae_fingerprint is not None and fp != vae_fingerprint:
            raise ComposerError(f"the bar VAE to store ({fp}) is not the one the composer learnt from ({vae_fingerprint})")
        files["bar_vae.safetensors"] = write_file(out / "bar_vae.safetensors", _weights(bar_vae))["sha256"]
        vae_doc = {"vocab_sizes": list(bar_vae.vocab_sizes), **(bar_vae_info or {})}
    doc = {
        "format": COMPOSER_FORMAT, "version": COMPOSER_VERSION, "step": int(step),
        "composer": composer.hyperparameters(), "config": dataclasses.asdict(config),
        "bar_vae": vae_fingerprint, "bar_vae_model": vae_doc, "metrics": metrics or {}, "files": files,
    }
    atomic_write_json(out / "composer.json", doc)
    return out


def run_composer_training(
    bar_vae: tuple[torch.nn.Module, dict],
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ComposerConfig | None = None,
    *,
    min_bars: int = 16,
    max_bars: int | None = 3 * 113,
    progress: Callable[[int, dict], None] | None = None,
) -> ComposerRun:
    """``--vae RUN_DIR --data BARS_DIR --out OUT``: encode both splits (saved in ``OUT/latents/{train,eval}``), train.

    ``bar_vae``: the 1-bar VAE and what to store about it (``generation.compose.load_bar_vae``)."""
    from ..data.latents import load_latents, save_latents, songs_from_prepared

    cfg = config or ComposerConfig()
    model, info = bar_vae  # generation.compose.load_bar_vae
    model.to(_device(cfg.device))
    out = Path(out_dir)
    if (out / "composer.json").exists():
        raise ComposerError(f"{out}: already holds a composer; choose a new --out")
    sets = {}
    for split in ("train", "eval"):
        songs = songs_from_prepared(data_dir, split)
        latents = encode_songs(model, songs, min_bars=min_bars, max_bars=max_bars,
                               info={"data": str(data_dir), "split": split})
        save_latents(latents, out / "latents" / split)
        sets[split] = load_latents(out / "latents" / split)
        if progress:
            progress(0, {"step": 0, "split": split, **{k: latents.info[k] for k in
                                                        ("songs", "bars", "dropped_short", "dropped_long")}})
    eval_set = sets["eval"] if len(sets["eval"]) else None
    return train_composer(sets["train"], eval_set, cfg, out_dir=out, bar_vae=model.cpu(), bar_vae_info=info,
                          progress=progress)
