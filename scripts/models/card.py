"""Export a training run as a bundled model with its model card.

Usage (what scripts/models/build.sh runs for each bundled model):
    python scripts/models/card.py RUN_DIR DATA_DIR OUT_DIR --name mel_2bar --command "musicvae train ..."

Writes OUT_DIR/{model.safetensors (fp16), model.json, attributes.safetensors, CARD.md}:
the card records the exact training command, the data, the held-out curve and the
figures at the exported step, so `musicvae models` and readers see how it was made.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from musicvae.cli.common import compute_attributes
from musicvae.data.corpora import corpus_parts
from musicvae.generation import TrainedModel, export_model
from musicvae.models.builders import count_parameters
from musicvae.training.checkpoint import resolve_checkpoint
from musicvae.training.losses import upgrade_accuracy_names


def _cpu() -> str:
    try:
        names = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        return f"{names[0]}, {len(names)} cores"
    except (OSError, IndexError):
        return f"{platform.machine()} CPU"


def _f(x) -> str:
    return "-" if x is None else f"{float(x):.3f}"


def _evals(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [upgrade_accuracy_names(r) for r in rows if "tf_accuracy" in r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--command", required=True, help="the exact training command, for the card")
    ap.add_argument("--note", default="", help="anything a reader should know about the run (e.g. it was resumed)")
    ap.add_argument("--checkpoint", default="best", help="best (lowest held-out loss) or latest")
    ap.add_argument("--limit", type=int, default=4096, help="training windows used for attribute vectors")
    args = ap.parse_args()

    ckpt = args.run_dir / "checkpoints" / "best" if args.checkpoint == "best" else args.run_dir
    step_dir = resolve_checkpoint(ckpt)
    model = TrainedModel.load(step_dir)
    manifest = json.loads((args.data_dir / "manifest.json").read_text())
    evals = _evals(args.run_dir)
    step = model.files.info.get("step")
    at = next((r for r in evals if r["step"] == step), evals[-1] if evals else {})
    keep = ("tf_accuracy", "sampled_accuracy", "free_running_accuracy", "argmax_accuracy", "eval_kl_bits", "eval_elbo")
    metrics = {k: round(float(at[k]), 4) for k in keep if k in at}
    for key in ("sampled_accuracy_per_segment", "free_running_accuracy_per_segment"):
        if key in at:
            metrics[key] = at[key]
    counts = manifest["counts"]
    data = f"{manifest['source']} ({manifest['bars']}-bar {manifest['kind']}, {counts['windows_train']:,} train windows)"
    attrs = compute_attributes(model, args.data_dir, args.limit)
    info = {"data": data, "metrics": metrics, "step": step, "command": args.command,
            "parameters": count_parameters(model.model)}

    curve = "\n".join(
        f"| {r['step']:,} | {r['tf_accuracy']:.3f} | {_f(r.get('sampled_accuracy'))} | "
        f"{_f(r.get('free_running_accuracy'))} | {r['argmax_accuracy']:.3f} | {r['eval_kl_bits']:.0f} |" for r in evals)
    cfg = model.config
    augment = ("transposition augmentation in training" if cfg.data.augment and manifest["kind"] != "drums"
               else "no transposition (drum classes have no pitch)" if manifest["kind"] == "drums"
               else "no augmentation")
    parts = corpus_parts(manifest["source"])  # several when corpora were joined with +
    source = (" and ".join(f"`{p}`" for p in parts) + f", bundled corpora joined (`{manifest['source']}`)"
              if len(parts) > 1 else f"`{manifest['source']}`, the bundled corpus")
    card = f"""# {args.name}

A {cfg.data.bars}-bar {manifest['kind']} MusicVAE ({cfg.model.decoder} decoder, z = {cfg.model.z_size},
{info['parameters'] / 1e6:.1f}M parameters, preset `{cfg.preset}`), bundled with musicvae
as fp16 safetensors.

## Data
{source} (see `src/musicvae/assets/corpora/PROVENANCE.md`):
{counts['windows_train']:,} unique training windows and {counts['windows_eval']:,} held-out windows
from {counts['files_ok']:,} pieces, split by piece; {augment}.

## How it was trained
```
{args.command}
```
on {_cpu()}, step {step:,} exported
({'the checkpoint with the lowest held-out loss' if args.checkpoint == 'best' else 'the latest checkpoint'}). Rebuild with `scripts/models/build.sh`.
{args.note}

## Held-out figures at the exported step
teacher-forced accuracy {metrics.get('tf_accuracy', float('nan')):.3f}, sampled accuracy
(magenta's definition: argmax while fed its own temperature-1 samples) {_f(metrics.get('sampled_accuracy'))},
free-running (the temperature-1 samples scored) {_f(metrics.get('free_running_accuracy'))}, argmax
{metrics.get('argmax_accuracy', float('nan')):.3f}, KL {metrics.get('eval_kl_bits', float('nan')):.0f} bits.

| step | teacher-forced | sampled (magenta) | free-running (T=1) | argmax | KL bits |
|---:|---:|---:|---:|---:|---:|
{curve}

## Attribute vectors
{', '.join(sorted(attrs)) or 'none'}: mean code of the top quartile minus the bottom
quartile of {min(args.limit, counts['windows_train']):,} training windows (ICML 2018, Appendix C).
"""
    export_model(step_dir, args.out_dir, name=args.name, info=info, attributes=attrs, card=card)
    print(f"exported {args.name}: step {step}, {metrics} -> {args.out_dir}")


if __name__ == "__main__":
    main()
