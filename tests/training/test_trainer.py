"""Trainer: exact resume after a kill, refusals with one-line errors, CLI, DDP under torchrun."""

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.presets import get_preset
from musicvae.training.checkpoint import find_latest, load_checkpoint
from musicvae.training.trainer import Trainer, TrainError

TINY = "cat-mel_2bar_small_tiny"
FAST = ["log_every=5", "eval_every=10", "checkpoint_every=10", "batch_size=16", "eval_batches=1"]


def _train_records(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seq_per_s", "run")} for r in lines]


def test_resume_after_kill_reproduces_the_curve(mel_data, tmp_path):
    cfg = get_preset(TINY, FAST + ["steps=20", "device=cpu"])
    Trainer(cfg, mel_data, tmp_path / "straight").fit()
    # "killed" after step 10: a new process resumes from the checkpoint of step 10
    Trainer(cfg, mel_data, tmp_path / "killed").fit(steps=10)
    resumed = Trainer(cfg, mel_data, tmp_path / "killed", resume=True)
    assert resumed.step == 10
    resumed.fit()
    assert _train_records(tmp_path / "killed") == _train_records(tmp_path / "straight")


def test_refusals(mel_data, tmp_path):
    with pytest.raises(TrainError, match="expects 2-bar drums"):
        Trainer(get_preset("cat-drums_2bar_small_tiny", ["device=cpu"]), mel_data, tmp_path / "r")
    cfg = get_preset(TINY, FAST + ["steps=10", "device=cpu"])
    Trainer(cfg, mel_data, tmp_path / "run").fit()
    with pytest.raises(TrainError, match="already holds checkpoints"):
        Trainer(cfg, mel_data, tmp_path / "run")
    with pytest.raises(TrainError, match="no checkpoint"):
        Trainer(cfg, mel_data, tmp_path / "empty", resume=True)
    weights = find_latest(tmp_path / "run") / "model.safetensors"
    before = weights.read_bytes()
    weights.write_bytes(before[: len(before) // 2])
    with pytest.raises(TrainError, match="cannot resume"):
        Trainer(cfg, mel_data, tmp_path / "run", resume=True)
    assert weights.read_bytes() == before[: len(before) // 2]  # nothing was overwritten


def test_reduced_precision_is_refused_on_a_cpu_without_it(mel_data, tmp_path, monkeypatch):
    import musicvae.training.trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "cpu_runs", lambda precision: False)  # an AVX2-only CPU (e.g. Zen 3)
    for p in ("bf16", "fp16"):
        with pytest.raises(TrainError, match=f"no {p} instructions.*--precision fp32"):
            Trainer(get_preset(TINY, FAST + ["steps=2", "device=cpu", f"precision={p}"]), mel_data, tmp_path / p)
    bad = CliRunner().invoke(app, ["train", "--preset", TINY, "--data", str(mel_data), "--out", str(tmp_path / "c"),
                                   "--steps", "2", "--device", "cpu", "--precision", "bf16"])
    assert bad.exit_code == 2 and "no bf16 instructions" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "c" / "metrics.jsonl").exists()
    monkeypatch.setattr(trainer_mod, "cpu_runs", lambda precision: True)
    trainer_mod.check_precision("bf16", torch.device("cpu"))  # a CPU with it: no refusal
    trainer_mod.check_precision("bf16", torch.device("cuda"))  # not the CPU's business


def test_eval_metrics_and_checkpoint_contents(mel_data, tmp_path):
    cfg = get_preset(TINY, FAST + ["steps=10", "device=cpu"])
    final = Trainer(cfg, mel_data, tmp_path / "run").fit()
    for key in ("tf_accuracy", "sampled_accuracy", "free_running_accuracy", "argmax_accuracy", "eval_kl", "eval_elbo"):
        assert key in final
    assert 0.0 <= final["tf_accuracy"] <= 1.0
    state = load_checkpoint(tmp_path / "run")
    assert state["step"] == 10 and state["config"]["preset"] == TINY
    assert state["vocab_sizes"] == [130]


def test_cli_train_and_its_errors(mel_data, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["train", "--preset", TINY, "--data", str(mel_data), "--out", str(tmp_path / "c"),
                             "--steps", "5", "--device", "cpu", *sum((["--set", s] for s in FAST), [])])
    assert ok.exit_code == 0, ok.output
    for args, msg in (
        (["--preset", "nope"], "unknown preset"),
        (["--preset", TINY, "--set", "train.wings=1"], "unknown config key"),
        (["--preset", "hierdec-trio_16bar_tiny"], "expects 16-bar trio"),
    ):
        bad = runner.invoke(app, ["train", *args, "--data", str(mel_data), "--out", str(tmp_path / "x"), "--device", "cpu"])
        assert bad.exit_code == 2 and msg in bad.output and "Traceback" not in bad.output


def test_two_process_ddp_with_gloo_trains_and_its_checkpoint_loads(mel_data, tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun not installed next to this python")
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", "-m", "musicvae", "train", "--preset", TINY,
           "--data", str(mel_data), "--out", str(tmp_path / "ddp"), "--steps", "10", "--device", "cpu",
           *sum((["--set", s] for s in FAST), [])]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = load_checkpoint(tmp_path / "ddp")
    assert state["step"] == 10
    from musicvae.models.builders import build_model

    model = build_model(get_preset(TINY), (130,))
    load_checkpoint(tmp_path / "ddp", model)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    records = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(records) == len({json.loads(r)["step"] for r in records if "loss" in json.loads(r)}) + 1  # rank 0 logs alone


def test_eval_batches_are_spread_over_the_split(mel_data, tmp_path):
    """The eval split is stored by source file; its first windows would all come from one or two tunes."""
    from musicvae.data.dataset import PreparedDataset
    from musicvae.training.batches import spread_indices

    ds = PreparedDataset(mel_data, "eval")
    cfg = get_preset(TINY, ["batch_size=4", "eval_batches=2", "device=cpu"])
    t = Trainer(cfg, mel_data, tmp_path / "r")
    picked = torch.cat(t.family.eval_batches)
    assert len(ds) > 8 and picked.shape[0] == 8
    expect = torch.from_numpy(ds.tokens[spread_indices(len(ds), 8)].astype("int64"))
    assert torch.equal(picked, expect)
    assert not torch.equal(picked, torch.from_numpy(ds.tokens[:8].astype("int64")))


def test_init_from_starts_from_the_given_weights_and_refuses_misfits(mel_data, tmp_path):
    cfg = get_preset(TINY, FAST + ["steps=10", "device=cpu"])
    Trainer(cfg, mel_data, tmp_path / "base").fit()
    step_dir = find_latest(tmp_path / "base")
    fine = Trainer(get_preset(TINY, FAST + ["steps=10", "device=cpu", f"init_from={step_dir}"]), mel_data, tmp_path / "ft")
    base = Trainer(cfg, mel_data, tmp_path / "fresh")
    saved = load_checkpoint(step_dir, base.model)  # the base run's final weights
    assert saved["step"] == 10
    for (k, a), b in zip(fine.model.state_dict().items(), base.model.state_dict().values()):
        assert torch.equal(a, b), k
    fresh = Trainer(cfg, mel_data, tmp_path / "fresh2").model.state_dict()
    assert any(not torch.equal(a, b) for a, b in zip(fine.model.state_dict().values(), fresh.values()))
    with pytest.raises(TrainError, match="needs a model dir"):
        Trainer(get_preset(TINY, FAST + ["device=cpu", f"init_from={tmp_path / 'none'}"]), mel_data, tmp_path / "x")
    bigger = get_preset(TINY, FAST + ["device=cpu", f"init_from={step_dir}", "model.decoder_hidden=24"])
    with pytest.raises(TrainError, match="do not fit"):
        Trainer(bigger, mel_data, tmp_path / "y")
