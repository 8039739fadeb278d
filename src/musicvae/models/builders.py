"""The one place that reads a config and composes a model (as audiocraft's ``builders.py``).

Place in the flow: :class:`~musicvae.config.Config` + the dataset's vocabulary ->
:func:`build_model` -> ``MusicVAE(BidirectionalEncoder(...), HierarchicalDecoder(...))``,
``MusicLM(...)`` or ``MusAE(BidirectionalEncoder(...), MultiTrackDecoder(...), prior, Critic(...))``.
Modules themselves take plain keyword arguments and never see a config.
"""

from __future__ import annotations

from torch import nn

from ..config import Config, ConfigError
from .modules.conductor import Conductor
from .modules.critic import Critic
from .modules.decoders import CoreDecoder
from .modules.encoder import BidirectionalEncoder
from .modules.hierarchical import FlatDecoder, HierarchicalDecoder
from .modules.priors import FlowerPrior, GaussianPrior
from .musae import MultiTrackDecoder, MusAE
from .musicvae import MusicLM, MusicVAE

FAMILIES = ("musicvae", "lm", "musae")
PRIORS = ("gauss", "flower")
# VRASH and its baselines on note events (data.kind="notes"): family -> models.vrash kind
NOTE_FAMILIES = {"note_lm": "lm", "note_vae": "vae", "vrash": "vrash"}


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


def build_prior(config: Config) -> nn.Module:
    """MusAE's latent prior: ``N(0, I)`` (``gauss``) or the flower mixture (``flower``)."""
    m, z_size = config.musae, config.model.z_size
    if m.prior == "gauss":
        return GaussianPrior(z_size)
    if m.prior == "flower":
        if z_size < 2 or m.components < 1:
            raise ConfigError(f"the flower prior needs z_size >= 2 and components >= 1 "
                              f"(got z_size={z_size}, components={m.components})")
        return FlowerPrior(z_size, components=m.components, radial_variance=m.prior_radial_variance,
                           tangential_variance=m.prior_tangential_variance, radius=m.prior_radius)
    raise ConfigError(f"unknown prior {m.prior!r} ({' or '.join(PRIORS)})")


def build_musae(config: Config, vocab_sizes: tuple[int, ...]) -> MusAE:
    """MusAE: bidirectional encoder, one LSTM per stream, prior and WGAN-GP critic on z."""
    m, a = config.model, config.musae
    encoder = BidirectionalEncoder(input_size=sum(vocab_sizes), hidden_size=m.encoder_hidden,
                                   num_layers=m.encoder_layers, z_size=m.z_size, state_norm=a.encoder_norm,
                                   sigma_activation=m.sigma_activation, dropout=m.dropout)
    decoder = MultiTrackDecoder(z_size=m.z_size, vocab_sizes=vocab_sizes, hidden_size=m.decoder_hidden,
                                num_layers=m.decoder_layers, steps=config.steps_per_window,
                                steps_per_bar=config.steps_per_window // config.data.bars,
                                position_input=a.position_input, dropout=m.dropout)
    label_classes = a.components if a.prior == "flower" and a.label_critic else 0  # petals, read as a one-hot
    critic = Critic(m.z_size, hidden=a.critic_hidden, layers=a.critic_layers, label_classes=label_classes)
    return MusAE(encoder, decoder, build_prior(config), critic, stochastic=a.stochastic_encoder)


def build_note_model_from_config(config: Config, vocab_sizes: tuple[int, ...]) -> nn.Module:
    """``NoteLM`` / ``NoteVAE`` / ``VRASH`` (``models.vrash``) over note factors ``(pitch class, octave, duration)``."""
    from .vrash import build_note_model

    m, n = config.model, config.notes
    if len(vocab_sizes) != 3:
        raise ConfigError(f"{m.family} reads note events (3 factors), not {len(vocab_sizes)} token stream(s): "
                          f"prepare with --kind notes")
    kwargs = dict(pitch_size=n.pitch_size, octave_size=n.octave_size, duration_size=n.duration_size,
                  instrument_size=n.instrument_size, collections=n.collections, collection_size=n.collection_size,
                  hidden_size=m.decoder_hidden, num_layers=m.decoder_layers, z_size=m.z_size,
                  encoder_hidden=m.encoder_hidden, encoder_layers=m.encoder_layers, position_size=n.position_size,
                  history_dropout=n.history_dropout, dropout=m.dropout, cell=n.decoder_cell,
                  highway_depth=n.highway_depth)
    try:
        return build_note_model(NOTE_FAMILIES[m.family], vocab_sizes=tuple(vocab_sizes), **kwargs)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def build_model(config: Config, vocab_sizes: tuple[int, ...]) -> nn.Module:
    """A MusicVAE, LSTM LM or MusAE for windows of ``config.data.bars`` bars over ``vocab_sizes`` streams."""
    m = config.model
    vocab_sizes = tuple(int(v) for v in vocab_sizes)
    if m.family == "lm":
        return MusicLM(build_decoder(config, vocab_sizes, cond_size=0))
    if m.family == "musae":
        return build_musae(config, vocab_sizes)
    if m.family in NOTE_FAMILIES:
        return build_note_model_from_config(config, vocab_sizes)
    if m.family == "mcvae":  # the composer is built from a trained bar VAE's codes (training.composer)
        raise ConfigError(f"preset {config.preset} is an MCVAE composer over a bar VAE's codes: train it with "
                          f"`musicvae train --preset {config.preset} --data BARS_DIR --vae RUN_DIR` "
                          f"(RUN_DIR: a bar VAE trained with --preset mcvae-bar_*)")
    if m.family != "musicvae":
        raise ConfigError(f"unknown model family {m.family!r} ({', '.join(FAMILIES)})")
    encoder = BidirectionalEncoder(input_size=sum(vocab_sizes), hidden_size=m.encoder_hidden,
                                   num_layers=m.encoder_layers, z_size=m.z_size,
                                   sigma_activation=m.sigma_activation, dropout=m.dropout)
    return MusicVAE(encoder, build_decoder(config, vocab_sizes, cond_size=m.z_size))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
