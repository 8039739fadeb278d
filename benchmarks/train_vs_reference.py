"""Training seq/s of the package vs a plain nn.LSTM reference, and the fraction of SGEMM peak (issue 21).

Usage:
    .venv/bin/python benchmarks/train_vs_reference.py                        # both presets, 5 rounds
    .venv/bin/python benchmarks/train_vs_reference.py --rounds 3 --seconds 8 --write-results

Each measurement is a fresh subprocess (glibc's allocator settings are per process), run in
alternation round after round, so drift in the machine's speed (a shared host) hits every
variant alike; medians over rounds are reported, and ratios are taken within each round.

Variants:
* ``reference``: a minimal MusicVAE written with plain ``nn.LSTM`` / ``nn.Linear`` (the same
  layer shapes, loss and Adam step), under glibc's default allocator: what plain PyTorch gives.
* ``package``: the package's model and step as the Trainer runs it on CPU (flush denormals,
  :func:`musicvae.utils.allocator.keep_freed_memory`), fp32.
* ``package-bf16``: the same under bf16 autocast (``--set train.precision=bf16``).
* ``sgemm``: a 2048^3 fp32 matmul on all intra-op threads: the machine's SGEMM peak.

The FLOPs of a training step are counted with ``torch.utils.flop_counter.FlopCounterMode``
(matmuls of forward and backward) on the reference; the fraction of peak is
``flops * steps/s / SGEMM FLOP/s`` of the same round. Peak RSS of each worker is reported too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from _results import cpu_model, write_section

VARIANTS = ("reference", "package", "package-bf16")


def _reference_model(cfg, depth: int):
    import torch
    import torch.nn.functional as F
    from torch import nn

    m = cfg.model
    T = cfg.steps_per_window
    hier = m.decoder == "hierarchical"
    U = m.segments if hier else 1
    S = T // U
    cond = m.conductor_hidden if hier else m.z_size

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.LSTM(depth, m.encoder_hidden, m.encoder_layers, batch_first=True, bidirectional=True)
            self.mu = nn.Linear(2 * m.encoder_hidden, m.z_size)
            self.sig = nn.Linear(2 * m.encoder_hidden, m.z_size)
            if hier:
                self.cinit = nn.Linear(m.z_size, 2 * m.conductor_layers * m.conductor_hidden)
                self.cond = nn.LSTM(1, m.conductor_hidden, m.conductor_layers, batch_first=True)
            self.dinit = nn.Linear(cond, 2 * m.decoder_layers * m.decoder_hidden)
            self.dec = nn.LSTM(depth + cond, m.decoder_hidden, m.decoder_layers, batch_first=True)
            self.out = nn.Linear(m.decoder_hidden, depth)

        @staticmethod
        def state(lin, v, layers, hidden):
            s = torch.tanh(lin(v)).view(v.shape[0], 2, layers, hidden).permute(1, 2, 0, 3).contiguous()
            return s[0], s[1]

        def forward(self, tokens):  # (B, T)
            B = tokens.shape[0]
            x = F.one_hot(tokens, depth).float()
            _, (h, _) = self.enc(x)
            last = torch.cat([h[-2], h[-1]], -1)
            mu, sigma = self.mu(last), F.softplus(self.sig(last))
            z = mu + sigma * torch.randn_like(mu)
            if hier:
                e, _ = self.cond(z.new_zeros(B, U, 1), self.state(self.cinit, z, m.conductor_layers, m.conductor_hidden))
                c = e.reshape(B * U, -1)
            else:
                c = z
            prev = F.pad(x, (0, 0, 1, 0))[:, :-1].reshape(B * U, S, depth)
            inp = torch.cat([prev, c.unsqueeze(1).expand(-1, S, -1)], -1)
            y, _ = self.dec(inp, self.state(self.dinit, c, m.decoder_layers, m.decoder_hidden))
            logits = self.out(y).reshape(B, T, depth)
            r = F.cross_entropy(logits.reshape(-1, depth), tokens.reshape(-1), reduction="sum") / B
            kl = (0.5 * (mu ** 2 + sigma ** 2 - 1) - torch.log(sigma)).sum(-1).mean()
            return r + 0.2 * kl

    return Ref()


def step_flops(cfg, depth: int) -> float:
    """Matmul FLOPs of one training step (forward x 3: the backward pass costs two products per forward one)."""
    m = cfg.model
    B, T = cfg.train.batch_size, cfg.steps_per_window
    hier = m.decoder == "hierarchical"
    U = m.segments if hier else 1
    cond = m.conductor_hidden if hier else m.z_size

    def lstm(rows, steps, inp, hidden, layers, directions=1):
        f = 2 * rows * steps * 4 * hidden * (inp + hidden) * directions
        return f + (layers - 1) * 2 * rows * steps * 4 * hidden * (hidden * directions + hidden) * directions

    He, Hd, Hc, Z = m.encoder_hidden, m.decoder_hidden, m.conductor_hidden, m.z_size
    f = lstm(B, T, depth, He, m.encoder_layers, 2) + 2 * 2 * B * 2 * He * Z
    if hier:
        f += 2 * B * Z * 2 * m.conductor_layers * Hc + lstm(B, U, 1, Hc, m.conductor_layers)
    f += 2 * B * U * cond * 2 * m.decoder_layers * Hd + lstm(B * U, T // U, depth + cond, Hd, m.decoder_layers)
    f += 2 * B * T * Hd * depth
    return 3.0 * f


def worker(variant: str, preset: str, seconds: float, warmup: int, threads: int, clock: str = "thread") -> dict:
    import torch

    now = time.thread_time if clock == "thread" else time.perf_counter

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # the Trainer does this on CPU; both sides alike
    if variant == "sgemm":
        a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
        for _ in range(3):
            a @ b
        n, t0, c0 = 0, time.perf_counter(), now()
        while now() - c0 < seconds:
            a @ b
            n += 1
        return {"gflops": 2 * 2048 ** 3 * n / (now() - c0) / 1e9,
                "gflops_wall": 2 * 2048 ** 3 * n / (time.perf_counter() - t0) / 1e9}
    from musicvae.models.builders import build_model
    from musicvae.presets import get_preset
    from musicvae.models.distributions import elbo_loss

    cfg = get_preset(preset)
    vocab = (130,)
    B, T = cfg.train.batch_size, cfg.steps_per_window
    x = torch.randint(0, vocab[0], (B, T, 1))
    if variant == "reference":
        model = _reference_model(cfg, vocab[0])
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def loss_fn():
            return model(x[..., 0])
    else:
        from musicvae.utils.allocator import keep_freed_memory

        applied = keep_freed_memory()
        model = build_model(cfg, vocab)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if variant == "package-bf16" else None

        def loss_fn():
            if ctx is None:
                out = model(x)
            else:
                with ctx():
                    out = model(x)
            return elbo_loss(out["logits"].float(), x, vocab, out["mu"], out["sigma"], 0.2, 0.0)["loss"]

    def step():
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(warmup):
        step()
    n, t0, c0 = 0, time.perf_counter(), now()
    while now() - c0 < seconds:
        step()
        n += 1
    sec, wall = now() - c0, time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB
    out = {"seq_per_s": B * n / sec, "steps_per_s": n / sec, "seq_per_s_wall": B * n / wall, "steps": n,
           "peak_rss_mib": rss, "flops_per_step": step_flops(cfg, vocab[0])}
    if variant != "reference":
        out["allocator"] = applied
    return out


def run_worker(variant: str, preset: str, seconds: float, warmup: int, threads: int, malloc_off: bool = False,
               clock: str = "thread") -> dict:
    env = dict(os.environ)
    if malloc_off:
        env["MUSICVAE_MALLOC"] = "system"
    cmd = [sys.executable, __file__, "--worker", variant, "--presets", preset, "--seconds", str(seconds),
           "--warmup", str(warmup), "--threads", str(threads), "--clock", clock]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=["cat-mel_2bar_small_cpu", "hierdec-mel_16bar_cpu"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS) + ["package-malloc-off"])
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of every worker (default 1; see the docstring)")
    ap.add_argument("--clock", choices=("thread", "wall"), default=None,
                    help="what a second is: the main thread's CPU time (default with 1 thread: robust on a shared "
                         "host) or wall time (default with more threads: the main thread's CPU time does not count "
                         "the others; meaningful only on a quiet machine)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args(argv)
    clock = args.clock or ("thread" if args.threads == 1 else "wall")
    if "package-bf16" in args.variants and not args.worker:
        import torch

        from musicvae.training.trainer import cpu_runs

        if not cpu_runs("bf16"):
            print(f"package-bf16 skipped: this CPU has no bf16 instructions ({torch.backends.cpu.get_cpu_capability()})")
            args.variants = [v for v in args.variants if v != "package-bf16"]
    if args.worker:
        print(json.dumps(worker(args.worker, args.presets[0], args.seconds, args.warmup, args.threads, clock)))
        return 0
    results: dict[tuple[str, str], list[dict]] = {}
    peaks: list[float] = []
    for r in range(args.rounds):
        peaks.append(run_worker("sgemm", "", 3.0, 0, args.threads, clock=clock)["gflops"])
        for preset in args.presets:
            order = args.variants if r % 2 == 0 else list(reversed(args.variants))
            for v in order:
                off = v == "package-malloc-off"
                res = run_worker("package" if off else v, preset, args.seconds, args.warmup, args.threads, malloc_off=off, clock=clock)
                res["peak"] = peaks[-1]
                results.setdefault((preset, v), []).append(res)
                print(f"round {r} {preset:24s} {v:20s} {res['seq_per_s']:8.1f} seq/s  rss {res['peak_rss_mib']:.0f} MiB"
                      f"  (sgemm {peaks[-1]:.0f} GFLOP/s)", flush=True)
    med = statistics.median
    lines = []
    for preset in args.presets:
        ref = results[(preset, "reference")]
        flops = ref[0]["flops_per_step"]
        for v in args.variants:
            rows = results[(preset, v)]
            ratio = med(a["seq_per_s"] / b["seq_per_s"] for a, b in zip(rows, ref))
            frac = med(a["steps_per_s"] * flops / 1e9 / a["peak"] for a in rows)
            lines.append(f"| {preset} | {v} | {med(a['seq_per_s'] for a in rows):.1f} | {ratio:.2f}x | "
                         f"{med(a['seq_per_s_wall'] for a in rows):.1f} | "
                         f"{med(a['steps_per_s'] * flops / 1e9 for a in rows):.0f} | {frac:.0%} | "
                         f"{med(a['peak_rss_mib'] for a in rows):.0f} |")
    cpu = cpu_model()
    load = os.getloadavg()
    what = ("the main thread's CPU time (the time it actually ran: robust to other jobs on a shared host; the "
            "wall-clock column is not)" if clock == "thread" else
            "wall-clock second (all threads working; meaningful only on a quiet host: check the load average)")
    head = [f"## training vs a plain nn.LSTM reference (issue 21), {args.threads} thread(s)", "",
            f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: `.venv/bin/python benchmarks/train_vs_reference.py "
            f"{' '.join(sys.argv[1:])}`", "",
            f"Machine: CPU {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; {args.threads} intra-op thread(s) per "
            f"worker; seq/s per {what}; SGEMM peak (2048^3, same threads, same clock) "
            f"median {med(peaks):.0f} GFLOP/s (range {min(peaks):.0f}-{max(peaks):.0f}); load average at end "
            f"{load[0]:.2f} (a host shared with other jobs). {args.rounds} rounds of {args.seconds:.0f} s per variant, "
            "alternated; medians; ratio = median of per-round ratios to the reference.", "",
            f"| preset | variant | seq/s ({'CPU time' if clock == 'thread' else 'wall'}) | vs reference | seq/s (wall) | GFLOP/s | of SGEMM peak | peak RSS MiB |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    block = "\n".join(head + lines)
    print(block)
    if args.write_results:
        write_section("train_vs_reference" if args.threads == 1 else f"train_vs_reference_{args.threads}t", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
