"""Shared helpers of the paper experiment scripts in ``experiments/``.

Place in the flow: a bundled corpus -> :meth:`Experiment.ensure_data` (``musicvae prepare``,
skipped when the folder is already prepared) -> :meth:`Experiment.train` (``musicvae train``,
resumed when the run folder holds checkpoints, skipped when it already reached the step)
-> run folder (``metrics.jsonl``, ``checkpoints/``) -> :meth:`Experiment.load` (a
``TrainedModel``) + :mod:`musicvae.evaluation.studies` -> :meth:`Experiment.write`
(``report.md``, ``report.json`` and PNG plots drawn with :mod:`musicvae.evaluation.report`'s
helpers).

Training and data preparation run the project's own command line (``musicvae prepare`` /
``musicvae train``, invoked in this process to save the start-up of a new interpreter), so
each report records the exact commands behind its figures.
Problems the user can fix end the script with one line ``error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, NoReturn, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODES = {"tiny": "_tiny", "cpu": "_cpu", "full": ""}
#: what each bundled corpus is, for the reports' data caveat
CORPORA = {
    "folk": "the folk melodies bundled with musicvae (Essen, O'Neill's and other folk collections from "
            "music21's corpus, a few thousand tunes)",
    "games": "the game music bundled with musicvae (39 songs with melody, bass and drums from Debian's "
             "planetblupi and openttd packages)",
    "bach": "the Bach chorales bundled with musicvae (music21's corpus, 4 voices)",
}


def experiment_note(corpus: str = "folk") -> str:
    return (f"Different data from the papers: these models are trained on {CORPORA[corpus]}, not on the papers' "
            "1.5 million MIDI files from the web or Lakh MIDI, and for far fewer steps with smaller models; "
            "compare directions and gaps, not absolute figures.")


EXPERIMENT_NOTE = experiment_note("folk")
# settings the trainer does not check on --resume, but which change what a run learns
_RESUME_IGNORED = {"steps", "device", "precision", "num_workers", "log_every", "eval_every", "checkpoint_every",
                   "keep_last", "eval_batches"}


class ExperimentError(Exception):
    """A problem the user can fix (one-line message)."""


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


@dataclass(frozen=True)
class Mode:
    """Model size: ``tiny`` (tests, seconds), ``cpu`` (2-core CPU, hours) or ``full`` (the papers', a GPU)."""

    name: str
    steps: int | None  # None: the preset's own number of steps
    n: int
    lm_limit: int  # training windows the 5-gram model is fitted on
    attribute_windows: int  # training windows attribute vectors are computed from

    @property
    def suffix(self) -> str:
        return MODES[self.name]


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """The options every experiment script takes."""
    p = argparse.ArgumentParser(prog=f"experiments/{name}.py", description=description)
    p.add_argument("--steps", type=int, help="Training steps of each model (default depends on the size).")
    p.add_argument("--out", type=Path, help=f"Report folder (default experiments/results/{name}/, "
                                            f"with -tiny or -full appended for those sizes).")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "experiments",
                   help="Parent folder of the training runs (default runs/experiments/); existing runs are resumed.")
    p.add_argument("--data", type=Path, help="Prepared data folder (default data/folk-melNN; prepared from the "
                                             "bundled folk corpus when missing).")
    p.add_argument("--n", type=int, help="Held-out windows (and interpolation pairs / prior samples) evaluated.")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default).")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                   help="Training precision, passed to `musicvae train` (bf16 on a recent GPU).")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="The papers' full-size presets (for a GPU).")
    size.add_argument("--tiny", action="store_true", help="The _tiny presets and a few steps (seconds; for tests).")
    p.add_argument("--checkpoint", choices=("latest", "best"), default="latest",
                   help="Which checkpoint of each run to evaluate (default: the last one, so all at equal steps).")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="Extra config override for every model trained (repeatable), e.g. train.batch_size=256.")
    p.add_argument("--seed", type=int, default=0, help="Evaluation seed (same seed, same figures).")
    return p


def pick_mode(args: argparse.Namespace, cpu_steps: int, tiny_steps: int) -> Mode:
    if args.tiny:
        mode = Mode("tiny", tiny_steps, 16, 400, 256)
    elif args.full:
        mode = Mode("full", None, 1024, 20_000, 4096)
    else:
        mode = Mode("cpu", cpu_steps, 1024, 20_000, 4096)
    if args.steps is not None:
        if args.steps < 1:
            fail(f"--steps must be at least 1, got {args.steps}")
        mode = Mode(mode.name, args.steps, mode.n, mode.lm_limit, mode.attribute_windows)
    if args.n is not None:
        if args.n < 2:
            fail(f"--n must be at least 2, got {args.n}")
        mode = Mode(mode.name, mode.steps, args.n, mode.lm_limit, mode.attribute_windows)
    return mode


def machine() -> dict:
    """Where the figures were measured: CPU model, cores, threads, accelerator, versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    info = {"cpu": cpu, "cores": os.cpu_count(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def rel(path: str | os.PathLike) -> str:
    """A path as shown in reports: relative to the repository root when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT)) if p.is_absolute() else str(p)
    except ValueError:
        return str(p)


def duration(seconds: float) -> str:
    """``42 s``, ``12 min`` or ``3.4 h``."""
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _shell(cmd: Sequence[str]) -> str:
    """A command as the user would type it (paths inside the repository relative to it)."""
    words = [str(w) for w in cmd]
    return " ".join(shlex.quote(rel(w) if os.path.isabs(w) else w) for w in words)


class Experiment:
    """One run of an experiment script: progress lines, the musicvae commands it ran, the report."""

    def __init__(self, name: str, args: argparse.Namespace, mode: Mode, argv: Sequence[str] | None = None):
        self.name, self.args, self.mode = name, args, mode
        self.t0 = time.perf_counter()
        self.started = datetime.now().astimezone().isoformat(timespec="seconds")
        self.commands: list[str] = []
        self.script_command = _shell(["python", f"experiments/{name}.py", *(sys.argv[1:] if argv is None else argv)])
        suffix = "" if mode.name == "cpu" else f"-{mode.name}"
        self.out = Path(args.out) if args.out else ROOT / "experiments" / "results" / f"{name}{suffix}"
        self.runs = Path(args.runs) / name
        self.corpus = "folk"  # the data caveat of the report; scripts on another corpus set it
        self.device = self._device(args.device)

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _device(name: str) -> str:
        import torch

        if name == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if name not in ("cpu", "cuda"):
            fail(f"--device must be cpu, cuda or auto, not {name!r}")
        if name == "cuda" and not torch.cuda.is_available():
            fail("--device cuda: no CUDA device is available here")
        return name

    def log(self, message: str) -> None:
        print(f"[{self.name} {time.perf_counter() - self.t0:7.1f} s] {message}", flush=True)

    def progress(self, what: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback printing about every 25 %."""
        shown = {"next": 0.0}

        def report(done: int, total: int) -> None:
            if total and (done / total >= shown["next"] or done == total):
                self.log(f"  {what}: {done}/{total}")
                shown["next"] = done / total + 0.25

        return report

    def musicvae(self, args: Sequence[str]) -> None:
        """Run ``musicvae ARGS`` (the project's command line, in this process), recorded for the report."""
        import typer

        from musicvae.cli.main import app

        words = [str(a) for a in args]
        text = _shell(["musicvae", *words])
        self.commands.append(text)
        self.log(f"$ {text}")
        try:
            code = typer.main.get_command(app).main(words, prog_name="musicvae", standalone_mode=False)
        except typer.Abort:  # click's form of Ctrl-C
            raise KeyboardInterrupt from None
        except Exception as exc:
            if not hasattr(exc, "format_message"):  # not a usage error (typer's vendored click)
                raise
            raise ExperimentError(f"`{text}`: {exc.format_message()}") from None
        if code not in (None, 0):
            raise ExperimentError(f"`{text}` failed with exit status {code} (its error is printed above)")

    # ------------------------------------------------------------------- data
    def ensure_data(self, kind: str, bars: int, corpus: str = "folk") -> Path:
        """The prepared folder (``--data`` or ``data/{corpus}-mel{bars}``), prepared when it has no manifest."""
        data = Path(self.args.data) if self.args.data else ROOT / "data" / f"{corpus}-mel{bars}"
        manifest = data / "manifest.json"
        if manifest.is_file():
            try:
                m = json.loads(manifest.read_text())
            except json.JSONDecodeError as exc:
                raise ExperimentError(f"{manifest}: unreadable ({exc.msg})") from None
            if m.get("kind") != kind or int(m.get("bars", 0)) != bars:
                raise ExperimentError(f"{manifest}: {m.get('bars')}-bar {m.get('kind')} windows, but this experiment "
                                      f"needs {bars}-bar {kind} (give another --data)")
            self.log(f"data: {data} (already prepared)")
        else:
            self.musicvae(["prepare", corpus, "--kind", kind, "--bars", str(bars), "--out", str(data),
                           "--workers", "1"])
        return data

    # -------------------------------------------------------------- training
    def train(self, preset: str, data: Path, label: str | None = None, overrides: Sequence[str] = ()) -> dict:
        """Train ``preset`` to ``mode.steps`` in ``runs/<experiment>/<preset>[-label]``; returns run info."""
        from musicvae.config import ConfigError
        from musicvae.presets import get_preset
        from musicvae.training.checkpoint import CheckpointError, find_latest, read_config

        sets = [*overrides, *self.args.overrides]
        try:
            config = get_preset(preset, sets)
        except ConfigError as exc:
            raise ExperimentError(str(exc)) from None
        steps = self.mode.steps if self.mode.steps is not None else int(config.train.steps)
        run_dir = self.runs / (preset + (f"-{label}" if label else ""))
        try:
            latest = find_latest(run_dir) if run_dir.exists() else None
            stored = read_config(latest) if latest is not None else {}
        except CheckpointError as exc:
            raise ExperimentError(str(exc)) from None
        at = int(json.loads((latest / "trainer.json").read_text())["step"]) if latest is not None else 0
        if stored:
            want = config.to_dict()
            diff = [f"{s}.{k}={v!r} (now {want[s][k]!r})" for s in ("model", "data", "train")
                    for k, v in stored.get(s, {}).items()
                    if k not in _RESUME_IGNORED and k in want[s] and want[s][k] != v]
            if diff:
                raise ExperimentError(f"{run_dir}: was trained with {', '.join(diff)}; "
                                      "remove it or give another --runs")
        precision = ["--precision", self.args.precision] if self.args.precision != "fp32" else []
        cmd = ["train", "--preset", preset, "--data", str(data), "--out", str(run_dir), "--steps", str(steps),
               "--device", self.device, *precision, *(a for s in sets for a in ("--set", s))]
        info = {"preset": preset, "run": rel(run_dir), "steps_requested": steps, "overrides": sets,
                "command": _shell(["musicvae", *cmd])}
        if at >= steps:
            if at > steps:
                self.log(f"warning: {run_dir} is already at step {at} > {steps}; evaluating step {at}")
            else:
                self.log(f"{run_dir}: already trained to step {at}")
        else:
            stale = run_dir / "metrics.jsonl"
            if latest is None and stale.is_file():  # a run killed before its first checkpoint starts over
                self.log(f"{run_dir}: no checkpoint yet; starting over (removing its metrics.jsonl)")
                stale.unlink()
            t0 = time.perf_counter()
            self.log(f"training {preset}{f' ({label})' if label else ''} to step {steps}"
                     + (f", resuming from step {at}" if at else ""))
            self.musicvae(cmd + (["--resume"] if latest is not None else []))
            info["train_seconds_this_call"] = round(time.perf_counter() - t0, 1)
        info["curve"] = read_curve(run_dir)
        info["batch_size"] = int(config.train.batch_size)
        info["train_seconds_total"] = round(training_seconds(info["curve"]["train"], config.train.batch_size), 1)
        return info

    def load(self, run: dict, loader=None):
        """The model of a run (its last or best checkpoint, per ``--checkpoint``).

        ``loader`` is the facade class whose ``load(path, device=...)`` reads it:
        ``TrainedModel`` by default, ``NoteModel`` for the note-level models.
        """
        from musicvae.generation import InputError, TrainedModel

        path = self.runs / Path(run["run"]).name
        if self.args.checkpoint == "best":
            path = path / "checkpoints" / "best"
        try:
            model = (loader or TrainedModel).load(path, device=self.device)
        except InputError as exc:
            raise ExperimentError(str(exc)) from None
        run["step"] = model.files.info.get("step")
        run["checkpoint"] = rel(model.files.info.get("checkpoint") or path)
        return model

    # ------------------------------------------------------------ evaluation
    @staticmethod
    def _split(data: Path, split: str):
        from musicvae.data.dataset import DatasetError, PreparedDataset

        try:
            return PreparedDataset(data, split)
        except (DatasetError, KeyError, OSError) as exc:
            raise ExperimentError(str(exc).strip("'\"")) from None

    def eval_tokens(self, data: Path, n: int, seed: int) -> tuple[np.ndarray, int]:
        """``min(n, available)`` held-out windows ``(n, T, K)`` and the size of the eval split."""
        from musicvae.evaluation.studies import select_windows

        ds = self._split(data, "eval")
        if len(ds) < 2:
            raise ExperimentError(f"{data}: the eval split holds {len(ds)} window(s); need at least 2")
        if n > len(ds):
            self.log(f"warning: --n {n} is more than the {len(ds)} held-out windows in {data}; using n={len(ds)}")
        idx = select_windows(len(ds), n, seed)
        return np.asarray(ds.tokens[idx], dtype=np.int64), len(ds)

    def train_tokens(self, data: Path, limit: int, seed: int) -> tuple[np.ndarray, int]:
        """A seeded subset of at most ``limit`` training windows, and the size of the train split."""
        from musicvae.evaluation.studies import select_windows

        ds = self._split(data, "train")
        if len(ds) == 0:
            raise ExperimentError(f"{data}: the train split is empty")
        return np.asarray(ds.tokens[select_windows(len(ds), limit, seed)], dtype=np.int64), len(ds)

    # ---------------------------------------------------------------- report
    def meta(self) -> dict:
        return {"experiment": self.name, "size": self.mode.name, "steps": self.mode.steps, "n": self.mode.n,
                "seed": self.args.seed, "device": self.device, "checkpoint": self.args.checkpoint,
                "started": self.started, "wall_seconds": round(time.perf_counter() - self.t0, 1),
                "command": self.script_command, "commands": list(self.commands), "machine": machine(),
                "note": experiment_note(self.corpus)}

    def write(self, results: dict, markdown: list[str], plots: dict[str, bytes | None]) -> Path:
        """``report.md`` (``markdown`` + how it was made), ``report.json`` and the PNGs into ``self.out``."""
        from musicvae.evaluation.report import jsonable
        from musicvae.utils.io import atomic_write_bytes, atomic_write_json

        self.out.mkdir(parents=True, exist_ok=True)
        meta = self.meta()
        for name, png in plots.items():
            if png is not None:
                atomic_write_bytes(self.out / name, png)
        atomic_write_json(self.out / "report.json", jsonable({"meta": meta, **results}))
        m = meta["machine"]
        tail = ["## How this report was made", "",
                f"- command: `{meta['command']}` ({self.mode.name} size, {meta['wall_seconds']:.0f} s wall time "
                f"for this call, started {meta['started']})",
                f"- machine: {m['cpu']}, {m['cores']} cores, OMP_NUM_THREADS={m['OMP_NUM_THREADS']}"
                + (f", GPU {m['gpu']}" if "gpu" in m else "") + f"; device {self.device}; Python {m['python']}, "
                f"torch {m['torch']}",
                f"- evaluated checkpoint: {self.args.checkpoint}; seed {self.args.seed}", "",
                "Commands run by this call (training is skipped for runs already at their step, resumed otherwise):",
                "", "```", *(self.commands or ["(none: every run was already trained)"]), "```", ""]
        if self.mode.name == "tiny":
            markdown = [markdown[0], "", "**Tiny run** (`--tiny`): a check that the pipeline works end to end; models "
                        f"of ~0.1M parameters trained {self.mode.steps} steps, so the figures below mean nothing.",
                        *markdown[1:]]
        text = "\n".join([*markdown, *tail])
        atomic_write_bytes(self.out / "report.md", text.encode("utf-8"))
        self.log(f"wrote {self.out}/report.md, report.json and {sum(p is not None for p in plots.values())} plot(s)")
        return self.out


# -------------------------------------------------------------------- curves
def read_curve(run_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """``metrics.jsonl`` split into training records and evaluation records (by step)."""
    path = Path(run_dir) / "metrics.jsonl"
    train: list[dict] = []
    evals: list[dict] = []
    from musicvae.training.runlog import read_records  # a torn last line (a kill, a full disk) is skipped

    for rec in read_records(path)[0]:
        (evals if "tf_accuracy" in rec else train).append(rec)
    return {"train": train, "eval": evals}


def training_seconds(train: list[dict], batch_size: int) -> float:
    """Time spent in training steps (evaluation excluded), from each log record's throughput."""
    total, prev = 0.0, 0
    for rec in train:
        if rec.get("seq_per_s"):
            total += (rec["step"] - prev) * batch_size / rec["seq_per_s"]
        prev = rec["step"]
    return total


def main_guard(body: Callable[[], None]) -> None:
    """Run an experiment's body; user-fixable problems become one line and exit status 2."""
    try:
        body()
    except ExperimentError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted: finished training steps are kept; run the same command again to resume",
              file=sys.stderr)
        raise SystemExit(130)
