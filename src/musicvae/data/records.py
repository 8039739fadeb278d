"""Records of ``musicvae prepare``: packing a chunk's windows, deduplication keys, the
train/eval split by file, and shard writing.

Place in the flow: ``data.prepare`` workers (one chunk of files -> records) -> these helpers
-> ``DIR/{train,eval}/shard-*.npz`` -> ``data.dataset``.

What a record is depends on the representation: each converter class names its ``record`` unit
(``window``, ``song`` or ``track``) and :func:`records_for` gives the one :class:`Records` class of
that unit, which knows how to extract, count, pack, key, select and concatenate its records:

- :class:`WindowRecords`: grid windows (``tokens`` (n, T, K) int16 with ``start_bar``);
- :class:`SongRecords`: whole songs of bars (kind ``bars``), ragged;
- :class:`TrackRecords`: note-event tracks (kind ``notes``), ragged, with a 5-int ``meta`` row each.

Ragged records are stored as ``data`` plus ``offsets``; every record also has its source ``item``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from ..representations import converter_class
from ..utils.io import atomic_save_npz
from .windows import grid_windows

SHARD_RECORDS = 50_000


class Records:
    """How one unit of record (window, song or track) goes through ``musicvae prepare``."""

    unit = ""

    def extract(self, seq, converter, cfg) -> dict[str, list]:
        """The records of one quantized sequence, as lists of arrays keyed by field name."""
        raise NotImplementedError

    def count(self, rec: dict) -> int:
        """How many records :meth:`extract` returned."""
        raise NotImplementedError

    def pack(self, acc: dict, item: np.ndarray) -> dict[str, np.ndarray]:
        """A chunk's extracted lists as arrays, with each record's source ``item``."""
        raise NotImplementedError

    def keyed(self, arrays: dict) -> tuple[list[bytes] | np.ndarray, Callable[[np.ndarray], dict]]:
        """Dedup keys of the records in ``arrays`` and a function selecting records by index."""
        raise NotImplementedError

    def none_reason(self, cfg) -> str:
        """Why a file read fine but gave no record."""
        raise NotImplementedError

    # what a unit keeps besides its records (defaults: nothing); tracks list their rejects, for one
    FINGERPRINT: dict = {}  # added to the prepare fingerprint

    def note_side(self, rec: dict, side: dict[str, list], index: int, part: int) -> None:
        """Move what :meth:`extract` returned besides records from ``rec`` into the chunk's ``side``."""

    def chunk_summary(self, side: dict[str, list]) -> dict:
        """The chunk summary's share of ``side`` (JSON)."""
        return {}

    def nothing_found(self, cfg, summaries: list[dict], where: str) -> str:
        """The error when a whole input gave no record (``where``: how many items, rejected files)."""
        return f"no {cfg.bars}-bar {cfg.kind} windows found {where}"

    def finish(self, cfg, converter, summaries: list[dict], names: list[str], with_windows: np.ndarray,
               train: dict, evals: dict) -> dict:
        """Last fields of the deduplicated ``train``/``evals`` (in place, before the shards are written)
        and the manifest's sections of this unit."""
        return {}


class WindowRecords(Records):
    """Fixed-size grid windows: ``tokens`` (n, T, K) int16, ``start_bar``, ``item``."""

    unit = "window"
    FIELDS = ("tokens", "start_bar", "item")
    WHY = {"melody": "no non-drum track in GM programs 0-31 (--all-programs takes any)", "drums": "no drum track",
           "trio": "no melody (GM 0-31), bass (GM 32-39) and drums together", "multitrack": "no track of the kind"}

    def extract(self, seq, converter, cfg) -> dict[str, list]:
        wins, starts = [], []
        for grid in converter.candidates(seq):
            w, s = grid_windows(converter, grid, cfg.rules)
            if len(w):
                wins.append(w)
                starts.append(s)
        return {"tokens": wins, "start_bar": starts}

    def count(self, rec: dict) -> int:
        return int(sum(len(w) for w in rec["tokens"]))

    def pack(self, acc: dict, item: np.ndarray) -> dict[str, np.ndarray]:
        tokens = acc.get("tokens", [])
        return {
            "item": item,
            "tokens": np.concatenate(tokens).astype(np.int16) if tokens else np.zeros((0, 0, 0), np.int16),
            "start_bar": np.concatenate(acc["start_bar"]).astype(np.int32) if tokens else np.zeros(0, np.int32),
        }

    def keyed(self, arrays: dict):
        return arrays["tokens"], lambda idx: {k: arrays[k][idx] for k in self.FIELDS}

    def none_reason(self, cfg) -> str:
        part = self.WHY.get(cfg.kind, f"nothing of kind {cfg.kind}")
        return (f"no {cfg.bars}-bar {cfg.kind} window ({part}, or every 4/4 stretch too short, too sparse or with "
                f"rests longer than {cfg.max_rest_bars:g} bar(s))")


class RaggedRecords(Records):
    """Records of any length, stored as ``data`` + ``offsets``; ``EXTRA``: per-record fields besides them."""

    TAIL: tuple[int, ...] = ()  # the shape of one step of a record
    EXTRA: tuple[str, ...] = ()

    def keyed(self, arrays: dict):
        data, off = arrays["data"], arrays["offsets"]
        parts = [data[off[i] : off[i + 1]] for i in range(len(off) - 1)]
        keys = self.keys(parts, arrays)

        def select(idx: np.ndarray) -> dict:
            return {"item": arrays["item"][idx], **ragged([parts[i] for i in idx], data.shape[1:]),
                    **{k: arrays[k][idx] for k in self.EXTRA}}

        return keys, select

    def keys(self, parts: list[np.ndarray], arrays: dict) -> list[bytes]:
        return [p.tobytes() for p in parts]


class SongRecords(RaggedRecords):
    """Whole songs as bars of 16 melody tokens (MCVAE), of ``cfg.bars`` bars or more."""

    unit = "song"
    TAIL = (16,)

    def extract(self, seq, converter, cfg) -> dict[str, list]:
        return {"songs": converter.songs(seq, min_bars=cfg.bars, max_rest_bars=cfg.max_rest_bars)}

    def count(self, rec: dict) -> int:
        return len(rec["songs"])

    def pack(self, acc: dict, item: np.ndarray) -> dict[str, np.ndarray]:
        return {"item": item, **ragged(acc.get("songs", []), self.TAIL)}

    def none_reason(self, cfg) -> str:
        return f"no song of {cfg.bars}+ bars (no melody track, or its 4/4 stretches are too short or too sparse)"


class TrackRecords(RaggedRecords):
    """Whole note-event tracks (VRASH): ``(n, 3)`` events each, a 5-int ``meta`` row, ``start_bar`` 0.

    Each whole pitched track is one record (no windows, so ``--bars`` and the window rules do not
    apply). Tracks the converter's filter refuses (``NoteEventConverter.reject_reason``) and drum tracks
    are skipped, each with its reason (``track_rejects``: (track, reason, stats)); ``entropies``: the
    pitch entropy of every pitched track of two or more notes, kept or not (the manifest's histogram).
    """

    unit = "track"
    TAIL = (3,)
    EXTRA = ("meta", "start_bar")
    FINGERPRINT = {"notes_unit": "track"}  # notes folders of whole tracks (earlier ones held windows)
    ENTROPY_BIN = 0.1  # bits; the manifest's pitch-entropy histogram (tracks.pitch_entropy)
    ENTROPY_BINS = 80  # 0-8 bits (log2 of 128 pitches is 7)
    MAX_LISTED_REJECTS = 10_000  # per-track reasons listed in the manifest (all are counted)

    def extract(self, seq, converter, cfg) -> dict[str, list]:
        events, metas, rejects, entropies = [], [], [], []
        for idx, info in enumerate(seq.tracks):
            if not len(seq.track_notes(idx)):
                continue
            stats = converter.track_stats(seq, idx)
            if not info.is_drum and stats["notes"] >= 2:
                entropies.append(stats["pitch_entropy"])
            reason = "drum track" if info.is_drum else converter.reject_reason(stats)
            if reason is not None:
                rejects.append((idx, reason, stats))
                continue
            ev, meta = converter.encode_track(seq, idx)
            events.append(ev)
            metas.append(meta)
        return {"events": events, "metas": metas, "start_bar": [0] * len(events), "track_rejects": rejects,
                "entropies": entropies}

    def count(self, rec: dict) -> int:
        return len(rec["events"])

    def pack(self, acc: dict, item: np.ndarray) -> dict[str, np.ndarray]:
        metas = acc.get("metas", [])
        return {
            "item": item,
            **ragged(acc.get("events", []), self.TAIL),
            "meta": np.array([meta_row(m) for m in metas], dtype=np.int32).reshape(-1, 5),
            "start_bar": np.array(acc.get("start_bar", []), dtype=np.int32),
        }

    def keys(self, parts: list[np.ndarray], arrays: dict) -> list[bytes]:
        return [p.tobytes() + arrays["meta"][i].tobytes() for i, p in enumerate(parts)]

    def none_reason(self, cfg) -> str:
        return "no note track passed the filter (each listed under tracks.rejected_tracks)"

    def note_side(self, rec: dict, side: dict[str, list], index: int, part: int) -> None:
        side.setdefault("track_rejects", []).extend([index, part, t, why, st] for t, why, st in rec.pop("track_rejects"))
        side.setdefault("entropies", []).extend(rec.pop("entropies"))

    def chunk_summary(self, side: dict[str, list]) -> dict:
        return {"track_rejects": side.get("track_rejects", []),
                "entropy_counts": self.entropy_counts(side.get("entropies", [])).tolist()}

    def entropy_counts(self, values: list[float]) -> np.ndarray:
        """Histogram of pitch entropies (bits) in :attr:`ENTROPY_BINS` bins of :attr:`ENTROPY_BIN`."""
        idx = np.clip((np.asarray(values, dtype=np.float64) / self.ENTROPY_BIN + 1e-9).astype(np.int64), 0,
                      self.ENTROPY_BINS - 1)
        return np.bincount(idx, minlength=self.ENTROPY_BINS)

    def nothing_found(self, cfg, summaries: list[dict], where: str) -> str:
        why = sorted({r[3] for s in summaries for r in s.get("track_rejects", [])})[:4]
        return f"no usable note tracks found {where}" + (f" (rejected tracks: {'; '.join(why)})" if why else "")

    def finish(self, cfg, converter, summaries, names, with_windows, train, evals) -> dict:
        """Each track's source collection (``collection_of`` its file, ids into ``collections``) and the
        manifest's ``tracks`` section: kept tracks, rejects by reason and per track, and the pitch-entropy
        histogram of every pitched track (the paper's Fig. 1)."""
        from .sources import collection_of

        item_coll = [collection_of(n) for n in names]
        collections = sorted({item_coll[i] for i in with_windows})
        coll_id = np.array([collections.index(c) if c in collections else -1 for c in item_coll], np.int16)
        train["collection"], evals["collection"] = coll_id[train["item"]], coll_id[evals["item"]]
        per_split = {sp: {collections[int(k)]: int(v) for k, v in zip(*np.unique(recs["collection"], return_counts=True))}
                     for sp, recs in (("train", train), ("eval", evals)) if len(recs["item"])}
        rejects = sorted((r for s in summaries for r in s.get("track_rejects", [])), key=lambda r: (r[0], r[1], r[2]))
        by_reason = Counter(r[3] for r in rejects)
        counts = sum((np.asarray(s["entropy_counts"], np.int64) for s in summaries if s.get("entropy_counts")),
                     np.zeros(self.ENTROPY_BINS, np.int64))
        listed = [{"file": names[i], **({"part": part} if part else {}), "track": t, "reason": why,
                   "notes": st["notes"], "distinct_durations": st["distinct_durations"],
                   "pitch_entropy": round(st["pitch_entropy"], 3)}
                  for i, part, t, why, st in rejects[: self.MAX_LISTED_REJECTS]]
        tracks = {"unit": "track", "kept": {"train": len(train["item"]), "eval": len(evals["item"])},
                  "rejected": len(rejects), "rejected_by_reason": dict(sorted(by_reason.items())),
                  "rejected_tracks": listed, "rejected_tracks_listed": len(listed),
                  "filter": {"max_durations": converter.max_durations, "min_pitch_entropy": converter.min_pitch_entropy},
                  "pitch_entropy": {"bin_bits": self.ENTROPY_BIN, "counts": counts.tolist(),
                                    "threshold": converter.min_pitch_entropy}}
        return {"tracks": tracks,
                "collections": {"from": "source folder (collection_of)", "names": collections, "tracks": per_split}}


RECORDS: dict[str, Records] = {r.unit: r for r in (WindowRecords(), SongRecords(), TrackRecords())}


def records_for(kind: str) -> Records:
    """The records of a representation kind (its converter class's ``record`` unit)."""
    return RECORDS[converter_class(kind).record]


def meta_row(meta) -> list[int]:
    return [int(meta.program), int(meta.is_drum), int(meta.median_duration), int(meta.octave_shift), int(meta.instrument_group)]


def concat(parts: list[dict]) -> dict:
    """The records of several chunks (or shards) as one, in order: every field concatenated, a ragged
    ``data`` with its ``offsets`` rebased. Parts without a record are left out (an empty grid chunk's
    ``tokens`` have no window shape)."""
    parts = [p for p in parts if any(np.asarray(v).size for v in p.values())] or parts[:1]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "offsets"}
    if "offsets" in parts[0]:
        base, offs = 0, [np.zeros(1, np.int64)]
        for p in parts:
            offs.append(p["offsets"][1:] + base)
            base += len(p["data"])
        out["offsets"] = np.concatenate(offs)
    return out


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


def row_keys(keys: list[bytes] | np.ndarray) -> list[bytes]:
    """Dict keys of the records' dedup keys: byte strings, one per row (array rows in one call: a
    fixed-width bytes view, whose values drop trailing zero bytes, which keeps equal rows equal and
    different rows different, since all rows have one length)."""
    if not isinstance(keys, np.ndarray):
        return keys
    flat = np.ascontiguousarray(keys.reshape(len(keys), -1))
    width = flat.dtype.itemsize * flat.shape[1]
    return flat.view(f"S{width}").ravel().tolist() if width else [b""] * len(flat)


def first_occurrences(rows: list[bytes] | np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct row, in original order."""
    _, idx = np.unique(duplicate_groups(rows), return_index=True)
    return np.sort(idx).astype(np.int64)


def write_split(kind: Records, records: dict, out_dir: Path, split: str) -> list[str]:
    n = len(records["item"]) if records else 0
    names = []
    select = kind.keyed(records)[1] if records else None
    for s, lo in enumerate(range(0, max(n, 1), SHARD_RECORDS)):
        idx = np.arange(lo, min(lo + SHARD_RECORDS, n))
        part = select(idx) if select else {"item": np.zeros(0, np.int32)}
        if "labels" in records:
            part["labels"] = records["labels"][idx]  # (n, M) int16 label ids, -1 = none
        if "collection" in records:
            part["collection"] = records["collection"][idx]  # (n,) int16 ids into manifest collections.names
        part["source"] = part.pop("item")
        rel = f"{split}/shard-{s:05d}.npz"
        atomic_save_npz(out_dir / rel, **part)
        names.append(rel)
    return names


def unique_in_chunk(kind: Records, arrays: dict) -> dict[str, np.ndarray]:
    """A chunk's records with duplicates removed, plus every occurrence as three small ints.

    Returns the first occurrence of each distinct record (fields as ``arrays``) and, for
    every record found (in order), ``occ_group`` (its index among those unique records),
    ``occ_item`` (its source item) and ``occ_start`` (its start bar): the merge needs the
    occurrences for the split, the counts and the style labels, never the duplicate windows
    themselves, so a chunk file and the merge's memory follow unique windows, not windows found.
    """
    n = len(arrays["item"])
    if n == 0:
        return arrays
    keys, select = kind.keyed(arrays)
    group = duplicate_groups(keys)
    first = np.sort(np.unique(group, return_index=True)[1]).astype(np.int64)
    relabel = np.empty(len(first), np.int64)
    relabel[group[first]] = np.arange(len(first))  # group id -> rank of its first occurrence
    out = select(first)
    starts = arrays.get("start_bar")
    out.update(occ_group=relabel[group].astype(np.int32), occ_item=arrays["item"].astype(np.int32),
               occ_start=(np.asarray(starts, np.int32) if starts is not None else np.zeros(n, np.int32)))
    return out


class UniqueRecords:
    """Corpus-wide dedup fed chunk by chunk, in chunk order (memory: unique records only).

    For each distinct record it keeps one copy, its first train occurrence and its first eval
    occurrence (source item and start bar) and, with style labels, the set of label ids of every
    file it occurs in. :meth:`splits` then gives what deduplicating all records at once gives:
    train = the first train occurrence of each distinct record, in order; eval = the first eval
    occurrence of each record never seen in train, in order.
    """

    def __init__(self, kind: Records, eval_items: np.ndarray, item_label_ids: list[list[int]] | None = None):
        self.kind = kind
        self.eval_mask = eval_items  # (n_items,) bool
        self.item_ids = item_label_ids if item_label_ids and any(item_label_ids) else None
        self.ids: dict[bytes, int] = {}
        self.copies: list[dict] = []  # per chunk: the records first seen there, in gid order
        self.first = {"train": ([], [], []), "eval": ([], [], [])}  # (gid, item, start) parts, in order
        self.seen = {"train": np.zeros(0, bool), "eval": np.zeros(0, bool)}
        self.pairs = np.zeros(0, np.int64)  # unique gid * 2**16 + label id
        self.pending: list[np.ndarray] = []
        self.found = 0
        if self.item_ids is not None:
            self.per_item = label_matrix(self.item_ids)

    def add(self, arrays: dict) -> None:
        if not len(arrays.get("item", [])):
            return
        if "occ_group" not in arrays:  # a chunk written before chunks were deduplicated
            arrays = unique_in_chunk(self.kind, arrays)
        keys, select = self.kind.keyed(arrays)
        ids, before = self.ids, len(self.ids)
        # a chunk's records are distinct: setdefault gives a new record the next id, an old one its own
        local = np.fromiter((ids.setdefault(k, len(ids)) for k in row_keys(keys)), np.int64, len(arrays["item"]))
        if len(ids) > before:
            idx = np.flatnonzero(local >= before)
            self.copies.append(select(idx))
        n_ids = len(self.ids)
        for split in ("train", "eval"):
            seen = self.seen[split]
            self.seen[split] = np.concatenate([seen, np.zeros(n_ids - len(seen), bool)])
        gids = local[arrays["occ_group"]]
        items, starts = arrays["occ_item"], arrays["occ_start"]
        is_eval = self.eval_mask[items]
        for split, mask in (("train", ~is_eval), ("eval", is_eval)):
            pos = np.flatnonzero(mask)
            if not len(pos):
                continue
            _, first = np.unique(gids[pos], return_index=True)
            pos = pos[np.sort(first)]  # first occurrence of each record in this chunk, in order
            pos = pos[~self.seen[split][gids[pos]]]  # and not seen in an earlier chunk
            self.seen[split][gids[pos]] = True
            for part, values in zip(self.first[split], (gids[pos], items[pos], starts[pos])):
                part.append(values)
        self.found += len(gids)
        if self.item_ids is not None:
            lab = self.per_item[items]  # (n, width)
            code = (np.repeat(gids, lab.shape[1]) << 16) + lab.ravel()
            self.pending.append(np.unique(code[lab.ravel() >= 0]))
            if sum(len(c) for c in self.pending) > len(self.pairs) + 100_000:  # amortized: memory ~ unique pairs
                self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.pairs = np.unique(np.concatenate([self.pairs, *self.pending]))
            self.pending = []

    def splits(self, max_labels: int) -> tuple[dict, dict, dict]:
        """``(train, eval, counts)``: records as ``select`` gives them (with ``labels`` when the
        items have style labels) and ``found``, ``eval_unique`` (distinct eval records)."""
        if not self.copies:
            return {}, {}, {"found": self.found, "eval_unique": 0}
        _, select = self.kind.keyed(concat(self.copies))
        labels = self._labels(max_labels) if self.item_ids is not None else None
        out = {}
        for split in ("train", "eval"):
            g, it, st = (np.concatenate(p) if p else np.zeros(0, np.int64) for p in self.first[split])
            if split == "eval":
                eval_unique = len(g)
                keep = ~self.seen["train"][g]  # eval copies of records also in train are dropped
                g, it, st = g[keep], it[keep], st[keep]
            recs = select(g)
            recs["item"] = it.astype(np.int32)
            if "start_bar" in recs:
                recs["start_bar"] = st.astype(np.int32)
            if labels is not None:
                recs["labels"] = labels[g]
            out[split] = recs
        return out["train"], out["eval"], {"found": self.found, "eval_unique": eval_unique}

    def _labels(self, max_labels: int) -> np.ndarray:
        """``(n_unique, M)`` int16 label ids (``-1`` padding), the lowest ``max_labels`` of each."""
        self._flush()
        pairs = np.stack([self.pairs >> 16, self.pairs & 0xFFFF], axis=1)  # sorted by (gid, label id)
        return lowest_labels(pairs, len(self.ids), max_labels)


def label_matrix(item_ids: list[list[int]]) -> np.ndarray:
    """``(n_items, width)`` int64: each item's label ids, ``-1`` padding."""
    out = np.full((len(item_ids), max(1, max((len(v) for v in item_ids), default=1))), -1, np.int64)
    for i, ids in enumerate(item_ids):
        out[i, : len(ids)] = ids
    return out


def lowest_labels(pairs: np.ndarray, n_groups: int, max_labels: int) -> np.ndarray:
    """``(n_groups, M)`` int16 label ids (``-1`` padding) from the distinct ``(group, label id)`` rows
    ``pairs``, sorted: the lowest ``max_labels`` of each group (M: the most any group has, at least 1)."""
    counts = np.bincount(pairs[:, 0], minlength=n_groups)  # labels per group
    m = int(min(max(int(counts.max()) if len(counts) else 1, 1), max_labels))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    rank = np.arange(len(pairs)) - starts[pairs[:, 0]]  # position of each label within its group
    ok = rank < m
    out = np.full((n_groups, m), -1, np.int16)
    out[pairs[ok, 0], rank[ok]] = pairs[ok, 1]
    return out
