"""The config's family sections: old flat configs migrate, old ``--set`` keys still reach their setting.

Before the family sections, MusAE's, the MCVAE composer's and the note models' settings were flat fields of
``model``/``train``/``data``; the run folders in ``tests/fixtures/old_format`` were written so.
"""

import json
from pathlib import Path

import pytest

from musicvae.config import FORMERLY, HOME, Config, ConfigError, apply_overrides, migrate
from musicvae.presets import get_preset

OLD = Path(__file__).resolve().parent / "fixtures" / "old_format"


@pytest.mark.parametrize("run", ["vae", "vrash"])
def test_an_old_flat_config_moves_each_family_setting_to_its_section(run):
    flat = json.loads((OLD / run / "trainer.json").read_text())["config"]
    config = Config.from_dict(flat)
    present = [name for name, old in FORMERLY.items() if name in flat[old]]  # (these folders predate a few)
    assert len(present) >= 30 and {"critic_hidden", "critic_steps", "max_notes", "crop_bars"} <= set(present)
    for name in present:
        assert getattr(getattr(config, HOME[name]), name) == flat[FORMERLY[name]][name], name
    for section in ("model", "data", "train"):
        for key, value in flat[section].items():
            if key not in FORMERLY:
                assert getattr(getattr(config, section), key) == value, key
    assert Config.from_dict(config.to_dict()) == config  # and the new form reads back the same


def test_migrate_leaves_a_current_config_alone_and_refuses_unknown_keys():
    d = get_preset("vrash-notes_tiny").to_dict()
    assert migrate(d) == d and "notes" in d and "musae" not in d
    moved = migrate({"model": {"family": "vrash", "history_dropout": 0.5}, "data": {"max_notes": 9}})
    assert moved == {"model": {"family": "vrash"}, "data": {}, "notes": {"history_dropout": 0.5, "max_notes": 9}}
    with pytest.raises(ConfigError, match="unknown model key"):
        Config.from_dict({"model": {"family": "musae", "petals": 3}})
    with pytest.raises(ConfigError, match="unknown config section"):
        Config.from_dict({"critics": {}})


def test_to_dict_holds_the_shared_sections_and_the_familys_own():
    assert set(get_preset("cat-mel_2bar_small").to_dict()) == {"preset", "model", "data", "train"}
    assert set(get_preset("musae-gmm_2bar_tiny").to_dict()) == {"preset", "model", "data", "train", "musae"}
    assert set(get_preset("mcvae-composer_tiny").to_dict()) == {"preset", "model", "data", "train", "mcvae"}
    assert set(get_preset("lm-notes_tiny").to_dict()) == {"preset", "model", "data", "train", "notes"}


def test_old_set_keys_are_aliases_of_the_new_ones():
    base = get_preset("musae-gmm_2bar_tiny")
    new = apply_overrides(base, ["musae.critic_hidden=7", "musae.critic_steps=3"])
    for old in (["model.critic_hidden=7", "train.critic_steps=3"], ["critic_hidden=7", "critic_steps=3"]):
        assert apply_overrides(base, old) == new
    assert (new.musae.critic_hidden, new.musae.critic_steps) == (7, 3)
    notes = apply_overrides(get_preset("vrash-notes_tiny"), ["data.max_notes=9", "model.history_dropout=0.5"])
    assert (notes.notes.max_notes, notes.notes.history_dropout) == (9, 0.5)
    for wrong in ("data.critic_hidden=7", "train.history_dropout=0.5", "musae.z_size=3", "critic_width=3"):
        with pytest.raises(ConfigError, match="unknown config key"):
            apply_overrides(base, [wrong])


def test_resume_compares_an_old_flat_config_through_the_migration():
    from musicvae.training.resume import config_diff

    flat = json.loads((OLD / "vae" / "trainer.json").read_text())["config"]
    now = Config.from_dict(flat)
    assert config_diff(flat, now.to_dict(), None, None) == []  # a run from before the sections resumes
    musae = get_preset("musae-gmm_2bar_tiny")
    saved = musae.to_dict()
    wider = apply_overrides(musae, ["musae.critic_hidden=64", "musae.critic_steps=2", "steps=5"]).to_dict()
    assert config_diff(saved, wider, None, None) == ["musae.critic_hidden 32 -> 64"]  # training settings may change
