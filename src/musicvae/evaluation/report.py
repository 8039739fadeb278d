"""Write the results of :mod:`.studies` as a report: ``report.md``, ``report.json`` and PNG plots.

Place in the flow: ``musicvae evaluate`` -> :mod:`.studies` (dicts of figures) ->
:func:`write_report` -> ``OUT/report.md`` (tables, plots embedded by relative path),
``OUT/report.json`` (every number; NaN and infinity written as ``null``) and
``OUT/*.png`` (matplotlib's Agg renderer, no pyplot state, no screen needed).

Every file is written atomically (temp file in the same folder, then ``os.replace``), so
an interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..training.losses import upgrade_accuracy_names
from ..utils.io import atomic_write_bytes, atomic_write_json

#: ICML 2018 Table 1 (teacher-forced, sampled), flat / hierarchical decoders (see /work/shared/FACTS.md)
PAPER_TABLE1: dict[tuple[str, int, str], tuple[float, float]] = {
    ("melody", 2, "flat"): (0.986, 0.951),
    ("drums", 2, "flat"): (0.979, 0.917),
    ("melody", 16, "flat"): (0.883, 0.620),
    ("melody", 16, "hierarchical"): (0.919, 0.812),
    ("drums", 16, "flat"): (0.884, 0.549),
    ("drums", 16, "hierarchical"): (0.928, 0.879),
}
DATA_NOTE = ("Our data differs from the paper's (a large collection of MIDI files from the web for its Table 1, "
             "Lakh MIDI for its Table 2), so these figures are not directly comparable with the paper's.")
DPI = 100


# ------------------------------------------------------------------- helpers
def jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, NaN and +-inf to ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _heat_map(fig, values: list[list[float | None]], cols: list[str], rows: list[str],
              labels: tuple[str, str, str], row_fontsize: float, **imshow):
    """Percent changes as a red-blue heat map, clipped at the 95th percentile of their magnitude; ``labels``:
    x, y and title. Returns the axes, the values (NaN for None), the clipped values and the clip."""
    from matplotlib.colors import TwoSlopeNorm

    m = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=np.float64)
    ax = fig.add_subplot(1, 1, 1)
    finite = np.abs(m[np.isfinite(m)])
    lim = float(max(np.percentile(finite, 95) if len(finite) else 1.0, 1e-6))
    shown = np.clip(m, -lim, lim)
    image = ax.imshow(np.ma.masked_invalid(shown), cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim), **imshow)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=row_fontsize)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(labels[2], fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax, m, shown, lim


def _scatter_by_label(ax, points, labels: list[str], unknown: str, size: float, alpha: float) -> None:
    """2-D points, one colour per label (``unknown`` in grey, listed last), counts in the legend."""
    pts = np.asarray(points)
    labels = labels or ["all"] * len(pts)
    for name in sorted(set(labels), key=lambda s: (s == unknown, s)):
        sel = np.array([lab == name for lab in labels])
        ax.scatter(*pts[sel].T, s=size, alpha=alpha, color="lightgrey" if name == unknown else None,
                   label=f"{name or '(root)'} ({int(sel.sum())})")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.grid(alpha=0.3)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    finally:
        fig.clear()
    return buf.getvalue()


# --------------------------------------------------------------------- plots
def plot_reconstruction(res: dict) -> bytes | None:
    """Accuracy per bar (multi-bar models), one line per decoding mode."""
    if "per_bar" not in res:
        return None
    fig = _figure(6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    labels = {"tf": "teacher-forced", "sampled": "sampled (magenta)", "free_running": "free-running (T=1)",
              "argmax": "argmax"}
    for key, values in res["per_bar"].items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=labels.get(key, key))
    ax.set_xlabel("bar")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Reconstruction accuracy per bar")
    return _png(fig)


def plot_interpolation(res: dict) -> bytes:
    """Fig. 3: Hamming distance to A and relative 5-gram cost vs. alpha."""
    fig = _figure(10, 3.8)
    alphas = res["alphas"]
    names = {"latent": "latent (slerp)", "data": "data (Bernoulli mix)"}
    for i, (key, title) in enumerate((("hamming_to_a", "Hamming distance to A"),
                                      ("relative_cost", "Relative 5-gram cost"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for curve, style in (("latent", "-o"), ("data", "--s")):
            ax.plot(alphas, [np.nan if v is None else v for v in res[curve][key]], style, label=names[curve], ms=4)
        if key == "relative_cost":
            ax.axhline(1.0, color="grey", lw=0.6)
        ax.set_xlabel("interpolation amount α")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def plot_attributes(res: dict, key: str = "plus_percent") -> bytes:
    """Fig. 4: square heat map, rows = vector added, columns = attribute measured, percent change."""
    rows, cols = res["vectors"], res["attributes"]
    fig = _figure(1.2 + 0.85 * len(cols), 1.2 + 0.75 * len(rows))
    labels = [f"+ {r}" if key == "plus_percent" else f"− {r}" for r in rows]
    texts = ("attribute measured", "vector applied", "Mean relative change of attributes (%)")
    ax, m, shown, lim = _heat_map(fig, res[key], cols, labels, texts, 8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = m[i, j]
            text = "n/a" if np.isnan(v) else ("∞" if np.isinf(v) else f"{v:.0f}")
            dark = np.isfinite(v) and abs(shown[i, j]) > 0.6 * lim
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    return _png(fig)


def plot_samples(res: dict) -> bytes:
    """Normalised difference of each attribute's mean: prior samples vs. held-out data."""
    names = list(res["attributes"])
    diffs = [res["attributes"][n]["normalised_difference"] for n in names]
    fig = _figure(6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    values = [0.0 if d is None else d for d in diffs]
    ax.bar(range(len(names)), values, color=["#c44e52" if v > 0 else "#4c72b0" for v in values])
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("(mean samples − mean data) / std data")
    ax.set_title("Prior samples vs. held-out data", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# ------------------------------------------------------------------ markdown
_COL = {"tf": "teacher-forced", "sampled": "sampled (magenta)", "free_running": "free-running", "argmax": "argmax"}


def _md_reconstruction(res: dict, meta: dict) -> list[str]:
    res = upgrade_accuracy_names(res)
    how = ("sampled = magenta's definition, the argmax at each step while the decoder is fed its own "
           "temperature-1 samples (each segment of a hierarchical decoder starts from the true previous token), "
           "the figure the paper's sampled column reports; free-running = the temperature-1 samples themselves "
           "scored against the data; argmax = temperature 0; all from the posterior sample z"
           if res.get("has_latent", True) else
           "a language model (no z, KL 0): sampled = magenta's definition (argmax while fed its own "
           "temperature-1 samples); free-running = those samples scored; argmax = temperature 0")
    lines = ["## Reconstruction (ICML 2018 Table 1)", "",
             f"{res['n']} held-out windows; {how}; ELBO in nats per sequence.", ""]
    kinds = [k for k in ("tf", "sampled", "free_running", "argmax") if f"{k}_accuracy" in res]
    names = {"tf": "teacher-forced accuracy", "sampled": "sampled accuracy (magenta's definition)",
             "free_running": "free-running accuracy (T=1 samples)", "argmax": "argmax accuracy"}
    rows = [[names[k], _f(res[f"{k}_accuracy"])] for k in kinds]
    rows += [["KL (nats)", _f(res["kl_nats"], 2)],
             ["KL (bits)", _f(res["kl_bits"], 2)], ["reconstruction loss (nats)", _f(res["r_loss_nats"], 2)],
             ["ELBO (nats per sequence)", _f(res["elbo_nats"], 2)]]
    lines += _table(["metric", "value"], rows)
    ref = PAPER_TABLE1.get((meta.get("kind", ""), int(meta.get("bars", 0)), res.get("decoder", "flat")))
    if ref:
        lines += [f"Paper (Table 1, {meta['bars']}-bar {meta['kind']}, {res.get('decoder', 'flat')} decoder): "
                  f"teacher-forced {ref[0]:.3f} / sampled {ref[1]:.3f}.", ""]
    else:
        lines += ["Paper reference (Table 1, 2-bar melody, flat model): teacher-forced 0.986 / sampled 0.951; "
                  "no row matches this model exactly.", ""]
    if "per_stream" in res:
        names = list(res["per_stream"]["tf"])
        lines += ["Per instrument:", ""]
        ks = [k for k in ("tf", "sampled", "free_running", "argmax") if k in res["per_stream"]]
        lines += _table(["stream", *(_COL[k] for k in ks)],
                        [[s, *(_f(res["per_stream"][k][s]) for k in ks)] for s in names])
    if "per_bar" in res:
        pb = res["per_bar"]
        lines += ["Per bar:", ""]
        ks = [k for k in ("tf", "sampled", "free_running", "argmax") if k in pb]
        lines += _table(["bar", *(_COL[k] for k in ks)],
                        [[str(i + 1), *(_f(pb[k][i]) for k in ks)] for i in range(len(pb["tf"]))])
        lines += ["![accuracy per bar](reconstruction.png)", ""]
    return lines


def _md_interpolation(res: dict) -> list[str]:
    lm = res.get("lm", {})
    lines = ["## Interpolation (ICML 2018 Fig. 3)", "",
             f"{res['n_pairs']} pairs (A, B) of distinct held-out windows. Latent: slerp between posterior means, "
             f"decoded at temperature {res['temperature']}. Data: each step takes B's tokens with probability α. "
             "Relative cost = C_α / (α C_B + (1 − α) C_A), with C_A, C_B the 5-gram costs of the data windows "
             "A and B "
             "(so the latent curve's endpoints measure its reconstructions).",
             f"The {lm.get('order', 5)}-gram model was fitted on {lm.get('train_windows', '?'):,} of the "
             f"{lm.get('train_windows_total', '?'):,} training windows"
             + (f" (a random subset, limit {lm.get('limit'):,})" if lm.get("subset") else "") + ".",
             f"Mean Hamming distance between A and B: {_f(res['hamming_a_b'])}.", ""]
    rows = [[f"{a:.1f}", _f(res["latent"]["hamming_to_a"][i]), _f(res["data"]["hamming_to_a"][i]),
             _f(res["latent"]["relative_cost"][i]), _f(res["data"]["relative_cost"][i])]
            for i, a in enumerate(res["alphas"])]
    lines += _table(["α", "Hamming to A (latent)", "Hamming to A (data)", "rel. 5-gram cost (latent)",
                     "rel. 5-gram cost (data)"], rows)
    return lines + ["![interpolation](interpolation.png)", ""]


def _md_attributes(res: dict) -> list[str]:
    lines = ["## Attribute vectors (ICML 2018 Fig. 4)", "",
             f"{res['n']} prior samples at temperature {res['temperature']}; each attribute vector "
             f"({res.get('source', 'model')}) added (+) or subtracted (−) with amount {res['amount']}; "
             "mean relative change of each measured attribute in percent (rows: vector applied, "
             "columns: attribute measured; n/a where undefined, ±inf where the base mean is 0).", ""]
    for key, sign in (("plus_percent", "+"), ("minus_percent", "−")):
        lines += [f"Vector {'added' if sign == '+' else 'subtracted'} ({sign}):", ""]
        lines += _table(["vector", *res["attributes"]],
                        [[f"{sign} {name}", *(_f(v, 1) for v in row)] for name, row in zip(res["vectors"], res[key])])
    return lines + ["![attribute vectors](attributes.png)", ""]


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def _md_samples(res: dict) -> list[str]:
    prior = f" (prior: {res['prior']})" if res.get("prior") else ""
    lines = ["## Prior samples vs. data", "",
             f"{res['n_samples']} prior samples{prior} at temperature {res['temperature']} vs. {res['n_data']} held-out "
             "windows; normalised difference = (mean samples − mean data) / std data; W1 = 1-D Wasserstein "
             "distance in the attribute's unit (÷ std data in brackets); out of range = share of samples outside "
             "the data's 0.1–99.9 percentile range.", ""]
    if "ood_rate" in res:
        lines += [f"- **out-of-distribution rate: {_pct(res['ood_rate'])}** (samples out of range in any of "
                  f"{', '.join(res.get('ood_attributes', []))}; held-out data against itself: "
                  f"{_pct(res.get('ood_rate_data'))})"]
        if "melodic_outlier_rate" in res:
            lines += [f"- melodic outliers (range > 24 semitones or average leap > 7): "
                      f"{_pct(res['melodic_outlier_rate'])} (data {_pct(res.get('melodic_outlier_rate_data'))})"]
        if res.get("relative_5gram_cost") is not None:
            lines += [f"- relative 5-gram cost (samples / data): {res['relative_5gram_cost']:.3f} "
                      f"({res['cost_nats_samples']:.3f} / {res['cost_nats_data']:.3f} nats per step)"]
        lines += [f"- diversity: {_pct(res.get('unique_fraction'))} distinct samples; mean Hamming distance between "
                  f"two samples {_f(res.get('mean_pairwise_hamming'))} (data {_f(res.get('mean_pairwise_hamming_data'))})",
                  ""]
    rows = []
    for name, a in res["attributes"].items():
        s, d = a["samples"], a["data"]
        w, wstd = a.get("wasserstein"), a.get("wasserstein_per_std")
        rows.append([name, f"{_f(s['mean'])} ± {_f(s['std'])}", f"{_f(d['mean'])} ± {_f(d['std'])}",
                     _f(a["normalised_difference"], 2), f"{_f(w)} ({_f(wstd, 2)})", _pct(a.get("out_of_range_rate"))])
    lines += _table(["attribute", "samples mean ± std", "data mean ± std", "normalised difference", "W1 (÷ std)",
                     "out of range"], rows)
    return lines + ["![prior samples vs data](samples.png)", ""]


def render_markdown(results: dict, meta: dict) -> str:
    """The text of ``report.md`` from :func:`write_report`'s inputs."""
    lines = [f"# Evaluation of {meta['model']}", "",
             f"- model: {meta['model']} ({meta.get('bars', '?')}-bar {meta.get('kind', '?')}, "
             f"{meta.get('decoder', '?')} decoder, z {meta.get('z_size', '?')})",
             f"- data: {meta['data']} (eval split: {meta.get('eval_windows', '?')} windows)",
             f"- n used: {meta['n_used']} (requested {meta['n_requested']})",
             f"- seed: {meta['seed']}", f"- date: {meta['date']}",
             f"- studies: {', '.join(meta['studies'])}", "", f"> {DATA_NOTE}", ""]
    writers = {"reconstruction": lambda r: _md_reconstruction(r, meta), "interpolation": _md_interpolation,
               "attributes": _md_attributes, "samples": _md_samples}
    for name in meta["studies"]:
        res = results.get(name, {})
        if "skipped" in res:
            lines += [f"## {name.capitalize()}", "", f"Skipped: {res['skipped']}", ""]
        elif name in results:
            lines += writers[name](res)
            if "seconds" in res:
                lines += [f"_({res['seconds']:.1f} s)_", ""]
    return "\n".join(lines)


def write_files(out: str | os.PathLike, images: dict[str, bytes | None], report: dict,
                markdown: str) -> list[Path]:
    """``out/NAME`` of each image (those not None), ``report.json`` (:func:`jsonable`) and ``report.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [atomic_write_bytes(out / name, png) for name, png in images.items() if png is not None]
    written.append(atomic_write_json(out / "report.json", jsonable(report)))
    written.append(atomic_write_bytes(out / "report.md", markdown.encode("utf-8")))
    return written


def write_report(out: str | os.PathLike, results: dict, meta: dict) -> list[Path]:
    """Write ``report.md``, ``report.json`` and the plots into ``out``; returns the files written."""
    plots = {"reconstruction": plot_reconstruction, "interpolation": plot_interpolation,
             "attributes": plot_attributes, "samples": plot_samples}
    images = {f"{name}.png": plot(results[name]) for name, plot in plots.items()
              if results.get(name) and "skipped" not in results[name]}
    return write_files(out, images, {"meta": meta, **results}, render_markdown(results, meta))
