"""Importing magenta checkpoints without TensorFlow: reader, mapping, refusals, the CLI and every command.

The fixtures in ``tests/fixtures/magenta`` were written by magenta's own graph under TensorFlow
(``scripts/magenta/tf_reference.py --fixture``, random weights, tiny sizes): their
``variables.json`` holds the digest of every variable as ``tf.train.load_checkpoint`` read it,
their ``reference.npz`` TensorFlow's encoder outputs, first teacher-forced logits and greedy
samples. The full parity run on every config is ``make test-magenta``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.generation import InputError, TrainedModel
from musicvae.generation.magenta import mapping
from musicvae.generation.magenta.importer import import_magenta
from musicvae.generation.magenta.tf_bundle import CheckpointFormatError, masked_crc32c, read_checkpoint, read_index
from musicvae.models.builders import build_model

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "magenta"
NAMES = ["cat-mel_2bar_small", "cat-drums_2bar_small", "hierdec-mel_16bar"]
runner = CliRunner()


def _prefix(name: str) -> Path:
    return FIXTURES / name / "model.ckpt"


# --------------------------------------------------------------------------- the reader


@pytest.mark.parametrize("name", NAMES)
def test_reader_matches_tensorflows_reader(name):
    """Same names, shapes, dtypes and bytes as tf.train.load_checkpoint returned when the fixture was made."""
    want = json.loads((FIXTURES / name / "variables.json").read_text())
    got = read_checkpoint(_prefix(name))
    assert sorted(got) == sorted(want)
    for key, rec in want.items():
        assert list(got[key].shape) == rec["shape"], key
        assert str(got[key].dtype) == rec["dtype"], key
        assert hashlib.sha256(np.ascontiguousarray(got[key]).tobytes()).hexdigest() == rec["sha256"], key


def test_crc32c_known_value():
    # RFC 3720's check value for "123456789" is 0xE3069283; masked as LevelDB/TF store it
    from musicvae.generation.magenta.tf_bundle import _crc32c_py, crc32c

    assert _crc32c_py(b"123456789") == 0xE3069283 == crc32c(b"123456789")
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _copy(tmp_path: Path, name: str = "cat-mel_2bar_small") -> Path:
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    return dst / "model.ckpt"


def test_reader_refuses_truncated_and_corrupt_files(tmp_path):
    prefix = _copy(tmp_path)
    data = Path(f"{prefix}.data-00000-of-00001")
    blob = data.read_bytes()
    data.write_bytes(blob[:-100])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        read_checkpoint(prefix)
    flipped = bytearray(blob)
    flipped[10] ^= 0xFF
    data.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointFormatError, match="checksum"):
        read_checkpoint(prefix)
    index = Path(f"{prefix}.index")
    raw = bytearray(index.read_bytes())
    index.write_bytes(bytes(raw[:-10]))
    with pytest.raises(CheckpointFormatError, match="table magic"):
        read_index(index)
    raw[5] ^= 0xFF
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointFormatError, match="checksum"):
        read_index(index)


# --------------------------------------------------------------------------- the mapping


def _fake_weights(cfg, enc=5, dec=3, z=2, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    want = mapping.expected_variables(cfg, enc, dec, z)
    out = {k: rng.normal(size=s).astype(np.float32) for k, s in want.items()}
    out["global_step"] = np.array(7, dtype=np.int64)
    return out


@pytest.mark.parametrize("name", list(mapping.CONFIGS))
def test_every_supported_config_maps_onto_our_modules(name):
    cfg = mapping.resolve(name)
    config, rep, state = mapping.convert(cfg, _fake_weights(cfg))
    model = build_model(config, tuple(rep["vocab_sizes"]))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)  # every tensor, no more
    assert (config.model.encoder_hidden, config.model.decoder_hidden, config.model.z_size) == (5, 3, 2)
    assert tuple(rep["vocab_sizes"]) == cfg.vocab_sizes
    if cfg.kind != "drums":
        assert (rep["min_pitch"], rep["max_pitch"]) == (21, 108)
    if cfg.kind != "melody":
        assert rep.get("mapping", rep.get("drum_mapping")) == "2018"


def test_lstm_block_cell_step_equals_torch_lstm():
    """One LSTMBlockCell step written out (gates i, c, f, o; forget bias 1.0) equals nn.LSTM with the mapped weights."""
    rng = np.random.default_rng(1)
    n_in, H = 4, 3
    kernel, bias = rng.normal(size=(n_in + H, 4 * H)), rng.normal(size=4 * H)
    x, h, c = rng.normal(size=(2, n_in)), rng.normal(size=(2, H)), rng.normal(size=(2, H))
    gates = np.concatenate([x, h], 1) @ kernel + bias
    i, ci, f, o = np.split(gates, 4, axis=1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c_new = sig(i) * np.tanh(ci) + sig(f + 1.0) * c
    h_new = sig(o) * np.tanh(c_new)
    lstm = torch.nn.LSTM(n_in, H, 1, batch_first=True).double()
    w_ih, w_hh, b_ih, b_hh = mapping.lstm_weights(kernel, bias, n_in)
    lstm.load_state_dict({"weight_ih_l0": torch.from_numpy(w_ih), "weight_hh_l0": torch.from_numpy(w_hh),
                          "bias_ih_l0": torch.from_numpy(b_ih), "bias_hh_l0": torch.from_numpy(b_hh)})
    out, (hn, cn) = lstm(torch.from_numpy(x)[:, None], (torch.from_numpy(h)[None], torch.from_numpy(c)[None]))
    np.testing.assert_allclose(hn[0].detach().numpy(), h_new, atol=1e-12)
    np.testing.assert_allclose(cn[0].detach().numpy(), c_new, atol=1e-12)


def test_state_layout_and_drum_roll():
    # magenta: [c0, h0, c1, h1]; ours: [h0, h1, c0, c1]
    assert mapping.state_permutation(2, 2).tolist() == [2, 3, 6, 7, 0, 1, 4, 5]
    roll = mapping.roll_matrix()
    assert roll.shape == (512, 10)
    assert roll[0].tolist() == [0] * 9 + [1]  # no hit: the "no drums" flag only
    assert roll[0b100000101].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 1, 0]  # kick, closed hat, ride


def test_refusals_name_the_first_mismatch():
    cfg = mapping.resolve("cat-mel_2bar_small")
    w = _fake_weights(cfg)
    del w["decoder/output_projection/bias"]
    with pytest.raises(mapping.MappingError, match="decoder/output_projection/bias missing"):
        mapping.convert(cfg, w)
    w = _fake_weights(cfg)
    w["encoder/sigma/kernel"] = np.zeros((11, 2), np.float32)
    with pytest.raises(mapping.MappingError, match=r"encoder/sigma/kernel has shape \(11, 2\), cat-mel_2bar_small needs \(10, 2\)"):
        mapping.convert(cfg, w)
    w = _fake_weights(cfg)
    w["decoder/multi_rnn_cell/cell_2/lstm_cell/kernel"] = np.zeros((6, 12), np.float32)
    with pytest.raises(mapping.MappingError, match="unexpected variable decoder/multi_rnn_cell/cell_2"):
        mapping.convert(cfg, w)
    w = _fake_weights(cfg)
    w["decoder/output_projection/kernel/Adam"] = w["decoder/output_projection/kernel"]  # optimizer slots are ignored
    mapping.convert(cfg, w)
    # a melody checkpoint named as a drum config: the first layer's input rows differ
    with pytest.raises(mapping.MappingError, match="cat-drums_2bar_small needs"):
        mapping.convert(mapping.resolve("cat-drums_2bar_small"), _fake_weights(cfg))


@pytest.mark.parametrize("name, why", [("groovae_2bar_humanize", "GrooVAE"), ("hier-multiperf_vel_1bar_med", "performance"),
                                       ("hier-trio_16bar", "hierarchical encoder"), ("nade-drums_2bar_full", "NADE"),
                                       ("cat-mel_2bar_med_chords", "chord"), ("mel_4bar", "unknown")])
def test_unsupported_configs_are_refused_by_name(name, why):
    with pytest.raises(mapping.MappingError, match=why):
        mapping.resolve(name)


def test_published_names_resolve():
    assert mapping.resolve("cat-drums_2bar_small.lokl").name == "cat-drums_2bar_small"
    assert mapping.guess_config("cat-drums_2bar_small.hikl.tar") == "cat-drums_2bar_small.hikl"
    assert mapping.guess_config("hierdec-trio_16bar.tar") == "hierdec-trio_16bar"
    assert mapping.guess_config("model.ckpt") is None


# --------------------------------------------------------------------------- parity with TensorFlow's outputs


@pytest.mark.parametrize("name", NAMES)
def test_imported_fixture_matches_tensorflows_outputs(name, tmp_path):
    out, info = import_magenta(_prefix(name), tmp_path / "m", config_name=name, dtype=torch.float32)
    ref = np.load(FIXTURES / name / "reference.npz")
    m = TrainedModel.load(out).model
    tokens = torch.from_numpy(ref["tokens"].astype(np.int64))
    with torch.no_grad():
        mu, sigma = m.encode(tokens)
        z = torch.from_numpy(ref["z"])
        logits = m.decoder.teacher(z, tokens)[:, : ref["logits"].shape[1]]
        greedy = m.decode(z, temperature=0.0)
    assert np.abs(mu.numpy() - ref["mu"]).max() <= 1e-5
    assert np.abs(sigma.numpy() - ref["sigma"]).max() <= 1e-5
    assert np.abs(logits.numpy() - ref["logits"]).max() <= 1e-4
    assert np.array_equal(greedy.numpy(), ref["sample_tokens"].astype(np.int64))
    assert info["magenta_config"] == name and not info["published_sizes"]


# --------------------------------------------------------------------------- the command and its outputs


def _cli(args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, " ".join(result.output.split())


def _refused(args, *needles, out: Path | None = None):
    result, text = _cli(args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text and len(result.output.strip().splitlines()) == 1, result.output
    for needle in needles:
        assert needle in text, text
    if out is not None:
        assert not out.exists() and not list(out.parent.glob(f".{out.name}.import-*"))  # nothing written
    return text


def test_import_accepts_prefix_index_folder_and_tar(tmp_path):
    name = "cat-mel_2bar_small"
    tar = tmp_path / f"{name}.tar"
    with tarfile.open(tar, "w") as t:
        for p in (FIXTURES / name).glob("model.ckpt.*"):
            t.add(p, arcname=f"{name}/{p.name}")
    for i, source in enumerate([_prefix(name), Path(f"{_prefix(name)}.index"), FIXTURES / name, tar]):
        out = tmp_path / f"m{i}"
        result, text = _cli(["import-magenta", source, "--config", name, "--out", out] if i < 3
                            else ["import-magenta", source, "--out", out])  # the .tar's name gives the config
        assert result.exit_code == 0, result.output
        meta = json.loads((out / "model.json").read_text())
        assert meta["info"]["magenta_config"] == name and meta["weights_dtype"] == "float16"
        card = (out / "CARD.md").read_text()
        assert "Apache License 2.0" in card and name in card


def test_import_refusals_write_nothing(tmp_path):
    out = tmp_path / "out"
    junk = tmp_path / "junk.index"
    junk.write_bytes(b"not a checkpoint at all, just some bytes" * 4)
    _refused(["import-magenta", junk, "--config", "cat-mel_2bar_small", "--out", out], "junk.index",
             "not a TensorFlow checkpoint index", out=out)
    _refused(["import-magenta", _prefix("cat-mel_2bar_small"), "--config", "hierdec-mel_16bar", "--out", out],
             "core_decoder/decoder/output_projection/kernel missing", out=out)
    _refused(["import-magenta", _prefix("cat-mel_2bar_small"), "--config", "groovae_4bar", "--out", out],
             "GrooVAE", out=out)
    prefix = _copy(tmp_path)
    data = Path(f"{prefix}.data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:5000])
    _refused(["import-magenta", prefix, "--config", "cat-mel_2bar_small", "--out", out], "truncated", out=out)
    cut = tmp_path / "cut.tar"
    with tarfile.open(cut, "w") as t:
        t.add(_prefix("cat-mel_2bar_small").with_suffix(".ckpt.data-00000-of-00001"), arcname="x.data-00000-of-00001")
        t.add(Path(f"{_prefix('cat-mel_2bar_small')}.index"), arcname="x.index")
    cut.write_bytes(cut.read_bytes()[:12000])
    _refused(["import-magenta", cut, "--config", "cat-mel_2bar_small", "--out", out], "cut.tar", out=out)
    _refused(["import-magenta", tmp_path / "missing", "--config", "cat-mel_2bar_small", "--out", out],
             "no such file", out=out)
    _refused(["import-magenta", _prefix("cat-mel_2bar_small"), "--out", out], "give --config", out=out)


def _melody_data(root: Path, classes: int) -> Path:
    from synth import write_song

    from musicvae.data.prepare import PrepareConfig, prepare

    src = root / "midi"
    src.mkdir(parents=True)
    for i in range(8):
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * (1 + i % 3)) % 20 for j in range(32)], step=2 + i % 3)
    options = dict(min_pitch=21, max_pitch=108) if classes == 90 else {}
    prepare(src, root / "data", PrepareConfig("melody", 2, eval_fraction=0.25, options=options))
    return root / "data"


def test_every_command_runs_on_an_imported_model(tmp_path):
    from synth import write_song

    data = _melody_data(tmp_path / "mel90", 90)
    model = tmp_path / "imported"
    result, text = _cli(["import-magenta", _prefix("cat-mel_2bar_small"), "--config", "cat-mel_2bar_small",
                         "--out", model, "--attributes-from", data, "--limit", 16])
    assert result.exit_code == 0, result.output
    assert (model / "attributes.safetensors").is_file()
    a, b = write_song(tmp_path / "a.mid", [60, 62, 64, 65] * 8, step=2), write_song(tmp_path / "b.mid", [72, 71] * 16)
    runs = [["sample", "--model", model, "-n", 2, "--seed", 1, "--out", tmp_path / "s"],
            ["interpolate", a, b, "--model", model, "--steps", 3, "--out", tmp_path / "i"],
            ["attribute", a, "--model", model, "--attribute", "note_density", "--amount", 1, "--out", tmp_path / "at"],
            ["similar", a, "-n", 2, "--model", model, "--out", tmp_path / "sim"],
            ["evaluate", "--model", model, "--data", data, "--out", tmp_path / "ev", "--n", 4, "--seed", 1,
             "--studies", "reconstruction,interpolation"]]
    for args in runs:
        result, text = _cli(args)
        assert result.exit_code == 0, (args[0], result.output)
    assert len(list((tmp_path / "s").glob("*.mid"))) == 2
    assert len(list((tmp_path / "i").glob("*.mid"))) == 3
    assert list((tmp_path / "at").glob("*.mid")) and list((tmp_path / "sim").glob("*.mid"))
    assert list((tmp_path / "ev").iterdir())


def test_attributes_from_data_of_another_vocabulary_is_refused(tmp_path):
    data = _melody_data(tmp_path / "mel130", 130)
    out = tmp_path / "m"
    _refused(["import-magenta", _prefix("cat-mel_2bar_small"), "--config", "cat-mel_2bar_small", "--out", out,
              "--attributes-from", data], "vocabulary", "--classes 90", out=out)


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    _refused(["import-magenta", _prefix("cat-mel_2bar_small"), "--config", "cat-mel_2bar_small", "--out", out],
             "already exists")
    assert (out / "keep.txt").read_text() == "mine"
    result, _ = _cli(["import-magenta", _prefix("cat-mel_2bar_small"), "--config", "cat-mel_2bar_small", "--out", out,
                      "--force"])
    assert result.exit_code == 0 and (out / "model.json").is_file() and not (out / "keep.txt").exists()


def test_unknown_config_error_lists_supported():
    with pytest.raises(InputError, match="supported: cat-mel_2bar_small"):
        import_magenta(_prefix("cat-mel_2bar_small"), Path("/nonexistent/never"), config_name="mel_4bar")
