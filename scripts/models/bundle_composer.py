"""Bundle a trained MCVAE composer folder: fp16 weights, updated checksums, a model card.

    .venv/bin/python scripts/models/bundle_composer.py runs/mcvae src/musicvae/assets/models/mcvae_folk \
        --bar-run runs/mcvae-bar --command-bar "..." --command-composer "..." [--note "..."]

Reads ``RUN/composer.json`` (+ ``composer.safetensors``, ``bar_vae.safetensors``) and the bar
VAE run's ``metrics.jsonl``; writes the same three files with fp16 weights (the fingerprint of
the bar VAE is computed on fp16-rounded weights, so it still matches) and ``CARD.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from pathlib import Path

import torch
from safetensors.torch import load as st_load, save as st_save


def _fp16(data: bytes) -> bytes:
    state = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in st_load(data).items()}
    return st_save(state, metadata={"format": "musicvae-composer"})


def _curve(path: Path, key: str) -> list[dict]:
    if not path.is_file():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if key in r]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--bar-run", type=Path, required=True)
    ap.add_argument("--command-bar", required=True)
    ap.add_argument("--command-composer", required=True)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    doc = json.loads((args.run / "composer.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in ("composer.safetensors", "bar_vae.safetensors"):
        data = _fp16((args.run / name).read_bytes())
        (args.out / name).write_bytes(data)
        files[name] = hashlib.sha256(data).hexdigest()
    doc["files"] = files
    doc["weights_dtype"] = "float16"
    (args.out / "composer.json").write_text(json.dumps(doc, indent=1) + "\n")

    bar_evals = _curve(args.bar_run / "metrics.jsonl", "tf_accuracy")
    comp_evals = _curve(args.run / "metrics.jsonl", "eval_nll")
    vae = doc.get("bar_vae_model") or {}
    m = (vae.get("config") or {}).get("model", {})
    last = bar_evals[-1] if bar_evals else {}
    lines = [
        "# mcvae_folk", "",
        "An MCVAE (README, \"Long pieces bar by bar\"): a 1-bar "
        f"melody VAE (z = {m.get('z_size')}, encoder {m.get('encoder_hidden')}, decoder {m.get('decoder_hidden')} x "
        f"{m.get('decoder_layers')}) and an LSTM composer ({doc['composer'].get('hidden_size')} x "
        f"{doc['composer'].get('num_layers')}) whose mixture-density output ({doc['composer'].get('components')} "
        "Gaussians) predicts the next bar's code from the codes so far. Bundled with musicvae as fp16 safetensors "
        "for `musicvae compose --model mcvae_folk` and the studio's Continue tool.", "",
        "## Data",
        "`folk`, the bundled corpus (see `src/musicvae/assets/corpora/PROVENANCE.md`): 1-bar melody windows for the "
        "bar VAE (`musicvae prepare folk --kind melody --bars 1`), whole tunes of 16 bars or more for the composer "
        f"(`musicvae prepare folk --kind bars --bars 16`): {doc['metrics'].get('train_songs', '?'):,} training and "
        f"{doc['metrics'].get('eval_songs', '?'):,} held-out songs.", "",
        "## How it was trained", "```", args.command_bar, args.command_composer, "```",
        f"on {platform.processor() or platform.machine()}, 2 cores shared with other jobs, with `nice -n 10` and "
        "one thread (OMP_NUM_THREADS=1). " + args.note, "",
        "## Held-out figures",
        f"Bar VAE at step {last.get('step', '?')}: teacher-forced accuracy {last.get('tf_accuracy', float('nan')):.3f}, "
        f"sampled (T=1) {last.get('sampled_accuracy', float('nan')):.3f}, argmax "
        f"{last.get('argmax_accuracy', float('nan')):.3f}, KL {last.get('eval_kl_bits', float('nan')):.0f} bits "
        "(the trainer's held-out batches).",
        f"Composer (step {doc.get('step')}, the best held-out NLL): {doc['metrics'].get('eval_nll', float('nan')):.2f} "
        f"nats per bar against {doc['metrics'].get('eval_nll_unconditional', float('nan')):.2f} for one Gaussian "
        "fitted to all training codes (lower is better: the composer uses the bars so far).", "",
        "| bar VAE step | teacher-forced | sampled (T=1) | argmax | KL bits |", "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['step']:,} | {r['tf_accuracy']:.3f} | {r['sampled_accuracy']:.3f} | {r['argmax_accuracy']:.3f} | "
              f"{r['eval_kl_bits']:.0f} |" for r in bar_evals]
    lines += ["", "| composer step | held-out NLL (nats/bar) | one Gaussian |", "|---:|---:|---:|"]
    lines += [f"| {r['step']:,} | {r['eval_nll']:.2f} | {r['eval_nll_unconditional']:.2f} |" for r in comp_evals]
    lines += ["", "## Limits",
              "A small model trained for minutes on a shared 2-core CPU: the bars are plausible folk fragments, "
              "the long-range form is weak; the thesis trained far longer. Melody only (130 classes), 4/4, "
              "one note at a time. Rebuild with `bash scripts/models/mcvae_folk.sh`."]
    (args.out / "CARD.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.2f} MB" for p in sorted(args.out.iterdir())))


if __name__ == "__main__":
    main()
