#!/usr/bin/env python
"""When does a second ``prepare`` worker pay? One vs two worker processes, whole runs, by input size.

``musicvae prepare --workers 0`` (the default) takes one process below a number of input files and
one per core above it (``data.prepare.prepare``). This measures where two workers start to win on
wall time, the figure that rule is for, and what they cost in CPU time: for each folder,
``prepare DIR --kind melody --bars 2 --workers W`` for W = 1 and 2 alternated, ``--rounds`` times,
medians. Run it on a quiet host (wall time is the point; other jobs make two workers wait).

Usage (repository root, project venv)::

    .venv/bin/python benchmarks/prepare_workers.py data/mixed-1000 data/mixed-2000 data/mixed --rounds 3

(``benchmarks/make_mixed_folder.py`` builds ``data/mixed``; subsets of it are hard links of every
k-th file.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from prepare_throughput import _median, collect_midi, musicvae_command, timed_process


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--musicvae", help="command that runs the CLI (default .venv/bin/musicvae)")
    args = ap.parse_args(argv)
    cmd = musicvae_command(args.musicvae)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"load average at start {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder in args.folders:
            n = len(collect_midi(folder))
            runs: dict[int, list[dict]] = {1: [], 2: []}
            for r in range(args.rounds):
                for w in (1, 2) if r % 2 == 0 else (2, 1):  # alternated: drift hits both sides
                    out = timed_process([*cmd, "prepare", str(folder), "--kind", "melody", "--bars", "2",
                                         "--out", f"{tmp}/out", "--force", "--workers", str(w)], env)
                    if out["returncode"]:
                        raise SystemExit(f"{folder}: prepare failed: {out['stderr'].strip()[-300:]}")
                    runs[w].append(out)
            wall = {w: _median([o["wall"] for o in runs[w]]) for w in runs}
            cpu = {w: _median([o["cpu"] for o in runs[w]]) for w in runs}
            rows.append((folder, n, wall[1], wall[2], cpu[1], cpu[2]))
            print(f"{folder}: {n} files, wall {wall[1]:.2f} / {wall[2]:.2f} s", file=sys.stderr)
    print("| folder | files | wall s, 1 worker | wall s, 2 workers | 2 vs 1 (wall) | CPU s, 1 | CPU s, 2 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for folder, n, w1, w2, c1, c2 in rows:
        print(f"| `{folder}` | {n:,} | {w1:.2f} | {w2:.2f} | {w1 / w2:.2f}x | {c1:.2f} | {c2:.2f} |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
