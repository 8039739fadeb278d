"""Cut a user's music into the windows a model reads, and say which window is which.

Place in the flow: MIDI file or NoteSequence -> :func:`extract_windows` -> token
windows ``(T, K)`` with their origin -> ``TrainedModel.encode``.

magenta's ``MultipleExtractedExamplesError`` stops a user whose file is longer than
the model; here every non-overlapping window of the model's length is returned with
its origin ("bars 3-4 of the melody in track 2"), and callers take the first unless
asked for another. The window rules are looser than ``prepare``'s: a window only
needs one onset (a musician's own two bars may rest for more than a bar).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.windows import WindowRules, grid_windows
from ..music.midi_io import MidiError
from ..music.quantize import load_sequences
from ..music.sequence import NoteSequence
from ..representations.base import GridConverter


class InputError(ValueError):
    """Music the model cannot take (one line: the file and the reason)."""


@contextmanager
def input_errors(*kinds: type[Exception]) -> Iterator[None]:
    """Inside the block, an error of one of ``kinds`` becomes an :class:`InputError` with its message."""
    try:
        yield
    except kinds as exc:
        raise InputError(str(exc)) from None


@dataclass(frozen=True)
class Window:
    """One model-length window of the input and where it came from."""

    tokens: np.ndarray  # (T, K)
    source: str
    start_bar: int
    bars: int
    candidate: int = 0  # which line (track) of the stretch, in the converter's order
    stretch: int = 0  # which 4/4 stretch of the file
    qpm: float = 120.0

    def describe(self, with_source: bool = True) -> str:
        """``"tune.mid (bars 3-4, line 2)"``; without the source just ``"bars 3-4, line 2"``."""
        where = f"bars {self.start_bar + 1}-{self.start_bar + self.bars}"
        extra = f", line {self.candidate + 1}" if self.candidate else ""
        extra += f", 4/4 section {self.stretch + 1}" if self.stretch else ""
        if not with_source:
            return where + extra
        return f"{self.source or 'input'} ({where}{extra})"


def _sequences(source: str | os.PathLike | NoteSequence) -> tuple[list[NoteSequence], str]:
    if isinstance(source, NoteSequence):
        return [source], source.source or "sequence"
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a MIDI file")
    with input_errors(MidiError):
        return load_sequences(path), str(path)


def extract_windows(
    source: str | os.PathLike | NoteSequence,
    converter: GridConverter,
    bars: int,
    *,
    steps_per_bar: int = 16,
) -> list[Window]:
    """Every non-overlapping ``bars``-bar window of ``source`` the converter can read.

    Raises :class:`InputError` naming the file when there is none (a missing or
    non-MIDI file, no 4/4 music, or nothing of the model's kind, e.g. drums given to a
    melody model).
    """
    seqs, name = _sequences(source)
    rules = WindowRules(bars=bars, steps_per_bar=steps_per_bar, stride_bars=bars, max_rest_bars=float(bars))
    found: list[Window] = []
    any_candidate = False
    for k, seq in enumerate(seqs):
        for c, grid in enumerate(converter.candidates(seq)):
            any_candidate = True
            wins, starts = grid_windows(converter, grid, rules)
            for w, s in zip(wins, starts):
                found.append(Window(w, name, int(s), bars, c, int(seq.meta.get("stretch", k)), float(seq.qpm)))
    if not found:
        what = {"melody": "a melody (a non-drum track)", "drums": "a drum track", "trio": "melody, bass and drums"}
        if not any_candidate:
            reason = f"nothing to read as {what.get(converter.kind, converter.kind)}"
        else:
            total = max((s.num_bars for s in seqs), default=0)
            reason = (f"no {bars}-bar {converter.kind} window with notes"
                      + (f" (the music is {total} bar{'s' if total != 1 else ''} long)" if total < bars else ""))
        raise InputError(f"{name}: {reason}")
    return found
