"""Commands that make music with a trained model: sample, reconstruct, interpolate, ...

Place in the flow: the CLI's end of ``generation`` -> ``render``. Every command only
calls :class:`~musicvae.generation.TrainedModel` and writes what it returns as MIDI,
plus WAV (``--wav``) and piano-roll PNG (``--png``); errors are one line.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..music.sequence import NoteSequence
from ..utils.names import printable, safe_component
from .main import app, console, fail

MODEL_HELP = "Bundled model name (see `musicvae models`), exported model dir or training run dir."


def _opt_model():
    return typer.Option(None, "--model", "-m", help=MODEL_HELP + " Default: mel_2bar.")


def _opt_temperature(default: float = 0.5):
    return typer.Option(default, "--temperature", "-t", min=0.0, help="Softmax temperature (0 = argmax).")


def _opt_seed():
    return typer.Option(None, "--seed", min=-(2**63), max=2**63 - 1, help="Random seed (same seed, same music).")


def _opt_out(default: str):
    return typer.Option(Path(default), "--out", "-o", help="Output folder.")


def _opt_wav():
    return typer.Option(False, "--wav", help="Also write audio (General MIDI SoundFont bundled with the package).")


def _opt_png():
    return typer.Option(False, "--png", help="Also write a piano-roll image per output.")


def _opt_window():
    return typer.Option(1, "--window", min=1, help="Which window of a long input to use (1 = first).")


def _opt_key():
    return typer.Option(None, "--key", "-k", help="Only notes of this key/scale, e.g. 'D minor', C:major, "
                                                  "'F# dorian' (melody models; masks other notes while decoding).")


def _key(m, key: Optional[str]) -> dict:
    """``key=`` for a decoding call (nothing when not asked for, so note models keep working without it)."""
    if key is None:
        return {}
    if not hasattr(m, "keyed"):
        fail(f"--key: {m.name} is a note-event model; the key constraint works with MusicVAE-style models")
    return {"key": key}


def _opt_qpm():
    return typer.Option(120.0, "--qpm", min=20.0, max=400.0, help="Tempo of the output in quarter notes per minute.")


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn every error a user can cause into one line."""
    from ..generation import InputError
    from ..render import RenderError
    from ..training.state_io import CheckpointError

    try:
        yield
    except (InputError, RenderError, CheckpointError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))


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


def _pick(model, path: Path, window: int):
    """The ``window``-th window of a file, saying which one was used when there are several."""
    from ..generation import InputError

    wins = model.windows(path)
    if window > len(wins):
        raise InputError(f"{path}: has {len(wins)} {model.bars}-bar window(s); --window {window} is past the end")
    chosen = wins[window - 1]
    if len(wins) > 1:
        console.print(f"[dim]{printable(path.name)}: using {chosen.describe(with_source=False)}, window {window} of {len(wins)} "
                      f"(choose with --window)[/]", highlight=False)
    return chosen


def _with(base: Path, ext: str) -> Path:
    """``base`` + ``ext`` (``with_suffix`` would cut a stem with a dot, ``a.b-recon`` -> ``a.mid``)."""
    return base.parent / (base.name + ext)


def write_outputs(seqs: list[NoteSequence], out: Path, stem: str, *, wav: bool, png: bool,
                  titles: list[str] | None = None, strip: bool = False) -> list[Path]:
    """Write ``stem-01.mid`` ... (+ .wav, .png), and one strip image of all when ``strip``."""
    from ..music.midi_io import write_midi

    if "/" in stem or os.sep in stem or stem in ("", ".", "..") or "\0" in stem:
        stem = safe_component(stem)  # a stem is one file name inside --out, whatever it was built from
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    width = max(2, len(str(len(seqs))))
    for i, seq in enumerate(seqs, 1):
        base = out / (f"{stem}-{i:0{width}d}" if len(seqs) > 1 else stem)
        written.append(write_midi(seq, _with(base, ".mid")))
        if wav:
            from ..render import render_wav

            written.append(render_wav(seq, _with(base, ".wav")))
        if png:
            from ..render import piano_roll_image

            title = titles[i - 1] if titles else base.name
            written.append(piano_roll_image(seq, _with(base, ".png"), title=title))
    if strip and png:
        from ..render import piano_roll_strip

        written.append(piano_roll_strip(seqs, out / f"{stem}-strip.png", titles=titles))
    return written


def _report(written: list[Path], what: str) -> None:
    mids = [p for p in written if p.suffix == ".mid"]
    folder = mids[0].parent if mids else Path(".")
    kinds = sorted({p.suffix for p in written})
    console.print(f"[green]wrote[/] {printable(what)}: {len(mids)} MIDI file(s) ({', '.join(kinds)}) in "
                  f"{printable(folder)}/", highlight=False)


@app.command()
def sample(
    model: Optional[str] = _opt_model(),
    n: int = typer.Option(4, "--n", "-n", min=1, max=1024, help="How many pieces."),
    temperature: float = _opt_temperature(),
    seed: Optional[int] = _opt_seed(),
    key: Optional[str] = _opt_key(),
    qpm: float = _opt_qpm(),
    out: Path = _opt_out("samples"),
    wav: bool = _opt_wav(),
    png: bool = _opt_png(),
    label: Optional[str] = typer.Option(
        None, "--label", "-l", help="MusAE (mixture prior): sample this style label's petal, or a group's (e.g. irish); "
                                    "note models (VRASH family): sample tracks of this source collection."),
    prior: Optional[str] = typer.Option(
        None, "--prior", help="fitted (the prior fitted to the training codes, prior.safetensors) or standard "
                              "(N(0, I)); default: fitted when the model has one."),
) -> None:
    """Sample new music from the model's prior (note models: whole melodies of variable length)."""
    from ..generation import InputError, TrainedModel

    with _user_errors():
        m = _load(model, notes=True)
        if prior is not None and not isinstance(m, TrainedModel):
            raise InputError(f"{m.name}: --prior applies to MusicVAE models, not note-level models")
        extra = {"prior": prior} if prior is not None else {}
        seqs = m.sample(n, temperature, seed=seed, qpm=qpm, label=label, **_key(m, key), **extra)
        used = m.prior_name(prior) if isinstance(m, TrainedModel) and m.has_latent else None
        what = f"{n} sample(s) from {m.name}" + (f" (label {label})" if label else "") + (
            f" ({used} prior)" if used in ("fitted", "standard") else "")
        _report(write_outputs(seqs, out, "sample", wav=wav, png=png), what)


@app.command()
def reconstruct(
    inputs: list[Path] = typer.Argument(..., help="MIDI file(s) to encode and decode."),
    model: Optional[str] = _opt_model(),
    temperature: float = _opt_temperature(),
    seed: Optional[int] = _opt_seed(),
    window: int = _opt_window(),
    key: Optional[str] = _opt_key(),
    qpm: float = _opt_qpm(),
    out: Path = _opt_out("reconstructions"),
    wav: bool = _opt_wav(),
    png: bool = _opt_png(),
) -> None:
    """Encode each input and decode it again: what the model hears."""
    with _user_errors():
        m = _load(model)
        wins = [_pick(m, p, window) for p in inputs]
        for path, seq in zip(inputs, m.reconstruct(wins, temperature, seed=seed, qpm=qpm, **_key(m, key))):
            _report(write_outputs([seq], out, f"{path.stem}-recon", wav=wav, png=png), f"reconstruction of {path.name}")


@app.command()
def interpolate(
    a: Path = typer.Argument(..., help="Start MIDI file."),
    b: Path = typer.Argument(..., help="End MIDI file."),
    model: Optional[str] = _opt_model(),
    steps: int = typer.Option(5, "--steps", min=2, max=64, help="Number of pieces, endpoints included."),
    method: Optional[str] = typer.Option(
        None, "--method", help="slerp or lerp (default: slerp for MusicVAE, lerp for MusAE, as their papers)."),
    temperature: float = _opt_temperature(),
    seed: Optional[int] = _opt_seed(),
    window: int = _opt_window(),
    key: Optional[str] = _opt_key(),
    qpm: float = _opt_qpm(),
    out: Path = _opt_out("interpolation"),
    wav: bool = _opt_wav(),
    png: bool = _opt_png(),
) -> None:
    """Interpolate in latent space from A to B (the endpoints are A's and B's reconstructions)."""
    with _user_errors():
        if method not in (None, "slerp", "lerp"):
            fail(f"--method must be slerp or lerp, got {method!r}")
        m = _load(model)
        method = method or ("lerp" if m.family == "musae" else "slerp")
        seqs = m.interpolate(_pick(m, a, window), _pick(m, b, window), steps, method, temperature, seed=seed, qpm=qpm,
                              **_key(m, key))
        titles = [f"α={i / (steps - 1):.2f}" for i in range(steps)]
        written = write_outputs(seqs, out, f"{a.stem}-to-{b.stem}", wav=wav, png=png, titles=titles, strip=True)
        _report(written, f"{steps}-step {method} interpolation")


@app.command()
def attribute(
    input: Path = typer.Argument(..., help="MIDI file to edit."),
    name: str = typer.Option(..., "--attribute", "-a", help="Attribute vector, e.g. note_density (see `musicvae models`)."),
    amount: float = typer.Option(1.0, "--amount", help="How many attribute vectors to add (negative subtracts)."),
    model: Optional[str] = _opt_model(),
    temperature: float = _opt_temperature(),
    seed: Optional[int] = _opt_seed(),
    window: int = _opt_window(),
    key: Optional[str] = _opt_key(),
    qpm: float = _opt_qpm(),
    out: Path = _opt_out("attribute"),
    wav: bool = _opt_wav(),
    png: bool = _opt_png(),
) -> None:
    """Move a piece along an attribute vector (more or less note density, syncopation, ...)."""
    with _user_errors():
        if not math.isfinite(amount):
            fail(f"--amount must be a finite number, not {amount}")
        m = _load(model)
        win = _pick(m, input, window)
        amounts = [0.0, amount]
        seqs = [m.apply_attribute(win, name, a, temperature, seed=seed, qpm=qpm, **_key(m, key)) for a in amounts]
        titles = [f"{name} {a:+g}" for a in amounts]
        # the name comes from the model's attributes.safetensors: never a path of its own
        written = write_outputs(seqs, out, f"{input.stem}-{safe_component(name)}", wav=wav, png=png, titles=titles,
                                strip=True)
        _report(written, f"{name} {amount:+g} edit of {input.name} (file 1: unedited reconstruction)")


@app.command()
def average(
    inputs: list[Path] = typer.Argument(..., help="Two or more MIDI files."),
    model: Optional[str] = _opt_model(),
    temperature: float = _opt_temperature(),
    seed: Optional[int] = _opt_seed(),
    window: int = _opt_window(),
    key: Optional[str] = _opt_key(),
    qpm: float = _opt_qpm(),
    out: Path = _opt_out("average"),
    wav: bool = _opt_wav(),
    png: bool = _opt_png(),
) -> None:
    """Decode the mean latent code of several pieces (latent averaging)."""
    with _user_errors():
        if len(inputs) < 2:
            fail("average needs at least two MIDI files")
        m = _load(model)
        seq = m.average([_pick(m, p, window) for p in inputs], temperature, seed=seed, qpm=qpm, **_key(m, key))
        _report(write_outputs([seq], out, "average", wav=wav, png=png), f"average of {len(inputs)} pieces")


@app.command()
def similar(
    input: Path = typer.Argument(..., help="MIDI file to vary."),
    n: int = typer.Option(4, "--n", "-n", min=1, max=256, help="How many variations."),
    similarity: float = typer.Option(0.8, "--similarity", min=0.0, max=1.0, help="1 = the same code, 0 = unrelated."),
    model: Optional[str] = _opt_model(),
    temperature: float = _opt_temperature(),
    seed: Optional[int] = _opt_seed(),
    window: int = _opt_window(),
    key: Optional[str] = _opt_key(),
    qpm: float = _opt_qpm(),
    out: Path = _opt_out("similar"),
    wav: bool = _opt_wav(),
    png: bool = _opt_png(),
) -> None:
    """Variations on a piece: codes near its own."""
    with _user_errors():
        m = _load(model)
        seqs = m.similar(_pick(m, input, window), n, similarity, temperature, seed=seed, qpm=qpm, **_key(m, key))
        _report(write_outputs(seqs, out, f"{input.stem}-similar", wav=wav, png=png), f"{n} variations of {input.name}")


@app.command()
def render(
    inputs: list[Path] = typer.Argument(..., help="MIDI file(s) to render."),
    out: Path = _opt_out("rendered"),
    wav: bool = typer.Option(True, "--wav/--no-wav", help="Write audio."),
    png: bool = typer.Option(True, "--png/--no-png", help="Write a piano roll."),
) -> None:
    """Render MIDI files to WAV and piano-roll PNG (whole files, any length)."""
    from ..generation import InputError
    from ..music.midi_io import MidiError
    from ..music.quantize import load_sequences

    with _user_errors():
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
        with _user_errors():
            files = load_model_files(name)
        info = files.info
        m = upgrade_accuracy_names(info.get("metrics", {}))  # older cards: their "sampled" was free-running
        acc = " / ".join(f"{m[k]:.3f}" if k in m else "-" for k in
                         ("tf_accuracy", "sampled_accuracy", "free_running_accuracy")) if m else "-"
        music = f"{files.config.data.bars}-bar {files.representation.get('kind', '?')}\n{files.config.model.decoder} decoder"
        table.add_row(name, music, str(info.get("data", "-")), acc, ood_cell(info, files.prior is not None))
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


def ood_cell(info: dict, has_prior: bool) -> str:
    """``musicvae models``' cell: the stored out-of-distribution rate of the prior sampling uses by default."""
    figures = info.get("samples") if isinstance(info.get("samples"), dict) else {}
    key = "fitted" if has_prior else "standard"
    r = figures.get(key)
    if not isinstance(r, dict) or not isinstance(r.get("ood_rate"), (int, float)):
        return "-"
    line = f"{100 * r['ood_rate']:.2f} % ({key} prior)"
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

    with _user_errors():
        attrs = {}
        if attributes_from is not None:
            attrs = compute_attributes(TrainedModel.load(source), attributes_from, limit)
        export_model(source, out, name=name, attributes=attrs)
        console.print(f"[green]exported[/] {source} -> {out} ({len(attrs)} attribute vectors)", highlight=False)


def compute_attributes(model, data_dir: Path, limit: int, seed: int = 0) -> dict:
    """Attribute vectors of every attribute from up to ``limit`` training windows."""
    import numpy as np

    from ..data.dataset import DatasetError, PreparedDataset
    from ..evaluation.metrics import ATTRIBUTES

    try:
        tokens = PreparedDataset(data_dir, "train").tokens
    except DatasetError as exc:
        fail(str(exc))
    idx = np.random.default_rng(seed).permutation(len(tokens))[:limit]
    tokens = np.asarray(tokens[np.sort(idx)], dtype=np.int64)
    out = {}
    for name in ATTRIBUTES:
        try:
            out[name] = model.attribute_vector(name, tokens)
        except ValueError as exc:
            console.print(f"[yellow]skipped[/] {name}: {exc}")
    return out
