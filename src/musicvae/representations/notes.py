"""VRASH's note-level representation: one monophonic track <-> note events.

Place in the flow: :class:`~musicvae.music.sequence.NoteSequence` ->
:class:`NoteEventConverter` (note events + :class:`TrackMeta`) -> VRASH models
(Tikhonov & Yamshchikov, "Music generation with variational recurrent
autoencoder supported by history").

Each event is three integers ``(pitch_class, octave, duration_bucket)``:

* ``pitch_class`` is 0-11 for a note and :data:`REST_PITCH_CLASS` (12) for a
  rest, i.e. silence between notes (also before the first note and after the
  last one, up to ``seq.total_steps``).
* ``octave`` is the octave of the *centred* pitch, ``centred // 12`` in 0-10
  (the MIDI convention in which pitch 60 = C4 sits in octave index 5 and
  ``[48, 60)`` is octave index 4). A pitched track is shifted by a whole number
  of octaves so that its median pitch lies in ``[48, 60)`` (octave index
  :data:`CENTRE_OCTAVE` = 4); the shift is kept in :attr:`TrackMeta.octave_shift`
  so decoding restores the original pitches. Drum tracks are not centred
  (shift 0). Rests carry octave :data:`REST_OCTAVE` (11).
* ``duration_bucket`` indexes the ratio table (default
  :data:`DEFAULT_DURATION_RATIOS`: 1/8, 1/6, 1/4, 1/3, 1/2, 2/3, 3/4, 1, 3/2,
  2, 3, 4, 6, 8, 12, 16) of the event's length in steps to the track's median
  note duration (:attr:`TrackMeta.median_duration`). Bucket ``k`` decodes to
  ``ratios[k] * median_duration`` steps, rounded half-up, at least 1.

Medians are *lower* medians (``sorted(x)[(n - 1) // 2]``), so they are always
an actual note's value and an integer.

Exactness ("valid input"). A monophonic track encodes losslessly, i.e.
``decode(*encode_track(seq, i))`` returns the same (pitch, start, end) notes,
when, with ``md`` its median note duration:

1. every note length ``d`` has ``d / md`` in the ratio table (notes longer
   than the largest ratio are clamped to it, others are snapped to the
   nearest *usable* bucket in log-duration; both are lossy);
2. every silence decomposes exactly, by the greedy rule below, into usable
   bucket lengths (otherwise the leftover is rounded to 0 or the smallest
   usable length; lossy);
3. every centred pitch lies in octaves 0-10 (otherwise it is folded into range
   by whole octaves, keeping its pitch class; lossy);
4. ``max_events`` (if set) is not exceeded (otherwise the events are truncated).

A bucket is *usable* for ``md`` when ``ratio * md`` is a whole number of
steps. Silences are split greedily: repeatedly take the longest usable bucket
that fits in what is left, so rests longer than the largest bucket become
several rest events. With lossy snapping the encoder keeps a running decoded
time ("cursor") and measures each following silence from it, so the error does
not accumulate: later onsets stay where they were whenever the silence allows.

Velocities are not represented (decode uses one ``velocity``) and simultaneous
onsets are reduced by :func:`~musicvae.music.monophonic.monophonic_line`
(also for drums, as in VRASH's monophonic model). An empty track raises
``ValueError`` in :meth:`NoteEventConverter.encode_track`; :meth:`encode`
skips empty tracks.

Which tracks the dataset keeps (``prepare --kind notes``; :meth:`NoteEventConverter.track_stats`
and :meth:`~NoteEventConverter.reject_reason`, measured on the track's monophonic line): a
track needs at least two notes and two distinct note durations (in steps), at most
``max_durations`` distinct durations (default 11, the paper's limit; ``None``: no limit) and a
pitch entropy (bits, of the histogram of its pitches) of at least ``min_pitch_entropy``
(default :data:`DEFAULT_MIN_PITCH_ENTROPY`). The converter encodes any track; these are
checks that ``prepare`` applies and records, per track, in the manifest.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from ..music.monophonic import Keep, monophonic_line
from ..music.sequence import END, PITCH, START, NoteSequence, TrackInfo

REST_PITCH_CLASS = 12
NUM_PITCH_CLASSES = 13  # 12 pitch classes + rest
NUM_OCTAVES = 11  # octave indices 0-10 (pitches 0-131 after centring)
REST_OCTAVE = NUM_OCTAVES  # the "no octave" index used by rests
CENTRE_OCTAVE = 4  # a pitched track's median pitch is moved into [48, 60)
DRUM_GROUP = 16
NUM_INSTRUMENT_GROUPS = 17  # 16 General MIDI families + drums

DEFAULT_MAX_DURATIONS = 11  # distinct note durations a kept track may have (the VRASH paper's limit)
DEFAULT_MIN_PITCH_ENTROPY = 1.5  # bits; below ~3 equally used pitches (folk: 1st percentile 1.8 bits)

DEFAULT_DURATION_RATIOS: tuple[Fraction, ...] = tuple(
    Fraction(x)
    for x in ("1/8", "1/6", "1/4", "1/3", "1/2", "2/3", "3/4", "1",
              "3/2", "2", "3", "4", "6", "8", "12", "16")
)


def instrument_group(program: int, is_drum: bool) -> int:
    """Track-embedding index: General MIDI family ``program // 8`` (0-15), drums 16."""
    return DRUM_GROUP if is_drum else int(program) // 8


def _lower_median(values: np.ndarray) -> int:
    return int(np.sort(values)[(len(values) - 1) // 2])


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


@dataclass(frozen=True)
class TrackMeta:
    """What decoding needs besides the events.

    Attributes:
        program: General MIDI program (0-127).
        is_drum: drum track flag (no pitch centring).
        median_duration: lower median note length in steps (>= 1); bucket ratios
            are relative to it.
        octave_shift: semitones added before encoding (a multiple of 12, 0 for
            drums); decoding subtracts it.
    """

    program: int = 0
    is_drum: bool = False
    median_duration: int = 4
    octave_shift: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.program <= 127:
            raise ValueError(f"program must be 0-127, not {self.program}")
        if self.median_duration < 1:
            raise ValueError(f"median_duration must be >= 1, not {self.median_duration}")
        if self.octave_shift % 12:
            raise ValueError(f"octave_shift must be a multiple of 12, not {self.octave_shift}")

    @property
    def instrument_group(self) -> int:
        """GM family ``program // 8`` (0-15), or :data:`DRUM_GROUP` (16) for drums."""
        return instrument_group(self.program, self.is_drum)


class NoteEventConverter:
    """Reversible converter between one monophonic track and ``(n, 3)`` note events.

    Args:
        keep: which note survives a shared onset (see ``monophonic_line``).
        duration_ratios: strictly increasing positive ratios to the median note
            duration; must contain 1. Floats are read as the nearest fraction
            with denominator <= 1000.
        max_events: truncate encoded tracks to this many events (``None``: no limit).
        max_durations: most distinct note durations a kept track may have (``None``: any);
            see :meth:`reject_reason`.
        min_pitch_entropy: least pitch entropy (bits) of a kept track (0: no filter).
    """

    kind = "notes"
    record = "track"  # whole note-event tracks (data.records.TrackRecords)

    def __init__(
        self,
        keep: Keep = "highest",
        duration_ratios: Sequence[Fraction | float | int | str] = DEFAULT_DURATION_RATIOS,
        max_events: int | None = None,
        max_durations: int | None = DEFAULT_MAX_DURATIONS,
        min_pitch_entropy: float = DEFAULT_MIN_PITCH_ENTROPY,
    ) -> None:
        if keep not in ("highest", "lowest"):
            raise ValueError(f"keep must be 'highest' or 'lowest', not {keep!r}")
        ratios = tuple(Fraction(r).limit_denominator(1000) for r in duration_ratios)
        if not ratios or ratios[0] <= 0 or any(b <= a for a, b in zip(ratios, ratios[1:])):
            raise ValueError("duration_ratios must be positive and strictly increasing")
        if Fraction(1) not in ratios:
            raise ValueError("duration_ratios must contain 1 (the median duration)")
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be >= 1 or None, not {max_events}")
        self.keep: Keep = keep
        self.duration_ratios: tuple[Fraction, ...] = ratios
        if max_durations is not None and max_durations < 2:
            raise ValueError(f"max_durations must be >= 2 or None, not {max_durations}")
        if not min_pitch_entropy >= 0:
            raise ValueError(f"min_pitch_entropy must be >= 0 bits, not {min_pitch_entropy}")
        self.max_events = max_events
        self.max_durations = max_durations
        self.min_pitch_entropy = float(min_pitch_entropy)
        self.unit_bucket = ratios.index(Fraction(1))

    # ------------------------------------------------------------ vocabulary
    @property
    def vocab_sizes(self) -> tuple[int, int, int]:
        """(pitch classes incl. rest, octaves incl. the rest index, duration buckets)."""
        return NUM_PITCH_CLASSES, NUM_OCTAVES + 1, len(self.duration_ratios)

    def config(self) -> dict:
        """JSON description stored in manifests and checkpoints."""
        return {
            "kind": self.kind,
            "keep": self.keep,
            "duration_ratios": [str(r) for r in self.duration_ratios],
            "max_events": self.max_events,
            "max_durations": self.max_durations,
            "min_pitch_entropy": self.min_pitch_entropy,
            "vocab_sizes": list(self.vocab_sizes),
        }

    # ---------------------------------------------------------- track filter
    def track_stats(self, seq: NoteSequence, track_index: int) -> dict:
        """What the track filter looks at, on the track's monophonic line: ``notes``,
        ``distinct_durations`` (note lengths in steps) and ``pitch_entropy`` (bits; 0.0 for
        fewer than one note). ``is_drum`` too."""
        line = monophonic_line(seq.track_notes(track_index), self.keep)
        n = len(line)
        durations = line[:, END] - line[:, START]
        entropy = 0.0
        if n:
            _, counts = np.unique(line[:, PITCH], return_counts=True)
            p = counts / counts.sum()
            entropy = abs(float(-(p * np.log2(p)).sum()))
        return {"notes": int(n), "distinct_durations": int(len(np.unique(durations))), "pitch_entropy": entropy,
                "is_drum": bool(seq.tracks[track_index].is_drum)}

    def reject_reason(self, stats: dict) -> str | None:
        """Why a track (its :meth:`track_stats`) is not kept, or None. Checked in this order:
        no notes, ``single note``, ``single duration value``, more than ``max_durations``
        distinct durations, pitch entropy below ``min_pitch_entropy``."""
        if stats["notes"] == 0:
            return "no notes"
        if stats["notes"] == 1:
            return "single note"
        if stats["distinct_durations"] == 1:
            return "single duration value"
        if self.max_durations is not None and stats["distinct_durations"] > self.max_durations:
            return f"more than {self.max_durations} distinct durations"
        if stats["pitch_entropy"] < self.min_pitch_entropy:
            return f"pitch entropy below {self.min_pitch_entropy:g} bits"
        return None

    def bucket_steps(self, bucket: int, median_duration: int) -> int:
        """Length in steps that ``bucket`` decodes to (half-up rounding, at least 1)."""
        return max(1, _round_half_up(self.duration_ratios[bucket] * median_duration))

    def _usable(self, md: int) -> list[tuple[int, int]]:
        """``(steps, bucket)`` of buckets that are a whole number of steps, ascending."""
        return [(int(r * md), k) for k, r in enumerate(self.duration_ratios) if (r * md).denominator == 1]

    def _note_bucket(self, d: int, md: int, usable: list[tuple[int, int]]) -> int:
        exact = Fraction(d, md)
        if exact in self.duration_ratios:
            return self.duration_ratios.index(exact)
        # nearest usable length in log-duration; ties go to the shorter one;
        # longer than the largest bucket -> the largest (clamp)
        logs = np.log([s for s, _ in usable])
        return usable[int(np.argmin(np.abs(logs - math.log(d))))][1]

    def _rest_buckets(self, gap: int, usable: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Greedy split of ``gap`` steps into ``(steps, bucket)`` rests."""
        out = []
        left = gap
        for steps, k in reversed(usable):
            while steps <= left:
                out.append((steps, k))
                left -= steps
        smallest = usable[0]
        if left and 2 * left >= smallest[0]:  # leftover shorter than any bucket
            out.append(smallest)
        return out

    # --------------------------------------------------------------- encode
    def encode_track(self, seq: NoteSequence, track_index: int) -> tuple[np.ndarray, TrackMeta]:
        """One track of ``seq`` -> ``((n, 3) int16 events, TrackMeta)``.

        The track is reduced with ``monophonic_line``; silence from step 0 to the
        first note and from the last note to ``seq.total_steps`` become rests.
        Raises ValueError for a track without notes.
        """
        info: TrackInfo = seq.tracks[track_index]
        line = monophonic_line(seq.track_notes(track_index), self.keep)
        if len(line) == 0:
            raise ValueError(f"track {track_index} has no notes")
        durations = line[:, END] - line[:, START]
        md = _lower_median(durations)
        shift = 0 if info.is_drum else 12 * (CENTRE_OCTAVE - _lower_median(line[:, PITCH]) // 12)
        meta = TrackMeta(int(info.program), bool(info.is_drum), md, shift)
        usable = self._usable(md)

        events: list[tuple[int, int, int]] = []
        cursor = 0  # decoded time so far

        def rest(gap: int) -> None:
            nonlocal cursor
            for steps, k in self._rest_buckets(gap, usable):
                events.append((REST_PITCH_CLASS, REST_OCTAVE, k))
                cursor += steps

        for start, d, pitch in zip(line[:, START], durations, line[:, PITCH]):
            if start > cursor:
                rest(int(start - cursor))
            centred = int(pitch) + shift  # outside octaves 0-10: folded in by whole octaves
            k = self._note_bucket(int(d), md, usable)
            events.append((centred % 12, min(max(centred // 12, 0), NUM_OCTAVES - 1), k))
            cursor += self.bucket_steps(k, md)
        if seq.total_steps > cursor:
            rest(seq.total_steps - cursor)
        if self.max_events is not None:
            events = events[: self.max_events]
        return np.array(events, dtype=np.int16).reshape(-1, 3), meta

    def encode(self, seq: NoteSequence) -> list[tuple[np.ndarray, TrackMeta]]:
        """:meth:`encode_track` for every non-empty track, in track order."""
        return [self.encode_track(seq, i) for i in range(len(seq.tracks)) if len(seq.track_notes(i))]

    # --------------------------------------------------------------- decode
    def _check_structure(self, events: np.ndarray) -> np.ndarray:
        ev = np.asarray(events)
        if ev.ndim != 2 or ev.shape[1] != 3 or not np.issubdtype(ev.dtype, np.integer):
            raise ValueError(f"events must be an (n, 3) integer array, got {ev.shape} {ev.dtype}")
        ev = ev.astype(np.int64)
        if len(ev) and (ev.min() < 0 or (ev.max(axis=0) >= np.array(self.vocab_sizes)).any()):
            raise ValueError(f"event values outside the vocabulary {self.vocab_sizes}")
        return ev

    def decode(
        self,
        events: np.ndarray | Iterable[Sequence[int]],
        meta: TrackMeta,
        total_steps: int | None = None,
        velocity: int = 80,
    ) -> NoteSequence:
        """``(n, 3)`` events -> a one-track :class:`NoteSequence` with ``meta``'s program.

        Lenient for sampled events: a rest is any event with pitch class 12
        (its octave is ignored); a decoded pitch outside 0-127 is folded into
        range by whole octaves. ``total_steps=None`` uses the events' total
        length (``seq.total_steps`` for events encoded from ``seq``); a shorter
        ``total_steps`` drops notes starting at or after it and cuts the rest.
        Raises ValueError for values outside the vocabulary.
        """
        ev = np.asarray(events)
        if ev.size == 0:
            ev = ev.astype(np.int64)
        ev = self._check_structure(ev.reshape(-1, 3) if ev.ndim < 2 else ev)
        md = meta.median_duration
        rows = []
        t = 0
        for pc, octave, k in ev:
            d = self.bucket_steps(int(k), md)
            if pc != REST_PITCH_CLASS:
                pitch = int(octave) * 12 + int(pc) - meta.octave_shift
                while pitch < 0:
                    pitch += 12
                while pitch > 127:
                    pitch -= 12
                rows.append((t, t + d, pitch, velocity, 0))
            t += d
        total = t if total_steps is None else int(total_steps)
        notes = np.array(rows, dtype=np.int32).reshape(-1, 5)
        if total < t:
            notes = notes[notes[:, START] < total]
            notes[:, END] = np.minimum(notes[:, END], total)
        return NoteSequence(notes, [TrackInfo(meta.program, meta.is_drum)], total)

    # ------------------------------------------------------------- validity
    def is_valid(self, events: np.ndarray, meta: TrackMeta | None = None) -> bool:
        """Whether ``events`` are in the encoder's canonical form.

        Without ``meta`` (assumes a pitched track): an ``(n, 3)`` integer array,
        ``1 <= n <= max_events``, values inside :attr:`vocab_sizes`, rests exactly
        the events with pitch class 12 and exactly those with octave 11, at
        least one note, the lower median of the notes' buckets is the ratio-1
        bucket, and the lower median centred pitch ``12 * octave + pitch_class``
        lies in ``[48, 60)``.

        With ``meta`` also: the centring condition only if not ``meta.is_drum``
        (drums need ``octave_shift == 0``); every bucket is a whole number of
        steps for ``meta.median_duration``; every decoded pitch is in 0-127; and
        every run of consecutive rests is the greedy split of its total length.
        These are exactly the events for which
        ``encode_track(decode(events, meta), 0) == (events, meta)``.
        """
        try:
            ev = self._check_structure(np.asarray(events))
        except ValueError:
            return False
        if len(ev) == 0 or (self.max_events is not None and len(ev) > self.max_events):
            return False
        is_rest = ev[:, 0] == REST_PITCH_CLASS
        if not np.array_equal(is_rest, ev[:, 1] == REST_OCTAVE) or is_rest.all():
            return False
        notes = ev[~is_rest]
        if _lower_median(notes[:, 2]) != self.unit_bucket:
            return False
        centred = notes[:, 1] * 12 + notes[:, 0]
        is_drum = meta is not None and meta.is_drum
        if not is_drum and not 48 <= _lower_median(centred) < 60:
            return False
        if meta is None:
            return True
        if is_drum and meta.octave_shift != 0:
            return False
        pitches = centred - meta.octave_shift
        if pitches.min() < 0 or pitches.max() > 127:
            return False
        md = meta.median_duration
        usable = self._usable(md)
        if not set(ev[:, 2].tolist()) <= {k for _, k in usable}:
            return False
        # each maximal rest run must be the greedy split of its length
        for rest, events in itertools.groupby(zip(is_rest.tolist(), ev[:, 2].tolist()), key=lambda e: e[0]):
            run = [k for _, k in events]
            total = sum(self.bucket_steps(k, md) for k in run)
            if rest and [k for _, k in self._rest_buckets(total, usable)] != run:
                return False
        return True
