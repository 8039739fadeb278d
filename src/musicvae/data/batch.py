"""A chunk of ``musicvae prepare`` processed together: melody windows of many files per array pass.

Place in the flow: ``data.prepare`` worker (one chunk of items) -> :func:`melody_chunk` ->
(``music.batch``: quantize, ``representations.batch``: melody lines, ``data.windows.line_windows``)
-> the chunk's records, as the per-file loop of ``prepare._process_chunk`` gives them.

Per file only what cannot be shared is done: reading the file and taking its notes out of
symusic. The rest (rounding to steps, the checks that refuse a file, monophonic lines, tokens,
the window rules and cutting) runs once over all the chunk's notes. The output is the per-file
path's, record for record and reject for reject (``tests/data/test_batch_prepare.py``); anything
the arrays do not cover (several time signatures in a file) goes through ``quantize_score`` first
and joins the same arrays, and a chunk that fails in the arrays for any reason is done again file
by file, so a bad file costs at most its own windows, never its neighbours'.
"""

from __future__ import annotations

import numpy as np

from ..music.batch import TableBuilder
from ..music.midi_io import MidiError, read_midi
from ..representations.batch import melody_lines
from ..representations.melody import MelodyConverter
from .windows import line_windows


def batchable(cfg, converter) -> bool:
    """Whether :func:`melody_chunk` does this kind: melody windows of one stream."""
    return cfg.kind == "melody" and type(converter) is MelodyConverter and cfg.records.unit == "window"


def melody_chunk(source, cfg, converter, indices, load_item=None) -> tuple[dict, list, int, list, np.ndarray]:
    """``(acc, per_item, ok, rejects, item)`` of a chunk as ``prepare._process_chunk``'s loop builds them:
    ``acc`` holds ``tokens`` and ``start_bar`` (one array each, or none), ``per_item``: ``(index,
    windows)`` of every item read and usable, ``ok``: how many, ``rejects``: ``(index, reason)``,
    ``item``: the source item of every window. ``load_item(index)``: a corpus item's sequences
    (files are read here)."""
    rejects: list[tuple[int, str]] = []
    builder = TableBuilder()
    read: list[int] = []
    for index in indices:
        try:
            if source.corpus:
                builder.add_sequences(index, load_item(index))
            else:
                path = source.path_of(index)
                builder.add_score(index, read_midi(path), path)
        except MidiError as exc:
            rejects.append((index, exc.reason))
            continue
        except Exception as exc:  # never let one file stop the corpus
            rejects.append((index, f"unexpected error: {type(exc).__name__}: {str(exc)[:100]}"))
            continue
        read.append(index)
    refused = builder.quantize_scores()
    rejects += refused
    table = builder.build()
    lines = melody_lines(converter, table)
    wins, line, bar = line_windows(converter.stream, lines.tokens, lines.offsets, cfg.rules)
    item = table.item[lines.seq[line]].astype(np.int32)

    gone = {i for i, _ in refused}
    ok_items = [i for i in read if i not in gone]
    counts = np.bincount(item, minlength=max(ok_items, default=-1) + 1) if len(item) else None
    per_item = [(i, int(counts[i]) if counts is not None else 0) for i in ok_items]
    acc = {"tokens": [wins] if len(wins) else [], "start_bar": [bar] if len(wins) else []}
    rejects.sort(key=lambda r: r[0])
    return acc, per_item, len(ok_items), rejects, item
