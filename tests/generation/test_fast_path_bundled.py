"""The fast inference path on the bundled (trained, fp16-stored) models draws the plain path's tokens.

The tiny-model tests in tests/models compare the two paths on untrained fp32 weights; here the
weights are exactly fp16, so the fbgemm fp16 kernel runs (where the build has it), on the flat
and the hierarchical decoder, at the temperatures people sample at.
"""

import pytest
import torch

from musicvae.generation import TrainedModel
from musicvae.models.modules import lstm_step

CODES = 24


@pytest.fixture(scope="module", params=["mel_2bar", "drums_2bar", "mel_16bar"])
def bundled(request):
    return TrainedModel.load(request.param)


def _both_paths(decoder, z, temperature, seed):
    runs = []
    for fast in (True, False):
        gen = torch.Generator().manual_seed(seed)
        with torch.set_grad_enabled(not fast):  # grad enabled forces the plain (nn.LSTM) loop
            logits, tokens = decoder.unroll(z, z.shape[0], temperature=temperature, generator=gen)
        runs.append((logits.detach(), tokens))
    return runs


@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0])
def test_fast_path_tokens_equal_plain_path_on_bundled_model(bundled, temperature):
    net = bundled.model.eval()
    z = torch.as_tensor(bundled.prior_codes(CODES, seed=3))  # (CODES, Z)
    (fast_logits, fast_tokens), (plain_logits, plain_tokens) = _both_paths(net.decoder, z, temperature, seed=17)
    assert fast_tokens.shape == (CODES, bundled.steps, len(net.vocab_sizes))
    assert torch.equal(fast_tokens, plain_tokens)
    torch.testing.assert_close(fast_logits, plain_logits, rtol=1e-3, atol=1e-3)
    cores = getattr(net.decoder, "cores", None) or [net.decoder.core]
    layers = cores[0]._inference_weights()["layers"]
    if lstm_step.USE_FP16_KERNEL and lstm_step._fp16_kernel_available():
        assert all(layer.fp16 for layer in layers)  # the fp16 kernel path is the one compared


def test_fast_path_at_batch_one_on_bundled_model(bundled):
    """Batch 1, one stream reads its input rows as views: a separate branch of the loop."""
    net = bundled.model.eval()
    for i, z in enumerate(torch.as_tensor(bundled.prior_codes(3, seed=5))):
        (_, fast), (_, plain) = _both_paths(net.decoder, z[None], 0.5, seed=i)
        assert torch.equal(fast, plain)
