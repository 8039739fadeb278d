"""The MCVAE composer in the training loop: :class:`ComposerFamily` (a plug-in of ``training.trainer``).

Place in the flow: a prepared ``bars`` folder (whole songs) + a trained 1-bar VAE
(``train --preset mcvae-composer_* --vae RUN_DIR``; ``generation.compose.load_bar_vae``) ->
:func:`encode_songs` (the bar VAE's posterior mean per bar; the sets are kept in
``RUN_DIR/latents/{train,eval}``, ``data.latents``) -> :class:`ComposerFamily` (Adam on the NLL of
each next bar's code, gradient clipping, held-out NLL per bar) -> ordinary checkpoints of the whole
``MCVAE`` -> ``generation.compose`` -> ``MCVAE.compose``.

A composer is only meaningful with the bar VAE whose codes it learnt: checkpoints record that VAE's
:func:`~musicvae.models.mcvae.bar_vae_fingerprint`, and loading the composer with any other bar
VAE is refused naming both. Composer folders of the earlier format (``composer.json``, the bundled
``mcvae_folk``) still load (``generation.compose.load_mcvae``).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from ..data.latents import (LATENTS_FORMAT, LATENTS_VERSION, MAX_BARS, MIN_BARS, STEPS_PER_BAR, LatentDataError,
                            LatentSet)
from ..models.mcvae import MCVAE, Composer, bar_vae_fingerprint
from .family import Family, TrainError



class ComposerError(ValueError):
    """A composer that cannot be trained or loaded as asked (one-line message)."""


EVAL_FRACTION = 0.1  # held-out songs (by source) when the prepared folder has no eval songs


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


class ComposerFamily(Family):
    """The MCVAE composer's plug-in to :class:`~.trainer.Trainer`: songs encoded by the bar VAE, the composer's NLL.

    ``Trainer(config, BARS_DIR, RUN_DIR, bar_vae=(model, info))`` (``generation.compose.load_bar_vae``).
    The model checkpointed is the whole :class:`~musicvae.models.mcvae.MCVAE` (bar VAE + composer, so a
    run composes on its own); only the composer learns. Checkpoints record the composer's sizes and the
    bar VAE's config and fingerprint; ``generation.compose.load_mcvae`` reads them back.
    """

    unit = "songs"

    def __init__(self, trainer, data_dir):
        from ..data.latents import load_latents, save_latents, songs_from_prepared

        super().__init__(trainer, data_dir)
        config, t = self.config, self.config.mcvae
        if "bar_vae" not in trainer.options:
            raise TrainError(f"{config.preset} is an MCVAE composer over a bar VAE's codes: give that VAE with "
                             f"--vae RUN_DIR")
        if t.max_song_bars < 0 or t.min_song_bars < 2 or t.crop_bars < 0:
            raise TrainError("composer training needs mcvae.min_song_bars >= 2, mcvae.max_song_bars >= 0 "
                             "(0: no limit) and mcvae.crop_bars >= 0")
        tc = config.train
        bar_vae, self.bar_vae_info = trainer.options["bar_vae"]
        bar_vae = bar_vae.float().to(trainer.device).eval()
        max_bars = t.max_song_bars if t.max_song_bars > 0 else None
        limits = f"{t.min_song_bars}-{max_bars}" if max_bars else f">= {t.min_song_bars}"
        try:
            sets = {}
            for split in ("train", "eval"):
                songs = songs_from_prepared(data_dir, split)
                latents = encode_songs(bar_vae, songs, min_bars=t.min_song_bars, max_bars=max_bars,
                                       info={"data": str(data_dir), "split": split})
                save_latents(latents, trainer.run_dir / "latents" / split)
                sets[split] = load_latents(trainer.run_dir / "latents" / split)
                i = latents.info
                trainer.notices.append(f"{split}: {i['songs']:,} songs of {limits} bars ({i['bars']:,} bars) encoded; "
                                       f"dropped {i['dropped_short']:,} shorter and {i['dropped_long']:,} longer")
        except LatentDataError as exc:
            raise TrainError(str(exc)) from None
        self.train, self.eval_set = sets["train"], sets["eval"]
        if not len(self.eval_set):
            self.train, self.eval_set = self.train.split(EVAL_FRACTION, tc.seed)
        if len(self.train) == 0 or int((self.train.lengths >= 2).sum()) == 0:
            raise TrainError("the training latent set holds no song of 2 bars or more")
        if len(self.eval_set) == 0:
            raise TrainError("the held-out latent set is empty (more songs, or a larger eval fraction)")
        from ..data.dataset import PreparedDataset

        self.manifest = PreparedDataset(data_dir, "train").manifest
        self.vocab_sizes = tuple(bar_vae.vocab_sizes)
        self.fingerprint = bar_vae_fingerprint(bar_vae)
        torch.manual_seed(tc.seed)
        composer = Composer(z_size=self.train.z_size, hidden_size=t.composer_hidden, num_layers=t.composer_layers,
                            components=t.mixture_components, dropout=config.model.dropout)
        for p in bar_vae.parameters():
            p.requires_grad_(False)
        self.model = MCVAE(bar_vae, composer).to(trainer.device)
        self.optimizer = torch.optim.Adam(composer.parameters(), lr=tc.learning_rate)
        self.batch_size = tc.batch_size
        self.usable = np.flatnonzero(self.train.lengths.numpy() >= 2)
        self.baseline = unconditional_nll(self.train, self.eval_set)

    def train_step(self, step: int) -> dict:
        tc, composer = self.config.train, self.model.composer
        composer.train()
        rng = np.random.default_rng([tc.seed, step + 1])  # step s draws the same batch on every run
        idx = self.usable[rng.integers(0, len(self.usable), tc.batch_size)]
        x, lengths = _batch(self.train, idx, self.config.mcvae.crop_bars, rng)
        loss = self.model.loss((x.to(self.device), lengths.to(self.device)))["loss"]
        grad_norm = self.optimise(loss, composer.parameters())
        return {"loss": float(loss.detach()), "nll": float(loss.detach()), "grad_norm": float(grad_norm)}

    def evaluate(self) -> dict:
        nll = evaluate_composer(self.model.composer, self.eval_set, self.config.train.batch_size)
        return {"eval_loss": nll, "eval_nll": nll, "eval_nll_unconditional": self.baseline,
                "train_songs": len(self.train), "eval_songs": len(self.eval_set)}

    def checkpoint_extra(self) -> dict:
        return {"composer": self.model.composer.hyperparameters(), "bar_vae": self.fingerprint,
                "bar_vae_model": {"vocab_sizes": list(self.vocab_sizes), **self.bar_vae_info},
                "vocab_sizes": list(self.vocab_sizes), "representation": self.manifest["representation"]}

    def progress_line(self, rec: dict) -> tuple[str, bool]:
        if "eval_nll" in rec:
            return (f"held-out NLL {rec['eval_nll']:.2f} nats per bar (one Gaussian "
                    f"{rec['eval_nll_unconditional']:.2f})"), True
        return f"NLL {rec['nll']:.2f} nats/bar {rec['seq_per_s']:.0f} songs/s", False

    def done_line(self, final: dict) -> str:
        return (f"held-out NLL {final['eval_nll']:.2f} nats per bar (best {self.trainer.best_eval:.2f}; "
                f"compose with: musicvae compose --model {self.trainer.run_dir})")
