"""Reconstruction CE, accuracy, KL / free bits and the ELBO on hand-computed cases."""

import math

import pytest
import torch

from musicvae.models.distributions import elbo_loss, free_bits_kl, kl_divergence, kl_per_dim, reconstruction_loss
from musicvae.training.losses import (
    accuracy,
    segment_accuracy,
    token_accuracy,
)

LN2 = math.log(2.0)


def test_reconstruction_uniform_logits_sum_over_steps():
    logits = torch.zeros(2, 3, 4)  # uniform over V=4
    targets = torch.tensor([[[0], [1], [3]], [[2], [2], [2]]])
    loss, per_stream = reconstruction_loss(logits, targets, (4,))
    torch.testing.assert_close(loss, torch.full((2,), 3 * math.log(4)))
    assert per_stream.shape == (2, 1)


def test_reconstruction_multi_stream_split():
    # K=2, vocab (2, 3), B=1, T=1. Stream 0 logits [0, ln 3] -> p(target 1) = 3/4.
    # Stream 1 uniform over 3 -> CE ln 3.
    logits = torch.tensor([[[0.0, math.log(3.0), 0.0, 0.0, 0.0]]])
    targets = torch.tensor([[[1, 2]]])
    loss, per_stream = reconstruction_loss(logits, targets, (2, 3))
    torch.testing.assert_close(per_stream, torch.tensor([[-math.log(0.75), math.log(3.0)]]))
    torch.testing.assert_close(loss, torch.tensor([-math.log(0.75) + math.log(3.0)]))
    with pytest.raises(ValueError):
        reconstruction_loss(logits, targets, (2, 2))


def test_reconstruction_mask_zeroes_steps_even_with_padding_targets():
    logits = torch.zeros(2, 3, 4)
    targets = torch.tensor([[[0], [1], [-1]], [[2], [-1], [-1]]])  # -1 = padding
    mask = torch.tensor([[True, True, False], [True, False, False]])
    loss, _ = reconstruction_loss(logits, targets, (4,), mask)
    torch.testing.assert_close(loss, torch.tensor([2 * math.log(4), math.log(4)]))


def test_accuracy_known_argmax_pattern_per_stream():
    # vocab (2, 3); B=1, T=4. Stream 0 argmax: 1,0,1,0 ; stream 1 argmax: 2,2,0,1
    big = 5.0
    rows = []
    for a0, a1 in [(1, 2), (0, 2), (1, 0), (0, 1)]:
        r = torch.zeros(5)
        r[a0] = big
        r[2 + a1] = big
        rows.append(r)
    logits = torch.stack(rows).unsqueeze(0)  # (1, 4, 5)
    targets = torch.tensor([[[1, 2], [1, 2], [1, 1], [0, 1]]])  # stream 0: 3/4 right, stream 1: 3/4 right
    overall, per_stream = accuracy(logits, targets, (2, 3))
    torch.testing.assert_close(per_stream, torch.tensor([0.75, 0.75]))
    assert overall.item() == pytest.approx(0.75)
    # mask out step 1 (stream 0 wrong) and step 2 (stream 1 wrong): all remaining correct
    mask = torch.tensor([[True, False, False, True]])
    overall, per_stream = accuracy(logits, targets, (2, 3), mask)
    assert overall.item() == 1.0
    torch.testing.assert_close(per_stream, torch.tensor([1.0, 1.0]))


def test_token_accuracy_uneven_streams():
    pred = torch.tensor([[[1, 0], [2, 0], [3, 5]]])
    tgt = torch.tensor([[[1, 1], [2, 1], [0, 5]]])
    overall, per_stream = token_accuracy(pred, tgt)
    torch.testing.assert_close(per_stream, torch.tensor([2 / 3, 1 / 3]))
    assert overall.item() == pytest.approx(0.5)


def test_segment_accuracy_per_bar():
    tgt = torch.zeros(2, 8, 1, dtype=torch.long)
    pred = tgt.clone()
    pred[0, 0:2] = 1  # bar 0: 2 wrong of 8 positions (2 examples x 4 steps)
    pred[:, 4:8] = 1  # bar 1: all wrong
    acc = segment_accuracy(pred, tgt, segment_steps=4)
    torch.testing.assert_close(acc, torch.tensor([0.75, 0.0]))
    with pytest.raises(ValueError):
        segment_accuracy(pred, tgt, segment_steps=3)


def test_kl_values():
    assert kl_divergence(torch.zeros(3, 4), torch.ones(3, 4)).abs().max().item() == 0.0
    torch.testing.assert_close(kl_divergence(torch.ones(1, 1), torch.ones(1, 1)), torch.tensor([0.5]))
    # mu=0, sigma=e: 0.5 * (e^2 - 1 - 2)
    e = math.e
    torch.testing.assert_close(kl_per_dim(torch.zeros(1, 1), torch.full((1, 1), e)), torch.tensor([[0.5 * (e * e - 3)]]))
    # agrees with torch.distributions
    mu, sigma = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.rand(4, 3) + 0.2
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, sigma), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    torch.testing.assert_close(kl_divergence(mu, sigma), ref)


def test_free_bits_total():
    out = free_bits_kl(torch.tensor([10.0, 100.0]), free_bits=48)
    torch.testing.assert_close(out, torch.tensor([0.0, 100.0 - 48 * LN2]))
    assert out[1].item() == pytest.approx(66.7289, abs=1e-3)


def test_free_bits_per_dim():
    # Z=2, free_bits=4 -> 4 ln2 nats total, 2 ln2 ≈ 1.386 per dim
    kl = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    out = free_bits_kl(kl, free_bits=4, per_dim=True)
    torch.testing.assert_close(out, torch.tensor([3.0 - 2 * LN2, 2 * (2.0 - 2 * LN2)]))
    with pytest.raises(ValueError):
        free_bits_kl(torch.tensor([1.0]), 4, per_dim=True)


def test_elbo_loss_consistency():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 5, 7, generator=g)
    targets = torch.stack([torch.randint(0, 3, (3, 5), generator=g), torch.randint(0, 4, (3, 5), generator=g)], -1)
    mu = torch.randn(3, 6, generator=g) * 3
    sigma = torch.rand(3, 6, generator=g) + 0.1
    out = elbo_loss(logits, targets, (3, 4), mu, sigma, beta=0.2, free_bits=4)
    torch.testing.assert_close(out["loss"], out["r_loss"] + 0.2 * out["kl_cost"])
    torch.testing.assert_close(out["elbo"], -(out["r_loss"] + out["kl"]))
    torch.testing.assert_close(out["kl_bits"], out["kl"] / LN2)
    torch.testing.assert_close(out["per_stream_r_loss"].sum(), out["r_loss"])
    assert out["per_stream_r_loss"].shape == (2,)
    assert out["kl_cost"] <= out["kl"]
    kl = kl_divergence(mu, sigma)
    torch.testing.assert_close(out["kl_cost"], torch.clamp(kl - 4 * LN2, min=0).mean())
    per_dim = elbo_loss(logits, targets, (3, 4), mu, sigma, beta=0.2, free_bits=4, per_dim_free_bits=True)
    torch.testing.assert_close(per_dim["kl"], out["kl"])
    assert per_dim["kl_cost"] >= out["kl_cost"] - 1e-6  # per-dim clipping never gives back more slack


def test_elbo_loss_language_model_has_no_kl():
    logits = torch.zeros(2, 3, 4, requires_grad=True)
    targets = torch.zeros(2, 3, 1, dtype=torch.long)
    out = elbo_loss(logits, targets, (4,), None, None, beta=1.0, free_bits=0)
    assert out["kl"].item() == 0.0 and out["kl_cost"].item() == 0.0
    torch.testing.assert_close(out["loss"], torch.tensor(3 * math.log(4)))
    out["loss"].backward()
    assert logits.grad is not None
