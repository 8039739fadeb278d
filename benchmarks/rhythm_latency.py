"""What the rhythm temperature costs at batch 1: ``sample(1)`` of a model with its recorded rhythm temperature
against the same model with one plain temperature, alternated in one process.

Usage:
    .venv/bin/python benchmarks/rhythm_latency.py [--model mel_16bar] [--rounds 5] [--repeat 40]

Each round times ``--repeat`` calls of each setting (median, ms) at the model's default temperature on one
thread; the ratio is rhythm / plain. The split costs a few small tensor ops per step
(``models.distributions.split_temperature``) and, since fewer bars end on "hold", more re-decoding passes
in the hierarchical decoder.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from musicvae.generation import TrainedModel


def median_ms(model: TrainedModel, repeat: int, seed0: int) -> float:
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        model.sample(1, seed=seed0 + i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mel_16bar")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = TrainedModel.load(args.model)
    own = model.rhythm_temperature
    if own is None:
        raise SystemExit(f"{args.model} records no rhythm temperature; nothing to compare")
    for i in range(3):
        model.sample(1, seed=i)
    for r in range(args.rounds):
        model.rhythm_temperature = None
        plain = median_ms(model, args.repeat, 1000 * r)
        model.rhythm_temperature = own
        split = median_ms(model, args.repeat, 1000 * r)
        print(f"round {r + 1}: T {model.default_temperature:g}, plain {plain:.2f} ms, rhythm {own:g} {split:.2f} ms, "
              f"ratio {split / plain:.2f}x", flush=True)


if __name__ == "__main__":
    main()
