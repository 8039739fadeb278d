"""VRASH family (note LM, recurrent VAE, VRASH): shapes, masking, history dropout, learning, sampling."""

import math

import numpy as np
import pytest
import torch

from musicvae.models.vrash import (
    MODELS,
    NOTE_VOCAB,
    NoteEmbedding,
    NoteLM,
    NoteVAE,
    VRASH,
    build_note_model,
)
from musicvae.representations.notes import REST_OCTAVE, REST_PITCH_CLASS, NoteEventConverter, TrackMeta
from musicvae.training.notes import collate_notes

TINY = dict(hidden_size=24, encoder_hidden=16, pitch_size=8, octave_size=4, duration_size=4, z_size=8,
            collections=3, position_size=4)


def random_track(rng: np.random.Generator, n: int) -> np.ndarray:
    pc = rng.integers(0, 13, n)
    octave = np.where(pc == REST_PITCH_CLASS, REST_OCTAVE, rng.integers(3, 6, n))
    return np.stack([pc, octave, rng.integers(0, 16, n)], axis=1)


def tiny_items(seed: int = 0, count: int = 8, lo: int = 3, hi: int = 10):
    rng = np.random.default_rng(seed)
    return [(random_track(rng, int(rng.integers(lo, hi))), np.array([i % 17, i % 3])) for i in range(count)]


def model(kind: str, **kw):
    torch.manual_seed(0)
    return build_note_model(kind, **{**TINY, **kw})


# ------------------------------------------------------------------ embedding
def test_note_embedding_concatenates_factors_and_track_meta():
    emb = NoteEmbedding(pitch_size=5, octave_size=3, duration_size=2, instrument_size=4, collections=6, collection_size=1)
    assert (emb.note_size, emb.track_size, emb.size) == (10, 5, 15)
    batch = collate_notes(tiny_items(count=3))
    x = emb(batch.events, batch.meta)
    assert x.shape == (3, batch.events.shape[1], 15)  # (B, T, E)
    # the track part is the same at every step
    torch.testing.assert_close(x[:, 0, 10:], x[:, -1, 10:])
    no_meta = NoteEmbedding(instrument_size=0, collection_size=0)
    assert no_meta.track(batch.meta).shape == (3, 0)


# ---------------------------------------------------------------- targets/loss
def test_targets_put_the_end_token_after_each_track_and_mask_padding():
    m = model("lm")
    items = [(np.array([[0, 4, 7], [2, 4, 7]]), np.array([0, 0])), (np.array([[12, 11, 3]]), np.array([0, 0]))]
    batch = collate_notes(items)
    tgt, mask = m.targets(batch)
    assert tgt.shape == (2, 3, 3) and mask.tolist() == [[True, True, True], [True, True, False]]
    assert tgt[0, 2].tolist() == list(NOTE_VOCAB) and tgt[1, 1].tolist() == list(NOTE_VOCAB)
    cut = collate_notes(items, max_notes=1)  # first track cut: no end target
    assert cut.has_end.tolist() == [False, True]
    assert m.targets(cut)[1].tolist() == [[True, False], [True, True]]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_padding_and_batch_neighbours_do_not_change_a_track_loss(kind):
    m = model(kind).eval()
    items = tiny_items(seed=1, count=4)
    together = m.cross_entropy_per_note(collate_notes(items))
    alone = [m.cross_entropy_per_note(collate_notes([it])) for it in items]
    assert together["positions"] == sum(a["positions"] for a in alone) == sum(len(e) + 1 for e, _ in items)
    assert together["ce_sum"] == pytest.approx(sum(a["ce_sum"] for a in alone), rel=1e-5)
    assert together["kl_sum"] == pytest.approx(sum(a["kl_sum"] for a in alone), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_untrained_cross_entropy_is_near_uniform_and_bound_adds_kl(kind):
    m = model(kind).eval()
    ce = m.cross_entropy_per_note(collate_notes(tiny_items()))
    uniform = sum(math.log(v + 1) for v in NOTE_VOCAB)  # end token included
    assert abs(ce["ce"] - uniform) < 0.5
    assert ce["bound"] == pytest.approx(ce["ce"] + ce["kl_per_note"])
    assert (ce["kl_per_note"] == 0.0) == (kind == "lm")


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_loss_decreases_on_a_tiny_set(kind):
    m = model(kind)
    batch = collate_notes(tiny_items())
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    first = None
    for _ in range(40):
        out = m.loss(batch, beta=0.1, free_bits=1.0, generator=gen)
        opt.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        first = first if first is not None else {k: float(v.detach()) for k, v in out.items()}
    last = {k: float(v.detach()) for k, v in out.items()}
    assert last["loss"] < 0.6 * first["loss"]
    assert last["nll_per_note"] < first["nll_per_note"] - 2.0
    assert last["accuracy"] > first["accuracy"]
    for name in ("pitch_class", "octave", "duration"):
        assert 0.0 <= last[f"acc_{name}"] <= 1.0
    assert last["nll_per_note"] == pytest.approx(last["ce_pitch_class"] + last["ce_octave"] + last["ce_duration"], rel=1e-5)
    if kind == "lm":
        assert first["kl"] == last["kl"] == 0.0
    else:
        assert last["kl"] > 0 and last["kl_bits"] == pytest.approx(last["kl"] / math.log(2))


def test_free_bits_clip_the_kl_cost():
    m = model("vae")
    batch = collate_notes(tiny_items())
    with torch.no_grad():
        out = m.loss(batch, beta=1.0, free_bits=1e4, generator=torch.Generator().manual_seed(0))
    assert float(out["kl_cost"]) == 0.0 and float(out["kl"]) > 0
    assert float(out["loss"]) == pytest.approx(float(out["r_loss"]))


# ------------------------------------------------------------ history dropout
def _logits_with_changed_history(m, train: bool):
    m.train(train)
    items = tiny_items(seed=2, count=3, lo=6, hi=7)
    batch = collate_notes(items)
    other = batch.events.clone()
    other[:, 2:, 0] = (other[:, 2:, 0] + 5) % 12  # different history from note 2 on
    other[:, 2:, 2] = (other[:, 2:, 2] + 3) % 16
    z = torch.randn(3, m.z_size, generator=torch.Generator().manual_seed(0))
    a = m.decoder_logits(z, batch.events, batch.meta, torch.Generator().manual_seed(1))
    b = m.decoder_logits(z, other, batch.meta, torch.Generator().manual_seed(1))
    return a, b


@pytest.mark.parametrize("train", [False, True])
def test_history_dropout_one_makes_the_vrash_decoder_depend_on_z_alone(train):
    a, b = _logits_with_changed_history(model("vrash", history_dropout=1.0), train)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("train", [False, True])
def test_without_history_dropout_the_vrash_decoder_reads_its_history(train):
    a, b = _logits_with_changed_history(model("vrash", history_dropout=0.0), train)
    for x, y in zip(a, b):
        torch.testing.assert_close(x[:, :3], y[:, :3])  # causal: step t reads note t-1
        assert (x[:, 3:] - y[:, 3:]).abs().max() > 1e-4


def test_partial_history_dropout_applies_in_training_only():
    m = model("vrash", history_dropout=0.5)
    a, b = _logits_with_changed_history(m, train=False)
    assert (a[0][:, 3:] - b[0][:, 3:]).abs().max() > 1e-4  # eval: history is read
    m.train()
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    batch = collate_notes(tiny_items())
    z = torch.zeros(len(batch), m.z_size)
    x = m.decoder_logits(z, batch.events, batch.meta, gen())[0]
    y = m.decoder_logits(z, batch.events, batch.meta, gen())[0]
    torch.testing.assert_close(x, y)  # the drop mask comes from the generator


def test_vae_decoder_never_reads_history_and_baselines_refuse_history_dropout():
    a, b = _logits_with_changed_history(model("vae"), train=True)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    with pytest.raises(ValueError):
        model("vae", history_dropout=0.5)  # nothing to drop (the LM allows it: it reads history)
    with pytest.raises(ValueError):
        model("vrash", history_dropout=1.5)
    with pytest.raises(TypeError):
        model("lm").encode(collate_notes(tiny_items()))


# -------------------------------------------------------------------- sampling
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_sampling_returns_valid_variable_length_tracks(kind):
    m = model(kind)
    conv = NoteEventConverter()
    tracks = m.sample(12, max_notes=15, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert len(tracks) == 12 and m.training  # mode restored
    for ev in tracks:
        assert ev.ndim == 2 and ev.shape[1] == 3 and 1 <= len(ev) <= 15
        for k, v in enumerate(NOTE_VOCAB):
            assert ((0 <= ev[:, k]) & (ev[:, k] < v)).all()  # never the end token
        rest = ev[:, 0] == REST_PITCH_CLASS
        assert ((ev[:, 1] == REST_OCTAVE) == rest).all()
        seq = conv.decode(ev, TrackMeta(median_duration=2))
        assert seq.total_steps > 0
    again = m.sample(12, max_notes=15, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert all(np.array_equal(x, y) for x, y in zip(tracks, again))
    assert len({len(t) for t in tracks}) > 1  # an untrained model ends at random places


def test_sampling_options_min_notes_argmax_meta_and_z():
    m = model("vrash").eval()
    tracks = m.sample(3, max_notes=6, temperature=0.0, min_notes=6)
    assert [len(t) for t in tracks] == [6, 6, 6]
    z = torch.randn(1, m.z_size).expand(3, -1)
    same = m.sample(3, max_notes=8, temperature=0.0, z=z, meta=torch.tensor([1, 2]))
    assert all(np.array_equal(same[0], t) for t in same)  # argmax from one z and meta: one track
    with pytest.raises(ValueError):
        m.sample(2, max_notes=0)


def test_end_token_learned_sets_sample_lengths():
    """After fitting one 4-note track, argmax sampling reproduces it, end included."""
    m = model("lm")
    track = np.array([[0, 4, 7], [4, 4, 7], [7, 4, 9], [12, 11, 7]])
    batch = collate_notes([(track, np.array([0, 0]))])
    opt = torch.optim.Adam(m.parameters(), lr=2e-2)
    for _ in range(60):
        loss = m.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    (out,) = m.sample(1, max_notes=20, temperature=0.0)
    np.testing.assert_array_equal(out, track)


def test_hparams_rebuild_the_same_model():
    for kind in sorted(MODELS):
        m = model(kind, history_dropout=0.25) if kind == "vrash" else model(kind)
        again = type(m)(**m.hparams)
        again.load_state_dict(m.state_dict())
        assert isinstance(m, {"lm": NoteLM, "vae": NoteVAE, "vrash": VRASH}[kind])
    with pytest.raises(ValueError):
        build_note_model("gan")


def test_encoder_equals_a_packed_bidirectional_lstm():
    from musicvae.models.modules.note_encoder import NoteEncoder, reverse_within

    torch.manual_seed(0)
    enc = NoteEncoder(6, 5, 2, 3)
    ref = torch.nn.LSTM(6, 5, 2, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for i, (fwd, bwd) in enumerate(enc.layers):
            for suffix, lstm in (("", fwd), ("_reverse", bwd)):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, f"{name}_l{i}{suffix}").copy_(getattr(lstm, f"{name}_l0"))
    x = torch.randn(4, 7, 6)
    lengths = torch.tensor([7, 1, 4, 6])
    x_rev = reverse_within(x, lengths)
    assert torch.equal(x_rev[1], x[1]) and torch.equal(x_rev[2, :4], x[2, :4].flip(0)) and torch.equal(x_rev[2, 4:], x[2, 4:])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _, (h, _) = ref(packed)
    mu, _ = enc(x, lengths)
    torch.testing.assert_close(mu, enc.to_mu(torch.cat([h[-2], h[-1]], dim=-1)))


# ------------------------------------------------------------------ highway cells (the paper's decoder cell)
def test_recurrent_highway_follows_zilly_equations_and_resumes_from_its_state():
    """One step by hand (depth 2, coupled carry); a sequence run in two halves equals one run."""
    from musicvae.models.modules.highway import RecurrentHighway

    torch.manual_seed(0)
    cell = RecurrentHighway(3, 4, num_layers=1, depth=2)
    x, s0 = torch.randn(2, 1, 3), torch.randn(1, 2, 4)
    s = s0[0]
    for micro in range(2):
        pre = cell.recurrent[micro](s) + (cell.inputs[0](x[:, 0]) if micro == 0 else 0)
        h, t = torch.tanh(pre[:, :4]), torch.sigmoid(pre[:, 4:])
        s = h * t + s * (1 - t)
    out, (state,) = cell(x, (s0,))
    assert torch.allclose(out[:, 0], s, atol=1e-6) and torch.allclose(state[0], s, atol=1e-6)
    assert torch.all(cell.recurrent[0].bias[4:] == -2.0)  # transform gates start mostly closed (carry)
    stacked = RecurrentHighway(3, 4, num_layers=2, depth=3, dropout=0.0)
    seq = torch.randn(2, 7, 3)
    full, (s_full,) = stacked(seq)
    first, st = stacked(seq[:, :4])
    second, (s_two,) = stacked(seq[:, 4:], st)
    assert full.shape == (2, 7, 4) and s_full.shape == (2, 2, 4)
    assert torch.allclose(torch.cat([first, second], 1), full, atol=1e-6) and torch.allclose(s_two, s_full, atol=1e-6)
    with pytest.raises(ValueError, match="depth"):
        RecurrentHighway(3, 4, depth=0)


@pytest.mark.parametrize("kind", ["vrash", "lm"])
def test_highway_decoder_learns_samples_and_rebuilds(kind):
    from musicvae.models.modules.highway import RecurrentHighway

    m = model(kind, cell="highway", highway_depth=2)
    assert isinstance(m.decoder, RecurrentHighway)
    batch = collate_notes(tiny_items())
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        out = m.loss(batch, beta=0.1, free_bits=1.0, generator=gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.7 * losses[0]
    m.eval()
    tracks = m.sample(3, max_notes=12, generator=torch.Generator().manual_seed(1))
    assert len(tracks) == 3 and all(t.shape[1] == 3 and len(t) <= 12 for t in tracks)
    again = type(m)(**m.hparams)
    again.load_state_dict(m.state_dict())
    assert again.hparams["cell"] == "highway" and again.hparams["highway_depth"] == 2
    with pytest.raises(ValueError, match="cell"):
        model(kind, cell="gru")


def test_highway_cell_from_the_config():
    from musicvae.models.builders import build_note_model_from_config
    from musicvae.models.modules.highway import RecurrentHighway
    from musicvae.presets import get_preset

    cfg = get_preset("vrash-notes_tiny", ["notes.decoder_cell=highway", "notes.highway_depth=2"])
    m = build_note_model_from_config(cfg, (13, 12, 16))
    assert isinstance(m.decoder, RecurrentHighway) and m.decoder.depth == 2
    assert isinstance(build_note_model_from_config(get_preset("vrash-notes_tiny"), (13, 12, 16)).decoder, torch.nn.LSTM)
