"""magenta's MusicVAE variables -> our modules: which configs map, and how every tensor is rearranged.

Place in the flow: ``{TF variable name: array}`` (from :mod:`.tf_bundle`) -> :func:`convert` ->
``(Config, representation, state_dict)`` -> ``models.builders.build_model`` -> a model dir.

What differs between magenta's graph (``lstm_models.py``, ``lstm_utils.py``) and ours:

* **LSTM cells.** magenta's ``LSTMBlockCell`` keeps one kernel ``[input + hidden, 4H]`` (inputs
  first, then the recurrent state) and one bias ``[4H]``, gates in the order i, c (the cell
  input, PyTorch's g), f, o, and adds a forget bias of 1.0 at run time. PyTorch's ``nn.LSTM``
  has ``weight_ih [4H, input]``, ``weight_hh [4H, H]`` and two biases, gates i, f, g, o. So the
  kernel's columns are permuted (i, c, f, o) -> (i, f, c, o), transposed and split; the bias is
  permuted with 1.0 added to its f block; ``bias_hh`` is zero.
* **Initial states.** ``initial_cell_state_from_embedding`` maps z (or a conductor output) to
  the flattened ``MultiRNNCell`` state, layer by layer ``(c, h)``; ours lays it out as
  ``(h of every layer, c of every layer)``: the dense layer's columns are permuted.
* **Encoder.** ``stack_bidirectional_dynamic_rnn`` over one single-cell stack per direction and
  layer (``encoder/cell_L/bidirectional_rnn/{fw,bw}/...``); layer L+1 reads [fw, bw] outputs, as
  ``nn.LSTM(bidirectional=True)``'s ``_l{L}`` and ``_l{L}_reverse`` weights do. Drum models read a
  9-class roll plus a "no hit" flag; our encoders read the 512-class one-hot, so the first
  layer's input rows become ``roll(class) @ W`` for each of the 512 classes: the same product
  for every input.
* **Decoders.** A step's input is [previous tokens' one-hot, z or conductor embedding], as ours.
  The conductor (``decoder/hierarchical_level_0``) reads a constant zero input of width 1, as our
  :class:`~musicvae.models.modules.conductor.Conductor`. ``hierdec-trio_16bar`` has one core
  decoder per instrument (``core_decoder/core_decoder_K``), ``flat-trio_16bar`` one LSTM with three
  softmaxes (one output layer of 90 + 90 + 512 columns).
* **Vocabularies.** Melodies: 90 classes (no event, note-off, MIDI pitches 21-108), the same token
  order as our 130-class melodies over a narrower range. Drums: 512 classes, bit k of the class
  for drum class k (kick, snare, closed hat, open hat, low, mid, high tom, crash, ride), mapped
  from GM pitches with the 2018 table the published checkpoints were trained with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import Config
from ...presets import PRESETS
from ...representations import get_converter


class MappingError(ValueError):
    """A checkpoint that does not hold the named config's variables."""


@dataclass(frozen=True)
class MagentaConfig:
    name: str
    kind: str  # melody | drums | trio
    decoder: str  # flat | hierarchical
    encoder_layers: int
    decoder_layers: int
    split: bool  # one core decoder per instrument (hierdec-trio)
    published: tuple[int, int, int]  # (encoder, decoder, z) sizes of magenta's config

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return {"melody": (90,), "drums": (512,), "trio": (90, 90, 512)}[self.kind]

    @property
    def roll_input(self) -> bool:
        return self.kind == "drums"


CONFIGS: dict[str, MagentaConfig] = {c.name: c for c in [
    MagentaConfig("cat-mel_2bar_small", "melody", "flat", 1, 2, False, (512, 256, 256)),
    MagentaConfig("cat-mel_2bar_big", "melody", "flat", 1, 3, False, (2048, 2048, 512)),
    MagentaConfig("cat-drums_2bar_small", "drums", "flat", 1, 2, False, (512, 256, 256)),
    MagentaConfig("cat-drums_2bar_big", "drums", "flat", 1, 3, False, (2048, 2048, 512)),
    MagentaConfig("flat-mel_16bar", "melody", "flat", 2, 3, False, (2048, 2048, 512)),
    MagentaConfig("hierdec-mel_16bar", "melody", "hierarchical", 2, 2, False, (2048, 1024, 512)),
    MagentaConfig("flat-trio_16bar", "trio", "flat", 2, 3, False, (2048, 2048, 512)),
    MagentaConfig("hierdec-trio_16bar", "trio", "hierarchical", 2, 2, True, (2048, 1024, 512)),
]}
# published checkpoints whose file names are not a config name
ALIASES = {"cat-drums_2bar_small.lokl": "cat-drums_2bar_small", "cat-drums_2bar_small.hikl": "cat-drums_2bar_small",
           "mel_2bar_big": "cat-mel_2bar_big"}
# magenta configs we know and do not import, with the reason
REFUSED = {
    "groovae": "GrooVAE models drum hits with velocities and timing offsets, a representation musicvae does not have",
    "multiperf": "multi-instrument performance models use event-based performances, which musicvae does not have",
    "hier-": "its hierarchical encoder is not implemented here (only the hierarchical decoder, hierdec-*)",
    "nade-": "its NADE decoder is not implemented here",
    "_chords": "chord-conditioned models are not supported",
}
IGNORED_SUFFIXES = ("/Adam", "/Adam_1", "/ExponentialMovingAverage")
IGNORED = {"global_step", "beta1_power", "beta2_power"}
MELODY_RANGE = (21, 108)
DRUM_MAPPING = "2018"
FORGET_BIAS = 1.0


def resolve(name: str) -> MagentaConfig:
    """The supported config called ``name`` (or a published checkpoint's alias), else a one-line refusal."""
    key = ALIASES.get(name, name)
    if key in CONFIGS:
        return CONFIGS[key]
    for pattern, why in REFUSED.items():
        if pattern in key:
            raise MappingError(f"magenta config {name!r} is not supported: {why}")
    raise MappingError(f"unknown magenta config {name!r}; supported: {', '.join(CONFIGS)}")


def guess_config(filename: str) -> str | None:
    """A config name from a published file name (``hierdec-trio_16bar.tar`` -> ``hierdec-trio_16bar``)."""
    base = filename
    for suffix in (".tar", ".index", ".ckpt"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    base = base.split(".ckpt")[0]
    return base if base in CONFIGS or base in ALIASES else None


# --------------------------------------------------------------------------- names and shapes


def _cell(prefix: str, inputs: int, units: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}/kernel": (inputs + units, 4 * units), f"{prefix}/bias": (4 * units,)}


def _dense(prefix: str, inputs: int, outputs: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}/kernel": (inputs, outputs), f"{prefix}/bias": (outputs,)}


def _decoder_scope(cfg: MagentaConfig, k: int = 0) -> str:
    if cfg.decoder == "flat":
        return "decoder"
    return f"core_decoder/core_decoder_{k}/decoder" if cfg.split else "core_decoder/decoder"


def encoder_cell(layer: int, direction: str) -> str:
    return f"encoder/cell_{layer}/bidirectional_rnn/{direction}/multi_rnn_cell/cell_0/lstm_cell"


def expected_variables(cfg: MagentaConfig, enc: int, dec: int, z: int) -> dict[str, tuple[int, ...]]:
    """Every variable magenta's graph for ``cfg`` creates at these sizes, with its shape."""
    vocab = cfg.vocab_sizes
    enc_in = 10 if cfg.roll_input else sum(vocab)
    out: dict[str, tuple[int, ...]] = {}
    for layer in range(cfg.encoder_layers):
        for direction in ("fw", "bw"):
            out.update(_cell(encoder_cell(layer, direction), enc_in if layer == 0 else 2 * enc, enc))
    out.update(_dense("encoder/mu", 2 * enc, z))
    out.update(_dense("encoder/sigma", 2 * enc, z))
    if cfg.decoder == "flat":
        groups, cond = [vocab], z
    else:
        groups, cond = ([(v,) for v in vocab] if cfg.split else [vocab]), dec
        out.update(_dense("decoder/hierarchical_level_0/initial_state", z, 2 * cfg.decoder_layers * dec))
        for layer in range(cfg.decoder_layers):
            out.update(_cell(f"decoder/hierarchical_level_0/cell_{layer}/lstm_cell", 1 if layer == 0 else dec, dec))
    for k, group in enumerate(groups):
        scope = _decoder_scope(cfg, k)
        out.update(_dense(f"{scope}/z_to_initial_state", cond, 2 * cfg.decoder_layers * dec))
        for layer in range(cfg.decoder_layers):
            out.update(_cell(f"{scope}/multi_rnn_cell/cell_{layer}/lstm_cell",
                             sum(group) + cond if layer == 0 else dec, dec))
        out.update(_dense(f"{scope}/output_projection", dec, sum(group)))
    return out


def infer_sizes(cfg: MagentaConfig, shapes: dict[str, tuple[int, ...]]) -> tuple[int, int, int]:
    """(encoder units, decoder units, z size) read off three anchor variables."""
    anchors = (f"{encoder_cell(0, 'fw')}/bias", "encoder/mu/bias",
               f"{_decoder_scope(cfg)}/output_projection/kernel")
    for name in anchors:
        if name not in shapes:
            raise MappingError(f"variable {name} missing: this is not a {cfg.name} checkpoint")
    enc, z, dec = (shapes[name] for name in anchors)
    if len(enc) != 1 or enc[0] % 4 or len(z) != 1 or len(dec) != 2:
        raise MappingError(f"unexpected anchor shapes {enc}, {z}, {dec}: this is not a {cfg.name} checkpoint")
    return enc[0] // 4, dec[0], z[0]


def check_variables(cfg: MagentaConfig, shapes: dict[str, tuple[int, ...]]) -> tuple[int, int, int]:
    """Sizes of a checkpoint of ``cfg``; raises :class:`MappingError` naming the first mismatch."""
    sizes = infer_sizes(cfg, shapes)
    want = expected_variables(cfg, *sizes)
    for name in sorted(want):
        if name not in shapes:
            raise MappingError(f"variable {name} missing: not a {cfg.name} checkpoint")
        if tuple(shapes[name]) != want[name]:
            raise MappingError(f"variable {name} has shape {tuple(shapes[name])}, {cfg.name} needs {want[name]}")
    for name in sorted(shapes):
        if name not in want and name not in IGNORED and not name.endswith(IGNORED_SUFFIXES):
            raise MappingError(f"unexpected variable {name}: not a {cfg.name} checkpoint")
    return sizes


# --------------------------------------------------------------------------- tensor conversion


def lstm_weights(kernel: np.ndarray, bias: np.ndarray, inputs: int) -> tuple[np.ndarray, ...]:
    """LSTMBlockCell ``kernel [in + H, 4H]``, ``bias [4H]`` -> PyTorch ``(w_ih, w_hh, b_ih, b_hh)``."""
    H = kernel.shape[1] // 4
    i, c, f, o = (slice(k * H, (k + 1) * H) for k in range(4))
    order = np.r_[i, f, c, o]
    w = kernel[:, order].T  # (4H, in + H), rows i, f, g, o
    b = bias[order].copy()
    b[H:2 * H] += np.asarray(FORGET_BIAS, dtype=b.dtype)  # in the weights' precision, as TF adds it
    return w[:, :inputs].copy(), w[:, inputs:].copy(), b, np.zeros_like(b)


def state_permutation(layers: int, units: int) -> np.ndarray:
    """Column order that turns magenta's flattened ``[(c, h) per layer]`` into our ``[h per layer, c per layer]``."""
    cols = []
    for which in (1, 0):  # ours: h first (magenta's index 1 within a layer), then c
        for layer in range(layers):
            start = (2 * layer + which) * units
            cols.append(np.arange(start, start + units))
    return np.concatenate(cols)


def roll_matrix(classes: int = 9) -> np.ndarray:
    """``(2**classes, classes + 1)``: the drum roll magenta's encoder reads for each one-hot class."""
    ids = np.arange(2 ** classes)
    bits = (ids[:, None] >> np.arange(classes)) & 1
    return np.concatenate([bits, (ids == 0)[:, None]], axis=1).astype(np.float64)


def _dense_to_linear(w: dict, prefix: str, out: dict, key: str, perm: np.ndarray | None = None) -> None:
    kernel, bias = w[f"{prefix}/kernel"], w[f"{prefix}/bias"]
    if perm is not None:
        kernel, bias = kernel[:, perm], bias[perm]
    out[f"{key}.weight"] = kernel.T.copy()
    out[f"{key}.bias"] = bias.copy()


def _lstm(w: dict, prefix: str, out: dict, key: str, layer: int, inputs: int, suffix: str = "",
          input_map: np.ndarray | None = None) -> None:
    kernel, bias = w[f"{prefix}/kernel"], w[f"{prefix}/bias"]
    if input_map is not None:  # rows of the input part re-expressed over our one-hot inputs
        mapped = (input_map @ kernel[:inputs].astype(np.float64)).astype(kernel.dtype)  # sums of <= 10 rows
        kernel = np.concatenate([mapped, kernel[inputs:]], axis=0)
        inputs = input_map.shape[0]
    w_ih, w_hh, b_ih, b_hh = lstm_weights(kernel, bias, inputs)
    for name, value in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
        out[f"{key}.{name}_l{layer}{suffix}"] = value


def model_config(cfg: MagentaConfig, enc: int, dec: int, z: int) -> Config:
    """Our preset of the same name, at the checkpoint's sizes."""
    config = PRESETS[cfg.name].copy()
    m = config.model
    m.encoder_hidden, m.encoder_layers, m.z_size = enc, cfg.encoder_layers, z
    m.decoder_hidden, m.decoder_layers = dec, cfg.decoder_layers
    m.conductor_hidden, m.conductor_layers = dec, cfg.decoder_layers  # magenta's conductor uses dec_rnn_size
    m.decoder, m.split_streams = cfg.decoder, cfg.split
    m.sigma_activation, m.dropout = "softplus", 0.0
    config.preset = cfg.name
    return config


def representation(cfg: MagentaConfig) -> dict:
    lo, hi = MELODY_RANGE
    if cfg.kind == "melody":
        conv = get_converter("melody", min_pitch=lo, max_pitch=hi)
    elif cfg.kind == "drums":
        conv = get_converter("drums", mapping=DRUM_MAPPING)
    else:
        conv = get_converter("trio", min_pitch=lo, max_pitch=hi, drum_mapping=DRUM_MAPPING)
    rep = conv.config()
    if tuple(rep["vocab_sizes"]) != cfg.vocab_sizes:  # guards the table above against the converters
        raise AssertionError(f"{cfg.name}: converter vocabulary {rep['vocab_sizes']} != {cfg.vocab_sizes}")
    return rep


def convert(cfg: MagentaConfig, weights: dict[str, np.ndarray]) -> tuple[Config, dict, dict[str, np.ndarray]]:
    """``(config, representation, state_dict as float32 arrays)`` for ``weights`` of ``cfg``."""
    shapes = {k: tuple(v.shape) for k, v in weights.items()}
    enc, dec, z = check_variables(cfg, shapes)
    wanted = expected_variables(cfg, enc, dec, z)
    w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items() if k in wanted}
    out: dict[str, np.ndarray] = {}
    vocab = cfg.vocab_sizes
    enc_in = 10 if cfg.roll_input else sum(vocab)
    for layer in range(cfg.encoder_layers):
        for direction, suffix in (("fw", ""), ("bw", "_reverse")):
            roll = roll_matrix() if (cfg.roll_input and layer == 0) else None
            _lstm(w, encoder_cell(layer, direction), out, "encoder.lstm", layer,
                  enc_in if layer == 0 else 2 * enc, suffix, roll)
    _dense_to_linear(w, "encoder/mu", out, "encoder.to_mu")
    _dense_to_linear(w, "encoder/sigma", out, "encoder.to_sigma")
    perm = state_permutation(cfg.decoder_layers, dec)
    if cfg.decoder == "flat":
        cores, cond = [("decoder.core", _decoder_scope(cfg), vocab)], z
    else:
        cond = dec
        _dense_to_linear(w, "decoder/hierarchical_level_0/initial_state", out, "decoder.conductor.init_state", perm)
        for layer in range(cfg.decoder_layers):
            _lstm(w, f"decoder/hierarchical_level_0/cell_{layer}/lstm_cell", out, "decoder.conductor.lstm", layer,
                  1 if layer == 0 else dec)
        groups = [(v,) for v in vocab] if cfg.split else [vocab]
        cores = [(f"decoder.cores.{k}", _decoder_scope(cfg, k), g) for k, g in enumerate(groups)]
    for key, scope, group in cores:
        _dense_to_linear(w, f"{scope}/z_to_initial_state", out, f"{key}.init_state", perm)
        for layer in range(cfg.decoder_layers):
            _lstm(w, f"{scope}/multi_rnn_cell/cell_{layer}/lstm_cell", out, f"{key}.lstm", layer,
                  sum(group) + cond if layer == 0 else dec)
        _dense_to_linear(w, f"{scope}/output_projection", out, f"{key}.output")
    config = model_config(cfg, enc, dec, z)
    return config, representation(cfg), {k: v.astype(np.float32) for k, v in out.items()}
