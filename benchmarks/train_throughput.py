"""Training throughput (sequences/s, forward + backward + Adam) per preset, on CPU or GPU.

Usage:
    .venv/bin/python benchmarks/train_throughput.py                       # every *_cpu preset, CPU
    .venv/bin/python benchmarks/train_throughput.py --presets hierdec-mel_16bar --device cuda --precision bf16 --batch-size 512
    .venv/bin/python benchmarks/train_throughput.py --write-results      # update benchmarks/RESULTS.md

Random tokens of the preset's shape stand in for data (throughput does not depend on
the values). Teacher forcing is timed, plus the scheduled-sampling path (step-by-step
unrolling) where the preset uses it. The first steps warm up and are not counted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time

import torch

from musicvae.models.builders import build_model, count_parameters
from musicvae.presets import ALIASES, PRESETS, get_preset
from musicvae.models.distributions import elbo_loss

from _results import cpu_model, write_section

VOCAB = {"melody": (130,), "drums": (512,), "trio": (130, 130, 512)}


def measure(name: str, device: str, precision: str, batch: int | None, steps: int, warmup: int, sampled: bool) -> dict:
    cfg = get_preset(name)
    vocab = VOCAB[cfg.data.kind]
    model = build_model(cfg, vocab).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    B = batch or cfg.train.batch_size
    T = 16 * cfg.data.bars
    x = torch.stack([torch.randint(0, v, (B, T)) for v in vocab], dim=-1).to(device)  # (B, T, K)
    feed = (torch.rand(B, T, device=device) < 0.5) if sampled else None
    ctx = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16) if precision == "bf16" else None

    def step() -> None:
        if ctx is not None:
            with ctx:
                out = model(x, feed_sample=feed)
        else:
            out = model(x, feed_sample=feed)
        loss = elbo_loss(out["logits"].float(), x, vocab, out["mu"], out["sigma"], 0.2, 0.0)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {"preset": name, "mode": "scheduled sampling" if sampled else "teacher forcing", "batch": B,
            "parameters": count_parameters(model), "seq_per_s": B * steps / seconds, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=[  # the MusicVAE / LM *_cpu presets (other families train differently)
        n for n, c in PRESETS.items() if n.endswith("_cpu") and n not in ALIASES and c.model.family in ("musicvae", "lm") and c.data.kind in VOCAB])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args(argv)
    if args.device == "cpu":
        torch.set_flush_denormal(True)  # as the Trainer does on CPU: without it hierdec-mel_16bar_cpu runs 6x slower
    rows = []
    for name in args.presets:
        cfg = PRESETS[name]
        modes = [False] + ([True] if cfg.train.sampling_rate > 0 else [])
        for sampled in modes:
            r = measure(name, args.device, args.precision, args.batch_size, args.steps, args.warmup, sampled)
            rows.append(r)
            print(f"{r['preset']:32s} {r['mode']:18s} batch {r['batch']:4d} {r['parameters'] / 1e6:7.1f}M "
                  f"{r['seq_per_s']:9.1f} seq/s", flush=True)
    if args.write_results:
        cpu = cpu_model()
        dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU {cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"
        lines = [f"## training throughput ({args.device}, {args.precision})", "",
                 f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: `.venv/bin/python benchmarks/train_throughput.py {' '.join(sys.argv[1:])}`",
                 f"Machine: {dev}; torch {torch.__version__}, Python {platform.python_version()}.", "",
                 "| preset | mode | batch | parameters | seq/s |", "|---|---|---|---|---|"]
        lines += [f"| {r['preset']} | {r['mode']} | {r['batch']} | {r['parameters'] / 1e6:.1f}M | {r['seq_per_s']:.1f} |" for r in rows]
        write_section("train_throughput", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
