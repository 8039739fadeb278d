"""Piano-roll images of NoteSequences (PNG, matplotlib's Agg renderer, no screen needed).

Place in the flow: ``generation`` (NoteSequences) -> ``render`` (this module: PNG)
-> the files the CLI writes (``--png``: one image per output, a strip per interpolation).

Drawing: x is time in 16th-note steps (bar lines every ``steps_per_bar``, beat lines
between, ticks labelled with bar numbers), y is MIDI pitch over a range fitted to the
notes (``PITCH_MARGIN`` semitones either side, at least one octave, rows of black keys
shaded, C rows labelled ``C4`` = 60). Drum tracks get their own band below, one row per
drum pitch used, labelled with its General MIDI percussion name. Notes are rectangles
coloured by track index (same colours in every row of a strip), more opaque when louder.

Image size (pixels; fixed ``DPI``, no tight bounding box, so it is exact)::

    width  = min(MAX_SIDE, max(min_width, LEFT + steps * pixels_per_step + RIGHT))
    band   = (pitch_rows + drum_rows) * pixels_per_pitch + (BAND_GAP if both bands else 0)
    height = TOP + band + BOTTOM                                   (piano_roll_image)
    height = TOP + n * (ROW_HEAD + band) + (n - 1) * ROW_GAP + BOTTOM   (piano_roll_strip)

with ``steps = max(1, total_steps)`` (the longest sequence in a strip), ``pitch_rows =
hi - lo + 1`` of the fitted range (13 for an empty roll: the octave around middle C; 0
when there are drum notes but no pitched notes) and ``drum_rows`` the number of distinct
drum pitches played. :func:`piano_roll_size` computes it.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..music.attributes import drum_notes, pitched_notes
from ..music.sequence import END, PITCH, START, TRACK, VELOCITY, NoteSequence
from ..utils.names import printable
from .audio import RenderError

__all__ = ["piano_roll_image", "piano_roll_strip", "piano_roll_size", "pitch_range", "GM_DRUM_NAMES"]

DPI = 100
LEFT, RIGHT, TOP, BOTTOM = 100, 16, 28, 26  # margins in pixels
BAND_GAP = 6  # between the pitched band and the drum band
ROW_HEAD, ROW_GAP = 16, 6  # strip: label line above each row, space between rows
MAX_SIDE = 32000  # pixels; Agg cannot draw beyond 2**16
DEFAULT_PIXELS_PER_STEP = 6
DEFAULT_PIXELS_PER_PITCH = 8
DEFAULT_MIN_WIDTH = 640
PITCH_MARGIN = 2
MIN_PITCH_SPAN = 12  # hi - lo >= one octave
EMPTY_RANGE = (54, 66)  # the octave around middle C, for rolls without pitched notes

TRACK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_BLACK_KEYS = {1, 3, 6, 8, 10}

GM_DRUM_NAMES = {
    35: "Acoustic Bass Drum", 36: "Bass Drum", 37: "Side Stick", 38: "Acoustic Snare", 39: "Hand Clap",
    40: "Electric Snare", 41: "Low Floor Tom", 42: "Closed Hi-Hat", 43: "High Floor Tom", 44: "Pedal Hi-Hat",
    45: "Low Tom", 46: "Open Hi-Hat", 47: "Low-Mid Tom", 48: "Hi-Mid Tom", 49: "Crash Cymbal 1",
    50: "High Tom", 51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell", 54: "Tambourine",
    55: "Splash Cymbal", 56: "Cowbell", 57: "Crash Cymbal 2", 58: "Vibraslap", 59: "Ride Cymbal 2",
    60: "Hi Bongo", 61: "Low Bongo", 62: "Mute Hi Conga", 63: "Open Hi Conga", 64: "Low Conga",
    65: "High Timbale", 66: "Low Timbale", 67: "High Agogo", 68: "Low Agogo", 69: "Cabasa", 70: "Maracas",
    71: "Short Whistle", 72: "Long Whistle", 73: "Short Guiro", 74: "Long Guiro", 75: "Claves",
    76: "Hi Wood Block", 77: "Low Wood Block", 78: "Mute Cuica", 79: "Open Cuica", 80: "Mute Triangle",
    81: "Open Triangle",
}
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


# ------------------------------------------------------------------ layout
def pitch_range(seqs: NoteSequence | Sequence[NoteSequence]) -> tuple[int, int] | None:
    """Inclusive ``(lo, hi)`` pitch rows for the pitched notes of one or several sequences.

    ``PITCH_MARGIN`` semitones beyond the notes, widened (evenly) to at least
    ``MIN_PITCH_SPAN``, kept inside 0-127. :data:`EMPTY_RANGE` when nothing sounds;
    ``None`` when there are drum notes only (no pitched band is drawn).
    """
    seqs = [seqs] if isinstance(seqs, NoteSequence) else list(seqs)
    pitches = np.concatenate([pitched_notes(s)[:, PITCH] for s in seqs]) if seqs else np.zeros(0, np.int32)
    if len(pitches) == 0:
        return None if any(len(drum_notes(s)) for s in seqs) else EMPTY_RANGE
    lo, hi = int(pitches.min()) - PITCH_MARGIN, int(pitches.max()) + PITCH_MARGIN
    if hi - lo < MIN_PITCH_SPAN:
        extra = MIN_PITCH_SPAN - (hi - lo)
        lo, hi = lo - extra // 2, hi + extra - extra // 2
    if lo < 0:
        lo, hi = 0, hi - lo
    if hi > 127:
        lo, hi = max(0, lo - (hi - 127)), 127
    return lo, hi


@dataclass(frozen=True)
class _Layout:
    steps: int
    prange: tuple[int, int] | None
    drums: list[int]
    width: int
    band: int  # pixel height of one roll (pitched band + gap + drum band)
    pitch_px: int
    drum_px: int
    pixels_per_pitch: int


def _layout(seqs: Sequence[NoteSequence], pixels_per_step: float, pixels_per_pitch: int,
            min_width: int) -> _Layout:
    if not pixels_per_step > 0 or not pixels_per_pitch >= 1 or min_width < 0:
        raise RenderError(f"bad piano-roll scale (pixels_per_step={pixels_per_step!r}, "
                          f"pixels_per_pitch={pixels_per_pitch!r}, min_width={min_width!r})")
    steps = max([1] + [int(s.total_steps) for s in seqs])
    prange = pitch_range(seqs)
    drums = sorted({int(p) for s in seqs for p in drum_notes(s)[:, PITCH]})
    pitch_px = (prange[1] - prange[0] + 1) * pixels_per_pitch if prange else 0
    drum_px = len(drums) * pixels_per_pitch
    band = pitch_px + drum_px + (BAND_GAP if pitch_px and drum_px else 0)
    width = int(min(MAX_SIDE, max(min_width, LEFT + math.ceil(steps * pixels_per_step) + RIGHT)))
    return _Layout(steps, prange, drums, width, band, pitch_px, drum_px, int(pixels_per_pitch))


def piano_roll_size(
    seqs: NoteSequence | Sequence[NoteSequence],
    *,
    pixels_per_step: float = DEFAULT_PIXELS_PER_STEP,
    pixels_per_pitch: int = DEFAULT_PIXELS_PER_PITCH,
    min_width: int = DEFAULT_MIN_WIDTH,
) -> tuple[int, int]:
    """``(width, height)`` in pixels of :func:`piano_roll_image` (one sequence) or
    :func:`piano_roll_strip` (a list), as in the module docstring."""
    strip = not isinstance(seqs, NoteSequence)
    seqs = list(seqs) if strip else [seqs]
    lay = _layout(seqs, pixels_per_step, pixels_per_pitch, min_width)
    if strip:
        n = len(seqs)
        return lay.width, TOP + n * (ROW_HEAD + lay.band) + (n - 1) * ROW_GAP + BOTTOM
    return lay.width, TOP + lay.band + BOTTOM


# ------------------------------------------------------------------ drawing
def _track_label(seq: NoteSequence, idx: int) -> str:
    info = seq.tracks[idx]
    return info.name or ("drums" if info.is_drum else f"program {info.program}")


def _grid(ax, lay: _Layout, seq_steps: int, spb: int, spq: int, y0: float, y1: float) -> None:
    ax.set_xlim(0, lay.steps)
    ax.set_ylim(y0, y1)
    plot_w = lay.width - LEFT - RIGHT
    px_per_step = plot_w / lay.steps
    if spq > 0 and px_per_step * spq >= 6:
        beats = [x for x in range(0, lay.steps + 1, spq) if spb <= 0 or x % spb]
        ax.vlines(beats, y0, y1, colors="#d9d9d9", linewidths=0.5, zorder=1)
    if spb > 0:
        ax.vlines(list(range(0, lay.steps + 1, spb)), y0, y1, colors="#808080", linewidths=0.8, zorder=1)
    if seq_steps < lay.steps:  # a shorter row of a strip: grey out past its end
        ax.axvspan(seq_steps, lay.steps, color="#f0f0f0", zorder=0.5, lw=0)
    ax.tick_params(axis="both", length=2, labelsize=7, pad=2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _bar_ticks(ax, lay: _Layout, spb: int, show: bool) -> None:
    if spb <= 0:
        ax.set_xticks([])
        return
    bars = max(1, -(-lay.steps // spb))
    plot_w = lay.width - LEFT - RIGHT
    every = max(1, math.ceil(bars * 24 / max(plot_w, 1)))  # ~24 px per label
    ticks = [b * spb for b in range(0, bars, every)]
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t // spb + 1) for t in ticks] if show else [])


def _notes_collection(notes: np.ndarray, rows: np.ndarray, colors: list[str]):
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba

    s, e = notes[:, START].astype(float), notes[:, END].astype(float)
    lo, hi = rows - 0.42, rows + 0.42
    verts = np.stack([np.stack([s, lo], 1), np.stack([e, lo], 1), np.stack([e, hi], 1), np.stack([s, hi], 1)], 1)
    alpha = 0.45 + 0.55 * np.clip(notes[:, VELOCITY], 1, 127) / 127.0
    face = np.array([to_rgba(colors[t % len(colors)], a) for t, a in zip(notes[:, TRACK], alpha)]).reshape(-1, 4)
    edge = face.copy()
    edge[:, :3] *= 0.6
    edge[:, 3] = 1.0
    return PolyCollection(verts, facecolors=face, edgecolors=edge, linewidths=0.4, zorder=3)


def _draw_roll(fig, seq: NoteSequence, lay: _Layout, top_px: int, height: int, show_bars: bool) -> None:
    """One sequence's roll with its top edge ``top_px`` pixels below the figure's top."""
    W, H = lay.width, height
    spb, spq = int(seq.steps_per_bar), int(seq.steps_per_quarter)
    pitched, drums = pitched_notes(seq), drum_notes(seq)
    x0, w = LEFT / W, (W - LEFT - RIGHT) / W
    y = top_px
    bands = []
    if lay.pitch_px:
        bands.append(("pitch", y, lay.pitch_px))
        y += lay.pitch_px + (BAND_GAP if lay.drum_px else 0)
    if lay.drum_px:
        bands.append(("drum", y, lay.drum_px))
    for i, (kind, ytop, hpx) in enumerate(bands):
        ax = fig.add_axes((x0, 1 - (ytop + hpx) / H, w, hpx / H))
        last = i == len(bands) - 1
        if kind == "pitch":
            lo, hi = lay.prange
            rows = np.arange(lo, hi + 1)
            shade = np.array([[0.93 if r % 12 in _BLACK_KEYS else 1.0] for r in rows])
            ax.imshow(shade, cmap="gray", vmin=0, vmax=1, aspect="auto", origin="lower", interpolation="nearest",
                      extent=(0, lay.steps, lo - 0.5, hi + 0.5), zorder=0)
            _grid(ax, lay, seq.total_steps, spb, spq, lo - 0.5, hi + 0.5)
            cs = [r for r in rows if r % 12 == 0]
            ax.hlines([c - 0.5 for c in cs], 0, lay.steps, colors="#b0b0b0", linewidths=0.5, zorder=1)
            ax.set_yticks(cs)
            ax.set_yticklabels([f"{_NOTE_NAMES[c % 12]}{c // 12 - 1}" for c in cs])  # C4 = 60
            if len(pitched):
                ax.add_collection(_notes_collection(pitched, pitched[:, PITCH].astype(float), list(TRACK_COLORS)))
        else:
            n = len(lay.drums)
            _grid(ax, lay, seq.total_steps, spb, spq, -0.5, n - 0.5)
            ax.hlines(np.arange(n + 1) - 0.5, 0, lay.steps, colors="#e4e4e4", linewidths=0.5, zorder=1)
            ax.set_yticks(range(n))
            ax.set_yticklabels([GM_DRUM_NAMES.get(p, f"drum {p}") for p in lay.drums],
                               fontsize=6 if lay.pixels_per_pitch >= 8 else 5)
            if len(drums):
                rows = np.searchsorted(np.array(lay.drums), drums[:, PITCH]).astype(float)
                ax.add_collection(_notes_collection(drums, rows, list(TRACK_COLORS)))
        _bar_ticks(ax, lay, spb, show=show_bars and last)


def _legend(fig, seqs: Sequence[NoteSequence], W: int, H: int) -> None:
    """Track colours at the top right, when some sequence has more than one track."""
    first = max(seqs, key=lambda s: len(s.tracks))
    if len(first.tracks) < 2:
        return
    renderer = fig.canvas.get_renderer()
    x = W - RIGHT
    for idx in reversed(range(len(first.tracks))):
        txt = fig.text(x / W, 1 - (TOP / 2) / H, "\u25a0 " + _track_label(first, idx), ha="right", va="center",
                       fontsize=7, color=TRACK_COLORS[idx % len(TRACK_COLORS)])
        x -= txt.get_window_extent(renderer).width + 10


def _save(fig, path: str | os.PathLike) -> Path:
    from ..utils.io import atomic_write_bytes

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        fig.clear()
    return atomic_write_bytes(path, buf.getvalue())


def _figure(width: int, height: int, seqs: Sequence[NoteSequence], title: str | None):
    """The blank figure with its title (top left) and track legend (top right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if height > MAX_SIDE:
        raise RenderError(f"piano roll too tall ({height} px > {MAX_SIDE}); "
                          f"use fewer rows or a smaller pixels_per_pitch")
    # A tiny excess keeps float rounding from truncating the size by a pixel.
    fig = Figure(figsize=((width + 0.01) / DPI, (height + 0.01) / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    if title:  # titles often hold a file name: any bytes must draw
        fig.text(LEFT / width, 1 - (TOP / 2) / height, printable(title), ha="left", va="center", fontsize=9)
    _legend(fig, seqs, width, height)
    return fig


def piano_roll_image(
    seq: NoteSequence,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    pixels_per_step: float = DEFAULT_PIXELS_PER_STEP,
    pixels_per_pitch: int = DEFAULT_PIXELS_PER_PITCH,
    min_width: int = DEFAULT_MIN_WIDTH,
) -> Path:
    """Write one sequence's piano roll as a PNG (atomically); size as :func:`piano_roll_size`."""
    lay = _layout([seq], pixels_per_step, pixels_per_pitch, min_width)
    W, H = lay.width, TOP + lay.band + BOTTOM
    fig = _figure(W, H, [seq], title)
    _draw_roll(fig, seq, lay, TOP, H, show_bars=True)
    return _save(fig, path)


def piano_roll_strip(
    seqs: Sequence[NoteSequence],
    path: str | os.PathLike,
    *,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    pixels_per_step: float = DEFAULT_PIXELS_PER_STEP,
    pixels_per_pitch: int = DEFAULT_PIXELS_PER_PITCH,
    min_width: int = DEFAULT_MIN_WIDTH,
) -> Path:
    """Several sequences stacked top to bottom on one shared pitch (and drum) axis and time scale.

    Made for interpolations (one row per step, ``titles`` such as ``"α=0.25"``; rows are
    numbered ``1..n`` without titles). Size as :func:`piano_roll_size` of the list.
    """
    seqs = list(seqs)
    if not seqs:
        raise RenderError(f"{path}: no sequences to draw")
    if titles is not None and len(titles) != len(seqs):
        raise RenderError(f"{path}: {len(titles)} titles for {len(seqs)} sequences")
    labels = list(titles) if titles is not None else [str(i + 1) for i in range(len(seqs))]
    lay = _layout(seqs, pixels_per_step, pixels_per_pitch, min_width)
    n = len(seqs)
    W, H = lay.width, TOP + n * (ROW_HEAD + lay.band) + (n - 1) * ROW_GAP + BOTTOM
    fig = _figure(W, H, seqs, title)
    y = TOP
    for i, (seq, label) in enumerate(zip(seqs, labels)):
        fig.text(LEFT / W, 1 - (y + ROW_HEAD / 2) / H, printable(label), ha="left", va="center", fontsize=8)
        _draw_roll(fig, seq, lay, y + ROW_HEAD, H, show_bars=i == n - 1)
        y += ROW_HEAD + lay.band + ROW_GAP
    return _save(fig, path)
