"""Autoregressive LSTM decoders: the flat decoder and the bottom level of the hierarchy.

Place in the flow: z (or a conductor embedding) -> :class:`CoreDecoder` -> logits over
the concatenated stream vocabularies -> losses / sampling.

A :class:`CoreDecoder` is conditioned on a vector ``c``: ``tanh(Linear(c))`` gives the
initial (h, c) of every layer, and ``c`` is concatenated to every input step, whose
other part is the one-hot of the previous step's tokens. With several streams (a flat
trio) it has one softmax per stream over a shared LSTM ("split softmaxes").

Ways to run it:
* :meth:`teacher` - the whole sequence at once with the true previous tokens (fast);
* :meth:`unroll` - step by step, feeding back either the true token or the model's
  own sample where ``feed_sample`` says so (scheduled sampling; all-True = free running);
* free running without gradients in eval mode, :meth:`unroll` hands over to a hand-written
  loop (:meth:`decode_prepared`, :mod:`.lstm_step`) that samples the same tokens at a
  fraction of the cost (what ``sample`` / ``decode`` use).

Tokens are drawn by the Gumbel-max trick (``models.distributions``), with
all of a sequence's noise drawn before its first step, by every path alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...representations.streams import FIRST_NOTE_ON
from ..distributions import gumbel_noise, pick_tokens, split_temperature  # noqa: F401 (re-exported)
from .encoder import one_hot
from .lstm_step import FrozenLinear, LSTMStepper, gate_scale


class CoreDecoder(nn.Module):
    #: optional (D,) logit bias added while free-running (0 or -inf per token: the key constraint,
    #: set by ``generation.keys.constrained``); not a parameter, never saved, None = no constraint
    token_bias: torch.Tensor | None = None
    #: optional (note temperature, rhythm temperature) of a one-stream melody decoder, drawn with
    #: temperature-1 noise (:func:`split_temperature`; set by ``generation.keys.split_rhythm``), None = plain
    split_temperatures: tuple[float, float] | None = None

    def __init__(
        self,
        *,
        vocab_sizes: tuple[int, ...],
        hidden_size: int,
        num_layers: int,
        cond_size: int,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.vocab_sizes = tuple(vocab_sizes)
        self.depth = sum(self.vocab_sizes)
        self.hidden_size, self.num_layers, self.cond_size = hidden_size, num_layers, cond_size
        self.init_state = nn.Linear(cond_size, 2 * num_layers * hidden_size) if cond_size > 0 else None
        self.lstm = nn.LSTM(self.depth + cond_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.output = nn.Linear(hidden_size, self.depth)

    def initial_state(self, c: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(h0, c0), each (layers, B, H): tanh(Linear(c)), or zeros without conditioning."""
        if self.init_state is None or c is None:
            w = self.output.weight
            zeros = w.new_zeros(self.num_layers, batch, self.hidden_size)
            return zeros, zeros.clone()
        s = torch.tanh(self.init_state(c))  # (B, 2 * L * H)
        s = s.view(batch, 2, self.num_layers, self.hidden_size).permute(1, 2, 0, 3).contiguous()  # (2, L, B, H)
        return s[0], s[1]

    def _inputs(self, prev: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """prev (B, S, D) one-hot + c (B, C) -> (B, S, D + C)."""
        if self.cond_size == 0 or c is None:
            return prev
        return torch.cat([prev, c.unsqueeze(1).expand(-1, prev.shape[1], -1)], dim=-1)

    def teacher(self, c: torch.Tensor | None, prev: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``prev`` (B, S, D) one-hot of the previous tokens -> logits (B, S, D)."""
        state = self.initial_state(c, prev.shape[0])
        out, _ = self.lstm(self._inputs(prev, c), state)  # (B, S, H)
        return self.output(out)  # (B, S, D)

    def unroll(
        self,
        c: torch.Tensor | None,
        first: torch.Tensor,
        steps: int,
        *,
        targets: torch.Tensor | None = None,
        feed_sample: torch.Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        noise_rows: tuple[torch.Tensor, int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Step-by-step decoding.

        Args:
            first: (B, D) one-hot input of the first step (zeros, or the previous segment's last token).
            targets: (B, S, K) true tokens, fed back where ``feed_sample`` is False.
            feed_sample: (B, S) bool, True where the model's own sample is fed back;
                ``None`` means free running (always the sample).
            noise_rows: ``(rows, n)``: these B rows are rows ``rows`` of a batch of ``n``; the noise
                is drawn for all n rows and these rows' part used, so the tokens (and the generator's
                state after) are those of decoding the whole batch (scheduled sampling decodes only
                the rows that sample, :func:`~.hierarchical.scheduled_logits`).
        Returns:
            logits (B, S, D) and the sampled tokens (B, S, K).

        All the sampling noise is drawn before the first step (:func:`gumbel_noise`), by both
        paths, so the inference path draws the same tokens as this reference loop.
        """
        if self.inference_path(targets):
            return self._generate(c, first, steps, temperature, generator)
        batch = first.shape[0]
        state = self.initial_state(c, batch)
        if noise_rows is None:
            noise = gumbel_noise((steps, batch, self.depth), temperature, generator, first.device)
        else:
            noise = gumbel_noise((steps, noise_rows[1], self.depth), temperature, generator, first.device)
            noise = None if noise is None else noise[:, noise_rows[0]]
        noise = self.biased(noise, steps, batch)
        inp = first
        logits_all, tokens_all = [], []
        for t in range(steps):
            x = self._inputs(inp.unsqueeze(1), c)  # (B, 1, D + C)
            out, state = self.lstm(x, state)
            logits = self.output(out[:, 0])  # (B, D)
            sampled = self.pick(logits, None if noise is None else noise[t])  # (B, K)
            logits_all.append(logits)
            tokens_all.append(sampled)
            fed = sampled
            if targets is not None and feed_sample is not None:
                fed = torch.where(feed_sample[:, t : t + 1], sampled, targets[:, t])
            inp = one_hot(fed.unsqueeze(1), self.vocab_sizes)[:, 0]
        return torch.stack(logits_all, dim=1), torch.stack(tokens_all, dim=1)

    def pick(self, logits: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """One step's tokens (B, K) from its logits (B, D) and noise, with :attr:`split_temperatures` when set
        (the key constraint's -inf biases go in before the split, so off-key notes take no share of the rhythm)."""
        if self.split_temperatures is not None:
            if self.token_bias is not None:
                logits = logits + self.token_bias.to(logits.device, logits.dtype)
            logits = split_temperature(logits, *self.split_temperatures, events=FIRST_NOTE_ON)
        return pick_tokens(logits, self.vocab_sizes, noise)

    def biased(self, noise: torch.Tensor | None, steps: int, batch: int) -> torch.Tensor | None:
        """Gumbel ``noise`` (S, B, D) (or None: argmax) plus :attr:`token_bias`, the key constraint's hook:
        ``argmax(logits + noise + bias)`` never picks a token whose bias is -inf, at no per-step cost."""
        bias = self.token_bias
        if bias is None:
            return noise
        bias = bias.to(self.output.weight.device, torch.float32)
        return bias.expand(steps, batch, -1) if noise is None else noise + bias

    def inference_path(self, targets: torch.Tensor | None = None) -> bool:
        """Whether :meth:`unroll` takes the hand-written inference loop (free running, no grad, eval)."""
        return targets is None and not torch.is_grad_enabled() and not self.lstm.training

    def _inference_weights(self):
        """The weights :meth:`_generate` reads, rearranged once and cached until a parameter changes.

        ``w_tok`` (D, 4H) is the one-hot part of the first layer's input weights, transposed
        and made contiguous: a row lookup in it is one contiguous read, where the same
        lookup in a transposed view gathers 4H strided floats (measured 47 us per step, a
        tenth of a 16-bar sample). The per-step products are :class:`FrozenLinear` maps (fp16
        in L2 cache when lossless): the first layer's recurrent weights, each upper layer's
        input and recurrent weights side by side (one product of ``[x, h]``), and the output
        layer. The cache key is every parameter's storage and version counter, which in-place
        updates (optimiser steps, ``load_state_dict``) bump.
        """
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in self.parameters())
        cached = getattr(self, "_fast_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        lstm, D = self.lstm, self.depth
        w_ih = [getattr(lstm, f"weight_ih_l{i}").detach() for i in range(self.num_layers)]
        w_hh = [getattr(lstm, f"weight_hh_l{i}").detach() for i in range(self.num_layers)]
        bias = [(getattr(lstm, f"bias_ih_l{i}") + getattr(lstm, f"bias_hh_l{i}")).detach()
                for i in range(self.num_layers)]
        g2 = gate_scale(self.hidden_size, w_ih[0])  # (4H,): LSTMStepper reads the g gates doubled
        w_ih, w_hh, bias = [w * g2[:, None] for w in w_ih], [w * g2[:, None] for w in w_hh], [b * g2 for b in bias]
        value = {
            "w_tok": w_ih[0][:, :D].t().contiguous(),  # (D, 4H): row d is the first layer's input weight of one-hot d
            "w_cond": w_ih[0][:, D:].contiguous(),  # (4H, C)
            "bias0": bias[0],
            "offsets": torch.tensor([0, *self.vocab_sizes[:-1]], device=w_ih[0].device).cumsum(0),  # (K,)
            "layers": [FrozenLinear(w_hh[0])] + [FrozenLinear(torch.cat([w_ih[i], w_hh[i]], dim=1), bias[i])
                                                 for i in range(1, self.num_layers)],
            "output": FrozenLinear(self.output.weight, self.output.bias),
        }
        self._fast_cache = (key, value)
        return value

    def prepare(self, c: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the inference loop needs of ``c`` (B, C): initial (h, c), each (L, B, H), and the
        constant part of the first layer's gates, ``W_c c + b`` (B, 4H). A hierarchical decoder
        prepares all its segments in one call instead of one small product per segment."""
        w = self._inference_weights()
        h0, c0 = self.initial_state(c, batch)
        if self.cond_size and c is not None:
            const0 = F.linear(c, w["w_cond"], w["bias0"])  # (B, 4H)
        else:
            const0 = w["bias0"].expand(batch, -1)
        return h0, c0, const0

    def _generate(self, c, first, steps, temperature, generator):
        """Free-running inference, the same numbers as :meth:`unroll` at a fraction of the cost.

        The LSTM equations are written out so that (a) the constant conditioning part of
        the first layer's input, ``W_c c + b``, is computed once instead of every step,
        (b) the one-hot part becomes a row lookup instead of a matmul, and (c) the three
        per-step products read weights that stay in cache (:class:`FrozenLinear`). At batch 1
        a step is these products plus per-op overhead, so this is what makes ``sample`` fast
        on a CPU.
        """
        prepared = self.prepare(c, first.shape[0])
        noise = gumbel_noise((steps, first.shape[0], self.depth), temperature, generator, first.device)
        return self.decode_prepared(first, steps, prepared, noise)

    def decode_prepared(
        self, first: torch.Tensor, steps: int, prepared: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        noise: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The inference loop of :meth:`_generate` on :meth:`prepare`'s output and Gumbel ``noise``
        (S, B, D) drawn by the caller (None: argmax). first (B, D) -> logits (B, S, D), tokens (B, S, K)."""
        batch = first.shape[0]
        noise = self.biased(noise, steps, batch)
        w = self._inference_weights()
        h0, c0, const0 = prepared
        lstm = LSTMStepper(w["layers"], h0, c0)
        noise_at = noise.unbind(0) if noise is not None else [None] * steps  # views made in one call
        w_tok, offsets, output = w["w_tok"], w["offsets"], w["output"]
        # batch 1, one stream: a token's input term is a row view of w_tok (no lookup op). A
        # precomputed table w_tok + const0 would save the addition, but it is an op per segment
        # large enough to run on every intra-op thread, and was slower at two threads (measured).
        row_view = batch == 1 and len(self.vocab_sizes) == 1
        const_row = const0[0]  # (4H,)
        # the first input may be any one-hot (or zeros); a (B, D) @ (D, 4H) product reads all of
        # w_tok and costs ~200 us at batch 1, once per segment
        if row_view:
            d = int(first[0].argmax())
            bias = const_row + first[0, d] * w_tok[d]  # (4H,)
        else:
            bias = const0 + first @ w_tok  # (B, 4H)
        logits_all, tokens_all = [], []
        for t in range(steps):
            x = lstm.step(bias)  # (B, H)
            logits = output(x)  # (B, D)
            sampled = self.pick(logits, noise_at[t])  # (B, K)
            logits_all.append(logits)
            tokens_all.append(sampled)
            # one-hot input @ weights == the sum of one weight row per stream
            if row_view:
                bias = const_row + w_tok[int(sampled)]  # (4H,)
            else:
                bias = const0 + w_tok[sampled + offsets].sum(dim=1)  # (B, K, 4H) -> (B, 4H)
        return torch.stack(logits_all, dim=1), torch.stack(tokens_all, dim=1)


def shift_right(x: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> the same with a zero step first and the last step dropped (previous-token inputs)."""
    return F.pad(x, (0, 0, 1, 0))[:, :-1]
