#!/usr/bin/env python
"""Build the bundled ``bach`` corpus: Bach chorales from music21's corpus as 4-track sequences.

Usage (from the repository root, music21 installed: it is a build-time-only dependency)::

    PYTHONPATH=src nice -n 10 python scripts/corpora/build_bach.py --out src/musicvae/assets/corpora/bach.npz

Every file of ``corpus.getComposer('bach')`` is parsed; kept are the ones in 4/4 (or 2/2)
throughout that have Soprano, Alto, Tenor and Bass parts. Tracks are stored in that order
with General MIDI programs Soprano=0 (piano), Alto=52, Tenor=52 (choir), Bass=32
(acoustic bass) so that a MusAE-style grouping by program finds melody / strings / bass.
Repeats are expanded when music21 can; pickups are padded to a full bar (same helpers as
``build_folk.py``). label = "bach".
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_folk import (  # noqa: E402
    ROOT,
    SkipTune,
    _alarm,
    expand,
    first_qpm,
    part_notes,
    time_signatures,
    unique_windows,
)

from musicvae.music import NoteSequence, TrackInfo  # noqa: E402
from musicvae.music.collection import load_collection, save_collection  # noqa: E402

VOICES = [("Soprano", 0), ("Alto", 52), ("Tenor", 52), ("Bass", 32)]
ACCEPTED = {"4/4", "2/2"}
TIMEOUT_S = 120


def find_voices(score):
    """The Soprano, Alto, Tenor, Bass parts in that order (by part name/id), or SkipTune."""
    parts = list(score.parts)
    found = []
    for voice, _ in VOICES:
        match = None
        for p in parts:
            names = [str(p.partName or ""), str(p.id or "")]
            if any(n.strip().lower().startswith(voice.lower()) for n in names):
                match = p
                break
        found.append(match)
    if all(found) and len({id(p) for p in found}) == 4:
        return found
    if len(parts) == 4:
        return parts  # unnamed 4-part chorale: score order is S, A, T, B
    raise SkipTune(f"no SATB parts ({len(parts)} parts)")


def parse_file(path: str) -> dict:
    from music21 import corpus

    import music21

    corpus_dir = Path(music21.__file__).parent / "corpus"
    rel = Path(path).relative_to(corpus_dir).as_posix()
    src = f"music21:{rel}"
    signal.signal(signal.SIGALRM, _alarm)
    try:
        signal.alarm(TIMEOUT_S)
        score = corpus.parse(path)
        sigs = set(time_signatures(score))
        if not sigs or not sigs <= ACCEPTED:
            raise SkipTune("meter " + ",".join(sorted(sigs) or ["none"]))
        find_voices(score)
        qpm = first_qpm(score)
        title = (score.metadata.title if score.metadata is not None else "") or ""
        expanded, did_expand = expand(score)

        def notes_of(sc):
            blocks, totals = [], []
            for k, part in enumerate(find_voices(sc)):
                notes, total_ql, _ = part_notes(part, 4.0, track=k)
                blocks.append(notes)
                totals.append(total_ql)
            return np.concatenate(blocks), max(totals), len(set(totals)) == 1

        try:
            notes, total_ql, aligned = notes_of(expanded)
        except SkipTune:
            if not did_expand:
                raise
            notes, total_ql, aligned = notes_of(score)
            did_expand = False
        signal.alarm(0)
        if len(notes) == 0:
            raise SkipTune("no notes")
        total_steps = max(16, -(-int(round(total_ql * 4)) // 16) * 16)
        notes[:, 1] = np.minimum(notes[:, 1], total_steps)
        return {"ok": True, "source": src, "notes": notes, "total_steps": total_steps, "qpm": qpm,
                "title": str(title), "expanded": did_expand, "aligned": aligned, "ts": sorted(sigs)[0]}
    except (SkipTune, TimeoutError) as exc:
        signal.alarm(0)
        return {"ok": False, "source": src, "reason": str(exc).split(" (")[0]}
    except Exception as exc:  # noqa: BLE001
        signal.alarm(0)
        return {"ok": False, "source": src, "reason": "parse error: " + type(exc).__name__}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "src/musicvae/assets/corpora/bach.npz"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)

    import music21
    from music21 import corpus

    t0 = time.time()
    paths = sorted(str(p) for p in corpus.getComposer("bach"))
    if args.limit:
        paths = paths[: args.limit]
    print(f"music21 {music21.__version__}: {len(paths)} Bach files", flush=True)
    results = {}
    with mp.get_context("fork").Pool(args.workers, maxtasksperchild=25) as pool:
        for i, r in enumerate(pool.imap_unordered(parse_file, paths, chunksize=2)):
            results[r["source"]] = r
            if (i + 1) % 25 == 0:
                print(f"[{time.time() - t0:6.1f}s] {i + 1}/{len(paths)}", flush=True)

    seqs, skipped = [], collections.Counter()
    expanded = misaligned = 0
    seen = {}
    for src in sorted(results):
        r = results[src]
        if not r["ok"]:
            skipped[r["reason"]] += 1
            continue
        digest = hashlib.sha1(np.ascontiguousarray(r["notes"][np.lexsort(r["notes"].T[::-1])]).tobytes()).hexdigest()
        if digest in seen:  # the same chorale under two names (bwv112.5 / bwv112.5-sc, ...)
            skipped["duplicate of " + seen[digest].split("/")[-1]] += 1
            continue
        seen[digest] = src
        expanded += r["expanded"]
        misaligned += not r["aligned"]
        seqs.append(
            NoteSequence(
                r["notes"],
                [TrackInfo(p, False, name) for name, p in VOICES],
                r["total_steps"],
                qpm=float(r["qpm"]),
                time_signature=(4, 4),
                source=src,
                label="bach",
                meta={"title": r["title"], "original_time_signature": r["ts"], "expanded_repeats": r["expanded"]},
            )
        )
    save_collection(
        seqs,
        args.out,
        name="bach",
        description="J.S. Bach chorales in 4/4 from music21's corpus: 4 tracks Soprano (program 0), "
        "Alto (52), Tenor (52), Bass (32); repeats expanded, pickups padded to a full bar.",
        source_package="music21",
        version=music21.__version__,
        license="music21 code BSD-3-Clause; the Bach chorale encodings in music21's corpus are "
        "public-domain music (see music21/corpus/license.txt)",
        built_with="python scripts/corpora/build_bach.py --out src/musicvae/assets/corpora/bach.npz",
    )
    back = load_collection(args.out)
    summary = {
        "files": len(paths),
        "items": len(back),
        "notes": int(sum(len(s) for s in back)),
        "bars": int(sum(s.num_bars for s in back)),
        "lengthened_by_repeat_expansion": expanded,
        "parts_of_unequal_length": misaligned,
        "skipped": dict(skipped.most_common()),
        "unique_2bar_soprano_windows": unique_windows(
            [s.copy(notes=s.notes[s.notes[:, 4] == 0]) for s in back], 2
        ),
        "file_bytes": os.path.getsize(args.out),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
