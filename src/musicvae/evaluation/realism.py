"""How data-like prior samples are: distribution distances, out-of-range rates, key fit.

Place in the flow: attribute values of decoded samples and of held-out windows
(:func:`musicvae.music.attributes.measure_many`, plus :func:`key_fit` here) -> these
pure functions -> the ``samples`` study (:mod:`.studies`), ``musicvae evaluate``,
``experiments/prior_holes.py`` and the figures stored with a model (``musicvae models``).

* :func:`wasserstein_1d` - the earth mover's distance between two 1-D samples (the area
  between their empirical distribution functions), in the attribute's own unit.
* :func:`percentile_range` / :func:`out_of_range` - the data's 0.1-99.9 percentile range of
  an attribute and which samples fall outside it.
* :func:`ood_flags` - the headline "out-of-distribution rate": a sample is out of
  distribution when *any* attribute defined for the data lies outside the data's range.
* :func:`melodic_outliers` - the issue's fixed melodic test: a 2-bar line spanning more
  than two octaves or averaging a leap larger than a fifth.
* :func:`drum_classes`, :func:`drum_polyphony` - two drum-pattern attributes (the pitched
  attributes are undefined for drums), measured for drum models.
* :func:`key_fit` - key-invariant tonality: the best-fitting of the 24 major / minor keys
  by correlation with the Krumhansl-Kessler profiles, and the fraction of notes in its scale.

NaN means "undefined" (an attribute of no notes, see :mod:`.metrics`); every function
here skips NaN values and says what it does when nothing is left.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..music.sequence import PITCH, START, NoteSequence
from ..music.attributes import average_interval, drum_notes, pitch_range, pitched_notes

NAN = float("nan")
LOW_PERCENTILE, HIGH_PERCENTILE = 0.1, 99.9
#: the issue's melodic outlier test (2-bar windows of the held-out folk data: 0.06 % fail it)
MAX_RANGE, MAX_AVERAGE_LEAP = 24, 7

#: Krumhansl & Kessler (1982) probe-tone ratings, tonic first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: scale degrees of a key: major, and minor with both the natural and the raised 7th (harmonic minor's
#: leading tone is part of minor-key melody)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)


def _defined(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


# ----------------------------------------------------------------- distances
def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein-1 distance ``integral |F_a(x) - F_b(x)| dx`` between two samples.

    Samples may differ in size; NaN values are dropped. Equal samples -> 0.0; two point
    masses at 0 and 3 -> 3.0; shifting a sample by c moves it by |c|. Edge case: either
    side with no defined value -> NaN.
    """
    a, b = np.sort(_defined(a)), np.sort(_defined(b))
    if not len(a) or not len(b):
        return NAN
    grid = np.sort(np.concatenate([a, b]))  # (Na + Nb,) breakpoints of both step functions
    fa = np.searchsorted(a, grid[:-1], side="right") / len(a)
    fb = np.searchsorted(b, grid[:-1], side="right") / len(b)
    return float(np.sum(np.abs(fa - fb) * np.diff(grid)))


def percentile_range(data: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE
                     ) -> tuple[float, float]:
    """``(low, high)`` percentiles of the data's defined values; ``(nan, nan)`` when none is defined."""
    d = _defined(data)
    if not len(d):
        return NAN, NAN
    lo, hi = np.percentile(d, [low, high])
    return float(lo), float(hi)


def out_of_range(samples: np.ndarray, data: np.ndarray, low: float = LOW_PERCENTILE,
                 high: float = HIGH_PERCENTILE) -> np.ndarray:
    """Boolean ``(N,)``: sample value outside the data's ``[low, high]`` percentile range.

    A NaN sample (attribute undefined for it) is never out of range; when the data has no
    defined value, no sample is.
    """
    s = np.asarray(samples, dtype=np.float64).ravel()
    lo, hi = percentile_range(data, low, high)
    if not np.isfinite(lo):
        return np.zeros(len(s), dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.isfinite(s) & ((s < lo) | (s > hi))


def ood_flags(samples: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray], low: float = LOW_PERCENTILE,
              high: float = HIGH_PERCENTILE) -> np.ndarray:
    """Boolean ``(N,)``: the sample is out of range (:func:`out_of_range`) in at least one attribute.

    ``samples`` and ``data`` map attribute names to value arrays (the attributes of
    ``samples`` that ``data`` also has are used). The mean of the result is the headline
    out-of-distribution rate. No attributes -> all False.
    """
    names = [k for k in samples if k in data]
    n = len(np.asarray(samples[names[0]]).ravel()) if names else 0
    flags = np.zeros(n, dtype=bool)
    for name in names:
        flags |= out_of_range(samples[name], data[name], low, high)
    return flags


def melodic_outliers(seqs: list[NoteSequence], max_range: int = MAX_RANGE,
                     max_leap: float = MAX_AVERAGE_LEAP) -> np.ndarray:
    """Boolean ``(N,)``: pitch range above ``max_range`` semitones or average interval above ``max_leap``.

    Sequences without pitched notes (or with one note: no interval) fail only the test
    that is defined for them.
    """
    out = np.zeros(len(seqs), dtype=bool)
    for i, seq in enumerate(seqs):
        r, leap = pitch_range(seq), average_interval(seq)
        out[i] = (np.isfinite(r) and r > max_range) or (np.isfinite(leap) and leap > max_leap)
    return out


# --------------------------------------------------------------------- drums
def drum_classes(seq: NoteSequence) -> float:
    """Number of distinct drum pitches played (drum tracks only). No drum notes -> 0.0."""
    notes = drum_notes(seq)
    return float(len(np.unique(notes[:, PITCH]))) if len(notes) else 0.0


def drum_polyphony(seq: NoteSequence) -> float:
    """Drum hits per drum onset step (1.0: one instrument at a time). No drum notes -> NaN."""
    notes = drum_notes(seq)
    if not len(notes):
        return NAN
    return float(len(notes) / len(np.unique(notes[:, START])))


#: extra attributes measured for drum models in the samples study
DRUM_ATTRIBUTES = {"drum_classes": drum_classes, "drum_polyphony": drum_polyphony}


# ------------------------------------------------------------------ tonality
#: ``(24, 12)`` key profiles: rows 0-11 major keys on C..B, 12-23 minor keys
_PROFILES = np.stack([np.roll(KK_MAJOR, k) for k in range(12)] + [np.roll(KK_MINOR, k) for k in range(12)])
_SCALES = np.zeros((24, 12), dtype=bool)
for _k in range(12):
    _SCALES[_k, [(_k + d) % 12 for d in MAJOR_SCALE]] = True
    _SCALES[12 + _k, [(_k + d) % 12 for d in MINOR_SCALE]] = True


def best_key(histogram: np.ndarray) -> tuple[int, float]:
    """Best of the 24 keys for a 12-bin pitch-class histogram: ``(key, correlation)``.

    ``key`` 0-11 is major on C..B, 12-23 minor on C..B; the correlation is Pearson's with
    the Krumhansl-Kessler profile. Edge cases: an empty histogram, one with a single
    pitch class, or a flat one (all 12 classes equally often: zero variance) -> ``(-1, nan)``.
    """
    h = np.asarray(histogram, dtype=np.float64)
    if h.shape != (12,):
        raise ValueError(f"a pitch-class histogram has 12 bins, not shape {h.shape}")
    hc = h - h.mean()
    if h.sum() <= 0 or np.count_nonzero(h) < 2 or not np.any(hc):
        return -1, NAN
    pc = _PROFILES - _PROFILES.mean(axis=1, keepdims=True)
    corr = pc @ hc / (np.linalg.norm(pc, axis=1) * np.linalg.norm(hc))
    k = int(np.argmax(corr))
    return k, float(corr[k])


def key_fit(seq: NoteSequence) -> float:
    """Key-invariant tonality: fraction of pitched notes in the scale of the best-fitting key.

    The key is chosen among the 24 major and minor keys by :func:`best_key` on the
    note-count pitch-class histogram, so a melody and its transpositions score the same.
    A major scale scores 1.0, a chromatic run of the 12 pitch classes 8/12 (the minor
    scale here has 8 pitch classes: natural and raised 7th). Edge cases: no pitched notes
    -> NaN; notes of one pitch class only -> 1.0 (every note is in some key).
    """
    notes = pitched_notes(seq)
    if len(notes) == 0:
        return NAN
    hist = np.bincount(notes[:, PITCH] % 12, minlength=12).astype(np.float64)
    if np.count_nonzero(hist) < 2:
        return 1.0
    k, _ = best_key(hist)
    if k < 0:  # flat histogram: no key is preferred; the scales with most notes all tie
        return float((_SCALES @ hist).max() / hist.sum())
    return float(hist[_SCALES[k]].sum() / hist.sum())


def key_fits(seqs: list[NoteSequence]) -> np.ndarray:
    """:func:`key_fit` of every sequence, ``(N,)`` float64."""
    return np.array([key_fit(s) for s in seqs], dtype=np.float64)


# ------------------------------------------------------------------ summary
#: attributes left out of the headline rate: C-diatonic depends on the key, and training transposes
NOT_KEY_INVARIANT = ("c_diatonic",)


def compare(samples: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray], low: float = LOW_PERCENTILE,
            high: float = HIGH_PERCENTILE, exclude: tuple[str, ...] = NOT_KEY_INVARIANT) -> dict:
    """Per attribute: Wasserstein-1 distance, its ratio to the data's std, and the out-of-range rate.

    Returns ``{"attributes": {name: {...}}, "ood_rate": float, "ood_attributes": [...],
    "range": [low, high]}``. The headline ``ood_rate`` (:func:`ood_flags`) uses every
    attribute defined for the data except ``exclude``; an attribute undefined for every
    data window gets ``None`` figures.
    """
    out: dict = {"range": [float(low), float(high)], "attributes": {}}
    usable = {}
    for name, values in samples.items():
        if name not in data:
            continue
        d = _defined(data[name])
        if not len(d):
            out["attributes"][name] = {"wasserstein": None, "wasserstein_per_std": None, "out_of_range_rate": None,
                                       "data_range": None}
            continue
        if name not in exclude:
            usable[name] = values
        w = wasserstein_1d(values, d)
        std = float(d.std())
        lo, hi = percentile_range(d, low, high)
        s = np.asarray(values, dtype=np.float64)
        out["attributes"][name] = {
            "wasserstein": None if not np.isfinite(w) else w,
            "wasserstein_per_std": (w / std) if std > 0 and np.isfinite(w) else None,
            "out_of_range_rate": float(out_of_range(s, d, low, high).mean()) if len(s) else None,
            "data_range": [lo, hi]}
    flags = ood_flags(usable, data, low, high)
    out["ood_rate"] = float(flags.mean()) if len(flags) else None
    out["ood_attributes"] = sorted(usable)
    return out


def data_ood_rate(data: Mapping[str, np.ndarray], rng: np.random.Generator) -> float | None:
    """The data's own out-of-distribution rate: a random half of its windows against the other half's range
    (windows come in data order, so a plain split would compare different collections); None below 4."""
    n = len(next(iter(data.values()), ()))
    if n < 4:
        return None
    order = rng.permutation(n)
    first, second = ({k: v[part] for k, v in data.items()} for part in (order[:n // 2], order[n // 2:]))
    return compare(second, first)["ood_rate"]
