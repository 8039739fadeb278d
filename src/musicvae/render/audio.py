"""Audio from a :class:`NoteSequence`: General MIDI synthesis through a SoundFont.

Place in the flow: ``generation`` (NoteSequences) -> ``render`` (this module: WAV)
-> the files the CLI writes (``--wav``, ``musicvae render``).

Route: sequence -> :func:`musicvae.music.midi_io.sequence_to_score` (drum tracks on
MIDI channel 10, so they sound as GM percussion) -> standard MIDI bytes ->
``midirenderer`` (a Rust SoundFont synthesizer shipped as a self-contained PyPI
wheel: no system library) -> 48 kHz 16-bit stereo -> trimmed/padded to the exact
length of the sequence -> band-limited resampling to ``sample_rate``.

The SoundFont is ``TimGM6mb.sf2`` (General MIDI, ~6 MB), which the ``pretty_midi``
wheel installs inside its package folder; it is located with
``importlib.util.find_spec`` (nothing of pretty_midi is imported) so nothing is
downloaded at run time. ``soundfont=`` (the CLI's ``--soundfont``) or the
``MUSICVAE_SOUNDFONT`` environment variable selects another ``.sf2``.

Why not symusic's own ``Synthesizer``: in symusic 0.6.0 (the installed version)
``Synthesizer.render`` cannot return its buffer to Python ("Unable to convert function
return value to a Python type ... Eigen::Array"), a binding bug, and the
``symusic.BuiltInSF3`` SoundFonts are downloaded at run time. ``tinysoundfont``
depends on ``pyaudio``, which has no Linux wheel and needs PortAudio headers to
build; ``pyfluidsynth`` needs the system libfluidsynth. ``midirenderer`` renders
the same SoundFont with no such requirement, at a fixed 48 kHz.

Output convention: :func:`render_audio` returns float32 ``(channels, samples)``,
stereo (2 channels) by default, mono ``(1, samples)`` with ``stereo=False``; values
in [-1, 1]. Its length is exactly ``round(sequence_seconds(seq, tail) * sample_rate)``
samples, where ``sequence_seconds = total_steps / steps_per_quarter * 60 / qpm + tail``.
The synthesizer's level is kept (a quiet piece stays quiet, silence stays exactly
zero); only a peak that would clip is scaled down to -1 dBFS.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
import wave
from pathlib import Path

import numpy as np

from ..music.midi_io import sequence_to_score
from ..music.sequence import NoteSequence

__all__ = [
    "RenderError",
    "render_audio",
    "render_wav",
    "default_soundfont",
    "sequence_seconds",
    "DEFAULT_SAMPLE_RATE",
    "DEFAULT_TAIL",
    "SOUNDFONT_ENV",
]

DEFAULT_SAMPLE_RATE = 22050
DEFAULT_TAIL = 0.5  # seconds of release after the last step
SOUNDFONT_ENV = "MUSICVAE_SOUNDFONT"
SOUNDFONT_NAME = "TimGM6mb.sf2"
SOUNDFONT_PACKAGE = "pretty_midi"
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4000, 192000
MAX_SOUNDFONT_BYTES = 1 << 30
# Longest audio rendered: 20 minutes (~210 MB of float32 stereo at 22,050 Hz). A 45-byte MIDI file
# can span 60,000 bars (hours of audio, tens of GB); such a file is refused with its length.
MAX_RENDER_SECONDS = 20 * 60
CLIP_PEAK = 10 ** (-1 / 20)  # -1 dBFS: where a clipping render is scaled to
_TAIL_CONTROLLER = 110  # an undefined MIDI CC: only marks the end of the file
_TICKS_PER_QUARTER = 480


class RenderError(ValueError):
    """Audio or image rendering that cannot be done, with the reason (and path) in one line."""


# ------------------------------------------------------------------ soundfont
def default_soundfont() -> Path:
    """The SoundFont used when none is given: ``$MUSICVAE_SOUNDFONT``, else pretty_midi's TimGM6mb.sf2.

    Only locates the file (it may still be missing: :func:`render_audio` checks it).
    """
    env = os.environ.get(SOUNDFONT_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    try:
        spec = importlib.util.find_spec(SOUNDFONT_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise RenderError(
            f"{SOUNDFONT_NAME}: the General MIDI SoundFont is missing (package {SOUNDFONT_PACKAGE!r} is not "
            f"installed; reinstall musicvae or pass --soundfont PATH)"
        )
    for loc in locations:
        candidate = Path(loc) / SOUNDFONT_NAME
        if candidate.is_file():
            return candidate
    return Path(locations[0]) / SOUNDFONT_NAME


def _soundfont_bytes(soundfont: str | os.PathLike | None) -> tuple[Path, bytes]:
    path = Path(soundfont).expanduser() if soundfont is not None else default_soundfont()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise RenderError(f"{path}: SoundFont not found (pass --soundfont PATH to an .sf2 file)") from None
    except OSError as exc:
        raise RenderError(f"{path}: cannot read SoundFont ({exc.strerror or exc})") from None
    if not path.is_file():
        raise RenderError(f"{path}: SoundFont is not a file")
    if st.st_size > MAX_SOUNDFONT_BYTES:
        raise RenderError(f"{path}: SoundFont too large ({st.st_size / 2**20:.0f} MiB)")
    return path, _read_soundfont(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=2)
def _read_soundfont(path: str, mtime_ns: int, size: int) -> bytes:
    """The file's bytes, checked to be a SoundFont 2 (RIFF ``sfbk``); cached while unchanged."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RenderError(f"{path}: cannot read SoundFont ({exc.strerror or exc})") from None
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise RenderError(f"{path}: not a SoundFont 2 file (no RIFF 'sfbk' header)")
    return data


# ------------------------------------------------------------------ audio
def sequence_seconds(seq: NoteSequence, tail: float = DEFAULT_TAIL) -> float:
    """Length of the sequence's audio: ``total_steps / steps_per_quarter * 60 / qpm + tail``."""
    return seq.total_steps / seq.steps_per_quarter * 60.0 / float(seq.qpm) + tail


def _check_args(seq: NoteSequence, sample_rate: int, tail: float) -> None:
    if not isinstance(sample_rate, (int, np.integer)) or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise RenderError(f"sample rate must be an integer in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, "
                          f"got {sample_rate!r}")
    if not (math.isfinite(tail) and 0 <= tail <= 60):
        raise RenderError(f"tail must be between 0 and 60 seconds, got {tail!r}")
    if not (math.isfinite(float(seq.qpm)) and seq.qpm > 0):
        raise RenderError(f"tempo must be positive, got qpm={seq.qpm!r}")
    if seq.total_steps < 0:
        raise RenderError(f"negative sequence length ({seq.total_steps} steps)")
    seconds = sequence_seconds(seq, tail)
    if seconds > MAX_RENDER_SECONDS:
        raise RenderError(f"{seconds / 60:,.0f} minutes of audio ({seq.total_steps // 16:,} bars at {seq.qpm:g} qpm); "
                          f"audio is rendered up to {MAX_RENDER_SECONDS // 60} minutes (--no-wav skips audio)")


def _synthesize(seq: NoteSequence, sf_path: Path, sf_data: bytes, seconds: float) -> tuple[np.ndarray, int]:
    """midirenderer's output for the sequence: float32 ``(channels, n)`` and its sample rate."""
    import midirenderer
    from symusic import ControlChange

    score = sequence_to_score(seq, _TICKS_PER_QUARTER)
    # A no-op controller at the very end makes the synth render the release tail
    # (it stops at the last MIDI event otherwise).
    end_tick = int(math.ceil(seconds * float(seq.qpm) / 60.0 * _TICKS_PER_QUARTER))
    score.tracks[0].controls.append(ControlChange(end_tick, _TAIL_CONTROLLER, 0))
    try:
        wav_bytes = midirenderer.render_wave_from(sf_data, score.dumps_midi())
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # Rust panics arrive as pyo3's PanicException (a BaseException)
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RenderError(f"{sf_path}: cannot synthesize with this SoundFont ({msg[:160]})") from None
    with wave.open(io.BytesIO(wav_bytes), "rb") as wf:
        channels, width, rate, frames = wf.getnchannels(), wf.getsampwidth(), wf.getframerate(), wf.getnframes()
        raw = wf.readframes(frames)
    if width != 2:
        raise RenderError(f"{sf_path}: synthesizer returned {8 * width}-bit audio, expected 16-bit")
    pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).T
    return pcm.astype(np.float32) / 32768.0, rate


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    if x.shape[-1] >= n:
        return x[..., :n]
    return np.pad(x, ((0, 0), (0, n - x.shape[-1])))


def _fft_resample(x: np.ndarray, n_out: int) -> np.ndarray:
    """Band-limited resampling of ``(channels, n)`` to ``n_out`` samples (treats the block as periodic)."""
    n_in = x.shape[-1]
    spec = np.fft.rfft(x.astype(np.float64), axis=-1)
    out = np.zeros(x.shape[:-1] + (n_out // 2 + 1,), dtype=np.complex128)
    m = min(spec.shape[-1], out.shape[-1])
    out[..., :m] = spec[..., :m]
    return np.fft.irfft(out, n=n_out, axis=-1) * (n_out / n_in)


def _resample(x: np.ndarray, src: int, dst: int, n_out: int) -> np.ndarray:
    """``(channels, n)`` at ``src`` Hz -> ``(channels, n_out)`` at ``dst`` Hz.

    FFT resampling in blocks whose lengths are whole multiples of the exact rate ratio,
    each with ~0.1 s of real context on both sides, so memory stays bounded on long
    pieces and the block seams are inaudible.
    """
    if src == dst:
        return _fit_length(x, n_out)
    g = math.gcd(src, dst)
    down, up = src // g, dst // g  # `down` input samples span exactly `up` output samples
    n_units = -(-x.shape[-1] // down)
    block = max(1, (1 << 19) // down)
    pad = max(1, -(-src // 10 // down))
    xp = np.pad(x, ((0, 0), (pad * down, n_units * down - x.shape[-1] + pad * down)))
    pieces = []
    for u0 in range(0, n_units, block):
        u1 = min(n_units, u0 + block)
        seg = xp[:, u0 * down:(u1 + 2 * pad) * down]
        res = _fft_resample(seg, (u1 - u0 + 2 * pad) * up)
        pieces.append(res[:, pad * up:(pad + u1 - u0) * up])
    y = np.concatenate(pieces, axis=-1) if pieces else np.zeros((x.shape[0], 0))
    return _fit_length(y.astype(np.float32), n_out)


def render_audio(
    seq: NoteSequence,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    soundfont: str | os.PathLike | None = None,
    *,
    tail: float = DEFAULT_TAIL,
    stereo: bool = True,
) -> np.ndarray:
    """Synthesize a sequence through a General MIDI SoundFont.

    Args:
        seq: the music; each track plays its GM ``program``, drum tracks GM percussion.
        sample_rate: output rate in Hz.
        soundfont: an ``.sf2`` file; default :func:`default_soundfont` (TimGM6mb).
        tail: seconds of release rendered after ``total_steps``.
        stereo: ``(2, n)`` when true, ``(1, n)`` (the channels' mean) when false.

    Returns:
        float32 ``(channels, n)`` with ``n = round(sequence_seconds(seq, tail) * sample_rate)``,
        in [-1, 1]; all zeros (no NaN) for a sequence without notes.

    Raises:
        RenderError: missing or unreadable SoundFont (message names the path), bad arguments.
    """
    _check_args(seq, sample_rate, tail)
    sf_path, sf_data = _soundfont_bytes(soundfont)
    seconds = sequence_seconds(seq, tail)
    n_out = int(round(seconds * sample_rate))
    channels = 2 if stereo else 1
    if len(seq.notes) == 0 or not seq.tracks or n_out == 0:
        return np.zeros((channels, n_out), dtype=np.float32)
    audio, rate = _synthesize(seq, sf_path, sf_data, seconds)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    audio = _fit_length(audio[:2], int(round(seconds * rate)))
    audio = _resample(audio, rate, int(sample_rate), n_out)
    if not stereo:
        audio = audio.mean(axis=0, keepdims=True)
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 1.0:
        audio *= CLIP_PEAK / peak
    return np.ascontiguousarray(audio, dtype=np.float32)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV file bytes of float ``(channels, n)`` audio in [-1, 1]."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(audio.shape[0])
        wf.setsampwidth(2)
        wf.setframerate(int(sample_rate))
        wf.writeframes(np.ascontiguousarray(pcm.T).tobytes())
    return buf.getvalue()


def render_wav(
    seq: NoteSequence,
    path: str | os.PathLike,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    soundfont: str | os.PathLike | None = None,
    tail: float = DEFAULT_TAIL,
    stereo: bool = True,
) -> Path:
    """Write the sequence's audio (see :func:`render_audio`) as a 16-bit PCM WAV, atomically."""
    from ..utils.io import atomic_write_bytes

    try:
        _check_args(seq, sample_rate, tail)
    except RenderError as exc:
        raise RenderError(f"{path}: {exc}") from None
    audio = render_audio(seq, sample_rate, soundfont, tail=tail, stereo=stereo)
    return atomic_write_bytes(path, wav_bytes(audio, sample_rate))
