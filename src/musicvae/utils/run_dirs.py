"""Where a training run keeps its checkpoints, and what a step's ``trainer.json`` says: read only.

Place in the flow: below every stage (``utils``); ``training.checkpoint`` writes the layout
(and resumes from it), ``generation.store`` loads a model from it, so inference never imports
``training``. Layout::

    RUN_DIR/checkpoints/
        latest.json          {"checkpoint": "step-000001234", "step": 1234}
        best.json, best/     the best step so far (a hard-linked copy)
        step-000001234/      model.safetensors, optimizer.*, rng.safetensors, trainer.json
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .stored import fail, read_json

CHECKPOINT_FORMAT = "musicvae-checkpoint"
CHECKPOINT_VERSION = 1

MODEL_FILE = "model.safetensors"
OPTIMIZER_TENSORS_FILE = "optimizer.safetensors"
OPTIMIZER_JSON_FILE = "optimizer.json"
RNG_FILE = "rng.safetensors"
TRAINER_FILE = "trainer.json"
LATEST_FILE = "latest.json"
BEST_FILE = "best.json"
BEST_DIR = "best"
CHECKPOINTS_DIR = "checkpoints"

_STEP_DIR_RE = re.compile(r"^step-(\d{9,})$")


def _checkpoints_dir(path: Path) -> Path:
    """``path`` is a run dir or a checkpoints dir; return the checkpoints dir."""
    if (path / LATEST_FILE).exists() or path.name == CHECKPOINTS_DIR:
        return path
    return path / CHECKPOINTS_DIR


def _step_dirs(ckpt_dir: Path) -> list[tuple[int, Path]]:
    try:
        entries = list(ckpt_dir.iterdir())
    except OSError:
        return []
    return sorted((int(m.group(1)), e) for e in entries if (m := _STEP_DIR_RE.match(e.name)) and e.is_dir())


def _read_pointer(path: Path) -> str | None:
    """Name of the step dir a latest.json/best.json points at (None if the file is absent)."""
    if not path.exists():
        return None
    data = read_json(path)
    name = data.get("checkpoint") if isinstance(data, dict) else None
    if not isinstance(name, str) or not _STEP_DIR_RE.match(name):
        raise fail(path, "does not name a step-NNNNNNNNN checkpoint")
    return name


def find_latest(run_dir: str | os.PathLike) -> Path | None:
    """Newest checkpoint of a run (run dir or its checkpoints dir), or None if there is none.

    Follows ``latest.json``; without it, falls back to the highest complete step dir.
    Raises CheckpointError if latest.json is unreadable or names a missing directory.
    """
    ckpt_dir = _checkpoints_dir(Path(run_dir))
    latest = ckpt_dir / LATEST_FILE
    name = _read_pointer(latest)
    if name is not None:
        target = ckpt_dir / name
        if not (target / TRAINER_FILE).is_file():
            raise fail(latest, f"points at {name}, which is missing or incomplete")
        return target
    complete = [p for _, p in _step_dirs(ckpt_dir) if (p / TRAINER_FILE).is_file()]
    return complete[-1] if complete else None


def has_checkpoints(run_dir: str | os.PathLike) -> bool:
    """Does the run hold a checkpoint (or a latest.json, readable or not)?"""
    ckpt_dir = _checkpoints_dir(Path(run_dir))
    return (ckpt_dir / LATEST_FILE).exists() or bool(_step_dirs(ckpt_dir))


def resolve_checkpoint(path_or_run_dir: str | os.PathLike) -> Path:
    """A step dir (or ``best/``), a checkpoints dir, or a run dir -> the step dir to load."""
    path = Path(path_or_run_dir)
    if not path.exists():
        raise fail(path, "no such file or directory")
    if path.is_file():
        if path.name == TRAINER_FILE:
            return path.parent
        raise fail(path, "expected a checkpoint directory or a run directory")
    if (path / TRAINER_FILE).exists() or _STEP_DIR_RE.match(path.name) or path.name == BEST_DIR:
        return path
    found = find_latest(path)
    if found is None:
        raise fail(path, "no checkpoint found")
    return found


def read_trainer(step_dir: Path) -> dict[str, Any]:
    path = step_dir / TRAINER_FILE
    data = read_json(path)
    if not isinstance(data, dict):
        raise fail(path, "not a checkpoint description (expected a JSON object)")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise fail(path, f"not a {CHECKPOINT_FORMAT} file (format={data.get('format')!r})")
    if data.get("version") != CHECKPOINT_VERSION:
        raise fail(path, f"unsupported checkpoint version {data.get('version')!r} "
                          f"(this build reads version {CHECKPOINT_VERSION})")
    if not isinstance(data.get("step"), int) or isinstance(data.get("step"), bool):
        raise fail(path, "missing or invalid 'step'")
    if not isinstance(data.get("files", {}), dict):
        raise fail(path, "invalid 'files' table")
    return data


def read_config(path_or_run_dir: str | os.PathLike) -> dict[str, Any]:
    """The resolved config stored with a checkpoint (to rebuild its model without knowing the preset)."""
    step_dir = resolve_checkpoint(path_or_run_dir)
    config = read_trainer(step_dir).get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise fail(step_dir / TRAINER_FILE, "'config' is not a JSON object")
    return config
