"""The one place that reads a config and composes a model (as audiocraft's ``builders.py``).

Place in the flow: :class:`~musicvae.config.Config` + the dataset's vocabulary ->
:func:`build_model` -> ``MusicVAE(BidirectionalEncoder(...), HierarchicalDecoder(...))``.
Modules themselves take plain keyword arguments and never see a config.
"""

from __future__ import annotations

from torch import nn

from ..config import Config, ConfigError
from .modules.conductor import Conductor
from .modules.decoders import CoreDecoder
from .modules.encoder import BidirectionalEncoder
from .modules.hierarchical import FlatDecoder, HierarchicalDecoder
from .musicvae import MusicLM, MusicVAE


def build_decoder(config: Config, vocab_sizes: tuple[int, ...], cond_size: int) -> nn.Module:
    m = config.model
    steps = config.steps_per_window
    if m.decoder == "flat":
        core = CoreDecoder(vocab_sizes=vocab_sizes, hidden_size=m.decoder_hidden, num_layers=m.decoder_layers,
                           cond_size=cond_size, dropout=m.dropout)
        return FlatDecoder(core, steps)
    if m.decoder == "hierarchical":
        if cond_size == 0:
            raise ConfigError("a hierarchical decoder needs a latent code (family=musicvae)")
        groups = [[k] for k in range(len(vocab_sizes))] if m.split_streams else [list(range(len(vocab_sizes)))]
        cores = [
            CoreDecoder(vocab_sizes=tuple(vocab_sizes[k] for k in g), hidden_size=m.decoder_hidden,
                        num_layers=m.decoder_layers, cond_size=m.conductor_hidden, dropout=m.dropout)
            for g in groups
        ]
        conductor = Conductor(z_size=cond_size, hidden_size=m.conductor_hidden, num_layers=m.conductor_layers,
                              segments=m.segments)
        return HierarchicalDecoder(conductor, cores, groups, steps)
    raise ConfigError(f"unknown decoder {m.decoder!r} (flat or hierarchical)")


def build_model(config: Config, vocab_sizes: tuple[int, ...]) -> nn.Module:
    """A MusicVAE (or LSTM LM) for windows of ``config.data.bars`` bars over ``vocab_sizes`` streams."""
    m = config.model
    vocab_sizes = tuple(int(v) for v in vocab_sizes)
    if m.family == "lm":
        return MusicLM(build_decoder(config, vocab_sizes, cond_size=0))
    if m.family != "musicvae":
        raise ConfigError(f"unknown model family {m.family!r} (musicvae or lm)")
    encoder = BidirectionalEncoder(input_size=sum(vocab_sizes), hidden_size=m.encoder_hidden,
                                   num_layers=m.encoder_layers, z_size=m.z_size,
                                   sigma_activation=m.sigma_activation, dropout=m.dropout)
    return MusicVAE(encoder, build_decoder(config, vocab_sizes, cond_size=m.z_size))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
