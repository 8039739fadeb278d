"""MCVAE: the mixture-density head, the composer over bar codes, composition, and the VAE pairing checks."""

import math
from pathlib import Path

import numpy as np

import pytest
import torch

from musicvae.models.builders import build_model
from musicvae.models.mcvae import MCVAE, Composer, bar_vae_fingerprint, check_seed_codes
from musicvae.models.modules.mdn import MDNHead, MDNParams, mdn_nll, mdn_sample
from musicvae.presets import get_preset
from musicvae.representations import BarConverter


def normal_pdf(x: float, mu: float, sigma: float) -> float:
    return math.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


def params(logits, means, sigmas) -> MDNParams:
    return MDNParams(torch.tensor(logits, dtype=torch.float64), torch.tensor(means, dtype=torch.float64),
                     torch.tensor(sigmas, dtype=torch.float64).log())


def bar_vae(z_size: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    cfg = get_preset("cat-mel_2bar_small_tiny", ["data.bars=1", f"model.z_size={z_size}"])
    return build_model(cfg, (130,)).eval()


# --------------------------------------------------------------------------- MDN
def test_nll_one_component_by_hand():
    p = params([0.0], [[0.0, 1.0]], [[1.0, 2.0]])  # N((0, 1), diag(1, 4))
    target = torch.tensor([1.0, 1.0], dtype=torch.float64)
    # -log N(1; 0, 1) - log N(1; 1, 2^2) = (0.5 + 0.5 log 2pi) + (log 2 + 0.5 log 2pi)
    expected = 0.5 + math.log(2.0) + math.log(2 * math.pi)
    assert float(mdn_nll(p, target)) == pytest.approx(expected, abs=1e-12)


def test_nll_two_components_by_hand():
    # weights 0.25 / 0.75 as logits; N(0, 1) and N(2, 0.5^2) in one dimension
    p = params([math.log(0.25), math.log(0.75)], [[0.0], [2.0]], [[1.0], [0.5]])
    for x in (1.0, -0.3, 2.2):
        expected = -math.log(0.25 * normal_pdf(x, 0.0, 1.0) + 0.75 * normal_pdf(x, 2.0, 0.5))
        assert float(mdn_nll(p, torch.tensor([x], dtype=torch.float64))) == pytest.approx(expected, abs=1e-12)
    # far in a tail the log-sum-exp stays finite where the plain sum underflows
    assert math.isfinite(float(mdn_nll(p, torch.tensor([200.0], dtype=torch.float64))))


def test_nll_matches_torch_mixture_with_batch_dims():
    g = torch.Generator().manual_seed(0)
    logits, means = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, 5, generator=g)
    log_sigmas, target = 0.3 * torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    D = torch.distributions
    ref = D.MixtureSameFamily(D.Categorical(logits=logits), D.Independent(D.Normal(means, log_sigmas.exp()), 1))
    nll = mdn_nll(MDNParams(logits, means, log_sigmas), target)
    assert nll.shape == (2, 3)
    torch.testing.assert_close(nll, -ref.log_prob(target), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="target shape"):
        mdn_nll(MDNParams(logits, means, log_sigmas), target[..., :4])


def test_zero_mixture_temperature_picks_the_most_likely_component():
    p = params([[0.0, 3.0, 1.0]] * 4, [[[-5.0, 0.0], [7.0, 7.0], [5.0, -5.0]]] * 4, [[[0.01] * 2] * 3] * 4)
    g = torch.Generator().manual_seed(1)
    for tau in (0.0, 1e-3):
        z = mdn_sample(p, mixture_temperature=tau, sigma_temperature=1.0, generator=g)
        assert z.shape == (4, 2)
        assert torch.allclose(z, torch.tensor([7.0, 7.0], dtype=torch.float64).expand(4, 2), atol=0.1)


def test_zero_sigma_temperature_returns_the_component_mean():
    p = params([0.0, 3.0, 1.0], [[-5.0, 0.0], [7.0, 7.0], [5.0, -5.0]], [[2.0, 2.0]] * 3)
    z = mdn_sample(p, mixture_temperature=0.0, sigma_temperature=0.0)
    assert z.tolist() == [7.0, 7.0]
    g = torch.Generator().manual_seed(2)
    draws = [mdn_sample(p, 1.0, 0.0, g).tolist() for _ in range(30)]
    assert all(d in p.means.tolist() for d in draws)  # always exactly one of the means
    assert len({tuple(d) for d in draws}) > 1  # at temperature 1 not only the argmax


def test_mixture_temperature_one_samples_the_weights_and_sigma_scales():
    p = params([[math.log(0.25), math.log(0.75)]] * 4000, [[[-10.0], [10.0]]] * 4000, [[[1.0], [1.0]]] * 4000)
    g = torch.Generator().manual_seed(3)
    z = mdn_sample(p, 1.0, 1.0, g)[:, 0]
    assert float((z > 0).double().mean()) == pytest.approx(0.75, abs=0.03)
    assert float(z[z > 0].std()) == pytest.approx(1.0, abs=0.1)
    assert float(mdn_sample(p, 1.0, 0.5, g)[:, 0].abs().sub(10).std()) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError):
        mdn_sample(p, -1.0, 1.0)


def test_head_shapes_and_sigma_floor():
    head = MDNHead(8, 3, components=10, min_log_sigma=-7.0)
    with torch.no_grad():
        head.proj.bias.fill_(-100.0)
    with torch.no_grad():
        out = head(torch.zeros(2, 5, 8))
    assert out.logits.shape == (2, 5, 10) and out.means.shape == out.log_sigmas.shape == (2, 5, 10, 3)
    assert float(out.log_sigmas.min()) >= -7.0


# ---------------------------------------------------------------------- composer
@torch.no_grad()
def test_composer_is_causal_and_masks_padding():
    torch.manual_seed(0)
    comp = Composer(z_size=4, hidden_size=16, num_layers=2, components=3).eval()
    z = torch.randn(2, 6, 4)
    out = comp(z)
    assert out.logits.shape == (2, 6, 3) and out.means.shape == (2, 6, 3, 4)
    z2 = z.clone()
    z2[:, 3:] += 1.0
    torch.testing.assert_close(comp(z2).means[:, :3], out.means[:, :3])  # step t sees z_1..z_t only
    lengths = torch.tensor([6, 3])
    loss = comp.loss(z, lengths)
    nll, mask = comp.step_nll(z, lengths)
    assert mask.tolist() == [[True] * 5, [True, True, False, False, False]]
    assert float(loss) == pytest.approx(float(nll[mask].mean()), rel=1e-6)
    z3 = z.clone()
    z3[1, 3:] = 99.0  # padding after song 2's 3 bars changes nothing
    assert float(comp.loss(z3, lengths)) == pytest.approx(float(loss), rel=1e-6)
    with pytest.raises(ValueError, match="no valid step"):
        comp.loss(z, torch.tensor([1, 1]))


def test_continue_shapes_seeds_and_errors():
    comp = Composer(z_size=4, hidden_size=16, num_layers=1, components=3).eval()
    prefix = torch.randn(3, 2, 4)
    a = comp.continue_(prefix, 5, 1.0, 1.0, torch.Generator().manual_seed(0))
    b = comp.continue_(prefix, 5, 1.0, 1.0, torch.Generator().manual_seed(0))
    assert a.shape == (3, 5, 4) and torch.equal(a, b)
    greedy = comp.continue_(prefix, 3, 0.0, 0.0)  # fully deterministic: argmax component means
    torch.testing.assert_close(greedy[:, 0], comp.continue_(prefix, 1, 0.0, 0.0)[:, 0])
    assert comp.continue_(prefix, 0).shape == (3, 0, 4)
    with pytest.raises(ValueError, match="at least one full bar"):
        comp.continue_(torch.zeros(3, 0, 4), 4)
    with pytest.raises(ValueError, match="seed codes must be"):
        check_seed_codes(torch.zeros(2, 5), 4)


def test_composer_loss_decreases_on_a_tiny_latent_set():
    from musicvae.data.latents import LatentSet
    from musicvae.training.composer import _batch, evaluate_composer, unconditional_nll

    g = torch.Generator().manual_seed(0)
    songs = []
    for _ in range(40):  # a rotation in two dimensions plus a little noise: predictable from the last bar
        z, seq = torch.randn(1, 4, generator=g), []
        for _ in range(12):
            seq.append(z)
            z = torch.stack([z[:, 1], -z[:, 0], 0.9 * z[:, 2], z[:, 3] * 0.5], dim=-1) + 0.05 * torch.randn(1, 4, generator=g)
        songs.append(torch.cat(seq))
    lengths = torch.tensor([len(s) for s in songs])
    sets = LatentSet(torch.cat(songs), lengths, torch.arange(40), {"bar_vae": "synthetic"})
    train, held = sets.subset(range(32)), sets.subset(range(32, 40))
    torch.manual_seed(0)
    comp = Composer(z_size=4, hidden_size=32, num_layers=1, components=3)
    opt = torch.optim.Adam(comp.parameters(), lr=1e-2)
    before = evaluate_composer(comp, held)
    for step in range(150):
        comp.train()
        rng = np.random.default_rng(step)
        loss = comp.loss(*_batch(train, rng.integers(0, 32, 16), 0, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate_composer(comp, held)
    assert after < before - 2.0 and after < unconditional_nll(train, held)


# -------------------------------------------------------------------------- MCVAE
def test_compose_64_bars_of_valid_tokens():
    vae = bar_vae()
    torch.manual_seed(1)
    model = MCVAE(vae, Composer(z_size=16, hidden_size=16, num_layers=1, components=3)).eval()
    tokens = model.compose(64, temperature=1.0, batch=2, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (2, 64 * 16, 1)
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 130
    song = BarConverter().decode(tokens[0, :, 0].numpy().reshape(64, 16))
    assert song.num_bars <= 64
    # from a seed: its codes are the first ones, the rest is continued
    seed_tokens = torch.randint(0, 130, (1, 32, 1))
    seed = model.encode_bars(seed_tokens)
    assert seed.shape == (1, 2, 16)
    z = model.compose_latents(25, seed, generator=torch.Generator().manual_seed(0))
    assert z.shape == (1, 25, 16) and torch.equal(z[:, :2], seed)
    assert model.compose(25, seed[0], temperature=0.0).shape == (1, 25 * 16, 1)
    with pytest.raises(ValueError, match="more than"):
        model.compose(1, seed)
    with pytest.raises(ValueError, match="at least one full bar"):
        model.compose(4, torch.zeros(1, 0, 16))
    with pytest.raises(ValueError, match="whole number"):
        model.encode_bars(torch.zeros(1, 8, 1, dtype=torch.long))


def test_mismatched_bar_vae_is_refused():
    vae = bar_vae(z_size=16)
    with pytest.raises(ValueError, match="another bar VAE"):
        MCVAE(vae, Composer(z_size=8, hidden_size=8, num_layers=1, components=2))
    two_bar = build_model(get_preset("cat-mel_2bar_small_tiny"), (130,))
    with pytest.raises(ValueError, match="1-bar"):
        MCVAE(two_bar, Composer(z_size=two_bar.z_size, hidden_size=8, num_layers=1, components=2))


def test_fingerprint_survives_fp16_export_and_tells_vaes_apart():
    a, b = bar_vae(seed=0), bar_vae(seed=1)
    assert bar_vae_fingerprint(a) == bar_vae_fingerprint(bar_vae(seed=0))
    assert bar_vae_fingerprint(a) != bar_vae_fingerprint(b)
    c = bar_vae(seed=0)
    c.load_state_dict({k: v.half().float() for k, v in a.state_dict().items()})  # an fp16 export, loaded back
    assert bar_vae_fingerprint(c) == bar_vae_fingerprint(a)


def test_composer_folder_refuses_another_bar_vae(tmp_path):
    """A composer folder of the first format (composer.json; the bundled mcvae_folk is one) keeps loading."""
    import json
    import shutil

    from musicvae.generation.compose import load_mcvae
    from musicvae.generation.windows import InputError

    folder = tmp_path / "composer"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "old_format" / "composer", folder)
    model = load_mcvae(folder)  # the stored copy of the bar VAE
    assert bar_vae_fingerprint(model.bar_vae) == json.loads((folder / "composer.json").read_text())["bar_vae"]
    assert model.compose(3).shape == (1, 48, 1)
    same = load_mcvae(folder, bar_vae=model.bar_vae)
    torch.testing.assert_close(same.composer.state_dict(), model.composer.state_dict())
    with pytest.raises(InputError, match="bar VAE given"):
        load_mcvae(folder, bar_vae=bar_vae(seed=1))
    (folder / "composer.safetensors").write_bytes((folder / "composer.safetensors").read_bytes()[:-4] + b"abcd")
    with pytest.raises(InputError, match="checksum mismatch"):
        load_mcvae(folder)
    with pytest.raises(InputError, match="no such file"):
        load_mcvae(tmp_path / "nowhere")


def test_bar_vae_run_to_composer_to_64_bars(tmp_path):
    """The whole path: a 1-bar VAE trained by the Trainer -> latents of prepared songs -> composer -> compose."""
    from synth import write_song

    from musicvae.data.latents import load_latents
    from musicvae.data.prepare import PrepareConfig, prepare
    from musicvae.generation.compose import load_bar_vae, load_mcvae
    from musicvae.generation.windows import InputError
    from musicvae.training.trainer import Trainer, TrainError

    src = tmp_path / "midi"
    src.mkdir()
    for i in range(8):
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * (1 + i % 3)) % 20 for j in range(72 + 8 * i)])
    prepare(src, tmp_path / "mel1", PrepareConfig("melody", 1, eval_fraction=0.25))
    prepare(src, tmp_path / "bars", PrepareConfig("bars", 16, eval_fraction=0.25))
    fast = ["data.bars=1", "steps=10", "log_every=5", "eval_every=10", "checkpoint_every=10", "batch_size=16",
            "eval_batches=1", "device=cpu"]
    Trainer(get_preset("cat-mel_2bar_small_tiny", fast), tmp_path / "mel1", tmp_path / "vae").fit()
    cfg = get_preset("mcvae-composer_tiny", ["steps=20", "device=cpu"])
    records = []
    trainer = Trainer(cfg, tmp_path / "bars", tmp_path / "comp", on_log=records.append,
                      bar_vae=load_bar_vae(tmp_path / "vae"))
    final = trainer.fit()
    assert math.isfinite(final["eval_nll"]) and (tmp_path / "comp" / "metrics.jsonl").is_file()
    assert any(n.startswith("train: ") and "dropped" in n for n in trainer.notices)
    held = load_latents(tmp_path / "comp" / "latents" / "eval")
    assert len(held) >= 1 and held.info["split"] == "eval"
    assert any("eval_nll" in r for r in records) and any("nll" in r for r in records)
    model = load_mcvae(tmp_path / "comp")  # an ordinary run: its best checkpoint holds bar VAE and composer
    tokens = model.compose(64, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (1, 1024, 1) and 0 <= int(tokens.min()) and int(tokens.max()) < 130
    with pytest.raises(InputError, match="bar VAE given"):
        load_mcvae(tmp_path / "comp", bar_vae=bar_vae())
    with pytest.raises(TrainError, match="already holds"):
        Trainer(cfg, tmp_path / "bars", tmp_path / "comp", bar_vae=load_bar_vae(tmp_path / "vae"))


def test_a_bar_vae_that_is_not_one_is_refused(tmp_path):
    from musicvae.generation.compose import load_bar_vae
    from musicvae.generation.windows import InputError

    with pytest.raises(InputError, match="bar VAE: .*unknown model"):
        load_bar_vae(tmp_path / "nothing")
    with pytest.raises(InputError, match="not a 1-bar VAE"):
        load_bar_vae("mel_2bar")  # the bundled 2-bar model
