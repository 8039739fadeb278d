"""Smoothed n-gram language model over token sequences (interpolated modified Kneser-Ney).

Place in the flow: ``data`` token windows (``PreparedDataset(...).tokens``, or decoded model
outputs) -> :func:`symbols` (multi-stream grids only) -> :mod:`musicvae.evaluation.ngram`
-> the interpolation study (ICML 2018 Fig. 3: relative 5-gram cost
``C_alpha / (alpha C_B + (1 - alpha) C_A)``) and the MCVAE evaluation report.

The model follows KenLM's ``lmplz`` defaults (Chen & Goodman 1998): every sentence is padded
with ``order - 1`` ``<s>`` and ends with ``</s>``; the top order uses raw counts, lower orders
use continuation counts (number of distinct left extensions; raw counts for n-grams that begin
with ``<s>``); three discounts ``D1, D2, D3+`` per order from the count-of-counts ``n1..n4``
(KenLM's fallback ``0.5, 1, 1.5`` where they cannot be estimated); the unigram level is
interpolated with a uniform distribution over the vocabulary = tokens seen in training +
``</s>`` + ``<unk>``. Every token never seen in training is ``<unk>``, so it gets a finite cost.

N-grams are stored as sorted int64 keys (mixed radix, base = seen tokens + 3) and looked up with
``np.searchsorted``, so training and scoring are vectorized numpy.
"""

from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np

from ..utils.io import atomic_save_npz, load_npz

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback default
_FORMAT = 1


def symbols(grid: np.ndarray, vocab_sizes: Sequence[int] | int | None = None) -> np.ndarray:
    """Fold each step's K stream tokens into one int64 symbol (mixed radix, first stream most significant).

    ``(T, K) -> (T,)`` (also ``(N, T, K) -> (N, T)``: the last axis is folded); ``(T,)`` and
    ``(T, 1)`` pass through. ``vocab_sizes`` gives each stream's number of classes.
    """
    grid = np.asarray(grid)
    if grid.size and not np.issubdtype(grid.dtype, np.integer):
        raise TypeError(f"tokens must be integers, not {grid.dtype}")
    grid = grid.astype(np.int64)
    if grid.ndim <= 1:
        return grid
    sizes = [int(s) for s in np.atleast_1d(vocab_sizes)] if vocab_sizes is not None else None
    if grid.shape[-1] == 1 and (sizes is None or len(sizes) == 1):
        return grid[..., 0]
    if sizes is None or len(sizes) != grid.shape[-1]:
        raise ValueError(f"grid has {grid.shape[-1]} streams; give one vocabulary size per stream, not {vocab_sizes!r}")
    if math.prod(sizes) >= 2**63:
        raise ValueError(f"vocabulary sizes {sizes} overflow int64 symbols")
    out = np.zeros(grid.shape[:-1], np.int64)
    for j, size in enumerate(sizes):
        col = grid[..., j]
        if col.size and (col.min() < 0 or col.max() >= size):
            raise ValueError(f"stream {j} has tokens outside 0..{size - 1}")
        out = out * size + col
    return out


def _as_seq(seq: np.ndarray) -> np.ndarray:
    a = np.asarray(seq)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"a sequence must be 1-D (or (T, 1)), not shape {a.shape}; fold (T, K) grids with symbols()")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"tokens must be integers, not {a.dtype}")
    return a.astype(np.int64, copy=False)


def _split(sequences: Iterable[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(sequences, np.ndarray) and sequences.ndim == 1 and sequences.dtype != object:
        raise ValueError("give a list (or 2-D array) of sequences, not one 1-D sequence")
    return [_as_seq(s) for s in sequences]


def _estimate_discounts(counts: np.ndarray, kind: str) -> np.ndarray:
    """``[0, D1, D2, D3+]`` from count-of-counts (Chen & Goodman 1998, eq. 26)."""
    n = [np.count_nonzero(counts == i) for i in (1, 2, 3, 4)]
    if n[0] == 0 or (kind == "modified" and 0 in n):
        d = np.array(FALLBACK_DISCOUNTS if kind == "modified" else (FALLBACK_DISCOUNTS[0],) * 3)
    else:
        y = n[0] / (n[0] + 2 * n[1])
        d = np.full(3, y) if kind == "original" else np.array([i - (i + 1) * y * n[i] / n[i - 1] for i in (1, 2, 3)])
        if np.any(d < 0) or np.any(d > np.array([1, 2, 3])):
            d = np.array(FALLBACK_DISCOUNTS)
    return np.concatenate([[0.0], d])


class NGramLM:
    """Interpolated (modified) Kneser-Ney n-gram model; probabilities in natural log."""

    def __init__(self, order: int = 5, discounts: str = "modified"):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an integer >= 1, not {order!r}")
        if discounts not in ("modified", "original"):
            raise ValueError(f"discounts must be 'modified' (D1, D2, D3+) or 'original' (one D), not {discounts!r}")
        self.order = int(order)
        self.discounts = discounts
        self.vocab = np.zeros(0, np.int64)  # sorted tokens seen in training
        self.discount_values = np.zeros((self.order, 4))  # row k-1: [0, D1, D2, D3+] of order k
        # per order k = 1..n: sorted k-gram keys, their discounted weight, sorted context keys, backoff weight
        self.grams: list[np.ndarray] = []
        self.alpha: list[np.ndarray] = []
        self.contexts: list[np.ndarray] = []
        self.gamma: list[np.ndarray] = []

    # ---- ids: seen tokens 0..S-1, </s> = S, <unk> = S+1, <s> = S+2; keys in base S+3
    @property
    def _eos(self) -> int:
        return len(self.vocab)

    @property
    def _bos(self) -> int:
        return len(self.vocab) + 2

    @property
    def _base(self) -> int:
        return len(self.vocab) + 3

    def _stream(self, seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded id stream of all sequences, the positions of predicted tokens, their sequence index."""
        pad = self.order - 1
        lens = np.array([len(s) for s in seqs], np.int64)
        width = lens + pad + 1
        starts = np.concatenate([[0], np.cumsum(width)[:-1]]).astype(np.int64)
        stream = np.full(int(width.sum()), self._bos, np.int64)
        flat = np.concatenate(seqs) if lens.sum() else np.zeros(0, np.int64)
        ids = np.searchsorted(self.vocab, flat)
        known = ids < len(self.vocab)
        known[known] = self.vocab[ids[known]] == flat[known]
        tok_pos = np.repeat(starts + pad - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(len(flat))
        stream[tok_pos] = np.where(known, ids, self._eos + 1)
        stream[starts + pad + lens] = self._eos
        return stream, np.flatnonzero(stream != self._bos), np.repeat(np.arange(len(seqs)), lens + 1)

    def _keys(self, stream: np.ndarray, targets: np.ndarray) -> Iterable[np.ndarray]:
        key = np.zeros(len(targets), np.int64)
        for k in range(1, self.order + 1):
            key = stream[targets - (k - 1)] * self._base ** (k - 1) + key
            yield key

    @classmethod
    def fit(cls, sequences: Iterable[np.ndarray], order: int = 5, discounts: str = "modified") -> "NGramLM":
        """Count and smooth; each sequence gets ``order - 1`` ``<s>`` and one ``</s>``."""
        lm = cls(order, discounts)
        seqs = _split(sequences)
        if not seqs:
            raise ValueError("cannot fit an n-gram model on no sequences (the training list is empty)")
        lm.vocab = np.unique(np.concatenate(seqs)) if sum(map(len, seqs)) else np.zeros(0, np.int64)
        if lm._base ** lm.order >= 2**63:
            raise ValueError(f"{len(lm.vocab)} distinct tokens at order {lm.order} overflow int64 n-gram keys")
        stream, targets, _ = lm._stream(seqs)
        keys = list(lm._keys(stream, targets))
        tables: list[tuple] = []
        higher = None
        for k in range(lm.order, 0, -1):
            grams, raw = np.unique(keys[k - 1], return_counts=True)
            if higher is None:
                counts = raw
            else:  # continuation counts: distinct left extensions = unique (k+1)-grams with this suffix
                suffixes, cont = np.unique(higher % lm._base**k, return_counts=True)
                counts = np.where(grams // lm._base ** (k - 1) == lm._bos, raw, cont[np.searchsorted(suffixes, grams)])
            higher = grams
            tables.append(lm._smooth(k, grams, counts))
        lm.grams, lm.alpha, lm.contexts, lm.gamma = (list(t) for t in zip(*reversed(tables)))
        return lm

    def _smooth(self, k: int, grams: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
        d_k = self.discount_values[k - 1] = _estimate_discounts(counts, self.discounts)
        d = d_k[np.minimum(counts, 3)]
        contexts, first, inverse = np.unique(grams // self._base, return_index=True, return_inverse=True)
        total = np.add.reduceat(counts.astype(np.float64), first)
        alpha = (counts - d) / total[inverse]
        gamma = np.add.reduceat(d, first) / total
        return grams, alpha, contexts, gamma

    # ---- scoring
    def _target_probs(self, stream: np.ndarray, targets: np.ndarray) -> np.ndarray:
        if not self.grams:
            raise RuntimeError("this NGramLM is not trained: use NGramLM.fit(...) or NGramLM.load(...)")
        p = np.full(len(targets), 1.0 / (len(self.vocab) + 2))  # uniform over seen tokens + </s> + <unk>
        for k, key in enumerate(self._keys(stream, targets)):
            grams, contexts = self.grams[k], self.contexts[k]
            ci = np.minimum(np.searchsorted(contexts, key // self._base), len(contexts) - 1)
            gi = np.minimum(np.searchsorted(grams, key), len(grams) - 1)
            seen = grams[gi] == key
            mixed = np.where(seen, self.alpha[k][gi], 0.0) + self.gamma[k][ci] * p
            p = np.where(contexts[ci] == key // self._base, mixed, p)
        return p

    def _scores(self, sequences: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per sequence: natural-log probability (incl. ``</s>``) and number of predicted tokens."""
        seqs = _split(sequences)
        if not seqs:
            return np.zeros(0), np.zeros(0, np.int64)
        stream, targets, owner = self._stream(seqs)
        logp = np.log(self._target_probs(stream, targets))
        return np.bincount(owner, weights=logp, minlength=len(seqs)), np.bincount(owner, minlength=len(seqs))

    def prob(self, context: np.ndarray, token: int | None) -> float:
        """P(token | sentence so far = ``context``); ``token=None`` is ``</s>``, unseen tokens are ``<unk>``."""
        ctx = _as_seq(context)
        seq = ctx if token is None else np.append(ctx, np.int64(token))
        stream, targets, _ = self._stream([seq])
        return float(self._target_probs(stream, targets[-1:] if token is None else targets[-2:-1])[0])

    def logprob(self, seq: np.ndarray) -> float:
        """Natural-log probability of the whole sequence, ``</s>`` included."""
        return float(self._scores([seq])[0][0])

    def cost(self, seq: np.ndarray) -> float:
        """``-logprob / (len(seq) + 1)``: nats per predicted token (the tokens and ``</s>``)."""
        return float(self.costs([seq])[0])

    def costs(self, sequences: Iterable[np.ndarray]) -> np.ndarray:
        """:meth:`cost` of every sequence, vectorized (``(N, T)`` / ``(N, T, 1)`` arrays or lists)."""
        logp, n = self._scores(sequences)
        return -logp / np.maximum(n, 1)

    def perplexity(self, sequences: Iterable[np.ndarray]) -> float:
        """Corpus perplexity: ``exp(-sum logprob / sum predicted tokens)``."""
        logp, n = self._scores(sequences)
        if not n.sum():
            raise ValueError("perplexity of no sequences is undefined")
        return float(np.exp(-logp.sum() / n.sum()))

    # ---- persistence (npz, no pickle)
    def save(self, path: str | os.PathLike) -> None:
        arrays = {"format": np.array(_FORMAT), "order": np.array(self.order), "vocab": self.vocab,
                  "modified": np.array(self.discounts == "modified"), "discount_values": self.discount_values}
        for k in range(len(self.grams)):
            arrays.update({f"grams{k}": self.grams[k], f"alpha{k}": self.alpha[k],
                           f"contexts{k}": self.contexts[k], f"gamma{k}": self.gamma[k]})
        atomic_save_npz(path, compress=True, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NGramLM":
        data = load_npz(path)
        if int(data.get("format", -1)) != _FORMAT:
            raise ValueError(f"{path}: not an NGramLM file (format {_FORMAT})")
        lm = cls(int(data["order"]), "modified" if bool(data["modified"]) else "original")
        lm.vocab, lm.discount_values = data["vocab"].astype(np.int64), data["discount_values"]
        for name in ("grams", "alpha", "contexts", "gamma"):
            setattr(lm, name, [data[f"{name}{k}"] for k in range(lm.order)])
        return lm
