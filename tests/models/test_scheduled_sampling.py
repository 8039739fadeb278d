"""Scheduled sampling: a gradient-free unroll of the rows that sample, then one teacher-forced pass over the
fed tokens (the same logits, losses, gradients and generator state as unrolling the whole batch); and the
segment-after-segment free-running decoding of large hierarchical batches."""

import pytest
import torch

from musicvae.models.builders import build_model
from musicvae.presets import PRESETS
from musicvae.models.distributions import elbo_loss

VOCAB = {"melody": (130,), "drums": (512,), "trio": (130, 130, 512)}


@pytest.mark.parametrize("name", ["cat-mel_2bar_small_tiny", "hierdec-trio_16bar_tiny", "lm-mel_2bar_tiny"])
def test_row_split_matches_the_whole_batch_unroll(name):
    cfg = PRESETS[name]
    vocab = VOCAB[cfg.data.kind]
    torch.manual_seed(0)
    model = build_model(cfg, vocab).train()
    B, T = 6, 16 * cfg.data.bars
    x = torch.stack([torch.randint(0, v, (B, T)) for v in vocab], dim=-1)
    feed = torch.zeros(B, T, dtype=torch.bool)
    feed[1, 3] = feed[4, 0] = feed[4, T - 1] = True  # two rows sample, four are teacher-forced

    def run(split: bool):
        gen = torch.Generator().manual_seed(5)
        model.zero_grad()
        if split:
            out = model(x, feed_sample=feed, generator=gen)
        else:  # the previous behaviour: the whole batch through the step-by-step unroll
            torch.manual_seed(1)
            mu = sigma = z = None
            if cfg.model.family == "musicvae":
                mu, sigma = model.encode(x)
                z = mu + sigma * torch.randn(mu.shape, generator=gen)
            logits, _ = model.decoder.unroll(z, B, targets=x, feed_sample=feed, generator=gen)
            out = {"logits": logits, "mu": mu, "sigma": sigma}
        losses = elbo_loss(out["logits"], x, vocab, out["mu"], out["sigma"], 0.2, 0.0)
        losses["loss"].backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return out["logits"].detach(), losses["loss"].detach(), grads, torch.rand(3, generator=gen)

    new, old = run(True), run(False)
    torch.testing.assert_close(new[0], old[0], rtol=1e-5, atol=1e-5)  # logits of every row
    torch.testing.assert_close(new[1], old[1], rtol=1e-6, atol=1e-5)  # the loss
    assert len(new[2]) == len(old[2])
    for a, b in zip(new[2], old[2]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert torch.equal(new[3], old[3])  # the generator consumed the same draws


def test_only_sampling_rows_are_unrolled(monkeypatch):
    cfg = PRESETS["cat-mel_2bar_small_tiny"]
    model = build_model(cfg, (130,)).train()
    x = torch.randint(0, 130, (8, 32, 1))
    feed = torch.zeros(8, 32, dtype=torch.bool)
    feed[2, 5] = True
    seen = []
    real = type(model.decoder.core).unroll

    def spy(self, c, first, steps, **kw):
        seen.append(first.shape[0])
        return real(self, c, first, steps, **kw)

    monkeypatch.setattr(type(model.decoder.core), "unroll", spy)
    model(x, feed_sample=feed)
    assert seen == [1]
    feed[:, 0] = True  # every row samples: the whole batch as before
    model(x, feed_sample=feed)
    assert seen == [1, 8]


@pytest.mark.parametrize("name", ["hierdec-mel_16bar_tiny", "hierdec-trio_16bar_tiny"])
def test_segmentwise_large_batch_decoding_samples_what_the_reference_loop_samples(name, monkeypatch):
    """From SEGMENTWISE_BATCH sequences on, free running goes segment after segment (no guessed first inputs)."""
    from musicvae.models.modules import hierarchical

    cfg = PRESETS[name]
    vocab = VOCAB[cfg.data.kind]
    torch.manual_seed(0)
    model = build_model(cfg, vocab).eval()
    z = torch.randn(3, cfg.model.z_size)
    monkeypatch.setattr(hierarchical, "SEGMENTWISE_BATCH", 3)
    runs = []
    for fast in (True, False):
        gen = torch.Generator().manual_seed(7)
        with torch.set_grad_enabled(not fast):  # grad enabled forces the reference (nn.LSTM) path
            logits, tokens = model.decoder.unroll(z, 3, temperature=0.9, generator=gen)
        runs.append((logits.detach(), tokens))
    assert torch.equal(runs[0][1], runs[1][1])
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=1e-4, atol=1e-4)
