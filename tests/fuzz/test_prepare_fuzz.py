"""Fuzz target (issue 20): corrupted real MIDI files mixed with good ones through the whole
``musicvae prepare`` command: no traceback, no silent drop, peak RSS under 1 GB.

The default suite runs one seeded folder of a few hundred files; ``make test-slow`` runs
thousands over several seeds and kinds (``-m slow``)."""

from __future__ import annotations

import json
import os

import pytest
from cli_run import run_cli_rss
from midi_fuzz import write_cases

from musicvae.utils.names import printable

MAX_RSS_KB = 1_000_000  # 1 GB


def _fuzz(tmp_path, n, seed, kind, workers=2):
    src = tmp_path / f"in-{seed}"
    made = write_cases(src, n, seed)
    os.mkfifo(src / "a-fifo.mid")  # a special entry among the files
    out = tmp_path / f"out-{seed}-{kind}"
    proc, rss_kb = run_cli_rss("prepare", str(src), "--kind", kind, "--out", str(out), "--workers", str(workers),
                               timeout=1800)
    assert "Traceback" not in proc.out, proc.out[-3000:]
    assert proc.returncode == 0, proc.out[-3000:]
    assert rss_kb < MAX_RSS_KB, rss_kb
    man = json.loads((out / "manifest.json").read_text())
    seen: dict[str, str] = {}
    for key in ("sources", "rejected", "without_windows", "skipped"):
        for entry in man[key]:
            name = entry["name"] if key == "sources" else entry["file"]
            assert name not in seen, (name, key, seen.get(name))
            seen[name] = key
            reason = entry.get("reason", "")
            assert "\n" not in reason and not reason.startswith("unexpected error"), (name, reason)
    expected = {printable(os.fsdecode(name)) for name in made} | {"a-fifo.mid"}
    assert set(seen) == expected  # every input path is accounted for, none twice
    assert seen["a-fifo.mid"] == "skipped"
    assert man["counts"]["files"] == len(made)
    return man


def test_prepare_survives_a_folder_of_corrupted_real_files(tmp_path):
    man = _fuzz(tmp_path, 400, seed=20, kind="melody")
    assert len(man["rejected"]) > 100 and len(man["sources"]) > 20  # both kinds of file were there


@pytest.mark.slow
@pytest.mark.parametrize("kind, seed", [("melody", 1), ("drums", 2), ("trio", 3), ("multitrack", 4), ("notes", 5),
                                        ("bars", 6), ("melody", 7), ("melody", 8)])
def test_prepare_fuzz_long(tmp_path, kind, seed):
    _fuzz(tmp_path, 1500, seed=seed, kind=kind)
