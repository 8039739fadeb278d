"""MusAE through the Trainer: eval figures, both optimisers in the checkpoint, exact resume, fallbacks, CLI."""

import json

import pytest
import torch
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.presets import get_preset
from musicvae.training.checkpoint import find_latest, load_checkpoint
from musicvae.training.musae_objective import OptimizerPair
from musicvae.training.trainer import Trainer, TrainError

TINY = "musae-gmm_2bar_tiny"
FAST = ["log_every=5", "eval_every=10", "checkpoint_every=10", "batch_size=16", "eval_batches=1", "device=cpu"]


def _records(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seq_per_s", "run")} for r in lines]


def test_tiny_run_logs_per_track_accuracy_and_saves_both_optimisers(tiny_musae_run):
    records = _records(tiny_musae_run)
    train = [r for r in records if "critic_loss" in r]
    assert train and all(r["beta"] in (0.0, 0.1) for r in train)  # beta_every=10: 0 for steps 0-9, then 0.1
    assert {"wasserstein", "gradient_penalty", "r_loss", "adversarial_loss", "accuracy", "labelled"} <= set(train[-1])
    final = [r for r in records if "tf_accuracy" in r][-1]
    assert set(final["tf_accuracy_per_stream"]) == {"drums", "bass", "guitar_piano", "strings"}
    assert final["tf_accuracy"] == final["argmax_accuracy"]  # non-autoregressive decoder
    assert 0.0 <= final["component_accuracy"] <= 1.0 and final["labelled_eval_windows"] > 0
    step_dir = find_latest(tiny_musae_run)
    trainer = json.loads((step_dir / "trainer.json").read_text())
    assert trainer["optimizer_class"] == "OptimizerPair" and trainer["config"]["musae"]["prior"] == "flower"
    labels = trainer["labels"]
    assert labels["names"] == ["band/jazz", "band/rock", "extra", "folk"]
    assert abs(labels["components"]["band/jazz"] - labels["components"]["band/rock"]) == 1  # one group: neighbours
    opt = json.loads((step_dir / "optimizer.json").read_text())["state_dict"]
    assert set(opt) == {"autoencoder", "critic"} and opt["critic"]["state"] and opt["autoencoder"]["state"]


def test_resume_after_kill_reproduces_the_curve_and_both_optimiser_states(musae_data, tmp_path):
    cfg = get_preset(TINY, FAST + ["steps=20"])
    straight = Trainer(cfg, musae_data, tmp_path / "straight")
    straight.fit()
    Trainer(cfg, musae_data, tmp_path / "killed").fit(steps=10)
    resumed = Trainer(cfg, musae_data, tmp_path / "killed", resume=True)
    assert resumed.step == 10 and isinstance(resumed.optimizer, OptimizerPair)
    first = Trainer(cfg, musae_data, tmp_path / "killed2")
    first.fit(steps=10)
    for a, b in ((resumed.optimizer.critic, first.optimizer.critic),
                 (resumed.optimizer.autoencoder, first.optimizer.autoencoder)):
        sa, sb = a.state_dict()["state"], b.state_dict()["state"]
        assert sa.keys() == sb.keys() and sa
        assert all(torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)
    resumed.fit()
    assert _records(tmp_path / "killed") == _records(tmp_path / "straight")
    for (name, p), q in zip(resumed.model.named_parameters(), straight.model.parameters()):
        assert torch.equal(p, q), name


def test_optimisers_hold_only_their_own_parameters(musae_data, tmp_path):
    t = Trainer(get_preset(TINY, FAST + ["steps=1"]), musae_data, tmp_path / "r")
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    ae = ids(p for g in t.optimizer.autoencoder.param_groups for p in g["params"])
    critic = ids(p for g in t.optimizer.critic.param_groups for p in g["params"])
    assert ae == ids(t.model.encoder.parameters()) | ids(t.model.decoder.parameters())
    assert critic == ids(t.model.critic.parameters())


def test_mixture_prior_without_labels_trains_gaussian_and_says_so(mel_data, tmp_path):
    cfg = get_preset(TINY, FAST + ["steps=10", "data.kind=melody"])
    t = Trainer(cfg, mel_data, tmp_path / "r")
    assert t.config.musae.prior == "gauss" and t.model.critic.label_classes == 0
    assert len(t.notices) == 1 and "Gaussian prior" in t.notices[0] and "\n" not in t.notices[0]
    final = t.fit()
    assert final["tf_accuracy_per_stream"].keys() == {"melody"} and "component_accuracy" not in final
    again = Trainer(cfg, mel_data, tmp_path / "r", resume=True)  # the same fallback: the saved config matches
    assert again.step == 10 and again.config.musae.prior == "gauss"


def test_refusals_are_one_line(mel_data, musae_data, tmp_path):
    with pytest.raises(TrainError, match="--set data.kind=melody"):
        Trainer(get_preset(TINY, FAST), mel_data, tmp_path / "a")
    with pytest.raises(TrainError, match="not fp16"):
        Trainer(get_preset(TINY, FAST + ["precision=fp16"]), musae_data, tmp_path / "b")


def test_cli_trains_musae_prints_the_notice_and_resumes(mel_data, musae_data, tmp_path):
    runner = CliRunner()
    common = ["--device", "cpu", *sum((["--set", s] for s in FAST[:-1]), [])]
    ok = runner.invoke(app, ["train", "--preset", "musae-gmm_2bar_tiny", "--data", str(mel_data), "--out",
                             str(tmp_path / "m"), "--steps", "10", "--set", "data.kind=melody", *common])
    assert ok.exit_code == 0, ok.output
    assert "notice:" in ok.output and "Gaussian prior" in ok.output
    first = runner.invoke(app, ["train", "--preset", "musae-gmm_2bar_tiny", "--data", str(musae_data), "--out",
                                str(tmp_path / "g"), "--steps", "10", *common])
    assert first.exit_code == 0, first.output
    assert "nearest-component" in first.output and "notice:" not in first.output
    more = runner.invoke(app, ["train", "--preset", "musae-gmm_2bar_tiny", "--data", str(musae_data), "--out",
                               str(tmp_path / "g"), "--steps", "20", "--resume", *common])
    assert more.exit_code == 0, more.output
    assert load_checkpoint(tmp_path / "g")["step"] == 20
