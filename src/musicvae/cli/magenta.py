"""``musicvae import-magenta``: magenta's published MusicVAE checkpoints as musicvae model dirs.

Place in the flow: the CLI's end of ``generation.magenta`` (reader + mapping + importer); the
imported dir then works with every command's ``--model DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, compute_attributes, console, load_split, user_errors


@app.command("import-magenta")
def import_magenta_cmd(
    path: Path = typer.Argument(..., help="magenta checkpoint: its prefix (.../model.ckpt), .index file, folder or "
                                          "the published .tar."),
    out: Path = typer.Option(..., "--out", "-o", help="Model dir to write (usable as --model DIR)."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="magenta config name, e.g. hierdec-mel_16bar "
                                         "(default: read from the file name)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name (default: the folder name)."),
    attributes_from: Optional[Path] = typer.Option(
        None, "--attributes-from", help="Prepared data dir of the same representation: compute attribute vectors."),
    limit: int = typer.Option(4096, "--limit", min=16, help="Windows used for attribute vectors."),
    fp32: bool = typer.Option(False, "--fp32", help="Keep float32 weights (default: fp16, half the size)."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
) -> None:
    """Import a magenta MusicVAE checkpoint (no TensorFlow needed); refuses other configs by name."""
    import torch

    from ..generation import TrainedModel
    from ..generation.magenta.importer import import_magenta

    def attributes(model_dir: Path) -> dict:
        if attributes_from is None:
            return {}
        model = TrainedModel.load(model_dir)
        _check_attribute_data(attributes_from, model)
        return compute_attributes(model, attributes_from, limit)

    with user_errors():
        done, info = import_magenta(path, out, config_name=config, name=name, attributes=attributes, force=force,
                                    dtype=torch.float32 if fp32 else torch.float16)
    sizes = info["sizes"]
    console.print(f"[green]imported[/] {info['magenta_config']} ({info['parameters']:,} parameters; encoder "
                  f"{sizes['encoder']}, decoder {sizes['decoder']}, z {sizes['z']}; {len(info['attributes'])} "
                  f"attribute vectors) -> {done}", highlight=False, soft_wrap=True)
    console.print(f"try: musicvae sample --model {done} -n 4", highlight=False, soft_wrap=True)


def _check_attribute_data(data: Path, model) -> None:
    """The data must be windows of the imported model's representation (90-class melodies, 2018 drum table)."""
    from ..generation import InputError

    ds = load_split(data, "train")
    where = data / "manifest.json"
    rep = ds.manifest.get("representation", {})
    hint = "prepare it with `musicvae prepare ... --kind %s --bars %d%s`" % (
        model.kind, model.bars, " --classes 90" if model.kind in ("melody", "trio") else "")
    hint += " --drum-mapping 2018" if model.kind in ("drums", "trio") else ""
    if ds.kind != model.kind:
        raise InputError(f"{where}: {ds.kind} data, but {model.name} is a {model.kind} model; {hint}")
    if tuple(rep.get("vocab_sizes", ())) != tuple(model.model.vocab_sizes):
        raise InputError(f"{where}: vocabulary sizes {tuple(rep.get('vocab_sizes', ()))}, but {model.name} uses "
                         f"{tuple(model.model.vocab_sizes)}; {hint}")
    if int(ds.manifest.get("steps", model.steps)) != model.steps:
        raise InputError(f"{where}: windows of {ds.manifest.get('steps')} steps, but {model.name} reads "
                         f"{model.steps}; {hint}")
    mapping_used = rep.get("mapping", rep.get("drum_mapping"))
    if mapping_used not in (None, "2018"):
        console.print(f"[yellow]note[/]: {where} maps drums with the {mapping_used!r} table; magenta's "
                      f"checkpoints were trained with '2018'", highlight=False)
