"""Token sampling (models.distributions): Gumbel-max and softmax draws give the tempered distribution, argmax at
temperature 0, one token per stream, never a masked-out token."""

import torch

from musicvae.models.distributions import draw, gumbel_noise, pick_tokens, tokens_from_logits


def test_gumbel_max_draws_from_the_tempered_softmax():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    n, temperature = 200_000, 0.7
    gen = torch.Generator().manual_seed(0)
    noise = gumbel_noise((n, 4), temperature, gen)
    tokens = pick_tokens(logits.expand(n, 4), (4,), noise)[:, 0]
    freq = torch.bincount(tokens, minlength=4).float() / n
    expected = torch.softmax(logits / temperature, dim=0)
    # binomial standard error at n = 200k is below 0.0012 for every class
    assert torch.allclose(freq, expected, atol=0.005), (freq, expected)


def test_zero_temperature_is_argmax_and_noise_is_finite():
    assert gumbel_noise((3, 5), 0.0) is None
    logits = torch.tensor([[0.1, 3.0, -2.0]])
    assert pick_tokens(logits, (3,)).tolist() == [[1]]
    noise = gumbel_noise((100_000,), 1.0, torch.Generator().manual_seed(1))
    assert torch.isfinite(noise).all()


def test_one_argmax_per_stream():
    logits = torch.tensor([[0.0, 5.0, 1.0, 9.0, 0.0]])  # streams of 2 and 3 classes
    assert pick_tokens(logits, (2, 3)).tolist() == [[1, 1]]
    assert pick_tokens(logits.unsqueeze(0), (2, 3)).shape == (1, 1, 2)


def test_softmax_draw_is_the_tempered_distribution_and_respects_the_mask():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    n, temperature = 200_000, 1.5
    tokens = draw(logits.expand(n, 4), temperature, torch.Generator().manual_seed(0))
    freq = torch.bincount(tokens, minlength=4).float() / n
    assert torch.allclose(freq, torch.softmax(logits / temperature, dim=0), atol=0.005), freq
    allowed = torch.tensor([False, True, True, False])
    masked = draw(logits.expand(1000, 4), 1.0, torch.Generator().manual_seed(1), allowed)
    assert set(masked.tolist()) == {1, 2}
    assert draw(logits.expand(3, 4), 0.0, allowed=allowed).tolist() == [1, 1, 1]


def test_tokens_from_logits_draws_per_stream():
    logits = torch.tensor([[[0.0, 30.0, 0.0, 0.0, 30.0]]]).expand(2, 3, 5)  # streams of 2 and 3 classes
    assert tokens_from_logits(logits, (2, 3), 1.0, torch.Generator().manual_seed(0)).tolist() == [[[1, 2]] * 3] * 2


def test_split_temperature_draws_the_rhythm_and_the_pitch_at_their_own_temperatures():
    """One Gumbel-max draw (noise at T = 1) of the split logits = the event (hold, off, or "a note starts")
    from softmax(. / rhythm), then the pitch from softmax(note-on logits / note)."""
    from musicvae.models.distributions import split_temperature

    logits = torch.tensor([1.5, -0.5, 0.8, 0.0, -1.0, 0.4])  # hold, off, four note-ons
    note_t, rhythm_t = 0.5, 1.3
    start = torch.logsumexp(logits[2:], 0)
    events = torch.softmax(torch.stack([logits[0], logits[1], start]) / rhythm_t, 0)
    expected = torch.cat([events[:2], events[2] * torch.softmax(logits[2:] / note_t, 0)])
    assert torch.allclose(torch.softmax(split_temperature(logits, note_t, rhythm_t), 0), expected, atol=1e-6)
    n = 200_000
    tokens = pick_tokens(split_temperature(logits, note_t, rhythm_t).expand(n, 6), (6,),
                         gumbel_noise((n, 6), 1.0, torch.Generator().manual_seed(0)))[:, 0]
    freq = torch.bincount(tokens, minlength=6).float() / n
    assert torch.allclose(freq, expected, atol=0.005), (freq, expected)
    # both at 1: the model's own distribution, unchanged
    same = torch.softmax(split_temperature(logits, 1.0, 1.0), 0)
    assert torch.allclose(same, torch.softmax(logits, 0), atol=1e-6)
    # plain temperature < 1 thins out note-ons where the pitch is uncertain; the split keeps their share
    plain = torch.softmax(logits / note_t, 0)
    split = torch.softmax(split_temperature(logits, note_t, 1.0), 0)
    assert plain[2:].sum() < torch.softmax(logits, 0)[2:].sum() - 0.05
    assert torch.isclose(split[2:].sum(), torch.softmax(logits, 0)[2:].sum(), atol=1e-6)
