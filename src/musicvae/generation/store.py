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
* ``model.json``'s ``files`` holds the size and sha256 of its safetensors files (exports made
  before it have none and load unchecked); every value is checked before a model is built
  (``generation.model_check``);
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
from safetensors.numpy import load as load_numpy_bytes, save as save_numpy

from ..config import Config
from ..models.builders import build_model
from ..utils.io import atomic_write_bytes, atomic_write_json
from ..utils.run_dirs import MODEL_FILE, read_trainer, resolve_checkpoint
from ..utils.stored import StoredFileError, load_weights_bytes, read_bytes, read_json, weights_bytes, write_file
from ..utils.names import safe_component
from .model_check import check_config, check_fits, check_representation, check_vocab, header_shapes
from .prior import PRIOR_FILE, FittedPrior
from .windows import InputError, input_errors

MODEL_FORMAT = "musicvae-model"
MODEL_VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
DEFAULT_MODEL = "mel_2bar"
DEFAULT_TEMPERATURE = 0.5  # sampling's temperature for a model that records none (magenta's demos use 0.5)
MAX_TEMPERATURE = 10.0


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
    sampling: dict[str, Any] = field(default_factory=dict)  # model.json "sampling": {"temperature": T, ...}


def bundled_models(marker: str = "model.json") -> dict[str, Path]:
    """Name -> directory of every model shipped with the package (``marker``: the file that says what it is)."""
    return {p.name: p for p in sorted(BUNDLED_DIR.iterdir()) if (p / marker).is_file()} if BUNDLED_DIR.is_dir() else {}


def _read(path: Path, record: Any = None) -> bytes:
    """A model file's bytes, checked against its recorded size and sha256 when there is a record."""
    with input_errors(StoredFileError):
        return read_bytes(path, record if isinstance(record, dict) else None, verify=True)


def _built(config: Config, vocab: tuple[int, ...], path: Path, record: Any) -> torch.nn.Module:
    """The model of ``config`` filled with the weights in ``path``, their shapes checked against the
    config (on the meta device) before the real model is built."""
    weights = _read(path, record)
    check_fits(config, vocab, header_shapes(weights, path), path)
    model = build_model(config, vocab)
    with input_errors(StoredFileError):
        load_weights_bytes(model, weights, path)
    return model


def _from_export(path: Path) -> ModelFiles:
    where = path / "model.json"
    with input_errors(StoredFileError):
        meta = read_json(where)
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise InputError(f"{where}: not a {MODEL_FORMAT} file")
    if meta.get("version") != MODEL_VERSION:
        raise InputError(f"{where}: unsupported model version {meta.get('version')!r}")
    files = meta.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise InputError(f"{where}: invalid 'files' table")
    if not isinstance(meta.get("info", {}), dict) or not isinstance(meta.get("name", ""), str):
        raise InputError(f"{where}: 'info' must be a JSON object and 'name' a string")
    # everything is checked before the model is built: config values, vocabulary, representation,
    # the weights' checksum and their shapes against the config (model_check)
    config = check_config(meta.get("config"), where)
    rep = meta.get("representation") or {}
    vocab = check_vocab(rep.get("vocab_sizes") if isinstance(rep, dict) else None, where)
    check_representation(rep, vocab, where)
    model = _built(config, vocab, path / "model.safetensors", files.get("model.safetensors")).float()
    attributes = {}
    attr_path = path / "attributes.safetensors"
    if attr_path.is_file() or "attributes.safetensors" in files:
        data = _read(attr_path, files.get("attributes.safetensors"))
        try:
            attributes = dict(load_numpy_bytes(data))
        except Exception as exc:  # safetensors raises its own error types
            raise InputError(f"{attr_path}: unreadable ({exc})") from None
        z = int(config.model.z_size)
        for name, vec in attributes.items():
            if vec.shape != (z,) or vec.dtype.kind != "f" or not np.isfinite(vec).all():
                raise InputError(f"{attr_path}: attribute {safe_component(name)!r} is not {z} finite numbers")
    prior = None
    if (path / PRIOR_FILE).is_file() or PRIOR_FILE in files:
        data = _read(path / PRIOR_FILE, files.get(PRIOR_FILE))
        prior = FittedPrior.from_bytes(data, path / PRIOR_FILE, int(config.model.z_size))
    return ModelFiles(meta.get("name", path.name), model, config, rep, attributes, dict(meta.get("info", {})), path,
                      _labels(meta.get("labels"), where), prior, _sampling(meta.get("sampling"), where))


def _sampling(raw: Any, where: Path) -> dict[str, Any]:
    """model.json's optional ``sampling`` section: the recommended ``temperature`` (``fit-prior --sweep``) and
    a melody model's optional ``rhythm_temperature`` (``fit-prior --rhythm-temperature``)."""
    if raw is None:
        return {}
    t = raw.get("temperature") if isinstance(raw, dict) else None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= MAX_TEMPERATURE:
        raise InputError(f"{where}: 'sampling.temperature' must be a number from 0 to {MAX_TEMPERATURE:g}")
    r = raw.get("rhythm_temperature")
    if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 < r <= MAX_TEMPERATURE):
        raise InputError(f"{where}: 'sampling.rhythm_temperature' must be a number above 0 and up to "
                         f"{MAX_TEMPERATURE:g}")
    return dict(raw)


def _from_checkpoint(path: Path) -> ModelFiles:
    with input_errors(StoredFileError):
        step_dir = resolve_checkpoint(path)
        trainer = read_trainer(step_dir)
    where = step_dir / "trainer.json"
    config = check_config(trainer.get("config"), where)
    rep = trainer.get("representation") or {}
    vocab = trainer.get("vocab_sizes") or (rep.get("vocab_sizes") if isinstance(rep, dict) else None)
    if not vocab:
        raise InputError(f"{where}: no vocabulary recorded with the checkpoint")
    vocab = check_vocab(vocab, where)
    files = trainer.get("files") if isinstance(trainer.get("files"), dict) else {}
    model = _built(config, vocab, step_dir / MODEL_FILE, files.get(MODEL_FILE))
    name = path.name if path.name not in ("best", "checkpoints") and not path.name.startswith("step-") else str(path)
    info = {"step": trainer.get("step"), "metrics": trainer.get("metrics", {}), "checkpoint": str(step_dir)}
    if isinstance(trainer.get("notes"), dict):  # VRASH family: collections and decoding defaults (kept by export)
        info["notes"] = trainer["notes"]
    return ModelFiles(name, model, config, rep, {}, info, step_dir, _labels(trainer.get("labels"), where))


def _labels(raw: Any, where: Path) -> dict[str, Any]:
    """Style labels stored with a MusAE model: ``{"names": [...], "components": {name: petal}}``."""
    if raw is None:
        return {}
    if (not isinstance(raw, dict) or not isinstance(raw.get("names", []), list)
            or not isinstance(raw.get("components", {}), dict)):
        raise InputError(f"{where}: unreadable 'labels' entry")
    comps = raw.get("components", {})
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 16 for v in comps.values()):
        raise InputError(f"{where}: 'labels' components must be petal numbers")
    return {"names": [str(n) for n in raw.get("names", [])], "components": {str(k): int(v) for k, v in comps.items()}}


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
    attrs = {**files.attributes, **(attributes or {})}
    blobs = {"model.safetensors": weights_bytes(files.model, dtype),
             PRIOR_FILE: files.prior.to_bytes() if files.prior is not None else None,
             "attributes.safetensors":
                 save_numpy({k: np.asarray(v, np.float32) for k, v in attrs.items()}) if attrs else None}
    checksums = {}  # flipped bits are refused on load
    for fname, blob in blobs.items():
        if blob is None:
            (out / fname).unlink(missing_ok=True)  # a stale file from an earlier export
        else:
            checksums[fname] = write_file(out / fname, blob)
    merged = {**files.info, **(info or {})}
    meta = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "name": name or out.name,
            "config": files.config.to_dict(), "representation": files.representation,
            "weights_dtype": str(dtype).replace("torch.", ""), "info": json.loads(json.dumps(merged, default=str)),
            "files": checksums}
    if files.labels:
        meta["labels"] = files.labels
    if files.sampling:
        meta["sampling"] = files.sampling
    atomic_write_json(out / "model.json", meta)
    if card is not None:
        atomic_write_bytes(out / "CARD.md", card.encode("utf-8"))
    return out
