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
