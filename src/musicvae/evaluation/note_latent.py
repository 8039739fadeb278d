"""Latent analysis of a note-level VAE or VRASH (Tikhonov & Yamshchikov 2017, Fig. 6) as a report.

Place in the flow: ``musicvae analyze`` -> a latent :class:`~musicvae.generation.notes.NoteModel`
(``vae-notes``/``vrash-notes`` runs) + held-out tracks of a ``prepare --kind notes`` folder
(:class:`~musicvae.training.notes.NoteSequenceSet`) -> :func:`note_code_study` ->
:func:`write_note_report` -> ``OUT/report.md``, ``OUT/report.json``, ``OUT/latent_map.png``
(t-SNE when scikit-learn is importable, else PCA: :func:`~.note_plots.latent_map`) and
``OUT/pca.png`` (always PCA).

Separability: the leave-one-out nearest-centroid accuracy of the tracks' collections in the
latent space (posterior means; each track is left out of its own collection's centroid),
over the tracks of a known collection, against the majority-class rate (the accuracy of
always answering the largest collection).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .latent_analysis import pca_2d
from .note_plots import UNKNOWN, latent_map, plot_latent_map
from .report import _f, _table, write_files


def nearest_centroid(codes: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Leave-one-out nearest-centroid accuracy of ``labels`` (unknown ones left out) vs. the majority rate."""
    labels = list(labels)
    keep = np.array([lab != UNKNOWN for lab in labels], dtype=bool)
    names = sorted({lab for lab, k in zip(labels, keep) if k})
    if len(names) < 2:
        return {"skipped": f"needs tracks of at least two known collections, found {len(names)}"}
    x = np.asarray(codes, dtype=np.float64)[keep]  # (n, Z)
    y = np.array([names.index(lab) for lab, k in zip(labels, keep) if k])  # (n,)
    counts = np.bincount(y, minlength=len(names)).astype(np.float64)  # (C,)
    sums = np.zeros((len(names), x.shape[1]))
    np.add.at(sums, y, x)
    d = np.empty((len(x), len(names)))
    for c in range(len(names)):
        d[:, c] = ((x - sums[c] / counts[c]) ** 2).sum(axis=1)
    own = counts[y] - 1  # the own centroid without the track itself
    with np.errstate(invalid="ignore", divide="ignore"):
        own_centroid = (sums[y] - x) / own[:, None]
    d[np.arange(len(x)), y] = np.where(own > 0, ((x - own_centroid) ** 2).sum(axis=1), np.inf)
    hit = d.argmin(axis=1) == y
    return {"accuracy": float(hit.mean()), "majority_rate": float(counts.max() / counts.sum()),
            "majority": names[int(counts.argmax())], "tracks": int(len(x)),
            "per_collection": {n: {"tracks": int(counts[c]), "accuracy": float(hit[y == c].mean())}
                               for c, n in enumerate(names)}}


def note_code_study(model, events: Sequence[np.ndarray], meta: np.ndarray, seed: int = 0,
                    method: str = "auto") -> dict[str, Any]:
    """Posterior means of tracks, their 2-D map (``method``, see ``latent_map``) and PCA, by collection."""
    mu, _ = model.encode_events(list(events), np.asarray(meta))
    names = [model.collections[int(c)] if 0 <= int(c) < len(model.collections) else UNKNOWN
             for c in np.asarray(meta).reshape(-1, 2)[:, 1]]
    points, used, details = latent_map(mu, method=method, seed=seed)
    pca, ratio = pca_2d(mu)
    return {"n": int(len(mu)), "projection": used, **details, "pca_explained_variance_ratio": ratio,
            "collections": {n: names.count(n) for n in sorted(set(names))},
            "nearest_centroid": nearest_centroid(mu, names),
            "labels": names, "points": points, "pca_points": pca}  # labels and points: plotted, not written


def render_note_markdown(res: dict, meta: dict) -> str:
    lines = [f"# Latent analysis of {meta['model']}", "",
             f"- model: {meta['model']} (note-level {meta.get('family', '?')}, z {meta.get('z_size', '?')})",
             f"- data: {meta['data']} (eval split: {meta.get('n_used', '?')} of {meta.get('eval_tracks', '?')} "
             f"tracks used)", f"- seed: {meta['seed']}", f"- date: {meta['date']}", "",
             f"## Held-out codes by collection ({res['projection']})", "",
             f"Posterior means of {res['n']} held-out tracks, {res['projection']} to 2-D"
             + ((" (fewer than 5 tracks" if res["n"] < 5 else " (scikit-learn is not installed")
                + ", so PCA instead of t-SNE)" if res["projection"] == "PCA" else "")
             + ", coloured by collection.", "", "![latent map](latent_map.png)", "",
             f"PCA (always): the first two components explain "
             f"{', '.join(f'{100 * r:.1f} %' for r in res['pca_explained_variance_ratio'])} of the variance.", "",
             "![PCA of codes](pca.png)", ""]
    lines += _table(["collection", "tracks"], [[n, str(k)] for n, k in res["collections"].items()])
    nc = res["nearest_centroid"]
    lines += ["## Separability of collections", ""]
    if "skipped" in nc:
        lines += [f"Nearest-centroid accuracy skipped: {nc['skipped']}.", ""]
    else:
        lines += [f"Leave-one-out nearest-centroid accuracy of the collection in the latent space: "
                  f"**{_f(nc['accuracy'])}** over {nc['tracks']} tracks of a known collection, vs. the "
                  f"majority-class rate {_f(nc['majority_rate'])} (always `{nc['majority']}`).", ""]
        lines += _table(["collection", "tracks", "accuracy"],
                        [[n, str(v["tracks"]), _f(v["accuracy"])] for n, v in nc["per_collection"].items()])
    return "\n".join(lines)


def write_note_report(out: str | os.PathLike, res: dict, meta: dict) -> list[Path]:
    """``report.md``, ``report.json`` (without the points), ``latent_map.png`` and ``pca.png``."""
    title = f"{meta['model']}: held-out codes ({{}}), by collection"
    images = {"latent_map.png": plot_latent_map(res["points"], res["labels"], res["projection"],
                                                title.format(res["projection"])),
              "pca.png": plot_latent_map(res["pca_points"], res["labels"], "PCA", title.format("PCA"))}
    body = {k: v for k, v in res.items() if k not in ("points", "pca_points", "labels")}
    return write_files(out, images, {"meta": meta, "codes": body}, render_note_markdown(res, meta))
