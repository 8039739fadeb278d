"""Many quantized sequences in one set of arrays: a chunk of files quantized together.

Place in the flow: ``midi_io.read_midi`` (one Score per file) -> :class:`TableBuilder` ->
:class:`SeqTable` -> batched encoders (``representations.batch``) -> ``data.batch`` (windows).

``musicvae prepare`` spends most of its time in small numpy calls, ~150-200 per file when each
file goes through :func:`~musicvae.music.quantize.quantize_score` alone. Here a chunk's files are
read one by one (unavoidable) and everything after is done once for all their notes: rounding
to steps, the "no notes" / "too long" / "no 4/4" checks and the sequence lengths.

Only the common case is done in arrays: a file whose time signature never changes (none, or
one in force from tick 0). Any other file (several signatures, negative times) is quantized by
:func:`quantize_score` itself and joins the table as :class:`NoteSequence` objects, as corpus
items do, so the result is always what :func:`quantize_score` gives (tests compare them).

A table's notes are the sequences' notes in any order that keeps, within each (sequence, track,
start, pitch), the order :func:`quantize_score` gives: what monophonic extraction depends on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .midi_io import MidiError
from .quantize import ACCEPTED_TIME_SIGNATURES, MAX_STEPS, STEPS_PER_BAR, STEPS_PER_QUARTER, quantize_score, \
    signature_changes
from .sequence import END, PITCH, START, TRACK, NoteSequence


@dataclass
class SeqTable:
    """Sequences ``S`` with their notes ``N`` and the tracks ``M`` they refer to."""

    item: np.ndarray  # (S,) int64: the source item of each sequence
    part: np.ndarray  # (S,) int64: its index among that item's sequences (a file's 4/4 stretches)
    total_steps: np.ndarray  # (S,) int64
    track_base: np.ndarray  # (S,) int64: where its tracks start in ``program`` / ``is_drum``
    program: np.ndarray  # (M,) int64
    is_drum: np.ndarray  # (M,) bool
    seq: np.ndarray  # (N,) int64: the sequence of each note
    track: np.ndarray  # (N,) int64: its track index within that sequence
    start: np.ndarray  # (N,) int64 steps
    end: np.ndarray  # (N,) int64 steps
    pitch: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.item)

    def order(self) -> np.ndarray:
        """``(S,)`` rank of each sequence in (item, part) order: the order of per-file processing."""
        rank = np.empty(len(self.item), np.int64)
        rank[np.lexsort((self.part, self.item))] = np.arange(len(self.item))
        return rank


class TableBuilder:
    """Collects a chunk's sequences: Scores quantized in arrays, or ready NoteSequences."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        """Forget every sequence and file added."""
        self.notes = 0  # notes added so far (a caller bounds the arrays' size with it)
        self._blocks: list[dict] = []
        self._rejects: list[tuple[int, str]] = []
        # per file of one signature, waiting for quantize_scores: item, ticks per quarter, signature,
        # notes, non-empty tracks; per non-empty track: program, drum flag, note count and its notes
        # (symusic's serialized bytes where note_states_work(), else numpy()'s arrays)
        self._files: list[tuple[int, int, tuple[int, int], int, int]] = []
        self._programs: list[int] = []
        self._drums: list[bool] = []
        self._sizes: list[int] = []
        self._notes: list = []

    def add_score(self, item: int, score, source: str) -> None:
        """A parsed file (``read_midi``): its notes are taken out now (the Score can go), quantized by
        :meth:`quantize_scores`. Raises only what :func:`quantize_score` would raise (callers fall back)."""
        tpq = score.ticks_per_quarter
        sig = _only_signature(score.time_signatures, tpq)
        if sig is None:  # several stretches (or odd times): quantize_score itself
            try:
                self.add_sequences(item, quantize_score(score, source))
            except MidiError as exc:
                self._rejects.append((item, exc.reason))
            return
        count, k = 0, 0
        states = note_states_work()  # the notes' serialized bytes: one cheap call per track, read in quantize_scores
        for t in score.tracks:
            notes = t.notes.__getstate__() if states else t.notes.numpy()
            n = (len(notes) - _STATE_HEAD) // NOTE_STATE.itemsize if states else len(notes["time"])
            if n <= 0:  # score_notes leaves empty tracks out of the numbering
                continue
            self._notes.append(notes)
            self._sizes.append(n)
            self._programs.append(t.program)
            self._drums.append(t.is_drum)
            count += n
            k += 1
        self._files.append((item, tpq, sig, count, k))
        self.notes += count

    def add_sequences(self, item: int, seqs: list[NoteSequence]) -> None:
        """Quantized sequences of one item (parts 0, 1, ...): a corpus item, or a file quantized alone."""
        if not seqs:
            return
        counts = [len(s.notes) for s in seqs]
        self.notes += sum(counts)
        notes = np.concatenate([s.notes for s in seqs]).astype(np.int64) if sum(counts) else np.zeros((0, 5), np.int64)
        programs = [t.program for s in seqs for t in s.tracks]
        sizes = [len(s.tracks) for s in seqs]
        self._blocks.append({
            "item": np.full(len(seqs), item, np.int64), "part": np.arange(len(seqs), dtype=np.int64),
            "total_steps": np.array([s.total_steps for s in seqs], np.int64),
            "track_base": np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            "program": np.array(programs, np.int64),
            "is_drum": np.array([t.is_drum for s in seqs for t in s.tracks], bool),
            "seq": np.repeat(np.arange(len(seqs), dtype=np.int64), counts),
            "track": notes[:, TRACK], "start": notes[:, START], "end": notes[:, END], "pitch": notes[:, PITCH],
        })

    def quantize_scores(self) -> list[tuple[int, str]]:
        """Quantize the files added; returns ``(item, reason)`` of every file :func:`quantize_score` refuses,
        with its reason."""
        if self._files:
            self._quantize_block()
        rejects, self._rejects = self._rejects, []
        self._files = []
        self._programs, self._drums, self._sizes, self._notes = [], [], [], []
        return rejects

    def _quantize_block(self) -> None:
        """The files added by :meth:`add_score` (one signature each): round to steps, check, and add one
        sequence per usable file; a refused file goes to the rejects."""
        files, tpqs, sigs, counts, n_tracks = (list(col) for col in zip(*self._files))
        sizes, rejects = self._sizes, self._rejects
        F = len(files)
        file_of = np.repeat(np.arange(F), counts)
        if len(file_of):
            if isinstance(self._notes[0], bytes):
                times, durs, pitches = _read_states(self._notes, sizes)
            else:
                times, durs, pitches = ([n[k] for n in self._notes] for k in ("time", "duration", "pitch"))
            tick = np.concatenate(times).astype(np.int64)
            end_tick = tick + np.concatenate(durs).astype(np.int64)
            pitch = np.concatenate(pitches).astype(np.int64)
            track = np.arange(len(sizes)) - np.repeat(np.cumsum(n_tracks) - n_tracks, n_tracks)
            track = np.repeat(track, sizes)  # each note's index among its file's non-empty tracks
        else:
            tick = end_tick = pitch = track = np.zeros(0, np.int64)
        keep = tick >= 0  # negative ticks only come from int32 overflow of huge delta times
        if not keep.all():
            file_of, tick, end_tick, pitch, track = (a[keep] for a in (file_of, tick, end_tick, pitch, track))
        # _round_steps for whole ticks per quarter (one divisor for the pass when the files share it)
        tpq = tpqs[0] if min(tpqs) == max(tpqs) else np.asarray(tpqs, np.int64)[file_of]
        start = (2 * STEPS_PER_QUARTER * tick + tpq) // (2 * tpq)
        end = np.maximum((2 * STEPS_PER_QUARTER * end_tick + tpq) // (2 * tpq), start + 1)
        n_notes = np.bincount(file_of, minlength=F)
        last = np.zeros(F, np.int64)
        np.maximum.at(last, file_of, end)
        sig_ok = np.fromiter((sig in ACCEPTED_TIME_SIGNATURES for sig in sigs), bool, F)
        usable = (n_notes > 0) & (last <= MAX_STEPS) & sig_ok
        for f in np.flatnonzero(~usable).tolist():  # one line per refused file, as quantize_score words it
            if n_notes[f] == 0:
                rejects.append((files[f], "no notes"))
            elif last[f] > MAX_STEPS:
                rejects.append((files[f], f"too long ({int(last[f])} steps > {MAX_STEPS}; absurd delta times?)"))
            else:
                rejects.append((files[f], f"no 4/4 section (time signatures: {sigs[f][0]}/{sigs[f][1]})"))
        ok = np.flatnonzero(usable)
        if not len(ok):
            return
        if len(ok) == F:  # every file usable (the common case): no copies
            seq, sel = file_of, slice(None)
        else:
            new_id = np.full(F, -1, np.int64)
            new_id[ok] = np.arange(len(ok))
            seq = new_id[file_of]
            sel = seq >= 0
        base = np.concatenate([[0], np.cumsum(n_tracks)[:-1]]).astype(np.int64)
        self._blocks.append({
            "item": np.asarray(files, np.int64)[ok], "part": np.zeros(len(ok), np.int64),
            "total_steps": -(-last[ok] // STEPS_PER_BAR) * STEPS_PER_BAR,  # whole bars: the last stretch's rule
            "track_base": base[ok], "program": np.asarray(self._programs, np.int64),
            "is_drum": np.asarray(self._drums, bool), "seq": seq[sel], "track": track[sel], "start": start[sel],
            "end": end[sel], "pitch": pitch[sel],
        })

    def build(self) -> SeqTable:
        """Every sequence added so far as one table (pending Scores must be quantized first)."""
        if self._files:
            raise RuntimeError("quantize_scores() before build()")
        blocks = self._blocks
        if not blocks:
            z = np.zeros(0, np.int64)
            return SeqTable(z, z, z, z, z, np.zeros(0, bool), z, z, z, z, z)
        n_seq = np.cumsum([0] + [len(b["item"]) for b in blocks])
        n_trk = np.cumsum([0] + [len(b["program"]) for b in blocks])
        cat = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        cat["track_base"] = np.concatenate([b["track_base"] + n_trk[i] for i, b in enumerate(blocks)])
        cat["seq"] = np.concatenate([b["seq"] + n_seq[i] for i, b in enumerate(blocks)])
        return SeqTable(**cat)


def _only_signature(ts, tpq: int) -> tuple[int, int] | None:
    """The one time signature in force over a whole file (none given: 4/4), or ``None`` when
    :func:`signature_changes` would find more than one stretch start (or times it must see itself)."""
    n = len(ts)
    if n == 0:
        return (4, 4)
    if n == 1:
        first = ts[0]
        if first.time == 0:
            return (first.numerator, first.denominator)
    arr = ts.numpy()
    if arr["time"].min() < 0:
        return None
    changes = signature_changes(arr, tpq / STEPS_PER_QUARTER)
    return changes[0][1:] if len(changes) == 1 and changes[0][0] == 0 else None


# A symusic note list pickles (``__getstate__``, zpp_bits) as a uint32 count and then its notes as
# they lie in memory: int32 time, int32 duration, int8 pitch, int8 velocity, 2 bytes of padding.
# Reading those bytes costs ~1 us per track against ~10 for ``notes.numpy()``, a third of the
# batched path's time per file. It is symusic's private format, so it is used only after
# :func:`note_states_work` has checked it against ``numpy()`` in this process.
NOTE_STATE = np.dtype({"names": ["time", "duration", "pitch"], "formats": ["=i4", "=i4", "i1"],
                       "offsets": [0, 4, 8], "itemsize": 12})
_STATE_HEAD = 4
_STATES_OK: list[bool] = []


def note_states_work() -> bool:
    """Whether note lists' serialized bytes read as :data:`NOTE_STATE` give what ``numpy()`` gives
    (checked once per process on notes with negative, large and zero values)."""
    if not _STATES_OK:
        try:
            from symusic import Note

            time = np.array([0, 7, -5, 2**31 - 1, 123456], np.int32)
            dur = np.array([0, 1, 2**30, 3, 480], np.int32)
            notes = Note.from_numpy(time, dur, np.array([0, 127, 60, 1, 64], np.int8),
                                    np.array([1, 127, 80, 0, 5], np.int8))
            got = _read_states([notes.__getstate__()], [len(notes)])
            want = notes.numpy()
            _STATES_OK.append(all(np.array_equal(g[0], want[k]) for g, k in zip(got, ("time", "duration", "pitch"))))
        except Exception:  # any other layout or API: numpy() it is
            _STATES_OK.append(False)
    return _STATES_OK[0]


def _read_states(states: list[bytes], sizes: list[int]) -> tuple[list, list, list]:
    """``([time], [duration], [pitch])`` arrays of the notes of serialized note lists (one pass over
    all of them); raises if a list's count is not the one its length says."""
    # the count and every note are whole 4-byte words: drop the count words, view the rest as notes
    words = np.frombuffer(b"".join(states), np.uint32)
    n = np.asarray(sizes, np.int64)
    size = _STATE_HEAD // 4 + n * (NOTE_STATE.itemsize // 4)
    head = np.cumsum(size) - size
    if int(size.sum()) != len(words) or not np.array_equal(words[head], n):
        raise ValueError("symusic note state: unexpected layout")
    body = np.ones(len(words), bool)
    body[head] = False
    notes = words[body].view(NOTE_STATE)
    return [notes["time"]], [notes["duration"]], [notes["pitch"]]
