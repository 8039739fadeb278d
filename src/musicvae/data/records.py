"""Records of ``musicvae prepare``: packing a chunk's windows, deduplication keys, the
train/eval split by file, and shard writing.

Place in the flow: ``data.prepare`` workers (one chunk of files -> records) -> these helpers
-> ``DIR/{train,eval}/shard-*.npz`` -> ``data.dataset``.

A record is a grid window (``tokens`` (n, T, K) int16 with ``start_bar`` and its source
``item``), a whole song of bars (kind ``bars``) or a note-event track (kind ``notes``, with
its 5-int ``meta`` row); the ragged kinds are stored as ``data`` plus ``offsets``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np

from ..representations import GRID_KINDS
from ..utils.io import atomic_save_npz

SHARD_RECORDS = 50_000


def record_count(kind: str, rec: dict) -> int:
    if kind in GRID_KINDS:
        return int(sum(len(w) for w in rec["tokens"]))
    if kind == "bars":
        return len(rec["songs"])
    return len(rec["events"])


def pack_chunk(kind: str, acc: dict, items: list[np.ndarray]) -> dict[str, np.ndarray]:
    item = np.concatenate(items) if items else np.zeros(0, np.int32)
    if kind in GRID_KINDS:
        tokens = acc.get("tokens", [])
        return {
            "item": item,
            "tokens": np.concatenate(tokens).astype(np.int16) if tokens else np.zeros((0, 0, 0), np.int16),
            "start_bar": np.concatenate(acc["start_bar"]).astype(np.int32) if tokens else np.zeros(0, np.int32),
        }
    if kind == "bars":
        return {"item": item, **ragged(acc.get("songs", []), (16,))}
    metas = acc.get("metas", [])
    meta_rows = np.array([meta_row(m) for m in metas], dtype=np.int32).reshape(-1, 5)
    return {
        "item": item,
        **ragged(acc.get("events", []), (3,)),
        "meta": meta_rows,
        "start_bar": np.array(acc.get("start_bar", []), dtype=np.int32),
    }


def meta_row(meta) -> list[int]:
    return [int(meta.program), int(meta.is_drum), int(meta.median_duration), int(meta.octave_shift), int(meta.instrument_group)]


def ragged(parts: list[np.ndarray], tail: tuple[int, ...]) -> dict[str, np.ndarray]:
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    if parts:
        offsets[1:] = np.cumsum([len(p) for p in parts])
        data = np.concatenate(parts).astype(np.int16)
    else:
        data = np.zeros((0, *tail), np.int16)
    return {"data": data, "offsets": offsets}


def is_eval_source(name: str, fraction: float, seed: int = 0) -> bool:
    """Stable split: a file goes to eval iff its name hashes below ``fraction``."""
    return unit_hash(name, seed) < fraction


def unit_hash(name: str, seed: int) -> float:
    # surrogateescape: a name holding bytes that are not UTF-8 hashes as those bytes
    digest = hashlib.blake2b(f"{seed}:{name}".encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def duplicate_groups(keys: list[bytes] | np.ndarray) -> np.ndarray:
    """``(n,)`` group id per record: records with equal keys (duplicate windows) share one.

    ``keys``: array rows (compared as raw bytes) or a list of byte strings."""
    if isinstance(keys, np.ndarray):
        if len(keys) == 0:
            return np.zeros(0, np.int64)
        flat = np.ascontiguousarray(keys.reshape(len(keys), -1))
        void = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel()
        return np.unique(void, return_inverse=True)[1].ravel().astype(np.int64)
    ids: dict[bytes, int] = {}
    return np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int64)


def first_occurrences(rows: list[bytes] | np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct row, in original order."""
    _, idx = np.unique(duplicate_groups(rows), return_index=True)
    return np.sort(idx).astype(np.int64)


def record_keys(kind: str, arrays: dict) -> tuple[list[bytes] | np.ndarray, Callable[[np.ndarray], dict]]:
    """Dedup keys of a chunk's records and a function selecting records by index."""
    if kind in GRID_KINDS:
        tok = arrays["tokens"]
        return tok, lambda idx: {"tokens": tok[idx], "start_bar": arrays["start_bar"][idx], "item": arrays["item"][idx]}
    data, off = arrays["data"], arrays["offsets"]
    parts = [data[off[i] : off[i + 1]] for i in range(len(off) - 1)]
    if kind == "bars":
        keys = [p.tobytes() for p in parts]
    else:
        keys = [p.tobytes() + arrays["meta"][i].tobytes() for i, p in enumerate(parts)]

    def select(idx: np.ndarray) -> dict:
        out = {"item": arrays["item"][idx], **ragged([parts[i] for i in idx], data.shape[1:])}
        if kind == "notes":
            out["meta"] = arrays["meta"][idx]
            out["start_bar"] = arrays["start_bar"][idx]
        return out

    return keys, select


def take(keys: list[bytes] | np.ndarray, idx: np.ndarray) -> list[bytes] | np.ndarray:
    """Dedup keys at ``idx`` (array rows or a list of byte strings)."""
    return keys[idx] if isinstance(keys, np.ndarray) else [keys[i] for i in idx]


def concat_chunks(kind: str, chunks: list[dict]) -> dict:
    if not chunks:
        return {}
    if kind in GRID_KINDS:
        nonempty = [c for c in chunks if len(c["tokens"])] or chunks[:1]
        return {k: np.concatenate([c[k] for c in nonempty]) for k in ("tokens", "start_bar", "item")}
    out = {"item": np.concatenate([c["item"] for c in chunks])}
    datas, offs, base = [], [np.zeros(1, np.int64)], 0
    for c in chunks:
        datas.append(c["data"])
        offs.append(c["offsets"][1:] + base)
        base += len(c["data"])
    out["data"] = np.concatenate(datas)
    out["offsets"] = np.concatenate(offs)
    if kind == "notes":
        out["meta"] = np.concatenate([c["meta"] for c in chunks])
        out["start_bar"] = np.concatenate([c["start_bar"] for c in chunks])
    return out


def write_split(kind: str, records: dict, out_dir: Path, split: str) -> list[str]:
    n = len(records["item"]) if records else 0
    names = []
    select = None if kind in GRID_KINDS or not records else record_keys(kind, records)[1]
    for s, lo in enumerate(range(0, max(n, 1), SHARD_RECORDS)):
        idx = np.arange(lo, min(lo + SHARD_RECORDS, n))
        if select is None:
            part = {k: records[k][idx] for k in ("tokens", "start_bar", "item")}
        else:
            part = select(idx)
        if "labels" in records:
            part["labels"] = records["labels"][idx]  # (n, M) int16 label ids, -1 = none
        if "collection" in records:
            part["collection"] = records["collection"][idx]  # (n,) int16 ids into manifest collections.names
        part["source"] = part.pop("item")
        rel = f"{split}/shard-{s:05d}.npz"
        atomic_save_npz(out_dir / rel, **part)
        names.append(rel)
    return names
