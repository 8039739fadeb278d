"""The ``musicvae analyze`` command: latent analysis of a MusAE or note-level VAE/VRASH model as a report.

Place in the flow: a MusAE model (run, checkpoint or exported dir) + a folder written by
``musicvae prepare`` (its eval split and labels) -> :mod:`musicvae.evaluation.latent_analysis`
-> ``OUT/report.md``, ``OUT/report.json``, ``OUT/components.png``, ``OUT/pca.png``.
A note-level VAE or VRASH (``vae-notes``/``vrash-notes``) + a ``prepare --kind notes`` folder
-> :mod:`musicvae.evaluation.note_latent` -> ``OUT/report.md``, ``OUT/report.json``,
``OUT/latent_map.png`` (t-SNE, or PCA without scikit-learn), ``OUT/pca.png``.

Errors the user can fix (a model kind analyze does not read, data of another kind or length,
an empty eval split) are one line naming the file and the reason, exit 2.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from .common import MODEL_HELP, app, check_data, console, progress_bar, user_errors

SUPPORTED = ("analyze reads MusAE models (musicvae train --preset musae-...) and note-level VAE/VRASH models "
             "(--preset vae-notes*, vrash-notes*)")


@app.command()
def analyze(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP + " A MusAE or note-level VAE/VRASH model."),
    data: Path = typer.Option(..., "--data", help="Folder written by `musicvae prepare` (its eval split is encoded)."),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (report.md, report.json, PNG plots)."),
    n: int = typer.Option(1024, "--n", "-n", min=2, help="Held-out windows (note models: tracks) to encode."),
    per_component: int = typer.Option(256, "--per-component", min=1, help="MusAE: samples decoded per component."),
    temperature: float = typer.Option(0.5, "--temperature", "-t", min=0.0, help="MusAE: temperature of the samples."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Random seed (same seed, same report)."),
) -> None:
    """Latent analysis. MusAE: attributes per prior component (heat map), PCA of codes by label, nearest-component
    accuracy. Note VAE/VRASH: t-SNE (or PCA) map of held-out tracks by collection, nearest-centroid accuracy."""
    import numpy as np

    from ..evaluation import latent_analysis as la
    from ..evaluation.studies import select_windows
    from ..generation import InputError, TrainedModel, load_model_files
    from ..generation.notes import NoteModel, is_note_model

    with user_errors():
        files = load_model_files(model)
        if is_note_model(files):
            note_model = NoteModel(files)
            if not note_model.has_latent:
                raise InputError(f"{files.name}: a note-level language model has no latent space; {SUPPORTED}")
            return _analyze_notes(note_model, data, out, n, seed)
        m = TrainedModel(files)
        if m.family != "musae":
            raise InputError(f"{m.name}: a {m.family} model; {SUPPORTED}")
        ds = check_data(data, m)
        idx = select_windows(len(ds), n, seed)
        tokens = np.asarray(ds.tokens[idx], dtype=np.int64)  # (n_used, T, K)
        labels = ds.labels[idx] if ds.labels is not None else None
        meta = {"model": m.name, "data": str(data), "n_requested": n, "n_used": len(idx), "seed": seed,
                "date": datetime.now().astimezone().isoformat(timespec="seconds"), "kind": m.kind, "bars": m.bars,
                "z_size": m.z_size, "prior": m.config.musae.prior, "data_labels": ds.label_names,
                "model_labels": m.label_components}
        with progress_bar("analyze") as bar:
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


def _analyze_notes(m, data: Path, out: Path, n: int, seed: int) -> None:
    """The note-level VAE/VRASH report (inside ``user_errors``)."""
    from ..evaluation import note_latent
    from ..evaluation.studies import select_windows
    from ..generation import InputError
    from ..training.notes import NoteSequenceSet, subset

    if not data.is_dir():
        raise InputError(f"{data}: no such data folder (run `musicvae prepare --kind notes` first)")
    try:
        held_all = NoteSequenceSet.load(data, "eval", collections=m.collections)
    except ValueError as exc:
        raise InputError(f"{exc} ({m.name} is a note-level model: give a `prepare --kind notes` folder)") from None
    where = data / "manifest.json"
    if tuple(held_all.vocab_sizes) != tuple(m.model.vocab_sizes):
        raise InputError(f"{where}: vocabulary sizes {tuple(held_all.vocab_sizes)}, but {m.name} uses "
                         f"{tuple(m.model.vocab_sizes)}")
    keep = [i for i, e in enumerate(held_all.events) if len(e)]
    if len(keep) < 2:
        raise InputError(f"{where}: the eval split holds {len(keep)} track(s); need at least 2 "
                         f"(prepare with --eval-fraction > 0)")
    held = subset(held_all, [keep[i] for i in select_windows(len(keep), n, seed)])
    res = note_latent.note_code_study(m, held.events, held.meta, seed=seed)
    meta = {"model": m.name, "data": str(data), "n_requested": n, "n_used": len(held), "eval_tracks": len(held_all),
            "seed": seed, "date": datetime.now().astimezone().isoformat(timespec="seconds"), "kind": m.kind,
            "family": m.family, "z_size": m.z_size, "model_collections": m.collections}
    note_latent.write_note_report(out, res, meta)
    if held_all.warning:
        console.print(f"[yellow]note[/] {held_all.warning}", highlight=False)
    nc = res["nearest_centroid"]
    if "skipped" in nc:
        console.print(f"[yellow]skipped[/] nearest-centroid accuracy: {nc['skipped']}", highlight=False)
    else:
        console.print(f"nearest-centroid accuracy {nc['accuracy']:.3f} over {nc['tracks']} tracks "
                      f"(majority class {nc['majority_rate']:.3f}); map: {res['projection']}", highlight=False)
    console.print(f"[green]wrote[/] {out}/report.md, report.json, latent_map.png and pca.png", highlight=False)
