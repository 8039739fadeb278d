"""Sliding N-bar windows over token grids, with magenta's rules.

Place in the flow: representations (full-length grids) -> :func:`grid_windows`
-> ``prepare`` (dedup, split, shards) -> datasets.

Rules for a window of ``bars`` bars taken every ``stride_bars`` bars:
* it is put in canonical form (a note-off that the cut left without its note
  becomes a hold), so every stored window round-trips through its converter;
* each required stream (or the mix, for multitrack) holds at least one onset;
* no stream rests longer than ``max_rest_bars`` bars in a row *inside* the window
  (exactly one bar of rest is allowed with the default 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..representations.base import GridConverter


@dataclass(frozen=True)
class WindowRules:
    bars: int
    steps_per_bar: int = 16
    stride_bars: int = 1
    max_rest_bars: float = 1.0

    @property
    def steps(self) -> int:
        return self.bars * self.steps_per_bar


def silent_run_lengths(silent: np.ndarray) -> np.ndarray:
    """For a boolean ``(T, K)`` array: length of the silent run ending at each step (0 if sounding)."""
    T = silent.shape[0]
    idx = np.arange(T)[:, None]
    # index of the most recent sounding step (or -1)
    last_sound = np.maximum.accumulate(np.where(~silent, idx, -1), axis=0)
    return np.where(silent, idx - last_sound, 0)


def grid_windows(converter: GridConverter, tokens: np.ndarray, rules: WindowRules) -> tuple[np.ndarray, np.ndarray]:
    """Valid windows of one full-length grid.

    Returns ``(windows, start_bars)``: ``(W, rules.steps, K)`` tokens and the bar
    index each window starts at.
    """
    grid = converter.as_grid(tokens)
    T, K = grid.shape
    n_bars = T // rules.steps_per_bar
    if n_bars < rules.bars:
        return np.zeros((0, rules.steps, K), grid.dtype), np.zeros(0, np.int64)
    starts = np.arange(0, n_bars - rules.bars + 1, rules.stride_bars)
    sounding = converter.sounding(grid)
    onsets = converter.onsets(grid)
    if converter.required_streams is None and K == 1:  # the mix of one stream is that stream
        pass
    elif converter.required_streams is None:  # rules on the mix
        sounding = sounding.any(axis=1, keepdims=True)
        onsets = onsets.any(axis=1, keepdims=True)
    else:
        sounding = sounding[:, list(converter.required_streams)]
        onsets = onsets[:, list(converter.required_streams)]

    W = rules.steps
    offsets = starts * rules.steps_per_bar
    # windows gathered by one index array (n, W): cheaper than three sliding_window_view calls
    # for the short grids of most files (a few microseconds against ~15 each)
    idx = offsets[:, None] + np.arange(W)
    onset_view = onsets[idx]  # (n, W, K')
    # a note held over from before the window is silence once the window is cut out
    seen = np.logical_or.accumulate(onset_view, axis=1)
    sounding_view = sounding[idx] & seen
    n, _, Kr = sounding_view.shape
    runs = silent_run_lengths((~sounding_view).transpose(1, 0, 2).reshape(W, n * Kr))  # (W, n*K')
    limit = rules.max_rest_bars * rules.steps_per_bar
    too_quiet = (runs > limit).reshape(W, n, Kr).any(axis=(0, 2))
    has_notes = onset_view.any(axis=1).all(axis=1)
    ok = has_notes & ~too_quiet
    if not ok.any():
        return np.zeros((0, W, K), grid.dtype), np.zeros(0, np.int64)
    good = starts[ok]
    win = grid[(good * rules.steps_per_bar)[:, None] + np.arange(W)]  # (w, W, K), a copy
    converter.canonicalize_windows(win)  # a note-off whose note began before the cut becomes a hold
    return win, good


def line_windows(stream, tokens: np.ndarray, offsets: np.ndarray, rules: WindowRules
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`grid_windows` of many one-stream lines at once (``tokens[offsets[c]:offsets[c + 1]]`` is
    line ``c``; ``stream``: their ``MelodyStream`` or ``DrumStream``). Returns ``(windows (w,
    rules.steps, 1), line of each, start bar of each)``, line after line, windows in start order: what
    :func:`grid_windows` gives line by line (``tests/data/test_batch_prepare.py`` compares them).

    No window is cut out to be checked, and nothing is computed per step but finding the events.
    With ``f`` the first note-on at or after a window's start ``s``, the window has notes iff
    ``f < s + W``; it is silent from ``s`` to ``f`` (a note held over the cut is silence), and from
    ``f`` on its silences are the line's own: a silence starts at a note-off that follows a note-on
    (drums: the step after a hit) and lasts to the next onset (or the line's end). The window rests
    too long iff ``f - s`` exceeds the limit or a silence starting after ``f`` reaches past the limit
    before the window ends.
    """
    W, spb = rules.steps, rules.steps_per_bar
    n_bars = np.diff(offsets) // spb
    n_win = np.where(n_bars >= rules.bars, (n_bars - rules.bars) // rules.stride_bars + 1, 0)
    empty = (np.zeros((0, W, 1), tokens.dtype), np.zeros(0, np.int64), np.zeros(0, np.int64))
    total = int(n_win.sum())
    if not total:
        return empty
    line = np.repeat(np.arange(len(n_win)), n_win)
    bar = (np.arange(total) - np.repeat(np.cumsum(n_win) - n_win, n_win)) * rules.stride_bars
    s = offsets[line] + bar * spb  # window starts in the concatenated lines

    ev = np.flatnonzero(tokens)  # every event (note-on or note-off; a drum hit), in order
    on = stream.onsets(tokens[ev])
    ev_line = np.searchsorted(offsets, ev, "right") - 1
    onsets = ev[on]
    never = np.iinfo(np.int64).max  # "no next onset": past every window and line end
    next_onset = np.append(onsets, never)  # next_onset[searchsorted(onsets, t)]: the first onset at or after t
    if stream.pitched:  # a silence starts at a note-off whose previous event (same line) is a note-on
        prev_on = np.zeros(len(ev), bool)
        prev_on[1:] = on[:-1] & (ev_line[1:] == ev_line[:-1])
        gap = np.flatnonzero(~on & prev_on)
        g_first = ev[gap]
    else:  # drums: only the hit's own step sounds
        gap = np.arange(len(ev))
        g_first = ev + 1
    # the silence ends at the next onset or the line's end
    gap_end = np.minimum(next_onset[np.searchsorted(onsets, g_first, "left")], offsets[ev_line[gap] + 1])
    limit = rules.max_rest_bars * spb
    # the first step of a silence whose run exceeds the limit: t - (first - 1) > limit
    too_long_at = np.floor(g_first - 1 + limit).astype(np.int64) + 1
    long_gap = too_long_at < gap_end
    g_start, g_bad = g_first[long_gap], np.append(too_long_at[long_gap], never)

    f = next_onset[np.searchsorted(onsets, s, "left")]  # an onset of a later line (or none): f >= s + W
    ok = (f < s + W) & ~((f - s) > limit)
    j = np.searchsorted(g_start, f, "right")  # the first long silence starting after f (none: never)
    ok &= ~(g_bad[j] < s + W)
    if not ok.any():
        return empty
    s = s[ok]
    win = tokens[s[:, None] + np.arange(W)]  # (w, W), a copy
    stream.canonicalize_cut(win)  # a note-off whose note began before the cut becomes a hold
    return win[:, :, None], line[ok], bar[ok]
