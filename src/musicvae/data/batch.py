"""A chunk of ``musicvae prepare`` processed together: melody or drum windows of many files per array pass.

Place in the flow: ``data.prepare`` worker (one chunk of items) -> :func:`window_chunk` ->
(``music.batch``: quantize, ``representations.batch``: token lines, ``data.windows.line_windows``)
-> the chunk's records, as the per-file loop of ``prepare._process_chunk`` gives them.

Per file only what cannot be shared is done: reading the file and taking its notes out of
symusic. The rest (rounding to steps, the checks that refuse a file, monophonic lines or drum hits, tokens,
the window rules and cutting) runs once over all the chunk's notes. The output is the per-file
path's, record for record and reject for reject (``tests/data/test_batch_prepare.py``); anything
the arrays do not cover (several time signatures in a file) goes through ``quantize_score`` first
and joins the same arrays, and a chunk that fails in the arrays for any reason is done again file
by file, so a bad file costs at most its own windows, never its neighbours'.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..music.batch import TableBuilder
from ..music.midi_io import MidiError, read_midi
from ..representations.batch import drum_lines, melody_lines
from ..representations.drums import DrumConverter
from ..representations.melody import MelodyConverter
from .windows import line_windows


MAX_NOTES_PER_PASS = 20_000  # notes quantized and encoded together (arrays of ~10 int64 per note)


LINES = {MelodyConverter: melody_lines, DrumConverter: drum_lines}  # converter -> its batched candidates


def read_or_reject(read: Callable[[int], Any], index: int, rejects: list) -> Any | None:
    """``read(index)``, or None with ``(index, reason)`` added to ``rejects`` (both chunk paths: one bad
    file never stops the corpus)."""
    try:
        return read(index)
    except MidiError as exc:
        rejects.append((index, exc.reason))
    except Exception as exc:
        rejects.append((index, f"unexpected error: {type(exc).__name__}: {str(exc)[:100]}"))
    return None


def batchable(cfg, converter) -> bool:
    """Whether :func:`window_chunk` does this kind: melody or drum windows (one stream)."""
    return type(converter) in LINES and cfg.records.unit == "window"


def window_chunk(source, cfg, converter, indices, load_item=None) -> tuple[dict, list, int, list, np.ndarray]:
    """``(acc, per_item, ok, rejects, item)`` of a chunk as ``prepare._process_chunk``'s loop builds them:
    ``acc`` holds ``tokens`` and ``start_bar`` (one array each, or none), ``per_item``: ``(index,
    windows)`` of every item read and usable, ``ok``: how many, ``rejects``: ``(index, reason)``,
    ``item``: the source item of every window. ``load_item(index)``: a corpus item's sequences
    (files are read here)."""
    rejects: list[tuple[int, str]] = []
    builder = TableBuilder()
    read: list[int] = []
    wins, items, bars = [], [], []

    def flush() -> None:  # the files gathered so far, in a few array passes
        rejects.extend(builder.quantize_scores())
        table = builder.build()
        lines = LINES[type(converter)](converter, table)
        w, line, bar = line_windows(converter.stream, lines.tokens, lines.offsets, cfg.rules)
        if len(w):
            wins.append(w)
            bars.append(bar)
            items.append(table.item[lines.seq[line]].astype(np.int32))
        builder.clear()

    read_file = load_item if source.corpus else (lambda i: read_midi(source.path_of(i)))
    for index in indices:
        got = read_or_reject(read_file, index, rejects)
        if got is None:
            continue
        # what is left of quantize_score's work raises only where it would: the caller redoes the chunk
        if source.corpus:
            builder.add_sequences(index, got)
        else:
            builder.add_score(index, got, source.path_of(index))
            del got  # its notes are out: the next file reuses its memory
        read.append(index)
        if builder.notes >= MAX_NOTES_PER_PASS:  # long files: the arrays stay a few MB (peak RSS)
            flush()
    flush()

    item = np.concatenate(items) if items else np.zeros(0, np.int32)
    gone = {i for i, _ in rejects}
    ok_items = [i for i in read if i not in gone]
    counts = np.bincount(item, minlength=max(ok_items, default=-1) + 1) if len(item) else None
    per_item = [(i, int(counts[i]) if counts is not None else 0) for i in ok_items]
    acc = {"tokens": [np.concatenate(wins)] if wins else [], "start_bar": [np.concatenate(bars)] if wins else []}
    rejects.sort(key=lambda r: r[0])
    return acc, per_item, len(ok_items), rejects, item
