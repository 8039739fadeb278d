"""The trainer's sample-realism eval: data-like samples score low, wild ones high; logged by `musicvae train`."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.data.dataset import WindowDataset
from musicvae.evaluation.train_realism import SampleRealismHook
from musicvae.representations.streams import FIRST_NOTE_ON, HOLD


class Replay(torch.nn.Module):
    """A stand-in model whose prior samples are given token grids (records its calls)."""

    def __init__(self, grids):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.grids, self.calls = torch.as_tensor(grids), []

    def sample(self, n, temperature, generator):
        self.calls.append((n, temperature, self.training))
        return self.grids[:n]


def test_data_like_samples_score_low_and_wild_ones_high(mel_data):
    ev = WindowDataset(mel_data, "eval", transpose=None, as_torch=False)
    tokens = np.asarray(ev.tokens, dtype=np.int64)
    hook = SampleRealismHook(ev.converter, tokens, n=8)
    middle = np.repeat(tokens[len(tokens) // 2][None], 8, axis=0)  # one held-out window, 8 times
    model = Replay(middle)
    model.train()
    first = hook(model)
    assert first["sample_ood_rate"] == 0.0
    assert 0.0 <= first["sample_ood_rate_data"] <= 1.0  # the data's own rate, with the first eval only
    assert model.calls == [(8, 0.5, False)] and model.training  # sampled in eval mode, train mode restored
    # leaps across most of the MIDI range every step: out of the data's range
    wild = np.full_like(middle, HOLD)
    wild[:, ::2, 0] = FIRST_NOTE_ON + np.where(np.arange(wild.shape[1] // 2) % 2, 21, 118)
    again = hook(Replay(wild))
    assert again == {"sample_ood_rate": 1.0}
    with pytest.raises(ValueError, match="eval_samples"):
        SampleRealismHook(ev.converter, tokens, n=0)


def _eval_records(run):
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "tf_accuracy" in r]


def test_cli_train_logs_the_sample_ood_rate_with_each_eval(mel_data, tmp_path):
    runner = CliRunner()
    fast = ["--set", "log_every=5", "--set", "eval_every=5", "--set", "batch_size=8", "--set", "eval_batches=1",
            "--set", "eval_samples=4", "--device", "cpu"]
    ok = runner.invoke(app, ["train", "--preset", "cat-mel_2bar_small_tiny", "--data", str(mel_data), "--out",
                             str(tmp_path / "r"), "--steps", "10", *fast])
    assert ok.exit_code == 0, ok.output
    recs = _eval_records(tmp_path / "r")
    assert len(recs) == 2 and all(0.0 <= r["sample_ood_rate"] <= 1.0 for r in recs)
    assert "sample_ood_rate_data" in recs[0] and "sample_ood_rate_data" not in recs[1]
    off = runner.invoke(app, ["train", "--preset", "cat-mel_2bar_small_tiny", "--data", str(mel_data), "--out",
                              str(tmp_path / "off"), "--steps", "5", *fast, "--set", "eval_samples=0"])
    assert off.exit_code == 0, off.output
    assert all("sample_ood_rate" not in r for r in _eval_records(tmp_path / "off"))
