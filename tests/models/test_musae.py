"""MusAE: flower / Gaussian priors, label layout, WGAN-GP critic, optimiser separation, decoder, overfitting."""

import copy
import math
import random

import pytest
import torch
from torch import nn

from musicvae.models.modules.critic import Critic, gradient_penalty
from musicvae.models.modules.encoder import BidirectionalEncoder
from musicvae.models.modules.priors import FlowerPrior, GaussianPrior, label_components
from musicvae.models.musae import MultiTrackDecoder, MusAE
from musicvae.training.adversarial import AdversarialStep, adversarial_beta
from musicvae.training.losses import predicted_tokens

V = (130, 130, 130, 130)  # drums, bass, guitar/piano, strings
T, Z = 16, 4
N = 200_000


def _cov(x: torch.Tensor) -> torch.Tensor:
    x = x.double() - x.double().mean(0)
    return x.T @ x / (x.shape[0] - 1)


def tiny_musae(z_size: int = Z, hidden: int = 16, label_classes: int = 0, components: int = 8) -> MusAE:
    return MusAE(
        BidirectionalEncoder(input_size=sum(V), hidden_size=hidden, num_layers=1, z_size=z_size),
        MultiTrackDecoder(z_size=z_size, vocab_sizes=V, hidden_size=hidden, num_layers=2, steps=T),
        FlowerPrior(z_size, components=components),
        Critic(z_size, hidden=hidden, label_classes=label_classes),
    )


def random_grids(b: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (b, T), generator=g) for v in V], dim=-1)  # (B, T, K)


def make_step(model: MusAE, critic_steps: int = 2) -> AdversarialStep:
    ae = torch.optim.Adam(model.autoencoder_parameters(), lr=1e-2)
    cr = torch.optim.Adam(model.critic.parameters(), lr=1e-2)
    return AdversarialStep(model, ae, cr, critic_steps=critic_steps)


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def unchanged(module: nn.Module, before: list[torch.Tensor]) -> bool:
    return all(torch.equal(p, q) for p, q in zip(module.parameters(), before))


# --------------------------------------------------------------------------- priors


def test_flower_means_and_covariance_formula():
    prior = FlowerPrior(5, components=32)
    assert prior.means.shape == (32, 5)
    assert torch.allclose(prior.means[:, :2].norm(dim=1), torch.ones(32), atol=1e-6)
    assert torch.allclose(prior.means[8], torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0]), atol=1e-6)  # theta = pi/2
    assert torch.allclose(prior.covariance(0), torch.diag(torch.tensor([0.1, 0.001, 0.001, 0.001, 0.001])), atol=1e-7)
    assert torch.allclose(prior.covariance(8), torch.diag(torch.tensor([0.001, 0.1, 0.001, 0.001, 0.001])), atol=1e-7)
    th = 2 * math.pi * 5 / 32
    u = torch.tensor([math.cos(th), math.sin(th), 0.0, 0.0, 0.0])  # radial direction of petal 5
    assert float(u @ prior.covariance(5) @ u) == pytest.approx(0.1, abs=1e-6)


def test_flower_component_samples_match_mean_and_rotated_covariance():
    prior = FlowerPrior(Z, components=32)
    k = 5  # theta = 56.25 degrees: an unrotated petal would fail the radial check
    z = prior.sample(N, torch.full((N,), k), generator=torch.Generator().manual_seed(0))
    assert z.shape == (N, Z)
    assert torch.allclose(z.mean(0), prior.means[k], atol=5e-3)
    cov = _cov(z)
    assert torch.allclose(cov, prior.covariance(k).double(), atol=2e-3)
    th = 2 * math.pi * k / 32
    radial = torch.tensor([math.cos(th), math.sin(th), 0.0, 0.0], dtype=torch.float64)
    tangent = torch.tensor([-math.sin(th), math.cos(th), 0.0, 0.0], dtype=torch.float64)
    assert float(radial @ cov @ radial) == pytest.approx(0.1, rel=0.02)
    assert float(tangent @ cov @ tangent) == pytest.approx(0.001, rel=0.03)
    assert float(cov[2, 2]) == pytest.approx(0.001, rel=0.03) and float(cov[3, 3]) == pytest.approx(0.001, rel=0.03)


def test_flower_mixture_moments_and_uniform_components():
    prior = FlowerPrior(Z, components=32)
    z = prior.sample(N, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(z.mean(0), torch.zeros(Z), atol=0.01)
    expected = torch.diag(torch.tensor([0.5 + 0.101 / 2, 0.5 + 0.101 / 2, 0.001, 0.001], dtype=torch.float64))
    assert torch.allclose(_cov(z), expected, atol=0.01)
    angle = torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)
    nearest = torch.round(angle / (2 * math.pi / 32)).long() % 32
    counts = torch.bincount(nearest, minlength=32).double()
    assert (counts / (N / 32) - 1).abs().max() < 0.1


def test_flower_labels_pick_components_and_minus_one_means_any():
    prior = FlowerPrior(Z, components=8)
    labels = torch.tensor([3] * 500 + [-1] * 500)
    z = prior.sample(1000, labels, generator=torch.Generator().manual_seed(2))
    comp = (torch.cdist(z, prior.means)).argmin(1)
    assert (comp[:500] == 3).all()
    assert len(set(comp[500:].tolist())) == 8
    with pytest.raises(ValueError):
        prior.sample(2, torch.tensor([0, 8]))


def test_gaussian_prior_moments():
    z = GaussianPrior(Z).sample(N, generator=torch.Generator().manual_seed(3))
    assert z.shape == (N, Z)
    assert torch.allclose(z.mean(0), torch.zeros(Z), atol=0.01)
    assert torch.allclose(_cov(z), torch.eye(Z, dtype=torch.float64), atol=0.015)


def _circular(a: int, b: int, k: int) -> int:
    return min((a - b) % k, (b - a) % k)


def test_label_components_neighbours_and_determinism():
    names = ["essen/germany", "nottingham", "lmd:pop", "essen/china", "lmd:rock", "essen/france", "jazz"]
    out = label_components(names, 32)
    assert set(out) == set(names) and len(set(out.values())) == len(names)
    assert all(0 <= c < 32 for c in out.values())
    for group in (["essen/china", "essen/france", "essen/germany"], ["lmd:pop", "lmd:rock"]):
        comps = [out[n] for n in group]
        assert all(_circular(a, b, 32) == 1 for a, b in zip(comps, comps[1:]))
    assert _circular(out["essen/germany"], out["jazz"], 32) > 1  # unrelated groups are kept apart
    shuffled = names[:] + ["lmd:pop"]
    random.Random(0).shuffle(shuffled)
    assert label_components(shuffled, 32) == out
    # more labels than components: related labels share or neighbour petals
    many = [f"g{g}/s{i:02d}" for g in range(4) for i in range(10)]
    packed = label_components(many, 8)
    for g in range(4):
        comps = [packed[f"g{g}/s{i:02d}"] for i in range(10)]
        assert all(_circular(a, b, 8) <= 1 for a, b in zip(comps, comps[1:]))


# --------------------------------------------------------------------------- critic


class LinearCritic(nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.lin = nn.Linear(w.numel(), 1)
        with torch.no_grad():
            self.lin.weight.copy_(w[None])

    def forward(self, z):
        return self.lin(z).squeeze(-1)


def test_gradient_penalty_of_linear_critic_is_hand_value_and_trains():
    critic = LinearCritic(torch.tensor([3.0, 4.0, 0.0, 0.0]))  # ||w|| = 5
    real, fake = torch.randn(7, Z), torch.randn(7, Z)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-5)
    gp.backward()  # create_graph=True: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(critic.lin.weight.grad[0], 2 * 4.0 * torch.tensor([3.0, 4.0, 0.0, 0.0]) / 5.0, atol=1e-4)


def test_critic_shapes_and_labels():
    c = Critic(Z, hidden=8, layers=2)
    assert c(torch.randn(5, Z)).shape == (5,)
    assert [type(m) for m in c.net] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    cl = Critic(Z, hidden=8, label_classes=3)
    z = torch.randn(3, Z)
    s = cl(z, torch.tensor([-1, 0, 2]))
    assert s.shape == (3,) and not torch.allclose(s, cl(z, torch.tensor([1, 1, 1])))


# --------------------------------------------------------------------------- optimiser separation


def test_optimisers_must_be_separate():
    model = tiny_musae()
    good = torch.optim.Adam(model.critic.parameters())
    with pytest.raises(ValueError):
        AdversarialStep(model, torch.optim.Adam(model.parameters()), good)
    with pytest.raises(ValueError):
        AdversarialStep(model, torch.optim.Adam(model.autoencoder_parameters()), torch.optim.Adam(model.parameters()))
    step = make_step(model)
    critic_ids = {id(p) for p in model.critic.parameters()}
    assert not critic_ids & {id(p) for g in step.ae_optimizer.param_groups for p in g["params"]}


def test_critic_phase_leaves_autoencoder_untouched():
    torch.manual_seed(0)
    model, x = tiny_musae(), random_grids(6)
    step = make_step(model)
    enc, dec, cri = snapshot(model.encoder), snapshot(model.decoder), snapshot(model.critic)
    stats = step.critic_update(x, generator=torch.Generator().manual_seed(0))
    assert unchanged(model.encoder, enc) and unchanged(model.decoder, dec)
    assert not unchanged(model.critic, cri)
    assert all(p.grad is None for p in model.autoencoder_parameters())
    assert set(stats) == {"critic_loss", "wasserstein", "gradient_penalty"}


def test_autoencoder_phase_leaves_critic_untouched_and_uses_it():
    torch.manual_seed(0)
    model, x = tiny_musae(), random_grids(6)
    twin = copy.deepcopy(model)
    step, twin_step = make_step(model), make_step(twin)
    cri = snapshot(model.critic)
    stats = step.autoencoder_update(x, beta=1.0)
    assert unchanged(model.critic, cri)
    assert all(p.grad is None and p.requires_grad for p in model.critic.parameters())
    assert stats["adversarial_loss"] != 0.0
    twin_step.autoencoder_update(x, beta=0.0)  # same start, no adversarial term
    assert not unchanged(model.encoder, snapshot(twin.encoder))  # the critic's gradient reached the encoder
    assert unchanged(model.decoder, snapshot(twin.decoder))  # ... and never the decoder


def test_full_step_with_labels_conditioned_critic():
    torch.manual_seed(0)
    model, x = tiny_musae(label_classes=8), random_grids(6)
    step = make_step(model, critic_steps=3)
    enc, cri = snapshot(model.encoder), snapshot(model.critic)
    stats = step.step(x, torch.tensor([0, 1, -1, 7, 2, -1]), beta=0.5, generator=torch.Generator().manual_seed(1))
    for key in ("critic_loss", "wasserstein", "gradient_penalty", "loss", "r_loss", "adversarial_loss", "accuracy"):
        assert math.isfinite(stats[key])
    assert stats["beta"] == 0.5
    assert not unchanged(model.encoder, enc) and not unchanged(model.critic, cri)


# --------------------------------------------------------------------------- model


def test_decoder_and_musae_shapes_and_sampling():
    torch.manual_seed(0)
    model, x = tiny_musae().eval(), random_grids(3)
    out = model(x)
    assert out["logits"].shape == (3, T, sum(V)) and out["z"].shape == (3, Z)
    assert out["mu"] is None and out["sigma"] is None
    assert torch.equal(model.encode(x)[0], out["z"])  # deterministic encoder
    assert torch.equal(model.decoder(out["z"]), out["logits"])  # not autoregressive: tokens never fed
    for labels in (None, torch.tensor([0, -1, 7, 3])):
        s = model.sample(4, temperature=1.0, labels=labels, generator=torch.Generator().manual_seed(0))
        assert s.shape == (4, T, len(V)) and s.dtype == torch.long
        for k, v in enumerate(V):
            assert 0 <= int(s[..., k].min()) and int(s[..., k].max()) < v
    greedy = model.sample(4, temperature=0.0, generator=torch.Generator().manual_seed(5))
    z = model.prior.sample(4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(greedy, predicted_tokens(model.decoder(z), V))
    logits, tokens = model.decoder.unroll(z, 4, temperature=0.0)
    assert torch.equal(tokens, greedy) and torch.equal(logits, model.decoder(z))


def phrase_grids(seed: int = 0) -> torch.Tensor:
    """32 grids: 8 random prototypes x 4 copies; each track plays 4 phrases of 4 steps of one token."""
    g = torch.Generator().manual_seed(seed)
    proto = torch.randint(0, 130, (8, 4, len(V)), generator=g)  # (P, phrases, K)
    return proto.repeat(4, 1, 1).repeat_interleave(T // 4, dim=1)  # (32, T, K)


def test_tiny_musae_learns_to_reconstruct():
    torch.manual_seed(0)
    x = phrase_grids()
    model = MusAE(
        BidirectionalEncoder(input_size=sum(V), hidden_size=32, num_layers=1, z_size=8),
        MultiTrackDecoder(z_size=8, vocab_sizes=V, hidden_size=32, num_layers=1, steps=T),
        FlowerPrior(8, components=8), Critic(8, hidden=32),
    )
    step = make_step(model, critic_steps=1)
    gen = torch.Generator().manual_seed(0)
    first = step.step(x, beta=0.01, generator=gen)
    for _ in range(199):
        last = step.step(x, beta=0.01, generator=gen)
    model.eval()
    with torch.no_grad():
        acc = (predicted_tokens(model(x)["logits"], V) == x).float().mean().item()
    assert first["accuracy"] < 0.05
    assert acc > 0.9 and last["r_loss"] < 0.1 * first["r_loss"]  # runs reach >= 0.99 and ~0.02


def test_adversarial_beta_schedule():
    assert adversarial_beta(0) == 0.0
    assert adversarial_beta(9_999) == 0.0
    assert adversarial_beta(10_000) == 0.1
    assert adversarial_beta(35_000) == 0.3
    assert adversarial_beta(100_000) == 1.0 and adversarial_beta(10**7) == 1.0
    assert adversarial_beta(250, every=100, increment=0.25, max_beta=0.6) == 0.5
    with pytest.raises(ValueError):
        adversarial_beta(-1)


def test_nearest_component_is_the_petal_of_highest_density():
    prior = FlowerPrior(Z, components=32)
    k = torch.arange(32).repeat_interleave(300)
    z = prior.sample(len(k), k, generator=torch.Generator().manual_seed(4))
    nearest = prior.nearest_component(z)
    # petals overlap only near the origin (a draw rarely falls there): ~97 % come back to their own
    assert (nearest == k).float().mean() > 0.95
    petals = [torch.distributions.MultivariateNormal(prior.means[j], prior.covariance(j)) for j in range(32)]
    pick = torch.randperm(len(k), generator=torch.Generator().manual_seed(5))[:400]
    log_density = torch.stack([p.log_prob(z[pick]) for p in petals], dim=1)  # (400, 32)
    assert torch.equal(nearest[pick], log_density.argmax(dim=1))


def test_reconstruction_scale_weighs_only_the_reconstruction_term():
    tokens = random_grids(8)
    grads = []
    for scale in (1.0, 1.0 / T):
        torch.manual_seed(0)
        model = tiny_musae()
        ae = torch.optim.SGD(model.autoencoder_parameters(), lr=0.0)  # lr 0: look at the gradients only
        step = AdversarialStep(model, ae, torch.optim.SGD(model.critic.parameters(), lr=0.0), critic_steps=0,
                               reconstruction_scale=scale)
        stats = step.autoencoder_update(tokens, beta=0.0)
        grads.append(torch.cat([p.grad.flatten() for p in model.decoder.parameters()]))
        assert stats["r_loss"] > 0 and stats["loss"] == pytest.approx(scale * stats["r_loss"], rel=1e-5)
    assert torch.allclose(grads[1], grads[0] / T, rtol=1e-4, atol=1e-8)


def test_step_clock_marks_step_in_bar_and_bar():
    from musicvae.models.musae import step_clock

    c = step_clock(32, 16)
    assert c.shape == (32, 18) and torch.equal(c.sum(1), torch.full((32,), 2.0))
    assert c[17, 1] == 1 and c[17, 16 + 1] == 1 and c[17, 16] == 0  # step 17: 2nd step of bar 2
    assert torch.equal(c[3, :16], c[19, :16]) and not torch.equal(c[3], c[19])
    assert step_clock(8, 16).shape == (8, 17)  # shorter than a bar: one bar column
    with pytest.raises(ValueError):
        step_clock(0, 16)


def test_position_input_widens_the_decoder_input_and_changes_its_output():
    torch.manual_seed(0)
    plain = MultiTrackDecoder(z_size=Z, vocab_sizes=V, hidden_size=8, num_layers=1, steps=T)
    clocked = MultiTrackDecoder(z_size=Z, vocab_sizes=V, hidden_size=8, num_layers=1, steps=T, steps_per_bar=8,
                                position_input=True)
    assert plain.lstms[0].input_size == Z and clocked.lstms[0].input_size == Z + 8 + 2
    assert "clock" not in clocked.state_dict()  # derived, not a weight: checkpoints stay as they were
    z = torch.randn(3, Z)
    assert clocked(z).shape == plain(z).shape == (3, T, sum(V))
    # the clock reaches the output: zeroing its input weights changes the logits
    before = clocked(z)
    with torch.no_grad():
        for lstm in clocked.lstms:
            lstm.weight_ih_l0[:, Z:] = 0
    assert not torch.allclose(before, clocked(z))


def test_encoder_state_norm_spreads_the_codes_of_similar_windows():
    """Mostly-hold windows give nearly equal LSTM states; normalised, their codes differ far more."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 32, 130)
    x[..., 129] = 1.0  # hold everywhere ...
    for i in range(64):  # ... but one note-on per window, at a random step and pitch
        step, pitch = torch.randint(0, 32, (2,), generator=g)
        x[i, step, 129], x[i, step, 60 + int(pitch) % 12] = 0.0, 1.0
    spreads = {}
    for norm in (False, True):
        torch.manual_seed(0)
        enc = BidirectionalEncoder(input_size=130, hidden_size=64, num_layers=2, z_size=8, state_norm=norm)
        assert ("norm.weight" in enc.state_dict()) == norm
        with torch.no_grad():
            spreads[norm] = enc(x)[0].std(0).mean().item()
    assert spreads[True] > 10 * spreads[False]


def test_musae_presets_use_the_clock_and_the_normalised_encoder():
    from musicvae.models.builders import build_model
    from musicvae.presets import get_preset

    model = build_model(get_preset("musae-gauss_2bar_tiny"), (130,))
    assert model.encoder.norm is not None and model.decoder.clock is not None
    assert model.decoder.clock.shape == (32, 18)
    old = build_model(get_preset("musae-gauss_2bar_tiny", ["musae.position_input=false",
                                                           "musae.encoder_norm=false"]), (130,))
    assert old.encoder.norm is None and old.decoder.clock is None  # checkpoints from before still load


# ------------------------------------------------------------- stochastic encoder (the paper's)


def test_stochastic_encoder_samples_z_while_training_and_gives_the_mean_in_eval():
    torch.manual_seed(0)
    enc = BidirectionalEncoder(input_size=sum(V), hidden_size=16, num_layers=1, z_size=Z, sigma_activation="exp")
    model = MusAE(enc, MultiTrackDecoder(z_size=Z, vocab_sizes=V, hidden_size=16, num_layers=1, steps=T),
                  GaussianPrior(Z), Critic(Z, hidden=16), stochastic=True)
    x = random_grids(8)
    mu, sigma = enc(torch.cat([nn.functional.one_hot(x[..., k], v) for k, v in enumerate(V)], -1).float())
    torch.testing.assert_close(sigma, torch.exp(2.0 * enc.to_sigma(_final_states(enc, x))))
    model.train()
    a = model.code(x, torch.Generator().manual_seed(1))
    b = model.code(x, torch.Generator().manual_seed(1))
    c = model.code(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # z - mu is the encoder's sigma times standard normal noise
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, mu + sigma * eps)
    model.eval()
    torch.testing.assert_close(model.code(x), mu)
    deterministic = copy.deepcopy(model)
    deterministic.stochastic = False
    deterministic.train()
    torch.testing.assert_close(deterministic.code(x), mu)


def _final_states(enc: BidirectionalEncoder, x: torch.Tensor) -> torch.Tensor:
    one = torch.cat([nn.functional.one_hot(x[..., k], v) for k, v in enumerate(V)], -1).float()
    _, (h, _) = enc.lstm(one)
    return torch.cat([h[-2], h[-1]], dim=-1)


def test_full_musae_presets_are_the_papers_and_cpu_keep_our_additions():
    from musicvae.presets import PRESETS

    for name in ("musae-gauss_2bar", "musae-gmm_16bar"):
        m, a = PRESETS[name].model, PRESETS[name].musae
        assert a.stochastic_encoder and m.sigma_activation == "exp" and m.encoder_hidden == m.decoder_hidden == 1024
        assert not a.position_input and not a.encoder_norm
        c = PRESETS[name + "_cpu"].musae
        assert c.position_input and c.encoder_norm and not c.stochastic_encoder
