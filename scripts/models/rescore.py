"""Put a bundled model's whole-held-out-split figures, with both sampled-accuracy definitions, on its card.

Usage (after `musicvae evaluate --model NAME --data DATA --out REPORT --studies reconstruction --n 100000`):
    python scripts/models/rescore.py NAME REPORT "the evaluate command"

Writes into src/musicvae/assets/models/NAME/: ``model.json`` ``info.metrics`` = the report's
figures (teacher-forced, sampled = magenta's definition, free-running, argmax, KL, ELBO, per bar
for multi-bar models), the trainer's own figures kept as ``info.trainer_metrics`` (their old
"sampled" renamed free-running); ``CARD.md``: the held-out section rewritten with both numbers,
and the training curve's "sampled (T=1)" column named for what it was (free-running). The
weights are not touched.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from musicvae.training.losses import upgrade_accuracy_names
from musicvae.utils.io import atomic_write_bytes, atomic_write_json

ASSETS = Path(__file__).resolve().parents[2] / "src" / "musicvae" / "assets" / "models"


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, report, command = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    rep = json.loads((report / "report.json").read_text())
    rec, total = rep["reconstruction"], int(rep["meta"]["eval_windows"])
    folder = ASSETS / name
    meta = json.loads((folder / "model.json").read_text())
    info = meta["info"]
    if "trainer_metrics" not in info:
        info["trainer_metrics"] = upgrade_accuracy_names(info.get("metrics", {}))
    metrics = {k: round(float(rec[k]), 4) for k in ("tf_accuracy", "sampled_accuracy", "free_running_accuracy",
                                                    "argmax_accuracy")}
    metrics.update(eval_kl_bits=round(float(rec["kl_bits"]), 2), eval_elbo=round(float(rec["elbo_nats"]), 2),
                   held_out_windows=int(rec["n"]), held_out_split=total, measured_by=command)
    if "per_bar" in rec:
        metrics["sampled_accuracy_per_segment"] = rec["per_bar"]["sampled"]
        metrics["free_running_accuracy_per_segment"] = rec["per_bar"]["free_running"]
    info["metrics"] = metrics
    atomic_write_json(folder / "model.json", meta)

    n = metrics["held_out_windows"]
    where = (f"the whole held-out split ({n:,} windows)" if n >= total
             else f"{n:,} of the {total:,} held-out windows (a seeded random subset, seed {rep['meta']['seed']})")
    card = (folder / "CARD.md").read_text()
    held = (f"## Held-out figures at the exported step\n"
            f"On {where} (`{command}`):\n"
            f"teacher-forced accuracy {metrics['tf_accuracy']:.3f}; sampled accuracy "
            f"{metrics['sampled_accuracy']:.3f} (magenta's definition, the one beside the paper's \"sampling\" "
            f"column: the argmax at each step while the decoder is fed its own temperature-1 samples"
            f"{', each bar starting from the true previous token' if rec.get('decoder') == 'hierarchical' else ''}); "
            f"free-running accuracy {metrics['free_running_accuracy']:.3f} (the temperature-1 samples themselves "
            f"scored); argmax {metrics['argmax_accuracy']:.3f}; KL {metrics['eval_kl_bits']:.0f} bits.\n\n"
            f"The curve below is the trainer's held-out batches during training; its \"free-running\" column "
            f"was called \"sampled\" before the two definitions were told apart.\n\n")
    card = re.sub(r"## Held-out figures at the exported step\n.*?\n\n(?=\| step)", lambda _: held, card, flags=re.S)
    card = card.replace("| step | teacher-forced | sampled (T=1) | argmax | KL bits |",
                        "| step | teacher-forced | free-running (T=1) | argmax | KL bits |")
    atomic_write_bytes(folder / "CARD.md", card.encode("utf-8"))
    print(f"{name}: {metrics}")


if __name__ == "__main__":
    main()
