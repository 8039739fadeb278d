"""Figures of the VRASH study: the pitch-entropy histogram of tracks (the paper's Fig. 1), a 2-D map
of track latents coloured by collection (Fig. 6), and bars of cross-entropy per note (Fig. 5).

Place in the flow: ``prepare --kind notes`` manifest (``tracks.pitch_entropy``) ->
:func:`entropy_histogram` -> :func:`plot_entropy_histogram`; VRASH codes
(``generation.notes.NoteModel.encode_events``) -> :func:`latent_map` -> :func:`plot_latent_map`;
``experiments/vrash_vs_lm.py`` writes them into its report. Figures are PNG bytes drawn with
:mod:`matplotlib`'s Agg canvas (no pyplot state, no screen).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .report import _figure, _png, _scatter_by_label

UNKNOWN = "<unknown>"


def entropy_histogram(manifest: dict) -> dict[str, Any]:
    """The pitch-entropy histogram a notes manifest holds: ``edges`` (bits), ``counts``, ``threshold``,
    and the tracks ``below`` the threshold among those counted. Raises ValueError for a manifest
    without one (not ``--kind notes``, or prepared before it was recorded)."""
    hist = (manifest.get("tracks") or {}).get("pitch_entropy")
    if not hist:
        raise ValueError("this manifest has no pitch-entropy histogram (prepare with --kind notes)")
    counts = np.asarray(hist["counts"], dtype=np.int64)
    width = float(hist["bin_bits"])
    edges = np.arange(len(counts) + 1) * width
    threshold = float(hist.get("threshold", 0.0))
    below = int(counts[: int(np.floor(threshold / width + 1e-9))].sum())
    return {"edges": edges.tolist(), "counts": counts.tolist(), "threshold": threshold, "tracks": int(counts.sum()),
            "below": below}


def plot_entropy_histogram(hist: dict, title: str = "Pitch entropy of the tracks") -> bytes:
    """Fig. 1: tracks per pitch-entropy bin (bits), the filter threshold as a dashed line."""
    edges, counts = np.asarray(hist["edges"]), np.asarray(hist["counts"])
    used = np.flatnonzero(counts)
    top = edges[min(len(counts), (used[-1] + 2) if len(used) else len(counts))]
    fig = _figure(6.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="tab:blue", alpha=0.8)
    if hist.get("threshold"):
        ax.axvline(hist["threshold"], color="tab:red", ls="--", lw=1.2,
                   label=f"threshold {hist['threshold']:g} bits ({hist['below']:,} of {hist['tracks']:,} tracks below)")
        ax.legend(fontsize=8)
    ax.set_xlim(0, max(float(top), float(hist.get("threshold", 0)) + 0.5))
    ax.set_xlabel("pitch entropy of a track (bits)")
    ax.set_ylabel("tracks")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def latent_map(codes: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str, dict]:
    """``(n, Z)`` codes -> ``(n, 2)`` points, the method used and its details.

    ``method``: ``tsne`` (scikit-learn's TSNE; perplexity ``min(30, (n - 1) / 3)``), ``pca``, or
    ``auto`` (t-SNE when scikit-learn is installed and n >= 5, else PCA; the result says which).
    """
    from .latent_analysis import pca_2d

    x = np.asarray(codes, dtype=np.float64)
    if method not in ("auto", "tsne", "pca"):
        raise ValueError(f"method must be auto, tsne or pca, not {method!r}")
    if method in ("auto", "tsne") and len(x) >= 5:
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            if method == "tsne":
                raise ValueError("t-SNE needs scikit-learn (pip install scikit-learn); use method='pca'") from None
        else:
            perplexity = float(min(30.0, (len(x) - 1) / 3.0))
            pts = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
            return np.asarray(pts), "t-SNE", {"perplexity": perplexity}
    elif method == "tsne":
        raise ValueError(f"t-SNE needs at least 5 codes, got {len(x)}")
    pts, ratio = pca_2d(x)
    return pts, "PCA", {"explained_variance_ratio": ratio}


def plot_latent_map(points: np.ndarray, labels: Sequence[str], method: str, title: str) -> bytes:
    """Fig. 6: one dot per track, one colour per collection (unknown in grey)."""
    fig = _figure(6.8, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    ax.set_title(title, fontsize=10)
    _scatter_by_label(ax, points, list(labels), UNKNOWN, 8, 0.7)
    return _png(fig)


def plot_cross_entropy(rows: dict[str, dict[str, float]], title: str, paper: dict[str, float] | None = None) -> bytes:
    """Fig. 5: held-out cross-entropy per note (nats) by model: ``ce`` and, for the VAEs, the KL ``bound``."""
    names = list(rows)
    fig = _figure(1.6 + 1.3 * len(names), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    xs = np.arange(len(names))
    ce = [rows[n]["ce"] for n in names]
    bound = [rows[n].get("bound", rows[n]["ce"]) for n in names]
    b1 = ax.bar(xs - 0.2, ce, 0.4, label="cross-entropy (z = posterior mean for the VAEs)")
    b2 = ax.bar(xs + 0.2, bound, 0.4, label="+ KL per note (bound of the NLL)", color="tab:orange")
    ax.bar_label(b1, fmt="%.2f", fontsize=7)
    ax.bar_label(b2, fmt="%.2f", fontsize=7)
    if paper:
        for i, n in enumerate(names):
            if n in paper:
                ax.plot([i - 0.4, i + 0.4], [paper[n]] * 2, color="black", ls=":", lw=1)
        ax.plot([], [], color="black", ls=":", label="paper (their data)")
    ax.set_xticks(xs)
    ax.set_xticklabels(names, fontsize=9)
    ax.set_ylabel("nats per note (held-out)")
    ax.set_ylim(0, max(bound + ce) * 1.25)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
