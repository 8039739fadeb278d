"""Sampled accuracy as magenta measures it vs. free-running accuracy (ours), and old metric names."""

import pytest
import torch

from musicvae.models.builders import build_model
from musicvae.models.modules.decoders import CoreDecoder
from musicvae.models.modules.hierarchical import FlatDecoder
from musicvae.presets import PRESETS
from musicvae.training.losses import reconstruction_predictions, token_accuracy, upgrade_accuracy_names


class _Model(torch.nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder, self.vocab_sizes = decoder, decoder.vocab_sizes


def test_magenta_sampled_accuracy_scores_the_argmax_not_the_samples():
    """A hand-made decoder whose every step says "token 0" with probability ~0.525 (logits 0.1 vs 0):
    magenta's sampled accuracy (argmax while fed its own samples) is exactly 1 on all-zero data,
    while the temperature-1 samples themselves are right only ~52 % of the time."""
    core = CoreDecoder(vocab_sizes=(2,), hidden_size=4, num_layers=1, cond_size=3)
    with torch.no_grad():
        core.output.weight.zero_()
        core.output.bias.copy_(torch.tensor([0.1, 0.0]))
    model = _Model(FlatDecoder(core, steps=32)).eval()
    targets = torch.zeros(64, 32, 1, dtype=torch.long)  # (B, T, K)
    out = {"logits": torch.tensor([0.1, 0.0]).expand(64, 32, 2), "z": torch.randn(64, 3)}
    with torch.no_grad():
        preds = reconstruction_predictions(model, targets, out, torch.Generator().manual_seed(0))
    acc = {k: float(token_accuracy(p, targets)[0]) for k, p in preds.items()}
    assert acc["sampled"] == 1.0 and acc["tf"] == 1.0 and acc["argmax"] == 1.0
    # 2,048 draws of p = 0.525: standard error 0.011
    assert 0.45 < acc["free_running"] < 0.60, acc


@pytest.mark.parametrize("name", ["hierdec-mel_16bar_tiny", "hierdec-trio_16bar_tiny"])
def test_hierarchical_eval_unroll_starts_each_segment_from_the_true_token(name):
    """magenta's helper reads its given input at each segment's first step: there the logits are the
    teacher-forced ones; the inference loop gives the reference loop's tokens and logits."""
    cfg = PRESETS[name]
    vocab = {"melody": (130,), "trio": (130, 130, 512)}[cfg.data.kind]
    torch.manual_seed(0)
    model = build_model(cfg, vocab).eval()
    T, S = 16 * cfg.data.bars, model.decoder.segment_steps
    x = torch.stack([torch.randint(0, v, (2, T)) for v in vocab], dim=-1)  # (B, T, K)
    z = torch.randn(2, cfg.model.z_size)
    runs = []
    for fast in (True, False):
        with torch.set_grad_enabled(not fast):  # grad enabled forces the reference loop with a feed mask
            logits, tokens = model.decoder.eval_unroll(z, x, temperature=1.0, generator=torch.Generator().manual_seed(3))
        runs.append((logits.detach(), tokens))
    assert torch.equal(runs[0][1], runs[1][1])
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        teacher = model.decoder.teacher(z, x)  # (B, T, D)
        free, _ = model.decoder.unroll(z, 2, temperature=1.0, generator=torch.Generator().manual_seed(3))
    starts = torch.arange(0, T, S)
    torch.testing.assert_close(runs[0][0][:, starts], teacher[:, starts], rtol=1e-4, atol=1e-4)
    # free running feeds its own last token into the next segment: random data disagrees there
    assert not torch.allclose(free[:, starts[1:]], teacher[:, starts[1:]], atol=1e-3)


def test_old_metrics_keep_loading_under_the_free_running_name():
    old = {"tf_accuracy": 0.9, "sampled_accuracy": 0.8, "sampled_accuracy_per_segment": [0.8], "argmax_accuracy": 0.85}
    new = upgrade_accuracy_names(old)
    assert "sampled_accuracy" not in new and new["free_running_accuracy"] == 0.8
    assert new["free_running_accuracy_per_segment"] == [0.8] and new["tf_accuracy"] == 0.9
    assert old["sampled_accuracy"] == 0.8  # the input is not modified
    current = {"sampled_accuracy": 0.95, "free_running_accuracy": 0.8}
    assert upgrade_accuracy_names(current) == current


def test_scheduled_sampling_never_starts_a_segment_from_a_sample():
    """magenta's helper runs once per segment and reads the true token first: with every step fed the
    model's sample, each segment's first logits are still the teacher-forced ones."""
    cfg = PRESETS["hierdec-mel_16bar_tiny"]
    torch.manual_seed(1)
    model = build_model(cfg, (130,)).eval()
    x = torch.randint(0, 130, (2, 256, 1))
    z = torch.randn(2, cfg.model.z_size)
    feed = torch.ones(2, 256, dtype=torch.bool)
    logits, _ = model.decoder.unroll(z, 2, targets=x, feed_sample=feed, generator=torch.Generator().manual_seed(0))
    teacher = model.decoder.teacher(z, x)
    starts = torch.arange(0, 256, 16)
    torch.testing.assert_close(logits[:, starts], teacher[:, starts], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(logits[:, starts + 1], teacher[:, starts + 1], atol=1e-3)
