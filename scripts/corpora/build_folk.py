#!/usr/bin/env python
"""Build the bundled ``folk`` corpus: monophonic folk melodies from music21's corpus.

Usage (from the repository root, music21 installed: it is a build-time-only dependency)::

    PYTHONPATH=src nice -n 10 python scripts/corpora/build_folk.py [--corpus folk|fiddle]

``fiddle`` (the same rules) is Ryan's Mammoth Collection (1883), music21's ``ryansMammoth``.

Collections: essenFolksong, oneills1850, airdsAirs, miscFolk, nottingham-dataset (ABC files).
Kept: tunes whose meter is 4/4, 2/2 (a bar of 16 sixteenths) or 2/4 (two 2/4 bars paired
into one stored 4/4 bar, ``meta["paired_2_4"] = True``). Repeat signs are expanded with
music21's ``expandRepeats()`` (the unexpanded tune is kept when that fails). A pickup
(anacrusis) bar is right-aligned in a full bar so that stored bar lines are real bar lines;
a short bar followed by a short bar that completes it (end of a section + pickup of the
next) is joined into one bar; any other short bar is left-aligned and padded with rest.
Off-grid onsets (triplets, ...) snap to the nearest 16th; a tune is skipped only when
snapping puts two onsets on the same step (or it has overfull bars, or a meter change).

Parsing runs in a pool of ``--workers`` processes; each chunk of tunes is cached as a
pickle under ``--cache`` (default /tmp/musicvae_folk_cache) so that a crash loses no work.

The module also holds the music21 helpers that ``build_bach.py`` imports
(:func:`place_measures`, :func:`part_notes`, :func:`first_qpm`).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing as mp
import os
import pickle
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from musicvae.music import NoteSequence, TrackInfo, monophonic_line  # noqa: E402
from musicvae.music.collection import load_collection, save_collection  # noqa: E402

COLLECTIONS = ["essenFolksong", "oneills1850", "airdsAirs", "miscFolk", "nottingham-dataset"]
# the corpora this script builds: name -> (collections, description, license)
FOLK_LICENSE = ("music21 code BSD-3-Clause; corpus files under their own terms (Essen Folksong "
                "Collection: non-commercial research use; see music21/corpus/license.txt)")
CORPORA = {
    "folk": (COLLECTIONS,
             "Monophonic folk melodies from music21's corpus (essenFolksong, oneills1850, airdsAirs, "
             "miscFolk, nottingham-dataset): 4/4 and 2/2 tunes, and 2/4 tunes with two bars paired "
             "into one 4/4 bar (meta paired_2_4); repeats expanded; pickups padded to a full bar.",
             FOLK_LICENSE),
    # Ryan's Mammoth Collection (Boston, 1883): American, Irish and Scottish fiddle tunes (reels,
    # hornpipes, strathspeys, ...), public domain; ABC transcriptions by John Chambers in music21
    "fiddle": (["ryansMammoth"],
               "Monophonic fiddle tunes of Ryan's Mammoth Collection (1883) from music21's corpus "
               "(ryansMammoth): reels, hornpipes, strathspeys and other 4/4, 2/2 and 2/4 tunes (2/4 "
               "bars paired into one 4/4 bar, meta paired_2_4); repeats expanded; pickups padded.",
               "music21 code BSD-3-Clause; Ryan's Mammoth Collection (1883) is in the public domain, "
               "its ABC transcriptions ship with music21's corpus (music21/corpus/license.txt)"),
}
# ABC M: values we parse at all (others are skipped before parsing, which saves most of the time)
HEADER_METERS = {"4/4": "4/4", "2/2": "2/2", "C": "4/4", "C|": "2/2", "2/4": "2/4"}
# music21 time signature -> bar length in quarter notes
BAR_QL = {"4/4": 4.0, "2/2": 4.0, "2/4": 2.0}
EPS = 1e-6
TUNE_TIMEOUT_S = 30
CHUNK = 40


class SkipTune(Exception):
    """A tune that cannot be stored (reason in the message)."""


# ----------------------------------------------------------------- music21 helpers (shared)
def measure_length(m) -> float:
    return float(m.highestTime)


def place_measures(measures, bar_ql: float) -> tuple[list[float | None], float, dict]:
    """Where each measure starts (quarter notes) so that every stored bar line is a real one.

    Returns (start of each measure or None for an empty one, total length in quarters, stats).
    Full measures follow each other; a short first measure is a pickup, right-aligned in a
    full bar; a short measure followed by a short one completing the bar is joined with it;
    any other short measure is left-aligned and the rest of its bar is silence.
    Raises SkipTune for an overfull measure.
    """
    lengths = [measure_length(m) for m in measures]
    starts: list[float | None] = [None] * len(measures)
    cursor = 0.0
    stats = {"pickup_ql": 0.0, "joined_bars": 0, "padded_bars": 0}
    first = True
    i = 0
    while i < len(measures):
        d = lengths[i]
        if d < EPS:
            i += 1
            continue
        if d > bar_ql + EPS:
            raise SkipTune(f"overfull bar ({d} > {bar_ql} quarters)")
        if abs(d - bar_ql) < EPS:
            starts[i] = cursor
        elif first:
            starts[i] = cursor + bar_ql - d
            stats["pickup_ql"] = bar_ql - d
        elif i + 1 < len(measures) and abs(d + lengths[i + 1] - bar_ql) < EPS:
            starts[i] = cursor
            starts[i + 1] = cursor + d
            stats["joined_bars"] += 1
            i += 1
        else:
            starts[i] = cursor
            stats["padded_bars"] += 1
        cursor += bar_ql
        first = False
        i += 1
    return starts, cursor, stats


def part_notes(part, bar_ql: float, track: int = 0) -> tuple[np.ndarray, float, dict]:
    """Notes of a music21 part (ties stripped) as ``(n, 5)`` steps, bar-aligned by :func:`place_measures`.

    Chords keep their highest pitch (ABC chords are rare double stops); chord symbols and
    grace notes are dropped. Returns (notes, total length in quarters, stats incl. snapped count).
    """
    from music21 import harmony, stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        raise SkipTune("no measures")
    starts, total_ql, stats = place_measures(measures, bar_ql)
    rows = []
    snapped = 0
    for m, m_start in zip(measures, starts):
        if m_start is None:
            continue
        for n in m.recurse().notes:
            if isinstance(n, harmony.Harmony):
                continue
            ql = float(n.duration.quarterLength)
            if ql <= 0:
                continue  # grace note
            if n.isChord:
                pitch = max(p.midi for p in n.pitches)
            else:
                pitch = n.pitch.midi
            on_q = m_start + float(n.getOffsetInHierarchy(m))
            on = on_q * 4
            off = (on_q + ql) * 4
            s = int(np.floor(on + 0.5))
            e = max(int(np.floor(off + 0.5)), s + 1)
            err = abs(on - s)
            exact = err < 1e-4
            snapped += not exact
            rows.append((s, e, int(pitch), 80, track, int(round(err * 1000))))
    stats["snapped_notes"] = snapped
    stats["dropped_notes"] = 0
    if not rows:
        return np.zeros((0, 5), np.int32), total_ql, stats
    arr = np.array(rows, dtype=np.int64)
    # Onsets that snapping puts on one step (fast tuplet runs): keep the note nearest the step,
    # drop the others, as long as that is a handful; otherwise the line cannot be kept.
    arr = arr[np.lexsort((arr[:, 5], arr[:, 4], arr[:, 0]))]
    first = np.ones(len(arr), dtype=bool)
    same = (arr[1:, 0] == arr[:-1, 0]) & (arr[1:, 4] == arr[:-1, 4])
    clash = same & ((arr[1:, 5] > 0) | (arr[:-1, 5] > 0))
    first[1:][clash] = False
    dropped = int((~first).sum())
    if dropped > max_dropped(len(arr)):
        raise SkipTune("off-grid notes collide on the 16th grid")
    stats["dropped_notes"] = dropped
    return arr[first][:, :5].astype(np.int32), total_ql, stats


def max_dropped(n_notes: int) -> int:
    """How many colliding off-grid notes a part may lose before it is skipped (<= 3 %, <= 8)."""
    return min(8, int(0.03 * n_notes))


def first_qpm(score, default: float = 120.0) -> float:
    from music21 import tempo

    for mm in score.recurse().getElementsByClass(tempo.MetronomeMark):
        try:
            q = mm.getQuarterBPM()
        except Exception:  # noqa: BLE001 - malformed marks
            q = None
        if q:
            return float(q)
    return default


def time_signatures(score) -> list[str]:
    from music21 import meter

    return [ts.ratioString for ts in score.recurse().getElementsByClass(meter.TimeSignature)]


def expand(score):
    """``expandRepeats()`` or the score itself when expansion fails.

    Returns (score, expanded?), expanded meaning that expansion worked and added bars.
    """
    from music21 import stream

    try:
        out = score.expandRepeats()
        if out is None or not out.parts:
            return score, False
        n_in = len(score.parts[0].getElementsByClass(stream.Measure))
        n_out = len(out.parts[0].getElementsByClass(stream.Measure))
        return out, n_out > n_in
    except Exception:  # noqa: BLE001 - music21 raises many kinds on odd repeat structures
        return score, False


# ----------------------------------------------------------------------------- ABC handling
def split_abc(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """(file header, [(X number, M value of the tune header, tune text), ...])."""
    parts = re.split(r"(?m)^(?=X:)", text)
    header = parts[0] if parts and not parts[0].lstrip().startswith("X:") else ""
    tunes = []
    default_meter = None
    mh = re.search(r"(?m)^M:\s*(\S+)", header)
    if mh:
        default_meter = mh.group(1)
    for block in parts:
        if not block.startswith("X:"):
            continue
        x = block.split("\n", 1)[0][2:].strip()
        # meter in the tune header (before K:)
        head = block.split("\nK:", 1)[0]
        mm = re.search(r"(?m)^M:\s*(.+?)\s*$", head)
        meter = mm.group(1).replace(" ", "") if mm else default_meter
        tunes.append((x, meter or "", block))
    return header, tunes


def meter_ql(ratio: str) -> float:
    """Bar length in quarter notes of a ratio string like '3/8'."""
    num, den = ratio.split("/")[:2]
    return 4.0 * float(num) / float(den)


def _alarm(signum, frame):  # noqa: ARG001
    raise TimeoutError("tune took too long")


def parse_tune(collection: str, fname: str, header: str, x: str, text: str) -> dict:
    """One ABC tune -> a result dict (``ok`` with notes, or ``skip`` with a reason)."""
    from music21 import converter

    src = f"music21:{collection}/{fname}#{x}"
    try:
        signal.alarm(TUNE_TIMEOUT_S)
        score = converter.parse(header + "\n" + text, format="abc")
        if hasattr(score, "scores"):  # an Opus
            scores = list(score.scores)
            if not scores:
                raise SkipTune("empty opus")
            score = scores[0]
        sigs = set(time_signatures(score))
        if not sigs:
            raise SkipTune("no time signature")
        main = sorted(sigs & set(BAR_QL))
        if not main:
            raise SkipTune(f"meter {'/'.join(sorted(sigs))}")
        bars = {BAR_QL[s] for s in main}
        if len(bars) != 1:
            raise SkipTune("meter change " + ",".join(sorted(sigs)))
        bar_ql = bars.pop()
        # Short-bar meters (an Essen pickup written as M:1/4, ...) are fine: such bars are
        # short measures that place_measures pads/joins; a longer meter is a real change.
        short = sorted(sigs - set(main))
        if any(meter_ql(s) >= bar_ql - EPS for s in short):
            raise SkipTune(f"meter {'/'.join(sorted(sigs))}")
        orig_ts = main[0]
        qpm = first_qpm(score)
        title = (score.metadata.title if score.metadata is not None else "") or ""
        expanded, did_expand = expand(score)
        try:
            notes, total_ql, stats = part_notes(expanded.parts[0], bar_ql)
        except SkipTune:
            if not did_expand:
                raise
            notes, total_ql, stats = part_notes(score.parts[0], bar_ql)
            did_expand = False
        signal.alarm(0)
        if len(notes) == 0:
            raise SkipTune("no notes")
        total_steps = int(round(total_ql * 4))
        total_steps = max(16, -(-total_steps // 16) * 16)
        notes[:, 1] = np.minimum(notes[:, 1], total_steps)
        return {
            "ok": True,
            "collection": collection,
            "source": src,
            "notes": notes,
            "total_steps": total_steps,
            "qpm": qpm,
            "ts": orig_ts,
            "title": str(title),
            "expanded": did_expand,
            "short_meters": short,
            "stats": stats,
        }
    except (SkipTune, TimeoutError) as exc:
        signal.alarm(0)
        return {"ok": False, "collection": collection, "source": src, "reason": str(exc).split(" (")[0]}
    except Exception as exc:  # noqa: BLE001 - music21 parse errors of all kinds
        signal.alarm(0)
        return {"ok": False, "collection": collection, "source": src, "reason": "parse error: " + type(exc).__name__}


def run_chunk(job) -> tuple[str, list[dict], float]:
    key, collection, fname, header, tunes, cache_dir = job
    cache = Path(cache_dir) / f"{key}.pkl"
    if cache.exists():
        with open(cache, "rb") as f:
            return key, pickle.load(f), 0.0
    signal.signal(signal.SIGALRM, _alarm)
    t0 = time.time()
    out = [parse_tune(collection, fname, header, x, text) for x, _, text in tunes]
    tmp = cache.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(out, f)
    os.replace(tmp, cache)
    return key, out, time.time() - t0


def make_jobs(collections_: list[str], cache_dir: Path, limit: int | None):
    import music21

    corpus_dir = Path(music21.__file__).parent / "corpus"
    jobs, prefilter = [], collections.Counter()
    for coll in collections_:
        files = sorted((corpus_dir / coll).rglob("*.abc"))
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            header, tunes = split_abc(text)
            keep = []
            for x, meter, block in tunes:
                prefilter[(coll, "seen")] += 1
                if meter in HEADER_METERS:
                    keep.append((x, meter, block))
                else:
                    prefilter[(coll, "meter " + (meter or "none"))] += 1
            if limit:
                keep = keep[:limit]
            rel = path.relative_to(corpus_dir / coll).as_posix()
            for c in range(0, len(keep), CHUNK):
                digest = hashlib.sha1((rel + header).encode()).hexdigest()[:8]
                key = f"{coll}__{rel.replace('/', '_')}__{c // CHUNK:03d}_{digest}_{len(keep)}"
                jobs.append((key, coll, rel, header, keep[c : c + CHUNK], str(cache_dir)))
    return jobs, prefilter


# ---------------------------------------------------------------------------- measurements
def melody_grid(seq: NoteSequence) -> np.ndarray:
    """Per-step tokens of the highest-note line: pitch at onsets, -1 hold, -2 rest."""
    grid = np.full(seq.total_steps, -2, dtype=np.int16)
    line = monophonic_line(seq.notes, keep="highest")
    for s, e, p, _, _ in line:
        grid[s:e] = -1
        grid[s] = p
    return grid


def unique_windows(seqs, bars: int, steps_per_bar: int = 16) -> int:
    """Unique ``bars``-bar windows (hop one bar, at least one onset) over highest-note lines."""
    w = bars * steps_per_bar
    seen = set()
    for seq in seqs:
        grid = melody_grid(seq)
        if len(grid) < w:
            continue
        wins = np.lib.stride_tricks.sliding_window_view(grid, w)[::steps_per_bar]
        for row in wins[(wins >= 0).any(axis=1)]:
            seen.add(row.tobytes())
    return len(seen)


def to_sequence(r: dict) -> NoteSequence:
    meta = {
        "title": r["title"],
        "original_time_signature": r["ts"],
        "paired_2_4": r["ts"] == "2/4",
        "expanded_repeats": r["expanded"],
        "pickup_steps": int(round(r["stats"]["pickup_ql"] * 4)),
    }
    if r.get("short_meters"):
        meta["short_bar_meters"] = r["short_meters"]
    if r["stats"]["snapped_notes"]:
        meta["snapped_notes"] = int(r["stats"]["snapped_notes"])
    if r["stats"].get("dropped_notes"):
        meta["dropped_notes"] = int(r["stats"]["dropped_notes"])
    return NoteSequence(
        r["notes"],
        [TrackInfo(0, False, "melody")],
        int(r["total_steps"]),
        qpm=float(r["qpm"]),
        time_signature=(4, 4),
        source=r["source"],
        label=r["collection"],
        meta=meta,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="folk", help="which corpus to build")
    ap.add_argument("--out", default=None, help="default: src/musicvae/assets/corpora/CORPUS.npz")
    ap.add_argument("--collections", nargs="*", default=None, help="default: the corpus's collections")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/musicvae_folk_cache_v2")
    ap.add_argument("--limit", type=int, default=None, help="at most this many tunes per file (testing)")
    ap.add_argument("--stats-json", default=None, help="also write the summary as JSON here")
    args = ap.parse_args(argv)
    default_collections, description, license_ = CORPORA[args.corpus]
    args.collections = args.collections or default_collections
    args.out = args.out or str(ROOT / f"src/musicvae/assets/corpora/{args.corpus}.npz")

    import music21

    t0 = time.time()
    cache_dir = Path(args.cache)
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs, prefilter = make_jobs(args.collections, cache_dir, args.limit)
    n_tunes = sum(len(j[4]) for j in jobs)
    print(f"music21 {music21.__version__}: {n_tunes} tunes with a candidate meter in {len(jobs)} chunks", flush=True)
    jobs.sort(key=lambda j: -len(j[4]))
    results: dict[str, list[dict]] = {}
    done = 0
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers, maxtasksperchild=20) as pool:
        for key, out, dt in pool.imap_unordered(run_chunk, jobs):
            results[key] = out
            done += len(out)
            ok = sum(r["ok"] for r in out)
            print(f"[{time.time() - t0:7.1f}s] {done}/{n_tunes} {key}: {ok}/{len(out)} kept ({dt:.1f}s)", flush=True)

    # deterministic order: by job key (collection, file, chunk), then tune order
    seqs, kept = [], collections.Counter()
    skipped = collections.Counter()
    snapped_tunes = snapped_notes = expanded = dropped_notes = short_bar_tunes = 0
    seen = set()
    for key in sorted(results):
        for r in results[key]:
            if not r["ok"]:
                skipped[(r["collection"], r["reason"])] += 1
                continue
            # O'Neill's files overlap (1556-1576 and 1556-1624, ...): keep one copy of a tune
            digest = hashlib.sha1(r["notes"][:, :3].tobytes() + r["ts"].encode()).hexdigest()
            if digest in seen:
                skipped[(r["collection"], "duplicate tune")] += 1
                continue
            seen.add(digest)
            seqs.append(to_sequence(r))
            kept[(r["collection"], r["ts"])] += 1
            snapped_notes += r["stats"]["snapped_notes"]
            snapped_tunes += r["stats"]["snapped_notes"] > 0
            expanded += r["expanded"]
            dropped_notes += r["stats"].get("dropped_notes", 0)
            short_bar_tunes += bool(r.get("short_meters"))

    save_collection(
        seqs,
        args.out,
        name=args.corpus,
        description=description,
        source_package="music21",
        version=music21.__version__,
        license=license_,
        built_with=f"python scripts/corpora/build_folk.py --corpus {args.corpus}",
    )
    back = load_collection(args.out)
    assert len(back) == len(seqs)
    non_paired = [s for s in back if not s.meta.get("paired_2_4")]
    summary = {
        "items": len(back),
        "notes": int(sum(len(s) for s in back)),
        "bars": int(sum(s.num_bars for s in back)),
        "kept": {f"{c} {ts}": n for (c, ts), n in sorted(kept.items())},
        "kept_per_collection": dict(collections.Counter(s.label for s in back)),
        "skipped": {f"{c}: {r}": n for (c, r), n in sorted(skipped.items(), key=lambda kv: -kv[1])},
        "prefilter_skipped": {f"{c}: {r}": n for (c, r), n in sorted(prefilter.items()) if r != "seen"},
        "tunes_seen": {c: n for (c, r), n in prefilter.items() if r == "seen"},
        "tunes_lengthened_by_repeat_expansion": expanded,
        "tunes_with_short_bar_meters": short_bar_tunes,
        "tunes_with_snapped_notes": snapped_tunes,
        "snapped_notes": int(snapped_notes),
        "dropped_colliding_notes": int(dropped_notes),
        "unique_2bar_windows_4_4_only": unique_windows(non_paired, 2),
        "unique_2bar_windows_all": unique_windows(back, 2),
        "unique_16bar_windows_all": unique_windows(back, 16),
        "file_bytes": os.path.getsize(args.out),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(summary, indent=1))
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
