"""Checks of a model folder from anywhere (an export, a checkpoint) before anything is built.

Place in the flow: ``generation.store`` reads ``model.json`` / ``trainer.json`` and the weights'
bytes -> these checks -> ``models.builders.build_model`` -> weights loaded.

A folder from the internet may hold any JSON: negative, huge, string or float sizes, zero
layers, an unknown family, deep nesting. Every value of the stored config is checked against
the type of its dataclass default and a plausible range; the model is then built on PyTorch's
``meta`` device (shapes only, no memory) and its parameter shapes compared with the shapes in
the safetensors header, so weights that do not fit are refused before a byte is allocated for
the real model. Every problem is an :class:`~musicvae.generation.windows.InputError` of one line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from pathlib import Path
from typing import Any

import torch

from ..config import CLASSES, FORMERLY, Config, migrate
from .windows import InputError

MAX_SIZE = 1 << 16  # widths, layers, components, vocabularies: far above any real model
MAX_TEXT = 64
_CHOICES = {
    ("model", "family"): ("musicvae", "lm", "musae", "mcvae", "note_lm", "note_vae", "vrash"),
    ("model", "decoder"): ("flat", "hierarchical"),
    ("model", "sigma_activation"): ("softplus", "exp"),
    ("musae", "prior"): ("gauss", "flower"),
    ("data", "window_rule"): ("", "mix", "per_track"),
    ("notes", "decoder_cell"): ("lstm", "highway"),
}
_AT_LEAST_ONE = {("model", "encoder_layers"), ("model", "decoder_layers"), ("model", "conductor_layers"),
                 ("model", "segments"), ("notes", "highway_depth"), ("data", "bars"), ("musae", "critic_layers"),
                 ("mcvae", "composer_layers")}
_SIGNED = {("data", "transpose_low"), ("data", "transpose_high")}


def check_config(raw: Any, where: Path) -> Config:
    """The stored config as a :class:`Config`, every value type- and range-checked."""
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{where}: no model config stored with these weights")
    raw = migrate(raw)  # the flat family settings of folders written before the family sections
    unknown = sorted(set(raw) - {"preset", *CLASSES})
    if unknown:
        raise InputError(f"{where}: unknown config section(s) {', '.join(map(repr, unknown[:3]))}")
    if not isinstance(raw.get("preset", ""), str) or len(raw.get("preset", "")) > 200:
        raise InputError(f"{where}: config 'preset' must be a short string")
    sections = {}
    for name, cls in CLASSES.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise InputError(f"{where}: config section {name!r} must be a JSON object, not {type(values).__name__}")
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        for key, value in values.items():
            if key not in defaults:
                raise InputError(f"{where}: unknown config key {name}.{key!s:.40}")
            _check_value(name, key, value, defaults[key], where)
        sections[name] = cls(**values)
    return Config(preset=raw.get("preset", "custom"), **sections)


def _check_value(section: str, key: str, value: Any, default: Any, where: Path) -> None:
    label = f"{where}: config {section}.{key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{label} must be true or false, not {_show(value)}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{label} must be an integer, not {_show(value)}")
        if section == "train" or FORMERLY.get(key) == "train":
            low, high = (0, 2**63 - 1)
        elif (section, key) in _SIGNED:
            low, high = -127, 127
        else:
            low, high = (1 if (section, key) in _AT_LEAST_ONE else 0), MAX_SIZE
        if not low <= value <= high:
            raise InputError(f"{label} = {value} is outside [{low}, {high}]")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{label} must be a finite number, not {_show(value)}")
    elif isinstance(default, str):
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise InputError(f"{label} must be a short string, not {_show(value)}")
        choices = _CHOICES.get((section, key))
        if choices and value not in choices:
            raise InputError(f"{label}: unknown value {value!r} (one of {', '.join(choices)})")


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__.replace("dict", "object")
    return text if len(text) <= 40 else text[:37] + "..."


def check_vocab(raw: Any, where: Path) -> tuple[int, ...]:
    if not isinstance(raw, (list, tuple)) or not 1 <= len(raw) <= 16 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE for v in raw):
        raise InputError(f"{where}: 'vocab_sizes' must be a list of 1-16 positive integers")
    return tuple(raw)


def header_shapes(data: bytes, where: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors file's header (the tensors are not read)."""
    if len(data) < 8:
        raise InputError(f"{where}: not a safetensors file ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(len(data) - 8, 100 << 20):
        raise InputError(f"{where}: not a safetensors file (header length {size})")
    try:
        header = json.loads(data[8:8 + size])
    except (ValueError, RecursionError):
        raise InputError(f"{where}: not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise InputError(f"{where}: not a safetensors file (header is not an object)")
    shapes = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise InputError(f"{where}: tensor {name!s:.40} has no valid shape")
        shapes[name] = tuple(shape)
    return shapes


def check_fits(config: Config, vocab: tuple[int, ...], shapes: dict[str, tuple[int, ...]], where: Path) -> None:
    """Build the model on the meta device (no memory) and compare its shapes with the weights'."""
    from ..models.builders import build_model

    try:
        with torch.device("meta"):
            probe = build_model(config, vocab)
    except Exception as exc:  # ConfigError, ValueError, RuntimeError from a module's checks
        msg = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise InputError(f"{where}: the stored config does not describe a model ({msg})") from None
    own = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    missing = sorted(set(own) - set(shapes))
    extra = sorted(set(shapes) - set(own))
    wrong = [f"{k} {shapes[k]} vs {own[k]}" for k in sorted(set(own) & set(shapes)) if shapes[k] != own[k]]
    problems = [f"{what} {', '.join(names[:2])}" for what, names in
                (("shape mismatch", wrong), ("missing", missing), ("unexpected", extra)) if names]
    if problems:
        raise InputError(f"{where}: weights do not fit the stored config: {'; '.join(problems)}"[:400])


def check_representation(rep: Any, vocab: tuple[int, ...], where: Path) -> None:
    """The stored representation must rebuild a converter with the model's vocabulary."""
    from ..data.dataset import converter_from_config

    if not isinstance(rep, dict):
        raise InputError(f"{where}: 'representation' must be a JSON object")
    try:
        converter = converter_from_config(rep)
        sizes = tuple(int(v) for v in converter.vocab_sizes)
    except Exception as exc:
        msg = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise InputError(f"{where}: unreadable 'representation' ({msg})") from None
    if sizes != tuple(vocab):
        raise InputError(f"{where}: the representation's vocabulary {sizes} is not the model's {tuple(vocab)}")
