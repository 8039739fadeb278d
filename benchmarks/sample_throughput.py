"""Batch sampling throughput: ``sample_tokens(n)`` seq/s on the inference path vs the plain path (issue 21).

Usage:
    .venv/bin/python benchmarks/sample_throughput.py                       # mel_2bar, mel_16bar; 1 thread
    .venv/bin/python benchmarks/sample_throughput.py --threads 2 --write-results

The plain path is the reference loop (``nn.LSTM`` one step at a time, segment after segment),
forced by making ``CoreDecoder.inference_path`` answer False; the inference path is what
``TrainedModel.sample`` runs (hand-written LSTM step, fp16 or fp32 weights by row count,
hierarchical segments decoded at once). Both draw the same Gumbel noise (the tokens are the
same; ``tests/models/test_models.py``). Each (model, n) alternates the two paths ``--repeat``
times; the ratio is the median of the per-pair ratios. With one thread the clock is the main
thread's CPU time (robust to other jobs on a shared host), with more it is wall time.
Decoding only: tokens -> NoteSequence conversion (the same for both) is left out.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import sys
import time

import torch

from musicvae.generation import TrainedModel
from musicvae.models.modules.decoders import CoreDecoder

from _results import cpu_model, write_section



@contextlib.contextmanager
def plain_path():
    real = CoreDecoder.inference_path
    CoreDecoder.inference_path = lambda self, targets=None: False
    try:
        yield
    finally:
        CoreDecoder.inference_path = real


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["mel_2bar", "mel_16bar"])
    ap.add_argument("--sizes", default="1,16,64,1024,4096")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per path per (model, n), at least one call")
    ap.add_argument("--repeat", type=int, default=5, help="pairs at most")
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    rows = []
    for name in args.models:
        model = TrainedModel.load(name)
        for n in (int(v) for v in args.sizes.split(",")):
            model.sample_tokens(n, seed=0)  # warm-up (weights packed, buffers)
            ratios, fast_t, plain_t = [], [], []
            spent = 0.0
            for i in range(args.repeat):
                t0 = clock()
                a = model.sample_tokens(n, seed=i)
                t1 = clock()
                with plain_path():
                    b = model.sample_tokens(n, seed=i)
                t2 = clock()
                assert (a == b).all(), f"{name} n={n}: the paths sampled different tokens"
                fast_t.append(t1 - t0)
                plain_t.append(t2 - t1)
                ratios.append((t2 - t1) / (t1 - t0))
                spent += t2 - t0
                if spent > 2 * args.budget:
                    break
            r = (name, n, n / statistics.median(fast_t), n / statistics.median(plain_t), statistics.median(ratios), len(ratios))
            rows.append(r)
            print(f"{name:10s} n={n:5d} fast {r[2]:9.1f} seq/s  plain {r[3]:9.1f} seq/s  ratio {r[4]:5.2f}x  ({r[5]} pairs)",
                  flush=True)
    cpu = cpu_model()
    block = "\n".join([
        f"## batch sampling throughput, {args.threads} thread(s) (issue 21)", "",
        f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: `.venv/bin/python benchmarks/sample_throughput.py "
        f"{' '.join(sys.argv[1:])}`; CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, Python "
        f"{platform.python_version()}; clock: {'main-thread CPU time' if args.threads == 1 else 'wall time'}; load average "
        f"at end {os.getloadavg()[0]:.1f} (a host shared with other jobs). Identical tokens checked on every pair.", "",
        "| model | n | inference path seq/s | plain path seq/s | ratio (median of pairs) | pairs |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {m} | {n} | {f:.1f} | {p:.1f} | {r:.2f}x | {k} |" for m, n, f, p, r, k in rows]])
    print(block)
    if args.write_results:
        write_section(f"sample_throughput_t{args.threads}", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
