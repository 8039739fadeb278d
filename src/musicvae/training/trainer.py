"""The one training loop: :class:`Trainer`, with a plug-in per model family (``training.family``).

Place in the flow: prepared data (``data``) + config (``presets``) -> :class:`Trainer` (device,
seeds, the loop, logging, checkpoints, resume) + the family's :class:`~.family.Family` (its data,
model, optimiser, step, evaluation, checkpoint extras and progress line) -> checkpoints
(``training.checkpoint``) -> ``generation``.

Families: MusicVAE and the LM (``training.grid``: the ELBO), MusAE (``training.musae_objective``:
adversarial, two optimisers checkpointed together, one process, fp32 or bf16), the VRASH family
(``training.notes``: note events, one process), the MCVAE composer (``training.composer``: songs
encoded by a trained bar VAE, given as ``bar_vae=``).

* Every random choice of step s is a pure function of (seed, s), so ``--resume`` after a kill
  continues the very same curve.
* Under ``torchrun`` (grid families) each rank takes its slice of every global batch; rank 0
  alone logs and writes checkpoints.
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

from ..config import Config, ConfigError
from ..utils.allocator import keep_freed_memory
from .checkpoint import has_checkpoints, load_checkpoint, save_checkpoint
from .family import Family, TrainError, step_generator  # noqa: F401 (re-exported)
from ..utils.stored import StoredFileError, load_state_into_model, read_safetensors
from .resume import ResumeRefused, data_identity, load_resumable
from .runlog import MetricsLog


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


def cpu_runs(precision: str) -> bool:
    """Whether oneDNN has reduced-precision kernels for ``precision`` (bf16 or fp16) on this CPU."""
    ops = torch.ops.mkldnn
    return bool(ops._is_mkldnn_bf16_supported() if precision == "bf16" else ops._is_mkldnn_fp16_supported())


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a reduced precision the device cannot run, before any step.

    On a CPU without bf16 (or fp16) instructions (AVX-512 BF16/AMX; e.g. AVX2-only Zen 3), oneDNN has no
    reduced-precision LSTM and the first forward pass dies with "could not create a primitive descriptor".
    """
    if precision != "fp32" and device.type == "cpu" and not cpu_runs(precision):
        raise TrainError(f"--precision {precision}: this CPU has no {precision} instructions "
                         f"({torch.backends.cpu.get_cpu_capability()}; needs AVX-512 {precision.upper()} or AMX); "
                         "use --precision fp32")


def family_for(config: Config) -> type[Family]:
    """The plug-in that trains ``config.model.family``."""
    from ..models.builders import NOTE_FAMILIES

    if config.model.family == "musae":
        from .musae_objective import MusAEFamily

        return MusAEFamily
    if config.model.family in NOTE_FAMILIES:
        from .notes import NoteFamily

        return NoteFamily
    if config.model.family == "mcvae":
        from .composer import ComposerFamily

        return ComposerFamily
    from .grid import GridFamily

    return GridFamily


class Trainer:
    """Trains any model family: ``Trainer(config, data_dir, run_dir).fit()``."""

    def __init__(
        self,
        config: Config,
        data_dir: str | os.PathLike,
        run_dir: str | os.PathLike,
        *,
        resume: bool = False,
        on_log: Callable[[dict], None] | None = None,
        force: bool = False,
        eval_hooks: Sequence[Callable[[torch.nn.Module], dict]] = (),
        **options,
    ):
        self.config = config
        self.options = options  # what a family needs besides the data (the composer: bar_vae=(model, info))
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
        self.notices: list[str] = []  # one-line messages for the user (the CLI prints them)
        self.family = family_for(config)(self, data_dir)  # may adjust self.config (MusAE without labels)
        check_precision(tc.precision, self.device)  # after the family's own refusals (MusAE: not fp16)
        self.model, self.optimizer = self.family.model, self.family.optimizer
        if config.train.init_from and not resume:
            self._init_weights(Path(config.train.init_from))
        self.step = 0
        self.on_log = on_log
        self.best_eval = math.inf
        if resume:
            self._resume()
        elif self.dist.is_main and has_checkpoints(self.run_dir):
            raise TrainError(f"{self.run_dir}: already holds checkpoints; pass --resume to continue or choose a new --out")
        elif self.dist.is_main:
            self._open_log()
        self.tb = self._tensorboard() if self.dist.is_main else None

    # ------------------------------------------------------------------ setup
    def _init_weights(self, path: Path) -> None:
        """Fine-tuning: fill the fresh model from an exported model dir or a checkpoint's weights."""
        weights = path / "model.safetensors" if path.is_dir() else path
        if not weights.is_file():
            raise TrainError(f"{path}: init_from needs a model dir or checkpoint holding model.safetensors")
        try:
            load_state_into_model(self.model, read_safetensors(weights, device=self.device), weights)
        except StoredFileError as exc:
            raise TrainError(str(exc)) from None

    def _resume(self) -> None:
        try:  # the newest intact checkpoint of the same run (training.resume)
            state, latest, notice = load_resumable(
                self.run_dir, self.config.to_dict(), data_identity(self.family.manifest), self.force,
                lambda step_dir: load_checkpoint(step_dir, self.model, self.optimizer, map_location=self.device))
        except ResumeRefused as exc:
            raise TrainError(str(exc)) from None
        if notice:
            self.notices.append(notice)
        self.step = int(state["step"])
        self.best_eval = float(state.get("best_eval", math.inf))
        self.run_id = state.get("run_id") if isinstance(state.get("run_id"), str) else None
        self._open_log(resume_step=self.step)

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _open_log(self, resume_step: int | None = None) -> None:
        """This run's ``metrics.jsonl`` (``training.runlog``): a fresh run drops an earlier run's lines that
        no checkpoint kept; a resumed one keeps its lines up to ``resume_step`` (later ones are redone;
        torn lines and another run's lines are dropped)."""
        self.metrics_log = MetricsLog(self.run_dir, getattr(self, "run_id", None))
        self.run_id = self.metrics_log.run_id
        if self.dist.is_main:
            metrics = self.metrics_log
            notice = metrics.start_fresh() if resume_step is None else metrics.resume(resume_step)
            if notice:
                self.notices.append(notice)

    def autocast(self):
        p = self.config.train.precision
        if p == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if p == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------- loop
    @torch.no_grad()
    def evaluate(self) -> dict:
        """The family's held-out figures (``eval_loss`` picks the best checkpoint)."""
        return self.family.evaluate()

    def log(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        self.metrics_log.append(record)
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, record["step"])
        if self.on_log:
            self.on_log(record)

    def save(self, metrics: dict) -> None:
        if not self.dist.is_main:
            return
        save_checkpoint(
            self.run_dir, self.step, self.model, self.optimizer, config=self.config.to_dict(), metrics=metrics,
            extra={"best_eval": self.best_eval, "run_id": self.run_id, "data_id": data_identity(self.family.manifest),
                   **self.family.checkpoint_extra()},
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
            rec = self.family.train_step(self.step)
            self.step += 1
            seen += self.family.batch_size
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
        a = config.musae
        if a.prior not in PRIORS:
            raise ConfigError(f"unknown prior {a.prior!r} ({' or '.join(PRIORS)})")
        if a.reconstruction not in ("sum", "per_step"):
            raise ConfigError(f"unknown reconstruction {a.reconstruction!r} (sum or per_step)")
        if a.critic_steps < 0 or a.beta_every < 1 or a.gp_weight < 0:
            raise ConfigError("MusAE needs critic_steps >= 0, beta_every >= 1 and gp_weight >= 0")
