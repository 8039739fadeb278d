"""``musicvae analyze`` for note-level VAE/VRASH models: latent map by collection, nearest-centroid accuracy,
one-line refusals of models without a latent space (issue 8)."""

import json

import numpy as np
import pytest
from synth import write_note_corpus
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.data.prepare import PrepareConfig, prepare
from musicvae.evaluation.note_latent import nearest_centroid
from musicvae.evaluation.note_plots import UNKNOWN

runner = CliRunner()
FAST = ["--device", "cpu", "--set", "checkpoint_every=3", "--set", "eval_every=3", "--set", "log_every=3"]


def _cli(*args):
    res = runner.invoke(app, [str(a) for a in args])
    return res, " ".join(res.output.split())


@pytest.fixture(scope="module")
def notes_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze_notes")
    src = write_note_corpus(root / "midi", n=12)
    prepare(src, root / "data", PrepareConfig("notes", 2, eval_fraction=0.5))
    return root / "data"


def _train(preset, data, out):
    res, _ = _cli("train", "--preset", preset, "--data", data, "--out", out, "--steps", 3, *FAST)
    assert res.exit_code == 0, res.output
    return out


def test_nearest_centroid_by_hand():
    codes = np.array([[0.0], [0.2], [10.0], [10.2], [0.1], [5.0]])
    labels = ["a", "a", "b", "b", "b", UNKNOWN]  # the third "b" sits among the a's
    res = nearest_centroid(codes, labels)
    assert res["tracks"] == 5 and res["accuracy"] == pytest.approx(4 / 5)
    assert res["majority"] == "b" and res["majority_rate"] == pytest.approx(3 / 5)
    assert res["per_collection"]["a"] == {"tracks": 2, "accuracy": 1.0}
    # a collection of one track has no centroid without it: never right
    assert nearest_centroid(np.array([[0.0], [1.0], [1.1]]), ["a", "b", "b"])["accuracy"] == pytest.approx(2 / 3)
    assert "skipped" in nearest_centroid(codes, ["a"] * 5 + [UNKNOWN])


def test_analyze_vrash_writes_map_and_report(notes_data, tmp_path):
    run = _train("vrash-notes_tiny", notes_data, tmp_path / "run")
    out = tmp_path / "a"
    res, text = _cli("analyze", "--model", run, "--data", notes_data, "--out", out, "--n", 50)
    assert res.exit_code == 0, res.output
    assert "nearest-centroid accuracy" in text and "majority class" in text
    for name in ("report.md", "report.json", "latent_map.png", "pca.png"):
        assert (out / name).stat().st_size > 0
    doc = json.loads((out / "report.json").read_text())
    codes = doc["codes"]
    assert doc["meta"]["family"] == "vrash" and doc["meta"]["n_used"] == codes["n"] >= 2
    assert codes["projection"] in ("t-SNE", "PCA") and sum(codes["collections"].values()) == codes["n"]
    assert set(codes["collections"]) <= {"jigs", "reels", UNKNOWN}
    assert "points" not in codes and "labels" not in codes
    nc = codes["nearest_centroid"]
    assert 0 <= nc["accuracy"] <= 1 and 0.5 <= nc["majority_rate"] <= 1
    md = (out / "report.md").read_text()
    assert "![latent map](latent_map.png)" in md and "majority-class rate" in md
    again = tmp_path / "b"
    _cli("analyze", "--model", run, "--data", notes_data, "--out", again, "--n", 50)
    assert json.loads((again / "report.json").read_text())["codes"] == codes  # same seed, same report


def test_analyze_refuses_an_lm_and_a_melody_vae(notes_data, tiny_mel_run, tmp_path):
    lm = _train("lm-notes_tiny", notes_data, tmp_path / "lm")
    for model, data in ((lm, notes_data), (tiny_mel_run, notes_data)):
        res, text = _cli("analyze", "--model", model, "--data", data, "--out", tmp_path / "x")
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1 and "note-level VAE/VRASH" in text and "MusAE" in text
    assert not (tmp_path / "x").exists()
