"""MCVAE on the command line: ``musicvae train --preset mcvae-composer_* --vae RUN_DIR`` and ``musicvae compose``.

Place in the flow: a 1-bar VAE run (``train --preset mcvae-bar_*`` on ``prepare --kind melody
--bars 1`` data) + whole songs (``prepare --kind bars --bars 16``) ->
:func:`train_composer_command` (``training.composer.run_composer_training``: encode every song
bar by bar, train the mixture-density composer, save it with a copy of its bar VAE) ->
``compose`` (``training.composer.load_mcvae`` -> ``MCVAE.compose``) -> MIDI, WAV and piano
rolls written by the generation commands' ``write_outputs``.

A composition continues from the first bar(s) of ``--prime IN.mid`` (kept as written in the
output; the composer reads their codes) or, without a prime, from one draw of the bar VAE's
prior N(0, I). ``--seed`` is the random seed, as in every other command.
Errors the user can fix (a prime shorter than one bar, a missing or non-MIDI file, a composer
paired with a bar VAE it did not learn from, data of the wrong kind) are one line, exit 2.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from .common import (app, console, err_console, fail, opt_out, opt_png, opt_qpm, opt_seed, opt_wav, report, user_errors,
                     write_outputs)

COUNT_Z = 64  # the composer's size depends on its bar VAE's code; the presets table counts it for the thesis's z


def composer_row(cfg) -> tuple[str, str, str, str, str]:
    """The ``musicvae presets`` columns (data, decoder, z, batch, parameters) of a composer preset."""
    from ..models.builders import count_parameters
    from ..models.mcvae import Composer

    m = cfg.model
    n = count_parameters(Composer(z_size=COUNT_Z, hidden_size=m.composer_hidden, num_layers=m.composer_layers,
                                  components=m.mixture_components))
    return (f">= {cfg.train.min_song_bars}-bar songs ({cfg.data.kind})", f"mcvae composer/{m.mixture_components} Gaussians",
            "bar VAE's", str(cfg.train.batch_size), f"{n / 1e6:.1f}M (z {COUNT_Z})")


# ------------------------------------------------------------------ training
def train_composer_command(config, vae: Optional[str], data: Path, out: Path, resume: bool) -> None:
    """``musicvae train`` for a composer preset: encode the songs with ``--vae``'s bar VAE, train, save."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..data.latents import LatentDataError, SeedError
    from ..training.composer import ComposerError, composer_config_from, run_composer_training

    if config.model.family != "mcvae":
        fail(f"--vae is for the MCVAE composer presets (mcvae-composer, mcvae-composer_cpu, mcvae-composer_tiny); "
             f"{config.preset} trains on its own")
    if vae is None:
        fail(f"{config.preset} is an MCVAE composer over a bar VAE's codes: give that VAE with --vae RUN_DIR "
             f"(train one first: musicvae train --preset mcvae-bar_cpu --data MEL1_DIR --out RUN_DIR, "
             f"on `musicvae prepare SRC --kind melody --bars 1` data)")
    if resume:
        fail("--resume: composer training does not resume (it takes minutes); train it again into a new --out")
    t = config.train
    if t.precision != "fp32":
        err_console.print(f"[yellow]notice:[/] the composer trains in fp32 (--precision {t.precision} ignored)",
                          highlight=False)
    if t.max_song_bars < 0 or t.min_song_bars < 2 or t.crop_bars < 0 or t.steps < 1:
        fail("composer training needs train.min_song_bars >= 2, train.max_song_bars >= 0 (0: no limit), "
             "train.crop_bars >= 0 and train.steps >= 1")
    cfg = composer_config_from(config)
    max_bars = t.max_song_bars if t.max_song_bars > 0 else None
    limits = f"{t.min_song_bars}-{max_bars}" if max_bars else f">= {t.min_song_bars}"
    try:
        with Progress(TextColumn("[bold]train[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                      console=err_console, transient=True) as bar:  # an error leaves its one line only
            task = bar.add_task(config.preset, total=cfg.steps, completed=0, info="encoding songs")

            def progress(step: int, rec: dict) -> None:
                if "split" in rec:
                    bar.console.print(
                        f"{rec['split']}: {rec['songs']:,} songs of {limits} bars ({rec['bars']:,} bars) encoded; "
                        f"dropped {rec['dropped_short']:,} shorter and {rec['dropped_long']:,} longer", highlight=False)
                    return
                if "eval_nll" in rec:
                    info = f"held-out NLL {rec['eval_nll']:.2f} (one Gaussian {rec['eval_nll_unconditional']:.2f})"
                    bar.console.print(f"step {step}: {info} nats per bar", highlight=False)
                else:
                    info = f"NLL {rec['nll']:.2f} nats/bar {rec['steps_per_s']:.1f} steps/s"
                bar.update(task, completed=step, info=info)

            run = run_composer_training(vae, data, out, cfg, min_bars=t.min_song_bars, max_bars=max_bars,
                                        progress=progress)
    except (ComposerError, LatentDataError, SeedError) as exc:
        fail(str(exc))
    console.print(f"[green]done[/]: {cfg.steps} steps; best held-out NLL {run.best_eval_nll:.2f} nats per bar at step "
                  f"{run.best_step} -> {out} (compose with: musicvae compose --model {out})", highlight=False)


# ------------------------------------------------------------------ composing
@contextmanager
def _compose_errors() -> Iterator[None]:
    """The generation commands' one-line errors, plus the composer's and the prime's."""
    from ..data.latents import LatentDataError, SeedError
    from ..training.composer import ComposerError

    with user_errors():
        try:
            yield
        except (ComposerError, SeedError, LatentDataError) as exc:
            fail(str(exc))


def _load(model: str, vae: Optional[str]):
    """The composer folder as an ``MCVAE`` (its stored bar VAE, or ``vae``, checked against the composer)."""
    from ..generation.composer import resolve_composer
    from ..training.composer import ComposerError, load_bar_vae, load_mcvae

    path = resolve_composer(model)  # a bundled composer's name (mcvae_folk) or a folder
    if not path.exists():
        raise ComposerError(f"{model}: no such composer folder or bundled composer (bundled: mcvae_folk; "
                            f"train one with --preset mcvae-composer_* --vae RUN_DIR)")
    if path.is_dir() and not (path / "composer.json").is_file() and (path / "checkpoints").is_dir():
        raise ComposerError(f"{model}: a training run, not a composer (compose reads the --out of "
                            f"`musicvae train --preset mcvae-composer_* --vae RUN_DIR`)")
    bar_vae = load_bar_vae(vae)[0] if vae is not None else None
    try:
        mc = load_mcvae(path, bar_vae=bar_vae)
    except ValueError as exc:  # MCVAE's own pairing checks (code size, bar length); ComposerError as it is
        raise exc if isinstance(exc, ComposerError) else ComposerError(f"{model}: {exc}") from None
    if tuple(mc.vocab_sizes) != (130,):
        raise ComposerError(f"{model}: the bar VAE reads {mc.vocab_sizes} melody classes; MCVAE's bars use 130 "
                            f"(prepare the bar VAE's data with the default --classes 130)")
    return mc


@app.command()
def compose(
    model: str = typer.Option(..., "--model", "-m",
                              help="Composer: mcvae_folk (bundled) or a folder (the --out of "
                                   "`musicvae train --preset mcvae-composer_* --vae RUN`)."),
    prime: Optional[Path] = typer.Option(
        None, "--prime", help="MIDI file to continue from (from its first bar with a note); default: a prior draw."),
    prime_bars: Optional[int] = typer.Option(
        None, "--prime-bars", min=1, help="Bars of --prime the composer reads and the output keeps (default 1)."),
    bars: int = typer.Option(64, "--bars", min=1, max=4096, help="Length of each composition in bars, prime included."),
    temperature: float = typer.Option(0.5, "--temperature", "-t", min=0.0,
                                      help="The bar decoder's softmax temperature (0 = argmax)."),
    mixture_temperature: float = typer.Option(
        1.0, "--mixture-temperature", min=0.0, help="Composer: divides the mixture logits (near 0: the likeliest one)."),
    sigma_temperature: float = typer.Option(
        1.0, "--sigma-temperature", min=0.0, help="Composer: scales each component's spread (0: its mean)."),
    n: int = typer.Option(1, "--n", "-n", min=1, max=256, help="How many compositions."),
    seed: Optional[int] = opt_seed(),
    qpm: float = opt_qpm(),
    out: Path = opt_out("compositions"),
    wav: bool = opt_wav(),
    png: bool = opt_png(),
    vae: Optional[str] = typer.Option(
        None, "--vae", help="Decode with this bar VAE instead of the composer's stored copy (must be the one it learnt)."),
    key: Optional[str] = typer.Option(None, "--key", "-k", help="Only notes of this key/scale in the new bars, "
                                                                "e.g. 'D minor' or C:major."),
) -> None:
    """Compose long melodies bar by bar: the MCVAE composer predicts each next bar's code, the bar VAE plays it."""
    import torch

    from ..data.latents import seed_bars
    from ..generation.keys import constrained
    from ..representations.bars import BarConverter

    if prime_bars is not None and prime is None:
        fail("--prime-bars needs --prime IN.mid (the music to continue from)")
    want = prime_bars or 1
    if prime is not None and want > bars:
        fail(f"--prime-bars {want} is more than the {bars} bars to compose (--bars)")
    with _compose_errors():
        mc = _load(model, vae)
        conv = BarConverter(programs=None)  # a prime may use any non-drum program
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        kept, codes = None, None
        if prime is not None:
            kept = seed_bars(prime, max_bars=want, converter=conv)  # (P, 16), the bars from the first note on
            if len(kept) < want:
                console.print(f"[dim]{prime.name}: has {len(kept)} bar(s) from its first note; continuing from "
                              f"{len(kept)}, not {want}[/]", highlight=False)
            codes = mc.encode_bars(torch.as_tensor(kept, dtype=torch.long)[None, :, :, None])  # (1, P, Z)
            codes = codes.expand(n, -1, -1)
        with constrained(mc.bar_vae, conv.melody.streams, key, model):
            tokens = mc.compose(bars, codes, temperature=temperature, mixture_temperature=mixture_temperature,
                                sigma_temperature=sigma_temperature, batch=n, generator=gen)  # (n, bars*16, 1)
        grids = tokens[..., 0].cpu().numpy().reshape(n, bars, conv.steps_per_bar)
        if kept is not None:
            grids[:, : len(kept)] = kept  # the prime as written, then the continuation
        name = Path(str(model)).name
        seqs = [conv.decode(conv.canonicalize(g), qpm=qpm).copy(source=name) for g in grids]
        stem = f"{prime.stem}-continued" if prime is not None else "composition"
        start = (f"{len(kept)} bar(s) of {prime.name}" if kept is not None else "a prior draw")
        titles = [f"{stem} {i} ({bars} bars)" for i in range(1, n + 1)]
        written = write_outputs(seqs, out, stem, wav=wav, png=png, titles=titles)
        report(written, f"{n} {bars}-bar composition(s) from {start}")
