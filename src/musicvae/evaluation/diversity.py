"""Diversity statistics of note sequences: repeated-note rate, pitch entropy, distinct n-grams.

Place in the flow: model samples (e.g. ``VRASH.sample`` -> ``(n, 3)`` note events, or any
pitch lists) -> :func:`event_pitches` -> these pure functions -> ``experiments/vrash_vs_lm.py``
(VRASH's claim: it repeats notes less than the LM).

Inputs: a *sequence* is a 1-D list/array of hashable tokens (pitches, usually) or a 2-D
array whose rows are tokens (e.g. whole ``(pitch_class, octave, duration)`` events, compared
as tuples). Rule shared with :mod:`musicvae.music.attributes`: a statistic that is undefined
for an input (no pair of notes, no n-gram) is ``float('nan')``, never a made-up 0, so
``np.nanmean`` can skip it.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Hashable, Iterable, Sequence

import numpy as np

from ..representations.notes import REST_PITCH_CLASS

NAN = float("nan")

__all__ = ["distinct_ngram_ratio", "diversity_summary", "event_pitches", "pitch_entropy", "repeated_note_rate"]


def _tokens(seq) -> list[Hashable]:
    arr = np.asarray(seq)
    if arr.ndim == 2:
        return [tuple(int(v) for v in row) for row in arr]
    if arr.ndim > 2:
        raise ValueError(f"a sequence must be 1-D tokens or 2-D rows, got shape {arr.shape}")
    return [v.item() if hasattr(v, "item") else v for v in arr.reshape(-1)]


def event_pitches(events: np.ndarray, *, rest_pitch_class: int = REST_PITCH_CLASS) -> np.ndarray:
    """``(n, 3)`` note events -> the notes' (centred) pitches ``12 * octave + pitch_class``, rests dropped.

    Edge cases: no events or only rests -> an empty int64 array.
    """
    ev = np.asarray(events, dtype=np.int64).reshape(-1, 3)
    notes = ev[ev[:, 0] != rest_pitch_class]
    return notes[:, 1] * 12 + notes[:, 0]


def repeated_note_rate(seq) -> float:
    """Fraction of consecutive token pairs that are equal: ``#{i: s[i] == s[i+1]} / (n - 1)``.

    On pitches from :func:`event_pitches` (rests already dropped) this is the rate of a note
    repeating the previous note's pitch. Edge cases: fewer than 2 tokens (empty, one note) ->
    NaN (no pair); all tokens equal -> 1.0.
    """
    toks = _tokens(seq)
    if len(toks) < 2:
        return NAN
    return sum(a == b for a, b in zip(toks, toks[1:])) / (len(toks) - 1)


def pitch_entropy(seq, base: float = 2.0) -> float:
    """Shannon entropy of the token histogram, in bits (``base=2``; ``math.e`` for nats).

    Edge cases: empty -> NaN; a single note, or one distinct token -> 0.0; k equally frequent
    distinct tokens -> ``log_base(k)``.
    """
    toks = _tokens(seq)
    if not toks:
        return NAN
    counts = np.array(list(Counter(toks).values()), dtype=np.float64)
    p = counts / counts.sum()
    h = float(-(p * np.log(p)).sum() / math.log(base))
    return abs(h)  # -0.0 -> 0.0


def _ngrams(toks: list[Hashable], n: int) -> list[tuple]:
    return [tuple(toks[i: i + n]) for i in range(len(toks) - n + 1)]


def distinct_ngram_ratio(sequences, n: int = 2, *, pooled: bool | None = None) -> float:
    """Distinct n-grams / all n-grams ("distinct-n").

    ``sequences`` is one sequence, or (``pooled``) a list of sequences whose n-grams are
    pooled (n-grams never cross a sequence boundary), so repeats *across* samples also
    count. ``pooled=None`` guesses: a list/tuple whose items are themselves sequences.
    Edge cases: no n-gram at all (every sequence shorter than n, or empty input) -> NaN;
    exactly one n-gram -> 1.0. Raises ValueError for ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if pooled is None:
        pooled = isinstance(sequences, (list, tuple)) and len(sequences) > 0 and all(
            isinstance(s, (list, tuple, np.ndarray)) for s in sequences)
    seqs = sequences if pooled else [sequences]
    grams: list[tuple] = []
    for s in seqs:
        grams.extend(_ngrams(_tokens(s), n))
    if not grams:
        return NAN
    return len(set(grams)) / len(grams)


def diversity_summary(samples: Iterable[np.ndarray], ns: Sequence[int] = (1, 2, 3, 4)) -> dict[str, float]:
    """Statistics of ``(n, 3)`` event samples, on their pitches (rests dropped).

    ``repeated_note_rate`` and ``pitch_entropy`` (bits): means over samples where defined
    (NaN if none); ``pooled_pitch_entropy``: entropy of all samples' pitches together;
    ``distinct_<n>``: pooled distinct-n of pitch n-grams; ``notes_per_sample``: mean count.
    """
    pitches = [event_pitches(s) for s in samples]
    rates = [repeated_note_rate(p) for p in pitches]
    ents = [pitch_entropy(p) for p in pitches]

    def mean(xs: list[float]) -> float:
        vals = [x for x in xs if not math.isnan(x)]
        return float(np.mean(vals)) if vals else NAN

    allp = np.concatenate(pitches) if pitches else np.zeros(0, np.int64)
    out = {
        "samples": float(len(pitches)),
        "notes_per_sample": float(np.mean([len(p) for p in pitches])) if pitches else NAN,
        "repeated_note_rate": mean(rates),
        "pitch_entropy": mean(ents),
        "pooled_pitch_entropy": pitch_entropy(allp),
    }
    for n in ns:
        out[f"distinct_{n}"] = distinct_ngram_ratio(list(pitches), n, pooled=True) if pitches else NAN
    return out
