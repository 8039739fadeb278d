"""MCVAE on the command line: ``musicvae train --preset mcvae-composer_* --vae RUN_DIR`` and ``musicvae compose``.

Place in the flow: a 1-bar VAE run (``train --preset mcvae-bar_*`` on ``prepare --kind melody
--bars 1`` data) + whole songs (``prepare --kind bars --bars 16``) ->
:func:`composer_options` (the bar VAE for ``training.composer.ComposerFamily``: the Trainer encodes
every song bar by bar and trains the mixture-density composer; its checkpoints hold the bar VAE too) ->
``compose`` (argument handling only; ``generation.compose.ComposerModel`` composes) -> MIDI,
WAV and piano rolls written by the generation commands' ``write_outputs``.

A composition continues from the first bar(s) of ``--prime IN.mid`` (kept as written in the
output; the composer reads their codes) or, without a prime, from one draw of the bar VAE's
prior N(0, I). ``--seed`` is the random seed, as in every other command.
Errors the user can fix (a prime shorter than one bar, a missing or non-MIDI file, a composer
paired with a bar VAE it did not learn from, data of the wrong kind) are one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import (OutOpt, PngOpt, QpmOpt, SeedOpt, WavOpt, app, console, err_console, fail, report, user_errors,
                     write_outputs)

COUNT_Z = 64  # the composer's size depends on its bar VAE's code; the presets table counts it for the thesis's z


def composer_row(cfg) -> tuple[str, str, str, str, str]:
    """The ``musicvae presets`` columns (data, decoder, z, batch, parameters) of a composer preset."""
    from ..models.builders import count_parameters
    from ..models.mcvae import Composer

    m = cfg.mcvae
    n = count_parameters(Composer(z_size=COUNT_Z, hidden_size=m.composer_hidden, num_layers=m.composer_layers,
                                  components=m.mixture_components))
    return (f">= {m.min_song_bars}-bar songs ({cfg.data.kind})", f"mcvae composer/{m.mixture_components} Gaussians",
            "bar VAE's", str(cfg.train.batch_size), f"{n / 1e6:.1f}M (z {COUNT_Z})")


# ------------------------------------------------------------------ training
def composer_options(config, vae: Optional[str]) -> dict:
    """``musicvae train`` for a composer preset: the checks, and the bar VAE the Trainer's composer family reads."""
    from ..generation.compose import load_bar_vae
    from ..generation.windows import InputError

    if config.model.family != "mcvae":
        fail(f"--vae is for the MCVAE composer presets (mcvae-composer, mcvae-composer_cpu, mcvae-composer_tiny); "
             f"{config.preset} trains on its own")
    if vae is None:
        fail(f"{config.preset} is an MCVAE composer over a bar VAE's codes: give that VAE with --vae RUN_DIR "
             f"(train one first: musicvae train --preset mcvae-bar_cpu --data MEL1_DIR --out RUN_DIR, "
             f"on `musicvae prepare SRC --kind melody --bars 1` data)")
    if config.train.precision != "fp32":
        err_console.print(f"[yellow]notice:[/] the composer trains in fp32 (--precision {config.train.precision} "
                          f"ignored)", highlight=False)
    try:
        return {"bar_vae": load_bar_vae(vae)}
    except InputError as exc:
        fail(str(exc))


# ------------------------------------------------------------------ composing
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
    seed: SeedOpt = None,
    qpm: QpmOpt = 120.0,
    out: OutOpt = Path("compositions"),
    wav: WavOpt = False,
    png: PngOpt = False,
    vae: Optional[str] = typer.Option(
        None, "--vae", help="Decode with this bar VAE instead of the composer's stored copy (must be the one it learnt)."),
    key: Optional[str] = typer.Option(None, "--key", "-k", help="Only notes of this key/scale in the new bars, "
                                                                "e.g. 'D minor' or C:major."),
) -> None:
    """Compose long melodies bar by bar: the MCVAE composer predicts each next bar's code, the bar VAE plays it."""
    from ..generation.compose import ComposerModel

    if prime_bars is not None and prime is None:
        fail("--prime-bars needs --prime IN.mid (the music to continue from)")
    want = prime_bars or 1
    if prime is not None and want > bars:
        fail(f"--prime-bars {want} is more than the {bars} bars to compose (--bars)")
    with user_errors():
        seqs, kept = ComposerModel.load(model, vae).compose(
            n, bars, prime, want, temperature, mixture_temperature, sigma_temperature, seed, key, qpm)
        if prime is not None and kept < want:
            console.print(f"[dim]{prime.name}: has {kept} bar(s) from its first note; continuing from "
                          f"{kept}, not {want}[/]", highlight=False)
        stem = f"{prime.stem}-continued" if prime is not None else "composition"
        start = f"{kept} bar(s) of {prime.name}" if prime is not None else "a prior draw"
        titles = [f"{stem} {i} ({bars} bars)" for i in range(1, n + 1)]
        written = write_outputs(seqs, out, stem, wav=wav, png=png, titles=titles)
        report(written, f"{n} {bars}-bar composition(s) from {start}")
