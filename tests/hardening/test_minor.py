"""Issue 20, item 10: the minor ones, through the ``musicvae`` entry point. Option refusals are
one line (no usage box), seeds past 2^63 and NaN/inf values are refused, no ``.latest.json.*.tmp``
or ``.work/`` is left behind."""

from __future__ import annotations

import json
import resource
import signal
import sys

import pytest
from cli_run import invoke, run_cli, train_args
from synth import write_song

from musicvae.cli.main import main

BIG = str(2**64)


@pytest.mark.parametrize("args, message", [
    (["sample", "-n", "0"], "Invalid value for '--n'"),
    (["sample", "--seed", BIG], "Invalid value for '--seed'"),
    (["sample", "--bogus"], "No such option: --bogus"),
    (["sample", "-t", "nan"], "-t nan: must be a finite number"),
    (["sample", "--temperature=inf"], "--temperature inf: must be a finite number"),
    (["attribute", "x.mid", "-a", "note_density", "--amount", "nan"], "--amount nan: must be a finite number"),
    (["interpolate", "a.mid", "b.mid", "--steps", "1"], "Invalid value for '--steps'"),
    (["similar", "a.mid", "--similarity", "2"], "Invalid value for '--similarity'"),
    (["sample", "--qpm", "5"], "Invalid value for '--qpm'"),
    (["reconstruct"], "Missing argument"),
    (["prepare", "folk", "--out", "o"], "Missing option '--kind'"),
    (["train", "--preset", "cat-mel_2bar_small_tiny", "--out", "o"], "Missing option '--data'"),
    (["train", "--preset", "cat-mel_2bar_small_tiny", "--data", "d", "--out", "o", "--set", f"seed={BIG}"],
     "--set train.seed = 18446744073709551616 is outside"),
    (["train", "--preset", "cat-mel_2bar_small_tiny", "--data", "d", "--out", "o", "--set", "learning_rate=nan"],
     "--set train.learning_rate must be a finite number"),
    (["train", "--preset", "cat-mel_2bar_small_tiny", "--data", "d", "--out", "o", "--set", "decoder_layers=0"],
     "--set model.decoder_layers = 0 is outside"),
    (["evaluate", "--seed", "-1"], "Invalid value for '--seed'"),
    (["corpus", "list", "--nope"], "No such option: --nope"),
    (["nosuchcommand"], "No such command"),
])
def test_refusals_are_one_line(monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["musicvae", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2, captured
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_sample_with_the_largest_seed_works(tmp_path):
    proc = invoke("sample", "-n", "1", "--seed", str(2**63 - 1), "--out", str(tmp_path / "s"))
    assert proc.returncode == 0, proc.out


def test_a_killed_pointer_write_leaves_no_tmp_file(mel_data, tmp_path):
    run = tmp_path / "run"
    proc = invoke(*train_args(mel_data, run, 2, "--set", "checkpoint_every=2"))
    assert proc.returncode == 0, proc.out
    stale = run / "checkpoints" / ".latest.json.k1ll3d.tmp"  # what a kill inside atomic_write leaves
    stale.write_text('{"checkpoint": "step-0000')
    proc = invoke(*train_args(mel_data, run, 4, "--set", "checkpoint_every=2"), "--resume")
    assert proc.returncode == 0, proc.out
    assert not stale.exists()
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 4


def _tiny_files():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (600, 600))


def test_failed_prepare_leaves_no_work_folder(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(6):
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * 3) % 20 for j in range(64)])
    out = tmp_path / "out"
    proc = run_cli("prepare", str(src), "--kind", "melody", "--out", str(out), "--workers", "1",
                   preexec_fn=_tiny_files)
    assert proc.returncode == 2, proc.out
    err = [line for line in proc.stderr.decode().splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "File too large" in err[0] and "Traceback" not in proc.out
    assert not (out / ".work").exists() and not (out / "manifest.json").exists()
    proc = invoke("prepare", str(src), "--kind", "melody", "--out", str(out), "--workers", "1")
    assert proc.returncode == 0, proc.out
