"""Decode-time controls on a model's ``CoreDecoder`` s: the key constraint and the rhythm temperature.

The key constraint: decode only notes of a scale (mask the logits of the other note-ons).

Place in the flow: ``music.scales`` (a key's pitch classes) + a model's representation ->
per-stream logit biases (0 or -inf per token) -> set on the model's ``CoreDecoder`` s
(:attr:`~musicvae.models.modules.decoders.CoreDecoder.token_bias`) for the duration of one
decode -> tokens whose note-ons all lie in the scale.

Only note-ons of melodic streams are masked: "no event" (hold / rest) and note-off stay
allowed, drum streams are untouched. A representation with no melodic stream (drums) or a
decoder without ``CoreDecoder`` s (MusAE's multitrack decoder, VRASH) refuses a key with one
line rather than silently ignoring it.

The rhythm temperature (:func:`split_rhythm`): a one-stream melody decoder draws hold / note-off /
note-on at one temperature and the note-on's pitch at another
(:func:`~musicvae.models.distributions.split_temperature`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from ..models.modules.decoders import CoreDecoder
from ..music.scales import Key, ScaleError, parse_key
from ..representations.streams import FIRST_NOTE_ON, MelodyStream
from .windows import InputError, input_errors

_LOCK = threading.RLock()  # the bias lives on shared modules: one keyed decode at a time per process


def read_key(key: str | Key | None) -> Key | None:
    """``--key`` text -> :class:`Key` (None stays None); a bad name is an :class:`InputError`."""
    if key is None or (isinstance(key, str) and not key.strip()):
        return None
    with input_errors(ScaleError):
        return parse_key(key)


def stream_biases(streams, key: Key) -> list[np.ndarray]:
    """One ``(V_k,)`` float32 bias per stream: -inf on note-ons outside ``key``, 0 elsewhere."""
    out = []
    for stream in streams:
        bias = np.zeros(stream.vocab_size, dtype=np.float32)
        if isinstance(stream, MelodyStream):
            pitches = np.arange(stream.min_pitch, stream.max_pitch + 1)
            outside = ~np.isin(pitches % 12, sorted(key.pitch_classes))
            bias[FIRST_NOTE_ON + np.flatnonzero(outside)] = -np.inf
        out.append(bias)
    return out


def _core_biases(model: torch.nn.Module, biases: list[np.ndarray]) -> list[tuple[CoreDecoder, torch.Tensor]]:
    """Which bias each of the model's core decoders gets (a hierarchical decoder's cores: their stream groups)."""
    decoder = getattr(model, "decoder", None)
    groups = getattr(decoder, "groups", None)
    if groups is not None and hasattr(decoder, "cores"):
        return [(core, torch.from_numpy(np.concatenate([biases[k] for k in g]))) for core, g in zip(decoder.cores, groups)]
    full = torch.from_numpy(np.concatenate(biases))
    return [(m, full) for m in model.modules() if isinstance(m, CoreDecoder) and m.depth == full.numel()]


def takes_key(model: torch.nn.Module, streams) -> bool:
    """Whether :func:`constrained` can act on ``model`` (it has melodic streams and decoder cores to bias)."""
    return any(isinstance(s, MelodyStream) for s in streams) and bool(
        _core_biases(model, [np.zeros(s.vocab_size, np.float32) for s in streams]))


@contextmanager
def constrained(model: torch.nn.Module, streams, key: str | Key | None, name: str = "model") -> Iterator[Key | None]:
    """Within the block, ``model`` decodes only notes of ``key`` (None: no constraint, nothing changes)."""
    parsed = read_key(key)
    if parsed is None:
        yield None
        return
    if not any(isinstance(s, MelodyStream) for s in streams):
        raise InputError(f"{name}: a key constrains melodic notes; this model has none (drums)")
    pairs = _core_biases(model, stream_biases(streams, parsed))
    if not pairs:
        raise InputError(f"{name}: --key works with MusicVAE-style decoders; this model's decoder takes no key")
    with _LOCK:
        try:
            for core, bias in pairs:
                core.token_bias = bias
            yield parsed
        finally:
            for core, _ in pairs:
                core.token_bias = None


def _rhythm_cores(model: torch.nn.Module, streams) -> list[CoreDecoder]:
    """The core decoders :func:`split_rhythm` acts on: those of a one-stream melody model (else none)."""
    if len(streams) != 1 or not isinstance(streams[0], MelodyStream):
        return []
    return [m for m in model.modules() if isinstance(m, CoreDecoder) and m.vocab_sizes == (streams[0].vocab_size,)]


def takes_rhythm(model: torch.nn.Module, streams) -> bool:
    """Whether :func:`split_rhythm` can act on ``model`` (one melody stream, decoded step by step)."""
    return bool(_rhythm_cores(model, streams))


@contextmanager
def split_rhythm(model: torch.nn.Module, streams, temperature: float, rhythm_temperature: float | None,
                 name: str = "model") -> Iterator[float]:
    """Within the block, ``model``'s melody decoder draws the rhythm at ``rhythm_temperature`` and the pitches at
    ``temperature``; yields the temperature to decode with (1: the split logits take temperature-1 noise).
    Nothing changes (``temperature`` is yielded) when ``rhythm_temperature`` is None or ``temperature`` is 0
    (argmax stays the plain argmax)."""
    if rhythm_temperature is None or temperature <= 0:
        yield temperature
        return
    if rhythm_temperature <= 0:
        raise InputError(f"{name}: the rhythm temperature must be above 0, got {rhythm_temperature:g}")
    cores = _rhythm_cores(model, streams)
    if not cores:
        raise InputError(f"{name}: a rhythm temperature works with one-stream melody models whose decoder samples "
                         "step by step; this model has none")
    with _LOCK:
        try:
            for core in cores:
                core.split_temperatures = (float(temperature), float(rhythm_temperature))
            yield 1.0
        finally:
            for core in cores:
                core.split_temperatures = None
