"""MusAE's latent analysis (Valenti et al., ECAI 2020, Figs. 3 and 5) as studies and a report.

Place in the flow: ``musicvae analyze`` -> a MusAE :class:`~musicvae.generation.TrainedModel`
+ held-out windows and their style labels (``musicvae prepare``) -> :func:`component_study`,
:func:`code_study` -> :func:`write_latent_report` -> ``OUT/report.md``, ``OUT/report.json``,
``OUT/components.png`` (heat map), ``OUT/pca.png`` (scatter).

* :func:`component_study` (Fig. 3): ``n`` samples decoded from each petal of the flower
  prior; for every attribute of :data:`~musicvae.music.attributes.ATTRIBUTES` the
  relative change (%) of the petal's mean against the mean over all petals' samples
  (:func:`~musicvae.music.attributes.relative_change`).
* :func:`code_study` (Fig. 5): codes of held-out windows projected on their first two
  principal components, coloured by label; and the nearest-component accuracy: the share
  of labelled windows whose code lies nearest (highest prior density,
  ``FlowerPrior.nearest_component``) to one of its labels' petals, overall and per label.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..generation.model import TrainedModel
from ..music.attributes import ATTRIBUTES, measure_many, relative_change
from .report import _f, _figure, _heat_map, _png, _scatter_by_label, _table, write_files
from .studies import ProgressFn, _decode, _finite, _Ticks

UNLABELLED = "(unlabelled)"
#: entries of :func:`code_study`'s result that are per-window arrays, left out of report.json
ARRAY_KEYS = ("points", "labels", "codes", "nearest")


def component_study(model: TrainedModel, n: int = 256, seed: int = 0, temperature: float = 0.5,
                    progress: ProgressFn = None) -> dict[str, Any]:
    """Per-petal attribute means of ``n`` decoded samples each, as % change vs. the mean over all petals."""
    prior = model.model.prior
    k_all = int(getattr(prior, "components", 0))
    if k_all == 0:
        return {"skipped": f"{model.name} has a Gaussian prior: there are no components to compare"}
    names_of: dict[int, list[str]] = {}
    for name, k in model.label_components.items():
        names_of.setdefault(int(k), []).append(name)
    ticks = _Ticks(progress, n * k_all)
    gen = torch.Generator(device=model.device)
    gen.manual_seed(int(seed))
    per: list[dict[str, np.ndarray]] = []
    for k in range(k_all):
        with torch.no_grad():
            z = prior.sample(n, torch.full((n,), k, dtype=torch.long, device=model.device), generator=gen)
        tokens = _decode(model, z.float().cpu().numpy(), temperature, seed + k, ticks)  # (n, T, K)
        per.append(measure_many(model.to_sequences(tokens), list(ATTRIBUTES)))
    cols = list(ATTRIBUTES)
    overall = {c: np.concatenate([p[c] for p in per]) for c in cols}
    change = [[_finite(100.0 * relative_change(overall[c], p[c])) for c in cols] for p in per]
    means = [[_finite(np.nanmean(p[c])) if np.isfinite(p[c]).any() else None for c in cols] for p in per]
    return {"n_per_component": int(n), "seed": int(seed), "temperature": float(temperature), "attributes": cols,
            "components": list(range(k_all)), "component_labels": {k: sorted(v) for k, v in sorted(names_of.items())},
            "relative_percent": change, "means": means,
            "global_means": [_finite(np.nanmean(overall[c])) if np.isfinite(overall[c]).any() else None for c in cols]}


def window_label_names(label_sets: np.ndarray | None, names: list[str]) -> list[str]:
    """Each window's first label name (``(unlabelled)`` when it has none)."""
    if label_sets is None:
        return []
    return [names[int(row[0])] if len(row) and row[0] >= 0 else UNLABELLED for row in label_sets]


def pca_2d(codes: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """``(n, Z)`` -> ``(n, 2)`` projection on the first two principal axes, and their explained variance ratios."""
    x = np.asarray(codes, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    var = s ** 2
    ratio = (var / var.sum()).tolist() if var.sum() > 0 else [0.0] * len(var)
    k = min(2, vt.shape[0])
    points = np.zeros((len(x), 2))
    points[:, :k] = x @ vt[:k].T
    return points, [float(r) for r in ratio[:2]]


def code_study(model: TrainedModel, tokens: np.ndarray, label_sets: np.ndarray | None,
               label_names: list[str]) -> dict[str, Any]:
    """PCA of held-out codes coloured by label, and nearest-component accuracy (overall and per label).

    ``label_sets`` ``(n, M)`` are ids into ``label_names`` (the data's names); a name the
    model was not trained with counts as unlabelled for the accuracy.
    """
    codes = model.token_codes(np.asarray(tokens, dtype=np.int64))  # (n, Z)
    points, ratio = pca_2d(codes)
    res: dict[str, Any] = {"n": int(len(codes)), "explained_variance_ratio": ratio,
                           "labels": window_label_names(label_sets, label_names),
                           "points": points, "codes": codes}  # arrays: plotted or reused, not in report.json
    prior = model.model.prior
    if label_sets is None or not model.label_components or not hasattr(prior, "nearest_component"):
        res["nearest_component"] = {"skipped": "needs a MusAE model with the mixture prior and labelled data"}
        return res
    with torch.no_grad():
        nearest = prior.nearest_component(torch.as_tensor(codes, device=model.device)).cpu().numpy()  # (n,)
    table = np.array([model.label_components.get(n, -1) for n in label_names] + [-1], dtype=np.int64)
    petal_sets = table[np.asarray(label_sets, dtype=np.int64)]  # (n, M), -1 = unknown / none
    labelled = (petal_sets >= 0).any(axis=1)
    res["nearest"] = nearest  # (n,) each code's component, not in report.json
    hit = (petal_sets == nearest[:, None]).any(axis=1)
    per_label = {}
    for lid, name in enumerate(label_names):
        mine = (np.asarray(label_sets) == lid).any(axis=1) & (table[lid] >= 0)
        if mine.any():
            per_label[name] = {"windows": int(mine.sum()), "component": int(table[lid]),
                               "accuracy": float((nearest[mine] == table[lid]).mean())}
    components = int(prior.components)
    res["nearest_component"] = {
        "accuracy": float(hit[labelled].mean()) if labelled.any() else None,
        "labelled_windows": int(labelled.sum()),
        "chance": float(np.mean([len(set(r[r >= 0].tolist())) / components for r in petal_sets[labelled]]))
        if labelled.any() else None,
        "per_label": per_label}
    return res


# ------------------------------------------------------------------ report
def plot_components(res: dict) -> bytes:
    """Fig. 3: heat map, rows = petals (with their labels), columns = attributes, % change vs. all petals."""
    cols, rows = res["attributes"], res["components"]
    names = {int(k): v for k, v in res["component_labels"].items()}
    fig = _figure(1.5 + 0.85 * len(cols), 1.0 + 0.28 * len(rows))
    rows = [f"{k} {', '.join(names.get(k, []))}".strip() for k in rows]
    title = "Attribute change per prior component vs. all components (%)"
    _heat_map(fig, res["relative_percent"], cols, rows, ("attribute", "component (labels)", title), 7,
              aspect="auto")
    return _png(fig)


def plot_pca(res: dict) -> bytes:
    """Fig. 5: held-out codes on their first two principal components, one colour per label."""
    fig = _figure(6.5, 5)
    ax = fig.add_subplot(1, 1, 1)
    r = res["explained_variance_ratio"] + [0.0, 0.0]
    ax.set_xlabel(f"PC 1 ({100 * r[0]:.0f} % of variance)")
    ax.set_ylabel(f"PC 2 ({100 * r[1]:.0f} % of variance)")
    ax.set_title("Held-out codes (PCA), coloured by label", fontsize=10)
    _scatter_by_label(ax, res["points"], res["labels"], UNLABELLED, 6, 0.6)
    return _png(fig)


def render_markdown(results: dict, meta: dict) -> str:
    lines = [f"# Latent analysis of {meta['model']}", "",
             f"- model: {meta['model']} (MusAE, {meta.get('prior', '?')} prior, {meta.get('bars', '?')}-bar "
             f"{meta.get('kind', '?')}, z {meta.get('z_size', '?')})",
             f"- data: {meta['data']} (eval split: {meta.get('n_used', '?')} windows used)",
             f"- seed: {meta['seed']}", f"- date: {meta['date']}", ""]
    comp = results["components"]
    lines += ["## Attributes per prior component (MusAE Fig. 3)", ""]
    if "skipped" in comp:
        lines += [f"Skipped: {comp['skipped']}", ""]
    else:
        lines += [f"{comp['n_per_component']} samples per component at temperature {comp['temperature']}; relative "
                  "change (%) of each attribute's mean against its mean over all components' samples.", ""]
        names = {int(k): ", ".join(v) for k, v in comp["component_labels"].items()}
        lines += _table(["component", "labels", *comp["attributes"]],
                        [[str(k), names.get(k, ""), *(_f(v, 1) for v in row)]
                         for k, row in zip(comp["components"], comp["relative_percent"])])
        lines += ["![attributes per component](components.png)", ""]
    codes = results["codes"]
    lines += ["## Held-out codes (MusAE Fig. 5)", "",
              f"{codes['n']} held-out windows encoded; PCA explains "
              f"{', '.join(f'{100 * r:.1f} %' for r in codes['explained_variance_ratio'])} of the variance.", "",
              "![PCA of codes](pca.png)", ""]
    nc = codes["nearest_component"]
    if "skipped" in nc:
        lines += [f"Nearest-component accuracy skipped: {nc['skipped']}.", ""]
    else:
        lines += [f"Nearest-component accuracy (code nearest, by prior density, to one of its labels' components): "
                  f"**{_f(nc['accuracy'])}** over {nc['labelled_windows']} labelled windows "
                  f"(chance {_f(nc['chance'])}).", ""]
        lines += _table(["label", "component", "windows", "accuracy"],
                        [[name, str(v["component"]), str(v["windows"]), _f(v["accuracy"])]
                         for name, v in nc["per_label"].items()])
    return "\n".join(lines)


def write_latent_report(out: str | os.PathLike, results: dict, meta: dict) -> list[Path]:
    """``report.md``, ``report.json`` (without the scatter's points) and the two plots."""
    comp = results["components"]
    images = {"components.png": None if "skipped" in comp else plot_components(comp),
              "pca.png": plot_pca(results["codes"])}
    codes = {k: v for k, v in results["codes"].items() if k not in ARRAY_KEYS}
    return write_files(out, images, {"meta": meta, **results, "codes": codes}, render_markdown(results, meta))
