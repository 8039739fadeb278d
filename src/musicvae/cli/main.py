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

            manifest = run_prepare(source, out, cfg, workers=workers, force=force, progress=progress)
    except (PrepareError, SourceError, FileNotFoundError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    except ValueError as exc:
        fail(str(exc))
    _print_manifest(manifest, out)


def _print_manifest(manifest: dict, out: Path) -> None:
    c = manifest["counts"]
    reused = " (already prepared; reused)" if manifest.get("reused") else ""
    console.print(
        f"[green]done[/]{reused}: {c['windows_train']:,} train + {c['windows_eval']:,} eval unique {manifest['bars']}-bar "
        f"{manifest['kind']} windows from {c['files_ok']:,}/{c['files']:,} files "
        f"({c['duplicates_removed']:,} duplicates removed) in {manifest.get('seconds', 0):.1f} s -> {out}/manifest.json"
    )
    if manifest["rejected"]:
        console.print(f"[yellow]{len(manifest['rejected'])} file(s) rejected[/] (reasons in the manifest), e.g.:")
        for r in manifest["rejected"][:5]:
            console.print(f"  {r['file']}: {r['reason']}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished chunks are kept; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
