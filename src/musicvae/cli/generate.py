"""Commands that make music with a trained model: sample, reconstruct, interpolate, ...

Place in the flow: the CLI's end of ``generation`` -> ``render``. Every command only
calls :class:`~musicvae.generation.TrainedModel` and writes what it returns as MIDI,
plus WAV (``--wav``) and piano-roll PNG (``--png``); errors are one line.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, get_type_hints

import typer
from rich.markup import escape
from rich.table import Table

from ..utils.names import printable, safe_component
from .common import (KeyOpt, ModelOpt, OutOpt, PngOpt, QpmOpt, RhythmOpt, SeedOpt, TemperatureOpt, WavOpt,
                     WindowOpt, app, compute_attributes, console, fail, report, user_errors, write_outputs)


def _load(name: Optional[str], notes: bool = False):
    """The model to use; ``notes``: the command also takes VRASH-family models (``generation.notes.NoteModel``)."""
    from ..generation import DEFAULT_MODEL, InputError, TrainedModel, load_model_files
    from ..generation.notes import NoteModel, is_note_model

    files = load_model_files(name or DEFAULT_MODEL)
    if is_note_model(files):
        if not notes:
            raise InputError(f"{files.name}: a note-level {files.config.model.family} model (whole melodies); "
                             f"it supports `musicvae sample` only")
        return NoteModel(files)
    return TrainedModel(files)


@dataclass
class Decoding:
    """The options every music-making command shares, in this order (typer sees them one by one: see
    :func:`_command`), and what they do: how to decode, which window of an input, what to write where."""

    temperature: TemperatureOpt = None
    rhythm_temperature: RhythmOpt = None
    seed: SeedOpt = None
    window: WindowOpt = 1
    key: KeyOpt = None
    qpm: QpmOpt = 120.0
    out: OutOpt = Path(".")
    wav: WavOpt = False
    png: PngOpt = False

    def of(self, m) -> dict:
        """The keywords of ``m``'s decoding calls (``key`` only when asked for: note models take none); a
        ``--rhythm-temperature`` is set on ``m`` itself (its decoding methods read ``m.rhythm_temperature``)."""
        if self.key is not None and not hasattr(m, "keyed"):
            fail(f"--key: {m.name} is a note-event model; "
                 f"the key constraint works with MusicVAE-style models")
        key = {"key": self.key} if self.key is not None else {}
        if self.rhythm_temperature is not None:
            if not hasattr(m, "rhythm_temperature"):
                fail(f"--rhythm-temperature: {m.name} is a note-event model; "
                     f"it works with MusicVAE-style melody models")
            m.rhythm_temperature = self.rhythm_temperature
        return {"temperature": self.temperature, "seed": self.seed, "qpm": self.qpm, **key}

    def pick(self, model, path: Path):
        """The ``--window``-th window of a file, saying which one was used when there are several."""
        from ..generation import InputError

        wins = model.windows(path)
        if self.window > len(wins):
            raise InputError(f"{path}: has {len(wins)} {model.bars}-bar window(s); --window {self.window} "
                             f"is past the end")
        chosen = wins[self.window - 1]
        if len(wins) > 1:
            console.print(f"[dim]{printable(path.name)}: using {chosen.describe(with_source=False)}, window "
                          f"{self.window} of {len(wins)} (choose with --window)[/]", highlight=False)
        return chosen

    def write(self, seqs, stem: str, **kwargs) -> list[Path]:
        return write_outputs(seqs, self.out, stem, wav=self.wav, png=self.png, **kwargs)


def _command(out: str, window: bool = True):
    """``app.command()`` for a function whose parameter ``opts: Decoding`` stands for the shared options:
    the command takes them one by one in its place (``--out`` defaulting to ``out``; ``--window`` if
    ``window``)."""
    hints = get_type_hints(Decoding, include_extras=True)
    shared = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hint,
                                default=Path(out) if name == "out" else getattr(Decoding, name))
              for name, hint in hints.items() if window or name != "window"]

    def register(fn):
        sig = inspect.signature(fn, eval_str=True)

        @functools.wraps(fn)
        def command(**kwargs):
            opts = Decoding(**{p.name: kwargs.pop(p.name) for p in shared})
            return fn(**kwargs, opts=opts)

        command.__signature__ = sig.replace(parameters=[q for p in sig.parameters.values()
                                                        for q in (shared if p.name == "opts" else [p])])
        return app.command()(command)

    return register


@_command(out="samples", window=False)
def sample(
    model: ModelOpt = None,
    n: int = typer.Option(4, "--n", "-n", min=1, max=1024, help="How many pieces."),
    opts: Decoding = None,
    label: Optional[str] = typer.Option(
        None, "--label", "-l", help="MusAE (mixture prior): sample this style label's petal, or a group's (e.g. irish); "
                                    "note models (VRASH family): sample tracks of this source collection."),
    prior: Optional[str] = typer.Option(
        None, "--prior", help="fitted (the prior fitted to the training codes, prior.safetensors) or standard "
                              "(N(0, I)); default: fitted when the model has one."),
) -> None:
    """Sample new music from the model's prior (note models: whole melodies of variable length)."""
    from ..generation import InputError, TrainedModel

    with user_errors():
        m = _load(model, notes=True)
        if prior is not None and not isinstance(m, TrainedModel):
            raise InputError(f"{m.name}: --prior applies to MusicVAE models, not note-level models")
        extra = {"prior": prior} if prior is not None else {}
        seqs = m.sample(n, label=label, **opts.of(m), **extra)
        used = m.prior_name(prior) if isinstance(m, TrainedModel) and m.has_latent else None
        what = f"{n} sample(s) from {m.name}" + (f" (label {label})" if label else "") + (
            f" ({used} prior)" if used in ("fitted", "standard") else "")
        report(opts.write(seqs, "sample"), what)


@_command(out="reconstructions")
def reconstruct(
    inputs: list[Path] = typer.Argument(..., help="MIDI file(s) to encode and decode."),
    model: ModelOpt = None,
    opts: Decoding = None,
) -> None:
    """Encode each input and decode it again: what the model hears."""
    with user_errors():
        m = _load(model)
        wins = [opts.pick(m, p) for p in inputs]
        for path, seq in zip(inputs, m.reconstruct(wins, **opts.of(m))):
            report(opts.write([seq], f"{path.stem}-recon"), f"reconstruction of {path.name}")


@_command(out="interpolation")
def interpolate(
    a: Path = typer.Argument(..., help="Start MIDI file."),
    b: Path = typer.Argument(..., help="End MIDI file."),
    model: ModelOpt = None,
    steps: int = typer.Option(5, "--steps", min=2, max=64, help="Number of pieces, endpoints included."),
    method: Optional[str] = typer.Option(
        None, "--method", help="slerp or lerp (default: slerp for MusicVAE, lerp for MusAE, as their papers)."),
    opts: Decoding = None,
) -> None:
    """Interpolate in latent space from A to B (the endpoints are A's and B's reconstructions)."""
    with user_errors():
        if method not in (None, "slerp", "lerp"):
            fail(f"--method must be slerp or lerp, got {method!r}")
        m = _load(model)
        method = method or m.model.interpolation  # the family's own default (MusAE: lerp)
        seqs = m.interpolate(opts.pick(m, a), opts.pick(m, b), steps, method, **opts.of(m))
        titles = [f"α={i / (steps - 1):.2f}" for i in range(steps)]
        written = opts.write(seqs, f"{a.stem}-to-{b.stem}", titles=titles, strip=True)
        report(written, f"{steps}-step {method} interpolation")


@_command(out="attribute")
def attribute(
    input: Path = typer.Argument(..., help="MIDI file to edit."),
    name: str = typer.Option(..., "--attribute", "-a", help="Attribute vector, e.g. note_density (see `musicvae models`)."),
    amount: float = typer.Option(1.0, "--amount", help="How many attribute vectors to add (negative subtracts)."),
    model: ModelOpt = None,
    opts: Decoding = None,
) -> None:
    """Move a piece along an attribute vector (more or less note density, syncopation, ...)."""
    with user_errors():
        if not math.isfinite(amount):
            fail(f"--amount must be a finite number, not {amount}")
        m = _load(model)
        win = opts.pick(m, input)
        amounts = [0.0, amount]
        seqs = [m.apply_attribute(win, name, a, **opts.of(m)) for a in amounts]
        titles = [f"{name} {a:+g}" for a in amounts]
        # the name comes from the model's attributes.safetensors: never a path of its own
        written = opts.write(seqs, f"{input.stem}-{safe_component(name)}", titles=titles, strip=True)
        report(written, f"{name} {amount:+g} edit of {input.name} (file 1: unedited reconstruction)")


@_command(out="average")
def average(
    inputs: list[Path] = typer.Argument(..., help="Two or more MIDI files."),
    model: ModelOpt = None,
    opts: Decoding = None,
) -> None:
    """Decode the mean latent code of several pieces (latent averaging)."""
    with user_errors():
        if len(inputs) < 2:
            fail("average needs at least two MIDI files")
        m = _load(model)
        seq = m.average([opts.pick(m, p) for p in inputs], **opts.of(m))
        report(opts.write([seq], "average"), f"average of {len(inputs)} pieces")


@_command(out="similar")
def similar(
    input: Path = typer.Argument(..., help="MIDI file to vary."),
    n: int = typer.Option(4, "--n", "-n", min=1, max=256, help="How many variations."),
    similarity: float = typer.Option(0.8, "--similarity", min=0.0, max=1.0, help="1 = the same code, 0 = unrelated."),
    model: ModelOpt = None,
    opts: Decoding = None,
) -> None:
    """Variations on a piece: codes near its own."""
    with user_errors():
        m = _load(model)
        seqs = m.similar(opts.pick(m, input), n, similarity, **opts.of(m))
        report(opts.write(seqs, f"{input.stem}-similar"), f"{n} variations of {input.name}")


@app.command()
def render(
    inputs: list[Path] = typer.Argument(..., help="MIDI file(s) to render."),
    out: OutOpt = Path("rendered"),
    wav: bool = typer.Option(True, "--wav/--no-wav", help="Write audio."),
    png: bool = typer.Option(True, "--png/--no-png", help="Write a piano roll."),
) -> None:
    """Render MIDI files to WAV and piano-roll PNG (whole files, any length)."""
    from ..generation import InputError
    from ..music.midi_io import MidiError
    from ..music.quantize import load_sequences

    with user_errors():
        for path in inputs:
            if not path.exists():
                raise InputError(f"{path}: no such file")
            try:
                seqs = load_sequences(path)
            except MidiError as exc:
                raise InputError(str(exc)) from None
            written = write_outputs(seqs, out, path.stem, wav=wav, png=png)
            for p in [p for p in written if p.suffix == ".mid"]:
                p.unlink()  # the input is the MIDI; keep only the renderings
            console.print(f"[green]rendered[/] {printable(path.name)} -> {printable(out)}/", highlight=False)


@app.command()
def models() -> None:
    """List the bundled models: what they were trained on and how well they reconstruct held-out music."""
    from ..generation import bundled_models
    from ..generation.store import BUNDLED_DIR, load_model_files
    from ..training.losses import upgrade_accuracy_names

    table = Table(title="Bundled models (musicvae sample --model NAME)")
    for col in ("name", "music", "trained on", "held-out acc: teacher /\nsampled (magenta) / free-running",
                "prior samples\nout of distribution"):
        table.add_column(col)
    attributes = set()
    for name in bundled_models():
        with user_errors():
            files = load_model_files(name)
        info = files.info
        m = upgrade_accuracy_names(info.get("metrics", {}))  # older cards: their "sampled" was free-running
        acc = " / ".join(f"{m[k]:.3f}" if k in m else "-" for k in
                         ("tf_accuracy", "sampled_accuracy", "free_running_accuracy")) if m else "-"
        music = f"{files.config.data.bars}-bar {files.representation.get('kind', '?')}\n{files.config.model.decoder} decoder"
        table.add_row(name, music, str(info.get("data", "-")), acc, ood_cell(info, files.prior is not None, files.sampling))
        attributes.update(files.attributes)
    console.print(table)
    if attributes:
        names = ", ".join(escape(printable(a)) for a in sorted(attributes))
        console.print(f"attribute vectors (musicvae attribute --attribute NAME): {names}", highlight=False)
    from ..generation.compose import bundled_composers

    composers = bundled_composers()
    if composers:
        console.print(f"MCVAE composers (musicvae compose --model NAME; the studio's Continue): {', '.join(composers)}",
                      highlight=False)
    console.print(f"how each was trained: {BUNDLED_DIR}/NAME/CARD.md", highlight=False, soft_wrap=True)


def ood_cell(info: dict, has_prior: bool, sampling: dict | None = None) -> str:
    """``musicvae models``' cell: the stored out-of-distribution rate of the prior sampling uses by default
    (at the model's default temperature when ``fit-prior --sweep`` recorded one)."""
    figures = info.get("samples") if isinstance(info.get("samples"), dict) else {}
    key = "fitted" if has_prior else "standard"
    r = figures.get(key)
    if sampling and "temperature" in sampling:  # fit-prior --sweep: the figures at the default temperature
        swept = sampling.get("sweep", {}).get(f"{sampling['temperature']:g}")  # keyed as _sweep writes them
        if isinstance(swept, dict) and isinstance(swept.get("ood_rate"), (int, float)):
            r = {"ood_rate": swept["ood_rate"], "temperature": sampling["temperature"]}
    if not isinstance(r, dict) or not isinstance(r.get("ood_rate"), (int, float)):
        return "-"
    rhythm = (sampling or {}).get("rhythm_temperature") if "temperature" in (sampling or {}) else None
    line = (f"{100 * r['ood_rate']:.2f} % ({key} prior, T={r.get('temperature', 0.5):g}"
            + (f", rhythm {rhythm:g})" if rhythm is not None else ")"))
    other = figures.get("standard") if key == "fitted" else None
    if isinstance(other, dict) and isinstance(other.get("ood_rate"), (int, float)):
        line += f"\nN(0, I): {100 * other['ood_rate']:.2f} %"
    return line


@app.command("export")
def export_cmd(
    source: Path = typer.Argument(..., help="Training run dir or checkpoint dir."),
    out: Path = typer.Option(..., "--out", "-o", help="Model dir to write (model.safetensors, model.json)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name (default: the folder name)."),
    attributes_from: Optional[Path] = typer.Option(
        None, "--attributes-from", help="Prepared data dir: compute attribute vectors from its train split."),
    limit: int = typer.Option(4096, "--limit", min=16, help="Windows used for attribute vectors."),
) -> None:
    """Export a checkpoint as a compact fp16 model dir (what ships under assets/models)."""
    from ..generation import TrainedModel, export_model

    with user_errors():
        attrs = {}
        if attributes_from is not None:
            attrs = compute_attributes(TrainedModel.load(source), attributes_from, limit)
        export_model(source, out, name=name, attributes=attrs)
        console.print(f"[green]exported[/] {source} -> {out} ({len(attrs)} attribute vectors)", highlight=False)

