"""Issue 20, items 6 and 9: training error paths through ``musicvae train``. A corrupt
``latest.json`` or latest step falls back to the newest intact checkpoint and says so; a full
disk while saving is one line; ``--resume`` into another dataset, preset or seed is refused with
a one-line diff unless ``--force``."""

from __future__ import annotations

import json
import resource
import signal

import pytest
from cli_run import invoke, run_cli, train_args
from typer.testing import CliRunner

from musicvae.cli.main import app

runner = CliRunner()


def _train(*args):
    res = runner.invoke(app, [str(a) for a in args])
    return res, res.output  # stdout and stderr together


@pytest.fixture
def run4(mel_data, tmp_path):
    """A run of 4 steps with checkpoints at steps 2 and 4."""
    run = tmp_path / "run"
    res, text = _train(*train_args(mel_data, run, 4, "--set", "checkpoint_every=2"))
    assert res.exit_code == 0, text
    return run


def _resume(mel_data, run, steps=6, *extra):
    return _train(*train_args(mel_data, run, steps, "--set", "checkpoint_every=2", *extra), "--resume")


@pytest.mark.parametrize("damage, resumed_from", [
    ("garbage_pointer", "step-000000004"),
    ("missing_step", "step-000000004"),
    ("emptied_step", "step-000000002"),
    ("corrupt_weights", "step-000000002"),
])
def test_corrupt_latest_falls_back_to_the_newest_intact_checkpoint(mel_data, run4, damage, resumed_from):
    ckpt = run4 / "checkpoints"
    if damage == "garbage_pointer":
        (ckpt / "latest.json").write_bytes(b"\x00\xff{not json")
    elif damage == "missing_step":
        (ckpt / "latest.json").write_text(json.dumps({"checkpoint": "step-000000099", "step": 99}))
    elif damage == "emptied_step":
        for f in (ckpt / "step-000000004").iterdir():
            f.write_bytes(b"")
    else:
        w = ckpt / "step-000000004" / "model.safetensors"
        w.write_bytes(w.read_bytes()[:-100])
    res, text = _resume(mel_data, run4)
    assert res.exit_code == 0, text
    assert f"resuming from {resumed_from}, the newest intact checkpoint" in text
    assert json.loads((ckpt / "latest.json").read_text())["checkpoint"] == "step-000000006"


def test_fresh_run_into_a_folder_with_a_garbage_pointer_is_one_line(mel_data, run4):
    (run4 / "checkpoints" / "latest.json").write_text("garbage")
    res, text = _train(*train_args(mel_data, run4, 4))
    assert res.exit_code == 2 and "already holds checkpoints" in text and "Traceback" not in text


def test_no_intact_checkpoint_is_one_line(mel_data, run4):
    for step in ("step-000000002", "step-000000004"):
        (run4 / "checkpoints" / step / "model.safetensors").write_bytes(b"broken")
    res, text = _resume(mel_data, run4)
    assert res.exit_code == 2 and "cannot resume" in text


def _small_files():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))


def test_disk_full_while_saving_is_one_line(mel_data, tmp_path):
    run = tmp_path / "run"
    proc = run_cli(*train_args(mel_data, run, 4, "--set", "checkpoint_every=2"), preexec_fn=_small_files)
    assert proc.returncode == 2, proc.out
    err = proc.stderr.decode().strip().splitlines()
    assert "Traceback" not in proc.out and err[-1].startswith("error:")
    assert "cannot save checkpoint" in err[-1] and "File too large" in err[-1] and "no checkpoint was saved" in err[-1]
    leftovers = [p.name for p in (run / "checkpoints").iterdir()]
    assert leftovers == []  # the half-written step dir is gone
    # with room again, the same command starts over cleanly
    proc = invoke(*train_args(mel_data, run, 2, "--set", "checkpoint_every=2"))
    assert proc.returncode == 0, proc.out


@pytest.mark.parametrize("change, diff", [
    (["--set", "seed=7"], "train.seed 0 -> 7"),
    (["--set", "decoder_hidden=48"], "model.decoder_hidden 32 -> 48"),
])
def test_resume_with_another_seed_or_model_is_refused(mel_data, run4, change, diff):
    res, text = _resume(mel_data, run4, 6, *change)
    assert res.exit_code == 2, text
    assert diff in text and "--force" in text and len(text.strip().splitlines()) == 1


def test_resume_into_another_dataset_is_refused_unless_forced(mel_data, run4, tmp_path):
    import shutil

    from musicvae.data.prepare import PrepareConfig, prepare

    other = tmp_path / "other"
    src = tmp_path / "midi2"
    shutil.copytree(mel_data.parent / "midi", src)
    (src / "s0.mid").unlink()
    prepare(src, other, PrepareConfig("melody", 2, eval_fraction=0.2))
    res, text = _train(*train_args(other, run4, 6, "--set", "checkpoint_every=2"), "--resume")
    assert res.exit_code == 2 and "dataset " in text and "->" in text, text
    res, text = _train(*train_args(other, run4, 6, "--set", "checkpoint_every=2"), "--resume", "--force")
    assert res.exit_code == 0, text
