"""MusAE checkpoints in TrainedModel and the CLI: labelled sampling, encoding, linear interpolation, export."""

import numpy as np
import pytest
import torch
from synth import write_band_song
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.generation import InputError, TrainedModel, export_model


@pytest.fixture(scope="module")
def model(tiny_musae_run):
    return TrainedModel.load(tiny_musae_run)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("band")
    return [write_band_song(root / f"b{i}.mid", i, bars=2) for i in range(2)]


def test_loads_with_its_labels_and_samples_multitrack(model):
    assert model.family == "musae" and model.kind == "multitrack" and model.z_size == 16
    assert model.labels == ["band/jazz", "band/rock", "extra", "folk"]
    seqs = model.sample(3, temperature=0.5, seed=1)
    assert len(seqs) == 3 and all(s.total_steps == 32 for s in seqs)
    again = model.sample(3, temperature=0.5, seed=1)
    assert all(np.array_equal(a.notes, b.notes) for a, b in zip(seqs, again))


def test_label_draws_come_from_that_petal_and_a_group_name_covers_its_members(model):
    prior = model.model.prior
    comps = model.label_components
    z = torch.as_tensor(model.prior_codes(400, seed=0, label="folk"))
    assert (prior.nearest_component(z) == comps["folk"]).float().mean() > 0.9  # petals meet only near 0
    z = torch.as_tensor(model.prior_codes(400, seed=0, label="band"))
    counts = torch.bincount(prior.nearest_component(z), minlength=prior.components)
    jazz, rock = int(counts[comps["band/jazz"]]), int(counts[comps["band/rock"]])
    assert jazz + rock > 0.9 * 400 and min(jazz, rock) > 0.3 * 400
    assert model.sample_tokens(2, 0.0, seed=3, label="band/rock").shape == (2, 32, 4)


def test_unknown_label_lists_the_known_ones(model):
    with pytest.raises(InputError) as info:
        model.sample(1, label="polka")
    msg = str(info.value)
    assert "unknown label 'polka'" in msg and "band/jazz, band/rock, extra, folk" in msg and "\n" not in msg


def test_encode_is_deterministic_and_interpolation_is_linear(model, songs):
    z, mu, sigma = model.encode(songs, seed=0)
    assert np.array_equal(z, mu) and not sigma.any() and mu.shape == (2, 16)
    lerp = model.interpolate(songs[0], songs[1], steps=3, temperature=0.0)
    explicit = model.interpolate(songs[0], songs[1], steps=3, method="lerp", temperature=0.0)
    assert all(np.array_equal(a.notes, b.notes) for a, b in zip(lerp, explicit))
    mid = model.decode(((mu[0] + mu[1]) / 2)[None], temperature=0.0)[0]
    assert np.array_equal(lerp[1].notes, mid.notes)
    assert len(model.reconstruct(songs, temperature=0.0)) == 2


def test_export_keeps_the_labels(model, tiny_musae_run, tmp_path):
    export_model(tiny_musae_run, tmp_path / "exp")
    loaded = TrainedModel.load(tmp_path / "exp")
    assert loaded.label_components == model.label_components and loaded.family == "musae"
    assert loaded.sample_tokens(2, 0.0, seed=0, label="folk").shape == (2, 32, 4)


def test_cli_sample_with_label_and_the_one_line_errors(tiny_musae_run, songs, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["sample", "--model", str(tiny_musae_run), "--label", "band/rock", "-n", "2",
                             "--seed", "0", "--out", str(tmp_path / "s")])
    assert ok.exit_code == 0, ok.output
    assert len(list((tmp_path / "s").glob("*.mid"))) == 2 and "label band/rock" in ok.output
    bad = runner.invoke(app, ["sample", "--model", str(tiny_musae_run), "--label", "polka", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "known labels: band/jazz" in bad.output and "Traceback" not in bad.output
    inter = runner.invoke(app, ["interpolate", str(songs[0]), str(songs[1]), "--model", str(tiny_musae_run),
                                "--steps", "3", "--out", str(tmp_path / "i")])
    assert inter.exit_code == 0 and "lerp interpolation" in inter.output, inter.output


def test_a_vae_refuses_labels(tiny_mel_run):
    with pytest.raises(InputError, match="needs a MusAE model trained with the mixture prior"):
        TrainedModel.load(tiny_mel_run).sample(1, label="folk")
