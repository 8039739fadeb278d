"""The VRASH family through the command line: ``train --preset {lm,vae,vrash}-notes_tiny`` (checkpoints,
exact ``--resume``), ``sample`` of whole melodies, one-line refusals (issue 8)."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from synth import write_note_corpus
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.data.prepare import PrepareConfig, prepare
from musicvae.generation.notes import NoteModel
from musicvae.music import load_sequences
from musicvae.presets import get_preset
from musicvae.training.checkpoint import find_latest, load_checkpoint
from musicvae.training.notes import NoteBatchStream, NoteSequenceSet

runner = CliRunner()
FAST = ["--device", "cpu", "--set", "checkpoint_every=5", "--set", "eval_every=5", "--set", "log_every=5"]


def _cli(*args):
    res = runner.invoke(app, [str(a) for a in args])
    return res, " ".join(res.output.split())


@pytest.fixture(scope="module")
def notes_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("notes_cli")
    src = write_note_corpus(root / "midi", n=12)
    prepare(src, root / "data", PrepareConfig("notes", 2, eval_fraction=0.25))
    return root / "data"


@pytest.fixture(scope="module")
def vrash_run(notes_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("vrash_run") / "run"
    res, text = _cli("train", "--preset", "vrash-notes_tiny", "--data", notes_data, "--out", run, "--steps", 10, *FAST)
    assert res.exit_code == 0, res.output
    return run, text


def test_train_writes_checkpoints_metrics_and_note_info(vrash_run):
    run, text = vrash_run
    assert "eval: ce/note" in text and "held-out cross-entropy" in text
    step_dir = find_latest(run)
    assert step_dir.name == "step-000000010" and (step_dir / "model.safetensors").is_file()
    trainer = json.loads((step_dir / "trainer.json").read_text())
    notes = trainer["notes"]
    assert notes["model"] == "vrash" and notes["collections"] == ["<unknown>", "jigs", "reels"]
    assert notes["hparams"]["z_size"] == 16 and notes["hparams"]["history_dropout"] == 0.25
    assert notes["decode"]["median_duration"] >= 1 and notes["max_notes"] == 64
    assert sum(n for _, _, n in notes["track_meta"]) == notes["tracks"]["train"]
    assert trainer["config"]["model"]["family"] == "vrash" and trainer["representation"]["kind"] == "notes"
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in recs if "eval_ce" in r]
    assert [r["step"] for r in evals] == [5, 10]
    for r in evals:
        assert 0 < r["eval_ce"] < 20 and r["eval_bound"] >= r["eval_ce"] - 1.0 and 0 <= r["tf_accuracy"] <= 1
    assert all(np.isfinite(r["nll_per_note"]) for r in recs if "nll_per_note" in r)


def test_resume_continues_the_same_curve(notes_data, vrash_run, tmp_path):
    straight, _ = vrash_run
    run = tmp_path / "run"
    res, _ = _cli("train", "--preset", "vrash-notes_tiny", "--data", notes_data, "--out", run, "--steps", 5, *FAST)
    assert res.exit_code == 0, res.output
    res, _ = _cli("train", "--preset", "vrash-notes_tiny", "--data", notes_data, "--out", run, "--steps", 5, *FAST)
    assert res.exit_code == 2 and "--resume" in res.output  # refuses to overwrite
    res, _ = _cli("train", "--preset", "vrash-notes_tiny", "--data", notes_data, "--out", run, "--steps", 10, *FAST,
                  "--resume")
    assert res.exit_code == 0, res.output
    a = load_file(str(straight / "checkpoints" / "step-000000010" / "model.safetensors"))
    b = load_file(str(run / "checkpoints" / "step-000000010" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    curve = lambda r: [{k: v for k, v in json.loads(x).items() if k not in ("seq_per_s", "run")}  # noqa: E731 (timing, run id)
                       for x in (r / "metrics.jsonl").read_text().splitlines()]
    assert [x for x in curve(run) if x["step"] == 10] == [x for x in curve(straight) if x["step"] == 10]
    res, text = _cli("train", "--preset", "lm-notes_tiny", "--data", notes_data, "--out", run, "--steps", 12, *FAST,
                     "--resume")
    assert res.exit_code == 2 and "another model or data config" in text


def test_batches_are_a_pure_function_of_seed_and_step(notes_data):
    data = NoteSequenceSet.load(notes_data)
    a = NoteBatchStream(data, 3, seed=4, max_notes=20)
    b = NoteBatchStream(data, 3, seed=4, max_notes=20)
    steps = [7, 0, 3, 7, 12, 1]
    for s in steps:
        assert a.indices(s).tolist() == b.indices(s).tolist()
    for s in reversed(steps):
        np.testing.assert_array_equal(a.batch(s).events.numpy(), b.batch(s).events.numpy())
    epoch = np.concatenate([a.indices(s) for s in range(a.per_epoch)])
    assert len(set(epoch.tolist())) == len(epoch) == a.per_epoch * 3
    assert a.batch(0).events.shape[1] <= 20


def test_sample_writes_whole_melodies(vrash_run, tmp_path):
    run, _ = vrash_run
    out = tmp_path / "s"
    res, text = _cli("sample", "--model", run, "-n", 3, "--out", out, "--png", "--seed", 3, "-t", 1.0)
    assert res.exit_code == 0, res.output
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 3 and len(list(out.glob("*.png"))) == 3
    for m in mids:
        seq = load_sequences(m)[0]
        assert len(seq.notes) >= 1 and seq.total_steps % 16 == 0
    again = tmp_path / "again"
    _cli("sample", "--model", run, "-n", 3, "--out", again, "--seed", 3, "-t", 1.0)
    assert [m.read_bytes() for m in mids] == [m.read_bytes() for m in sorted(again.glob("*.mid"))]
    res, text = _cli("sample", "--model", run, "-n", 2, "--out", tmp_path / "l", "--label", "jigs", "--seed", 1)
    assert res.exit_code == 0, res.output
    res, text = _cli("sample", "--model", run, "-n", 1, "--out", tmp_path / "x", "--label", "polkas")
    assert res.exit_code == 2 and "unknown collection 'polkas'" in text and "jigs, reels" in text


def test_note_model_lengths_vary_and_other_commands_refuse(vrash_run, tmp_path):
    run, _ = vrash_run
    m = NoteModel.load(run)
    assert m.family == "vrash" and m.has_latent and m.z_size == 16 and m.labels == ["jigs", "reels"]
    events, meta = m.sample_events(6, 1.0, seed=0, max_notes=40)
    assert len(events) == 6 and meta.shape == (6, 2) and all(1 <= len(e) <= 40 for e in events)
    assert all(m.converter.decode(e, m.track_meta(int(g))).total_steps > 0 for e, (g, _) in zip(events, meta))
    mu, sigma = m.encode_events(events, meta)
    assert mu.shape == sigma.shape == (6, 16)
    res, text = _cli("reconstruct", str(tmp_path / "none.mid"), "--model", run)
    assert res.exit_code == 2 and "supports `musicvae sample` only" in text


@pytest.mark.parametrize("preset", ["lm-notes_tiny", "vae-notes_tiny"])
def test_baselines_train_and_sample(notes_data, preset, tmp_path):
    run = tmp_path / "run"
    res, _ = _cli("train", "--preset", preset, "--data", notes_data, "--out", run, "--steps", 5, *FAST)
    assert res.exit_code == 0, res.output
    state = load_checkpoint(run)
    assert state["notes"]["model"] == {"lm-notes_tiny": "lm", "vae-notes_tiny": "vae"}[preset]
    res, _ = _cli("sample", "--model", run, "-n", 2, "--out", tmp_path / "s", "--seed", 0)
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "s").glob("*.mid"))) == 2


def test_wrong_data_or_settings_are_one_line(notes_data, tiny_mel_run, tmp_path):
    res, text = _cli("train", "--preset", "vrash-notes_tiny", "--data", tiny_mel_run.parent / "data",
                     "--out", tmp_path / "r", "--device", "cpu")
    assert res.exit_code == 2 and "not notes" in text and len(res.output.strip().splitlines()) == 1
    res, text = _cli("train", "--preset", "vae-notes_tiny", "--data", notes_data, "--out", tmp_path / "r2",
                     "--device", "cpu", "--set", "model.history_dropout=0.5")
    assert res.exit_code == 2 and "history_dropout must be 0" in text
    assert get_preset("vrash-notes_cpu").model.z_size == 16 and get_preset("lm-notes").model.family == "note_lm"
