"""Plots shared by the paper experiment scripts (learning curves, grouped accuracy bars).

Place in the flow: run folders' ``metrics.jsonl`` (:func:`common.read_curve`) and study
results -> these functions -> PNG bytes -> :meth:`common.Experiment.write`. Figures are drawn
with :mod:`musicvae.evaluation.report`'s Agg helpers (no pyplot state, no screen needed).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from musicvae.evaluation.report import _figure, _png
from musicvae.training.losses import upgrade_accuracy_names


def plot_curves(curves: dict[str, dict], panels: Sequence[tuple[str, str, str]]) -> bytes:
    """Learning curves: one panel per ``(split, key, title)``, one line per run label.

    ``curves`` maps a label to :func:`common.read_curve`'s ``{"train": [...], "eval": [...]}``.
    """
    fig = _figure(4.2 * len(panels), 3.4)
    for i, (split, key, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for label, curve in curves.items():
            recs = [r for r in curve[split] if r.get(key) is not None]
            ax.plot([r["step"] for r in recs], [r[key] for r in recs], marker="o" if len(recs) < 40 else None,
                    ms=3, label=label)
        if "accuracy" in key or "prob" in key:
            ax.set_ylim(0, 1)
        ax.set_xlabel("step")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def bar_groups(ax, groups: dict[str, dict[str, float]], title: str, ylabel: str = "held-out accuracy") -> None:
    """Grouped bars on ``ax``: one group per outer key, one bar per inner key, values printed on top."""
    labels = list(groups)
    series = list(next(iter(groups.values())))
    width = 0.8 / len(series)
    for j, s in enumerate(series):
        xs = np.arange(len(labels)) + (j - (len(series) - 1) / 2) * width
        bars = ax.bar(xs, [groups[g][s] for g in labels], width, label=s)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=9)
    ax.set_ylim(0, 1.2)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", ncol=len(series), frameon=False)


def accuracy_groups(recs: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Reconstruction study results by label -> teacher-forced / sampled (magenta) / free-running / argmax.

    Results written before free-running accuracy had its own name lack magenta's sampled accuracy."""
    names = {"tf_accuracy": "teacher-forced", "sampled_accuracy": "sampled (magenta)",
             "free_running_accuracy": "free-running (T=1)", "argmax_accuracy": "argmax"}
    out = {}
    for label, r in recs.items():
        r = upgrade_accuracy_names(r)
        out[label] = {name: r[key] for key, name in names.items() if key in r}
    return out


def plot_bars(groups: dict[str, dict[str, float]], title: str) -> bytes:
    """:func:`bar_groups` as a figure of its own."""
    fig = _figure(6.5, 3.6)
    bar_groups(fig.add_subplot(1, 1, 1), groups, title)
    return _png(fig)
