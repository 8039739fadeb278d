"""The rhythm temperature: a melody model draws hold / note-off / note-on at one temperature and the pitch at
the sampling temperature (``keys.split_rhythm``, ``model.json`` ``sampling.rhythm_temperature``)."""

import json
import shutil

import numpy as np
import pytest
import torch

from musicvae.generation import InputError, TrainedModel
from musicvae.generation.store import bundled_models
from musicvae.models.modules.decoders import CoreDecoder
from musicvae.representations.streams import FIRST_NOTE_ON


def _onsets(tokens: np.ndarray) -> float:
    return float((tokens >= FIRST_NOTE_ON).sum(axis=(1, 2)).mean())


@pytest.fixture(scope="module")
def mel16():
    return TrainedModel.load("mel_16bar")


def test_a_rhythm_temperature_keeps_the_notes_that_a_low_temperature_thins_out(mel16):
    z = np.random.default_rng(0).standard_normal((48, mel16.z_size)).astype(np.float32)
    mel16.rhythm_temperature = None
    plain = mel16.decode_tokens(z, 0.5, seed=1)
    mel16.rhythm_temperature = 1.0
    try:
        split = mel16.decode_tokens(z, 0.5, seed=1)
        again = mel16.decode_tokens(z, 0.5, seed=1)
        argmax = mel16.decode_tokens(z, 0.0, seed=1)
    finally:
        mel16.rhythm_temperature = mel16.files.sampling.get("rhythm_temperature")
    assert (split == again).all()  # seeded
    assert _onsets(split) > 1.2 * _onsets(plain), (_onsets(split), _onsets(plain))
    mel16.rhythm_temperature = None
    try:
        assert (argmax == mel16.decode_tokens(z, 0.0, seed=1)).all()  # T = 0 is the plain argmax
    finally:
        mel16.rhythm_temperature = mel16.files.sampling.get("rhythm_temperature")
    assert all(core.split_temperatures is None for core in mel16.model.modules() if isinstance(core, CoreDecoder))


@pytest.mark.parametrize("name", ["mel_2bar", "mel_16bar"])
def test_reference_loop_and_inference_path_agree_with_a_rhythm_temperature(name, monkeypatch):
    m = TrainedModel.load(name)
    m.rhythm_temperature = 0.9
    z = np.random.default_rng(2).standard_normal((3, m.z_size)).astype(np.float32)
    fast = m.decode_tokens(z, 0.6, seed=4, key="D minor")
    monkeypatch.setattr(CoreDecoder, "inference_path", lambda self, targets=None: False)
    assert (fast == m.decode_tokens(z, 0.6, seed=4, key="D minor")).all()


def test_drum_models_refuse_a_rhythm_temperature_in_one_line():
    drums = TrainedModel.load("drums_2bar")
    drums.rhythm_temperature = 1.0
    with pytest.raises(InputError, match="one-stream melody"):
        drums.sample_tokens(2, 0.5, seed=0)


@pytest.mark.parametrize("bad", [0, -1, "warm", True, 99])
def test_a_bad_recorded_rhythm_temperature_is_refused_on_load(bad, tmp_path):
    out = tmp_path / "m"
    shutil.copytree(bundled_models()["mel_2bar"], out)
    meta = json.loads((out / "model.json").read_text())
    meta.setdefault("sampling", {"temperature": 0.5})["rhythm_temperature"] = bad
    (out / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="rhythm_temperature"):
        TrainedModel.load(out)
