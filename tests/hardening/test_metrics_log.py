"""Issue 20, item 2: ``metrics.jsonl`` belongs to one run (run id, truncated to the checkpoint's
step on resume, torn tail skipped), checked with real SIGKILLs of ``musicvae train``."""

from __future__ import annotations

import json
import signal
import time

from cli_run import invoke, start_cli, train_args

from musicvae.training.runlog import read_records


def _lines(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _wait_for(pred, proc, timeout=120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def _train_lines(run):
    return [r for r in _lines(run) if "loss" in r]


def test_fresh_run_after_a_kill_before_the_first_checkpoint_owns_the_log(mel_data, tmp_path):
    run = tmp_path / "run"
    proc = start_cli(*train_args(mel_data, run, 100000, "--set", "checkpoint_every=100000"))
    log = run / "metrics.jsonl"
    assert _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 3, proc), proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "checkpoints").exists()
    res = invoke(*train_args(mel_data, run, 4, "--set", "checkpoint_every=2"))
    assert res.returncode == 0, res.out
    recs = _train_lines(run)
    assert [r["step"] for r in recs] == [1, 2, 3, 4]  # the dead run's lines are gone, none twice
    assert len({r["run"] for r in _lines(run)}) == 1
    assert "earlier run that stopped before its first checkpoint" in res.out


def test_resume_after_kill_during_checkpoint_writes(mel_data, tmp_path):
    run = tmp_path / "run"
    # a checkpoint every step: most of the time is spent writing one, so the kill lands inside a save
    proc = start_cli(*train_args(mel_data, run, 100000, "--set", "checkpoint_every=1"))
    log = run / "metrics.jsonl"
    assert _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 6, proc), proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    res = invoke(*train_args(mel_data, run, 12, "--set", "checkpoint_every=1"), "--resume")
    assert res.returncode == 0, res.out
    steps = [r["step"] for r in _train_lines(run)]
    assert steps == list(range(1, 13))  # each step once, in order
    assert len({r["run"] for r in _lines(run)}) == 1
    leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no .tmp-step dir or .latest.json.*.tmp of the killed writer


def test_torn_and_duplicated_lines_are_repaired_on_resume(mel_data, tmp_path):
    run = tmp_path / "run"
    res = invoke(*train_args(mel_data, run, 4, "--set", "checkpoint_every=2"))
    assert res.returncode == 0, res.out
    good = _lines(run)
    with open(run / "metrics.jsonl", "a") as fh:  # a line of a stranger run, a duplicate, then a torn tail
        fh.write(json.dumps({**good[0], "run": "someoneelse"}) + "\n")
        fh.write(json.dumps(good[-1]) + "\n")
        fh.write('{"step": 5, "loss": 1.2')
    res = invoke(*train_args(mel_data, run, 6, "--set", "checkpoint_every=2"), "--resume")
    assert res.returncode == 0, res.out
    assert "Traceback" not in res.out and "torn or unreadable" in res.out and "another run" in res.out
    records, bad = read_records(run / "metrics.jsonl")
    assert bad == 0
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert records[:4] == good[:4]
