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
    """:func:`grid_windows` of many one-stream lines at once (``tokens[offsets[c]:offsets[c + 1]]`` is line
    ``c``; ``stream``: its codec, e.g. ``MelodyStream``). Returns ``(windows (w, rules.steps, 1), line of
    each, start bar of each)``, line after line, windows in start order: what :func:`grid_windows` gives
    line by line (tests compare them).

    No window is cut out to be checked. With ``f`` the first onset at or after a window's start
    ``s``, the window has notes iff ``f < s + W``; it is silent from ``s`` to ``f`` (a note held over
    the cut is silence), and from ``f`` on its silences are the line's own, which cannot reach back
    past ``f``. So a window rests too long iff ``f - s > limit`` or a silent run of the whole line
    longer than ``limit`` ends in ``[f, s + W)``: one prefix sum over the line answers that.
    """
    W, spb = rules.steps, rules.steps_per_bar
    n_lines = len(offsets) - 1
    n_bars = np.diff(offsets) // spb
    n_win = np.maximum(0, (n_bars - rules.bars) // rules.stride_bars + 1)
    n_win[n_bars < rules.bars] = 0
    empty = (np.zeros((0, W, 1), tokens.dtype), np.zeros(0, np.int64), np.zeros(0, np.int64))
    total = int(n_win.sum())
    if not total:
        return empty
    line = np.repeat(np.arange(n_lines), n_win)
    first_win = np.cumsum(n_win) - n_win
    bar = (np.arange(total) - first_win[line]) * rules.stride_bars
    s = offsets[line] + bar * spb  # window starts in the concatenated lines

    L = len(tokens)
    idx = np.arange(L)
    onset = np.asarray(stream.onsets(tokens), bool)
    # sounding as MelodyStream.sounding, without resetting at line starts: before a line's first event
    # the value is never read (only steps at or after an onset of the same window are)
    last_event = np.maximum.accumulate(np.where(tokens != 0, idx, -1)) if stream.pitched else idx
    sounding = (last_event >= 0) & onset[np.maximum(last_event, 0)] if stream.pitched else onset
    last_sound = np.maximum.accumulate(np.where(sounding, idx, -1))
    limit = rules.max_rest_bars * spb
    bad = (idx - last_sound) > limit  # a silent run longer than the limit ends here
    cum_bad = np.zeros(L + 1, np.int64)
    np.cumsum(bad, out=cum_bad[1:])
    nxt = np.minimum.accumulate(np.where(onset, idx, L)[::-1])[::-1]  # first onset at or after each step
    f = nxt[s]
    ok = f < s + W
    f = np.minimum(f, s + W)
    ok &= ~((f - s) > limit) & (cum_bad[s + W] - cum_bad[f] == 0)
    if not ok.any():
        return empty
    s = s[ok]
    win = tokens[s[:, None] + np.arange(W)]  # (w, W), a copy
    stream.canonicalize_cut(win)  # a note-off whose note began before the cut becomes a hold
    return win[:, :, None], line[ok], bar[ok]
