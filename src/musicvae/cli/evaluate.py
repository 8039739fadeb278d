"""The ``musicvae evaluate`` command: the MusicVAE paper's evaluation studies as a report.

Place in the flow: a trained model (bundled, exported, run or checkpoint dir) + a folder
written by ``musicvae prepare`` -> :mod:`musicvae.evaluation.studies` ->
:mod:`musicvae.evaluation.report` -> ``OUT/report.md``, ``OUT/report.json``, ``OUT/*.png``.

Errors the user can fix (a missing or empty data folder, data of another kind or length
than the model, an unknown study) are one line naming the file and the reason, exit 2.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from .common import MODEL_HELP, app, check_data, console, fail, load_split, progress_bar, user_errors

ATTRIBUTE_LIMIT = 2048  # training windows used to compute attribute vectors a model lacks


def _parse_studies(text: str) -> list[str]:
    from ..evaluation.studies import STUDIES

    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in STUDIES]
    if unknown or not names:
        fail(f"--studies: unknown study {', '.join(map(repr, unknown)) or 'list (empty)'}; "
             f"choose from {', '.join(STUDIES)}")
    return [s for s in STUDIES if s in names]  # the report's order



@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP + " Checkpoint dirs too."),
    data: Path = typer.Option(..., "--data", help="Folder written by `musicvae prepare` (its eval split is scored)."),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (report.md, report.json, PNG plots)."),
    studies: str = typer.Option("reconstruction,interpolation,attributes,samples", "--studies",
                                help="Comma-separated: reconstruction, interpolation, attributes, samples."),
    n: int = typer.Option(1024, "--n", "-n", min=2, help="Held-out windows (and interpolation pairs, samples)."),
    prior: Optional[str] = typer.Option(None, "--prior", help="samples study: fitted or standard (N(0, I)); "
                                        "default: the model's fitted prior when it has one."),
    temperature: Optional[float] = typer.Option(
        None, "--temperature", "-t", min=0.0, max=10.0,
        help="Decoding temperature of the interpolation, attributes and samples studies (reconstruction reports its "
             "fixed ones: 1 for the sampled figures, 0 for argmax); default: the model's own, as `sample` uses, else "
             "0.5. Low temperatures sharpen toward held notes: sparser melodies."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Random seed (same seed, same report)."),
) -> None:
    """Score a model as in the MusicVAE paper: reconstruction, interpolation, attribute vectors, samples."""
    import numpy as np

    from ..evaluation import studies as st
    from ..evaluation.report import write_report
    from ..generation import TrainedModel

    chosen = _parse_studies(studies)
    with user_errors():
        m = TrainedModel.load(model)
        temperature = m.temperature_or_default(temperature)
        ds = check_data(data, m)
        total = len(ds)
        if n > total:
            console.print(f"[yellow]warning:[/] --n {n} is more than the {total} held-out windows in {data}; "
                          f"using n={total}", highlight=False)
        idx = st.select_windows(total, n, seed)
        tokens = np.asarray(ds.tokens[idx], dtype=np.int64)  # (n_used, T, K)
        meta = {"model": m.name, "data": str(data), "n_requested": n, "n_used": len(idx), "seed": seed,
                "temperature": temperature,
                "date": datetime.now().astimezone().isoformat(timespec="seconds"), "studies": chosen,
                "kind": m.kind, "bars": m.bars, "steps": m.steps, "z_size": m.z_size,
                "decoder": m.config.model.decoder, "eval_windows": total}
        train = None
        results: dict = {}
        with progress_bar("evaluate") as bar:
            for name in chosen:
                task = bar.add_task(name, total=None)

                def progress(done: int, todo: int, task=task) -> None:
                    bar.update(task, completed=done, total=todo)

                t0 = time.perf_counter()
                if name != "reconstruction" and name != "samples" and not m.has_latent:
                    results[name] = {"skipped": f"{m.name} is a language model: it has no latent space"}
                elif name == "reconstruction":
                    results[name] = st.reconstruction_study(m, tokens, seed, progress=progress)
                elif name == "interpolation":
                    if len(tokens) < 2:
                        results[name] = {"skipped": "needs at least 2 held-out windows"}
                    else:
                        train = train if train is not None else load_split(data, "train")
                        if len(train) == 0:
                            results[name] = {"skipped": "the train split is empty: no data for the 5-gram model"}
                        else:
                            bar.update(task, description=f"{name} (fitting the 5-gram model)")
                            lm, used = st.fit_lm(train.tokens, m.model.vocab_sizes, seed)
                            bar.update(task, description=name)
                            res = st.interpolation_study(m, tokens, lm, len(tokens), seed, progress=progress,
                                                         temperature=temperature)
                            res["lm"] = {"order": st.LM_ORDER, "train_windows": used, "train_windows_total": len(train),
                                         "limit": st.LM_LIMIT, "subset": used < len(train)}
                            results[name] = res
                elif name == "attributes":
                    vectors, source = dict(m.attributes), "the model's own vectors"
                    if not vectors:
                        train = train if train is not None else load_split(data, "train")
                        if len(train):
                            bar.update(task, description=f"{name} (computing vectors)")
                            # the windows `musicvae export --attributes-from` would use
                            pick = np.sort(np.random.default_rng(seed).permutation(len(train))[:ATTRIBUTE_LIMIT])
                            vectors, skipped = st.attribute_vectors(m, train.tokens[pick])
                            for attr, why in skipped.items():
                                bar.console.print(f"[yellow]no vector[/] for {attr}: {why}", highlight=False)
                            bar.update(task, description=name)
                            source = f"computed from {len(pick)} training windows"
                    if not vectors:
                        results[name] = {"skipped": f"{m.name} has no attribute vectors and none could be computed "
                                                    f"from {data}"}
                    else:
                        res = st.attribute_study(m, vectors, min(256, len(tokens)), seed, progress=progress,
                                                 temperature=temperature)
                        res["source"] = source
                        results[name] = res
                else:
                    lm = None
                    train = train if train is not None else load_split(data, "train")
                    if len(train):
                        bar.update(task, description=f"{name} (fitting the 5-gram model)")
                        lm, _ = st.fit_lm(train.tokens, m.model.vocab_sizes, seed)
                        bar.update(task, description=name)
                    results[name] = st.samples_study(m, tokens, len(tokens), seed, progress=progress, lm=lm,
                                                     prior=prior, temperature=temperature)
                if "skipped" in results[name]:
                    bar.update(task, description=f"{name} (skipped)", total=1, completed=1)
                results[name]["seconds"] = round(time.perf_counter() - t0, 2)
        write_report(out, results, meta)
    _summary(results, out)


def _summary(results: dict, out: Path) -> None:
    """The headline figures, one line per study."""
    import numpy as np

    r = results.get("reconstruction")
    if r and "skipped" not in r:
        console.print(f"reconstruction: teacher-forced {r['tf_accuracy']:.3f}, sampled (magenta) "
                      f"{r['sampled_accuracy']:.3f}, free-running {r['free_running_accuracy']:.3f}, "
                      f"argmax {r['argmax_accuracy']:.3f}, KL {r['kl_bits']:.1f} bits, ELBO {r['elbo_nats']:.1f} nats",
                      highlight=False)
    r = results.get("interpolation")
    if r and "skipped" not in r:
        mid, lat, dat = len(r["alphas"]) // 2, r["latent"], r["data"]
        console.print(f"interpolation (α={r['alphas'][mid]:.1f}): Hamming to A latent {lat['hamming_to_a'][mid]:.3f} "
                      f"/ data {dat['hamming_to_a'][mid]:.3f}; relative 5-gram cost latent "
                      f"{lat['relative_cost'][mid]:.3f} / data {dat['relative_cost'][mid]:.3f}", highlight=False)
    r = results.get("attributes")
    if r and "skipped" not in r:
        cols = r["attributes"]
        diag = [row[cols.index(v)] for v, row in zip(r["vectors"], r["plus_percent"]) if v in cols]
        diag = [d for d in diag if d is not None]
        if diag:
            console.print(f"attributes: adding a vector changes its own attribute by {np.mean(diag):+.0f} % on average",
                          highlight=False)
    r = results.get("samples")
    if r and "skipped" not in r and r.get("ood_rate") is not None:
        cost = r.get("relative_5gram_cost")
        console.print(f"samples ({r.get('prior') or 'language model'} prior, T={r['temperature']}): out-of-distribution "
                      f"{100 * r['ood_rate']:.1f} % (data {100 * (r.get('ood_rate_data') or 0):.1f} %)"
                      + (f", relative 5-gram cost {cost:.3f}" if cost is not None else ""), highlight=False)
    for name, res in results.items():
        if "skipped" in res:
            console.print(f"[yellow]skipped[/] {name}: {res['skipped']}", highlight=False)
    console.print(f"[green]wrote[/] {out}/report.md, report.json and plots", highlight=False)
