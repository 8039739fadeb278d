"""Note-sequence data and a minimal training loop for the VRASH family.

Place in the flow: ``prepare --kind notes`` folder (ragged ``data``/``offsets`` events and
``meta`` rows per record, see ``data.prepare``) -> :class:`NoteSequenceSet` -> :func:`collate_notes`
/ :func:`note_batches` -> :class:`~musicvae.models.vrash.NoteBatch` -> :func:`train_note_model`
(Adam, gradient clipping, KL annealing) and :func:`evaluate_cross_entropy` (held-out
cross-entropy per note). Used by ``experiments/vrash_vs_lm.py`` and the tests until the main
:class:`~musicvae.training.trainer.Trainer` reads note data.

Track metadata per record: ``instrument_group`` (from the shard's ``meta`` column 4) and
``collection``: an index into :attr:`NoteSequenceSet.collections`, where 0 is ``"<unknown>"``.
A record's collection comes from (``collection_from``):

* ``"labels"``: the style labels ``prepare`` stores per window (shard ``labels`` (n, M) ids,
  ``-1`` padding, names in the manifest's ``labels.names``): the window's first label;
  unlabelled windows -> unknown;
* ``"source"``: its source collection, :func:`collection_of` its source name: stored per
  track by ``prepare`` (shard ``collection`` ids, names in the manifest's ``collections.names``);
  in folders prepared before that, recovered by resolving the manifest's ``source`` again
  (checked against the manifest; if that fails every record gets collection 0 and
  :attr:`NoteSequenceSet.warning` says why);
* ``"auto"`` (default): ``labels`` when the data has them, else ``source``.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..data.dataset import PreparedDataset
from ..data.sources import collection_of  # noqa: F401 (re-exported)
from ..models.vrash import FACTORS, NoteBatch, NoteSequenceModel
from ..representations.notes import TrackMeta

UNKNOWN = "<unknown>"


class NoteSequenceSet:
    """Variable-length note tracks with their metadata, in memory.

    ``set[i]`` -> ``(events (n_i, 3) int64, meta (2,) int64 [instrument_group, collection])``.
    """

    def __init__(self, events: Sequence[np.ndarray], meta: np.ndarray, *, collections: Sequence[str] = (UNKNOWN,),
                 vocab_sizes: tuple[int, int, int] = (13, 12, 16), track_meta: np.ndarray | None = None,
                 names: Sequence[str] | None = None, warning: str | None = None):
        self.events = [np.asarray(e, dtype=np.int64).reshape(-1, 3) for e in events]
        self.meta = np.asarray(meta, dtype=np.int64).reshape(-1, 2)
        if len(self.meta) != len(self.events):
            raise ValueError(f"{len(self.events)} tracks but {len(self.meta)} meta rows")
        self.collections = list(collections)
        self.vocab_sizes = tuple(int(v) for v in vocab_sizes)
        self.track_meta_rows = track_meta  # (n, 5) shard meta rows, for decoding
        self.names = list(names) if names is not None else [""] * len(self.events)
        self.warning = warning

    @classmethod
    def load(cls, root: str | os.PathLike, split: str = "train", *, collections: Sequence[str] | None = None,
             name_of: Callable[[int], str] | None = None, collection_from: str = "auto") -> "NoteSequenceSet":
        """Read one split of a ``--kind notes`` folder. ``collections``: the vocabulary to use
        (pass the train set's for eval; unseen collections -> 0); default: built from this split.
        ``name_of(item)``: source name of an item index (default: resolved from the manifest).
        ``collection_from``: ``auto``, ``labels`` or ``source`` (see the module doc)."""
        if collection_from not in ("auto", "labels", "source"):
            raise ValueError(f"collection_from must be auto, labels or source, not {collection_from!r}")
        data = PreparedDataset(root, split)
        if data.kind != "notes":
            raise ValueError(f"{root}: holds {data.kind} data, not notes (prepare with --kind notes)")
        arr = data.arrays
        off = arr.get("offsets", np.zeros(1, np.int64))
        events = [arr["data"][off[i]: off[i + 1]] for i in range(len(off) - 1)]
        items = arr["source"].astype(np.int64)
        warning = None
        if name_of is None:
            name_of, warning = _manifest_names(data.manifest)
        names = [name_of(int(i)) if name_of else "" for i in items]
        cols = [collection_of(n) if name_of else UNKNOWN for n in names]
        stored = data.manifest.get("collections", {}).get("names")
        if stored is not None and "collection" in arr:  # prepare stored each track's source collection
            cols = [stored[int(k)] if k >= 0 else UNKNOWN for k in arr["collection"]]
            warning = None
        label_names = list(data.manifest.get("labels", {}).get("names", []))
        has_labels = bool(label_names) and ("labels" in arr or len(events) == 0)
        if collection_from == "labels" and not has_labels:
            raise ValueError(f"{root}: no style labels stored (prepare a labelled corpus or pass --labels)")
        if collection_from == "labels" or (collection_from == "auto" and has_labels):
            first = arr["labels"][:, 0] if len(events) else np.zeros(0, np.int64)  # ids sorted, -1 = none
            cols = [label_names[int(i)] if i >= 0 else UNKNOWN for i in first]
            warning = None
        vocab = list(collections) if collections is not None else [UNKNOWN] + sorted(set(cols) - {UNKNOWN})
        index = {c: k for k, c in enumerate(vocab)}
        meta_rows = arr.get("meta", np.zeros((0, 5), np.int32))
        meta = np.stack([meta_rows[:, 4], [index.get(c, 0) for c in cols]], axis=1) if len(events) else np.zeros((0, 2))
        vocab_sizes = tuple(data.manifest["representation"].get("vocab_sizes", (13, 12, 16)))
        return cls(events, meta, collections=vocab, vocab_sizes=vocab_sizes, track_meta=meta_rows, names=names,
                   warning=warning)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.events[i], self.meta[i]

    def track_meta(self, i: int) -> TrackMeta:
        """The converter's :class:`TrackMeta` of record ``i`` (to decode it back to MIDI)."""
        row = self.track_meta_rows[i]
        return TrackMeta(int(row[0]), bool(row[1]), int(row[2]), int(row[3]))


def _manifest_names(manifest: dict) -> tuple[Callable[[int], str] | None, str | None]:
    from ..data.sources import resolve_source

    try:
        source = resolve_source(manifest["source"])
        listed = {s["name"] for s in manifest.get("sources", [])}
        if source.size != manifest["counts"]["files"]:
            raise ValueError("the source changed size since prepare")
        found = {source.name_of(i) for i in range(source.size)}
        if not listed <= found:
            raise ValueError("the source's names differ from the manifest's")
    except Exception as exc:  # a moved folder, a changed corpus...
        return None, f"collections unknown ({manifest.get('source')}: {exc})"
    return source.name_of, None


def collate_notes(items: Sequence[tuple[np.ndarray, np.ndarray]], max_notes: int | None = None) -> NoteBatch:
    """``(events (n_i, 3), meta (2,))`` pairs -> :class:`NoteBatch` padded to the longest track.

    A track longer than ``max_notes`` is cut to it and gets ``has_end=False`` (no end target).
    Raises ValueError for an empty track or an empty list.
    """
    if not items:
        raise ValueError("no tracks to collate")
    lens = [len(e) for e, _ in items]
    if min(lens) < 1:
        raise ValueError("a track without events cannot be collated")
    has_end = [max_notes is None or n <= max_notes for n in lens]
    lens = [n if max_notes is None else min(n, max_notes) for n in lens]
    events = np.zeros((len(items), max(lens), 3), dtype=np.int64)  # (B, T, 3)
    for b, ((ev, _), n) in enumerate(zip(items, lens)):
        events[b, :n] = ev[:n]
    meta = np.stack([np.asarray(m, dtype=np.int64) for _, m in items])  # (B, 2)
    return NoteBatch(torch.from_numpy(events), torch.tensor(lens, dtype=torch.long), torch.from_numpy(meta),
                     torch.tensor(has_end, dtype=torch.bool))


def note_batches(data: NoteSequenceSet, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 max_notes: int | None = None, repeat: bool = False) -> Iterator[NoteBatch]:
    """Batches in a fresh random order per epoch (``shuffle``) or in order; ``repeat`` forever."""
    if len(data) == 0:
        raise ValueError("the note set is empty")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(data)) if shuffle else np.arange(len(data))
        for lo in range(0, len(order), batch_size):
            yield collate_notes([data[int(i)] for i in order[lo: lo + batch_size]], max_notes)
        if not repeat:
            return


class NoteBatchStream:
    """Training batches as a pure function of ``(seed, step)`` (so ``--resume`` continues the same curve).

    Epoch ``e = step // per_epoch`` orders the tracks by ``default_rng([seed, e]).permutation``,
    then sorts each run of ``bucket`` batches' worth of tracks by length (less padding: a
    batch's LSTM runs to its longest track) and shuffles the batches; ``per_epoch`` is
    ``len(data) // batch_size`` (the remainder of each epoch's order is left out, a different
    one each epoch), at least 1 (a set smaller than a batch is one batch).
    """

    def __init__(self, data: NoteSequenceSet, batch_size: int, *, seed: int = 0, max_notes: int | None = None,
                 bucket: int = 16):
        if len(data) == 0:
            raise ValueError("the note set is empty")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.data, self.batch_size, self.seed, self.max_notes, self.bucket = data, batch_size, seed, max_notes, bucket
        self.per_epoch = max(1, len(data) // batch_size)
        self.lengths = np.array([min(len(e), max_notes or len(e)) for e in data.events])
        self._epoch: tuple[int, list[np.ndarray]] | None = None

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Track indices of each batch of ``epoch``."""
        if self._epoch is not None and self._epoch[0] == epoch:
            return self._epoch[1]
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.data))
        b = min(self.batch_size, len(order))
        order = order[: self.per_epoch * b]
        group = b * max(self.bucket, 1)
        batches = []
        for lo in range(0, len(order), group):
            part = order[lo: lo + group]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i: i + b] for i in range(0, len(part), b))
        batches = [batches[i] for i in rng.permutation(len(batches))]
        self._epoch = (epoch, batches)
        return batches

    def indices(self, step: int) -> np.ndarray:
        epoch, k = divmod(int(step), self.per_epoch)
        return self.epoch_batches(epoch)[k]

    def batch(self, step: int) -> NoteBatch:
        return collate_notes([self.data[int(i)] for i in self.indices(step)], self.max_notes)


def subset(data: NoteSequenceSet, indices: Sequence[int]) -> NoteSequenceSet:
    """The tracks ``indices`` of ``data`` as a set of their own (same collections)."""
    idx = [int(i) for i in indices]
    rows = data.track_meta_rows[idx] if data.track_meta_rows is not None and len(data.track_meta_rows) else None
    return NoteSequenceSet([data.events[i] for i in idx], data.meta[idx] if idx else np.zeros((0, 2)),
                           collections=data.collections, vocab_sizes=data.vocab_sizes, track_meta=rows,
                           names=[data.names[i] for i in idx], warning=data.warning)


def evaluate_cross_entropy(model: NoteSequenceModel, data: NoteSequenceSet, *, batch_size: int = 128,
                           max_notes: int | None = None, use_mean: bool = True, seed: int = 0,
                           device: str | torch.device = "cpu") -> dict[str, float]:
    """Held-out CE per note pooled over the whole set (eval mode; see ``cross_entropy_per_note``)."""
    was = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    sums: dict[str, float] = {}
    try:
        for batch in note_batches(data, batch_size, shuffle=False, max_notes=max_notes):
            part = model.cross_entropy_per_note(batch.to(device), use_mean=use_mean, generator=gen)
            for k, v in part.items():
                if k.endswith("_sum") or k in ("positions", "sequences"):
                    sums[k] = sums.get(k, 0.0) + v
    finally:
        model.train(was)
    n = max(sums["positions"], 1.0)
    out = dict(sums)
    out["ce"] = sums["ce_sum"] / n
    out["kl_per_note"] = sums["kl_sum"] / n
    out["bound"] = (sums["ce_sum"] + sums["kl_sum"]) / n
    for k in [k for k in sums if k.startswith(("ce_", "acc_")) and k != "ce_sum"]:
        out[k[: -len("_sum")]] = sums[k] / n
    out["accuracy"] = float(np.mean([out[f"acc_{f}"] for f in FACTORS])) if "acc_pitch_class" in out else float("nan")
    out["kl_per_track"] = sums["kl_sum"] / max(sums["sequences"], 1.0)
    return out


def beta_at(step: int, max_beta: float, warmup_steps: int) -> float:
    """Linear KL annealing: 0 -> ``max_beta`` over ``warmup_steps`` (constant without warmup)."""
    if warmup_steps <= 0:
        return max_beta
    return max_beta * min(1.0, step / warmup_steps)


def train_note_model(model: NoteSequenceModel, train: NoteSequenceSet, eval_set: NoteSequenceSet | None = None, *,
                     steps: int = 1000, batch_size: int = 64, learning_rate: float = 1e-3, grad_clip: float = 1.0,
                     max_beta: float = 1.0, beta_warmup_steps: int = 0, free_bits: float = 0.0,
                     per_dim_free_bits: bool = False, max_notes: int | None = None, eval_every: int = 0,
                     log_every: int = 50, seed: int = 0, device: str | torch.device = "cpu",
                     on_log: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``model`` in place for ``steps`` Adam steps; returns the logged records.

    Each ``log_every`` steps (and the last) a record ``{step, beta, loss, nll_per_note, kl, accuracy,
    seconds}`` of the current batch; each ``eval_every`` steps (and the last, when ``eval_set`` is
    given) a record ``{step, split: "eval", ce, bound, ...}`` from :func:`evaluate_cross_entropy`.
    """
    torch.manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    gen = torch.Generator(device=device).manual_seed(seed)
    stream = note_batches(train, batch_size, seed=seed, max_notes=max_notes, repeat=True)
    history: list[dict] = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        batch = next(stream).to(device)
        beta = beta_at(step, max_beta, beta_warmup_steps)
        out = model.loss(batch, beta=beta, free_bits=free_bits, per_dim_free_bits=per_dim_free_bits, generator=gen)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        if grad_clip and grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        if not math.isfinite(float(out["loss"].detach())):
            raise FloatingPointError(f"non-finite loss at step {step}")
        if step % max(log_every, 1) == 0 or step == steps:
            rec = {"step": step, "split": "train", "beta": beta, "seconds": round(time.perf_counter() - t0, 3)}
            rec.update({k: float(out[k].detach()) for k in ("loss", "nll_per_note", "kl", "accuracy")})
            history.append(rec)
            if on_log:
                on_log(rec)
        if eval_set is not None and len(eval_set) and ((eval_every and step % eval_every == 0) or step == steps):
            rec = {"step": step, "split": "eval", **evaluate_cross_entropy(model, eval_set, batch_size=max(batch_size, 64),
                                                                           max_notes=max_notes, device=device)}
            history.append(rec)
            if on_log:
                on_log(rec)
    return history
