"""TrainedModel: loading, encode/decode, interpolation endpoints, windows, exports, refusals."""

import numpy as np
import pytest

from musicvae.generation import InputError, TrainedModel, export_model
from musicvae.music import NoteSequence, write_midi
from musicvae.music.sequence import TrackInfo


@pytest.fixture(scope="module")
def model(tiny_mel_run):
    return TrainedModel.load(tiny_mel_run)


def _melody(pitches, step=4):
    """A 2-bar (or longer) melody of ``pitches`` in a row."""
    return NoteSequence.from_tuples([(p, i * step, (i + 1) * step) for i, p in enumerate(pitches)],
                                    total_steps=max(32, -(-len(pitches) * step // 16) * 16))


def test_sample_is_valid_and_seeded(model):
    a = model.sample(3, temperature=1.0, seed=7)
    b = model.sample(3, temperature=1.0, seed=7)
    assert len(a) == 3 and all(s.total_steps == 32 for s in a)
    assert [s.to_tuples() for s in a] == [s.to_tuples() for s in b]
    for s in a:  # every sample is music (a tiny model at temperature 1 plays notes) the converter could make
        assert len(s) > 0 and (0 <= s.notes[:, 0]).all() and (s.notes[:, 0] < s.notes[:, 1]).all() and (s.notes[:, 1] <= 32).all()
        tokens = model.converter.encode(s)
        assert model.converter.is_valid(tokens)
        assert model.converter.decode(tokens).to_tuples() == s.to_tuples()
    assert [s.to_tuples() for s in model.sample(3, temperature=1.0, seed=8)] != [s.to_tuples() for s in a]


def test_encode_shapes_and_mu_is_deterministic(model):
    seqs = [_melody([60, 62, 64, 65, 67, 69, 71, 72]), _melody([72, 71, 69, 67, 65, 64, 62, 60])]
    z, mu, sigma = model.encode(seqs, seed=0)
    assert z.shape == mu.shape == sigma.shape == (2, model.z_size)
    assert (sigma > 0).all()
    np.testing.assert_array_equal(model.codes(seqs), mu)
    assert not np.allclose(z, mu)


def test_interpolation_endpoints_are_the_reconstructions(model):
    a, b = _melody([60, 62, 64, 65, 67, 69, 71, 72]), _melody([48, 55, 52, 55, 48, 55, 52, 55])
    path = model.interpolate(a, b, steps=5, temperature=0.0)
    assert len(path) == 5
    recon = model.reconstruct([a, b], temperature=0.0)
    assert path[0].to_tuples() == recon[0].to_tuples()
    assert path[-1].to_tuples() == recon[1].to_tuples()


def test_decode_length_average_similar(model):
    z = np.zeros((2, model.z_size), np.float32)
    one_bar = model.decode(z, temperature=0.0, length=1)
    assert all(s.total_steps == 16 for s in one_bar)
    with pytest.raises(InputError, match="1-2 bars"):
        model.decode(z, length=3)
    avg = model.average([_melody([60, 64, 67, 72]), _melody([62, 65, 69, 74])], temperature=0.0)
    assert avg.total_steps == 32
    assert len(model.similar(_melody([60, 64, 67, 72]), n=3, similarity=0.5, seed=1)) == 3


def test_long_input_is_split_into_windows_with_their_origin(model, tmp_path):
    path = write_midi(_melody(list(range(50, 82)), step=2), tmp_path / "long.mid")  # 64 steps = 4 bars
    wins = model.windows(path)
    assert [w.start_bar for w in wins] == [0, 2]
    assert "bars 3-4" in wins[1].describe() and "long.mid" in wins[1].describe()
    np.testing.assert_array_equal(model.tokens(path), wins[0].tokens[None])


def test_attribute_vectors(model):
    data = [_melody([60 + k + j for j in range(3 + k % 6)], step=2) for k in range(12)]  # 3 to 8 notes
    vec = model.attribute_vector("note_density", data)
    assert vec.shape == (model.z_size,)
    out = model.apply_attribute(data[0], "note_density", 1.5, temperature=0.0)
    assert out.total_steps == 32
    with pytest.raises(InputError, match="no attribute vector 'pitch_range'"):
        model.apply_attribute(data[0], "pitch_range")
    with pytest.raises(InputError, match="unknown attribute"):
        model.attribute_vector("loudness", data)


def test_export_roundtrip_fp16(model, tiny_mel_run, tmp_path):
    model.attribute_vector("note_density", [_melody([60 + j for j in range(2 + k)], step=2) for k in range(8)])
    out = export_model(tiny_mel_run, tmp_path / "m", name="tiny", attributes=model.attributes, card="# tiny\n")
    again = TrainedModel.load(out)
    assert again.name == "tiny" and "note_density" in again.attributes
    z = np.random.default_rng(0).standard_normal((2, model.z_size)).astype(np.float32)
    a = model.decode_tokens(z, temperature=0.0)
    b = again.decode_tokens(z, temperature=0.0)
    assert (a == b).mean() > 0.9  # fp16 weights: same music up to rare argmax ties
    assert (out / "CARD.md").read_text() == "# tiny\n"


def test_refusals_name_the_file(model, tmp_path):
    with pytest.raises(InputError, match="missing.mid: no such file"):
        model.windows(tmp_path / "missing.mid")
    bad = tmp_path / "notes.txt"
    bad.write_text("not midi")
    with pytest.raises(InputError, match="notes.txt"):
        model.windows(bad)
    drums = write_midi(NoteSequence.from_tracks([(TrackInfo(is_drum=True), [(36, i, i + 1) for i in range(0, 32, 4)])]),
                       tmp_path / "drums.mid")
    with pytest.raises(InputError, match="drums.mid: nothing to read as a melody"):
        model.windows(drums)
    with pytest.raises(InputError, match="no-such-model: unknown model"):
        TrainedModel.load("no-such-model")
