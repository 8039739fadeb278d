"""Quantize a parsed MIDI score onto the 16th-note grid, one NoteSequence per 4/4 stretch.

Place in the flow: ``midi_io.read_midi`` -> :func:`quantize_score` -> representations.

Quantizing works on MIDI ticks, i.e. on the beat grid that the file's tempo map
drives: a tempo change moves wall-clock time but not beats, so files with many
tempos quantize correctly (note_seq's seconds-based quantizer refuses them).
Time-signature changes split the file into stretches; only stretches whose bar
is 16 sixteenths long (4/4, and the same-length 2/2) are kept, so a file with a
3/4 intro still gives its 4/4 body instead of being dropped whole.
"""

from __future__ import annotations

import os

import numpy as np
from symusic import Score

from .midi_io import MidiError
from .sequence import NoteSequence, TrackInfo

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
# Time signatures whose bar holds 16 sixteenth notes.
ACCEPTED_TIME_SIGNATURES = frozenset({(4, 4), (2, 2)})
# Longest usable piece (65,536 bars, ~36 h at 120 qpm). Representations allocate
# per-step arrays, so a tiny file with one absurd delta time (e.g. 0x0FFFFFFF ticks
# at 1 tick per quarter) must not turn into a billion-step sequence.
MAX_STEPS = 2**20


class NoUsableMusic(MidiError):
    """A readable MIDI file that holds nothing the chosen representation can use."""


def _round_steps(ticks: np.ndarray, ticks_per_step: float) -> np.ndarray:
    """Nearest step, halves rounding up: floor(ticks / tps + 1/2), in integer arithmetic."""
    tpq = int(round(ticks_per_step * STEPS_PER_QUARTER))
    if tpq == ticks_per_step * STEPS_PER_QUARTER:
        return (2 * STEPS_PER_QUARTER * np.asarray(ticks, dtype=np.int64) + tpq) // (2 * tpq)
    return np.floor(ticks / ticks_per_step + 0.5).astype(np.int64)


def score_notes(score: Score) -> tuple[np.ndarray, list[TrackInfo]]:
    """All notes of a score as ``(N, 5)`` int64 (start_tick, end_tick, pitch, velocity, track)."""
    parts, tracks = [], []
    for track in score.tracks:
        if track.note_num() == 0:
            continue
        parts.append(track.notes.numpy())
        tracks.append(TrackInfo(int(track.program), bool(track.is_drum), str(track.name)))
    if not parts:
        return np.zeros((0, 5), dtype=np.int64), []
    counts = [len(p["time"]) for p in parts]
    out = np.empty((sum(counts), 5), dtype=np.int64)  # filled column by column: no stacking copies
    out[:, 0] = np.concatenate([p["time"] for p in parts])
    out[:, 1] = out[:, 0] + np.concatenate([p["duration"] for p in parts])
    out[:, 2] = np.concatenate([p["pitch"] for p in parts])
    out[:, 3] = np.concatenate([p["velocity"] for p in parts])
    out[:, 4] = np.repeat(np.arange(len(parts)), counts)
    return out, tracks


def time_signature_stretches(score: Score, ticks_per_step: float, end_step: int) -> list[tuple[int, int, int, int]]:
    """``[(start_step, end_step, numerator, denominator), ...]`` covering ``[0, end_step)``."""
    return stretches_of(signature_changes(score.time_signatures.numpy(), ticks_per_step), end_step)


def signature_changes(ts: dict, ticks_per_step: float) -> list[tuple[int, int, int]]:
    """``[(step, numerator, denominator), ...]``: where the signature in force changes, from symusic's
    ``time_signatures.numpy()`` arrays (none: 4/4 from step 0)."""
    # sort on time only (stable): of two signatures at one tick the later in the file wins
    events = sorted(
        zip(ts["time"].tolist(), ts["numerator"].tolist(), ts["denominator"].tolist()), key=lambda e: e[0]
    )
    if not events or events[0][0] > 0:
        events.insert(0, (0, 4, 4))  # the MIDI default
    # keep the last signature given at each step, then drop repeats of the one in force
    steps = _round_steps(np.array([tick for tick, _, _ in events]), ticks_per_step).tolist()
    by_step = {step: (num, den) for step, (_, num, den) in zip(steps, events)}
    changes: list[tuple[int, int, int]] = []
    for step in sorted(by_step):
        num, den = by_step[step]
        if not changes or changes[-1][1:] != (num, den):
            changes.append((step, num, den))
    return changes


def stretches_of(changes: list[tuple[int, int, int]], end_step: int) -> list[tuple[int, int, int, int]]:
    """The stretches ``(start_step, end_step, numerator, denominator)`` of :func:`signature_changes`."""
    stops = [step for step, _, _ in changes[1:]] + [end_step]
    return [(step, stop, num, den) for (step, num, den), stop in zip(changes, stops) if stop > step]


def _tempo_at(score: Score, tick: int) -> float:
    tempos = score.tempos.numpy()
    if len(tempos["time"]) == 0:
        return 120.0
    before = np.nonzero(tempos["time"] <= tick)[0]
    mspq = tempos["mspq"][before[-1]] if len(before) else tempos["mspq"][0]
    return float(60_000_000 / max(int(mspq), 1))


def quantize_score(
    score: Score,
    source: str | os.PathLike = "",
    *,
    time_signatures: frozenset[tuple[int, int]] = ACCEPTED_TIME_SIGNATURES,
    min_bars: int = 1,
) -> list[NoteSequence]:
    """Quantize ``score`` to 16th notes and split it into usable 4/4 stretches.

    Notes snap to the nearest step; a note that would last zero steps lasts one.
    A stretch ending mid-bar (a signature change off the bar line) is cut to whole bars.

    Raises:
        NoUsableMusic: the file has no notes, or no 4/4 stretch of ``min_bars`` bars with notes.
    """
    source = str(source)
    tpq = score.ticks_per_quarter
    ticks_per_step = tpq / STEPS_PER_QUARTER
    raw, tracks = score_notes(score)
    raw = raw[raw[:, 0] >= 0]  # negative ticks only come from int32 overflow of huge delta times
    if len(raw) == 0:
        raise NoUsableMusic(source, "no notes")
    steps = raw  # converted in place: ticks -> steps
    steps[:, 0] = _round_steps(raw[:, 0], ticks_per_step)
    steps[:, 1] = np.maximum(_round_steps(raw[:, 1], ticks_per_step), steps[:, 0] + 1)
    last_step = int(steps[:, 1].max())
    if last_step > MAX_STEPS:
        raise NoUsableMusic(source, f"too long ({last_step} steps > {MAX_STEPS}; absurd delta times?)")

    stretches = time_signature_stretches(score, ticks_per_step, last_step)
    seqs: list[NoteSequence] = []
    for k, (lo, hi, num, den) in enumerate(stretches):
        if (num, den) not in time_signatures:
            continue
        is_last = k == len(stretches) - 1
        inside = steps if len(stretches) == 1 else steps[(steps[:, 0] >= lo) & (steps[:, 0] < hi)]
        if len(inside) == 0:
            continue
        if is_last:
            n_bars = -(-(int(inside[:, 1].max()) - lo) // STEPS_PER_BAR)
        else:
            n_bars = (hi - lo) // STEPS_PER_BAR
        if n_bars < min_bars:
            continue
        stop = lo + n_bars * STEPS_PER_BAR
        inside = inside[inside[:, 0] < stop].copy()
        if len(inside) == 0:
            continue
        inside[:, 1] = np.minimum(inside[:, 1], stop)
        inside[:, :2] -= lo
        seqs.append(
            NoteSequence(
                inside.astype(np.int32),
                list(tracks),
                n_bars * STEPS_PER_BAR,
                steps_per_bar=STEPS_PER_BAR,
                steps_per_quarter=STEPS_PER_QUARTER,
                qpm=_tempo_at(score, int(lo * ticks_per_step)),
                time_signature=(int(num), int(den)),
                source=source,
                meta={"stretch": k, "start_step": int(lo)},
            )
        )
    if not seqs:
        sigs = ", ".join(dict.fromkeys(f"{num}/{den}" for _, _, num, den in stretches)) or "none"
        if any((num, den) in time_signatures for _, _, num, den in stretches):
            raise NoUsableMusic(source, f"no 4/4 stretch of at least {min_bars} bar(s) with notes (time signatures: {sigs})")
        raise NoUsableMusic(source, f"no 4/4 section (time signatures: {sigs})")
    return seqs


def load_sequences(path: str | os.PathLike, **kwargs) -> list[NoteSequence]:
    """Read a MIDI file and quantize it: the one call most code needs."""
    from .midi_io import read_midi

    return quantize_score(read_midi(path), path, **kwargs)
