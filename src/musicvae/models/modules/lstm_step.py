"""The stacked LSTM's inference step: frozen weights (fp16 where lossless) and preallocated buffers.

Place in the flow: a decoder's trained weights -> :class:`FrozenLinear` maps ->
:class:`LSTMStepper` -> the step loop of :meth:`CoreDecoder.decode_prepared` (sampling,
reconstruction, interpolation).

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
#: above this many rows the fp32 product is used when PyTorch runs more than one intra-op thread.
#: fbgemm's fp16 GEMM runs on one thread; MKL's fp32 GEMM on all of them. Measured here (2-core
#: AMD EPYC / Xeon, 1024 x 256 and 1024 x 512 weights): one thread, fp16 is 1.1-1.45x faster at every
#: row count from 1 to 4,096; two threads, quiet, they tie at ~16 rows and fp32 is ~1.5x faster at
#: 1,024 (``benchmarks/RESULTS.md``, sampling section).
FP16_MAX_ROWS = 16


def _fp16_kernel_available() -> bool:
    return hasattr(torch, "fbgemm_pack_gemm_matrix_fp16") and "fbgemm" in torch.backends.quantized.supported_engines


def exactly_fp16(*tensors: torch.Tensor) -> bool:
    """True when every value is an fp16 number (rounding to fp16 and back changes nothing)."""
    return all(bool(torch.equal(t.detach().half().float(), t.detach().float())) for t in tensors)


class FrozenLinear:
    """``y = x W^T + b`` with a frozen ``weight`` (N, M): fbgemm fp16 when lossless, else fp32.

    Both forms are kept when the fp16 one exists: a call with more than :data:`FP16_MAX_ROWS` rows
    on more than one intra-op thread takes fp32 (multi-threaded), a smaller one fp16 (half the bytes
    read). Both compute the same products of the same numbers up to the order of the sums.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, *, fp16: bool | None = None):
        weight = weight.detach().float().contiguous()
        self.out_features = weight.shape[0]
        self.zeros = weight.new_zeros(self.out_features)
        self.bias = bias.detach().float().contiguous() if bias is not None else self.zeros
        if fp16 is None:
            fp16 = (USE_FP16_KERNEL and weight.device.type == "cpu" and _fp16_kernel_available()
                    and exactly_fp16(weight))
        self.fp16 = bool(fp16)
        self.weight = weight  # fp32, always
        self.packed = None
        if self.fp16:
            with warnings.catch_warnings():  # the op is deprecated in PyTorch; it warns once per process
                warnings.simplefilter("ignore", UserWarning)
                self.packed = torch.fbgemm_pack_gemm_matrix_fp16(weight)
                torch.fbgemm_linear_fp16_weight(weight.new_zeros(1, weight.shape[1]), self.packed, self.bias)

    def uses_fp16(self, rows: int) -> bool:
        """Whether a call with ``rows`` rows takes the fp16 kernel (see :data:`FP16_MAX_ROWS`)."""
        return self.fp16 and (rows <= FP16_MAX_ROWS or torch.get_num_threads() == 1)

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, M) -> (B, N); ``bias`` (N,) or (B, N) replaces the stored bias (a constant folded in)."""
        b = self.bias if bias is None else bias
        if b.dim() == 2:  # one bias per row
            if b.shape[0] == 1:
                b = b[0]
            else:
                return self(x, self.zeros).add_(b)
        if self.uses_fp16(x.shape[0]):
            return torch.fbgemm_linear_fp16_weight(x, self.packed, b)
        return F.linear(x, self.weight, b)


def gate_scale(hidden: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """(4H,) factors for the gate rows, in PyTorch's order i, f, g, o: 1, 1, 2, 1.

    :class:`LSTMStepper` expects the g rows of every weight and bias doubled (exact in binary
    floating point), so that one sigmoid over all gates gives sigma(2g), and tanh(g) =
    2 sigma(2g) - 1 costs no call of its own."""
    s = torch.ones(4 * hidden) if like is None else like.new_ones(4 * hidden)
    s[2 * hidden : 3 * hidden] = 2.0
    return s


class LSTMStepper:
    """One step of a stacked LSTM at a fixed batch, in place on buffers made once.

    Layer ``l >= 1`` reads ``[h_{l-1}, h_l]`` from one (B, 2H) buffer through one product
    with its input and recurrent weights side by side, so each layer's new ``h`` is written
    straight into the next layer's input buffer. PyTorch's gate order (i, f, g, o) is kept,
    with the g rows scaled by :func:`gate_scale`. Every tanh is written with sigmoids,
    tanh(x) = 2 sigma(2x) - 1: PyTorch computes tanh through MKL's vector math, which
    wakes the OpenMP workers on every call (~10 us at two threads, ~90 us with passive
    waiting, against ~1.5 us for a sigmoid; measured), and a step has four of them.
    """

    def __init__(self, layers: list[FrozenLinear], h0: torch.Tensor, c0: torch.Tensor):
        L, B, H = h0.shape  # h0, c0: (L, B, H)
        self.layers, self.H = layers, H
        self.c = [c0[i].clone() for i in range(L)]  # (B, H) each, updated in place
        # xh[l] = [h_{l-1} | h_l] for l >= 1; the first layer's own h lives in xh[1][:, :H]
        self.xh = [None] + [torch.cat([h0[i - 1], h0[i]], dim=1) for i in range(1, L)]  # (B, 2H)
        self.h = [self.xh[1][:, :H] if L > 1 else h0[0].clone()]
        self.h += [self.xh[i][:, H:] for i in range(1, L)]
        self.sig = [h0.new_empty(B, 4 * H) for _ in range(L)]
        self.gate_views = [(s[:, :H], s[:, H : 2 * H], s[:, 2 * H : 3 * H], s[:, 3 * H :]) for s in self.sig]
        self.sig_c = [h0.new_empty(B, H) for _ in range(L)]

    def step(self, bias0: torch.Tensor) -> torch.Tensor:
        """Advance every layer once; ``bias0`` (4H,) or (B, 4H) is the first layer's input term
        plus its bias (g part doubled). Returns the top layer's new ``h`` (B, H): a view, valid
        until the next step."""
        H = self.H
        for layer, lin in enumerate(self.layers):
            if layer == 0:
                gates = lin(self.h[0].contiguous(), bias0)  # (B, 4H)
            else:
                gates = lin(self.xh[layer])  # (B, 4H)
            torch.sigmoid(gates, out=self.sig[layer])
            i, f, sg, o = self.gate_views[layer]  # sg = sigma(2g)
            c = self.c[layer]
            c.mul_(f).addcmul_(i, sg, value=2.0).sub_(i)  # c = f c + i tanh(g)
            s = torch.mul(c, 2.0, out=self.sig_c[layer]).sigmoid_()  # sigma(2c)
            torch.neg(o, out=self.h[layer]).addcmul_(o, s, value=2.0)  # h = o tanh(c)
            if 0 < layer < len(self.layers) - 1:
                self.xh[layer + 1][:, :H].copy_(self.h[layer])
        return self.h[-1]
