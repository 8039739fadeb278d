"""The training loop: a plain PyTorch loop with evaluation, logging, checkpoints and DDP.

Place in the flow: prepared data (``data``) + config (``presets``) -> ``models.builders``
-> :class:`Trainer` -> checkpoints (``training.checkpoint``) -> ``generation``.

VAEs and the LM train on the ELBO here; MusAE (``family="musae"``) trains adversarially
through :class:`~musicvae.training.musae_objective.MusAEObjective` (two optimisers,
checkpointed together) with the same batches, logging, checkpoints and resume. MusAE
runs on one process (no torchrun) in fp32 or bf16.

* Every random choice of step s (batch, transpositions, latent noise, scheduled
  sampling) is a pure function of (seed, s), so ``--resume`` after a kill continues
  the very same curve.
* Under ``torchrun`` it wraps the model in DistributedDataParallel (NCCL on GPU,
  gloo on CPU); each rank takes its slice of every global batch; rank 0 alone logs
  and writes checkpoints.
* Metrics go to ``RUN_DIR/metrics.jsonl`` always, and to TensorBoard when installed.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..config import Config, ConfigError
from ..data.dataset import DatasetError, WindowDataset
from ..models.builders import build_model, count_parameters
from ..utils.allocator import keep_freed_memory
from . import schedules
from .adversarial import adversarial_beta
from .batches import BatchStream, spread_batches
from .checkpoint import CheckpointError, has_checkpoints, load_checkpoint, load_weights, save_checkpoint
from .losses import accuracy, elbo_loss, reconstruction_predictions, segment_accuracy, token_accuracy
from .musae_objective import MusAEObjective
from .resume import ResumeRefused, data_identity, load_resumable
from .runlog import MetricsLog


class TrainError(ValueError):
    """A problem with the training request (one-line message)."""


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str, dist_info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainError("--device cuda: no CUDA device is available here")
        return torch.device("cuda", dist_info.local_rank)
    if name != "cpu":
        raise TrainError(f"unknown device {name!r} (cpu, cuda or auto)")
    return torch.device("cpu")


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + step * 7919 + 17) % (2**63))
    return gen


class Trainer:
    def __init__(
        self,
        config: Config,
        data_dir: str | os.PathLike,
        run_dir: str | os.PathLike,
        *,
        resume: bool = False,
        on_log: Callable[[dict], None] | None = None,
        force: bool = False,
        eval_hooks: Sequence[Callable[[nn.Module], dict]] = (),
    ):
        self.config = config
        # extra eval figures from later stages (the CLI adds evaluation.train_realism's sample OOD rate):
        # each hook(model) -> dict, called on the main process after the held-out eval, merged into its record
        self.eval_hooks = list(eval_hooks)
        self.force = force  # --resume even into another dataset, preset or seed (training.resume)
        self.run_dir = Path(run_dir)
        tc = config.train
        if tc.precision not in ("fp32", "bf16", "fp16"):
            raise TrainError(f"unknown precision {tc.precision!r} (fp32, bf16 or fp16)")
        self.dist = init_distributed("cuda" if tc.device == "cuda" or (tc.device == "auto" and torch.cuda.is_available()) else "cpu")
        self.device = resolve_device(tc.device, self.dist)
        if self.device.type == "cpu":
            # Flush denormals to zero (TensorFlow's CPU default). Without it a hierdec-mel_16bar_cpu
            # run fell from ~20 to ~3 seq/s after ~300 steps on this 2-core machine; with it, it
            # held ~25 seq/s. Process-wide, and harmless for training numerics.
            torch.set_flush_denormal(True)
            # keep the LSTM's big temporaries mapped between steps (glibc mallopt; process-wide, costs
            # resident memory; MUSICVAE_MALLOC=system switches it off): hierdec-mel_16bar_cpu ~1.3x
            keep_freed_memory()
        torch.manual_seed(tc.seed)

        try:
            self.train_set = WindowDataset(data_dir, "train", transpose=None, as_torch=False)
            self.eval_set = WindowDataset(data_dir, "eval", transpose=None, as_torch=False)
        except (DatasetError, FileNotFoundError) as exc:
            raise TrainError(str(exc)) from None
        man = self.train_set.data.manifest
        if man["kind"] != config.data.kind or int(man["bars"]) != config.data.bars:
            hint = f"prepare with --kind {config.data.kind} --bars {config.data.bars}"
            if config.model.family == "musae" and int(man["bars"]) == config.data.bars:
                hint += f", or train MusAE on these tracks with --set data.kind={man['kind']}"
            raise TrainError(
                f"{data_dir}: holds {man['bars']}-bar {man['kind']} windows but preset {config.preset} "
                f"expects {config.data.bars}-bar {config.data.kind} ({hint})"
            )
        if len(self.train_set) == 0:
            raise TrainError(f"{data_dir}: the train split is empty")
        self.vocab_sizes = tuple(int(v) for v in self.train_set.converter.vocab_sizes)
        self.label_names = list(self.train_set.label_names)
        self.notices: list[str] = []  # one-line messages for the user (the CLI prints them)
        if config.model.family == "musae" and config.model.prior == "flower" and not self.label_names:
            self.config = config = config.copy()
            config.model.prior = "gauss"
            self.notices.append(f"{data_dir}: no style labels, so the mixture (flower) prior has nothing to drive it; "
                                f"training with the Gaussian prior (prepare with --labels FILE for labels)")
        transpose = (config.data.transpose_low, config.data.transpose_high) if config.data.augment else None
        self.batches = BatchStream(self.train_set, tc.batch_size, seed=tc.seed, transpose=transpose,
                                   rank=self.dist.rank, world_size=self.dist.world_size)
        eval_source = self.eval_set if len(self.eval_set) else self.train_set
        # windows spread evenly over the eval split: it is stored by source file, so its first
        # batches would come from a handful of tunes (mel_2bar's card: 0.840 teacher-forced on
        # them, 0.903 on a random sample)
        self.eval_batches, self.eval_label_sets = spread_batches(eval_source, min(tc.batch_size, 256),
                                                                 tc.eval_batches)

        self.model = build_model(config, self.vocab_sizes).to(self.device)
        if tc.init_from and not resume:
            self._init_weights(Path(tc.init_from))
        self.ddp_model: nn.Module = self.model
        self.objective: MusAEObjective | None = None
        if config.model.family == "musae":
            if self.dist.world_size > 1:
                raise TrainError("MusAE trains on one process; run it without torchrun")
            if tc.precision == "fp16":
                raise TrainError("MusAE trains in fp32 or bf16, not fp16 (--precision bf16)")
        if self.dist.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids)
        if config.model.family == "musae":
            self.objective = MusAEObjective(self.model, config, self.label_names,
                                            tuple(self.train_set.converter.stream_names))
            self.optimizer = self.objective.optimizer  # both optimisers, saved and restored together
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=tc.learning_rate)
        self.sampling = schedules.ScheduledSampling(tc.sampling_schedule, tc.sampling_rate, tc.sampling_mode)
        self.scaler = torch.amp.GradScaler("cuda") if tc.precision == "fp16" and self.device.type == "cuda" else None
        self.step = 0
        self.on_log = on_log
        self.best_eval = math.inf
        if resume:
            self._resume()
        elif self.dist.is_main and has_checkpoints(self.run_dir):
            raise TrainError(f"{self.run_dir}: already holds checkpoints; pass --resume to continue or choose a new --out")
        elif self.dist.is_main:
            self.log_start()
        self.tb = self._tensorboard() if self.dist.is_main else None

    # ------------------------------------------------------------------ setup
    def _init_weights(self, path: Path) -> None:
        """Fine-tuning: fill the fresh model from an exported model dir or a checkpoint's weights."""
        weights = path / "model.safetensors" if path.is_dir() else path
        if not weights.is_file():
            raise TrainError(f"{path}: init_from needs a model dir or checkpoint holding model.safetensors")
        try:
            load_weights(self.model, weights, map_location=self.device)
        except CheckpointError as exc:
            raise TrainError(str(exc)) from None

    def _resume(self) -> None:
        try:  # the newest intact checkpoint of the same run (training.resume)
            state, latest, notice = load_resumable(
                self.run_dir, self.config.to_dict(),
                data_identity(getattr(self, "manifest", None) or self.train_set.data.manifest), self.force,
                lambda step_dir: load_checkpoint(step_dir, self.model, self.optimizer, map_location=self.device))
        except ResumeRefused as exc:
            raise TrainError(str(exc)) from None
        if notice:
            self.notices.append(notice)
        self.step = int(state["step"])
        self.best_eval = float(state.get("best_eval", math.inf))
        self.run_id = state.get("run_id") if isinstance(state.get("run_id"), str) else None
        self._truncate_log(self.step)

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _truncate_log(self, step: int) -> None:
        """Keep this run's log lines up to the checkpoint we resume from (later ones are redone;
        torn lines and another run's lines are dropped): ``training.runlog``."""
        self.metrics_log = MetricsLog(self.run_dir, getattr(self, "run_id", None))
        self.run_id = self.metrics_log.run_id
        if self.dist.is_main:
            notice = self.metrics_log.resume(step)
            if notice:
                self.notices.append(notice)

    def autocast(self):
        p = self.config.train.precision
        if p == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if p == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------- loop
    def train_step(self, step: int) -> dict:
        if self.objective is not None:
            return self._musae_step(step)
        tc = self.config.train
        self.ddp_model.train()
        tokens = self.batches.batch(step, self.device)  # (b, T, K)
        gen = step_generator(tc.seed * 131 + self.dist.rank, step, self.device)
        prob = float(self.sampling.probability(step))
        feed = schedules.sampling_mask(prob, tokens.shape[0], tokens.shape[1], tc.sampling_mode, generator=gen) if prob > 0 else None
        lr = float(schedules.learning_rate(step, tc.learning_rate, tc.decay_rate, tc.min_learning_rate))
        beta = float(schedules.beta(step, tc.max_beta, tc.beta_rate))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.autocast():
            out = self.ddp_model(tokens, feed_sample=feed.to(self.device) if feed is not None else None, generator=gen)
            losses = elbo_loss(out["logits"].float(), tokens, self.vocab_sizes, out["mu"], out["sigma"], beta,
                               tc.free_bits, tc.free_bits_per_dim)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(losses["loss"]).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            losses["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        with torch.no_grad():
            acc, _ = accuracy(out["logits"].float(), tokens, self.vocab_sizes)
        losses = {k: v.detach() for k, v in losses.items()}
        return {
            "loss": float(losses["loss"]), "r_loss": float(losses["r_loss"]), "kl": float(losses["kl"]),
            "kl_bits": float(losses["kl_bits"]), "beta": beta, "lr": lr, "sampling_prob": prob,
            "accuracy": float(acc), "grad_norm": float(grad_norm),
        }

    def _musae_step(self, step: int) -> dict:
        """One adversarial MusAE step (critic updates, then the autoencoder) on the batch of ``step``."""
        tc = self.config.train
        tokens = self.batches.batch(step, self.device)  # (b, T, K)
        gen = step_generator(tc.seed * 131 + self.dist.rank, step, self.device)
        lr = float(schedules.learning_rate(step, tc.learning_rate, tc.decay_rate, tc.min_learning_rate))
        beta = adversarial_beta(step, tc.beta_every, tc.beta_increment, tc.max_beta)
        with self.autocast():
            return self.objective.train_step(tokens, self.batches.labels(step), beta, lr, gen)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Accuracies, ELBO and KL on the fixed eval batches.

        ``tf_accuracy``: teacher-forced argmax. ``sampled_accuracy``: magenta's definition (the
        figure beside the papers' "sampling" column): the argmax prediction at each step while
        the decoder is fed its own temperature-1 samples (each segment of a hierarchical decoder
        starts from the true previous token), see ``eval_unroll``. ``free_running_accuracy``:
        the temperature-1 samples themselves scored against the data (ours; lower).
        ``argmax_accuracy``: greedy decoding (temperature 0) from the same z.
        """
        if self.objective is not None:
            seed = self.config.train.seed + 99
            return self.objective.evaluate(self.eval_batches, self.eval_label_sets, self.device,
                                           lambda i: step_generator(seed, i, self.device))
        self.model.eval()
        seg = getattr(self.model.decoder, "segment_steps", self.model.steps)
        totals: dict[str, float] = {}
        streams: dict[str, np.ndarray] = {}
        per_seg: dict[str, np.ndarray] = {}
        n = 0
        for i, tokens in enumerate(self.eval_batches):
            tokens = tokens.to(self.device)
            gen = step_generator(self.config.train.seed + 99, i, self.device)
            out = self.model(tokens, generator=gen)
            losses = elbo_loss(out["logits"].float(), tokens, self.vocab_sizes, out["mu"], out["sigma"], 1.0, 0.0)
            preds = reconstruction_predictions(self.model, tokens, out, gen)
            w = tokens.shape[0]
            accs = {key: token_accuracy(pred, tokens) for key, pred in preds.items()}
            for key, value in (("eval_loss", losses["r_loss"] + losses["kl"]), ("eval_r_loss", losses["r_loss"]),
                               ("eval_kl", losses["kl"]), ("eval_kl_bits", losses["kl_bits"]),
                               ("eval_elbo", losses["elbo"]),
                               *((f"{key}_accuracy", acc[0]) for key, acc in accs.items())):
                totals[key] = totals.get(key, 0.0) + float(value) * w
            for key, (_, per_stream) in accs.items():
                streams[key] = streams.get(key, 0.0) + per_stream.cpu().numpy() * w
            for key in ("sampled", "free_running"):
                per_seg[key] = per_seg.get(key, 0.0) + segment_accuracy(preds[key], tokens, seg).cpu().numpy() * w
            n += w
        out = {k: v / n for k, v in totals.items()}
        if len(self.vocab_sizes) > 1:
            names = self.train_set.converter.stream_names
            for key in ("tf", "sampled", "free_running"):
                out[f"{key}_accuracy_per_stream"] = dict(zip(names, (streams[key] / n).round(4).tolist()))
        if seg != self.model.steps:
            for key in ("sampled", "free_running"):
                out[f"{key}_accuracy_per_segment"] = (per_seg[key] / n).round(4).tolist()
        return out

    def log(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        if getattr(self, "metrics_log", None) is None:  # a fresh run: the log starts empty (training.runlog)
            self.log_start()
        self.metrics_log.append(record)
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, record["step"])
        if self.on_log:
            self.on_log(record)

    def _run_id(self) -> str:
        """The id every metrics line and checkpoint of this run carries (``training.runlog``)."""
        if getattr(self, "metrics_log", None) is None:
            self.log_start()
        return self.metrics_log.run_id

    def log_start(self) -> None:
        self.metrics_log = MetricsLog(self.run_dir)
        self.run_id = self.metrics_log.run_id
        notice = self.metrics_log.start_fresh()
        if notice:
            self.notices.append(notice)

    def save(self, metrics: dict) -> None:
        if not self.dist.is_main:
            return
        save_checkpoint(
            self.run_dir, self.step, self.model, self.optimizer, config=self.config.to_dict(), metrics=metrics,
            extra={"best_eval": self.best_eval, "vocab_sizes": list(self.vocab_sizes), "run_id": self._run_id(),
                   "data_id": data_identity(self.train_set.data.manifest),
                   "representation": self.train_set.data.manifest["representation"],
                   "parameters": count_parameters(self.model),
                   **({"labels": {"names": self.label_names, "components": self.objective.petals}}
                      if self.objective is not None else {})},
            keep_last=self.config.train.keep_last, best_metric="eval_loss" if "eval_loss" in metrics else None,
            higher_is_better=False,
        )

    def fit(self, steps: int | None = None, progress: Callable[[int, dict], None] | None = None) -> dict:
        """Train until ``steps`` (default: config.train.steps) global steps; returns the last eval."""
        tc = self.config.train
        total = steps if steps is not None else tc.steps
        last_eval: dict = {}
        t0, seen = time.perf_counter(), 0
        window: list[dict] = []
        while self.step < total:
            rec = self.train_step(self.step)
            self.step += 1
            seen += self.batches.batch_size
            window.append(rec)
            if self.step % tc.log_every == 0 or self.step == total:
                mean = {k: float(np.mean([r[k] for r in window])) for k in window[0]}
                elapsed = time.perf_counter() - t0
                mean.update(step=self.step, seq_per_s=seen / elapsed if elapsed > 0 else 0.0)
                self.log(mean)
                window, t0, seen = [], time.perf_counter(), 0
                if progress:
                    progress(self.step, mean)
            if self.step % tc.eval_every == 0 or self.step == total:
                last_eval = self.evaluate()
                if self.dist.is_main:
                    for hook in self.eval_hooks:
                        last_eval.update(hook(self.model))
                if last_eval["eval_loss"] < self.best_eval:
                    self.best_eval = last_eval["eval_loss"]
                self.log({"step": self.step, **last_eval})
                if progress:
                    progress(self.step, last_eval)
            if self.step % tc.checkpoint_every == 0 or self.step == total:
                self.save(last_eval)
        if self.dist.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
        return last_eval


def check_config(config: Config) -> None:
    """Refuse settings that cannot work before any data is read."""
    m, tc = config.model, config.train
    if m.family != "musae" and m.decoder == "hierarchical" and (16 * config.data.bars) % m.segments:
        raise ConfigError(f"{config.data.bars} bars do not split into {m.segments} segments")
    if m.family == "musae":
        from ..models.builders import PRIORS
        from ..representations import GRID_KINDS

        if config.data.kind not in GRID_KINDS:
            raise ConfigError(f"MusAE reads token grids: data.kind must be one of {', '.join(GRID_KINDS)}, "
                              f"not {config.data.kind!r}")
        if m.prior not in PRIORS:
            raise ConfigError(f"unknown prior {m.prior!r} ({' or '.join(PRIORS)})")
        if tc.reconstruction not in ("sum", "per_step"):
            raise ConfigError(f"unknown reconstruction {tc.reconstruction!r} (sum or per_step)")
        if tc.critic_steps < 0 or tc.beta_every < 1 or tc.gp_weight < 0:
            raise ConfigError("MusAE needs critic_steps >= 0, beta_every >= 1 and gp_weight >= 0")
