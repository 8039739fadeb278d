"""MusAE latent analysis: per-component attribute table, PCA of codes, nearest-component accuracy, CLI."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.data.dataset import PreparedDataset
from musicvae.evaluation.latent_analysis import code_study, component_study, pca_2d
from musicvae.generation import TrainedModel
from musicvae.training.musae_objective import nearest_component_accuracy


@pytest.fixture(scope="module")
def model(tiny_musae_run):
    return TrainedModel.load(tiny_musae_run)


def test_pca_recovers_the_main_axis():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 5)) * np.array([10.0, 3.0, 0.1, 0.1, 0.1])
    points, ratio = pca_2d(x)
    assert points.shape == (500, 2) and ratio[0] > ratio[1] > 0.05 and sum(ratio) > 0.99
    assert abs(np.corrcoef(points[:, 0], x[:, 0])[0, 1]) > 0.99


def test_nearest_component_accuracy_by_hand():
    table = np.array([3, 5, -1])  # label 0 -> petal 3, label 1 -> petal 5, trailing -1 for "no label"
    sets = np.array([[0, -1], [1, -1], [0, 1], [-1, -1]])
    assert nearest_component_accuracy(np.array([3, 3, 5, 0]), sets, table) == (2 / 3, 3)
    assert np.isnan(nearest_component_accuracy(np.array([0]), np.array([[-1]]), table)[0])


def test_component_study_table(model):
    res = component_study(model, n=4, seed=0)
    k = model.model.prior.components
    assert res["components"] == list(range(k)) and len(res["relative_percent"]) == k
    assert all(len(row) == len(res["attributes"]) for row in res["relative_percent"])
    named = {name for names in res["component_labels"].values() for name in names}
    assert named == set(model.labels)
    # each column's changes are relative to the mean over all petals: they cannot all share one sign
    col = np.array([row[res["attributes"].index("note_density")] for row in res["relative_percent"]], dtype=float)
    assert np.nanmin(col) <= 0 <= np.nanmax(col)
    assert component_study(model, n=4, seed=0) == res  # seeded


def test_code_study_matches_a_direct_computation(model, musae_data):
    ds = PreparedDataset(musae_data, "eval")
    tokens = np.asarray(ds.tokens, dtype=np.int64)
    res = code_study(model, tokens, ds.labels, ds.label_names)
    nc = res["nearest_component"]
    z = torch.as_tensor(model.codes(tokens))
    nearest = model.model.prior.nearest_component(z).numpy()
    petals = [[model.label_components[ds.label_names[i]] for i in row if i >= 0] for row in ds.labels]
    expected = np.mean([n in p for n, p in zip(nearest, petals) if p])
    assert nc["accuracy"] == pytest.approx(expected) and nc["labelled_windows"] == sum(1 for p in petals if p)
    assert set(nc["per_label"]) <= set(ds.label_names) and res["points"].shape == (len(tokens), 2)


def test_cli_analyze_writes_the_report_and_refuses_a_vae(tiny_musae_run, musae_data, tiny_mel_run, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["analyze", "--model", str(tiny_musae_run), "--data", str(musae_data),
                             "--out", str(tmp_path / "a"), "--per-component", "2"])
    assert ok.exit_code == 0, ok.output
    assert "nearest-component accuracy" in ok.output
    for name in ("report.md", "report.json", "components.png", "pca.png"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    doc = json.loads((tmp_path / "a" / "report.json").read_text())
    assert "points" not in doc["codes"] and doc["codes"]["nearest_component"]["labelled_windows"] > 0
    assert "| component | labels |" in (tmp_path / "a" / "report.md").read_text()
    bad = runner.invoke(app, ["analyze", "--model", str(tiny_mel_run), "--data", str(musae_data),
                              "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "analyze reads MusAE models" in bad.output and "Traceback" not in bad.output
