"""Models: shapes for every preset family, teacher forcing = unrolling, sampling, overfitting."""

import pytest
import torch

from musicvae.config import ConfigError
from musicvae.models.builders import build_model, count_parameters
from musicvae.models.musicvae import MusicLM, MusicVAE
from musicvae.presets import FULL, PRESETS, get_preset
from musicvae.models.distributions import elbo_loss
from musicvae.training.losses import accuracy

VOCAB = {"melody": (130,), "drums": (512,), "trio": (130, 130, 512)}


@pytest.mark.parametrize("name", sorted(FULL))
def test_tiny_variant_shapes(name):
    cfg = PRESETS[f"{name}_tiny"]
    vocab = VOCAB[cfg.data.kind]
    model = build_model(cfg, vocab)
    T = 16 * cfg.data.bars
    x = torch.stack([torch.randint(0, v, (3, T)) for v in vocab], dim=-1)  # (B, T, K)
    out = model(x)
    assert out["logits"].shape == (3, T, sum(vocab))
    if isinstance(model, MusicVAE):
        assert out["mu"].shape == out["sigma"].shape == (3, cfg.model.z_size)
        assert (out["sigma"] > 0).all()
    else:
        assert isinstance(model, MusicLM) and out["mu"] is None
    samples = model.sample(2, temperature=1.0)
    assert samples.shape == (2, T, len(vocab))
    for k, v in enumerate(vocab):
        assert 0 <= int(samples[..., k].min()) and int(samples[..., k].max()) < v


@pytest.mark.parametrize("name", ["cat-mel_2bar_small_tiny", "hierdec-trio_16bar_tiny", "flat-trio_16bar_tiny", "hierdec-mel_32bar_tiny"])
def test_teacher_forcing_equals_unroll_fed_with_targets(name):
    cfg = PRESETS[name]
    vocab = VOCAB[cfg.data.kind]
    model = build_model(cfg, vocab).eval()
    T = 16 * cfg.data.bars
    x = torch.stack([torch.randint(0, v, (2, T)) for v in vocab], dim=-1)
    z = torch.randn(2, cfg.model.z_size)
    teacher = model.decoder.teacher(z, x)
    unrolled, _ = model.decoder.unroll(z, 2, targets=x, feed_sample=torch.zeros(2, T, dtype=torch.bool))
    torch.testing.assert_close(teacher, unrolled, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("name", ["hierdec-mel_16bar_tiny", "hierdec-trio_16bar_tiny", "hierdec-mel_32bar_tiny"])
def test_hierarchical_inference_path_samples_what_the_reference_loop_samples(name, temperature, monkeypatch):
    """Free-running decoding decodes all segments at once from assumed first inputs and redoes
    the wrong ones; the tokens are those of the segment-by-segment loop."""
    from musicvae.models.modules.decoders import CoreDecoder

    passes = []
    decode = CoreDecoder.decode_prepared
    monkeypatch.setattr(CoreDecoder, "decode_prepared", lambda self, first, *a: passes.append(len(first))
                        or decode(self, first, *a))
    cfg = PRESETS[name]
    vocab = VOCAB[cfg.data.kind]
    torch.manual_seed(0)
    model = build_model(cfg, vocab).eval()
    z = torch.randn(2, cfg.model.z_size)
    runs = []
    for fast in (True, False):
        gen = torch.Generator().manual_seed(7)
        with torch.set_grad_enabled(not fast):  # grad enabled forces the reference (nn.LSTM) path
            logits, tokens = model.decoder.unroll(z, 2, temperature=temperature, generator=gen)
        runs.append((logits.detach(), tokens))
    assert torch.equal(runs[0][1], runs[1][1])
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=1e-4, atol=1e-4)
    U = model.decoder.segments
    assert passes[0] == 2 * U  # the first pass decodes every segment of both sequences
    if temperature > 0:  # an untrained decoder ends its bars anywhere: segments were decoded again
        assert len(passes) > len(model.decoder.cores)


def test_hierarchical_segments_reset_state_but_see_conductor():
    cfg = PRESETS["hierdec-mel_16bar_tiny"]
    model = build_model(cfg, (130,)).eval()
    assert model.decoder.segments == 16 and model.decoder.segment_steps == 16
    assert PRESETS["hierdec-mel_32bar_tiny"].model.segments == 16  # 2-bar segments
    x = torch.randint(0, 130, (1, 256, 1))
    z = torch.randn(1, cfg.model.z_size)
    base = model.decoder.teacher(z, x)
    # changing bar 3 changes nothing before it, and after it only through the one carried token
    y = x.clone()
    y[0, 48:63, 0] = (y[0, 48:63, 0] + 1) % 130
    changed = model.decoder.teacher(z, y)
    torch.testing.assert_close(base[:, :49], changed[:, :49])
    torch.testing.assert_close(base[:, 65:], changed[:, 65:])


def test_argmax_decoding_is_deterministic_and_temperature_matters():
    model = build_model(PRESETS["cat-mel_2bar_small_tiny"], (130,)).eval()
    z = torch.randn(4, 16)
    a, b = model.decode(z, temperature=0.0), model.decode(z, temperature=0.0)
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(1)
    hot = model.decode(z, temperature=5.0, generator=g)
    assert not torch.equal(a, hot)


@pytest.mark.parametrize("activation", ["softplus", "exp"])
def test_sigma_activations(activation):
    """sigma is the named function of the encoder's sigma head (softplus: the ICML paper; exp(2 pre): the
    workshop paper, MusAE): a model built with one must not compute the other."""
    import torch.nn.functional as F

    model = build_model(get_preset("cat-mel_2bar_small_tiny", [f"model.sigma_activation={activation}"]), (130,))
    seen = []
    handle = model.encoder.to_sigma.register_forward_hook(lambda mod, args, out: seen.append(out.detach()))
    torch.manual_seed(0)
    mu, sigma = model.encode(torch.randint(0, 130, (4, 32, 1)))
    handle.remove()
    (pre,) = seen
    assert (sigma > 0).all() and sigma.shape == mu.shape == pre.shape
    expected = {"softplus": F.softplus(pre), "exp": torch.exp(2.0 * pre)}
    other = expected.pop("exp" if activation == "softplus" else "softplus")
    assert torch.allclose(sigma, expected[activation], rtol=1e-5, atol=1e-7)
    assert not torch.allclose(sigma, other, rtol=1e-3, atol=1e-4)  # the two differ on these inputs
    with pytest.raises(ValueError):
        build_model(get_preset("cat-mel_2bar_small_tiny", ["model.sigma_activation=relu"]), (130,))


def test_parameter_count_matches_magenta():
    # magenta's cat-mel_2bar_small has 4.4M parameters on its 90-class melodies
    n = count_parameters(build_model(PRESETS["cat-mel_2bar_small"], (90,)))
    assert 4.3e6 < n < 4.5e6


@pytest.mark.slow
def test_parameter_count_matches_magenta_hierarchical():
    assert 175e6 < count_parameters(build_model(PRESETS["hierdec-mel_16bar"], (90,))) < 177e6
    assert 230e6 < count_parameters(build_model(PRESETS["hierdec-trio_16bar"], (90, 90, 512))) < 232e6


def _folk_windows(n: int) -> torch.Tensor:
    from musicvae.data.corpora import load_corpus
    from musicvae.data.windows import WindowRules, grid_windows
    from musicvae.representations import MelodyConverter

    conv, wins = MelodyConverter(), []
    for seq in load_corpus("folk")[:40]:
        for grid in conv.candidates(seq):
            wins.extend(grid_windows(conv, grid, WindowRules(2))[0][::4])
    return torch.from_numpy(__import__("numpy").stack(wins[:n]).astype("int64"))


def test_tiny_overfits_32_examples():
    """Encoder, code and decoder together can memorise 32 real melodies: teacher-forced accuracy from mu
    reaches 0.95 within 300 full-batch steps (checked every 20 steps; the run stops once it gets there,
    ~200 steps with this seed). Widths: the smallest found to get there as fast in steps (decoder 192, encoder
    64; 256/128 took the same 200 steps at twice the CPU time: 18.3 s vs 9.6 s process CPU, one thread)."""
    torch.manual_seed(0)
    cfg = get_preset("cat-mel_2bar_small_tiny", ["decoder_hidden=192", "encoder_hidden=64", "z_size=64"])
    model = build_model(cfg, (130,))
    x = _folk_windows(32)  # (32, 32, 1) real 2-bar folk melodies
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    acc = 0.0
    for step in range(1, 301):
        out = model(x)
        loss = elbo_loss(out["logits"], x, (130,), out["mu"], out["sigma"], beta=0.0, free_bits=0.0)["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 20 == 0:
            model.eval()
            with torch.no_grad():
                mu, _ = model.encode(x)
                acc = float(accuracy(model.decoder.teacher(mu, x), x, (130,))[0])
            model.train()
            if acc >= 0.95:
                break
    assert acc >= 0.95, f"teacher-forced accuracy {acc:.3f} after {step} steps"


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("hierdec-mel_64bar")
    with pytest.raises(ConfigError, match="unknown config key"):
        get_preset("cat-mel_2bar_small", ["train.wings=3"])
    with pytest.raises(ConfigError, match="expected a int"):
        get_preset("cat-mel_2bar_small", ["batch_size=many"])
    with pytest.raises(ConfigError, match="key=value"):
        get_preset("cat-mel_2bar_small", ["batch_size"])
    cfg = get_preset("cat-mel_2bar_small", ["batch_size=7", "model.z_size=9", "free_bits_per_dim=true"])
    assert (cfg.train.batch_size, cfg.model.z_size, cfg.train.free_bits_per_dim) == (7, 9, True)
    assert PRESETS["cat-mel_2bar_small"].train.batch_size == 512  # presets are not mutated


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 3])  # batch 1, one stream reads its input terms from a table
@pytest.mark.parametrize("cond_size, vocab", [(8, (130,)), (0, (130,)), (8, (130, 130, 512))])
def test_fast_inference_path_matches_step_by_step_lstm(cond_size, vocab, batch, layers):
    """``CoreDecoder._generate`` (no grad, eval) writes the LSTM out by hand: same tokens and logits."""
    from musicvae.models.modules.decoders import CoreDecoder

    torch.manual_seed(0)
    dec = CoreDecoder(vocab_sizes=vocab, hidden_size=16, num_layers=layers, cond_size=cond_size).eval()
    c = torch.randn(batch, cond_size) if cond_size else None
    first = torch.zeros(batch, sum(vocab))
    first[:, 0] = 1.0  # a non-zero first input exercises the one-hot lookup
    runs = []
    for fast in (True, False):
        gen = torch.Generator().manual_seed(5)
        with torch.set_grad_enabled(not fast):  # grad enabled forces the reference (nn.LSTM) path
            logits, tokens = dec.unroll(c, first, 20, temperature=1.0, generator=gen)
        runs.append((logits.detach(), tokens))
    (fast_logits, fast_tokens), (ref_logits, ref_tokens) = runs
    assert torch.equal(fast_tokens, ref_tokens)
    assert torch.allclose(fast_logits, ref_logits, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
def test_fast_inference_path_with_fp16_weights_matches_reference(batch):
    """Weights that are fp16 numbers (the bundled models) take the fp16 kernel where the build has it;
    the tokens stay those of the reference loop."""
    from musicvae.models.modules.decoders import CoreDecoder

    torch.manual_seed(1)
    dec = CoreDecoder(vocab_sizes=(130,), hidden_size=32, num_layers=2, cond_size=8).eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.copy_(p.half().float())
    c, first = torch.randn(batch, 8), torch.zeros(batch, 130)
    runs = []
    for fast in (True, False):
        gen = torch.Generator().manual_seed(3)
        with torch.set_grad_enabled(not fast):
            logits, tokens = dec.unroll(c, first, 24, temperature=0.7, generator=gen)
        runs.append((logits.detach(), tokens))
    assert torch.equal(runs[0][1], runs[1][1])
    assert torch.allclose(runs[0][0], runs[1][0], atol=1e-4)


def test_fast_inference_weights_follow_parameter_updates():
    """The rearranged weights are cached; an in-place update (optimiser step, load_state_dict) refreshes them."""
    from musicvae.models.modules.decoders import CoreDecoder

    torch.manual_seed(0)
    dec = CoreDecoder(vocab_sizes=(12,), hidden_size=8, num_layers=2, cond_size=4).eval()
    c, first = torch.randn(2, 4), torch.zeros(2, 12)

    def run(fast: bool) -> torch.Tensor:
        with torch.set_grad_enabled(not fast):
            return dec.unroll(c, first, 6, temperature=0.0)[0].detach()

    before = run(True)
    with torch.no_grad():
        dec.lstm.weight_ih_l0.add_(0.5)  # touches the cached one-hot rows and the conditioning part
        dec.lstm.bias_hh_l1.sub_(0.3)
    after = run(True)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, run(False), atol=1e-5)
    state = {k: v.clone() for k, v in dec.state_dict().items()}
    with torch.no_grad():
        for p in dec.parameters():
            p.mul_(-1.0)
    dec.load_state_dict(state)
    assert torch.allclose(run(True), after, atol=1e-6)
