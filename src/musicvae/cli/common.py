"""What every command of the ``musicvae`` command line shares: the typer app, the consoles, the
one-line refusal (:func:`fail`), the common options, user errors as one line, writing outputs.

Place in the flow: the ``cli`` stage, imported by every command module (``main``, ``generate``,
``evaluate``, ...) and importing none of them, so the command modules form no cycle. ``main``
imports every command module, which registers its commands on :data:`app`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, Optional

import typer
from rich.console import Console

from .. import __version__
from ..utils.names import printable, safe_component
from .coerce import install as _install_fast_options

if TYPE_CHECKING:  # numpy and symusic load only when a command runs: `--help` stays fast
    from ..music.sequence import NoteSequence

_install_fast_options()  # plain option values without pydantic (~0.1 s of every call; see cli.coerce)

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
    """Print a one-line error and exit (file names that are not UTF-8 print as ``\\xNN``)."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(printable(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"musicvae {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version.")):
    pass


MODEL_HELP = "Bundled model name (see `musicvae models`), exported model dir or training run dir."


# the options every music-making command shares, each a type with its option: ``seed: SeedOpt = None``
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP + " Default: mel_2bar.")]
TemperatureOpt = Annotated[Optional[float], typer.Option(
    "--temperature", "-t", min=0.0, max=10.0,
    help="Softmax temperature (0 = argmax); default: the model's own (`musicvae models`), else 0.5.")]
RhythmOpt = Annotated[Optional[float], typer.Option(
    "--rhythm-temperature", min=0.01, max=10.0,
    help="Melody models: draw the rhythm (hold, note-off, new note) at this temperature and only the pitches at "
         "--temperature; default: the model's own (mel_16bar: 0.85), else one temperature for everything.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", min=-(2**63), max=2**63 - 1,
                                                 help="Random seed (same seed, same music).")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
WavOpt = Annotated[bool, typer.Option("--wav", help="Also write audio (General MIDI SoundFont bundled with the package).")]
PngOpt = Annotated[bool, typer.Option("--png", help="Also write a piano-roll image per output.")]
WindowOpt = Annotated[int, typer.Option("--window", min=1, help="Which window of a long input to use (1 = first).")]
KeyOpt = Annotated[Optional[str], typer.Option("--key", "-k", help="Only notes of this key/scale, e.g. 'D minor', "
                                               "C:major, 'F# dorian' (melody models; masks other notes while decoding).")]
QpmOpt = Annotated[float, typer.Option("--qpm", min=20.0, max=400.0,
                                       help="Tempo of the output in quarter notes per minute.")]


def progress_bar(name: str, *columns, **kwargs):
    """A rich progress bar on stderr: ``NAME what``, the bar, done/total, time so far, then ``columns``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(f"[bold]{name}[/] {{task.description}}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), *columns, console=err_console, **kwargs)


@contextmanager
def user_errors() -> Iterator[None]:
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


def report(written: list[Path], what: str) -> None:
    mids = [p for p in written if p.suffix == ".mid"]
    folder = mids[0].parent if mids else Path(".")
    kinds = sorted({p.suffix for p in written})
    console.print(f"[green]wrote[/] {printable(what)}: {len(mids)} MIDI file(s) ({', '.join(kinds)}) in "
                  f"{printable(folder)}/", highlight=False)


def load_split(data: Path, split: str):
    """``PreparedDataset`` of one split, with every data problem as an ``InputError``."""
    from ..data.dataset import DatasetError, PreparedDataset
    from ..generation import InputError

    try:
        return PreparedDataset(data, split)
    except (DatasetError, KeyError) as exc:
        raise InputError(str(exc).strip("'\"")) from None


def check_data(data: Path, model):
    """The eval split, after checking that the data fits the model."""
    from ..generation import InputError

    if not data.exists():
        raise InputError(f"{data}: no such data folder (run `musicvae prepare` first)")
    if not data.is_dir():
        raise InputError(f"{data}: not a folder (give the folder written by `musicvae prepare`)")
    ds = load_split(data, "eval")
    manifest, where = ds.manifest, data / "manifest.json"
    if ds.kind != model.kind:
        raise InputError(f"{where}: {ds.kind} data, but {model.name} is a {model.kind} model")
    steps = manifest.get("steps")
    if steps is not None and int(steps) != model.steps:
        raise InputError(f"{where}: windows of {steps} steps, but {model.name} reads {model.steps}")
    vocab = manifest.get("representation", {}).get("vocab_sizes")
    if vocab is not None and tuple(vocab) != tuple(model.model.vocab_sizes):
        raise InputError(f"{where}: vocabulary sizes {tuple(vocab)}, but {model.name} uses "
                         f"{tuple(model.model.vocab_sizes)}")
    if len(ds) == 0:
        raise InputError(f"{where}: the eval split is empty (prepare with --eval-fraction > 0)")
    tokens = ds.tokens
    if tokens.shape[1] != model.steps:
        raise InputError(f"{where}: windows of {tokens.shape[1]} steps, but {model.name} reads {model.steps}")
    return ds


def compute_attributes(model, data_dir: Path, limit: int, seed: int = 0) -> dict:
    """Attribute vectors of every attribute from up to ``limit`` training windows."""
    import numpy as np

    from ..music.attributes import ATTRIBUTES

    tokens = load_split(data_dir, "train").tokens
    idx = np.random.default_rng(seed).permutation(len(tokens))[:limit]
    tokens = np.asarray(tokens[np.sort(idx)], dtype=np.int64)
    out = {}
    for name in ATTRIBUTES:
        try:
            out[name] = model.attribute_vector(name, tokens)
        except ValueError as exc:
            console.print(f"[yellow]skipped[/] {name}: {exc}")
    return out
