"""Batch-1 `sample` latency on CPU for each bundled model (what a musician waits for).

Usage:
    .venv/bin/python benchmarks/sample_latency.py                    # bundled models
    .venv/bin/python benchmarks/sample_latency.py --write-results    # update benchmarks/RESULTS.md

Times ``TrainedModel.sample(1)`` end to end (prior draw, free-running decoding,
tokens -> NoteSequence), median of ``--repeat`` calls after warm-up, on one and on
all intra-op threads. Goals (issue 4): 2-bar under 15 ms, 16-bar hierarchical under 60 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time

import torch

from musicvae.generation import TrainedModel, bundled_models

from _results import write_section

GOALS_MS = {2: 15.0, 16: 60.0}


def measure(model: TrainedModel, repeat: int, warmup: int = 3) -> float:
    for i in range(warmup):
        model.sample(1, temperature=0.5, seed=i)
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        model.sample(1, temperature=0.5, seed=1000 + i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=None, help="bundled names or model dirs (default: all bundled)")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args()
    names = args.models or list(bundled_models())
    rows = []
    all_threads = torch.get_num_threads()
    for name in names:
        model = TrainedModel.load(name)
        for threads in sorted({1, all_threads}):
            torch.set_num_threads(threads)
            ms = measure(model, args.repeat)
            goal = GOALS_MS.get(model.bars)
            verdict = "-" if goal is None else ("met" if ms < goal else "missed")
            rows.append((name, f"{model.bars}-bar {model.kind}", model.config.model.decoder, threads, ms, goal, verdict))
            print(f"{name:12s} {model.bars:>2}-bar {model.kind:7s} threads {threads}: {ms:7.2f} ms (goal {goal} ms: {verdict})")
        torch.set_num_threads(all_threads)
    if args.write_results:
        lines = [f"Measured {dt.date.today()} on {platform.machine()} ({os.cpu_count()} cores), torch "
                 f"{torch.__version__}, command `.venv/bin/python benchmarks/sample_latency.py --write-results`.", "",
                 "| model | music | decoder | threads | median ms | goal ms | |", "|---|---|---|---:|---:|---:|---|"]
        lines += [f"| {n} | {m} | {d} | {t} | {ms:.2f} | {g or '-'} | {v} |" for n, m, d, t, ms, g, v in rows]
        path = write_section("sample_latency", "\n".join(lines), heading="## Sample latency (issue 4)")
        print(f"updated {path}")


if __name__ == "__main__":
    main()
