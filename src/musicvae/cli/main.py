"""The ``musicvae`` command line (typer + rich): the last stage of the flow.

Each command is a thin shell over the library; errors the user can fix print
one line (``error: FILE: reason``) and exit with status 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

# the command modules register their commands on ``app`` when imported
from . import analyze, compose, evaluate, generate, magenta, prior, studio  # noqa: F401
from .common import app, console, corpus_app, err_console, fail, progress_bar


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
    source: str = typer.Argument(..., help="Folder of MIDI files (recursive), a glob, a file, or a bundled corpus name (several joined by +, e.g. grooves+games)."),
    kind: str = typer.Option(..., "--kind", help="melody, drums, trio, multitrack, bars or notes."),
    bars: int = typer.Option(2, "--bars", help="Window length in bars (for 'bars': minimum song length)."),
    out: Path = typer.Option(..., "--out", help="Output folder for shards and manifest.json."),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0: automatic, one below 2,000 files, "
                                                      "else one per CPU core)."),
    eval_fraction: float = typer.Option(0.1, "--eval-fraction", help="Share of source files held out for evaluation."),
    max_rest_bars: float = typer.Option(1.0, "--max-rest-bars", help="Longest rest allowed inside a window, in bars."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/eval split."),
    pitch_classes: int = typer.Option(130, "--classes", help="Melody classes: 130 (pitches 0-127) or 90 (21-108)."),
    keep: str = typer.Option("", "--keep", help="Monophony: 'highest' (magenta) or 'lowest' (MusAE). Default per kind."),
    drum_mapping: str = typer.Option("current", "--drum-mapping", help="Drum classes: 'current' (note_seq) or '2018'."),
    all_programs: bool = typer.Option(False, "--all-programs", help="Melody from every non-drum program, not only 0-31."),
    window_rule: str = typer.Option("mix", "--window-rule", help="multitrack: rest rule on the 'mix' (default) or "
                                                                  "'per_track' (the MusAE paper: every track)."),
    cross_product: bool = typer.Option(False, "--cross-product", help="multitrack: one candidate per combination of "
                                       "one track per group (the MusAE paper), not each group's tracks merged."),
    force: bool = typer.Option(False, "--force", help="Replace a different dataset already in --out."),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="CSV or JSON mapping file name -> style label(s), for MusAE's mixture prior."),
    max_durations: Optional[int] = typer.Option(
        None, "--max-durations", help="notes: keep tracks with at most this many distinct note durations "
                                      "(default 11; 0: any)."),
    min_entropy: Optional[float] = typer.Option(
        None, "--min-entropy", help="notes: skip tracks whose pitch entropy is below this many bits (default 1.5; 0: keep all)."),
) -> None:
    """Turn MIDI into deduplicated training windows (notes: whole tracks), split train/eval by source file."""
    from rich.markup import escape
    from rich.progress import TimeRemainingColumn

    from ..data.prepare import PrepareConfig, PrepareError, prepare as run_prepare
    from ..data.sources import SourceError
    from ..utils.lock import LockError, folder_lock
    from ..utils.names import printable

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
    if window_rule not in ("mix", "per_track"):
        fail(f"--window-rule must be 'mix' or 'per_track', not {window_rule!r}")
    if window_rule != "mix":
        if kind != "multitrack":
            fail("--window-rule applies to --kind multitrack only")
        options["window_rule"] = window_rule
    if cross_product:
        if kind != "multitrack":
            fail("--cross-product applies to --kind multitrack only")
        options["cross_product"] = True
    if kind == "drums":
        options["mapping"] = drum_mapping
    if kind == "trio":
        options["drum_mapping"] = drum_mapping
    if (max_durations is not None or min_entropy is not None) and kind != "notes":
        fail("--max-durations and --min-entropy filter note tracks: they apply to --kind notes only")
    if max_durations is not None:
        options["max_durations"] = max_durations or None
    if min_entropy is not None:
        options["min_pitch_entropy"] = min_entropy
    try:
        cfg = PrepareConfig(kind, bars, eval_fraction, max_rest_bars, 1, seed, options)
        with progress_bar("prepare", TimeRemainingColumn()) as bar:
            task = bar.add_task(f"{escape(printable(source))} -> {kind} x {bars} bars", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            with folder_lock(out, "musicvae prepare"):  # one writer per --out
                try:
                    manifest = run_prepare(source, out, cfg, workers=workers, force=force, progress=progress,
                                           labels=labels)
                except Exception:
                    _drop_empty_work(out)
                    raise
    except (PrepareError, SourceError, FileNotFoundError, KeyError, LockError) as exc:
        fail(str(exc).strip("'\""))
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. a full disk while writing chunks or shards
        kept = (out / ".work").is_dir()
        fail(f"{exc.filename or out}: {exc.strerror or exc}"
             + ("; finished chunks are kept in .work: run the same command again to resume" if kept else ""))
    _print_manifest(manifest, out)


def _drop_empty_work(out: Path) -> None:
    """A failed prepare leaves no ``.work`` behind unless it holds finished chunks (a rerun resumes them)."""
    import shutil

    work = out / ".work"
    if work.is_dir() and not any(work.glob("chunk-*.json")):
        shutil.rmtree(work, ignore_errors=True)


@app.command()
def presets(
    show: Optional[str] = typer.Option(None, "--show", help="Print this preset's resolved config (JSON) instead."),
) -> None:
    """List the model presets (magenta's names; _tiny for tests, _cpu for a 2-core CPU)."""
    import json

    from ..config import ConfigError
    from ..models.builders import build_model, count_parameters
    from ..presets import PRESETS, get_preset

    if show is not None:
        try:
            config = get_preset(show)
        except ConfigError as exc:
            fail(str(exc))
        print(json.dumps(config.to_dict(), indent=2))  # plain stdout: pipe it, or diff two presets
        return

    vocab = {"melody": (130,), "drums": (512,), "trio": (130, 130, 512), "multitrack": (130,) * 4,
             "notes": (13, 12, 16)}
    table = Table(title="Presets (musicvae train --preset NAME)")
    for col in ("name", "data", "decoder", "z", "batch", "parameters"):
        table.add_column(col)
    for name, cfg in PRESETS.items():
        if cfg.model.family == "mcvae":  # an MCVAE composer over a bar VAE's codes (cli/compose.py)
            table.add_row(name, *compose.composer_row(cfg))
            continue
        n = count_parameters(build_model(cfg, vocab.get(cfg.data.kind, (130,))))
        decoder = f"musae/{cfg.musae.prior} prior" if cfg.model.family == "musae" else f"{cfg.model.family}/{cfg.model.decoder}"
        if cfg.data.kind == "notes":  # VRASH family: whole tracks of note events
            decoder = cfg.model.family
        table.add_row(name, f"{cfg.data.bars}-bar {cfg.data.kind}" if cfg.data.kind != "notes" else "whole-track notes", decoder,
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
    force: bool = typer.Option(
        False, "--force", help="With --resume: continue even with another dataset, preset or seed than the run's."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16."),
    vae: Optional[str] = typer.Option(
        None, "--vae", help="MCVAE composer presets: the trained 1-bar VAE (run, checkpoint or model dir) it learns over."),
) -> None:
    """Train a MusicVAE, LSTM LM or MusAE on prepared windows, with checkpoints and metrics."""
    import os
    from contextlib import ExitStack

    from ..config import ConfigError
    from ..presets import get_preset
    from ..training.trainer import Trainer, TrainError, check_config
    from ..generation.model_check import check_config as check_values
    from ..generation.windows import InputError
    from ..utils.lock import LockError, folder_lock

    with ExitStack() as lock:  # one writer per run folder (rank 0 only under torchrun); released on any exit
        try:
            extra = [f"train.device={device}", f"train.precision={precision}"]
            if batch_size is not None:
                extra.append(f"train.batch_size={batch_size}")
            if steps is not None:
                extra.append(f"train.steps={steps}")
            config = get_preset(preset, [*overrides, *extra])
            check_config(config)
            try:  # --set values: types and ranges as for a stored config (NaN, negative sizes, zero layers, huge seeds)
                check_values(config.to_dict(), Path("--set"))
            except InputError as exc:
                raise ConfigError(str(exc).replace("--set: config ", "--set ")) from None
            if int(os.environ.get("RANK", "0")) == 0:
                lock.enter_context(folder_lock(out, "musicvae train"))
            options = {}
            if config.model.family == "mcvae" or vae is not None:  # MCVAE composer: its bar VAE (cli/compose.py)
                from .compose import composer_options

                options = composer_options(config, vae)
            trainer = Trainer(config, data, out, resume=resume, force=force, **options)
            from ..data.dataset import window_rule_notice

            notice = window_rule_notice(data, config.data.window_rule)
            if notice and int(os.environ.get("RANK", "0")) == 0:
                err_console.print(f"[yellow]notice:[/] {notice}", highlight=False, soft_wrap=True)
            from ..evaluation.train_realism import sample_realism_hook

            hook = sample_realism_hook(trainer, config.train.eval_samples)  # grid VAEs and LMs only
            if hook is not None:
                trainer.eval_hooks.append(hook)
        except (ConfigError, TrainError, LockError) as exc:
            fail(str(exc))
        _fit(trainer, config, out)


def _fit(trainer, config, out: Path) -> None:
    from rich.progress import TextColumn, TimeRemainingColumn

    from ..training.checkpoint import resume_candidates
    from ..training.state_io import CheckpointError
    from ..training.trainer import TrainError

    main_rank = trainer.dist.is_main
    for notice in trainer.notices if main_rank else []:
        err_console.print(f"[yellow]notice:[/] {notice}", highlight=False, soft_wrap=True)
    with progress_bar("train", TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                      disable=not main_rank) as bar:
        task = bar.add_task(config.preset, total=config.train.steps, completed=trainer.step, info="")

        def progress(step: int, rec: dict) -> None:
            info, as_line = trainer.family.progress_line(rec)  # the family's own wording
            if as_line:
                bar.console.print(f"step {step}: {info}", highlight=False)
            bar.update(task, completed=step, info=info)

        try:
            final = trainer.fit(progress=progress)
        except (CheckpointError, TrainError, OSError) as exc:  # e.g. a full disk while saving or logging
            bar.stop()
            msg = f"{exc.filename or out}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
            try:  # the newest intact-looking checkpoint
                last = next(iter(resume_candidates(out)[0]), None)
            except OSError:
                last = None
            fail(f"{msg}; " + (f"the last complete checkpoint ({last.name}) is kept: --resume continues from it"
                               if last else "no checkpoint was saved"))
    if main_rank:
        console.print(f"[green]done[/]: step {trainer.step}, {trainer.family.done_line(final)} -> {out}")


def _print_manifest(manifest: dict, out: Path) -> None:
    from rich.markup import escape

    from ..utils.names import printable

    out = printable(out)
    c = manifest["counts"]
    reused = " (already prepared; reused)" if manifest.get("reused") else ""
    unit = f"{manifest['bars']}-bar {manifest['kind']} windows" if "tracks" not in manifest else "note tracks"
    console.print(
        f"[green]done[/]{reused}: {c['windows_train']:,} train + {c['windows_eval']:,} eval unique "
        f"{unit} from {c['files_ok']:,}/{c['files']:,} files "
        f"({c['duplicates_removed']:,} duplicates removed) in {manifest.get('seconds', 0):.1f} s -> {out}/manifest.json"
    )
    if manifest.get("note"):
        console.print(f"[yellow]note:[/] {manifest['note']}", highlight=False)
    if manifest.get("tracks", {}).get("rejected"):  # notes: tracks the filter skipped, by reason
        why = ", ".join(f"{r} {n:,}" for r, n in manifest["tracks"]["rejected_by_reason"].items())
        console.print(f"{manifest['tracks']['rejected']:,} track(s) skipped (each listed in the manifest): {why}",
                      highlight=False)
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
            console.print(f"  {escape(r['file'])}: {escape(r['reason'])}", highlight=False)
    for key, what in (("without_windows", "file(s) read but without a usable window"),
                      ("skipped", "other entr(y/ies) skipped")):
        if manifest.get(key):
            first = manifest[key][0]
            console.print(f"{len(manifest[key]):,} {what} (each listed in the manifest's {key!r}), e.g. "
                          f"{escape(first['file'])}: {escape(first['reason'])}", highlight=False)


def _click_exceptions():
    """The exception classes of the click that typer runs on: typer >= 0.2x vendors it as ``typer._click``
    (a separately installed click, e.g. uvicorn's, is another module whose classes typer never raises)."""
    try:
        from typer._click.exceptions import ClickException, UsageError
    except ImportError:
        from click.exceptions import ClickException, UsageError
    return ClickException, UsageError


def _non_finite_option(args: list[str]) -> str | None:
    """``--option nan`` / ``--option=inf``: no option of musicvae takes a non-finite number."""
    import math

    for i, arg in enumerate(args):
        if arg.startswith("-") and "=" in arg:
            option, value = arg.split("=", 1)
        elif i and args[i - 1].startswith("-") and not arg.startswith("--"):
            option, value = args[i - 1], arg
        else:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if not math.isfinite(number):
            return f"{option} {value}:"
    return None


def main() -> None:
    """Console-script entry point. Option and argument refusals print one line (``error: ...``,
    exit 2) instead of a usage box; ``--help`` says the rest."""
    from rich.markup import escape

    from ..utils.names import printable

    ClickException, UsageError = _click_exceptions()
    bad = _non_finite_option(sys.argv[1:])
    if bad:
        err_console.print(f"[bold red]error:[/] {escape(bad)} must be a finite number", highlight=False, soft_wrap=True)
        sys.exit(2)
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        code = 130
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `musicvae` / `musicvae corpus`: the help
            exc.show()
            sys.exit(2)
        command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "musicvae"
        message = " ".join(printable(exc.format_message()).split())
        err_console.print(f"[bold red]error:[/] {escape(message)} (see {escape(command)} --help)", highlight=False,
                          soft_wrap=True)
        sys.exit(2)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    if code == 130:
        err_console.print("[yellow]interrupted[/]: finished chunks are kept; run the same command again to resume")
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


if __name__ == "__main__":
    main()
