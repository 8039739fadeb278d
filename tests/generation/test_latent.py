"""Latent operations against hand-computed cases."""

import numpy as np
import pytest

from musicvae.generation import latent


def test_slerp_quarter_circle_hand_computed():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    mid = latent.slerp(a, b, 0.5)
    # 90 degrees apart: the midpoint stays on the unit circle at 45 degrees
    np.testing.assert_allclose(mid, [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    # t = 1/3 -> 30 degrees
    np.testing.assert_allclose(latent.slerp(a, b, 1 / 3), [np.cos(np.pi / 6), np.sin(np.pi / 6)], atol=1e-12)


def test_slerp_keeps_norm_where_lerp_shrinks_it():
    a, b = np.array([2.0, 0.0, 0.0]), np.array([0.0, 0.0, 2.0])
    assert np.linalg.norm(latent.slerp(a, b, 0.5)) == pytest.approx(2.0)
    assert np.linalg.norm(latent.lerp(a, b, 0.5)) == pytest.approx(np.sqrt(2.0))


def test_slerp_nearly_parallel_falls_back_to_lerp_without_nan():
    a = np.array([1.0, 0.0])
    b = np.array([1.0, 1e-9])
    out = latent.slerp(a, b, np.linspace(0, 1, 5))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, latent.lerp(a, b, np.linspace(0, 1, 5)))
    # identical and opposite vectors and a zero vector: defined, finite
    assert np.isfinite(latent.slerp(a, a, 0.3)).all()
    np.testing.assert_allclose(latent.slerp(a, -a, 0.5), [0.0, 0.0])
    np.testing.assert_allclose(latent.slerp(np.zeros(2), a, 0.25), [0.25, 0.0])


def test_interpolate_includes_endpoints_and_counts_steps():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(8), rng.standard_normal(8)
    for method in ("slerp", "lerp"):
        path = latent.interpolate(a, b, 11, method)
        assert path.shape == (11, 8) and path.dtype == np.float32
        np.testing.assert_allclose(path[0], a, rtol=1e-6)
        np.testing.assert_allclose(path[-1], b, rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        latent.interpolate(a, b, 1)
    with pytest.raises(ValueError, match="unknown interpolation"):
        latent.interpolate(a, b, 3, "cubic")


def test_attribute_vector_is_top_minus_bottom_quartile_mean():
    codes = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0], [5.0, 1.0], [6.0, 1.0], [7.0, 3.0]])
    values = np.arange(8.0)  # top quartile: rows 6,7; bottom: rows 0,1
    vec = latent.attribute_vector(codes, values)
    np.testing.assert_allclose(vec, [(6 + 7) / 2 - (0 + 1) / 2, (1 + 3) / 2 - 1.0])


def test_attribute_vector_ignores_nan_and_refuses_constant_attributes():
    codes = np.eye(6)
    values = np.array([np.nan, 1.0, 2.0, 3.0, 4.0, np.nan])
    vec = latent.attribute_vector(codes, values)
    np.testing.assert_allclose(vec, codes[4] - codes[1])
    with pytest.raises(ValueError, match="does not vary"):
        latent.attribute_vector(codes, np.ones(6))
    mostly_zero = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.5])  # quartile values coincide, ranks do not
    np.testing.assert_allclose(latent.attribute_vector(codes, mostly_zero),  # k = 2: ties fall in data order
                               (codes[4] + codes[5]) / 2 - (codes[0] + codes[1]) / 2)
    with pytest.raises(ValueError, match="at least 4"):
        latent.attribute_vector(codes[:3], np.arange(3.0))


def test_average_and_neighbours():
    np.testing.assert_allclose(latent.average(np.array([[1.0, 2.0], [3.0, 6.0]])), [2.0, 4.0])
    with pytest.raises(ValueError):
        latent.average(np.zeros((0, 3)))
    z = np.arange(4.0)
    rng = np.random.default_rng(1)
    np.testing.assert_allclose(latent.neighbours(z, 3, 1.0, rng), np.tile(z, (3, 1)))
    far = latent.neighbours(np.zeros(4), 20000, 0.6, np.random.default_rng(2))
    assert far.std() == pytest.approx(0.8, rel=0.02)  # sqrt(1 - 0.6^2)
    with pytest.raises(ValueError):
        latent.neighbours(z, 1, 1.5, rng)
