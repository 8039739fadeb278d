"""Per-step data cost of :class:`BatchStream` on a large synthetic dataset (issue 21: < 1 ms at 10M windows).

Usage:
    .venv/bin/python benchmarks/batch_stream.py                   # 10M 2-bar melody windows, batch 64
    .venv/bin/python benchmarks/batch_stream.py --windows 1000000 --steps 2000

Random int16 tokens of the 2-bar melody shape (N, 32, 1) stand in for a prepared dataset
(in memory, ~640 MB at 10M). Times ``batch(step)`` + ``labels(step)`` (what a training step
asks of the stream) for ``--steps`` consecutive steps and reports mean, median and the
first step of the epoch (which builds the epoch's permutation), next to the uncached
definition (a whole permutation per step) timed on a few steps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from musicvae.training.batches import BatchStream


class Windows:
    def __init__(self, n: int, steps: int):
        self.tokens = np.random.default_rng(0).integers(0, 130, (n, steps, 1), dtype=np.int16)
        self.pitched = np.array([True])
        self.room_down = np.full(n, 5, dtype=np.int64)
        self.room_up = np.full(n, 6, dtype=np.int64)
        self.labels = None

    def __len__(self) -> int:
        return len(self.tokens)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=10_000_000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5000)
    args = ap.parse_args()
    data = Windows(args.windows, 32)
    stream = BatchStream(data, args.batch_size, seed=0)
    times = []
    for step in range(args.steps):
        t0 = time.perf_counter()
        stream.batch(step)
        stream.labels(step)
        times.append(time.perf_counter() - t0)
    old = []
    for step in range(3):  # the uncached definition: one whole permutation per call (batch and labels: two)
        t0 = time.perf_counter()
        for _ in range(2):
            np.random.default_rng([0, 0]).permutation(args.windows)[step * 64 : (step + 1) * 64]
        old.append(time.perf_counter() - t0)
    ms = [t * 1e3 for t in times]
    print(f"{args.windows:,} windows, batch {args.batch_size}, {args.steps} steps of one epoch "
          f"({stream.per_epoch:,} steps per epoch)")
    print(f"cached:   mean {statistics.fmean(ms):.3f} ms  median {statistics.median(ms):.3f} ms  "
          f"first step (builds the permutation) {ms[0]:.1f} ms  mean over the epoch "
          f"{(sum(ms[1:]) / (len(ms) - 1) * (stream.per_epoch - 1) + ms[0]) / stream.per_epoch:.3f} ms")
    print(f"uncached: median {statistics.median(old) * 1e3:.1f} ms per step (3 steps)")


if __name__ == "__main__":
    main()
