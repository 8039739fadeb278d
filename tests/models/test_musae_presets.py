"""MusAE config fields, presets and builder: `--set` reaches every field, sizes follow the paper."""

import pytest
import torch

from musicvae.config import Config, ConfigError, apply_overrides
from musicvae.models.builders import build_model, count_parameters
from musicvae.models.modules.priors import FlowerPrior, GaussianPrior
from musicvae.models.musae import MusAE
from musicvae.presets import PRESETS, get_preset
from musicvae.training.trainer import check_config

V4 = (130,) * 4
NAMES = [f"musae-{p}_{b}bar" for b in (2, 16) for p in ("gauss", "gmm")]


def test_every_musae_preset_and_its_variants_exist_over_the_multitrack_grid():
    for name in NAMES:
        for suffix in ("", "_cpu", "_tiny"):
            cfg = PRESETS[name + suffix]
            assert cfg.preset == name + suffix and cfg.model.family == "musae"
            assert cfg.data.kind == "multitrack" and cfg.data.bars == (2 if "2bar" in name else 16)
            assert cfg.musae.prior == ("flower" if "gmm" in name else "gauss")
            check_config(cfg)


def test_full_presets_have_the_paper_sizes_and_schedule():
    for name in NAMES:
        m, a = PRESETS[name].model, PRESETS[name].musae
        assert (m.encoder_layers, m.z_size, m.decoder_layers, a.critic_layers, a.components) == (3, 512, 3, 2, 32)
        assert (a.critic_steps, a.gp_weight, a.beta_every, a.beta_increment) == (5, 10.0, 10_000, 0.1)
        assert PRESETS[name].train.max_beta == 1.0 and a.reconstruction == "per_step"  # CE averaged over steps: the paper's balance with beta <= 1
    model = build_model(PRESETS["musae-gmm_2bar"], V4)
    assert isinstance(model, MusAE) and isinstance(model.prior, FlowerPrior)
    assert model.encoder.lstm.num_layers == 3 and model.encoder.lstm.bidirectional
    assert len(model.decoder.lstms) == 4 and all(lstm.num_layers == 3 for lstm in model.decoder.lstms)
    assert model.critic.label_classes == 32  # label-conditioned critic with the mixture prior
    gauss = build_model(PRESETS["musae-gauss_2bar_tiny"], V4)
    assert isinstance(gauss.prior, GaussianPrior) and gauss.critic.label_classes == 0
    assert count_parameters(build_model(PRESETS["musae-gmm_2bar_tiny"], V4)) < 500_000


def test_set_reaches_the_musae_fields_and_unknown_keys_are_refused():
    cfg = get_preset("musae-gmm_2bar_tiny", ["components=8", "model.critic_hidden=7", "critic_layers=3",
                                             "label_critic=false", "critic_steps=2", "gp_weight=5",
                                             "beta_every=3", "beta_increment=0.5", "prior=gauss",
                                             "critic_learning_rate=0.01"])
    a = cfg.musae
    assert (a.components, a.critic_hidden, a.critic_layers, a.label_critic, a.prior) == (8, 7, 3, False, "gauss")
    assert (a.critic_steps, a.gp_weight, a.beta_every, a.beta_increment, a.critic_learning_rate) == (2, 5.0, 3, 0.5, 0.01)
    with pytest.raises(ConfigError, match="unknown config key"):
        get_preset("musae-gmm_2bar_tiny", ["critic_width=3"])
    with pytest.raises(ConfigError, match="unknown model key"):
        Config.from_dict({"model": {"family": "musae", "petals": 3}})
    assert Config.from_dict(cfg.to_dict()) == cfg  # round trip through a checkpoint's JSON


def test_builder_follows_the_config_and_melody_data_builds_a_one_track_model():
    cfg = get_preset("musae-gmm_2bar_tiny", ["components=8", "critic_hidden=12", "label_critic=false",
                                             "data.kind=melody"])
    check_config(cfg)
    model = build_model(cfg, (130,))
    assert model.prior.components == 8 and model.critic.label_classes == 0
    assert model.critic.net[0].out_features == 12 and model.decoder.vocab_sizes == (130,)
    tokens = torch.randint(0, 130, (3, 32, 1))
    assert model(tokens)["logits"].shape == (3, 32, 130)
    assert model.sample(2, labels=torch.tensor([0, 7])).shape == (2, 32, 1)


@pytest.mark.parametrize("override, message", [
    ("prior=laplace", "unknown prior"),
    ("data.kind=notes", "MusAE reads token grids"),
    ("beta_every=0", "beta_every >= 1"),
    ("reconstruction=mean", "unknown reconstruction"),
])
def test_check_config_refuses_bad_musae_settings(override, message):
    with pytest.raises(ConfigError, match=message):
        check_config(apply_overrides(PRESETS["musae-gmm_2bar_tiny"], [override]))


def test_vae_presets_are_untouched():
    cfg = PRESETS["cat-mel_2bar_small"]
    assert cfg.model.family == "musicvae" and cfg.train.max_beta == 0.2
    assert type(build_model(cfg, (130,))).__name__ == "MusicVAE"
