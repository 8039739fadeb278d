"""Trained models on disk: bundled models, exported model dirs and training checkpoints.

Place in the flow: ``training`` checkpoints -> :func:`export_model` (compact, fp16) ->
``assets/models/NAME/`` -> :func:`load_model_files` -> ``TrainedModel``.

An exported model is a directory with
* ``model.safetensors`` - weights (fp16 by default: half the size, same music);
* ``model.json`` - format, name, the resolved config, the representation, what it was
  trained on and its held-out figures, and (MusAE) its style labels with their petals;
* ``attributes.safetensors`` - attribute vectors (optional);
* ``prior.safetensors`` - a prior fitted to the training codes (optional, ``musicvae
  fit-prior``; :mod:`.prior`), which sampling uses by default;
* ``CARD.md`` - the model card (how it was trained, on what, how well it does).
No pickle anywhere: loading a model from the internet cannot run code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy, save as save_numpy

from ..config import Config, ConfigError
from ..models.builders import build_model
from ..training.checkpoint import load_checkpoint, resolve_checkpoint
from ..training.state_io import CheckpointError, load_weights, read_json, save_weights
from ..utils.io import atomic_write_bytes, atomic_write_json
from .prior import PRIOR_FILE, FittedPrior
from .windows import InputError

MODEL_FORMAT = "musicvae-model"
MODEL_VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
DEFAULT_MODEL = "mel_2bar"


@dataclass
class ModelFiles:
    name: str
    model: torch.nn.Module
    config: Config
    representation: dict
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    labels: dict[str, Any] = field(default_factory=dict)  # MusAE: {"names": [...], "components": {name: petal}}
    prior: Any = None  # a FittedPrior (generation/prior.py) from prior.safetensors, or None


def bundled_models() -> dict[str, Path]:
    """Name -> directory of every model shipped with the package."""
    if not BUNDLED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(BUNDLED_DIR.iterdir()) if (p / "model.json").is_file()}


def _config(raw: Any, where: Path) -> Config:
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{where}: no model config stored with these weights")
    try:
        return Config.from_dict(raw)
    except (ConfigError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: unreadable config ({exc})") from None


def _from_export(path: Path) -> ModelFiles:
    try:
        meta = read_json(path / "model.json")
    except CheckpointError as exc:
        raise InputError(str(exc)) from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise InputError(f"{path / 'model.json'}: not a {MODEL_FORMAT} file")
    if meta.get("version") != MODEL_VERSION:
        raise InputError(f"{path / 'model.json'}: unsupported model version {meta.get('version')!r}")
    config = _config(meta.get("config"), path / "model.json")
    rep = meta.get("representation") or {}
    model = build_model(config, tuple(rep.get("vocab_sizes", ())))
    try:
        load_weights(model, path / "model.safetensors")
    except CheckpointError as exc:
        raise InputError(str(exc)) from None
    model.float()
    attributes = {}
    if (path / "attributes.safetensors").is_file():
        try:
            attributes = dict(load_numpy(str(path / "attributes.safetensors")))
        except Exception as exc:  # safetensors raises its own error types
            raise InputError(f"{path / 'attributes.safetensors'}: unreadable ({exc})") from None
    prior = None
    if (path / PRIOR_FILE).is_file():
        prior = FittedPrior.load(path / PRIOR_FILE, int(getattr(model, "z_size", 0)))
    return ModelFiles(meta.get("name", path.name), model, config, rep, attributes, dict(meta.get("info", {})), path,
                      _labels(meta.get("labels"), path / "model.json"), prior)


def _from_checkpoint(path: Path) -> ModelFiles:
    try:
        step_dir = resolve_checkpoint(path)
        trainer = read_json(step_dir / "trainer.json")
    except CheckpointError as exc:
        raise InputError(str(exc)) from None
    config = _config(trainer.get("config"), step_dir / "trainer.json")
    rep = trainer.get("representation") or {}
    vocab = tuple(trainer.get("vocab_sizes") or rep.get("vocab_sizes") or ())
    if not vocab:
        raise InputError(f"{step_dir / 'trainer.json'}: no vocabulary recorded with the checkpoint")
    model = build_model(config, vocab)
    try:
        load_checkpoint(step_dir, model)
    except CheckpointError as exc:
        raise InputError(str(exc)) from None
    name = path.name if path.name not in ("best", "checkpoints") and not path.name.startswith("step-") else str(path)
    info = {"step": trainer.get("step"), "metrics": trainer.get("metrics", {}), "checkpoint": str(step_dir)}
    if isinstance(trainer.get("notes"), dict):  # VRASH family: collections and decoding defaults (kept by export)
        info["notes"] = trainer["notes"]
    return ModelFiles(name, model, config, rep, {}, info, step_dir, _labels(trainer.get("labels"), step_dir / "trainer.json"))


def _labels(raw: Any, where: Path) -> dict[str, Any]:
    """Style labels stored with a MusAE model: ``{"names": [...], "components": {name: petal}}``."""
    if raw is None:
        return {}
    if (not isinstance(raw, dict) or not isinstance(raw.get("names", []), list)
            or not isinstance(raw.get("components", {}), dict)):
        raise InputError(f"{where}: unreadable 'labels' entry")
    return {"names": [str(n) for n in raw.get("names", [])],
            "components": {str(k): int(v) for k, v in raw.get("components", {}).items()}}


def load_model_files(name_or_path: str | os.PathLike) -> ModelFiles:
    """Resolve a bundled name, an exported model dir or a checkpoint/run dir."""
    bundled = bundled_models()
    key = str(name_or_path)
    if key in bundled:
        return _from_export(bundled[key])
    path = Path(name_or_path)
    if not path.exists():
        names = ", ".join(bundled) or "none are installed"
        raise InputError(f"{key}: unknown model (bundled models: {names}; or give a model or run directory)")
    if (path / "model.json").is_file():
        return _from_export(path)
    return _from_checkpoint(path)


def export_model(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    name: str | None = None,
    info: dict | None = None,
    attributes: dict[str, np.ndarray] | None = None,
    card: str | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write a compact model dir from a checkpoint (or re-export an exported model)."""
    files = load_model_files(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(files.model, out / "model.safetensors", dtype=dtype)
    attrs = dict(files.attributes)
    attrs.update(attributes or {})
    if attrs:
        blob = save_numpy({k: np.asarray(v, dtype=np.float32) for k, v in attrs.items()})
        atomic_write_bytes(out / "attributes.safetensors", blob)
    merged = dict(files.info)
    merged.update(info or {})
    meta = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "name": name or out.name,
            "config": files.config.to_dict(), "representation": files.representation,
            "weights_dtype": str(dtype).replace("torch.", ""), "info": json.loads(json.dumps(merged, default=str))}
    if files.labels:
        meta["labels"] = files.labels
    atomic_write_json(out / "model.json", meta)
    if card is not None:
        atomic_write_bytes(out / "CARD.md", card.encode("utf-8"))
    if files.prior is not None:
        files.prior.save(out / PRIOR_FILE)
    return out
