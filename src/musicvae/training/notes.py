"""The VRASH family (``note_lm``, ``note_vae``, ``vrash``) in training: note data and :class:`NoteFamily`.

Place in the flow: ``prepare --kind notes`` folder (ragged ``data``/``offsets`` events and
``meta`` rows per record, see ``data.prepare``) -> :class:`NoteSequenceSet` -> :class:`NoteBatchStream`
/ :func:`collate_notes` -> :class:`~musicvae.models.vrash.NoteBatch` -> :class:`NoteFamily` (the
plug-in of :class:`~musicvae.training.trainer.Trainer`) -> checkpoints that ``generation.notes``
and ``experiments/vrash_vs_lm.py`` load.

* Step ``s`` reads :meth:`NoteBatchStream.batch(s) <NoteBatchStream.batch>` and draws z noise and
  history dropout from ``step_generator(seed, s)`` (torch's global RNG, for dropout layers, is
  seeded from ``(seed, s)`` too), so ``--resume`` continues the very same curve.
* Loss: summed cross-entropy of the three note factors over each track (+ its end token) +
  ``beta * KL`` (after ``free_bits``), averaged over tracks; beta rises linearly from 0 to
  ``max_beta`` over ``kl_warmup_steps`` (:func:`beta_at`).
* Evaluation (:func:`evaluate_cross_entropy`): held-out cross-entropy per note (z = posterior
  mean; ``eval_ce``) and the negative ELBO per note (``eval_bound`` = ``eval_loss``, one seeded
  posterior sample), KL and teacher-forced accuracy per factor.
* Checkpoints add a ``notes`` entry: the model kind and hparams, the collection names, the
  (instrument family, collection) pairs seen in training with their counts, and defaults for
  decoding sampled events (median duration, octave shift, program).

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

import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..config import Config, ConfigError
from ..data.dataset import DatasetError, PreparedDataset
from ..data.sources import collection_of  # noqa: F401 (re-exported)
from ..models.builders import NOTE_FAMILIES, build_model, count_parameters
from ..models.vrash import FACTORS, NoteBatch, NoteSequenceModel, collate_notes  # noqa: F401 (re-exported)
from ..representations.notes import TrackMeta
from . import schedules
from .family import Family, TrainError, step_generator

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


def note_batches(data: NoteSequenceSet, batch_size: int, max_notes: int | None = None) -> Iterator[NoteBatch]:
    """Every track once, in order, ``batch_size`` at a time (evaluation; training reads :class:`NoteBatchStream`)."""
    for lo in range(0, len(data), batch_size):
        yield collate_notes([data[i] for i in range(lo, min(lo + batch_size, len(data)))], max_notes)


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
        for batch in note_batches(data, batch_size, max_notes):
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


# --------------------------------------------------------------------------- the training plug-in
def check_note_config(config: Config) -> None:
    """Refuse settings a note model cannot train with (one-line :class:`ConfigError`)."""
    m, n = config.model, config.notes
    if config.data.kind != "notes":
        raise ConfigError(f"{m.family} models read note events: data.kind must be notes, not {config.data.kind!r}")
    if n.max_notes < 1:
        raise ConfigError(f"notes.max_notes must be at least 1, not {n.max_notes}")
    if m.family == "note_vae" and n.history_dropout:
        raise ConfigError("note_vae reads no history: notes.history_dropout must be 0")
    if not 0.0 <= n.history_dropout <= 1.0:
        raise ConfigError(f"notes.history_dropout must be in [0, 1], not {n.history_dropout}")
    if n.collections < 1:
        raise ConfigError(f"notes.collections must be at least 1, not {n.collections}")
    if config.train.precision == "fp16":
        raise ConfigError("note models train in fp32 or bf16, not fp16 (--precision bf16)")
    if n.kl_warmup_steps < 0:
        raise ConfigError(f"notes.kl_warmup_steps must be >= 0, not {n.kl_warmup_steps}")


class NoteFamily(Family):
    """The note families' plug-in to :class:`~.trainer.Trainer` (one process only, no torchrun)."""

    unit = "tracks"

    def __init__(self, trainer, data_dir):
        super().__init__(trainer, data_dir)
        config, tc = self.config, self.config.train
        try:
            check_note_config(config)
        except ConfigError as exc:
            raise TrainError(str(exc)) from None
        if trainer.dist.world_size > 1:
            raise TrainError("note models train on one process; run them without torchrun")
        self.data_dir = Path(data_dir)
        try:
            self.train_set = NoteSequenceSet.load(data_dir, "train")
            eval_set = NoteSequenceSet.load(data_dir, "eval", collections=self.train_set.collections)
        except (DatasetError, FileNotFoundError, KeyError) as exc:
            raise TrainError(str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        if len(self.train_set) == 0:
            raise TrainError(f"{data_dir}: the train split is empty")
        self.manifest = json.loads((self.data_dir / "manifest.json").read_text())
        if self.train_set.warning:
            trainer.notices.append(f"{data_dir}: {self.train_set.warning}")
        self.collections = list(self.train_set.collections)
        cap = config.notes.collections
        if len(self.collections) > cap:
            trainer.notices.append(f"{data_dir}: {len(self.collections) - 1} collections but the model embeds "
                                   f"{cap - 1}; the rest share the 'unknown' row (--set notes.collections=N)")
            for part in (self.train_set, eval_set):
                part.meta[:, 1] = np.where(part.meta[:, 1] < cap, part.meta[:, 1], 0)
        self.eval_set = eval_set if len(eval_set) else self.train_set
        if not len(eval_set):
            trainer.notices.append(f"{data_dir}: the eval split is empty; evaluating on training tracks")
        self.vocab_sizes = tuple(int(v) for v in self.train_set.vocab_sizes)
        self.max_notes = int(config.notes.max_notes)
        self.batches = NoteBatchStream(self.train_set, tc.batch_size, seed=tc.seed, max_notes=self.max_notes)
        self.batch_size = self.batches.batch_size
        n_eval = min(len(self.eval_set), max(1, tc.eval_batches) * tc.batch_size)
        spread = np.unique(np.linspace(0, len(self.eval_set) - 1, n_eval).round().astype(int))
        self.eval_subset = subset(self.eval_set, spread)
        try:
            self.model = build_model(config, self.vocab_sizes).to(trainer.device)
        except ConfigError as exc:
            raise TrainError(str(exc)) from None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=tc.learning_rate)
        self.note_info = self._note_info()

    def _note_info(self) -> dict:
        """What a checkpoint needs besides the weights to sample and decode (JSON)."""
        rows = self.train_set.track_meta_rows  # (n, 5): program, is_drum, median_duration, octave_shift, group
        pairs = Counter((int(g), int(c)) for g, c in self.train_set.meta)
        programs = {str(g): Counter(int(r[0]) for r in rows if int(r[4]) == g).most_common(1)[0][0]
                    for g in sorted({int(r[4]) for r in rows})}  # each family's most common program
        med = lambda col: int(np.sort(rows[:, col])[(len(rows) - 1) // 2])  # noqa: E731 (lower median)
        return {
            "model": NOTE_FAMILIES[self.config.model.family],
            "hparams": {k: list(v) if isinstance(v, tuple) else v for k, v in self.model.hparams.items()},
            "collections": self.collections,
            "track_meta": [[g, c, n] for (g, c), n in sorted(pairs.items())],  # [instrument group, collection, tracks]
            "decode": {"median_duration": med(2), "octave_shift": med(3), "programs": programs},
            "max_notes": self.max_notes,
            "data": str(self.data_dir),
            "tracks": {"train": len(self.train_set), "eval": len(self.eval_set)},
        }

    def train_step(self, step: int) -> dict:
        tc = self.config.train
        self.model.train()
        batch = self.batches.batch(step).to(self.device)
        gen = step_generator(tc.seed * 131, step, self.device)
        torch.manual_seed((tc.seed * 1_000_003 + step * 7919 + 29) % (2**63))  # dropout layers, if any
        lr = float(schedules.learning_rate(step, tc.learning_rate, tc.decay_rate, tc.min_learning_rate))
        beta = float(beta_at(step, tc.max_beta, self.config.notes.kl_warmup_steps))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.trainer.autocast():
            out = self.model.loss(batch, beta=beta, free_bits=tc.free_bits, per_dim_free_bits=tc.free_bits_per_dim,
                                  generator=gen)
        grad_norm = self.optimise(out["loss"], self.model.parameters())
        loss = float(out["loss"].detach())
        if not math.isfinite(loss):
            raise TrainError(f"non-finite loss at step {step + 1}; lower the learning rate or check the data")
        keys = ("r_loss", "nll_per_note", "kl", "kl_bits", "kl_per_note", "accuracy")
        return {"loss": loss, **{k: float(out[k].detach()) for k in keys}, "beta": beta, "lr": lr,
                "grad_norm": float(grad_norm), "notes": float(out["positions"])}

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Held-out cross-entropy per note (z = posterior mean) and the NLL bound on the fixed eval tracks.

        ``eval_bound`` (= ``eval_loss``) is the negative ELBO per note, CE with a z drawn from the
        posterior (one seeded sample) + KL: an upper bound of the NLL per note (the LM's is its CE).
        """
        kw = dict(batch_size=max(self.config.train.batch_size, 32), max_notes=self.max_notes,
                  seed=self.config.train.seed + 99, device=self.device)
        res = evaluate_cross_entropy(self.model, self.eval_subset, use_mean=True, **kw)
        bound = res["bound"]
        if self.model.latent:
            bound = evaluate_cross_entropy(self.model, self.eval_subset, use_mean=False, **kw)["bound"]
        out = {"eval_loss": bound, "eval_ce": res["ce"], "eval_bound": bound,
               "eval_kl_per_note": res["kl_per_note"], "eval_kl": res["kl_per_track"],
               "eval_kl_bits": res["kl_per_track"] / math.log(2), "tf_accuracy": res["accuracy"],
               "eval_tracks": res["sequences"], "eval_notes": res["positions"]}
        return {**out, **{f"eval_{k}": v for k, v in res.items()
                          if k.startswith(("ce_", "acc_")) and not k.endswith("_sum")}}  # per factor

    def checkpoint_extra(self) -> dict:
        return {"vocab_sizes": list(self.vocab_sizes), "representation": self.manifest["representation"],
                "parameters": count_parameters(self.model), "notes": self.note_info}

    def progress_line(self, rec: dict) -> tuple[str, bool]:
        if "eval_ce" in rec:  # held-out cross-entropy per note (nats)
            return f"eval: ce/note {rec['eval_ce']:.3f} bound {rec['eval_bound']:.3f} acc {rec['tf_accuracy']:.3f}", True
        return (f"ce/note {rec['nll_per_note']:.3f} kl {rec['kl_bits']:.1f}b beta {rec['beta']:.2f} "
                f"acc {rec['accuracy']:.3f} {rec['seq_per_s']:.0f} tracks/s"), False

    def done_line(self, final: dict) -> str:
        return f"held-out cross-entropy {final['eval_ce']:.3f} nats/note (bound {final['eval_bound']:.3f})"
