"""Configs as dataclasses, and ``--set key=value`` overrides that refuse unknown keys.

Place in the flow: presets (``presets.py``) -> :class:`Config` -> ``models.builders``
and ``training.trainer``; the resolved config travels inside each checkpoint
(``Config.to_dict`` / ``Config.from_dict``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelConfig:
    family: str = "musicvae"  # musicvae | lm | musae | mcvae | note_lm | note_vae | vrash (FAMILY_SECTION)
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


# ---- one section per family with settings of its own (``config.musae``, ``config.mcvae``, ``config.notes``);
# the shared sizes (z_size, encoder_*/decoder_*, dropout) and schedules stay in model/train


@dataclass
class MusAEConfig:
    """MusAE (family="musae"): per-track decoders take model.decoder_hidden/decoder_layers, z_size the code."""

    prior: str = "gauss"  # gauss (N(0, I)) | flower (Gaussian mixture, labels -> petals)
    components: int = 32  # flower petals
    prior_radius: float = 1.0
    prior_radial_variance: float = 0.1
    prior_tangential_variance: float = 0.001
    critic_hidden: int = 256
    critic_layers: int = 2  # tanh hidden layers
    position_input: bool = False  # decoders also read the step's place (step in bar, bar)
    encoder_norm: bool = False  # ours: layer-normalise the encoder's final states (MusAE _cpu presets)
    stochastic_encoder: bool = False  # z = mu + sigma * eps while training (the paper; full presets)
    label_critic: bool = True  # with the flower prior, the critic also reads each example's petal
    # training: WGAN-GP critic steps per autoencoder step; adversarial beta += beta_increment every beta_every steps
    critic_steps: int = 5
    critic_learning_rate: float = 1e-4
    gp_weight: float = 10.0
    beta_every: int = 10_000
    beta_increment: float = 0.1
    reconstruction: str = "sum"  # sum (nats per window) | per_step (CE averaged over steps, as MusAE's code)


@dataclass
class MCVAEConfig:
    """MCVAE composer (family="mcvae"): an LSTM over a 1-bar VAE's codes with a mixture-density head; its
    code size comes from the bar VAE given with ``train --vae RUN_DIR``."""

    composer_hidden: int = 512
    composer_layers: int = 2
    mixture_components: int = 10  # diagonal Gaussians over the next bar's code
    # songs of min_song_bars..max_song_bars bars (0: no upper limit) are encoded;
    # crop_bars > 0 trains on a random window of at most that many bars of each song
    crop_bars: int = 0
    min_song_bars: int = 16
    max_song_bars: int = 339  # the thesis: under 3 x 113 bars (three times the mean song length)


@dataclass
class NotesConfig:
    """VRASH and its baselines (families note_lm | note_vae | vrash, data.kind="notes"; models.vrash).

    model.decoder_hidden/decoder_layers size the decoder LSTM, encoder_hidden/encoder_layers the
    bidirectional encoder, z_size the code (the paper: 16); each note is the concatenation of three
    factor embeddings, each track of an instrument-family and a source-collection one."""

    max_notes: int = 256  # tracks are cut to this many events (no end target) and samples too
    pitch_size: int = 16  # pitch-class embedding
    octave_size: int = 4
    duration_size: int = 8
    instrument_size: int = 4  # GM family (+ drums)
    collections: int = 32  # rows of the collection embedding (0 = unknown; more collections share row 0)
    collection_size: int = 4
    position_size: int = 8  # sinusoidal step features fed to the decoder
    history_dropout: float = 0.0  # VRASH: share of history inputs replaced while training (word dropout)
    decoder_cell: str = "lstm"  # VRASH: "lstm" or "highway" (recurrent highway layers, the paper's cell)
    highway_depth: int = 3  # recurrence depth of the highway cells (not given in the VRASH paper: ours)
    kl_warmup_steps: int = 0  # beta rises linearly 0 -> max_beta over these steps (0: max_beta throughout)


FAMILY_SECTION = {"musae": "musae", "mcvae": "mcvae", "note_lm": "notes", "note_vae": "notes", "vrash": "notes"}
FAMILY_CLASSES = {"musae": MusAEConfig, "mcvae": MCVAEConfig, "notes": NotesConfig}
HOME = {f.name: section for section, cls in FAMILY_CLASSES.items() for f in dataclasses.fields(cls)}
# Before the family sections (old checkpoints, exports and run folders; `--set model.critic_hidden=...`) their
# settings were flat fields of model, train or data: where each lived. from_dict moves them; --set accepts them.
FORMERLY = {name: "data" if name == "max_notes" else "train" if name in (
    "critic_steps", "critic_learning_rate", "gp_weight", "beta_every", "beta_increment", "reconstruction",
    "crop_bars", "min_song_bars", "max_song_bars", "kl_warmup_steps") else "model" for name in HOME}


@dataclass
class DataConfig:
    kind: str = "melody"
    bars: int = 2
    transpose_low: int = -5
    transpose_high: int = 6
    augment: bool = True
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
    musae: MusAEConfig = field(default_factory=MusAEConfig)
    mcvae: MCVAEConfig = field(default_factory=MCVAEConfig)
    notes: NotesConfig = field(default_factory=NotesConfig)

    @property
    def steps_per_window(self) -> int:
        return 16 * self.data.bars

    @property
    def family_section(self) -> str | None:
        """The name of the model family's own section (None for musicvae and lm, which have none)."""
        return FAMILY_SECTION.get(self.model.family)

    def to_dict(self) -> dict:
        """The shared sections plus the family's own (other families' settings are not the model's)."""
        keep = {"preset", "model", "data", "train", self.family_section}
        return {k: v for k, v in dataclasses.asdict(self).items() if k in keep}

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        d = migrate(d)
        unknown = set(d) - {"preset", *SECTIONS}
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        sections = {name: _section(section_class, d.get(name, {}), name) for name, section_class in CLASSES.items()}
        return cls(preset=d.get("preset", "custom"), **sections)

    def copy(self) -> "Config":
        return copy.deepcopy(self)


def migrate(d: dict) -> dict:
    """A config dict with the family settings written as flat model/train/data keys (before the family
    sections) rewritten with them in their sections; a current dict comes back unchanged."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    for name, new in HOME.items():
        old = out.get(FORMERLY[name])
        if isinstance(old, dict) and name in old and isinstance(out.setdefault(new, {}), dict):
            out[new].setdefault(name, old.pop(name))
    return out


class ConfigError(ValueError):
    """A bad preset name or override (one-line message)."""


CLASSES = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, **FAMILY_CLASSES}
SECTIONS = tuple(CLASSES)


def _section(cls, values: dict, name: str):
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
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
        section, name = key.split(".", 1) if "." in key else ("", key)
        if section and section not in SECTIONS:
            raise ConfigError(f"unknown config section {section!r} in {key!r} (sections: {', '.join(SECTIONS)})")
        if section and FORMERLY.get(name) == section and not hasattr(getattr(config, section), name):
            section = ""  # the key before the family sections (model.critic_hidden): its one new home
        candidates = [s for s in ([section] if section else SECTIONS) if hasattr(getattr(config, s), name)]
        if not candidates:
            raise ConfigError(f"unknown config key {key!r}")
        if len(candidates) > 1:
            raise ConfigError(f"ambiguous config key {key!r}: say {' or '.join(f'{s}.{name}' for s in candidates)}")
        section = getattr(config, candidates[0])
        setattr(section, name, _parse_value(raw, getattr(section, name), key))
    return config
