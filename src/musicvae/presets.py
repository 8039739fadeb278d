"""Named presets: magenta's MusicVAE configs and MusAE's, plus ``_tiny`` (tests) and ``_cpu`` variants.

Place in the flow: ``musicvae train --preset NAME [--set key=value]`` -> :func:`get_preset`
-> :class:`~musicvae.config.Config` -> builders and trainer.

Full sizes follow the ICML 2018 paper and magenta's ``configs.py``: a 2-layer
bidirectional encoder of 2048 units, z of 512, a 3-layer 2048-unit flat decoder or
a 2-layer 1024-unit conductor over 2-layer 1024-unit bottom decoders; 2-bar models
use a 1-layer 512-unit encoder and 2 x 256 decoder (``_small``). Free bits: 0 for
2-bar melodies, 48 for 2-bar drums, 256 for 16-bar models; max beta 0.2 (0.5 for
``cat-mel_2bar_big``), annealed (beta rate 0.99999) only for the 2-bar melody models and
constant from the first step for the others (magenta's default beta rate 0); 2-bar models
train with inverse-sigmoid scheduled sampling (rate 1000); 2-bar melodies are transposed by
-5..+5 semitones, the 16-bar and trio models are not augmented. Every full preset is pinned
to these published values, field by field with its source, in tests/test_presets_published.py.

MusAE (Valenti, Carta, Bacciu, ECAI 2020), ``musae-{gauss,gmm}_{2,16}bar``: the paper's
sizes as far as its text gives them: a 3-layer bidirectional LSTM encoder, z of 512, one
3-layer LSTM decoder per track, a 2-hidden-layer critic; widths (512) are our choice. Data:
the 4-track ``multitrack`` grid (``prepare --kind multitrack``); ``--set data.kind=melody``
trains the same model on 1-track melodies (e.g. ``folk``). ``gauss`` = N(0, I) prior,
``gmm`` = the flower mixture driven by style labels. Adversarial beta 0 -> 1 in steps of
0.1 every 10,000 updates (the paper), 5 critic steps per autoencoder step, GP weight 10;
the reconstruction term is cross-entropy averaged over steps (``reconstruction=per_step``,
as MusAE's Keras code), so that beta = 1 weighs the adversarial term as the paper does:
summed over a window's steps it would be T times stronger than the critic's pull.

``_tiny`` variants train end to end on a CPU in seconds (tests); ``_cpu`` variants
are sized to reach a useful model on the bundled corpora on 2 CPU cores in under an hour.

How to read this file: every published preset is one declaration (a dict of its ``data``, ``model``,
``train`` and family settings (``musae``, ``mcvae``, ``notes``); a setting not named keeps its default in
``config.py``), and every ``_tiny`` /
``_cpu`` variant of the MusicVAE, MusAE and note families is made from it by :func:`derive`, whose
sizes are the tables above it. ``musicvae presets --show NAME`` prints any preset's resolved config.
"""

from __future__ import annotations

import copy

from .config import CLASSES, FAMILY_SECTION, Config, ConfigError, apply_overrides

Declaration = dict[str, dict]  # {"data": {...}, "model": {...}, "train": {...}} and the family's own section

# ---- MusicVAE and the LSTM LM: magenta's configs.py, field by field (sources: tests/test_presets_published.py).
# magenta's defaults (lstm_models / base_model get_default_hparams), config.py's too: learning rate 1e-3
# decaying by 0.9999 per step to 1e-5, gradient clip 1.0, beta_rate 0 in magenta (beta = max_beta from the
# first step; written out below), free bits 0, no scheduled sampling, no dropout. Only the 2-bar melody
# models anneal beta (0.99999) and are transposed (-5..+5, inclusive); 2-bar models use inverse-sigmoid
# scheduled sampling (rate 1000); the 16-bar and trio models have no augmenter.
# Settings that several presets share, named once: 2-bar data, model sizes, schedules.
_MEL_2BAR = dict(kind="melody", bars=2, transpose_low=-5, transpose_high=5)
_DRUMS_2BAR = dict(kind="drums", bars=2, augment=False)
_SMALL = dict(encoder_hidden=512, encoder_layers=1, decoder_hidden=256, decoder_layers=2, z_size=256)
_BIG = dict(encoder_hidden=2048, encoder_layers=1, decoder_hidden=2048, decoder_layers=3, z_size=512)
_ENCODER_16 = dict(encoder_hidden=2048, encoder_layers=2, z_size=512)  # the 16-bar models' encoder
_FLAT_16 = dict(_ENCODER_16, decoder_hidden=2048, decoder_layers=3)
_HIERDEC_16 = dict(_ENCODER_16, decoder="hierarchical", conductor_hidden=1024, conductor_layers=2,
                   decoder_hidden=1024, decoder_layers=2, segments=16)
_SAMPLED = dict(sampling_schedule="inverse_sigmoid", sampling_rate=1000.0)
_KL_16 = dict(max_beta=0.2, free_bits=256, beta_rate=0.0)
MUSICVAE: dict[str, Declaration] = {
    "cat-mel_2bar_small": dict(
        data=_MEL_2BAR, model=_SMALL,
        train=dict(batch_size=512, max_beta=0.2, free_bits=0, beta_rate=0.99999, **_SAMPLED)),
    "cat-mel_2bar_big": dict(
        data=_MEL_2BAR, model=_BIG,
        train=dict(batch_size=512, max_beta=0.5, free_bits=0, beta_rate=0.99999, **_SAMPLED)),
    "cat-drums_2bar_small": dict(
        data=_DRUMS_2BAR, model=_SMALL,
        train=dict(batch_size=512, max_beta=0.2, free_bits=48, beta_rate=0.0, **_SAMPLED)),
    "cat-drums_2bar_big": dict(
        data=_DRUMS_2BAR, model=_BIG,
        train=dict(batch_size=512, max_beta=0.2, free_bits=48, beta_rate=0.0, **_SAMPLED)),
    "flat-mel_16bar": dict(data=dict(kind="melody", bars=16, augment=False), model=_FLAT_16,
                           train=dict(batch_size=512, **_KL_16)),
    "hierdec-mel_16bar": dict(data=dict(kind="melody", bars=16, augment=False), model=_HIERDEC_16,
                              train=dict(batch_size=512, **_KL_16)),
    # workshop paper (Roberts et al., NIPS 2017 workshop): 32 bars as 16 two-bar segments, beta 1,
    # 256 free bits, inverse-sigmoid scheduled sampling (rate 1000), a 1-layer encoder, sigma = exp(2 pre);
    # widths as the 16-bar model (the paper does not give them), batch 256 (ours: 512 windows of 512
    # steps do not fit one accelerator of that time either)
    "hierdec-mel_32bar": dict(
        data=dict(kind="melody", bars=32, augment=False),
        model=dict(_HIERDEC_16, encoder_layers=1, sigma_activation="exp"),
        train=dict(batch_size=256, max_beta=1.0, free_bits=256, beta_rate=0.0, **_SAMPLED)),
    # magenta's flat-trio_16bar leaves max_beta and free_bits at the library defaults (1.0 and 0);
    # the paper's flat baseline differs from the hierarchical model only in the decoder, so we use
    # hierdec-trio_16bar's 0.2 and 256 (README, "Where we differ from the papers")
    "flat-trio_16bar": dict(data=dict(kind="trio", bars=16, augment=False), model=_FLAT_16,
                            train=dict(batch_size=256, **_KL_16)),
    "hierdec-trio_16bar": dict(data=dict(kind="trio", bars=16, augment=False),
                               model=dict(_HIERDEC_16, split_streams=True),
                               train=dict(batch_size=256, **_KL_16)),
    # the workshop paper's decoder-only baseline, sized as cat-mel_2bar_big's decoder
    "lm-mel_2bar": dict(data=_MEL_2BAR, model=dict(family="lm", decoder_hidden=2048, decoder_layers=3),
                        train=dict(batch_size=512, **_SAMPLED)),
}

# ---- MusAE as the paper: a stochastic encoder (z = mu + sigma * eps while training, sigma = exp(2 pre)),
# 1,024 hidden units in encoder and decoders. Critic width and layers are ours (not given).
# Learning rate: the reference code's Adam at 1e-4 with no decay (its `decay=1e-4` is commented out);
# the paper's text was not at hand to check a stated decay (README, "Where we differ from the papers").
# Windows: the paper's rule, every track rests at most a bar, over the cross product of a song's tracks
# (`prepare --kind multitrack --window-rule per_track --cross-product`; `train` says so when the data
# differ). The _cpu/_tiny presets take any windows (derive() drops window_rule): on the bundled `games`
# corpus the paper's rule leaves 19 of 39 songs without a window and 74 held-out windows from 3 songs
# (mix rule: 706).
MUSAE_FULL: dict[str, Declaration] = {
    f"musae-{name}_{bars}bar": dict(
        data=dict(kind="multitrack", bars=bars, window_rule="per_track"),
        model=dict(family="musae", encoder_hidden=1024, encoder_layers=3, z_size=512, decoder_hidden=1024,
                   decoder_layers=3, sigma_activation="exp"),
        train=dict(batch_size=256 if bars == 2 else 128, learning_rate=1e-4, decay_rate=1.0, max_beta=1.0,
                   steps=200_000),
        musae=dict(prior=prior, critic_hidden=512, critic_layers=2, position_input=False, encoder_norm=False,
                   stochastic_encoder=True, critic_steps=5, critic_learning_rate=1e-4, gp_weight=10.0,
                   beta_every=10_000, beta_increment=0.1, reconstruction="per_step"))
    for bars in (2, 16)
    for name, prior in (("gauss", "gauss"), ("gmm", "flower"))
}

# ---- VRASH (issue 8; Tikhonov & Yamshchikov): whole melodies as note events (`prepare --kind notes`),
# three families sharing models.vrash: `lm-notes` (note_lm: LSTM language model), `vae-notes` (note_vae:
# recurrent VAE, the decoder sees z, never its history) and `vrash-notes` (vrash: the VAE whose decoder also
# reads its previous notes). z = 16 (the paper's); widths are our choice. The VAEs train on the plain ELBO
# (max beta 1, no free bits) with a linear KL warm-up. Tracks are already centred: no transposition.
NOTES_FULL: dict[str, Declaration] = {
    name: dict(
        data=dict(kind="notes", bars=2, augment=False),
        model=dict(family=family, z_size=16, encoder_hidden=256, encoder_layers=1, decoder_hidden=512, decoder_layers=2),
        train=dict(batch_size=64, steps=50_000, learning_rate=1e-3, decay_rate=0.9999, max_beta=1.0, free_bits=0.0,
                   log_every=50, eval_every=1000, eval_batches=8, checkpoint_every=2000),
        notes=dict(max_notes=512, pitch_size=16, octave_size=4, duration_size=8, instrument_size=4, collection_size=4,
                   position_size=8, history_dropout=0.0, kl_warmup_steps=10_000))
    for name, family in (("lm-notes", "note_lm"), ("vae-notes", "note_vae"), ("vrash-notes", "vrash"))
}

# ---- the sizes of the derived variants: {family group: {size: {section: settings}}}
_CPU_TRAIN = dict(batch_size=64, steps=20_000, log_every=100, eval_every=1000, eval_batches=8, checkpoint_every=2000)
# position_input and encoder_norm are ours, not MusAE's: on in its _cpu/_tiny presets, where without them a
# _cpu-size MusAE's codes collapsed to a constant on folk 2-bar melodies (accuracy stuck at the majority
# class, see models/musae.py and models/modules/encoder.py); _cpu also keeps the deterministic encoder of the
# committed musae_priors reports
_MUSAE_OURS = dict(position_input=True, encoder_norm=True, stochastic_encoder=False)
SIZES: dict[str, dict[str, Declaration]] = {
    "musicvae": {
        "tiny": dict(model=dict(encoder_hidden=32, encoder_layers=1, decoder_hidden=32, decoder_layers=1, z_size=16,
                                conductor_hidden=32, conductor_layers=1),
                     train=dict(batch_size=32, steps=200, learning_rate=3e-3, log_every=10, eval_every=50,
                                eval_batches=1, checkpoint_every=100, max_beta=0.05, beta_rate=0.99,
                                # sampled schedules would make tiny runs slow and noisy
                                sampling_schedule="constant", sampling_rate=0.0)),
        "cpu": dict(model=dict(encoder_hidden=256, encoder_layers=1, decoder_hidden=256, decoder_layers=2, z_size=128),
                    train=_CPU_TRAIN),
    },
    "musae": {
        "tiny": dict(model=dict(encoder_hidden=32, encoder_layers=1, z_size=16, decoder_hidden=32, decoder_layers=1,
                                sigma_activation="softplus"),
                     train=dict(batch_size=32, steps=200, learning_rate=3e-3, decay_rate=1.0, log_every=10,
                                eval_every=50, eval_batches=1, checkpoint_every=100),
                     musae=dict(critic_hidden=32, beta_every=10, critic_learning_rate=1e-3, **_MUSAE_OURS)),
        "cpu": dict(model=dict(encoder_hidden=256, encoder_layers=2, z_size=128, decoder_hidden=256, decoder_layers=2,
                               sigma_activation="softplus"),
                    train=dict(_CPU_TRAIN, steps=10_000, learning_rate=1e-3, decay_rate=0.9999),
                    musae=dict(critic_hidden=128, beta_every=500, **_MUSAE_OURS)),
    },
    "notes": {
        "cpu": dict(model=dict(z_size=16, encoder_hidden=128, encoder_layers=1, decoder_hidden=256, decoder_layers=1),
                    train=dict(batch_size=32, steps=5000, learning_rate=1e-3, decay_rate=0.9999, max_beta=1.0,
                               free_bits=0.0, log_every=50, eval_every=500, eval_batches=8, checkpoint_every=1000),
                    notes=dict(max_notes=256, pitch_size=16, octave_size=4, duration_size=8, instrument_size=4,
                               collection_size=4, position_size=8, kl_warmup_steps=2000)),
        "tiny": dict(model=dict(z_size=16, encoder_hidden=32, encoder_layers=1, decoder_hidden=32, decoder_layers=1),
                     train=dict(batch_size=16, steps=40, learning_rate=3e-3, decay_rate=1.0, max_beta=1.0,
                                free_bits=0.0, log_every=5, eval_every=20, eval_batches=1, checkpoint_every=20),
                     notes=dict(max_notes=64, pitch_size=8, octave_size=4, duration_size=4, instrument_size=2,
                                collection_size=2, position_size=4, kl_warmup_steps=10)),
    },
}


def derive(full: Declaration, size: str) -> Declaration:
    """The ``_tiny`` / ``_cpu`` declaration of a full preset: its family group's ``SIZES[group][size]`` over it,
    plus the rules below (each says why)."""
    out = {section: dict(settings) for section, settings in full.items()}
    family = out["model"].get("family", "musicvae")
    group = FAMILY_SECTION.get(family, "musicvae")
    for section, settings in SIZES[group][size].items():
        out.setdefault(section, {}).update(settings)
    model, train, data = out["model"], out["train"], out["data"]
    bars = data["bars"]
    if group == "musicvae":
        # our small corpora: every pitched _cpu/_tiny model trains with transpositions -5..+6 (the bundled
        # models were built so: config.py's defaults); the full presets keep magenta's augmentation
        data = out["data"] = dict(kind=data["kind"], bars=bars)
        if size == "tiny":
            train["free_bits"] = min(full["train"].get("free_bits", 0.0), 4.0)  # free bits scale with z
        elif bars > 2:  # the conductor at the _cpu width; 16-bar windows are 8x longer than 2-bar ones
            model.update(conductor_hidden=256, conductor_layers=2)
            train.update(free_bits=min(full["train"].get("free_bits", 0.0), 48.0), batch_size=32)
        if size == "cpu" and family == "musicvae":
            # The bundled corpora are ~100x smaller than the paper's Lakh MIDI and CPU runs are a few
            # thousand steps: with the full presets' slow beta (0.99999) the KL is nearly free for the
            # whole run, the code memorises training windows and held-out accuracy stalls (and prior
            # samples are noise). Reaching beta 0.2 within ~5k steps, with free bits keeping the code from
            # collapsing, generalises better (folk 2-bar, 2k steps: held-out teacher-forced 0.648 vs 0.610,
            # KL 126 vs 386 bits).
            train["beta_rate"] = 0.9995
            if data["kind"] == "melody":
                train["free_bits"] = 128.0
    elif group == "musae":
        data.pop("window_rule", None)  # any windows at _cpu/_tiny size (see MUSAE_FULL)
        if size == "cpu" and bars > 2:
            train["batch_size"] = 32
    elif group == "notes" and family == "vrash":
        # history dropout (Bowman et al.'s word dropout) is ours, not the VRASH paper's: off in the paper
        # preset; the _cpu/_tiny presets keep 0.25, the setting of the committed vrash_vs_lm report (its
        # report has the one-line comparison with 0); --set notes.history_dropout=P sets it
        out["notes"]["history_dropout"] = 0.25
    return out


# ---- MCVAE (issue 7): a 1-bar melody VAE (`prepare --kind melody --bars 1`), then a composer LSTM with a
# mixture-density head over its codes (`prepare --kind bars --bars 16`, trained with `musicvae train --preset
# mcvae-composer_* --vae BAR_VAE_RUN`). Thesis sizes: encoder and decoder 512, z = 64. The bar VAE trains
# with a real KL term: 128 free bits (the _cpu melody default) would be more than a single bar holds (a folk
# bar is a few notes, tens of bits), so the KL would cost nothing, the codes would drift off N(0, I) and prior
# draws (a composition started without --prime) and the composer's mixtures would live in regions the decoder
# never saw. 16 free bits (2 for the tiny z of 16) leave room for a bar's rhythm and contour and let the KL
# term pull the rest towards the prior; beta reaches ~0.18 of its 0.2 within 5k steps. The composer's
# z_size is 0: its code size is the bar VAE's (read from --vae), not a setting of the composer.
_BAR_KL = dict(max_beta=0.2, beta_rate=0.9995, free_bits=16.0, **_SAMPLED)  # the bar VAE's (see above)
_COMPOSER = dict(data=dict(kind="bars", bars=16), model=dict(family="mcvae", z_size=0, dropout=0.0))
MCVAE: dict[str, Declaration] = {
    "mcvae-bar": dict(
        data=dict(kind="melody", bars=1),
        model=dict(encoder_hidden=512, encoder_layers=1, decoder_hidden=512, decoder_layers=2, z_size=64),
        train=dict(batch_size=512, steps=50_000, **_BAR_KL)),
    "mcvae-bar_cpu": dict(
        data=dict(kind="melody", bars=1),
        model=dict(encoder_hidden=256, encoder_layers=1, decoder_hidden=256, decoder_layers=2, z_size=64),
        train=dict(batch_size=128, steps=10_000, **_BAR_KL, log_every=100, eval_every=1000, eval_batches=8,
                   checkpoint_every=2000)),
    "mcvae-bar_tiny": dict(
        data=dict(kind="melody", bars=1),
        model=dict(encoder_hidden=32, encoder_layers=1, decoder_hidden=32, decoder_layers=1, z_size=16,
                   conductor_hidden=32, conductor_layers=1),
        train=dict(batch_size=32, steps=200, learning_rate=3e-3, log_every=10, eval_every=50, eval_batches=1,
                   checkpoint_every=100, max_beta=0.05, beta_rate=0.99, free_bits=2.0)),
    "mcvae-composer": dict(
        _COMPOSER,
        train=dict(batch_size=64, steps=20_000, learning_rate=1e-3, grad_clip=1.0, log_every=50, eval_every=250, seed=0),
        mcvae=dict(composer_hidden=512, composer_layers=2, mixture_components=10, crop_bars=0)),
    "mcvae-composer_cpu": dict(
        _COMPOSER,
        train=dict(batch_size=32, steps=4000, learning_rate=1e-3, grad_clip=1.0, log_every=100, eval_every=500, seed=0),
        mcvae=dict(composer_hidden=256, composer_layers=2, mixture_components=10, crop_bars=64)),
    "mcvae-composer_tiny": dict(
        _COMPOSER,
        train=dict(batch_size=8, steps=60, learning_rate=3e-3, grad_clip=1.0, log_every=10, eval_every=20, seed=0),
        mcvae=dict(composer_hidden=32, composer_layers=1, mixture_components=3, crop_bars=0)),
}

# short names for the CPU presets the docs and issues use
ALIASES = {"cat-mel_2bar_cpu": "cat-mel_2bar_small_cpu", "cat-drums_2bar_cpu": "cat-drums_2bar_small_cpu"}


def resolve(name: str, declaration: Declaration) -> Config:
    """The :class:`Config` of a declaration (settings it does not name keep config.py's defaults)."""
    d = copy.deepcopy(declaration)
    return Config(preset=name, **{section: CLASSES[section](**d.get(section, {})) for section in CLASSES})


DECLARATIONS: dict[str, Declaration] = {}
for _name, _full in {**MUSICVAE, **MUSAE_FULL}.items():
    DECLARATIONS.update({_name: _full, f"{_name}_tiny": derive(_full, "tiny"), f"{_name}_cpu": derive(_full, "cpu")})
DECLARATIONS.update(MCVAE)
for _name, _full in NOTES_FULL.items():
    DECLARATIONS.update({_name: _full, f"{_name}_cpu": derive(_full, "cpu"), f"{_name}_tiny": derive(_full, "tiny")})
DECLARATIONS.update({alias: DECLARATIONS[target] for alias, target in ALIASES.items()})

PRESETS: dict[str, Config] = {name: resolve(name, d) for name, d in DECLARATIONS.items()}
FULL: dict[str, Config] = {name: PRESETS[name] for name in MUSICVAE}  # magenta's presets (tests pin them)



def get_preset(name: str, overrides: list[str] | None = None) -> Config:
    """A fresh copy of a preset with ``key=value`` overrides applied."""
    if name not in PRESETS:
        close = [n for n in PRESETS if name.split("_")[0] in n][:4]
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `musicvae presets`"
        raise ConfigError(f"unknown preset {name!r}{hint}")
    return apply_overrides(PRESETS[name], overrides or [])
