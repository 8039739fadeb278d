"""Musical attributes and evaluation metrics: small pure functions ``metric(...) -> float``.

Place in the flow: a leaf of ``music/`` (they read only a
:class:`~musicvae.music.sequence.NoteSequence`), so every later stage may use them: model outputs
-> converter ``decode`` -> NoteSequence -> these functions -> attribute vectors
(:func:`musicvae.generation.latent.attribute_vector`) and evaluation reports.

Every function states its edge cases. The one rule they share: an attribute that is
*undefined* for a sequence (the average interval of a one-note melody, the diatonic
fraction of no notes) is ``float('nan')``, never a made-up 0, so that averaging code
can skip it (``np.nanmean``; ``attribute_vector`` drops NaN examples). Counts are
defined everywhere (no notes -> ``0.0``).

"Pitched" metrics look only at the notes of non-drum tracks (``TrackInfo.is_drum``
false); :func:`note_density` counts every track. Times are the sequence's integer
steps (16th notes at the default ``steps_per_quarter=4``).

The first five attributes are those of the MusicVAE paper (Roberts et al., ICML 2018,
Sec. 5.4 and Appendix C); the paper's code for them is not public, so each docstring
gives the exact definition used here.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from .sequence import END, PITCH, START, TRACK, NoteSequence

__all__ = [
    "ATTRIBUTES",
    "PAPER_ATTRIBUTES",
    "C_MAJOR_PITCH_CLASSES",
    "average_interval",
    "c_diatonic",
    "distinct_pitches",
    "drum_notes",
    "hamming_distance",
    "measure",
    "measure_many",
    "note_density",
    "pitch_range",
    "pitched_notes",
    "relative_change",
    "syncopation_16th",
    "syncopation_8th",
]

NAN = float("nan")

#: pitch classes of the C major (C diatonic) scale: C D E F G A B
C_MAJOR_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)
_IN_C_MAJOR = np.zeros(12, dtype=bool)
_IN_C_MAJOR[list(C_MAJOR_PITCH_CLASSES)] = True


# --------------------------------------------------------------------- helpers
def _drum_flags(seq: NoteSequence) -> np.ndarray | None:
    """Boolean per track index (True = drum track), or None when no track is a drum track."""
    flags = [t.is_drum for t in seq.tracks]
    return np.array(flags, dtype=bool) if any(flags) else None


def pitched_notes(seq: NoteSequence) -> np.ndarray:
    """The ``(n, 5)`` notes of the sequence's non-drum tracks, in the sequence's order.

    Edge cases: a sequence without drum tracks returns ``seq.notes`` itself (no copy);
    a drum-only or empty sequence returns a ``(0, 5)`` array.
    """
    flags = _drum_flags(seq)
    if flags is None or len(seq.notes) == 0:
        return seq.notes
    return seq.notes[~flags[seq.notes[:, TRACK]]]


def drum_notes(seq: NoteSequence) -> np.ndarray:
    """The ``(n, 5)`` notes of the sequence's drum tracks, in the sequence's order (``(0, 5)`` when none)."""
    flags = _drum_flags(seq)
    if flags is None or len(seq.notes) == 0:
        return seq.notes[:0]
    return seq.notes[flags[seq.notes[:, TRACK]]]


def _top_line(notes: np.ndarray) -> np.ndarray:
    """Pitch of the highest note at each distinct onset step, in time order.

    ``notes`` need not be sorted by pitch (several tracks may sound at one step).
    """
    if len(notes) == 0:
        return np.zeros(0, dtype=np.int64)
    key = (notes[:, START].astype(np.int64) << 8) | notes[:, PITCH]
    key.sort()
    starts = key >> 8
    last = np.ones(len(key), dtype=bool)  # last of each onset group = its highest pitch
    last[:-1] = starts[1:] != starts[:-1]
    return key[last] & 0xFF


# ------------------------------------------------------------- pitch metrics
def c_diatonic(seq: NoteSequence) -> float:
    """Fraction of pitched notes whose pitch class is in C major ({C, D, E, F, G, A, B}).

    The paper's "C Diatonic" attribute: the percentage of notes in the C diatonic scale.
    Every pitched note counts, including each note of a chord. A C major scale gives
    1.0, the 12-note chromatic scale 7/12. Edge cases: no pitched notes (an empty or
    drum-only sequence) -> NaN, since the fraction of nothing is undefined.
    """
    notes = pitched_notes(seq)
    if len(notes) == 0:
        return NAN
    return float(_IN_C_MAJOR[notes[:, PITCH] % 12].mean())


def average_interval(seq: NoteSequence) -> float:
    """Mean absolute interval, in semitones, between consecutive pitched notes.

    The paper's "Average Interval" attribute. Notes are taken in onset order; where
    several pitched notes start on the same step (chords, several tracks) only the
    highest counts, as in melody extraction (``music.monophonic``), so the value is
    that of the top line. Rests between notes do not break the chain. Example: 60, 64,
    62 -> (4 + 2) / 2 = 3.0. Edge cases: fewer than two onset steps with pitched
    notes (empty, drum-only, one note, one chord) -> NaN: no interval exists.
    """
    line = _top_line(pitched_notes(seq))
    if len(line) < 2:
        return NAN
    return float(np.abs(np.diff(line)).mean())


def pitch_range(seq: NoteSequence) -> float:
    """Highest minus lowest pitched note, in semitones.

    Edge cases: no pitched notes -> NaN; one note (or only unisons) -> 0.0.
    """
    notes = pitched_notes(seq)
    if len(notes) == 0:
        return NAN
    pitches = notes[:, PITCH]
    return float(pitches.max() - pitches.min())


def distinct_pitches(seq: NoteSequence) -> float:
    """Number of distinct MIDI pitches among the pitched notes (octaves count apart).

    A count, so defined everywhere: no pitched notes (empty or drum-only) -> 0.0.
    """
    notes = pitched_notes(seq)
    if len(notes) == 0:
        return 0.0
    return float(len(np.unique(notes[:, PITCH])))


# ------------------------------------------------------------ rhythm metrics
def note_density(seq: NoteSequence) -> float:
    """Number of onset steps divided by the total number of steps.

    The paper's "Note Density": note onsets per time step (16th note). An onset step
    is a step where at least one note of any track starts, drums included, so a chord
    or a kick plus hi-hat counts once and the value lies in [0, 1]; for a monophonic
    melody it is exactly notes / steps. Example: four quarter notes in a 16-step bar
    -> 0.25. Edge cases: ``total_steps == 0`` -> NaN (no time to divide by); no
    notes -> 0.0.
    """
    if seq.total_steps <= 0:
        return NAN
    if len(seq.notes) == 0:
        return 0.0
    # notes are sorted by start, so distinct onsets are the changes of the start column
    starts = seq.notes[:, START]
    onsets = 1 + int(np.count_nonzero(starts[1:] != starts[:-1]))
    return onsets / seq.total_steps


def _syncopation(seq: NoteSequence, unit: int) -> float:
    """Fraction of pitched notes with an onset on an odd position of a ``unit``-step grid and no
    pitched onset one position (``unit`` steps) earlier (ICML 2018, Appendix C)."""
    notes = pitched_notes(seq)
    if len(notes) == 0:
        return NAN
    start = notes[:, START].astype(np.int64)
    odd = (start % unit == 0) & ((start // unit) % 2 == 1)
    previous_empty = ~np.isin(start - unit, start)
    return float(np.count_nonzero(odd & previous_empty)) / len(notes)


def _units(seq: NoteSequence) -> tuple[int, int]:
    """(16th, 8th) note lengths in steps; raises for grids that cannot hold 16ths."""
    spq = seq.steps_per_quarter
    if spq % 4:
        raise ValueError(f"syncopation needs steps_per_quarter divisible by 4 (16th notes), got {spq}")
    return spq // 4, spq // 2


def syncopation_16th(seq: NoteSequence) -> float:
    """Fraction of pitched notes starting on an odd 16th position with no onset on the 16th before.

    The paper's "16th Note Syncopation" (ICML 2018, Appendix C): a note is syncopated when
    its onset falls on an odd 16th-note position (counting from 0 at the start of the
    sequence, a bar line) and no note starts at the previous 16th position. At 4 steps per
    quarter: ``start % 2 == 1`` and no pitched onset at ``start - 1``. The note's length
    does not matter. Straight 16ths (an onset on every step) are not syncopated; 16ths on
    odd steps only are. Every pitched note counts (chord notes too), and an onset of any
    pitched track fills the previous position. Edge cases: no pitched notes -> NaN.
    Raises ValueError if ``steps_per_quarter`` is not a multiple of 4.
    """
    sixteenth, _ = _units(seq)
    return _syncopation(seq, sixteenth)


def syncopation_8th(seq: NoteSequence) -> float:
    """Fraction of pitched notes starting on an odd 8th position with no onset on the 8th before.

    The paper's "8th Note Syncopation" (ICML 2018, Appendix C), on the 8th-note grid: at 4
    steps per quarter ``start % 4 == 2`` and no pitched onset at ``start - 2``. Notes on odd
    16th steps are never on the 8th grid and never count here. Edge cases: no pitched notes
    -> NaN. Raises ValueError if ``steps_per_quarter`` is not a multiple of 4.
    """
    _, eighth = _units(seq)
    return _syncopation(seq, eighth)


# --------------------------------------------------------------- token grids
def hamming_distance(a_tokens: np.ndarray, b_tokens: np.ndarray, per_stream: bool = False) -> float:
    """Sequence-normalised Hamming distance between two token grids of the same shape.

    ``a_tokens`` and ``b_tokens`` are ``(T,)`` or ``(T, K)`` (K token streams per
    step, e.g. a trio's melody, bass and drums). With ``per_stream=False`` the result
    is the fraction of the T steps whose full token tuple differs (a step differs if
    any stream differs); with ``per_stream=True`` it is the fraction of the T * K
    (step, stream) positions that differ, i.e. the mean of the per-stream distances.
    For ``(T,)`` grids both give the same. Identical grids -> 0.0, grids differing at
    every step -> 1.0. Edge cases: ``T == 0`` (or ``K == 0``) -> NaN. Raises
    ValueError when the shapes differ or a grid is not 1-D or 2-D.
    """
    a, b = np.asarray(a_tokens), np.asarray(b_tokens)
    if a.shape != b.shape:
        raise ValueError(f"hamming_distance needs token grids of equal shape, got {a.shape} and {b.shape}")
    if a.ndim not in (1, 2):
        raise ValueError(f"hamming_distance needs (T,) or (T, K) token grids, got shape {a.shape}")
    if a.size == 0:
        return NAN
    diff = a != b
    if a.ndim == 2 and not per_stream:
        diff = diff.any(axis=1)
    return float(diff.mean())


# ------------------------------------------------------------------ registry
#: attribute name -> function, the paper's five first
ATTRIBUTES: dict[str, Callable[[NoteSequence], float]] = {
    "c_diatonic": c_diatonic,
    "note_density": note_density,
    "average_interval": average_interval,
    "syncopation_16th": syncopation_16th,
    "syncopation_8th": syncopation_8th,
    "pitch_range": pitch_range,
    "distinct_pitches": distinct_pitches,
}

#: the five attributes of the MusicVAE paper's attribute-vector experiments
PAPER_ATTRIBUTES: tuple[str, ...] = ("c_diatonic", "note_density", "average_interval", "syncopation_16th",
                                     "syncopation_8th")


def _resolve(names: Iterable[str] | None) -> list[str]:
    if names is None:
        return list(ATTRIBUTES)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown:
        raise KeyError(f"unknown attribute(s) {', '.join(map(repr, unknown))}; choose from {', '.join(ATTRIBUTES)}")
    return names


def measure(seq: NoteSequence, names: Iterable[str] | None = None) -> dict[str, float]:
    """``{name: value}`` for the named attributes (all of :data:`ATTRIBUTES` by default).

    Raises KeyError naming any unknown attribute.
    """
    return {name: ATTRIBUTES[name](seq) for name in _resolve(names)}


def measure_many(seqs: Sequence[NoteSequence], names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """``{name: (N,) float64 array}``, one value per sequence (NaN where undefined).

    Same values as calling :func:`measure` on each sequence. An empty list gives
    empty arrays. Raises KeyError naming any unknown attribute.
    """
    names = _resolve(names)
    out = {name: np.empty(len(seqs), dtype=np.float64) for name in names}
    fns = [(out[name], ATTRIBUTES[name]) for name in names]
    for i, seq in enumerate(seqs):
        for values, fn in fns:
            values[i] = fn(seq)
    return out


# ------------------------------------------------------------------- reports
def relative_change(before: np.ndarray, after: np.ndarray) -> float:
    """Relative change of an attribute's mean: ``(mean(after) - mean(before)) / |mean(before)|``.

    Means ignore NaN (undefined attribute values). Example: before [1, 3], after
    [3, 5] -> (4 - 2) / 2 = 1.0 (+100 %). Edge cases, when the baseline mean is 0:
    after mean also 0 -> 0.0 (no change); after mean non-zero -> ``+inf`` or
    ``-inf`` with the sign of the change, since any change from zero is infinitely
    large relative to it. If either input has no defined (non-NaN) value -> NaN.
    """
    b = np.asarray(before, dtype=np.float64).ravel()
    a = np.asarray(after, dtype=np.float64).ravel()
    b, a = b[~np.isnan(b)], a[~np.isnan(a)]
    if len(b) == 0 or len(a) == 0:
        return NAN
    mb, ma = float(b.mean()), float(a.mean())
    if mb == 0.0:
        return 0.0 if ma == 0.0 else float(np.copysign(np.inf, ma))
    return (ma - mb) / abs(mb)
