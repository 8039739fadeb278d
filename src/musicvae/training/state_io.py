"""Pickle-free state I/O: nested state <-> safetensors + JSON, model weights, RNG states.

Place in the flow: ``training.checkpoint`` (directory layout, retention, resume) uses these
to write and read each file of a checkpoint (the file helpers themselves live in
``utils.stored``). Nothing here unpickles: tensors live in safetensors, the
rest in JSON, so a checkpoint from the internet cannot run code.
"""

from __future__ import annotations

import logging
import random
import warnings
from typing import Any, Mapping

import numpy as np
import torch

from musicvae.utils.stored import StoredFileError as CheckpointError  # noqa: F401 (the checkpoint code's name)

log = logging.getLogger(__name__)

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
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
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
        if (isinstance(v, torch.Tensor) and v.numel() == 1) or isinstance(v, np.generic):
            v = v.item()
        out[str(k)] = v
    return out


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
