"""``musicvae prepare``: MIDI files or a bundled corpus -> deduplicated, split, sharded windows.

Place in the flow: ``music`` (read, quantize) -> ``representations`` (tokens) ->
``data.windows`` (N-bar windows) -> this module -> ``DIR/{train,eval}/shard-*.npz``
+ ``DIR/manifest.json`` -> ``data.dataset`` -> training.

How it runs:
1. Files are cut into chunks; worker processes read, quantize, encode and window
   them and each writes ``DIR/.work/chunk-NNNNN.npz`` atomically. A rerun after an
   interruption keeps finished chunks (same settings and file list) and does the rest.
   Melody and drum chunks go through ``data.batch`` (all their files' notes in a few
   array passes; same records as file by file, which every other kind still does).
2. The merge splits by *source file* (a file's windows all go to train or all to
   eval; the choice is a hash of the file name, so adding files never moves old
   ones), removes duplicate windows corpus-wide (and eval windows seen in train),
   gives each window the style labels of every file it occurs in (``data.labels``:
   a bundled corpus's own, or ``--labels FILE``), writes shards and, last, ``manifest.json``.
Bad files never stop the run: each is listed in the manifest with a one-line reason.
What a record is (a window, a whole song or a whole track) is the converter's ``record`` unit;
``data.records`` holds one class per unit (extracting, packing, dedup keys, concatenation) and the
split by file and shard writing.

Kind ``notes`` (VRASH) keeps whole tracks, not windows: one record per pitched track that
passes the converter's track filter (``NoteEventConverter.reject_reason``: two or more notes,
two or more distinct durations, at most ``max_durations`` of them, pitch entropy at least
``min_pitch_entropy``); ``--bars`` and the window rules do not apply. The manifest's ``tracks``
section counts kept and rejected tracks by reason, lists each rejected track (file, track,
reason, its numbers) and holds the pitch-entropy histogram of all pitched tracks; shards
carry each track's source ``collection`` (ids into the manifest's ``collections.names``:
:func:`~musicvae.data.sources.collection_of` of its file).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..music.quantize import load_sequences
from ..representations import KINDS, get_converter
from ..utils.allocator import keep_chunk_memory
from ..utils.io import atomic_save_npz, atomic_write_json, load_npz
from ..utils.names import printable
from .batch import batchable, read_or_reject, window_chunk
from .corpora import load_corpus
from .labels import MAX_LABELS_PER_WINDOW, LabelError, labels_manifest, source_labels
from .records import Records, UniqueRecords, is_eval_source, records_for, unique_in_chunk, unit_hash, write_split
from .sources import Source, resolve_source
from .windows import WindowRules

FORMAT = "musicvae-dataset"
FORMAT_VERSION = 1


class PrepareError(ValueError):
    """A problem with the whole request (not with one file): one-line message."""


@dataclass(frozen=True)
class PrepareConfig:
    kind: str
    bars: int
    eval_fraction: float = 0.1
    max_rest_bars: float = 1.0
    stride_bars: int = 1
    seed: int = 0
    options: dict = field(default_factory=dict)  # converter keyword arguments

    def __post_init__(self):
        if self.kind not in KINDS:
            raise PrepareError(f"unknown kind {self.kind!r}; choose from {', '.join(KINDS)}")
        if self.bars < 1:
            raise PrepareError(f"--bars must be at least 1, got {self.bars}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise PrepareError(f"--eval-fraction must be in [0, 1), got {self.eval_fraction}")
        if self.max_rest_bars < 0 or self.stride_bars < 1:
            raise PrepareError("--max-rest-bars must be >= 0 and the stride >= 1 bar")

    @property
    def rules(self) -> WindowRules:
        return WindowRules(self.bars, 16, self.stride_bars, self.max_rest_bars)

    @property
    def records(self) -> Records:
        """What this kind stores (windows, songs or tracks): ``data.records``."""
        return records_for(self.kind)


# ---------------------------------------------------------------------- worker
_STATE: dict = {}


def _init_worker(source: Source, cfg: PrepareConfig) -> None:
    _STATE.update(source=source, cfg=cfg, converter=get_converter(cfg.kind, **cfg.options))
    if batchable(cfg, _STATE["converter"]):
        keep_chunk_memory()  # passes reuse the memory the last one freed (utils.allocator)


def _read_item(source: Source, index: int):
    if source.corpus:
        return [load_corpus(source.corpus)[index]]
    return load_sequences(source.path_of(index))


def _process_chunk(chunk_id: int, indices: list[int], work_dir: str) -> dict:
    source, cfg, converter = _STATE["source"], _STATE["cfg"], _STATE["converter"]
    side: dict[str, list] = {}  # what the record class notes besides its records (tracks: rejects, entropies)
    done = None
    if batchable(cfg, converter):  # melody, drums: the whole chunk in a few array passes (data.batch)
        try:
            done = window_chunk(source, cfg, converter, indices, lambda i: _read_item(source, i))
        except Exception:  # never expected; the file-by-file loop below gives each bad file its own reason
            done = None
    if done is None:
        done = _per_file(source, cfg, converter, indices, side)
    acc, per_item, ok, rejects, item = done
    arrays = unique_in_chunk(cfg.records, cfg.records.pack(acc, item))  # memory follows unique windows
    # scratch files: atomic (a resumed run never reads half a chunk) but not fsynced
    atomic_save_npz(Path(work_dir) / f"chunk-{chunk_id:05d}.npz", durable=False, **arrays)
    summary = {"ok": ok, "rejects": rejects, "per_item": per_item, **cfg.records.chunk_summary(side)}
    atomic_write_json(Path(work_dir) / f"chunk-{chunk_id:05d}.json", summary, durable=False, compact=True)
    return summary


def _per_file(source: Source, cfg: PrepareConfig, converter, indices, side: dict) -> tuple:
    """A chunk file by file (every kind; the reference the batched path is tested against):
    ``(acc, per_item, ok, rejects, item)`` as :func:`~musicvae.data.batch.window_chunk` returns them."""
    rejects, ok, per_item = [], 0, []
    acc: dict[str, list] = {}
    items: list[np.ndarray] = []
    for index in indices:
        seqs = read_or_reject(lambda i: _read_item(source, i), index, rejects)
        if seqs is None:
            continue
        ok += 1
        n_item = 0
        for part, seq in enumerate(seqs):
            rec = cfg.records.extract(seq, converter, cfg)
            cfg.records.note_side(rec, side, index, part)
            count = cfg.records.count(rec)
            for key, vals in rec.items():
                acc.setdefault(key, []).extend(vals)
            if count:
                items.append(np.full(count, index, dtype=np.int32))
            n_item += count
        per_item.append((index, n_item))
    return acc, per_item, ok, rejects, (np.concatenate(items) if items else np.zeros(0, np.int32))


# ------------------------------------------------------------------------ main
def _fingerprint(source: Source, cfg: PrepareConfig, item_labels: list[list[str]] | None = None) -> str:
    names = [source.name_of(i) for i in range(source.size)]
    if source.files:
        for i in range(source.size):  # one stat per file (size and time); a file gone since the walk is left out
            try:
                st = os.stat(source.path_of(i))
            except OSError:
                continue
            names.append(f"{st.st_size}:{int(st.st_mtime)}")
    doc = {"cfg": asdict(cfg), "names": names, "version": FORMAT_VERSION, **cfg.records.FINGERPRINT}
    if item_labels and any(item_labels):
        doc["labels"] = item_labels
    doc = json.dumps(doc, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def prepare(
    source_spec: str | os.PathLike,
    out_dir: str | os.PathLike,
    cfg: PrepareConfig,
    *,
    workers: int | None = 1,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    labels: str | os.PathLike | None = None,
) -> dict:
    """Prepare a dataset; returns the manifest (also written to ``out_dir/manifest.json``).

    ``workers``: processes; ``None`` or 0 picks them: one below 2,000 input files (a pool's
    start-up and the second process cost more than they save there: measured on a 2-core host
    with other jobs running, two workers first tied one at ~3,200 mixed real files), else one per
    usable CPU core. ``progress(done_items, total_items)`` is called as chunks finish. ``labels``: a
    ``.csv``/``.json`` file mapping source files to style labels (see ``data.labels``).
    """
    t0 = time.perf_counter()
    source = resolve_source(source_spec)
    out = Path(out_dir)
    try:
        item_labels, label_info = source_labels(source, labels)
    except LabelError as exc:
        raise PrepareError(str(exc)) from None
    fingerprint = _fingerprint(source, cfg, item_labels)
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and not force:
        try:
            old = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old.get("fingerprint") == fingerprint:
            old["reused"] = True
            return old
        if labels is None and "labels" not in old and old.get("fingerprint") == _fingerprint(source, cfg):
            # prepared by a version without style labels: still valid, only the labels are missing
            old["reused"] = True
            old["note"] = "prepared before style labels were stored; run again with --force to add them"
            return old
        raise PrepareError(f"{out}: holds another prepared dataset; choose a new --out or pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise PrepareError(f"{out}: exists and is not a folder")

    work = out / ".work"
    stamp = work / "fingerprint"
    if work.exists() and (not stamp.exists() or stamp.read_text().strip() != fingerprint):
        shutil.rmtree(work)  # settings or inputs changed: old chunks are stale
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)

    total = source.size
    if not workers or workers < 1:  # automatic: see the docstring
        one_worker_below = 2_000
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workers = 1 if total < one_worker_below else max(1, cores)
    n_chunks_target = max(1, workers * 4)
    chunk_size = max(1, min(256, -(-total // n_chunks_target)))
    chunks = [range(lo, min(lo + chunk_size, total)) for lo in range(0, total, chunk_size)]  # ranges: no int per file
    pending = [c for c in range(len(chunks)) if not (work / f"chunk-{c:05d}.json").exists()]
    done = sum(len(chunks[c]) for c in range(len(chunks)) if c not in set(pending))
    if progress:
        progress(done, total)

    def finished(c: int) -> None:
        nonlocal done
        done += len(chunks[c])
        if progress:
            progress(done, total)

    if workers <= 1 or len(pending) <= 1:
        _init_worker(source, cfg)
        for c in pending:
            _process_chunk(c, chunks[c], str(work))
            finished(c)
    else:
        _run_pool(source, cfg, chunks, pending, work, workers, finished)

    manifest = _merge(source, cfg, chunks, work, out, fingerprint, item_labels, label_info)
    manifest["seconds"] = round(time.perf_counter() - t0, 3)
    manifest["workers"] = workers
    atomic_write_json(manifest_path, manifest)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


def _run_pool(source, cfg, chunks, pending, work, workers, finished) -> None:
    """Process chunks in a pool; a worker killed by a crashing parser costs only its files."""
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    todo = list(pending)
    while todo:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(source, cfg)) as pool:
            futures = {pool.submit(_process_chunk, c, chunks[c], str(work)): c for c in todo}
            broken = []
            for fut in as_completed(futures):
                c = futures[fut]
                try:
                    fut.result()
                    finished(c)
                except BrokenProcessPool:
                    broken.append(c)
        if not broken:
            return
        # a worker died (e.g. a native crash): redo those chunks one file at a time
        todo = []
        for c in broken:
            if len(chunks[c]) == 1:
                _write_empty_chunk(work, c, [(chunks[c][0], "the MIDI parser crashed on this file")])
                finished(c)
            else:
                for index in chunks[c]:
                    chunks.append([index])
                    todo.append(len(chunks) - 1)
                chunks[c] = []  # replaced by single-file chunks
                _write_empty_chunk(work, c, [])


def _write_empty_chunk(work: Path, c: int, rejects: list) -> None:
    """A chunk without records: a crashed file's (its reject) or one replaced by single-file chunks."""
    atomic_save_npz(work / f"chunk-{c:05d}.npz", item=np.zeros(0, np.int32))
    atomic_write_json(work / f"chunk-{c:05d}.json", {"ok": 0, "rejects": rejects, "per_item": []})


def _merge(source: Source, cfg: PrepareConfig, chunks, work: Path, out: Path, fingerprint: str,
           item_labels: list[list[str]] | None = None, label_info: dict | None = None) -> dict:
    kind, records = cfg.kind, cfg.records
    rejects, ok, summaries = [], 0, []
    per_item = np.full(source.size, -1, np.int64)  # windows per item; -1: not processed (rejected): no dict per file
    for c in range(len(chunks)):
        summary = json.loads((work / f"chunk-{c:05d}.json").read_text())
        summaries.append(summary)
        ok += summary["ok"]
        rejects += [(int(i), r) for i, r in summary["rejects"]]
        done = summary.pop("per_item")  # not kept twice
        if done:
            index, n = np.asarray(done, np.int64).T
            per_item[index] = n

    names = [source.name_of(i) for i in range(source.size)]
    item_labels = item_labels or [()] * len(names)  # one shared empty tuple, not a list per item
    with_windows = np.flatnonzero(per_item > 0)  # an array, not a Python int per file
    label_names = sorted({lab for i in with_windows for lab in item_labels[i]})
    label_id = {name: k for k, name in enumerate(label_names)}
    item_ids = [[label_id[lab] for lab in labs if lab in label_id] for labs in item_labels] if label_names else None
    eval_items = {int(i) for i in with_windows if is_eval_source(names[i], cfg.eval_fraction, cfg.seed)}
    if cfg.eval_fraction > 0 and not eval_items and len(with_windows) >= 2:
        eval_items = {int(min(with_windows, key=lambda i: unit_hash(names[i], cfg.seed)))}

    # corpus-wide dedup, one chunk file at a time: memory follows unique windows, not windows found
    eval_mask = np.zeros(len(names), bool)
    eval_mask[sorted(eval_items)] = True
    unique = UniqueRecords(records, eval_mask, item_ids)
    for c in range(len(chunks)):
        unique.add(load_npz(work / f"chunk-{c:05d}.npz"))
    train, evals, found = unique.splits(MAX_LABELS_PER_WINDOW)
    n_found = found["found"]

    if not n_found:  # a record found is kept in train or eval: no windows_total of 0 otherwise
        shutil.rmtree(work, ignore_errors=True)
        reasons = sorted({r for _, r in rejects})[:3]
        hint = f" (rejected files: {'; '.join(reasons)})" if reasons else ""
        raise PrepareError(f"{source.spec}: {records.nothing_found(cfg, summaries, f'in {source.size} item(s){hint}')}")
    n_train, n_eval, ev_unique = len(train["item"]), len(evals["item"]), found["eval_unique"]
    counts = {"files": source.size, "files_ok": ok, "files_rejected": len(rejects), "files_without_windows": ok - len(with_windows)}
    counts.update(
        windows_found=n_found,
        windows_train=n_train,
        windows_eval=n_eval,
        windows_total=n_train + n_eval,
        duplicates_removed=n_found - n_train - ev_unique,
        eval_dropped_seen_in_train=ev_unique - n_eval,
        sources_train=len(with_windows) - len(eval_items),  # eval_items: a subset of with_windows
        sources_eval=len(eval_items),
    )
    converter = get_converter(kind, **cfg.options)
    extra_doc = records.finish(cfg, converter, summaries, names, with_windows, train, evals)  # before the shards

    for split in ("train", "eval"):
        if (out / split).exists():
            shutil.rmtree(out / split)
    shards = {"train": write_split(records, train, out, "train"),
              "eval": write_split(records, evals, out, "eval") if evals and len(evals["item"]) else []}
    rep = converter.config() if hasattr(converter, "config") else {"kind": kind}
    sources = [
        {"name": names[i], "item": int(i), "windows": int(per_item[i]), "split": "eval" if i in eval_items else "train",
         **({"labels": item_labels[i]} if label_names else {})}
        for i in with_windows
    ]
    labels_doc = labels_manifest(label_names, label_info, {"train": train, "eval": evals},
                                 sum(1 for i in with_windows if item_labels[i]))
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "musicvae_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "fingerprint": fingerprint,
        "source": printable(source.spec),
        "kind": kind,
        "bars": cfg.bars,
        "steps": cfg.bars * 16,
        "config": asdict(cfg),
        "representation": rep,
        "counts": counts,
        "shards": shards,
        "labels": labels_doc,
        "sources": sources,
        "rejected": [{"file": names[i], "reason": r} for i, r in sorted(rejects)],
        # no silent drops: every input is a source, rejected, without windows, or skipped, each with a reason
        "without_windows": _without_windows(cfg, names, per_item, rejects),
        "skipped": [{"file": f, "reason": r} for f, r in source.skipped_entries],
        "skipped_non_midi_files": source.skipped,
        **extra_doc,
    }


def _without_windows(cfg: PrepareConfig, names: list[str], per_item: np.ndarray, rejects: list) -> list[dict]:
    """Files read fine that gave no window (or no track), each with the reason (``per_item``: windows per
    item, -1 for items no chunk reported)."""
    why = cfg.records.none_reason(cfg)
    rejected = {i for i, _ in rejects}
    out = [{"file": names[i], "reason": why} for i in np.flatnonzero(per_item == 0).tolist() if i not in rejected]
    accounted = per_item >= 0  # a mask, not sets of every index: memory per file counts
    accounted[list(rejected)] = True
    lost = np.flatnonzero(~accounted).tolist()  # never expected: say so rather than drop
    out += [{"file": names[i], "reason": "not processed (internal error; please report)"} for i in lost]
    return out
