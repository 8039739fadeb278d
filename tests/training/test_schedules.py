"""KL annealing, learning-rate decay and scheduled sampling vs hand-computed values."""

import math

import numpy as np
import pytest
import torch

from musicvae.training.schedules import (
    ScheduledSampling,
    beta,
    learning_rate,
    sampling_mask,
    sampling_probability,
)


def test_beta_annealing_matches_magenta_formula():
    assert beta(0, 0.2, 0.99999) == 0.0
    assert beta(1, 0.2, 0.99999) == pytest.approx(0.2 * (1 - 0.99999), rel=1e-12)  # 2e-6
    assert beta(10, 0.2, 0.99999) == pytest.approx(0.2 * (1 - 0.99999**10), rel=1e-12)
    assert beta(10, 0.2, 0.99999) == pytest.approx(1.99991e-5, rel=1e-5)
    assert beta(10**7, 0.2, 0.99999) == pytest.approx(0.2)
    assert isinstance(beta(3, 0.2, 0.99999), float)


def test_beta_rate_zero_is_zero_at_step_zero_then_max():
    assert beta(0, 0.5, 0.0) == 0.0  # 0 ** 0 == 1, as in magenta's tf.pow
    assert beta(1, 0.5, 0.0) == 0.5
    assert beta(1000, 0.5, 0.0) == 0.5


def test_beta_accepts_arrays_and_rejects_bad_rate():
    out = beta(np.array([0, 1, 2]), 1.0, 0.5)
    np.testing.assert_allclose(out, [0.0, 0.5, 0.75])
    with pytest.raises(ValueError):
        beta(1, 0.2, 1.5)


def test_learning_rate_decay_and_floor():
    assert learning_rate(0) == pytest.approx(1e-3, rel=1e-12)
    expected = (1e-3 - 1e-5) * 0.9999**10000 + 1e-5
    assert learning_rate(10000) == pytest.approx(expected, rel=1e-12)
    assert learning_rate(10000) == pytest.approx(3.7420e-4, rel=1e-3)
    assert learning_rate(10**6) == pytest.approx(1e-5, rel=1e-6)
    assert learning_rate(10**6) >= 1e-5
    lrs = learning_rate(np.arange(0, 50000, 5000))
    assert np.all(np.diff(lrs) < 0)


def test_sampling_probability_constant():
    assert sampling_probability(0, "constant", 0.3) == 0.3
    assert sampling_probability(12345, "constant", 0.3) == 0.3


def test_sampling_probability_exponential():
    assert sampling_probability(0, "exponential", 0.5) == 0.0
    assert sampling_probability(1, "exponential", 0.5) == 0.5
    assert sampling_probability(3, "exponential", 0.5) == pytest.approx(0.875)
    assert sampling_probability(1000, "exponential", 0.999) == pytest.approx(1 - 0.999**1000)


def test_sampling_probability_inverse_sigmoid():
    assert sampling_probability(0, "inverse_sigmoid", 1000) == pytest.approx(1 - 1000 / 1001)
    assert sampling_probability(5000, "inverse_sigmoid", 1000) == pytest.approx(1 - 1000 / (1000 + math.exp(5)))
    assert sampling_probability(10**7, "inverse_sigmoid", 1000) == 1.0  # exp overflow handled
    out = sampling_probability(np.array([0, 5000]), "inverse_sigmoid", 1000)
    np.testing.assert_allclose(out, [1 - 1000 / 1001, 1 - 1000 / (1000 + math.exp(5))])


@pytest.mark.parametrize(
    "schedule, rate",
    [("linear", 0.5), ("constant", 1.5), ("constant", -0.1), ("exponential", 1.0), ("exponential", 0.0), ("inverse_sigmoid", 0.5)],
)
def test_sampling_probability_invalid(schedule, rate):
    with pytest.raises(ValueError):
        sampling_probability(10, schedule, rate)


def test_scheduled_sampling_dataclass():
    ss = ScheduledSampling("exponential", 0.5, "per_example")
    assert ss.probability(2) == 0.75
    with pytest.raises(ValueError):
        ScheduledSampling(mode="per_bar")
    with pytest.raises(ValueError):
        ScheduledSampling("nope", 0.5)
    with pytest.raises(Exception):
        ss.rate = 0.1  # frozen
    assert not ScheduledSampling().mask(100, 4, 8).any()  # default: constant 0


def test_sampling_mask_extremes_are_exact():
    assert sampling_mask(0.0, 3, 5, "per_step").shape == (3, 5)
    assert not sampling_mask(0.0, 3, 5, "per_step").any()
    assert sampling_mask(1.0, 3, 5, "per_example").all()
    assert sampling_mask(1.0, 3, 5, "per_step").dtype == torch.bool


def test_sampling_mask_per_example_rows_constant():
    g = torch.Generator().manual_seed(0)
    m = sampling_mask(0.5, 64, 16, "per_example", generator=g)
    assert m.shape == (64, 16)
    assert torch.equal(m, m[:, :1].expand(64, 16))
    assert 0 < m[:, 0].sum() < 64  # both kinds of rows occur


def test_sampling_mask_per_step_rate_and_determinism():
    m = sampling_mask(0.3, 512, 32, "per_step", generator=torch.Generator().manual_seed(1))
    assert abs(m.float().mean().item() - 0.3) < 0.02
    assert not torch.equal(m, m[:, :1].expand_as(m))
    m2 = sampling_mask(0.3, 512, 32, "per_step", generator=torch.Generator().manual_seed(1))
    assert torch.equal(m, m2)
    with pytest.raises(ValueError):
        sampling_mask(0.3, 2, 2, "per_bar")
    with pytest.raises(ValueError):
        sampling_mask(1.3, 2, 2)
