#!/usr/bin/env python
"""Leave-one-collection-out datasets: train without some collections, test on them.

Usage (from the repository root, after ``musicvae prepare folk --kind melody --bars 2 --out data/folk-mel2``)::

    .venv/bin/python scripts/models/leave_out.py data/folk-mel2 music21:oneills1850/ music21:airdsAirs/ --out data/folk-loco

writes two prepared folders that ``musicvae train`` and ``musicvae evaluate`` read:

* ``OUT/in``: the base's train and eval windows of every *other* collection (train on this;
  its eval split is the in-distribution held-out figure);
* ``OUT/out``: the same train split, and as eval split every window (train and eval) of the
  left-out collections that is not also a training window of ``OUT/in`` (the out-of-collection
  figure: ``musicvae evaluate --data OUT/out``).

With ``--split-eval-only`` nothing is left out of training: both folders keep the base's whole
train split, and the base's eval split is divided by collection (``in/``: the other collections'
windows, ``out/``: the named collections'), to measure a model trained on the base per collection.

A collection is given as a prefix of the source names in the base's manifest (``sources[].name``); a window's
``source`` is its input's item number (``sources[].item``; manifests written before it existed list every
item, so the position stands in for it).
Each manifest records what was left out and the command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

KEYS = ("tokens", "start_bar", "source")


def _load(ds: Path, man: dict, split: str) -> dict[str, np.ndarray]:
    parts = [np.load(ds / rel) for rel in man["shards"].get(split, [])]
    return {k: np.concatenate([p[k] for p in parts]) for k in KEYS}


def _pick(part: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[keep] for k, v in part.items()}


def _write(out: Path, man: dict, train: dict, ev: dict, extra: dict) -> None:
    if out.exists():
        shutil.rmtree(out)
    (out / "train").mkdir(parents=True)
    (out / "eval").mkdir()
    np.savez(out / "train" / "shard-00000.npz", **train)
    np.savez(out / "eval" / "shard-00000.npz", **ev)
    man = dict(man, shards={"train": ["train/shard-00000.npz"], "eval": ["eval/shard-00000.npz"]})
    man["counts"] = dict(man["counts"], windows_train=int(len(train["tokens"])), windows_eval=int(len(ev["tokens"])),
                         windows_total=int(len(train["tokens"]) + len(ev["tokens"])))
    man["leave_out"] = extra
    man["fingerprint"] = hashlib.blake2b(json.dumps(extra, sort_keys=True).encode(), digest_size=8).hexdigest()
    man.pop("labels", None)
    (out / "manifest.json").write_text(json.dumps(man, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("collections", nargs="+", help="source-name prefixes of the collections to leave out")
    ap.add_argument("--out", required=True)
    ap.add_argument("--split-eval-only", action="store_true",
                    help="keep the whole train split; only divide the eval split by collection")
    args = ap.parse_args()
    base, out = Path(args.base), Path(args.out)
    man = json.loads((base / "manifest.json").read_text())
    sources = man.get("sources", [])
    named = np.array([any(s["name"].startswith(p) for p in args.collections) for s in sources], dtype=bool)
    if not named.any():
        raise SystemExit(f"error: {base}: no source name starts with {' or '.join(args.collections)}")
    if named.all():
        raise SystemExit(f"error: {base}: every source is in the left-out collections; nothing to train on")
    items = np.array([s.get("item", k) for k, s in enumerate(sources)], dtype=np.int64)
    left = np.zeros(int(items.max()) + 1, dtype=bool)  # item number (a window's "source") -> left out
    left[items] = named
    train, ev = _load(base, man, "train"), _load(base, man, "eval")
    command = "python scripts/models/leave_out.py " + " ".join(
        [args.base, *args.collections, "--out", args.out, *(["--split-eval-only"] if args.split_eval_only else [])])
    record = {"base": str(base), "collections": args.collections, "command": command}
    if args.split_eval_only:
        mine, other = _pick(ev, left[ev["source"]]), _pick(ev, ~left[ev["source"]])
        _write(out / "in", man, train, other, dict(record, eval="the other collections' held-out windows"))
        _write(out / "out", man, train, mine, dict(record, eval="the named collections' held-out windows"))
        print(f"{out}: eval {len(other['tokens'])} windows of other collections (in/), {len(mine['tokens'])} of "
              f"{' '.join(args.collections)} (out/); train split kept whole")
        return
    in_train, in_eval = _pick(train, ~left[train["source"]]), _pick(ev, ~left[ev["source"]])
    seen = {t.tobytes() for t in in_train["tokens"]}
    held = {k: np.concatenate([train[k][left[train["source"]]], ev[k][left[ev["source"]]]]) for k in KEYS}
    fresh = np.array([t.tobytes() not in seen for t in held["tokens"]], dtype=bool)
    held = _pick(held, fresh)
    record["sources_left_out"] = int(named.sum())
    _write(out / "in", man, in_train, in_eval, dict(record, eval="the other collections' held-out windows"))
    _write(out / "out", man, in_train, held, dict(record, eval="every window of the left-out collections",
                                                  dropped_seen_in_train=int((~fresh).sum())))
    print(f"{out}: {len(in_train['tokens'])} train windows; eval {len(in_eval['tokens'])} in-collection (in/), "
          f"{len(held['tokens'])} from {int(named.sum())} left-out sources (out/)")


if __name__ == "__main__":
    main()
