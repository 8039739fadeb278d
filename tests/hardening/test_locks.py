"""Issue 20, item 3: one writer per ``--out``: a second ``train`` or ``prepare`` into a folder
that another process is writing is refused in one line naming the holder's pid."""

from __future__ import annotations

import os
import time

from cli_run import invoke, start_cli, train_args
from synth import write_song


def _wait_lock(folder, proc, timeout=120):
    lock = folder / ".lock"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if lock.exists() and lock.read_text().strip():
            return True
        time.sleep(0.02)
    return False


def test_second_train_into_the_same_folder_is_refused(mel_data, tmp_path):
    run = tmp_path / "run"
    first = start_cli(*train_args(mel_data, run, 100000, "--set", "checkpoint_every=100000"))
    try:
        assert _wait_lock(run, first), first.stderr.read()
        second = invoke(*train_args(mel_data, run, 4), "--resume")
        assert second.returncode == 2, second.out
        assert f"in use by pid {first.pid}" in second.out and "Traceback" not in second.out
        assert len(second.out.strip().splitlines()) == 1
    finally:
        first.kill()
        first.wait()
    # the kernel dropped the killed holder's lock: the folder is usable again
    res = invoke(*train_args(mel_data, tmp_path / "run", 2, "--set", "checkpoint_every=2"))
    assert res.returncode == 0, res.out


def test_second_prepare_into_the_same_folder_is_refused(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(3):
        write_song(src / f"s{i}.mid", [60 + (i + j) % 12 for j in range(16)])
    out = tmp_path / "out"
    # this test process holds the lock as a running prepare would
    from musicvae.utils.lock import folder_lock

    with folder_lock(out, "musicvae prepare"):
        res = invoke("prepare", str(src), "--kind", "melody", "--out", str(out), "--workers", "1")
    assert res.returncode == 2, res.out
    assert f"in use by pid {os.getpid()} (musicvae prepare)" in res.out
    assert not (out / "manifest.json").exists()
    res = invoke("prepare", str(src), "--kind", "melody", "--out", str(out), "--workers", "1")
    assert res.returncode == 0, res.out
