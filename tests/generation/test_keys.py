"""The key constraint while decoding: every note of a keyed sample lies in the scale."""

import numpy as np
import pytest
import torch

from musicvae.generation import InputError, TrainedModel
from musicvae.generation.keys import stream_biases
from musicvae.music.scales import parse_key
from musicvae.representations.streams import MelodyStream


def _pitches(seqs):
    return np.concatenate([s.notes[:, 2] for s in seqs if len(s.notes)])


@pytest.fixture(scope="module")
def mel2():
    return TrainedModel.load("mel_2bar")


@pytest.mark.parametrize("key", ["D minor", "C:major", "F# major pentatonic"])
def test_every_note_of_a_keyed_sample_is_in_the_scale(mel2, key):
    allowed = parse_key(key).pitch_classes
    free = _pitches(mel2.sample(16, temperature=2.0, seed=1))
    assert not set(free % 12) <= allowed  # hot samples do leave the scale without the key...
    keyed = _pitches(mel2.sample(16, temperature=2.0, seed=1, key=key))
    assert len(keyed) > 16 and set(keyed % 12) <= allowed  # ...and never with it


def test_key_reaches_every_decoding_method(mel2):
    allowed = parse_key("Eb major").pitch_classes
    a, b = mel2.sample(2, temperature=1.0, seed=4)
    seqs = (mel2.interpolate(a, b, steps=4, temperature=1.5, seed=2, key="Eb major")
            + mel2.similar(a, n=3, similarity=0.5, temperature=1.5, seed=2, key="Eb major")
            + mel2.reconstruct([a, b], temperature=1.5, seed=2, key="Eb major")
            + [mel2.apply_attribute(a, "note_density", 1.0, temperature=1.5, seed=2, key="Eb major")])
    assert set(_pitches(seqs) % 12) <= allowed
    assert set(_pitches(mel2.sample(8, temperature=0.0, seed=0, key="Eb major")) % 12) <= allowed  # argmax too


def test_hierarchical_model_obeys_the_key():
    mel16 = TrainedModel.load("mel_16bar")
    seqs = mel16.sample(2, temperature=1.5, seed=5, key="A minor pentatonic")
    assert set(_pitches(seqs) % 12) <= parse_key("A minor pentatonic").pitch_classes


def test_the_bias_is_removed_after_the_decode(mel2):
    mel2.sample(1, seed=0, key="D minor")
    with mel2.keyed("D minor"):
        assert mel2.model.decoder.core.token_bias is not None
    assert mel2.model.decoder.core.token_bias is None
    with pytest.raises(RuntimeError), mel2.keyed("D minor"):
        raise RuntimeError("boom")
    assert mel2.model.decoder.core.token_bias is None


def test_reference_loop_and_inference_path_agree_under_a_key(mel2):
    core = mel2.model.decoder.core
    c = torch.randn(3, core.cond_size)
    first = torch.zeros(3, core.depth)
    with mel2.keyed("G major"), torch.no_grad():
        fast = core.unroll(c, first, 32, temperature=1.0, generator=torch.Generator().manual_seed(0))[1]
        core.lstm.train()  # eval off -> the step-by-step reference loop
        try:
            ref = core.unroll(c, first, 32, temperature=1.0, generator=torch.Generator().manual_seed(0))[1]
        finally:
            core.lstm.eval()
    assert torch.equal(fast, ref)


def test_only_note_ons_outside_the_scale_are_masked():
    (bias,) = stream_biases([MelodyStream(0, 127)], parse_key("C major"))
    assert bias[0] == 0 and bias[1] == 0  # hold and note-off stay free
    assert np.isneginf(bias[2 + 61]) and bias[2 + 60] == 0 and bias[2 + 71] == 0
    assert np.isinf(bias).sum() == sum(1 for p in range(128) if p % 12 in (1, 3, 6, 8, 10))


def test_bad_key_and_drum_model_are_one_line_errors(mel2):
    with pytest.raises(InputError, match="unknown mode"):
        mel2.sample(1, key="C weird")
    with pytest.raises(InputError, match="drums"):
        TrainedModel.load("drums_2bar").sample(1, key="C major")


def test_musae_refuses_a_key(tiny_musae_run):
    with pytest.raises(InputError, match="key"):
        TrainedModel.load(tiny_musae_run).sample(1, key="C major")
