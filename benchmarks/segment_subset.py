"""Training step cost of a hierarchical model decoding k of its segments per window (``train.segment_subset``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/segment_subset.py --write-results

One fwd+bwd+Adam step of ``hierdec-mel_16bar_cpu`` (batch 32, random tokens) for k = all, 8, 4, 2 of its
16 segments, A/B alternated in rounds, clocked with the main thread's CPU time (robust to other jobs on a
shared host); ratio = median over rounds of (seconds per step with every segment) / (with k).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time

import torch

from musicvae.models.builders import build_model
from musicvae.models.musicvae import grid_elbo
from musicvae.presets import get_preset

from _results import cpu_model, write_section


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="hierdec-mel_16bar_cpu")
    ap.add_argument("--subsets", default="0,8,4,2", help="k per variant (0 = every segment)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args(argv)
    torch.set_flush_denormal(True)
    cfg = get_preset(args.preset)
    torch.manual_seed(0)
    model = build_model(cfg, (130,)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    B, T = cfg.train.batch_size, 16 * cfg.data.bars
    x = torch.randint(0, 130, (B, T, 1))
    gen = torch.Generator().manual_seed(0)

    def step(k: int) -> None:
        out = model(x, generator=gen, segment_subset=k)
        loss = grid_elbo(model, x, out, beta=0.2, free_bits=48.0)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ks = [int(k) for k in args.subsets.split(",")]
    for k in ks:  # warm-up
        step(k)
    per_step: dict[int, list[float]] = {k: [] for k in ks}
    for r in range(args.rounds):
        for k in (ks if r % 2 == 0 else ks[::-1]):
            t0 = time.thread_time()
            for _ in range(args.steps):
                step(k)
            per_step[k].append((time.thread_time() - t0) / args.steps)
    base = per_step[ks[0]]
    lines = [f"## training on a subset of segments (issue 17 lever, `train.segment_subset`)", "",
             f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
             f".venv/bin/python benchmarks/segment_subset.py {' '.join(sys.argv[1:])}`; CPU {cpu_model()}, "
             f"{os.cpu_count()} cores, {torch.get_num_threads()} thread(s), torch {torch.__version__}, Python "
             f"{platform.python_version()}; main-thread CPU time; load average at end {os.getloadavg()[0]:.1f}.", "",
             f"| preset | segments decoded | s per step (median) | seq/s | vs all segments |", "|---|---:|---:|---:|---:|"]
    for k in ks:
        ratio = statistics.median(b / s for b, s in zip(base, per_step[k]))
        med = statistics.median(per_step[k])
        lines.append(f"| {args.preset} | {k or cfg.model.segments} of {cfg.model.segments} | {med:.3f} | {B / med:.1f} | "
                     f"{ratio:.2f}x |")
    print("\n".join(lines))
    if args.write_results:
        write_section("segment_subset", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
