"""The ``musicvae`` command line (typer + rich): the last stage of the flow.

Each command is a thin shell over the library; errors the user can fix print
one line (``error: FILE: reason``) and exit with status 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .. import __version__

app = typer.Typer(
    name="musicvae",
    help="Learn latent spaces of symbolic music (MusicVAE, MusAE, MCVAE, VRASH) and create with them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
corpus_app = typer.Typer(help="The real-music corpora bundled with musicvae.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"musicvae {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version.")):
    pass


@corpus_app.command("list")
def corpus_list() -> None:
    """Print the bundled corpora with their sizes."""
    from ..data.corpora import list_corpora

    table = Table(title="Bundled corpora (musicvae prepare NAME --kind ...)")
    for col in ("name", "items", "bars", "notes", "description"):
        table.add_column(col, justify="right" if col in ("items", "bars", "notes") else "left")
    for info in list_corpora():
        if info.available:
            table.add_row(info.name, f"{info.items:,}", f"{info.bars:,}", f"{info.notes:,}", info.description)
        else:
            table.add_row(info.name, "-", "-", "-", f"[red]missing[/] {info.description}")
    console.print(table)


@app.command()
def prepare(
    source: str = typer.Argument(..., help="Folder of MIDI files (recursive), a glob, a file, or a bundled corpus name."),
    kind: str = typer.Option(..., "--kind", help="melody, drums, trio, multitrack, bars or notes."),
    bars: int = typer.Option(2, "--bars", help="Window length in bars (for 'bars': minimum song length)."),
    out: Path = typer.Option(..., "--out", help="Output folder for shards and manifest.json."),
    workers: int = typer.Option(2, "--workers", help="Worker processes."),
    eval_fraction: float = typer.Option(0.1, "--eval-fraction", help="Share of source files held out for evaluation."),
    max_rest_bars: float = typer.Option(1.0, "--max-rest-bars", help="Longest rest allowed inside a window, in bars."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/eval split."),
    pitch_classes: int = typer.Option(130, "--classes", help="Melody classes: 130 (pitches 0-127) or 90 (21-108)."),
    keep: str = typer.Option("", "--keep", help="Monophony: 'highest' (magenta) or 'lowest' (MusAE). Default per kind."),
    drum_mapping: str = typer.Option("current", "--drum-mapping", help="Drum classes: 'current' (note_seq) or '2018'."),
    all_programs: bool = typer.Option(False, "--all-programs", help="Melody from every non-drum program, not only 0-31."),
    force: bool = typer.Option(False, "--force", help="Replace a different dataset already in --out."),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="CSV or JSON mapping file name -> style label(s), for MusAE's mixture prior."),
) -> None:
    """Turn MIDI into deduplicated training windows, split train/eval by source file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..data.prepare import PrepareConfig, PrepareError, prepare as run_prepare
    from ..data.sources import SourceError

    options: dict = {}
    if kind in ("melody", "trio"):
        if pitch_classes not in (130, 90):
            fail(f"--classes must be 130 or 90, not {pitch_classes}")
        if pitch_classes == 90:
            options.update(min_pitch=21, max_pitch=108)
    if kind in ("melody", "bars", "notes") and keep:
        options["keep"] = keep
    if keep and keep not in ("highest", "lowest"):
        fail(f"--keep must be 'highest' or 'lowest', not {keep!r}")
    if kind in ("melody", "bars") and all_programs:
        options["programs"] = None
    if kind == "drums":
        options["mapping"] = drum_mapping
    if kind == "trio":
        options["drum_mapping"] = drum_mapping
    try:
        cfg = PrepareConfig(kind, bars, eval_fraction, max_rest_bars, 1, seed, options)
        with Progress(
            TextColumn("[bold]prepare[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        ) as bar:
            task = bar.add_task(f"{source} -> {kind} x {bars} bars", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            manifest = run_prepare(source, out, cfg, workers=workers, force=force, progress=progress, labels=labels)
    except (PrepareError, SourceError, FileNotFoundError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    except ValueError as exc:
        fail(str(exc))
    _print_manifest(manifest, out)


@app.command()
def presets() -> None:
    """List the model presets (magenta's names; _tiny for tests, _cpu for a 2-core CPU)."""
    from ..models.builders import build_model, count_parameters
    from ..presets import PRESETS

    vocab = {"melody": (130,), "drums": (512,), "trio": (130, 130, 512), "multitrack": (130,) * 4}
    table = Table(title="Presets (musicvae train --preset NAME)")
    for col in ("name", "data", "decoder", "z", "batch", "parameters"):
        table.add_column(col)
    for name, cfg in PRESETS.items():
        n = count_parameters(build_model(cfg, vocab.get(cfg.data.kind, (130,))))
        decoder = f"musae/{cfg.model.prior} prior" if cfg.model.family == "musae" else f"{cfg.model.family}/{cfg.model.decoder}"
        table.add_row(name, f"{cfg.data.bars}-bar {cfg.data.kind}", decoder,
                      str(cfg.model.z_size), str(cfg.train.batch_size), f"{n / 1e6:.1f}M")
    console.print(table)


@app.command()
def train(
    preset: str = typer.Option(..., "--preset", help="Preset name (see `musicvae presets`)."),
    data: Path = typer.Option(..., "--data", help="Folder written by `musicvae prepare`."),
    out: Path = typer.Option(..., "--out", help="Run folder for checkpoints and metrics.jsonl."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Train until this global step."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Global batch size."),
    overrides: list[str] = typer.Option([], "--set", help="Config override key=value (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its latest checkpoint."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16."),
) -> None:
    """Train a MusicVAE, LSTM LM or MusAE on prepared windows, with checkpoints and metrics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..config import ConfigError
    from ..presets import get_preset
    from ..training.trainer import Trainer, TrainError, check_config

    try:
        extra = [f"train.device={device}", f"train.precision={precision}"]
        if batch_size is not None:
            extra.append(f"train.batch_size={batch_size}")
        if steps is not None:
            extra.append(f"train.steps={steps}")
        config = get_preset(preset, [*overrides, *extra])
        check_config(config)
        trainer = Trainer(config, data, out, resume=resume)
    except (ConfigError, TrainError) as exc:
        fail(str(exc))
    main_rank = trainer.dist.is_main
    for notice in trainer.notices if main_rank else []:
        err_console.print(f"[yellow]notice:[/] {notice}", highlight=False, soft_wrap=True)
    with Progress(TextColumn("[bold]train[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=err_console, disable=not main_rank) as bar:
        task = bar.add_task(config.preset, total=config.train.steps, completed=trainer.step, info="")

        def progress(step: int, rec: dict) -> None:
            if "loss" in rec and "kl_bits" in rec:
                info = f"loss {rec['loss']:.2f} acc {rec['accuracy']:.3f} kl {rec['kl_bits']:.0f}b {rec['seq_per_s']:.0f} seq/s"
            elif "loss" in rec:  # MusAE: adversarial weight and the critic's Wasserstein estimate
                info = (f"loss {rec['loss']:.2f} acc {rec['accuracy']:.3f} W {rec['wasserstein']:.2f} "
                        f"beta {rec['beta']:.1f} {rec['seq_per_s']:.0f} seq/s")
            else:
                info = f"eval: tf {rec['tf_accuracy']:.3f} sampled {rec['sampled_accuracy']:.3f}"
                if "component_accuracy" in rec:
                    info += f" nearest-component {rec['component_accuracy']:.3f}"
                bar.console.print(f"step {step}: {info}", highlight=False)
            bar.update(task, completed=step, info=info)

        final = trainer.fit(progress=progress)
    if main_rank:
        console.print(f"[green]done[/]: step {trainer.step}, teacher-forced accuracy {final.get('tf_accuracy', 0):.3f}, "
                      f"sampled {final.get('sampled_accuracy', 0):.3f} -> {out}")


def _print_manifest(manifest: dict, out: Path) -> None:
    c = manifest["counts"]
    reused = " (already prepared; reused)" if manifest.get("reused") else ""
    console.print(
        f"[green]done[/]{reused}: {c['windows_train']:,} train + {c['windows_eval']:,} eval unique {manifest['bars']}-bar "
        f"{manifest['kind']} windows from {c['files_ok']:,}/{c['files']:,} files "
        f"({c['duplicates_removed']:,} duplicates removed) in {manifest.get('seconds', 0):.1f} s -> {out}/manifest.json"
    )
    if manifest.get("note"):
        console.print(f"[yellow]note:[/] {manifest['note']}", highlight=False)
    lab = manifest.get("labels", {})
    if lab.get("names"):
        counts = lab["windows"]["train"]
        shown = ", ".join(f"{n} {counts.get(n, 0):,}" for n in lab["names"][:8])
        more = f", ... ({len(lab['names'])} in all)" if len(lab["names"]) > 8 else ""
        console.print(f"labels from {lab.get('from')}: {shown}{more} train windows; "
                      f"{lab['unlabelled_windows']['train']:,} unlabelled", highlight=False)
        if lab.get("unmatched_entries"):
            console.print(f"[yellow]{lab['unmatched_entries']} label entries name no file[/], e.g. "
                          f"{', '.join(lab.get('unmatched_examples', []))}", highlight=False)
    if manifest["rejected"]:
        console.print(f"[yellow]{len(manifest['rejected'])} file(s) rejected[/] (reasons in the manifest), e.g.:")
        for r in manifest["rejected"][:5]:
            console.print(f"  {r['file']}: {r['reason']}", highlight=False)


# the generation commands (sample, interpolate, ...) register themselves on ``app``
from . import generate as _generate  # noqa: E402,F401
from . import evaluate as _evaluate  # noqa: E402,F401
from . import analyze as _analyze  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished chunks are kept; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
