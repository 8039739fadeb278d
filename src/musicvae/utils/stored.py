"""Stored files: a JSON sidecar recording size + sha256 of the safetensors files beside it; no pickle.

Place in the flow: below every stage (``utils``). Every file format of the project reads and
writes through these: training checkpoints (``training.checkpoint``), exported and bundled
models (``generation.store``), MCVAE composer folders, latent datasets (``data.latents``) and
fitted priors. Tensors live in safetensors, everything else in JSON, so a file from the
internet cannot run code; reads are bounded (no FIFO, no 16 GiB file) and checked against the
sidecar's record; every problem is a one-line :class:`StoredFileError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load as st_load_bytes
from safetensors.torch import save as st_save_bytes

from .io import atomic_write_bytes

_MAX_REASON = 400


class StoredFileError(Exception):
    """Anything wrong with a stored file: missing, too large, altered, corrupt, bad JSON, weights that do not fit.

    ``training.state_io`` knows it as ``CheckpointError``."""


def fail(path: str | os.PathLike, reason: str, exc: BaseException | None = None) -> StoredFileError:
    """Build a one-line StoredFileError naming ``path``."""
    if exc is not None:
        detail = str(exc) or type(exc).__name__
        reason = f"{reason}: {type(exc).__name__}: {detail}"
    reason = " ".join(reason.split())
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    return StoredFileError(f"{path}: {reason}")


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
    """What a sidecar JSON records of a file it describes: its size and sha256."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def safetensors_bytes(tensors: dict[str, torch.Tensor], kind: str) -> bytes:
    return st_save_bytes(tensors, metadata={"format": "pt", "musicvae": kind})


def write_file(path: str | os.PathLike, data: bytes) -> dict[str, Any]:
    """Write ``data`` atomically to ``path``; returns its :func:`file_record` for the sidecar JSON."""
    atomic_write_bytes(path, data)
    return file_record(data)


MAX_FILE_BYTES = 16 << 30  # a checkpoint or model file larger than this is refused unread


def read_bytes(path: Path, record: Mapping[str, Any] | str | None = None, verify: bool = True) -> bytes:
    """A file's bytes, refused unread when it is not a regular file or too large, and checked against
    its ``record`` (``{"bytes", "sha256"}`` from :func:`file_record`; a bare sha256 string, as old
    composer folders hold, checks the digest only)."""
    if isinstance(record, str):
        record = {"sha256": record}
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
            raise fail(path, "not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise fail(path, f"too large ({st.st_size / 2**30:.1f} GiB)")
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except StoredFileError:
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


def _parse_safetensors(data: bytes, path: Path) -> dict[str, torch.Tensor]:
    try:
        return st_load_bytes(data)
    except Exception as exc:  # SafetensorError, ValueError, ...
        raise fail(path, "corrupt safetensors file", exc) from exc


def read_safetensors(path: Path, record: Mapping[str, Any] | str | None = None, verify: bool = True,
                      device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    tensors = _parse_safetensors(read_bytes(path, record, verify), path)
    if str(device) != "cpu":
        try:
            tensors = {k: v.to(device) for k, v in tensors.items()}
        except Exception as exc:
            raise fail(path, f"cannot move tensors to {device}", exc) from exc
    return tensors


def read_json(path: Path, record: Mapping[str, Any] | str | None = None, verify: bool = True) -> Any:
    data = read_bytes(path, record, verify)
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


def load_weights_bytes(model: torch.nn.Module, data: bytes, path: Path, strict: bool = True) -> None:
    """Fill ``model`` from safetensors bytes read from ``path`` (named in every error)."""
    load_state_into_model(model, _parse_safetensors(data, path), path, strict=strict)
