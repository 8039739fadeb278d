"""FrozenLinear: the inference loop's per-step products (fp16 kernel only where lossless)."""

import pytest
import torch
import torch.nn.functional as F

from musicvae.models.modules import lstm_step as matvec
from musicvae.models.modules.lstm_step import FrozenLinear, exactly_fp16

needs_kernel = pytest.mark.skipif(not matvec._fp16_kernel_available(), reason="no fbgemm fp16 kernel in this build")


def _fp16_exact(*shape: int) -> torch.Tensor:
    torch.manual_seed(0)
    return (torch.randn(*shape) * 0.1).half().float()


def test_exactly_fp16_tells_rounded_weights_apart():
    w = _fp16_exact(8, 4)
    assert exactly_fp16(w)
    assert not exactly_fp16(w + 1e-4)  # 1e-4 is below fp16's resolution near 0.1


def test_fp32_weights_keep_the_fp32_path():
    w = torch.randn(16, 8) + 1e-4
    lin = FrozenLinear(w)
    assert not lin.fp16
    x = torch.randn(3, 8)
    assert torch.equal(lin(x), F.linear(x, w))


@needs_kernel
def test_fp16_kernel_matches_fp32_products_for_fp16_weights():
    w, b = _fp16_exact(64, 32), torch.randn(64)
    lin = FrozenLinear(w, b)
    assert lin.fp16
    x = torch.randn(1, 32)
    assert torch.allclose(lin(x), F.linear(x, w, b), atol=1e-5)
    other = torch.randn(64)
    assert torch.allclose(lin(x, other), F.linear(x, w, other), atol=1e-5)  # a per-call bias replaces b


@pytest.mark.parametrize("fp16", [False, pytest.param(True, marks=needs_kernel)])
def test_per_row_bias_for_batches(fp16):
    w, x, rows = _fp16_exact(12, 6), torch.randn(4, 6), torch.randn(4, 12)
    lin = FrozenLinear(w, fp16=fp16)
    assert torch.allclose(lin(x, rows), F.linear(x, w) + rows, atol=1e-5)
    assert torch.allclose(lin(x[:1], rows[:1]), F.linear(x[:1], w) + rows[:1], atol=1e-5)


def test_switch_forces_fp32(monkeypatch):
    monkeypatch.setattr(matvec, "USE_FP16_KERNEL", False)
    assert not FrozenLinear(_fp16_exact(8, 4)).fp16


@needs_kernel
def test_row_count_picks_the_kernel(monkeypatch):
    """Both forms are kept: fp32 (multi-threaded) above FP16_MAX_ROWS rows when several threads run,
    fp16 below it, or at any size on one thread."""
    w, b = _fp16_exact(64, 32), torch.randn(64)
    lin = FrozenLinear(w, b)
    big, small = torch.randn(matvec.FP16_MAX_ROWS + 1, 32), torch.randn(matvec.FP16_MAX_ROWS, 32)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert not lin.uses_fp16(len(big)) and lin.uses_fp16(len(small))
    assert torch.equal(lin(big), F.linear(big, w, b))  # the fp32 product itself
    torch.testing.assert_close(lin(small), F.linear(small, w, b), atol=1e-5, rtol=1e-5)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert lin.uses_fp16(4096)
    monkeypatch.setattr(matvec, "USE_FP16_KERNEL", False)
    assert not FrozenLinear(w, b).uses_fp16(1)
