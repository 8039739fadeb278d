"""The ``musicvae analyze`` command: MusAE's latent analysis as a report.

Place in the flow: a MusAE model (run, checkpoint or exported dir) + a folder written by
``musicvae prepare`` (its eval split and labels) -> :mod:`musicvae.evaluation.latent_analysis`
-> ``OUT/report.md``, ``OUT/report.json``, ``OUT/components.png``, ``OUT/pca.png``.

Errors the user can fix (not a MusAE model, data of another kind or length, an empty
eval split) are one line naming the file and the reason, exit 2.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import typer

from .evaluate import _check_data
from .generate import MODEL_HELP, _user_errors
from .main import app, console, err_console


@app.command()
def analyze(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP + " Must be a MusAE model."),
    data: Path = typer.Option(..., "--data", help="Folder written by `musicvae prepare` (its eval split is encoded)."),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (report.md, report.json, PNG plots)."),
    n: int = typer.Option(1024, "--n", "-n", min=2, help="Held-out windows to encode."),
    per_component: int = typer.Option(256, "--per-component", min=1, help="Samples decoded per prior component."),
    temperature: float = typer.Option(0.5, "--temperature", "-t", min=0.0, help="Decoding temperature of the samples."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same report)."),
) -> None:
    """MusAE latent analysis: attributes per prior component (heat map), PCA of codes by label, nearest-component accuracy."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..evaluation import latent_analysis as la
    from ..evaluation.studies import select_windows
    from ..generation import InputError, TrainedModel

    with _user_errors():
        m = TrainedModel.load(model)
        if m.family != "musae":
            raise InputError(f"{m.name}: a {m.family} model; analyze reads MusAE models (musicvae train --preset musae-...)")
        ds = _check_data(data, m)
        idx = select_windows(len(ds), n, seed)
        tokens = np.asarray(ds.tokens[idx], dtype=np.int64)  # (n_used, T, K)
        labels = ds.labels[idx] if ds.labels is not None else None
        meta = {"model": m.name, "data": str(data), "n_requested": n, "n_used": len(idx), "seed": seed,
                "date": datetime.now().astimezone().isoformat(timespec="seconds"), "kind": m.kind, "bars": m.bars,
                "z_size": m.z_size, "prior": m.config.model.prior, "data_labels": ds.label_names,
                "model_labels": m.label_components}
        with Progress(TextColumn("[bold]analyze[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err_console) as bar:
            task = bar.add_task("components", total=None)
            components = la.component_study(m, per_component, seed, temperature,
                                            progress=lambda done, todo: bar.update(task, completed=done, total=todo))
            bar.update(task, description="codes")
            codes = la.code_study(m, tokens, labels, ds.label_names)
        la.write_latent_report(out, {"components": components, "codes": codes}, meta)
    nc = codes["nearest_component"]
    if "skipped" in components:
        console.print(f"[yellow]skipped[/] components: {components['skipped']}", highlight=False)
    if "skipped" in nc:
        console.print(f"[yellow]skipped[/] nearest-component accuracy: {nc['skipped']}", highlight=False)
    elif nc["accuracy"] is not None:
        console.print(f"nearest-component accuracy {nc['accuracy']:.3f} over {nc['labelled_windows']} labelled "
                      f"windows (chance {nc['chance']:.3f})", highlight=False)
    console.print(f"[green]wrote[/] {out}/report.md, report.json and plots", highlight=False)
