"""Checkpoints: safetensors + JSON round trips, retention, atomicity, corruption, no pickle."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import musicvae.training.checkpoint as ckpt
from musicvae.utils.stored import load_weights_bytes, read_bytes, weights_bytes, write_file
from musicvae.training.checkpoint import (
    CheckpointError,
    capture_rng_state,
    find_latest,
    load_checkpoint,
    read_config,
    restore_rng_state,
    save_checkpoint,
)


class Tiny(nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.inp = nn.Linear(4, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.norm = nn.BatchNorm1d(hidden)  # int64 buffer num_batches_tracked
        self.out = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(torch.tanh(self.inp(x)))
        return self.out(self.norm(h[:, -1]))


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(5, 3, 4, generator=g), torch.randn(5, 2, generator=g)


def _step(model: nn.Module, opt: torch.optim.Optimizer, seed: int) -> None:
    x, y = _batch(seed)
    opt.zero_grad()
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()


def _trained(seed: int = 0, steps: int = 2) -> tuple[Tiny, torch.optim.Adam]:
    torch.manual_seed(seed)
    model = Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    for i in range(steps):
        _step(model, opt, 100 + i)
    return model, opt


def _assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b and type(a) is type(b)


def test_round_trip_weights_optimizer_and_continued_training(tmp_path: Path) -> None:
    model, opt = _trained()
    config = {"model": {"name": "tiny", "hidden": 8}, "lr": 1e-2}
    path = save_checkpoint(tmp_path, 2, model, opt, config=config, metrics={"loss": 0.5},
                           extra={"epoch": 1})
    assert path == tmp_path / "checkpoints" / "step-000000002"
    assert find_latest(tmp_path) == path
    assert read_config(tmp_path) == config

    torch.manual_seed(123)
    model2 = Tiny()
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.5)
    info = load_checkpoint(tmp_path, model2, opt2)
    assert info["step"] == 2 and info["epoch"] == 1 and info["metrics"] == {"loss": 0.5}
    assert info["loaded"] == {"model": True, "optimizer": True, "rng": False}
    _assert_same(model.state_dict(), model2.state_dict())
    _assert_same(opt.state_dict(), opt2.state_dict())  # step stays a float32 0-dim tensor, betas a tuple
    assert opt2.state_dict()["state"][0]["step"].dtype == opt.state_dict()["state"][0]["step"].dtype

    _step(model, opt, 7)
    _step(model2, opt2, 7)
    _assert_same(model.state_dict(), model2.state_dict())


def test_load_accepts_step_dir_checkpoints_dir_and_best_dir(tmp_path: Path) -> None:
    model, opt = _trained()
    step_dir = save_checkpoint(tmp_path, 5, model, opt, metrics={"acc": 1.0}, best_metric="acc")
    for where in (step_dir, tmp_path / "checkpoints", tmp_path / "checkpoints" / "best", step_dir / "trainer.json"):
        assert load_checkpoint(where, Tiny())["step"] == 5
    assert find_latest(tmp_path / "empty") is None


def test_rng_round_trip(tmp_path: Path) -> None:
    gen = np.random.default_rng(1234)
    tensors, js = capture_rng_state({"data": gen})
    json.dumps(js)  # JSON-able, big ints included
    expected = (torch.rand(3), np.random.rand(2), random.random(), gen.integers(0, 2**62, 4))
    restore_rng_state(tensors, json.loads(json.dumps(js)), {"data": gen})
    got = (torch.rand(3), np.random.rand(2), random.random(), gen.integers(0, 2**62, 4))
    assert torch.equal(expected[0], got[0])
    assert np.array_equal(expected[1], got[1]) and expected[2] == got[2]
    assert np.array_equal(expected[3], got[3])

    model, opt = _trained()
    save_checkpoint(tmp_path, 1, model, opt)
    after_save = torch.rand(4), np.random.rand(3), random.random()
    torch.manual_seed(999); np.random.seed(999); random.seed(999)
    assert load_checkpoint(tmp_path, restore_rng=True)["loaded"]["rng"]
    again = torch.rand(4), np.random.rand(3), random.random()
    assert torch.equal(after_save[0], again[0])
    assert np.array_equal(after_save[1], again[1]) and after_save[2] == again[2]


def test_fp16_export_loads_into_fp32_model(tmp_path: Path) -> None:
    model, _ = _trained()
    path = tmp_path / "export.safetensors"
    write_file(path, weights_bytes(model, torch.float16))
    fresh = Tiny()
    load_weights_bytes(fresh, read_bytes(path), path)
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert b.dtype == a.dtype, k
        if a.is_floating_point():
            torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-3)
        else:
            assert torch.equal(a, b)

    step_dir = save_checkpoint(tmp_path / "run", 3, model, weights_dtype=torch.float16)
    fresh = Tiny()
    load_checkpoint(step_dir, fresh)
    assert fresh.inp.weight.dtype == torch.float32
    torch.testing.assert_close(fresh.inp.weight, model.inp.weight, rtol=1e-3, atol=1e-3)
    assert (step_dir / "model.safetensors").stat().st_size < (tmp_path / "export.safetensors").stat().st_size * 1.1


def _step_names(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("step-"))


def test_keep_last_and_best_retention(tmp_path: Path) -> None:
    model, opt = _trained()
    accs = {1: 0.1, 2: 0.5, 3: 0.9, 4: 0.3, 5: 0.2, 6: 0.4}
    for step, acc in accs.items():
        save_checkpoint(tmp_path, step, model, opt, metrics={"acc": acc}, keep_last=2, best_metric="acc")
        best = json.loads((tmp_path / "checkpoints" / "best.json").read_text())
        assert f"step-{best['step']:09d}" in _step_names(tmp_path)  # best never deleted
    assert _step_names(tmp_path) == ["step-000000003", "step-000000005", "step-000000006"]
    best = json.loads((tmp_path / "checkpoints" / "best.json").read_text())
    assert best["checkpoint"] == "step-000000003" and best["value"] == 0.9
    assert load_checkpoint(tmp_path / "checkpoints" / "best")["step"] == 3
    latest = json.loads((tmp_path / "checkpoints" / "latest.json").read_text())
    assert latest == {"checkpoint": "step-000000006", "step": 6}

    low = tmp_path / "low"  # lower is better
    for step, loss in {1: 3.0, 2: 1.0, 3: 2.0, 4: 4.0}.items():
        save_checkpoint(low, step, model, metrics={"loss": loss}, keep_last=1, best_metric="loss",
                        higher_is_better=False)
    assert _step_names(low) == ["step-000000002", "step-000000004"]
    assert not [p for p in (low / "checkpoints").iterdir() if p.name.startswith(".")]


def test_failure_mid_save_leaves_previous_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, opt = _trained()
    first = save_checkpoint(tmp_path, 1, model, opt)
    latest_before = (tmp_path / "checkpoints" / "latest.json").read_bytes()
    files_before = {p.name: p.read_bytes() for p in first.iterdir()}

    real = ckpt.atomic_write_json

    def boom(path, obj):
        if Path(path).name == "trainer.json":
            raise OSError("disk full")
        return real(path, obj)

    monkeypatch.setattr(ckpt, "atomic_write_json", boom)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(tmp_path, 2, model, opt)
    monkeypatch.setattr(ckpt, "atomic_write_json", real)

    ckdir = tmp_path / "checkpoints"
    assert (ckdir / "latest.json").read_bytes() == latest_before
    assert _step_names(tmp_path) == ["step-000000001"]
    assert not [p.name for p in ckdir.iterdir() if p.name.startswith(".")]
    assert {p.name: p.read_bytes() for p in first.iterdir()} == files_before
    assert load_checkpoint(tmp_path, Tiny())["step"] == 1

    # a save that dies while overwriting the same step keeps the old one
    monkeypatch.setattr(ckpt, "safetensors_bytes", lambda *a: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(CheckpointError):
        save_checkpoint(tmp_path, 1, model, opt)
    assert {p.name: p.read_bytes() for p in first.iterdir()} == files_before
    assert not [p.name for p in ckdir.iterdir() if p.name.startswith(".")]


def test_stale_temp_dirs_of_dead_processes_are_removed(tmp_path: Path) -> None:
    model, _ = _trained(steps=0)
    ckdir = tmp_path / "checkpoints"
    stale = ckdir / ".tmp-step-000000001-999999999-abc123"
    stale.mkdir(parents=True)
    save_checkpoint(tmp_path, 1, model)
    assert not stale.exists()


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    model, opt = _trained()
    return save_checkpoint(tmp_path, 4, model, opt, config={"hidden": 8})


def test_truncated_weights(saved: Path) -> None:
    f = saved / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match=re.escape(str(f))) as err:
        load_checkpoint(saved, Tiny())
    assert "truncated" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="corrupt safetensors"):  # caught by safetensors itself too
        load_checkpoint(saved, Tiny(), verify=False)
    f.write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match=re.escape(str(f))):
        load_weights_bytes(Tiny(), read_bytes(f), f)


def test_bitflip_detected_by_checksum(saved: Path) -> None:
    f = saved / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(saved, Tiny())


def test_garbage_trainer_json(saved: Path) -> None:
    f = saved / "trainer.json"
    f.write_text("{not json")
    with pytest.raises(CheckpointError, match=re.escape(str(f)) + ".*invalid JSON"):
        load_checkpoint(saved, Tiny())
    with pytest.raises(CheckpointError, match=re.escape(str(f))):
        read_config(saved)


def test_unknown_version_and_format(saved: Path) -> None:
    f = saved / "trainer.json"
    data = json.loads(f.read_text())
    f.write_text(json.dumps({**data, "version": 99}))
    with pytest.raises(CheckpointError, match="unsupported checkpoint version 99"):
        load_checkpoint(saved)
    f.write_text(json.dumps({**data, "format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a musicvae-checkpoint"):
        load_checkpoint(saved)


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors", "optimizer.json", "trainer.json"])
def test_missing_file(saved: Path, name: str) -> None:
    (saved / name).unlink()
    model = Tiny()
    with pytest.raises(CheckpointError, match=re.escape(str(saved / name)) + ".*missing file"):
        load_checkpoint(saved, model, torch.optim.Adam(model.parameters()))


def test_missing_run_and_dangling_latest(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        (tmp_path / "empty").mkdir()
        load_checkpoint(tmp_path / "empty")
    import shutil
    shutil.rmtree(saved)
    with pytest.raises(CheckpointError, match="latest.json.*missing"):
        load_checkpoint(saved.parent.parent)


def test_wrong_shape_model(saved: Path) -> None:
    with pytest.raises(CheckpointError, match=re.escape(str(saved / "model.safetensors")) + ".*shape mismatch") as err:
        load_checkpoint(saved, Tiny(hidden=16))
    assert "\n" not in str(err.value)
    other = nn.Linear(4, 8)
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_checkpoint(saved, other)


def test_optimizer_mismatch(saved: Path) -> None:
    model = Tiny()
    with pytest.raises(CheckpointError, match="optimizer mismatch"):
        load_checkpoint(saved, model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(saved, model, torch.optim.Adam(list(model.parameters())[:2]))


def test_bad_save_arguments(tmp_path: Path) -> None:
    model, _ = _trained(steps=0)
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path, 1, model, extra={"step": 3})
    with pytest.raises(CheckpointError, match="cannot save"):
        save_checkpoint(tmp_path, 1, model, config={"f": object()})
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").iterdir())


def test_no_pickle_anywhere(saved: Path) -> None:
    for f in saved.iterdir():
        data = f.read_bytes()
        assert not data.startswith(b"PK"), f  # torch.save's zip container
        if f.suffix == ".json":
            assert not data.startswith(b"\x80"), f
            json.loads(data)
        else:  # safetensors: u64 header length, then a JSON header; never a pickle stream
            assert f.suffix == ".safetensors", f
            n = int.from_bytes(data[:8], "little")
            assert isinstance(json.loads(data[8 : 8 + n]), dict), f
            assert not (data[0] == 0x80 and 2 <= data[1] <= 5 and n > len(data)), f
    from musicvae.training import state_io
    from musicvae.utils import run_dirs, stored

    source = "".join(Path(m.__file__).read_text() for m in (ckpt, state_io, stored, run_dirs))
    assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", source, re.M)
    assert "torch.load" not in source and "torch.save" not in source  # plain grep, no exceptions
    assert "allow_pickle=True" not in source
