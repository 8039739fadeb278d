#!/usr/bin/env python
"""Build the bundled ``grooves`` corpus: every 4/4 groove of MMA's groove library, rendered.

Usage (from the repository root; needs Debian's ``mma``: ``apt-get install -y mma``)::

    PYTHONPATH=src nice -n 10 python scripts/corpora/build_grooves.py --out src/musicvae/assets/corpora/grooves.npz

Every ``DefGroove`` of every library file under /usr/share/mma/lib whose ``Time`` is 4 is
rendered to MIDI by a small generated song (``Use`` the file, ``Groove NAME``, tempo 120,
``--bars`` bars of C Am F G7), read back with the project's ``read_midi`` and quantized
with ``quantize_score`` (the path user MIDI files take). All tracks are kept (drums, bass,
chords, arpeggios, ...). label = groove name, meta = groove file and description.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from musicvae.music import NoUsableMusic, quantize_score, read_midi  # noqa: E402
from musicvae.music.collection import load_collection, save_collection  # noqa: E402

LIB = Path("/usr/share/mma/lib")
CHORDS = ["C", "Am", "F", "G7"]


def list_grooves(lib: Path = LIB) -> list[tuple[str, str, int, str]]:
    """``[(groove name, library file, Time in force, description), ...]`` from DefGroove lines."""
    out = []
    for path in sorted(lib.rglob("*.mma")):
        time_sig = 4
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split("//", 1)[0].strip()
            m = re.match(r"(?i)^time\s+(\d+)", line)
            if m:
                time_sig = int(m.group(1))
                continue
            m = re.match(r"(?i)^defgroove\s+(\S+)\s*(.*)$", line)
            if m:
                out.append((m.group(1), path.relative_to(lib).as_posix(), time_sig, m.group(2).rstrip("\\ ").strip()))
    return out


def render(job) -> dict:
    name, rel, bars, tmp = job
    song = Path(tmp) / f"{rel.replace('/', '_')}__{name}.mma"
    mid = song.with_suffix(".mid")
    body = "\n".join(f"{i + 1} {CHORDS[i % len(CHORDS)]}" for i in range(bars))
    song.write_text(f"Use {LIB / rel[:-4]}\nTempo 120\nGroove {name}\n{body}\n")
    res = {"groove": name, "file": rel}
    try:
        proc = subprocess.run(["mma", str(song), "-f", str(mid)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return dict(res, ok=False, reason="mma timeout")
    if proc.returncode != 0 or not mid.exists():
        err = (proc.stdout + proc.stderr).strip().splitlines()
        return dict(res, ok=False, reason="mma error: " + (err[-1][:80] if err else "?"))
    try:
        seqs = quantize_score(read_midi(mid), f"mma:{rel}#{name}")
    except NoUsableMusic as exc:
        return dict(res, ok=False, reason=str(exc).split(":")[-1].strip()[:60])
    finally:
        for p in (song, mid):
            p.unlink(missing_ok=True)
    return dict(res, ok=True, seqs=seqs)


def drum_windows(seqs, bars: int) -> int:
    from musicvae.representations.drums import DrumConverter

    conv = DrumConverter()
    w = bars * 16
    seen = set()
    for s in seqs:
        for tokens in conv.candidates(s):
            t = tokens[:, 0]
            if len(t) < w:
                continue
            wins = np.lib.stride_tricks.sliding_window_view(t, w)[::16]
            for row in wins[wins.any(axis=1)]:
                seen.add(row.tobytes())
    return len(seen)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "src/musicvae/assets/corpora/grooves.npz"))
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)

    t0 = time.time()
    version = subprocess.run(["mma", "-v"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    grooves = list_grooves()
    by_time = collections.Counter(t for _, _, t, _ in grooves)
    todo = [g for g in grooves if g[2] == 4]
    if args.limit:
        todo = todo[: args.limit]
    desc = {(g[0], g[1]): g[3] for g in grooves}
    print(f"mma {version}: {len(grooves)} grooves in {len({g[1] for g in grooves})} files, Time: {dict(by_time)}; rendering {len(todo)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(n, f, args.bars, tmp) for n, f, _, _ in todo]
        results = []
        with mp.get_context("fork").Pool(args.workers) as pool:
            for i, r in enumerate(pool.imap(render, jobs, chunksize=4)):
                results.append(r)
                if (i + 1) % 200 == 0:
                    print(f"[{time.time() - t0:6.1f}s] {i + 1}/{len(jobs)}", flush=True)

    seqs, skipped = [], collections.Counter()
    for r in results:
        if not r["ok"]:
            skipped[r["reason"]] += 1
            continue
        for s in r["seqs"]:
            s.label = r["groove"]
            s.meta = dict(s.meta, groove=r["groove"], groove_file=r["file"], description=desc[(r["groove"], r["file"])])
            seqs.append(s)
    save_collection(
        seqs,
        args.out,
        name="grooves",
        description=f"MMA (Musical MIDI Accompaniment) groove library: each 4/4 groove rendered as "
        f"{args.bars} bars of {' '.join(CHORDS)} at 120 bpm, quantized with quantize_score; all tracks.",
        source_package="mma (Debian)",
        version=version,
        license="GPL-2+",
        built_with="python scripts/corpora/build_grooves.py --out src/musicvae/assets/corpora/grooves.npz",
    )
    back = load_collection(args.out)
    progs = collections.Counter()
    for s in back:
        for t in s.tracks:
            progs["drums" if t.is_drum else "bass" if 32 <= t.program <= 39 else "other"] += 1
    summary = {
        "grooves_defined": len(grooves),
        "grooves_rendered": len(todo),
        "items": len(back),
        "notes": int(sum(len(s) for s in back)),
        "bars": int(sum(s.num_bars for s in back)),
        "with_drums": sum(any(t.is_drum for t in s.tracks) for s in back),
        "with_bass": sum(any(32 <= t.program <= 39 and not t.is_drum for t in s.tracks) for s in back),
        "tracks_by_kind": dict(progs),
        "skipped": dict(skipped.most_common()),
        "unique_2bar_drum_patterns_9class": drum_windows(back, 2),
        "unique_4bar_drum_patterns_9class": drum_windows(back, 4),
        "file_bytes": os.path.getsize(args.out),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
