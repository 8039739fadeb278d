"""MCVAE latent dataset: songs -> bar codes, outlier dropping, safetensors round trip, and compose seeds."""

import numpy as np
import pytest
import torch

from musicvae.data.latents import (
    LatentDataError,
    LatentSet,
    SeedError,
    load_latents,
    save_latents,
    seed_bars,
    songs_from_prepared,
)
from musicvae.models.builders import build_model
from musicvae.models.mcvae import bar_vae_fingerprint
from musicvae.music import NoteSequence
from musicvae.presets import get_preset
from musicvae.training.composer import encode_songs  # the bar VAE runs in training, not in data/


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return build_model(get_preset("cat-mel_2bar_small_tiny", ["data.bars=1"]), (130,)).eval()


def song(n_bars: int, seed: int) -> np.ndarray:
    from synth import random_melody_tokens

    return random_melody_tokens(np.random.default_rng(seed), 16 * n_bars).reshape(n_bars, 16).astype(np.int64)


def test_encode_drops_short_and_long_songs_and_reports_them(vae):
    songs = [(0, song(3, 0)), (1, song(5, 1)), (1, song(6, 2)), (2, song(12, 3)), (3, song(10, 4))]
    lat = encode_songs(vae, songs, min_bars=4, max_bars=10, batch_size=7)
    assert lat.info["dropped_short"] == 1 and lat.info["dropped_long"] == 1
    assert lat.info["songs"] == len(lat) == 3 and lat.info["bars"] == 21
    assert lat.lengths.tolist() == [5, 6, 10] and lat.sources.tolist() == [1, 1, 3]
    assert lat.info["bar_vae"] == bar_vae_fingerprint(vae) and lat.z_size == vae.z_size
    with torch.no_grad():
        mu, _ = vae.encode(torch.as_tensor(songs[2][1]).unsqueeze(-1))  # bar by bar, posterior means
    torch.testing.assert_close(lat.song(1), mu)
    assert encode_songs(vae, songs, min_bars=4, max_bars=None).info["dropped_long"] == 0
    with pytest.raises(LatentDataError, match="max_bars"):
        encode_songs(vae, songs, min_bars=4, max_bars=3)
    with pytest.raises(LatentDataError, match="outside"):
        encode_songs(vae, [(0, np.full((4, 16), 130))], min_bars=2)


def test_default_threshold_is_three_times_113_bars(vae):
    lat = encode_songs(vae, [(0, song(16, 0)), (1, song(340, 1)), (2, song(15, 2))])
    assert (lat.info["min_bars"], lat.info["max_bars"]) == (16, 339)
    assert (lat.info["songs"], lat.info["dropped_short"], lat.info["dropped_long"]) == (1, 1, 1)


def test_save_load_round_trip_padding_and_split(vae, tmp_path):
    songs = [(i % 5, song(4 + i, i)) for i in range(10)]
    lat = encode_songs(vae, songs, min_bars=4, max_bars=None, info={"data": "synthetic"})
    save_latents(lat, tmp_path / "lat")
    back = load_latents(tmp_path / "lat" / "latents.json")
    assert torch.equal(back.codes, lat.codes) and torch.equal(back.lengths, lat.lengths)
    assert back.info["data"] == "synthetic" and back.info["bar_vae"] == lat.info["bar_vae"]
    x, lengths = back.padded([1, 9])
    assert x.shape == (2, 13, vae.z_size) and lengths.tolist() == [5, 13]
    assert torch.equal(x[0, :5], back.song(1)) and not x[0, 5:].any()
    assert back.padded([9], max_bars=6)[0].shape == (1, 6, vae.z_size)
    train, held = back.split(0.3, seed=0)
    assert len(train) + len(held) == 10 and len(held) > 0
    assert not set(train.sources.tolist()) & set(held.sources.tolist())
    raw = (tmp_path / "lat" / "latents.safetensors").read_bytes()
    (tmp_path / "lat" / "latents.safetensors").write_bytes(raw[:-8] + bytes(8))
    with pytest.raises(LatentDataError, match="checksum mismatch"):
        load_latents(tmp_path / "lat")
    with pytest.raises(LatentDataError, match="no latent dataset"):
        load_latents(tmp_path / "missing")
    with pytest.raises(LatentDataError, match="sum to"):
        LatentSet(torch.zeros(5, 3), torch.tensor([2, 2]), torch.tensor([0, 1]))


def test_songs_from_prepared_bars_and_from_a_folder(vae, tmp_path):
    from synth import write_song

    from musicvae.data.prepare import PrepareConfig, prepare

    src = tmp_path / "midi"
    src.mkdir()
    for i in range(6):  # 20 bars of quarter notes each (80 notes), or 8 bars for the last two
        n = 80 if i < 4 else 32
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * (1 + i % 3)) % 20 for j in range(n)])
    prepare(src, tmp_path / "bars", PrepareConfig("bars", 16, eval_fraction=0.3))
    train = songs_from_prepared(tmp_path / "bars", "train")
    held = songs_from_prepared(tmp_path / "bars", "eval")
    assert len(train) + len(held) == 4 and all(b.shape == (20, 16) for _, b in train + held)
    lat = encode_songs(vae, train)
    assert lat.lengths.tolist() == [20] * len(train)
    prepare(src, tmp_path / "mel", PrepareConfig("melody", 1))
    with pytest.raises(LatentDataError, match="--kind bars"):
        songs_from_prepared(tmp_path / "mel")
    with pytest.raises(LatentDataError, match="manifest"):
        songs_from_prepared(tmp_path / "nothing")


# ------------------------------------------------------------------------- seeds
def test_seed_shorter_than_one_bar_is_a_clear_error(tmp_path):
    from synth import write_song

    with pytest.raises(SeedError, match="shorter than one bar"):
        seed_bars(np.full(8, 0))
    write_song(tmp_path / "half.mid", [60, 62], step=4)  # two quarter notes: half a bar
    with pytest.raises(SeedError, match=r"half\.mid: the music lasts 2 beats, shorter than one bar"):
        seed_bars(tmp_path / "half.mid")
    with pytest.raises(SeedError, match="shorter than one bar"):
        seed_bars(NoteSequence.from_tuples([(60, 0, 4), (62, 4, 8)]))
    with pytest.raises(SeedError, match="no such file"):
        seed_bars(tmp_path / "missing.mid")
    (tmp_path / "text.mid").write_text("not midi")
    with pytest.raises(SeedError, match="not a MIDI file"):
        seed_bars(tmp_path / "text.mid")
    write_song(tmp_path / "drums.mid", [36] * 8, drums=True)
    with pytest.raises(SeedError, match="no melody notes"):
        seed_bars(tmp_path / "drums.mid")


def test_seed_bars_from_midi_sequence_and_tokens(tmp_path):
    from synth import write_song

    write_song(tmp_path / "four.mid", list(range(60, 76)), program=40)  # 4 bars, a non-melody program
    bars = seed_bars(tmp_path / "four.mid")
    assert bars.shape == (4, 16) and bars[0, 0] == 62 and bars.dtype == np.int64
    assert seed_bars(tmp_path / "four.mid", max_bars=1).shape == (1, 16)
    # a leading silent bar is skipped: the seed starts at the first bar with a note
    seq = NoteSequence.from_tuples([(60, 16, 20), (64, 24, 32)])
    assert seed_bars(seq).shape == (1, 16) and seed_bars(seq)[0, 0] == 62
    tokens = np.zeros(40, np.int64)
    tokens[0] = 62
    assert seed_bars(tokens).shape == (2, 16)  # the trailing half bar is dropped
    assert seed_bars(tokens.reshape(-1, 1)[:32]).shape == (2, 16)
    with pytest.raises(SeedError, match="melody classes"):
        seed_bars(np.full(16, 130))
