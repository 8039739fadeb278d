"""scripts/models/leave_out.py: the left-out collections' windows appear only in out/'s eval split."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from synth import write_song

from musicvae.data.dataset import WindowDataset
from musicvae.data.prepare import PrepareConfig, prepare

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "models" / "leave_out.py"


def _sources(ds):
    man = json.loads((ds / "manifest.json").read_text())
    names = {s["item"]: s["name"] for s in man["sources"]}  # a window's source is its input's item number
    return {names[i] for i in WindowDataset(ds, "train", transpose=None, as_torch=False).data.arrays["source"]}, \
        {names[i] for i in WindowDataset(ds, "eval", transpose=None, as_torch=False).data.arrays["source"]}


def test_leave_out_splits_by_collection(tmp_path):
    for coll in ("essen", "oneills"):
        (tmp_path / "midi" / coll).mkdir(parents=True)
        for i in range(6):
            base = 60 if coll == "essen" else 64
            write_song(tmp_path / "midi" / coll / f"t{i}.mid", [base + (i * 3 + j * (1 + i % 4)) % 12 for j in range(32)],
                       step=2 + i % 3)
        # an input without a window first in each collection: item numbers and manifest positions differ
        write_song(tmp_path / "midi" / coll / "a_short.mid", [60, 62], step=2)
    prepare(tmp_path / "midi", tmp_path / "all", PrepareConfig("melody", 2, eval_fraction=0.3))
    names = [s["name"] for s in json.loads((tmp_path / "all" / "manifest.json").read_text())["sources"]]
    prefix = next(n for n in names if "oneills" in n).split("oneills")[0] + "oneills"
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "all"), prefix, "--out", str(tmp_path / "loco")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    in_train, in_eval = _sources(tmp_path / "loco" / "in")
    out_train, out_eval = _sources(tmp_path / "loco" / "out")
    assert in_train == out_train and in_train and all("essen" in n for n in in_train | in_eval)
    assert out_eval and all("oneills" in n for n in out_eval)
    train = WindowDataset(tmp_path / "loco" / "out", "train", transpose=None, as_torch=False).tokens
    held = WindowDataset(tmp_path / "loco" / "out", "eval", transpose=None, as_torch=False).tokens
    assert not {t.tobytes() for t in np.asarray(train)} & {t.tobytes() for t in np.asarray(held)}
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "all"), "nothing:", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "no source name starts with nothing:" in bad.stderr
    split = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "all"), prefix, "--out", str(tmp_path / "by"),
                            "--split-eval-only"], capture_output=True, text=True)
    assert split.returncode == 0, split.stderr
    whole_train, whole_eval = _sources(tmp_path / "all")
    for sub, want in (("in", "essen"), ("out", "oneills")):
        train_names, eval_names = _sources(tmp_path / "by" / sub)
        assert train_names == whole_train  # nothing left out of training
        assert eval_names == {n for n in whole_eval if want in n} and eval_names
