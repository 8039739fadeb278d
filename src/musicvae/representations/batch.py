"""Melody and drum candidates of many sequences at once: token lines, all concatenated.

Place in the flow: ``music.batch.SeqTable`` (a chunk's quantized sequences) -> :func:`melody_lines`
or :func:`drum_lines` -> ``data.batch`` (windows of every line in a few array passes) -> ``musicvae prepare``.

:func:`melody_lines` gives exactly what :meth:`MelodyConverter.candidates` gives for each sequence
in turn (``tests/data/test_batch_prepare.py`` compares them): the candidates of sequence after
sequence in (item, part) order, tracks in index order, each line ``total_steps`` long. The steps of
:meth:`MelodyStream.encode` and :func:`~musicvae.music.monophonic.monophonic_line` are done for all
lines together: one sort by (line, start, pitch), the first note of each onset kept, each cut at the
next onset of its line, note-offs then note-ons written into one token array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..music.batch import SeqTable
from .drums import DrumConverter
from .melody import MelodyConverter
from .streams import FIRST_NOTE_ON, NOTE_OFF, TOKEN_DTYPE


@dataclass
class Lines:
    """Token lines ``C`` concatenated: line ``c`` is ``tokens[offsets[c]:offsets[c + 1]]``."""

    tokens: np.ndarray  # (L,) int16
    offsets: np.ndarray  # (C + 1,) int64
    seq: np.ndarray  # (C,) int64: the table sequence each line comes from

    def __len__(self) -> int:
        return len(self.seq)


def melody_lines(converter: MelodyConverter, table: SeqTable) -> Lines:
    """Every melody candidate of every sequence of ``table``, in per-sequence order."""
    stream = converter.stream
    track_id = table.track_base[table.seq] + table.track  # into table.program / is_drum
    eligible = ~table.is_drum
    if converter.programs is not None:
        eligible &= np.isin(table.program, np.fromiter(converter.programs, np.int64))
    take = eligible[track_id] if len(track_id) else np.zeros(0, bool)
    rank = table.order()
    seq, track = table.seq[take], table.track[take]
    start, end, pitch = table.start[take], table.end[take], table.pitch[take]
    if not len(seq):
        return Lines(np.zeros(0, TOKEN_DTYPE), np.zeros(1, np.int64), np.zeros(0, np.int64))
    width = int(track.max()) + 1
    cand = rank[seq] * width + track  # (sequence in item order, track) of each note
    # monophonic_line: at each onset the highest (or lowest) pitch; ties keep the earlier note
    pkey = (-pitch if stream.keep == "highest" else pitch)
    pkey = pkey - pkey.min()
    p_bits, s_bits = int(pkey.max()).bit_length(), int(start.max()).bit_length() if start.min() >= 0 else 64
    if s_bits + p_bits + int(cand.max()).bit_length() <= 62:  # one int64 key, one stable sort
        order = np.argsort((((cand << s_bits) | start) << p_bits) | pkey, kind="stable")
    else:
        order = np.lexsort((pkey, start, cand))
    cand, start, end, pitch = cand[order], start[order], end[order], pitch[order]
    new_line = np.ones(len(cand), bool)
    new_line[1:] = cand[1:] != cand[:-1]
    line = np.cumsum(new_line) - 1
    line_seq = seq[order][new_line]
    steps = table.total_steps[line_seq]
    offsets = np.zeros(len(line_seq) + 1, np.int64)
    np.cumsum(steps, out=offsets[1:])
    first = new_line.copy()
    first[1:] |= start[1:] != start[:-1]
    line, start, end, pitch = line[first], start[first], end[first], pitch[first]
    same = line[1:] == line[:-1]
    end[:-1] = np.where(same, np.minimum(end[:-1], start[1:]), end[:-1])  # a new onset cuts the note before

    # MelodyStream.encode: notes from the line's end on are dropped, note-offs written, then note-ons
    total = steps[line]
    inside = start < total
    line, start, end, pitch, total = line[inside], start[inside], end[inside], pitch[inside], total[inside]
    tokens = np.zeros(int(offsets[-1]), TOKEN_DTYPE)
    base = offsets[line]
    off = end < total
    tokens[base[off] + end[off]] = NOTE_OFF
    tokens[base + start] = FIRST_NOTE_ON + stream.squash(pitch) - stream.min_pitch
    return Lines(tokens, offsets, line_seq)


def drum_lines(converter: DrumConverter, table: SeqTable) -> Lines:
    """Every drum candidate of every sequence of ``table`` (:meth:`DrumConverter.candidates`: one line per
    sequence whose drum tracks hit a mapped pitch before its end), in per-sequence order."""
    stream = converter.stream
    track_id = table.track_base[table.seq] + table.track
    cls = stream.pitch_to_class[table.pitch] if len(table.pitch) else np.zeros(0, np.int64)
    keep = table.is_drum[track_id] & (cls >= 0) & (table.start < table.total_steps[table.seq])
    seq, start, cls = table.seq[keep], table.start[keep], cls[keep]
    if not len(seq):
        return Lines(np.zeros(0, TOKEN_DTYPE), np.zeros(1, np.int64), np.zeros(0, np.int64))
    rank = table.order()
    order = np.argsort(rank[seq], kind="stable")
    seq, start, cls = seq[order], start[order], cls[order]
    new_line = np.ones(len(seq), bool)
    new_line[1:] = seq[1:] != seq[:-1]
    line = np.cumsum(new_line) - 1
    line_seq = seq[new_line]
    offsets = np.zeros(len(line_seq) + 1, np.int64)
    np.cumsum(table.total_steps[line_seq], out=offsets[1:])
    tokens = np.zeros(int(offsets[-1]), np.int64)
    np.bitwise_or.at(tokens, offsets[line] + start, 1 << cls)
    return Lines(tokens.astype(TOKEN_DTYPE), offsets, line_seq)
