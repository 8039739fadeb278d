"""Checkpoints: save and restore a training run without pickle.

Place in the flow: the trainer calls :func:`save_checkpoint` every N steps (and
:func:`load_checkpoint` to resume); generation reads the same files through
``utils.run_dirs`` (where a run's checkpoints are) and ``utils.stored`` (checked reads).

A checkpoint from the internet must not be able to run code, so nothing here
unpickles: every tensor (weights, optimizer state, torch RNG states) lives in
``safetensors`` files and everything else in JSON.  Layout::

    RUN_DIR/checkpoints/
        latest.json                 {"checkpoint": "step-000001234", "step": 1234}
        best.json                   {"metric": ..., "value": ..., "checkpoint": ..., ...}
        best/                       hard-linked copy of the best step directory
        step-000001234/
            model.safetensors       model.state_dict() (optionally fp16 for export)
            optimizer.safetensors   optimizer tensors, keys like "state.0.exp_avg"
            optimizer.json          the rest of optimizer.state_dict(), tensors as references
            rng.safetensors         torch CPU (and CUDA) generator states
            trainer.json            format/version, step, config, metrics, rng (JSON part),
                                    file sizes + sha256, and the caller's ``extra``

A step directory is built under a temporary sibling (``.tmp-step-...``), fsynced
and renamed into place, so a crash never leaves a half-written checkpoint and
``latest.json`` only ever names complete ones.  Every problem found while
loading is raised as :class:`CheckpointError` with a one-line message that
names the offending path.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from musicvae.utils.io import atomic_write_json

from musicvae.utils.run_dirs import (  # noqa: F401 (re-exported)
    BEST_DIR,
    BEST_FILE,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CHECKPOINTS_DIR,
    LATEST_FILE,
    MODEL_FILE,
    OPTIMIZER_JSON_FILE,
    OPTIMIZER_TENSORS_FILE,
    RNG_FILE,
    TRAINER_FILE,
    _checkpoints_dir,
    _read_pointer,
    _step_dirs,
    find_latest,
    has_checkpoints,
    read_config,
    read_trainer as _read_trainer,
    resolve_checkpoint,
)

from musicvae.utils.stored import (fail, fsync_dir, load_state_into_model, read_json, read_safetensors,
                                   safetensors_bytes, weights_bytes, write_file)

from .state_io import CheckpointError, capture_rng_state, decode_state, encode_state, plain_metrics, restore_rng_state


log = logging.getLogger(__name__)

_TEMP_RE = re.compile(r"^\.(?:tmp|trash)-.*-(\d+)-[A-Za-z0-9_]+$")
_POINTER_TEMP_RE = re.compile(r"^\.(?:latest|best)\.json\..+\.tmp$")
_RESERVED_KEYS = frozenset(
    {"format", "version", "step", "config", "metrics", "rng", "files", "weights_dtype",
     "optimizer_class", "torch_version", "path", "loaded"}
)
# --------------------------------------------------------------------------- optimizer


def _encode_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    encoded = encode_state(optimizer.state_dict(), "", tensors)
    meta = {
        "format": "musicvae-optimizer",
        "version": CHECKPOINT_VERSION,
        "class": type(optimizer).__name__,
        "state_dict": encoded,
    }
    return tensors, meta


def _load_optimizer(optimizer: torch.optim.Optimizer, step_dir: Path, files: Mapping[str, Any],
                    verify: bool, map_location: str | torch.device) -> None:
    json_path = step_dir / OPTIMIZER_JSON_FILE
    tensor_path = step_dir / OPTIMIZER_TENSORS_FILE
    if OPTIMIZER_JSON_FILE not in files and not json_path.exists():
        raise fail(step_dir, "checkpoint has no optimizer state")
    meta = read_json(json_path, files.get(OPTIMIZER_JSON_FILE), verify)
    if not isinstance(meta, dict) or "state_dict" not in meta:
        raise fail(json_path, "not an optimizer state file")
    saved_class = meta.get("class")
    if saved_class != type(optimizer).__name__:
        raise fail(json_path, f"optimizer mismatch: checkpoint has {saved_class}, "
                               f"got {type(optimizer).__name__}")
    tensors = read_safetensors(tensor_path, files.get(OPTIMIZER_TENSORS_FILE), verify, map_location)
    try:
        state_dict = decode_state(meta["state_dict"], tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(json_path, "malformed optimizer state", exc) from exc
    try:
        optimizer.load_state_dict(state_dict)
    except Exception as exc:
        raise fail(json_path, "optimizer state does not fit the optimizer", exc) from exc


# --------------------------------------------------------------------------- locating checkpoints (utils.run_dirs)


def resume_candidates(run_dir: str | os.PathLike) -> tuple[list[Path], str | None]:
    """Checkpoints to resume from, best first: the one latest.json names, then every step dir
    newest first; plus what is wrong with latest.json (None if nothing). A caller loads them in
    order and keeps the first intact one (a corrupt latest checkpoint falls back to an older one)."""
    ckpt_dir = _checkpoints_dir(Path(run_dir))
    problem, first = None, []
    try:
        name = _read_pointer(ckpt_dir / LATEST_FILE)
        if name is not None:
            if (ckpt_dir / name / TRAINER_FILE).is_file():
                first = [ckpt_dir / name]
            else:
                problem = f"{ckpt_dir / LATEST_FILE}: points at {name}, which is missing or incomplete"
    except CheckpointError as exc:
        problem = str(exc)
    rest = [p for _, p in reversed(_step_dirs(ckpt_dir)) if p not in first and (p / TRAINER_FILE).is_file()]
    return first + rest, problem


# --------------------------------------------------------------------------- load


def load_checkpoint(
    path_or_run_dir: str | os.PathLike,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: str | torch.device = "cpu",
    restore_rng: bool = False,
    *,
    strict: bool = True,
    verify: bool = True,
    np_generators: Mapping[str, np.random.Generator] | None = None,
) -> dict[str, Any]:
    """Load a checkpoint into ``model`` / ``optimizer`` (either may be None) and optionally the RNGs.

    Returns trainer.json's content plus ``"path"`` (the step dir, as a string) and
    ``"loaded"`` (which parts were restored).  ``verify`` checks the size and sha256 recorded
    in trainer.json for every file read (safetensors' own header checks always run).  Raises :class:`CheckpointError` on any problem.
    """
    step_dir = resolve_checkpoint(path_or_run_dir)
    trainer = _read_trainer(step_dir)
    files: dict[str, Any] = trainer.get("files", {})
    loaded = {"model": False, "optimizer": False, "rng": False}

    if model is not None:
        state = read_safetensors(step_dir / MODEL_FILE, files.get(MODEL_FILE), verify, map_location)
        load_state_into_model(model, state, step_dir / MODEL_FILE, strict=strict)
        loaded["model"] = True

    if optimizer is not None:
        _load_optimizer(optimizer, step_dir, files, verify, map_location)
        loaded["optimizer"] = True

    if restore_rng:
        rng_path = step_dir / RNG_FILE
        rng_tensors = read_safetensors(rng_path, files.get(RNG_FILE), verify, "cpu")
        try:
            restore_rng_state(rng_tensors, trainer.get("rng"), np_generators)
        except CheckpointError:
            raise
        except Exception as exc:
            raise fail(rng_path, "cannot restore RNG state", exc) from exc
        loaded["rng"] = True

    return {**trainer, "path": str(step_dir), "loaded": loaded}


# --------------------------------------------------------------------------- save


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError included: it exists
        return True
    return True


def _remove_stale_temps(ckpt_dir: Path) -> None:
    """Remove ``.tmp-*`` / ``.trash-*`` dirs left by a process that died mid-save."""
    try:
        entries = list(ckpt_dir.iterdir())
    except OSError:
        return
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m and entry.is_dir() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
        elif _POINTER_TEMP_RE.match(entry.name) and entry.is_file():
            # a pointer write killed mid-way (utils.io.atomic_write's temp file); only the run's one
            # writer (the --out lock) writes pointers, and it is here, not writing one
            with suppress(OSError):
                entry.unlink()


def _mkdtemp(ckpt_dir: Path, kind: str, name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f".{kind}-{name}-{os.getpid()}-", dir=ckpt_dir))


def _remove_dir(ckpt_dir: Path, target: Path) -> None:
    """Rename away first so a half-deleted dir never looks like a checkpoint."""
    trash = _mkdtemp(ckpt_dir, "trash", target.name)
    os.replace(target, trash / target.name)
    shutil.rmtree(trash, ignore_errors=True)


def _install_dir(ckpt_dir: Path, tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` dir to ``final``, replacing an existing ``final``."""
    if not final.exists():
        os.rename(tmp, final)
        fsync_dir(ckpt_dir)
        return
    trash = _mkdtemp(ckpt_dir, "trash", final.name)
    os.replace(final, trash / final.name)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.replace(trash / final.name, final)  # put the old one back
        shutil.rmtree(trash, ignore_errors=True)
        raise
    fsync_dir(ckpt_dir)
    shutil.rmtree(trash, ignore_errors=True)


def _link_copy(src_dir: Path, ckpt_dir: Path, name: str) -> None:
    """Atomically (re)place ``ckpt_dir/name`` with hard links (or copies) of ``src_dir``'s files."""
    tmp = _mkdtemp(ckpt_dir, "tmp", name)
    try:
        for f in sorted(src_dir.iterdir()):
            if not f.is_file():
                continue
            try:
                os.link(f, tmp / f.name)
            except OSError:
                shutil.copy2(f, tmp / f.name)
        fsync_dir(tmp)
        _install_dir(ckpt_dir, tmp, ckpt_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _is_better(value: float, previous: Any, higher_is_better: bool) -> bool:
    if not isinstance(previous, (int, float)) or isinstance(previous, bool) or math.isnan(previous):
        return True
    return value > previous if higher_is_better else value < previous


def _update_best(ckpt_dir: Path, final: Path, step: int, metric: str, value: float,
                 higher_is_better: bool) -> bool:
    best_json = ckpt_dir / BEST_FILE
    data = read_json(best_json) if best_json.exists() else None
    previous = data if isinstance(data, dict) else None
    improved = (
        previous is None
        or previous.get("metric") != metric
        or bool(previous.get("higher_is_better", True)) != higher_is_better
        or not isinstance(previous.get("checkpoint"), str)
        or not (ckpt_dir / previous["checkpoint"]).is_dir()
        or previous.get("checkpoint") == final.name  # re-saving the best step: refresh it
        or _is_better(value, previous.get("value"), higher_is_better)
    )
    if not improved:
        return False
    _link_copy(final, ckpt_dir, BEST_DIR)
    atomic_write_json(best_json, {
        "checkpoint": final.name,
        "step": step,
        "metric": metric,
        "value": value,
        "higher_is_better": higher_is_better,
    })
    return True


def _prune(ckpt_dir: Path, keep_last: int | None) -> None:
    if keep_last is None:
        return
    try:
        protected = {_read_pointer(ckpt_dir / LATEST_FILE), _read_pointer(ckpt_dir / BEST_FILE)}
    except CheckpointError as exc:  # never delete while unsure what is protected
        log.warning("not pruning old checkpoints: %s", exc)
        return
    steps = _step_dirs(ckpt_dir)
    keep = {p.name for _, p in steps[-keep_last:]} | {n for n in protected if n}
    for _, path in steps:
        if path.name in keep:
            continue
        try:
            _remove_dir(ckpt_dir, path)
        except OSError as exc:
            log.warning("could not delete old checkpoint %s: %s", path, exc)


def save_checkpoint(
    run_dir: str | os.PathLike,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    config: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    keep_last: int | None = 3,
    best_metric: str | None = None,
    higher_is_better: bool = True,
    *,
    weights_dtype: torch.dtype | None = None,
    capture_rng: bool = True,
    np_generators: Mapping[str, np.random.Generator] | None = None,
) -> Path:
    """Write ``RUN_DIR/checkpoints/step-{step:09d}/`` atomically and return its path.

    Then: update ``best.json`` + ``best/`` when ``metrics[best_metric]`` improves (skipped
    when the metric is absent from ``metrics``), point ``latest.json`` at the new step,
    and delete step dirs beyond the last ``keep_last`` (None keeps all) except the ones
    named by latest.json and best.json.  On failure the previous checkpoints and
    latest.json are untouched and no temporary directory is left; the error is raised
    as :class:`CheckpointError`.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    if keep_last is not None and keep_last < 1:
        raise ValueError(f"keep_last must be >= 1 or None, got {keep_last!r}")
    if weights_dtype is not None and not weights_dtype.is_floating_point:
        raise ValueError(f"weights_dtype must be floating point, got {weights_dtype}")
    extra = dict(extra or {})
    clash = sorted(set(extra) & _RESERVED_KEYS)
    if clash:
        raise ValueError(f"extra keys {clash} clash with trainer.json's own keys")

    ckpt_dir = Path(run_dir) / CHECKPOINTS_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(ckpt_dir)
    name = f"step-{step:09d}"
    final = ckpt_dir / name
    metrics_plain = plain_metrics(metrics)

    tmp = _mkdtemp(ckpt_dir, "tmp", name)
    try:
        files: dict[str, Any] = {}

        def put(fname: str, data: bytes) -> None:
            files[fname] = write_file(tmp / fname, data)

        put(MODEL_FILE, weights_bytes(model, weights_dtype))
        if optimizer is not None:
            opt_tensors, opt_meta = _encode_optimizer(optimizer)
            put(OPTIMIZER_TENSORS_FILE, safetensors_bytes(opt_tensors, "optimizer"))
            put(OPTIMIZER_JSON_FILE, (json.dumps(opt_meta, indent=1) + "\n").encode("utf-8"))
        rng_json: dict[str, Any] | None = None
        if capture_rng:
            rng_tensors, rng_json = capture_rng_state(np_generators)
            put(RNG_FILE, safetensors_bytes(rng_tensors, "rng"))
        trainer = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": step,
            "config": dict(config) if config is not None else {},
            "metrics": metrics_plain,
            "rng": rng_json,
            "weights_dtype": str(weights_dtype).replace("torch.", "") if weights_dtype else None,
            "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
            "torch_version": torch.__version__,
            "files": files,
            **extra,
        }
        atomic_write_json(tmp / TRAINER_FILE, trainer)
        fsync_dir(tmp)
        _install_dir(ckpt_dir, tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception) and not isinstance(exc, CheckpointError):
            raise fail(final, "cannot save checkpoint", exc) from exc
        raise

    try:
        if best_metric is not None and best_metric in metrics_plain:
            value = metrics_plain[best_metric]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
                _update_best(ckpt_dir, final, step, best_metric, float(value), higher_is_better)
            else:
                log.warning("metric %r = %r is not a number; best checkpoint not updated", best_metric, value)
        atomic_write_json(ckpt_dir / LATEST_FILE, {"checkpoint": name, "step": step})
        fsync_dir(ckpt_dir)
    except BaseException as exc:
        if isinstance(exc, Exception) and not isinstance(exc, CheckpointError):
            raise fail(final, "checkpoint written but latest/best pointers not updated", exc) from exc
        raise
    _prune(ckpt_dir, keep_last)
    return final
