"""The prior fitted to training codes: EM recovers a known mixture, the file round-trips, sampling uses it."""

import numpy as np
import pytest

from musicvae.generation import InputError, TrainedModel
from musicvae.generation.prior import PRIOR_FILE, FittedPrior, fit_prior
from musicvae.generation.store import export_model


def _two_blobs(n=2000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n // 2, d)) * 0.3 + 3.0
    b = rng.normal(size=(n - n // 2, d)) * 0.6 - 2.0
    return np.concatenate([a, b])


def test_em_recovers_two_components_and_samples_like_the_data():
    z = _two_blobs()
    prior = fit_prior(z, components=2, seed=0)
    order = np.argsort(prior.means[:, 0])
    np.testing.assert_allclose(prior.means[order, 0], [-2.0, 3.0], atol=0.1)
    np.testing.assert_allclose(prior.weights[order], [0.5, 0.5], atol=0.02)
    draws = prior.sample(4000, seed=1)
    assert draws.shape == (4000, 4) and draws.dtype == np.float32
    assert np.mean(np.abs(draws[:, 0]) < 0.5) < 0.02  # nothing between the blobs
    # a mixture describes the data better than one Gaussian
    one = fit_prior(z, components=1)
    assert prior.log_density(z).mean() > one.log_density(z).mean() + 0.5
    np.testing.assert_allclose(one.means[0], z.mean(axis=0), atol=1e-9)


def test_prior_file_round_trip_and_bad_files(tmp_path):
    prior = fit_prior(_two_blobs(), components=2)
    path = prior.save(tmp_path / PRIOR_FILE)
    back = FittedPrior.load(path, z_size=4)
    np.testing.assert_allclose(back.sample(5, seed=3), prior.sample(5, seed=3), atol=1e-5)
    assert back.info["components"] == "2"
    with pytest.raises(InputError, match="4-d codes"):
        FittedPrior.load(path, z_size=8)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="unreadable prior"):
        FittedPrior.load(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError):
        fit_prior(np.zeros((3, 4)), components=2)


def test_exported_model_samples_from_its_fitted_prior(tiny_mel_run, tmp_path):
    out = export_model(tiny_mel_run, tmp_path / "m")
    plain = TrainedModel.load(out)
    assert plain.prior_name() == "standard"
    with pytest.raises(InputError, match="no fitted prior"):
        plain.prior_codes(2, 0, prior="fitted")
    z = plain.prior_codes(2, 0)
    far = np.full((64, plain.z_size), 40.0, np.float32) + np.random.default_rng(0).normal(size=(64, plain.z_size))
    fit_prior(far, components=1).save(out / PRIOR_FILE)
    m = TrainedModel.load(out)
    assert m.prior_name() == "fitted" and m.describe()["prior"] == "fitted"
    assert m.prior_codes(100, 0).mean() > 30.0  # drawn from the fitted prior by default
    np.testing.assert_array_equal(m.prior_codes(2, 0, prior="standard"), z)
    assert m.sample_tokens(3, 0.5, seed=0).shape == (3, m.steps, 1)
    np.testing.assert_array_equal(m.sample_tokens(3, 0.5, seed=0, prior="standard"),
                                  plain.sample_tokens(3, 0.5, seed=0))
    with pytest.raises(InputError, match="unknown prior"):
        m.prior_codes(1, prior="flow")
    again = export_model(out, tmp_path / "again")
    assert (again / PRIOR_FILE).is_file()
