"""Training of the VRASH family (``note_lm``, ``note_vae``, ``vrash``) through ``musicvae train``.

Place in the flow: ``prepare --kind notes`` folder -> :class:`~.notes.NoteSequenceSet` ->
:class:`NoteTrainer` (batches from :class:`~.notes.NoteBatchStream`) -> checkpoints that
``generation.notes.NoteModel`` (``musicvae sample``) and ``experiments/vrash_vs_lm.py`` load.

:class:`NoteTrainer` is the :class:`~.trainer.Trainer` for note data: it keeps the trainer's
loop (:meth:`Trainer.fit`: logging to ``metrics.jsonl``/TensorBoard, evaluation, checkpoint
cadence, best checkpoint by ``eval_loss``) and its resume (:meth:`Trainer._resume`: weights,
Adam state, the saved config must match), and replaces the data, the model set-up, one
training step, the evaluation and what checkpoints record. One process only (no torchrun).

* Step ``s`` reads the batch :meth:`NoteBatchStream.batch(s) <.notes.NoteBatchStream.batch>`
  and draws z noise and history dropout from ``step_generator(seed, s)`` (and seeds torch's
  global RNG for dropout layers from ``(seed, s)``): every random choice is a pure function
  of ``(seed, step)``, so ``--resume`` continues the very same curve.
* Loss: summed cross-entropy of the three note factors over each track (+ its end token)
  + ``beta * KL`` (after ``free_bits``), averaged over tracks; beta rises linearly from 0 to
  ``max_beta`` over ``kl_warmup_steps`` (:func:`~.notes.beta_at`); learning rate as the
  other families (``schedules.learning_rate``).
* Evaluation: held-out cross-entropy per note (teacher forced, z = posterior mean;
  ``eval_ce``), the negative ELBO per note (``eval_bound`` = ``eval_loss``: CE with one seeded
  posterior sample of z + KL; for the VAEs an upper bound of the NLL per note, for the LM its
  CE), KL per note / per track, teacher-forced accuracy per factor, on
  ``eval_batches * batch_size`` held-out tracks spread over the eval split.
* Checkpoints (safetensors + JSON, atomic) add a ``notes`` entry: the model kind and its
  hparams, the collection names (ids of the collection embedding), the instrument/collection
  pairs seen in training with their counts, and defaults for decoding sampled events
  (median duration, octave shift and program: medians/modes of the training tracks).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import Config, ConfigError
from ..data.dataset import DatasetError
from ..models.builders import NOTE_FAMILIES, build_model, count_parameters
from . import schedules
from .checkpoint import has_checkpoints, save_checkpoint
from .resume import data_identity
from .notes import NoteBatchStream, NoteSequenceSet, beta_at, evaluate_cross_entropy, subset
from .trainer import DistInfo, Trainer, TrainError, resolve_device, step_generator

__all__ = ["NOTE_FAMILIES", "NoteTrainer", "check_note_config"]


def check_note_config(config: Config) -> None:
    """Refuse settings a note model cannot train with (one-line :class:`ConfigError`)."""
    m, tc = config.model, config.train
    if config.data.kind != "notes":
        raise ConfigError(f"{m.family} models read note events: data.kind must be notes, not {config.data.kind!r}")
    if config.data.max_notes < 1:
        raise ConfigError(f"data.max_notes must be at least 1, not {config.data.max_notes}")
    if m.family == "note_vae" and m.history_dropout:
        raise ConfigError("note_vae reads no history: model.history_dropout must be 0")
    if not 0.0 <= m.history_dropout <= 1.0:
        raise ConfigError(f"model.history_dropout must be in [0, 1], not {m.history_dropout}")
    if m.collections < 1:
        raise ConfigError(f"model.collections must be at least 1, not {m.collections}")
    if tc.precision == "fp16":
        raise ConfigError("note models train in fp32 or bf16, not fp16 (--precision bf16)")
    if tc.kl_warmup_steps < 0:
        raise ConfigError(f"train.kl_warmup_steps must be >= 0, not {tc.kl_warmup_steps}")


class NoteTrainer(Trainer):
    """:class:`Trainer` for the note families; same constructor, ``fit`` and run-folder layout."""

    def __init__(self, config: Config, data_dir: str | os.PathLike, run_dir: str | os.PathLike, *,
                 resume: bool = False, on_log: Callable[[dict], None] | None = None, force: bool = False):
        self.force = force  # --resume into another dataset, preset or seed anyway (training.resume)
        if config.model.family not in NOTE_FAMILIES:
            raise TrainError(f"NoteTrainer trains {', '.join(NOTE_FAMILIES)}, not {config.model.family!r}")
        try:
            check_note_config(config)
        except ConfigError as exc:
            raise TrainError(str(exc)) from None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise TrainError("note models train on one process; run them without torchrun")
        self.config = config
        self.run_dir = Path(run_dir)
        self.data_dir = Path(data_dir)
        tc = config.train
        self.dist = DistInfo()
        self.device = resolve_device(tc.device, self.dist)
        if self.device.type == "cpu":
            torch.set_flush_denormal(True)  # as Trainer: denormals slowed CPU LSTM runs several times over
        torch.manual_seed(tc.seed)
        self.notices: list[str] = []
        try:
            self.train_set = NoteSequenceSet.load(data_dir, "train")
            eval_set = NoteSequenceSet.load(data_dir, "eval", collections=self.train_set.collections)
        except (DatasetError, FileNotFoundError, KeyError) as exc:
            raise TrainError(str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        if len(self.train_set) == 0:
            raise TrainError(f"{data_dir}: the train split is empty")
        self.manifest = json.loads((self.data_dir / "manifest.json").read_text())
        if self.train_set.warning:
            self.notices.append(f"{data_dir}: {self.train_set.warning}")
        self.collections = list(self.train_set.collections)
        cap = config.model.collections
        if len(self.collections) > cap:
            self.notices.append(f"{data_dir}: {len(self.collections) - 1} collections but the model embeds "
                                f"{cap - 1}; the rest share the 'unknown' row (--set model.collections=N)")
            for s in (self.train_set, eval_set):
                s.meta[:, 1] = np.where(s.meta[:, 1] < cap, s.meta[:, 1], 0)
        self.eval_set = eval_set if len(eval_set) else self.train_set
        if not len(eval_set):
            self.notices.append(f"{data_dir}: the eval split is empty; evaluating on training tracks")
        self.vocab_sizes = tuple(int(v) for v in self.train_set.vocab_sizes)
        self.max_notes = int(config.data.max_notes)
        self.batches = NoteBatchStream(self.train_set, tc.batch_size, seed=tc.seed, max_notes=self.max_notes)
        n_eval = min(len(self.eval_set), max(1, tc.eval_batches) * tc.batch_size)
        spread = np.unique(np.linspace(0, len(self.eval_set) - 1, n_eval).round().astype(int))
        self.eval_subset = subset(self.eval_set, spread)
        try:
            self.model = build_model(config, self.vocab_sizes).to(self.device)
        except ConfigError as exc:
            raise TrainError(str(exc)) from None
        self.ddp_model = self.model
        self.objective = None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=tc.learning_rate)
        self.scaler = None
        self.step = 0
        self.on_log = on_log
        self.best_eval = math.inf
        self.note_info = self._note_info()
        if resume:
            self._resume()
        elif has_checkpoints(self.run_dir):
            raise TrainError(f"{self.run_dir}: already holds checkpoints; pass --resume to continue or choose a new --out")
        else:
            self.log_start()
        self.tb = self._tensorboard()

    # ------------------------------------------------------------------ setup
    def _note_info(self) -> dict:
        """What a checkpoint needs besides the weights to sample and decode (JSON)."""
        rows = self.train_set.track_meta_rows  # (n, 5): program, is_drum, median_duration, octave_shift, group
        pairs = Counter((int(g), int(c)) for g, c in self.train_set.meta)
        programs: dict[str, int] = {}
        for g in sorted({int(r[4]) for r in rows}):
            progs = Counter(int(r[0]) for r in rows if int(r[4]) == g)
            programs[str(g)] = progs.most_common(1)[0][0]
        med = lambda col: int(np.sort(rows[:, col])[(len(rows) - 1) // 2])  # noqa: E731 (lower median)
        return {
            "model": NOTE_FAMILIES[self.config.model.family],
            "hparams": {k: list(v) if isinstance(v, tuple) else v for k, v in self.model.hparams.items()},
            "collections": self.collections,
            "track_meta": [[g, c, n] for (g, c), n in sorted(pairs.items())],  # [instrument group, collection, tracks]
            "decode": {"median_duration": med(2), "octave_shift": med(3), "programs": programs},
            "max_notes": self.max_notes,
            "data": str(self.data_dir),
            "tracks": {"train": len(self.train_set), "eval": len(self.eval_set)},
        }

    # ------------------------------------------------------------------- loop
    def train_step(self, step: int) -> dict:
        tc = self.config.train
        self.model.train()
        batch = self.batches.batch(step).to(self.device)
        gen = step_generator(tc.seed * 131, step, self.device)
        torch.manual_seed((tc.seed * 1_000_003 + step * 7919 + 29) % (2**63))  # dropout layers, if any
        lr = float(schedules.learning_rate(step, tc.learning_rate, tc.decay_rate, tc.min_learning_rate))
        beta = float(beta_at(step, tc.max_beta, tc.kl_warmup_steps))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.autocast():
            out = self.model.loss(batch, beta=beta, free_bits=tc.free_bits, per_dim_free_bits=tc.free_bits_per_dim,
                                  generator=gen)
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.optimizer.step()
        loss = float(out["loss"].detach())
        if not math.isfinite(loss):
            raise TrainError(f"non-finite loss at step {step + 1}; lower the learning rate or check the data")
        keys = ("r_loss", "nll_per_note", "kl", "kl_bits", "kl_per_note", "accuracy")
        return {"loss": loss, **{k: float(out[k].detach()) for k in keys}, "beta": beta, "lr": lr,
                "grad_norm": float(grad_norm), "notes": float(out["positions"])}

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Held-out cross-entropy per note (z = posterior mean) and the NLL bound on the fixed eval tracks.

        ``eval_bound`` (= ``eval_loss``) is the negative ELBO per note, CE with a z drawn from the
        posterior (one seeded sample) + KL: an upper bound of the NLL per note (the LM's is its CE).
        """
        kw = dict(batch_size=max(self.config.train.batch_size, 32), max_notes=self.max_notes,
                  seed=self.config.train.seed + 99, device=self.device)
        res = evaluate_cross_entropy(self.model, self.eval_subset, use_mean=True, **kw)
        bound = res["bound"]
        if self.model.latent:
            bound = evaluate_cross_entropy(self.model, self.eval_subset, use_mean=False, **kw)["bound"]
        out = {"eval_loss": bound, "eval_ce": res["ce"], "eval_bound": bound,
               "eval_kl_per_note": res["kl_per_note"], "eval_kl": res["kl_per_track"],
               "eval_kl_bits": res["kl_per_track"] / math.log(2), "tf_accuracy": res["accuracy"],
               "eval_tracks": res["sequences"], "eval_notes": res["positions"]}
        for k, v in res.items():
            if k.startswith(("ce_", "acc_")) and not k.endswith("_sum"):
                out[f"eval_{k}"] = v
        return out

    def save(self, metrics: dict) -> None:
        save_checkpoint(
            self.run_dir, self.step, self.model, self.optimizer, config=self.config.to_dict(), metrics=metrics,
            extra={"best_eval": self.best_eval, "vocab_sizes": list(self.vocab_sizes), "run_id": self._run_id(),
                   "data_id": data_identity(self.manifest),
                   "representation": self.manifest["representation"],
                   "parameters": count_parameters(self.model), "notes": self.note_info},
            keep_last=self.config.train.keep_last, best_metric="eval_loss" if "eval_loss" in metrics else None,
            higher_is_better=False,
        )
