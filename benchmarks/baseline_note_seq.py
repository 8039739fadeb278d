#!/usr/bin/env python
"""Baseline for ``benchmarks/prepare_throughput.py``: MusicVAE-style melody
windows extracted with magenta's ``note_seq``.

Runs in its own virtualenv (``.bench-venv``, see
``benchmarks/requirements-baseline.txt``) and must NOT import ``musicvae``.

What it does per MIDI file, mirroring MusicVAE's
``data.OneHotMelodyConverter(valid_programs=range(0, 32), slice_bars=2,
steps_per_quarter=4, gap_bars=1.0, max_tensors_per_notesequence=None)``:

1. ``note_seq.midi_file_to_note_sequence`` (pretty_midi under the hood);
2. split on tempo / time-signature changes
   (``presplit_on_time_changes=True``, MusicVAE's default; ``--no-presplit``
   quantizes the whole file instead, so any tempo or meter change makes the
   file fail with ``MultipleTempoError`` / ``MultipleTimeSignatureError``);
3. keep notes with program 0-31 and pitch in [min_pitch, max_pitch];
4. ``note_seq.quantize_note_sequence(ns, 4)``; segments whose bar is not 16
   steps (i.e. not 4/4) are dropped, as are segments raising
   ``BadTimeSignatureError`` / ``NonIntegerStepsPerBarError`` /
   ``NegativeTimeError``;
5. melodies per instrument via ``note_seq.Melody.from_quantized_sequence``
   (the loop of magenta's ``extract_melodies`` with min_bars=1, gap_bars=1,
   min_unique_pitches=1, ignore_polyphonic_notes=True, pad_end=True,
   filter_drums=True; ``extract_melodies`` itself is not in note_seq 0.0.5);
6. 2-bar windows with a 1-bar stride, deduplicated per segment (as MusicVAE
   does), one-hot encoded with ``note_seq.MelodyOneHotEncoding`` (130 classes
   for the default pitch range 0-127: no-event, note-off, 128 pitches);
7. the parent process deduplicates globally by hashing the one-hot arrays.

Prints one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # pydub's "Couldn't find ffmpeg", numba, ...

import numpy as np  # noqa: E402
import note_seq  # noqa: E402
from note_seq import sequences_lib  # noqa: E402
from note_seq.events_lib import NonIntegerStepsPerBarError  # noqa: E402

STEPS_PER_QUARTER = 4
QUARTERS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_QUARTER * QUARTERS_PER_BAR
MEL_PROGRAMS = range(0, 32)

# Set in each worker by _init_worker (module globals survive fork).
_CFG: dict = {}


def _init_worker(cfg: dict) -> None:
    _CFG.clear()
    _CFG.update(cfg)
    _CFG["encoding"] = note_seq.MelodyOneHotEncoding(cfg["min_pitch"], cfg["max_pitch"] + 1)


def _extract_melodies(qns, gap_bars: float, max_steps_truncate: int | None):
    """Magenta's ``extract_melodies`` loop with MusicVAE's arguments."""
    melodies = []
    polyphonic = 0
    for instrument in sorted({n.instrument for n in qns.notes}):
        start = 0
        while True:
            mel = note_seq.Melody(steps_per_bar=STEPS_PER_BAR,
                                  steps_per_quarter=STEPS_PER_QUARTER)
            try:
                mel.from_quantized_sequence(
                    qns, search_start_step=start, instrument=instrument,
                    gap_bars=gap_bars, ignore_polyphonic_notes=True,
                    pad_end=True, filter_drums=True)
            except note_seq.PolyphonicMelodyError:
                polyphonic += 1
                break
            # next search starts at the next bar boundary (inclusive)
            start = mel.end_step + (-mel.end_step) % STEPS_PER_BAR
            if not mel:
                break
            if len(mel) < STEPS_PER_BAR * 1:  # min_bars=1
                continue
            if max_steps_truncate is not None and len(mel) > max_steps_truncate:
                mel.set_length(max_steps_truncate - max_steps_truncate % STEPS_PER_BAR)
            if np.count_nonzero(mel.get_note_histogram()) < 1:  # min_unique_pitches
                continue
            melodies.append(mel)
    return melodies, polyphonic


def _segment_windows(seg, stats: collections.Counter) -> list[bytes]:
    cfg = _CFG
    lo, hi = cfg["min_pitch"], cfg["max_pitch"]
    notes = [n for n in seg.notes if n.program in MEL_PROGRAMS and lo <= n.pitch <= hi]
    del seg.notes[:]
    seg.notes.extend(notes)
    try:
        qns = note_seq.quantize_note_sequence(seg, STEPS_PER_QUARTER)
        if sequences_lib.steps_per_bar_in_quantized_sequence(qns) != STEPS_PER_BAR:
            stats["segment_not_4_4"] += 1
            return []
    except (note_seq.BadTimeSignatureError, NonIntegerStepsPerBarError,
            note_seq.NegativeTimeError, note_seq.MultipleTempoError,
            note_seq.MultipleTimeSignatureError) as e:
        stats["segment_" + type(e).__name__] += 1
        return []
    stats["segments_quantized"] += 1

    max_bars = cfg["max_bars"]
    melodies, poly = _extract_melodies(
        qns, cfg["gap_bars"], STEPS_PER_BAR * max_bars if max_bars else None)
    stats["polyphonic_tracks_discarded"] += poly
    stats["melodies"] += len(melodies)

    slice_steps = STEPS_PER_BAR * cfg["bars"]
    sliced = []
    for mel in melodies:
        events = list(mel)  # Melody slicing returns Melody objects; use the raw events
        for end in range(slice_steps, len(events) + 1, STEPS_PER_BAR):
            sliced.append(tuple(events[end - slice_steps:end]))
    unique = set(sliced)  # MusicVAE dedups per (split) NoteSequence
    enc = cfg["encoding"]
    depth = enc.num_classes
    out = []
    for t in unique:
        tokens = [enc.encode_event(e) for e in t]
        onehot = np.zeros((len(t), depth), dtype=bool)
        onehot[np.arange(len(t)), tokens] = True
        key = hashlib.blake2b(onehot.tobytes(), digest_size=16).digest()
        # canonical form (as musicvae stores windows): a note-off whose note began
        # before the window is no event in the window, so it becomes a hold
        canon = list(tokens)
        first = next((i for i, v in enumerate(canon) if v != 0), None)
        if first is not None and canon[first] == 1:
            canon[first] = 0
        ckey = hashlib.blake2b(bytes(canon), digest_size=16).digest()
        out.append((key, ckey, bytes(tokens)) if cfg["dump"] else (key, ckey))
    return out


def process_file(path: str):
    stats: collections.Counter = collections.Counter()
    try:
        ns = note_seq.midi_file_to_note_sequence(path)
    except Exception as e:  # MIDIConversionError and anything pretty_midi raises
        return path, "parse_" + type(e).__name__, [], stats
    try:
        if _CFG["presplit"]:
            segments = sequences_lib.split_note_sequence_on_time_changes(ns)
        else:
            segments = [ns]
        stats["segments"] += len(segments)
        hashes: list[bytes] = []
        for seg in segments:
            hashes.extend(_segment_windows(seg, stats))
    except Exception as e:  # anything unexpected inside note_seq
        return path, "error_" + type(e).__name__, [], stats
    if not stats["segments_quantized"]:
        # Report the dominant reason the file produced no usable segment.
        reasons = [k for k in stats if k.startswith("segment_")]
        if reasons:
            reason = "no_4_4_segment:" + max(reasons, key=lambda k: stats[k])[len("segment_"):]
        else:
            reason = "no_segments"
        return path, reason, [], stats
    return path, None, hashes, stats


def _collect_paths(inputs: list[str]) -> list[str]:
    paths = []
    for p in inputs:
        if os.path.isdir(p):
            for root, _dirs, files in os.walk(p):
                for f in files:
                    if f.lower().endswith((".mid", ".midi")):
                        paths.append(os.path.join(root, f))
        else:
            paths.append(p)
    return sorted(paths)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="MIDI files and/or directories")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bars", type=int, default=2, help="window length in bars (slice_bars)")
    ap.add_argument("--gap-bars", type=float, default=1.0)
    ap.add_argument("--max-bars", type=int, default=0,
                    help="truncate melodies to this many bars before slicing "
                         "(cat-mel_2bar config uses 100; 0 = no truncation)")
    ap.add_argument("--min-pitch", type=int, default=0)
    ap.add_argument("--max-pitch", type=int, default=127)
    ap.add_argument("--no-presplit", action="store_true",
                    help="do not split on tempo/time-signature changes before quantizing")
    ap.add_argument("--dump-windows", default=None, metavar="NPY",
                    help="also save the unique windows as an int16 array [N, steps] of class "
                         "indices (0 = no event, 1 = note off, 2 + pitch - min_pitch), sorted")
    args = ap.parse_args(argv)

    paths = _collect_paths(args.inputs)
    cfg = dict(bars=args.bars, gap_bars=args.gap_bars or float("inf"),
               max_bars=args.max_bars or None, min_pitch=args.min_pitch,
               max_pitch=args.max_pitch, presplit=not args.no_presplit,
               dump=bool(args.dump_windows))

    t0 = time.perf_counter()
    if args.workers <= 1:
        _init_worker(cfg)
        results = map(process_file, paths)
        pool = None
    else:
        pool = mp.get_context("fork").Pool(args.workers, initializer=_init_worker,
                                           initargs=(cfg,))
        results = pool.imap_unordered(process_file, paths, chunksize=1)
    failed: collections.Counter = collections.Counter()
    failed_files: dict[str, str] = {}
    totals: collections.Counter = collections.Counter()
    unique: set[bytes] = set()
    unique_canonical: set[bytes] = set()
    dumped: dict[bytes, bytes] = {}
    per_file_windows = 0
    files_with_windows = 0
    for _path, err, hashes, stats in results:
        totals.update(stats)
        if err is not None:
            failed[err] += 1
            failed_files[_path] = err
            continue
        if cfg["dump"]:
            dumped.update((k, t) for k, _, t in hashes)
        unique_canonical.update(c for _, c, *_ in hashes)
        hashes = [k for k, *_ in hashes]
        per_file_windows += len(hashes)
        files_with_windows += bool(hashes)
        unique.update(hashes)
    if pool is not None:
        pool.close()
        pool.join()
    seconds = time.perf_counter() - t0
    if args.dump_windows:
        rows = sorted(dumped.values())
        arr = np.array([list(r) for r in rows], dtype=np.int16).reshape(len(rows), -1)
        np.save(args.dump_windows, arr)

    n = len(paths)
    out = {
        "tool": "note_seq",
        "python": sys.version.split()[0],
        "versions": {d: _dist_version(d) for d in
                     ("note-seq", "pretty_midi", "mido", "numpy", "protobuf")},
        "files": n,
        "files_ok": n - sum(failed.values()),
        "files_failed": sum(failed.values()),
        "failure_reasons": dict(sorted(failed.items())),
        "failed_files": dict(sorted(failed_files.items())),
        "files_with_windows": files_with_windows,
        "windows": len(unique),
        "windows_canonical": len(unique_canonical),
        "windows_per_segment_dedup": per_file_windows,
        "stats": dict(sorted(totals.items())),
        "config": {**cfg, "gap_bars": args.gap_bars, "workers": args.workers,
                   "steps_per_quarter": STEPS_PER_QUARTER, "programs": "0-31",
                   "classes": args.max_pitch - args.min_pitch + 1 + 2},
        "seconds": seconds,
        "files_per_s": n / seconds if seconds > 0 else None,
        "windows_per_s": len(unique) / seconds if seconds > 0 else None,
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _dist_version(name: str):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
