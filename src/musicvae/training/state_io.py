"""Pickle-free state I/O: nested state <-> safetensors + JSON, model weights, RNG states.

Place in the flow: ``training.checkpoint`` (directory layout, retention, resume) uses these
to write and read each file of a checkpoint; ``generation`` can load bare weight exports
with :func:`load_weights`. Nothing here unpickles: tensors live in safetensors, the
rest in JSON, so a checkpoint from the internet cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import stat
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from safetensors.torch import load as st_load_bytes
from safetensors.torch import save as st_save_bytes
import torch

from musicvae.utils.io import atomic_write_bytes

log = logging.getLogger(__name__)

_MAX_REASON = 400


class CheckpointError(Exception):
    """Anything wrong with a checkpoint: missing/corrupt files, bad JSON, shape mismatch, ..."""


def fail(path: str | os.PathLike, reason: str, exc: BaseException | None = None) -> CheckpointError:
    """Build a one-line CheckpointError naming ``path``."""
    if exc is not None:
        detail = str(exc) or type(exc).__name__
        reason = f"{reason}: {type(exc).__name__}: {detail}"
    reason = " ".join(reason.split())
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    return CheckpointError(f"{path}: {reason}")


# --------------------------------------------------------------------------- JSON <-> tensors

_TAGS = ("__tensor__", "__tuple__", "__ndarray__", "__items__")


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def encode_state(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Turn ``obj`` into plain JSON; tensors go to ``tensors`` under their dotted path.

    Tuples, numpy arrays and dicts with non-string keys are tagged so that
    :func:`decode_state` gives back exactly the same types.
    """
    if isinstance(obj, torch.Tensor):
        key = path or "tensor"
        if key in tensors:
            n = 1
            while f"{key}#{n}" in tensors:
                n += 1
            key = f"{key}#{n}"
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"object array at {path or '<root>'!r} cannot be stored without pickle")
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_state(v, _join(path, i), tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode_state(v, _join(path, i), tensors) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not any(k in _TAGS for k in obj):
            return {k: encode_state(v, _join(path, k), tensors) for k, v in obj.items()}
        return {"__items__": [[encode_state(k, _join(path, "key"), tensors), encode_state(v, _join(path, k), tensors)]
                              for k, v in obj.items()]}
    raise TypeError(f"value at {path or '<root>'!r} of type {type(obj).__name__} is not storable")


def decode_state(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(obj, list):
        return [decode_state(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        key = obj["__tensor__"]
        if key not in tensors:
            raise KeyError(f"tensor {key!r} is missing from the safetensors file")
        return tensors[key]
    if "__tuple__" in obj:
        return tuple(decode_state(v, tensors) for v in obj["__tuple__"])
    if "__ndarray__" in obj:
        arr = np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
        return arr.reshape(obj["shape"])
    if "__items__" in obj:
        return {decode_state(k, tensors): decode_state(v, tensors) for k, v in obj["__items__"]}
    return {k: decode_state(v, tensors) for k, v in obj.items()}


def plain_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (metrics or {}).items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = v.item()
        elif isinstance(v, (np.generic,)):
            v = v.item()
        out[str(k)] = v
    return out


# --------------------------------------------------------------------------- low-level file helpers


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_record(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def safetensors_bytes(tensors: dict[str, torch.Tensor], kind: str) -> bytes:
    return st_save_bytes(tensors, metadata={"format": "pt", "musicvae": kind})


MAX_FILE_BYTES = 16 << 30  # a checkpoint or model file larger than this is refused unread


def _read_bytes(path: Path, record: Mapping[str, Any] | None, verify: bool) -> bytes:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
            raise fail(path, "not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise fail(path, f"too large ({st.st_size / 2**30:.1f} GiB)")
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise fail(path, "missing file") from None
    except OSError as exc:
        raise fail(path, "cannot read file", exc) from exc
    if record and verify:
        expected = record.get("bytes")
        if isinstance(expected, int) and expected != len(data):
            raise fail(path, f"truncated or altered: {len(data)} bytes, its record says {expected}")
        digest = record.get("sha256")
        if isinstance(digest, str) and hashlib.sha256(data).hexdigest() != digest:
            raise fail(path, "checksum mismatch (file corrupted or altered)")
    return data


def read_safetensors(path: Path, record: Mapping[str, Any] | None, verify: bool,
                      device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    data = _read_bytes(path, record, verify)
    try:
        tensors = st_load_bytes(data)
    except Exception as exc:  # SafetensorError, ValueError, ...
        raise fail(path, "corrupt safetensors file", exc) from exc
    if str(device) != "cpu":
        try:
            tensors = {k: v.to(device) for k, v in tensors.items()}
        except Exception as exc:
            raise fail(path, f"cannot move tensors to {device}", exc) from exc
    return tensors


def read_json(path: Path, record: Mapping[str, Any] | None = None, verify: bool = True) -> Any:
    data = _read_bytes(path, record, verify)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(path, "invalid JSON", exc) from exc
    except RecursionError:
        raise fail(path, "invalid JSON (nested too deeply)") from None


# --------------------------------------------------------------------------- weights


def _weights_tensors(model: torch.nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor")
        t = value.detach()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        # copy: safetensors refuses tensors that share storage (tied weights)
        out[key] = t.to("cpu", copy=True).contiguous()
    return out


def weights_bytes(model: torch.nn.Module, dtype: torch.dtype | None) -> bytes:
    return safetensors_bytes(_weights_tensors(model, dtype), "weights")


def save_weights(model: torch.nn.Module, path: str | os.PathLike,
                 dtype: torch.dtype | None = None) -> Path:
    """Write ``model.state_dict()`` to a safetensors file atomically.

    ``dtype`` (e.g. ``torch.float16`` for a compact export) casts floating tensors only;
    integer buffers keep their dtype.  :func:`load_weights` casts back to the model's dtype.
    """
    if dtype is not None and not dtype.is_floating_point:
        raise ValueError(f"export dtype must be floating point, got {dtype}")
    return atomic_write_bytes(path, weights_bytes(model, dtype))


def load_state_into_model(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path,
                           strict: bool = True) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and isinstance(v, torch.Tensor) and tuple(state[k].shape) != tuple(v.shape)
    ]

    def _few(items: list[str]) -> str:
        more = f", ... (+{len(items) - 3})" if len(items) > 3 else ""
        return ", ".join(items[:3]) + more

    problems = []
    if mismatched:
        problems.append(f"shape mismatch {_few(mismatched)}")
    if strict and missing:
        problems.append(f"missing keys {_few(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys {_few(unexpected)}")
    if problems:
        raise fail(path, "weights do not fit the model: " + "; ".join(problems))

    cast: dict[str, torch.Tensor] = {}
    for k, t in state.items():
        target = own.get(k)
        if (isinstance(target, torch.Tensor) and t.is_floating_point()
                and target.is_floating_point() and t.dtype != target.dtype):
            t = t.to(target.dtype)
        cast[k] = t
    try:
        model.load_state_dict(cast, strict=strict)
    except Exception as exc:
        raise fail(path, "weights do not fit the model", exc) from exc


def load_weights(model: torch.nn.Module, path: str | os.PathLike,
                 map_location: str | torch.device = "cpu", strict: bool = True) -> torch.nn.Module:
    """Fill ``model`` from a safetensors weights file (a step dir's model.safetensors or an export)."""
    path = Path(path)
    state = read_safetensors(path, None, verify=False, device=map_location)
    load_state_into_model(model, state, path, strict=strict)
    return model


# --------------------------------------------------------------------------- RNG


def capture_rng_state(
    np_generators: Mapping[str, np.random.Generator] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Snapshot every RNG a training run draws from.

    Returns ``(tensors, json_part)``: torch CPU/CUDA generator states (uint8 tensors, for
    ``rng.safetensors``) and the JSON-able rest: Python ``random``, numpy's global
    ``np.random`` state, and the ``bit_generator.state`` of each named numpy Generator.
    """
    tensors: dict[str, torch.Tensor] = {"torch.cpu": torch.get_rng_state().clone()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch.cuda.{i}"] = state.detach().to("cpu", copy=True)
    sink: dict[str, torch.Tensor] = {}
    json_part = {
        "python": encode_state(random.getstate(), "python", sink),
        "numpy": encode_state(np.random.get_state(legacy=False), "numpy", sink),
        "numpy_generators": {
            str(name): encode_state(gen.bit_generator.state, f"numpy_generators.{name}", sink)
            for name, gen in (np_generators or {}).items()
        },
    }
    if sink:  # cannot happen with the states above; guard against future changes
        raise TypeError("RNG JSON state unexpectedly contained tensors")
    return tensors, json_part


def restore_rng_state(
    tensors: Mapping[str, torch.Tensor],
    json_part: Mapping[str, Any] | None,
    np_generators: Mapping[str, np.random.Generator] | None = None,
) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states are skipped, with a warning,
    when the device count differs or CUDA is unavailable)."""
    if "torch.cpu" in tensors:
        torch.set_rng_state(tensors["torch.cpu"].to("cpu", dtype=torch.uint8))
    cuda_keys = sorted((k for k in tensors if k.startswith("torch.cuda.")),
                       key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda_keys:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda_keys):
            torch.cuda.set_rng_state_all([tensors[k].to("cpu", dtype=torch.uint8) for k in cuda_keys])
        else:
            warnings.warn(f"checkpoint holds {len(cuda_keys)} CUDA RNG state(s) that cannot be "
                          "restored on this machine; CUDA RNG not restored", stacklevel=2)
    if not json_part:
        return
    if json_part.get("python") is not None:
        random.setstate(decode_state(json_part["python"], {}))
    if json_part.get("numpy") is not None:
        np.random.set_state(decode_state(json_part["numpy"], {}))
    saved_gens = json_part.get("numpy_generators") or {}
    for name, gen in (np_generators or {}).items():
        if name not in saved_gens:
            raise KeyError(f"no saved state for numpy generator {name!r}")
        gen.bit_generator.state = decode_state(saved_gens[name], {})
