"""train.segment_subset: a hierarchical decoder trained on k random segments of each window per step.

The subset's logits must be exactly those of the whole teacher-forced pass (each segment starts from its
conductor embedding and the true token before it), and the scaled loss an unbiased estimate of the
whole window's reconstruction term.
"""

import pytest
import torch

from musicvae.models.builders import build_model
from musicvae.models.modules.hierarchical import pick_segments, select_segments
from musicvae.models.musicvae import grid_elbo
from musicvae.presets import PRESETS
from musicvae.training.trainer import TrainError, Trainer
from musicvae.presets import get_preset

VOCAB = {"melody": (130,), "trio": (130, 130, 512)}


def _model_and_tokens(name, batch=5, seed=0):
    cfg = PRESETS[name]
    vocab = VOCAB[cfg.data.kind]
    torch.manual_seed(seed)
    model = build_model(cfg, vocab).eval()
    T = 16 * cfg.data.bars
    x = torch.stack([torch.randint(0, v, (batch, T)) for v in vocab], dim=-1)  # (B, T, K)
    return model, x


def test_pick_segments_distinct_sorted_seeded():
    a = pick_segments(64, 16, 4, torch.Generator().manual_seed(3), "cpu")
    b = pick_segments(64, 16, 4, torch.Generator().manual_seed(3), "cpu")
    assert a.shape == (64, 4) and torch.equal(a, b)
    assert bool((a[:, 1:] > a[:, :-1]).all())  # ascending, so distinct
    assert int(a.min()) >= 0 and int(a.max()) <= 15
    counts = torch.bincount(pick_segments(4000, 16, 4, torch.Generator().manual_seed(1), "cpu").flatten(), minlength=16)
    assert counts.min() > 0.8 * 1000 and counts.max() < 1.2 * 1000  # uniform: 4000 * 4 / 16 = 1000 each


def test_select_segments_takes_the_chosen_steps():
    tokens = torch.arange(2 * 12).reshape(2, 12, 1)  # 2 windows of 4 segments of 3 steps
    picked = torch.tensor([[0, 2], [1, 3]])
    got = select_segments(tokens, picked, 3)[..., 0]
    assert got.tolist() == [[0, 1, 2, 6, 7, 8], [15, 16, 17, 21, 22, 23]]


@pytest.mark.parametrize("name", ["hierdec-mel_16bar_tiny", "hierdec-trio_16bar_tiny"])
def test_subset_logits_equal_the_whole_pass(name):
    model, x = _model_and_tokens(name)
    dec = model.decoder
    z = torch.randn(x.shape[0], model.z_size)
    with torch.no_grad():
        whole = dec.teacher(z, x)  # (B, T, D)
        picked = pick_segments(x.shape[0], dec.segments, 3, torch.Generator().manual_seed(0), "cpu")
        part = dec.teacher(z, x, picked)  # (B, 3*S, D)
    torch.testing.assert_close(part, select_segments(whole, picked, dec.segment_steps), rtol=1e-5, atol=1e-5)


def test_scaled_loss_is_unbiased():
    """k = 1: the mean over the U possible segments of U * r_u is the whole window's r_loss."""
    model, x = _model_and_tokens("hierdec-mel_16bar_tiny", batch=3)
    dec, U = model.decoder, model.decoder.segments
    mu, sigma = model.encode(x)
    with torch.no_grad():
        whole = grid_elbo(model, x, {"logits": dec.teacher(mu, x), "mu": mu, "sigma": sigma})["r_loss"]
        parts = []
        for u in range(U):
            picked = torch.full((x.shape[0], 1), u)
            out = {"logits": dec.teacher(mu, x, picked), "mu": mu, "sigma": sigma,
                   "targets": select_segments(x, picked, dec.segment_steps), "r_scale": U / 1}
            parts.append(grid_elbo(model, x, out)["r_loss"])
    torch.testing.assert_close(torch.stack(parts).mean(), whole, rtol=1e-5, atol=1e-4)


def test_forward_uses_the_subset_only_when_teacher_forced():
    model, x = _model_and_tokens("hierdec-mel_16bar_tiny")
    gen = torch.Generator().manual_seed(0)
    out = model(x, generator=gen, segment_subset=4)
    S = model.decoder.segment_steps
    assert out["logits"].shape[1] == 4 * S and out["targets"].shape == (x.shape[0], 4 * S, 1)
    assert out["r_scale"] == model.decoder.segments / 4
    full = model(x, generator=torch.Generator().manual_seed(0), segment_subset=model.decoder.segments)
    assert "targets" not in full and full["logits"].shape[1] == x.shape[1]  # k = U: the plain pass
    feed = torch.zeros(x.shape[:2], dtype=torch.bool)
    feed[0, 5] = True
    ss = model(x, feed_sample=feed, generator=torch.Generator().manual_seed(0), segment_subset=4)
    assert "targets" not in ss and ss["logits"].shape[1] == x.shape[1]  # scheduled sampling: whole windows


def test_trainer_refuses_a_flat_decoder(tiny_mel_run):
    cfg = get_preset("cat-mel_2bar_small_tiny", ["segment_subset=2", "device=cpu", "steps=1"])
    with pytest.raises(TrainError, match="segment_subset=2: only a MusicVAE with a hierarchical decoder"):
        Trainer(cfg, tiny_mel_run.parent / "data", tiny_mel_run.parent / "subset-run").fit()


def test_trainer_trains_a_hierarchical_model_on_segment_subsets(tmp_path):
    import json

    from synth import write_song

    from musicvae.data.prepare import PrepareConfig, prepare

    src = tmp_path / "midi"
    src.mkdir()
    for i in range(6):
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * (1 + i % 3)) % 20 for j in range(80)], step=4)
    prepare(src, tmp_path / "data", PrepareConfig("melody", 16, eval_fraction=0.34))
    cfg = get_preset("hierdec-mel_16bar_tiny", ["segment_subset=4", "device=cpu", "steps=4", "log_every=1",
                                                "eval_every=4", "checkpoint_every=4", "batch_size=4", "eval_batches=1"])
    Trainer(cfg, tmp_path / "data", tmp_path / "run").fit()
    recs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "r_loss" in r and "eval_loss" not in r]
    assert len(steps) == 4 and all(r["r_loss"] > 0 and 0 <= r["accuracy"] <= 1 for r in steps)
    assert any("tf_accuracy" in r for r in recs)  # evaluation still decodes whole windows
