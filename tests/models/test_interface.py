"""Every model family implements the one interface (models.interface.MusicModel) the same way."""

import pytest
import torch

from musicvae.models.builders import build_model
from musicvae.models.interface import MusicModel, NoLatentError
from musicvae.models.mcvae import MCVAE, Composer
from musicvae.models.vrash import NoteBatch
from musicvae.presets import get_preset

GRID = {"cat-mel_2bar_small_tiny": (130,), "lm-mel_2bar_tiny": (130,), "musae-gauss_2bar_tiny": (130, 130, 130, 130)}
NOTES = ("vrash-notes_tiny", "lm-notes_tiny", "vae-notes_tiny")


def _grid(name):
    torch.manual_seed(0)
    return build_model(get_preset(name), GRID[name]).eval()


@pytest.mark.parametrize("name", sorted(GRID))
def test_grid_families(name):
    model = _grid(name)
    assert isinstance(model, MusicModel)
    musae = name.startswith("musae")  # its trained prior, and linear interpolation (its paper)
    assert (model.learned_prior, model.interpolation) == ((True, "lerp") if musae else (False, "slerp"))
    vocab = GRID[name]
    x = torch.stack([torch.randint(0, v, (3, 32)) for v in vocab], -1)
    terms = model.loss(x)
    assert terms["loss"].dim() == 0 and torch.isfinite(terms["loss"]) and terms["loss"] > 0
    gen = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    tokens = model.sample(2, 1.0, gen())
    assert tokens.shape == (2, 32, len(vocab))
    if not model.has_latent:
        for call in (lambda: model.encode(x), lambda: model.prior_sample(2), lambda: model.decode(torch.zeros(2, 4))):
            with pytest.raises(NoLatentError):
                call()
        return
    mu, sigma = model.encode(x)
    assert mu.shape == sigma.shape == (3, model.z_size) and (sigma >= 0).all()
    # sample == decode(prior_sample) with one generator, drawn in that order
    g = gen()
    assert torch.equal(tokens, model.decode(model.prior_sample(2, None, g), 1.0, g))
    assert torch.equal(model.decode(mu, 0.0), model.decode(mu, 0.0))  # argmax: no randomness


@pytest.mark.parametrize("name", NOTES)
def test_note_families(name):
    torch.manual_seed(0)
    model = build_model(get_preset(name), (12, 11, 16)).eval()
    assert isinstance(model, MusicModel)
    events = torch.randint(0, 11, (2, 5, 3))
    batch = NoteBatch(events, torch.tensor([5, 3]), torch.zeros(2, 2, dtype=torch.long), torch.tensor([True, False]))
    assert torch.isfinite(model.loss(batch)["loss"])
    tracks = model.sample(2, 1.0, torch.Generator().manual_seed(1), max_notes=6)
    assert len(tracks) == 2 and all(t.shape[1] == 3 and len(t) <= 6 for t in tracks)
    if model.has_latent:
        mu, sigma = model.encode(batch)
        assert mu.shape == (2, model.z_size)
        g = torch.Generator().manual_seed(1)
        again = model.decode(model.prior_sample(2, None, g), 1.0, g, max_notes=6)
        assert [t.tolist() for t in again] == [t.tolist() for t in tracks]
    else:
        with pytest.raises(NoLatentError):
            model.encode(batch)


def test_mcvae():
    torch.manual_seed(0)
    bar = build_model(get_preset("mcvae-bar_tiny"), (130,))
    model = MCVAE(bar, Composer(z_size=bar.z_size, hidden_size=8, num_layers=1, components=2)).eval()
    assert isinstance(model, MusicModel)
    x = torch.randint(0, 130, (2, 48, 1))
    mu, sigma = model.encode(x)
    assert mu.shape == sigma.shape == (2, 3, bar.z_size)
    assert torch.isfinite(model.loss((mu, torch.tensor([3, 2])))["loss"])
    assert model.prior_sample(4).shape == (4, 1, bar.z_size)
    tokens = model.sample(2, 1.0, torch.Generator().manual_seed(0), bars=3)
    assert tokens.shape == (2, 48, 1)
    assert model.decode(mu, 0.0).shape == (2, 48, 1)
