"""``experiments/vrash_vs_lm.py --tiny`` end to end on a small synthetic notes corpus (issue 8).

Runs the script as the user does (a subprocess), training ``lm-notes_tiny``, ``vae-notes_tiny`` and
``vrash-notes_tiny`` a few steps into a temporary folder; the report must hold the cross-entropy of
the untrained network and the three models (``ce`` and ``bound``), diversity statistics of equal
numbers of samples and held-out tracks, the latent map and the plots; a rerun trains nothing; data of
another kind is refused in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synth import write_note_corpus

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
PLOTS = ["cross_entropy.png", "diversity.png", "latent_map.png", "entropy.png", "curves.png"]


def _script(*args, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "vrash_vs_lm.py"), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def notes_data(tmp_path_factory) -> Path:
    from musicvae.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("vrash_exp")
    src = write_note_corpus(root / "midi", n=16, folders=("jigs", "reels", "airs"))
    prepare(src, root / "data", PrepareConfig("notes", 2, eval_fraction=0.3))
    return root / "data"


def test_tiny_report_and_rerun(tmp_path, notes_data):
    out, runs = tmp_path / "report", tmp_path / "runs"
    _script("--tiny", "--out", out, "--runs", runs, "--data", notes_data)
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == PNG, name
    text = (out / "report.md").read_text()
    data = json.loads((out / "report.json").read_text())
    assert data["meta"]["size"] == "tiny" and "Tiny run" in text and "Different data from the papers" in text
    for name in PLOTS:
        assert f"]({name})" in text, name
    ce = data["cross_entropy"]
    assert set(ce) == {"untrained", "LM", "VAE", "VRASH"}
    n_eval = data["setup"]["n_used"]
    for label, r in ce.items():
        assert 0 < r["ce"] < 20 and r["tracks"] == n_eval, label
        assert set(r["ce_per_factor"]) == {"pitch_class", "octave", "duration"}
    assert ce["LM"]["bound"] == ce["LM"]["ce"] and ce["untrained"]["ce"] > ce["LM"]["ce"]
    for label in ("VAE", "VRASH"):
        assert ce[label]["kl_per_note"] >= 0 and ce[label]["bound"] >= ce[label]["ce_sampled_z"]
    div = data["diversity"]
    assert set(div) == {"held-out", "LM", "VAE", "VRASH"}
    for label, d in div.items():
        assert d["samples"] == n_eval, label  # equal counts
        assert 0 <= d["repeated_note_rate"] <= 1 and d["pitch_entropy"] >= 0 and 0 < d["distinct_2"] <= 1
    latent = data["latent_map"]
    assert latent["n"] == n_eval and latent["method"] in ("t-SNE", "PCA")
    assert set(latent["collections"]) <= {"airs", "jigs", "reels"}
    assert data["pitch_entropy"]["tracks"] == 16 and isinstance(data["comparison"]["vrash_repeats_less"], bool)
    for label in ("LM", "VAE", "VRASH"):
        assert data["runs"][label]["step"] == 20 and data["runs"][label]["preset"].endswith("-notes_tiny")
    assert len(data["meta"]["commands"]) == 3 and all("musicvae train" in c for c in data["meta"]["commands"])
    assert "| VRASH |" in text and "bound (NLL <=)" in text

    again = tmp_path / "again"
    _script("--tiny", "--out", again, "--runs", runs, "--data", notes_data)
    redo = json.loads((again / "report.json").read_text())
    assert redo["meta"]["commands"] == []
    assert redo["cross_entropy"] == data["cross_entropy"] and redo["diversity"] == data["diversity"]


def test_other_data_is_one_line(tmp_path, tiny_mel_run):
    done = _script("--tiny", "--out", tmp_path / "r", "--runs", tmp_path / "runs", "--data",
                   tiny_mel_run.parent / "data", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "needs note tracks" in done.stderr
