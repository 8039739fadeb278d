"""Frozen linear maps for batch-1 inference: fp16 weights where that loses nothing.

Place in the flow: a decoder's trained weights -> :class:`FrozenLinear` -> the step loop of
:meth:`CoreDecoder._generate` (sampling, reconstruction, interpolation).

Sampling a 16-bar melody runs the bottom LSTM 256 times at batch 1, and each step reads
its three 1024 x 256 weight matrices: 3 MB in fp32, more than this CPU's 2 MB L2 cache, so
every step streams them from L3 (~52 us per matrix). Stored as fp16 they take 1.5 MB and
stay in L2. fbgemm's fp16-weight GEMM (x86 PyTorch builds) reads fp16 weights, widens them
in registers and accumulates in fp32; the three products then take ~66 us instead of ~160 us
(measured, one thread; ``benchmarks/RESULTS.md``).

The fp16 kernel is used only when it changes nothing: when every weight is exactly an fp16
number (the bundled models are stored in fp16), the products equal the fp32 ones up to the
order of the sums. Otherwise, or where the kernel is missing (ARM builds, a later PyTorch
without the deprecated op), the map is a plain fp32 ``F.linear``.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

#: set False to force the fp32 path (tests compare both)
USE_FP16_KERNEL = True


def _fp16_kernel_available() -> bool:
    return hasattr(torch, "fbgemm_pack_gemm_matrix_fp16") and "fbgemm" in torch.backends.quantized.supported_engines


def exactly_fp16(*tensors: torch.Tensor) -> bool:
    """True when every value is an fp16 number (rounding to fp16 and back changes nothing)."""
    return all(bool(torch.equal(t.detach().half().float(), t.detach().float())) for t in tensors)


class FrozenLinear:
    """``y = x W^T + b`` with a frozen ``weight`` (N, M): fbgemm fp16 when lossless, else fp32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, *, fp16: bool | None = None):
        weight = weight.detach().float().contiguous()
        self.out_features = weight.shape[0]
        self.bias = (bias.detach().float().contiguous() if bias is not None
                     else weight.new_zeros(self.out_features))
        if fp16 is None:
            fp16 = (USE_FP16_KERNEL and weight.device.type == "cpu" and _fp16_kernel_available()
                    and exactly_fp16(weight))
        self.fp16 = bool(fp16)
        if self.fp16:
            with warnings.catch_warnings():  # the op is deprecated in PyTorch; it warns once per process
                warnings.simplefilter("ignore", UserWarning)
                self.weight = torch.fbgemm_pack_gemm_matrix_fp16(weight)
                torch.fbgemm_linear_fp16_weight(weight.new_zeros(1, weight.shape[1]), self.weight, self.bias)
        else:
            self.weight = weight

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, M) -> (B, N); ``bias`` (N,) or (B, N) replaces the stored bias (a constant folded in)."""
        b = self.bias if bias is None else bias
        if b.dim() == 2:  # one bias per row
            if b.shape[0] == 1:
                b = b[0]
            else:
                return self(x, b.new_zeros(self.out_features)).add_(b)
        if self.fp16:
            return torch.fbgemm_linear_fp16_weight(x, self.weight, b)
        return F.linear(x, self.weight, b)
