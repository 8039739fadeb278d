#!/usr/bin/env python
"""Merge prepared 2-bar drum datasets for training: one base dataset's splits plus extra training windows.

Usage (from the repository root, after ``musicvae prepare grooves|games --kind drums --bars 2``)::

    .venv/bin/python scripts/models/merge_drums.py data/grooves-drums2 data/games-drums2 --out data/grooves+games-drums2

The base's eval split stays the eval split (held-out grooves); every window of the extra
datasets (both splits) joins the training split unless it equals a base eval window or an
earlier training window. ``source`` ids of the extra windows are offset past the base's
sources so they stay distinct. The manifest is the base's with the merged counts, shard list
and a new fingerprint, and records what was merged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np


def _load(ds: Path, split: str) -> dict[str, np.ndarray]:
    man = json.loads((ds / "manifest.json").read_text())
    parts = [np.load(ds / rel) for rel in man["shards"].get(split, [])]
    if not parts:
        return {"tokens": np.zeros((0, man["steps"], 1), np.int16), "start_bar": np.zeros(0, np.int32),
                "source": np.zeros(0, np.int32)}
    return {k: np.concatenate([p[k] for p in parts]) for k in ("tokens", "start_bar", "source")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("extra", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    base, out = Path(args.base), Path(args.out)
    man = json.loads((base / "manifest.json").read_text())
    train, ev = _load(base, "train"), _load(base, "eval")
    seen = {t.tobytes() for t in ev["tokens"]} | {t.tobytes() for t in train["tokens"]}
    offset = int(max(train["source"].max(initial=-1), ev["source"].max(initial=-1))) + 1
    added = {}
    for extra in map(Path, args.extra):
        emeta = json.loads((extra / "manifest.json").read_text())
        if emeta["kind"] != man["kind"] or emeta["steps"] != man["steps"]:
            raise SystemExit(f"error: {extra}: {emeta['kind']} x {emeta['steps']} steps, base is {man['kind']} x {man['steps']}")
        kept = 0
        for split in ("train", "eval"):
            part = _load(extra, split)
            keep = []
            for i, t in enumerate(part["tokens"]):
                if t.tobytes() not in seen:
                    seen.add(t.tobytes())
                    keep.append(i)
            for k in train:
                add = part[k][keep] + (offset if k == "source" else 0)
                train[k] = np.concatenate([train[k], add.astype(train[k].dtype)])
            kept += len(keep)
        offset += len(emeta.get("sources", [])) + 1
        added[str(extra)] = kept
    if out.exists():
        shutil.rmtree(out)
    (out / "train").mkdir(parents=True)
    (out / "eval").mkdir()
    np.savez(out / "train" / "shard-00000.npz", **train)
    np.savez(out / "eval" / "shard-00000.npz", **ev)
    man["shards"] = {"train": ["train/shard-00000.npz"], "eval": ["eval/shard-00000.npz"]}
    man["counts"] = dict(man["counts"], windows_train=int(len(train["tokens"])), windows_eval=int(len(ev["tokens"])),
                         windows_total=int(len(train["tokens"]) + len(ev["tokens"])))
    man["source"] = "+".join([man["source"], *(json.loads((Path(e) / "manifest.json").read_text())["source"]
                                              for e in args.extra)])
    man["merged"] = {"base": str(base), "extra_windows_added_to_train": added,
                     "command": "python scripts/models/merge_drums.py " + " ".join([args.base, *args.extra, "--out", args.out])}
    man["fingerprint"] = hashlib.blake2b(json.dumps(man["merged"], sort_keys=True).encode(), digest_size=8).hexdigest()
    man.pop("labels", None)
    (out / "manifest.json").write_text(json.dumps(man, indent=1))
    print(f"{out}: {len(train['tokens'])} train (added {added}) + {len(ev['tokens'])} eval windows")


if __name__ == "__main__":
    main()
