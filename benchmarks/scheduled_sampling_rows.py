"""Scheduled sampling: a gradient-free unroll of the sampling rows + one teacher pass vs the whole batch unrolled (A/B).

Usage:
    .venv/bin/python benchmarks/scheduled_sampling_rows.py                  # cat-mel_2bar_small_cpu
    .venv/bin/python benchmarks/scheduled_sampling_rows.py --probs 0.001,0.01,0.05 --seconds 4

A training step (forward, ELBO, backward, Adam) at batch 64 with a per-step sampling mask of
probability p (an inverse-sigmoid schedule of rate 1000, the *_2bar presets', gives p = 0.001 at
step 0, 0.007 at step 2,000, 0.13 at 5,000 and 0.5 at ~6,900), timed with the package's
``scheduled_logits`` (rows with a sampled position unrolled without autograd, then one teacher-forced
pass over the fed tokens) and with the previous
behaviour (the whole batch unrolled), in alternation; the clock is the main thread's CPU time
on one thread (robust to other jobs on a shared host). The same masks feed both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from musicvae.models import musicvae as mv
from musicvae.models.builders import build_model
from musicvae.presets import get_preset
from musicvae.models.distributions import elbo_loss
from musicvae.training.schedules import sampling_mask


def whole_batch(decoder, z, targets, feed_sample, generator=None):
    return decoder.unroll(z, targets.shape[0], targets=targets, feed_sample=feed_sample, generator=generator)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cat-mel_2bar_small_cpu")
    ap.add_argument("--probs", default="0.001,0.003,0.01,0.03")
    ap.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per variant per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    cfg = get_preset(args.preset)
    vocab = (130,)
    model = build_model(cfg, vocab)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    B, T = cfg.train.batch_size, cfg.steps_per_window
    x = torch.randint(0, 130, (B, T, 1))
    real = mv.scheduled_logits

    def rate(fn, prob: float) -> float:
        mv.scheduled_logits = fn
        gen = torch.Generator().manual_seed(0)
        n, c0 = 0, time.thread_time()
        while time.thread_time() - c0 < args.seconds:
            feed = sampling_mask(prob, B, T, "per_step", generator=gen)
            out = model(x, feed_sample=feed, generator=gen)
            loss = elbo_loss(out["logits"], x, vocab, out["mu"], out["sigma"], 0.2, 0.0)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += 1
        mv.scheduled_logits = real
        return B * n / (time.thread_time() - c0)

    print(f"{args.preset}, batch {B}, 1 thread, main-thread CPU time, {args.rounds} rounds of {args.seconds:.0f} s")
    print("| p per step | rows that sample (expected) | package seq/s | whole batch seq/s | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for prob in (float(p) for p in args.probs.split(",")):
        rows, whole = [], []
        for r in range(args.rounds):
            order = [(real, rows), (whole_batch, whole)]
            for fn, out in (order if r % 2 == 0 else order[::-1]):
                out.append(rate(fn, prob))
        ratio = statistics.median(a / b for a, b in zip(rows, whole))
        print(f"| {prob:g} | {B * (1 - (1 - prob) ** T):.1f} of {B} | {statistics.median(rows):.0f} | "
              f"{statistics.median(whole):.0f} | {ratio:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
