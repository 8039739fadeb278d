"""MIDI files in and out, through symusic.

Place in the flow: MIDI bytes -> ``symusic.Score`` -> :mod:`musicvae.music.quantize`
-> :class:`~musicvae.music.sequence.NoteSequence`; and back to ``.mid`` for output.

Every failure becomes a :class:`MidiError` carrying the path and a one-line reason,
so callers (``prepare``, the CLI) can list the file instead of printing a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np


def _defer_soundfont_downloader() -> None:
    """symusic imports its SoundFont downloader (pySmartDL, which pulls in urllib, http, ssl and
    email: ~30-40 ms, a tenth of ``musicvae prepare``'s start-up) when it loads; musicvae never
    downloads. A stand-in module defers that import until something uses the downloader, then
    hands over to the real module (``SmartDL(...)`` and any attribute work as before)."""
    import sys
    import types

    if "symusic" in sys.modules or "pySmartDL" in sys.modules:
        return

    def real():
        if sys.modules.get("pySmartDL") is stand_in:
            del sys.modules["pySmartDL"]
        import importlib

        return importlib.import_module("pySmartDL")

    class SmartDL:
        def __new__(cls, *args, **kwargs):
            return real().SmartDL(*args, **kwargs)

    stand_in = types.ModuleType("pySmartDL", "stand-in until first use (musicvae.music.midi_io)")
    stand_in.SmartDL = SmartDL

    def attribute(name: str):
        if name.startswith("__"):  # the import system asks for __path__, __spec__, ...: not a use
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.__getattr__ = attribute
    sys.modules["pySmartDL"] = stand_in


_defer_soundfont_downloader()
from symusic import Note, Score, Tempo, TimeSignature, Track  # noqa: E402
from symusic.core import ScoreTick  # noqa: E402

_from_midi = ScoreTick.from_midi

from .sequence import END, PITCH, START, TRACK, VELOCITY, NoteSequence

MAX_MIDI_BYTES = 32 * 1024 * 1024  # larger files are refused: no real song needs it
MAX_NOTES = 2_000_000
MIDI_MAGIC = b"MThd"
RIFF_MAGIC = b"RIFF"  # RMID: a standard MIDI file wrapped in RIFF


class MidiError(Exception):
    """A MIDI file that cannot be used, with the reason in one line."""

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = str(path) if path is not None else "<bytes>"
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def read_midi_bytes(data: bytes, path: str | os.PathLike | None = None) -> Score:
    """Parse MIDI bytes (any extension: ``.mid``, ``.midi``, ``.kar``, RMID) into a Score."""
    if len(data) == 0:
        raise MidiError(path, "empty file")
    if len(data) > MAX_MIDI_BYTES:
        raise MidiError(path, f"file too large ({len(data) / 2**20:.0f} MiB > {MAX_MIDI_BYTES // 2**20} MiB)")
    if data[:4] == RIFF_MAGIC:
        at = data.find(MIDI_MAGIC, 0, 64)
        if at < 0:
            raise MidiError(path, "RIFF file without a MIDI chunk")
        data = data[at:]
    if data[:4] != MIDI_MAGIC:
        raise MidiError(path, "not a MIDI file (no MThd header)")
    if len(data) < 14:
        raise MidiError(path, f"truncated MIDI header ({len(data)} bytes)")
    division = int.from_bytes(data[12:14], "big", signed=True)
    if division < 0:  # symusic's own message ("Division type is not ticks per quarter") hides why
        raise MidiError(path, "SMPTE timing (frames per second) is not supported, only ticks per quarter")
    if division == 0:
        raise MidiError(path, "MIDI header has zero ticks-per-quarter")
    try:
        score = _from_midi(data, True)  # Score.from_midi(data, sanitize_data=True) without its dispatch
    except Exception as exc:  # symusic raises RuntimeError/ValueError with C++ messages
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MidiError(path, f"unreadable MIDI ({msg[:120]})") from None
    if score.ticks_per_quarter <= 0:
        raise MidiError(path, "MIDI header has no usable ticks-per-quarter (SMPTE timing is not supported)")
    if score.note_num() > MAX_NOTES:
        raise MidiError(path, f"too many notes ({score.note_num()} > {MAX_NOTES})")
    return score


def read_midi(path: str | os.PathLike) -> Score:
    """Read a MIDI file whatever its extension; raise :class:`MidiError` with a reason."""
    try:
        return _read_midi(path)
    except MidiError as exc:  # the message names the path as a Path spells it
        raise MidiError(Path(path), exc.reason) from None


def _read_midi(p: str | os.PathLike) -> Score:
    try:
        # open without blocking (a FIFO would wait for a writer), then check what was opened:
        # one open and one fstat per file instead of a stat, an open and the fstats of open()
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(st.st_mode):  # a FIFO blocks and /dev/zero never ends: never read them
                raise MidiError(p, f"not a regular file (a {_file_kind(st.st_mode)})")
            if st.st_size > MAX_MIDI_BYTES:
                raise MidiError(p, f"file too large ({st.st_size / 2**20:.0f} MiB > {MAX_MIDI_BYTES // 2**20} MiB)")
            parts, left = [], MAX_MIDI_BYTES + 1  # bounded even if the file grows after the check
            while left > 0:
                part = os.read(fd, min(left, max(st.st_size + 1, 65536)))
                if not part:
                    break
                parts.append(part)
                left -= len(part)
            data = parts[0] if len(parts) == 1 else b"".join(parts)
        finally:
            os.close(fd)
    except MidiError:
        raise
    except FileNotFoundError:
        raise MidiError(p, "no such file") from None
    except IsADirectoryError:
        raise MidiError(p, "is a directory") from None
    except OSError as exc:
        raise MidiError(p, f"cannot read ({exc.strerror or exc})") from None
    return read_midi_bytes(data, p)


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def sequence_to_score(seq: NoteSequence, ticks_per_quarter: int = 480) -> Score:
    """A symusic Score of the sequence (one symusic track per :class:`TrackInfo`)."""
    score = Score(ticks_per_quarter)
    ticks_per_step = ticks_per_quarter // seq.steps_per_quarter
    score.tempos.append(Tempo(0, float(seq.qpm)))
    num, den = seq.time_signature
    score.time_signatures.append(TimeSignature(0, int(num), int(den)))
    for idx, info in enumerate(seq.tracks):
        track = Track(info.name or "", int(info.program), bool(info.is_drum))
        notes = seq.notes[seq.notes[:, TRACK] == idx]
        if len(notes):
            start = notes[:, START].astype(np.int32) * ticks_per_step
            dur = (notes[:, END] - notes[:, START]).astype(np.int32) * ticks_per_step
            track.notes = Note.from_numpy(
                start, dur, notes[:, PITCH].astype(np.int8), notes[:, VELOCITY].clip(1, 127).astype(np.int8)
            )
        score.tracks.append(track)
    return score


def midi_bytes(seq: NoteSequence, ticks_per_quarter: int = 480) -> bytes:
    """Standard MIDI file bytes of a sequence (drum tracks play on channel 10)."""
    return sequence_to_score(seq, ticks_per_quarter).dumps_midi()


def write_midi(seq: NoteSequence, path: str | os.PathLike, ticks_per_quarter: int = 480) -> Path:
    """Write a sequence as a MIDI file atomically (a half-written file never appears)."""
    from ..utils.io import atomic_write_bytes

    return atomic_write_bytes(path, midi_bytes(seq, ticks_per_quarter))
