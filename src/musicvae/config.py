"""Configs as dataclasses, and ``--set key=value`` overrides that refuse unknown keys.

Place in the flow: presets (``presets.py``) -> :class:`Config` -> ``models.builders``
and ``training.trainer``; the resolved config travels inside each checkpoint
(``Config.to_dict`` / ``Config.from_dict``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelConfig:
    family: str = "musicvae"  # musicvae | lm | musae
    decoder: str = "flat"  # flat | hierarchical
    z_size: int = 256
    encoder_hidden: int = 512  # per direction
    encoder_layers: int = 1
    sigma_activation: str = "softplus"  # softplus (ICML) | exp (workshop)
    decoder_hidden: int = 256
    decoder_layers: int = 2
    conductor_hidden: int = 1024
    conductor_layers: int = 2
    segments: int = 1  # conductor steps (bars, or 2-bar segments)
    split_streams: bool = False  # one bottom decoder per instrument (hierdec-trio)
    dropout: float = 0.0
    # MusAE (family="musae"): per-track decoders take decoder_hidden/decoder_layers, z_size the code
    prior: str = "gauss"  # gauss (N(0, I)) | flower (Gaussian mixture, labels -> petals)
    components: int = 32  # flower petals
    prior_radius: float = 1.0
    prior_radial_variance: float = 0.1
    prior_tangential_variance: float = 0.001
    critic_hidden: int = 256
    critic_layers: int = 2  # tanh hidden layers
    position_input: bool = False  # MusAE decoders also read the step's place (step in bar, bar)
    encoder_norm: bool = False  # ours: layer-normalise the encoder's final states (MusAE _cpu presets)
    stochastic_encoder: bool = False  # MusAE: z = mu + sigma * eps while training (the paper; full presets)
    label_critic: bool = True  # with the flower prior, the critic also reads each example's petal
    # MCVAE composer (family="mcvae"): an LSTM over a 1-bar VAE's codes with a mixture-density head;
    # its code size comes from the bar VAE given with `train --vae RUN_DIR`
    composer_hidden: int = 512
    composer_layers: int = 2
    mixture_components: int = 10  # diagonal Gaussians over the next bar's code
    # VRASH and its baselines (families note_lm | note_vae | vrash, data.kind="notes"; models.vrash):
    # decoder_hidden/decoder_layers size the decoder LSTM, encoder_hidden/encoder_layers the
    # bidirectional encoder, z_size the code (the paper: 16); each note is the concatenation of
    # three factor embeddings, each track of an instrument-family and a source-collection one
    pitch_size: int = 16  # pitch-class embedding
    octave_size: int = 4
    duration_size: int = 8
    instrument_size: int = 4  # GM family (+ drums)
    collections: int = 32  # rows of the collection embedding (0 = unknown; more collections share row 0)
    collection_size: int = 4
    position_size: int = 8  # sinusoidal step features fed to the decoder
    history_dropout: float = 0.0  # VRASH: share of history inputs replaced while training (word dropout)
    decoder_cell: str = "lstm"  # VRASH family: "lstm" or "highway" (recurrent highway layers, the paper's cell)
    highway_depth: int = 3  # recurrence depth of the highway cells (not given in the VRASH paper: ours)


@dataclass
class DataConfig:
    kind: str = "melody"
    bars: int = 2
    transpose_low: int = -5
    transpose_high: int = 6
    augment: bool = True
    max_notes: int = 256  # notes data (VRASH family): tracks are cut to this many events (no end target) and samples too
    # multitrack windows the preset expects ("" = any): "per_track" = the MusAE paper's (every track
    # rests at most a bar, over the cross product of tracks: `prepare --window-rule per_track
    # --cross-product`), "mix" = ours; `train` prints a notice when the prepared data differ
    window_rule: str = ""


@dataclass
class TrainConfig:
    batch_size: int = 512
    steps: int = 50_000
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.9999
    max_beta: float = 0.2  # KL weight (VAE) or adversarial weight (MusAE) at the end of annealing
    beta_rate: float = 0.99999
    free_bits: float = 0.0
    free_bits_per_dim: bool = False
    grad_clip: float = 1.0
    # MusAE: WGAN-GP critic steps per autoencoder step; adversarial beta += beta_increment every beta_every steps
    critic_steps: int = 5
    critic_learning_rate: float = 1e-4
    gp_weight: float = 10.0
    beta_every: int = 10_000
    beta_increment: float = 0.1
    kl_warmup_steps: int = 0  # VRASH family: beta rises linearly 0 -> max_beta over these steps (0: max_beta throughout)
    reconstruction: str = "sum"  # MusAE: sum (nats per window) | per_step (CE averaged over steps, as MusAE's code)
    # MCVAE composer: songs of min_song_bars..max_song_bars bars (0: no upper limit) are encoded;
    # crop_bars > 0 trains on a random window of at most that many bars of each song
    crop_bars: int = 0
    min_song_bars: int = 16
    max_song_bars: int = 339  # the thesis: under 3 x 113 bars (three times the mean song length)
    sampling_schedule: str = "constant"  # constant | exponential | inverse_sigmoid
    sampling_rate: float = 0.0
    sampling_mode: str = "per_step"  # per_step | per_example
    # hierarchical decoders, teacher-forced steps: decode k random segments of each window per step and
    # scale their cross-entropy by segments / k (an unbiased estimate of the whole window's); 0 = all.
    # Ours (issue 17's lever), not the papers'; the conductor and encoder still read every segment
    segment_subset: int = 0
    log_every: int = 50
    eval_every: int = 500
    eval_batches: int = 4
    checkpoint_every: int = 1000
    keep_last: int = 3
    seed: int = 0
    num_workers: int = 0
    precision: str = "fp32"  # fp32 | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda
    # fine-tuning: start from the weights of an exported model dir (model.safetensors) or a
    # checkpoint step dir instead of a fresh initialisation; optimiser and schedules start at step 0
    init_from: str = ""
    # prior samples (N(0, I), T = 0.5) per periodic eval for the headline out-of-distribution rate
    # (``sample_ood_rate`` in metrics.jsonl; evaluation.train_realism, added by `musicvae train`); 0: off
    eval_samples: int = 32


@dataclass
class Config:
    preset: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def steps_per_window(self) -> int:
        return 16 * self.data.bars

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        return cls(
            preset=d.get("preset", "custom"),
            model=_section(ModelConfig, d.get("model", {}), "model"),
            data=_section(DataConfig, d.get("data", {}), "data"),
            train=_section(TrainConfig, d.get("train", {}), "train"),
        )

    def copy(self) -> "Config":
        return Config.from_dict(self.to_dict())


class ConfigError(ValueError):
    """A bad preset name or override (one-line message)."""


SECTIONS = ("model", "data", "train")


def _section(cls, values: dict, name: str):
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - fields
    if unknown:
        raise ConfigError(f"unknown {name} key(s): {', '.join(sorted(unknown))}")
    return cls(**values)


def _parse_value(raw: str, current: Any, key: str) -> Any:
    if isinstance(current, bool):
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {raw!r}")
    try:
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"{key}: expected a {type(current).__name__}, got {raw!r}") from None
    return raw


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``key=value`` overrides; ``key`` is ``section.field`` or an unambiguous ``field``."""
    config = config.copy()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        if "." in key:
            section, name = key.split(".", 1)
            if section not in SECTIONS:
                raise ConfigError(f"unknown config section {section!r} in {key!r} (sections: {', '.join(SECTIONS)})")
            candidates = [section] if hasattr(getattr(config, section), name) else []
        else:
            name = key
            candidates = [s for s in SECTIONS if hasattr(getattr(config, s), name)]
        if not candidates:
            raise ConfigError(f"unknown config key {key!r}")
        if len(candidates) > 1:
            raise ConfigError(f"ambiguous config key {key!r}: say {' or '.join(f'{s}.{name}' for s in candidates)}")
        section = getattr(config, candidates[0])
        setattr(section, name, _parse_value(raw, getattr(section, name), key))
    return config
