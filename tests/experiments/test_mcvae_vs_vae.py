"""``experiments/mcvae_vs_vae.py`` end to end in ``--tiny`` mode (as ``test_experiments.py`` does for the others).

It prepares the bundled folk corpus twice (1-bar melodies, whole songs), trains a tiny bar VAE and
a tiny composer through the project's command line, and must write report.md, report.json and
its plots; a rerun trains nothing; bad input is one ``error:`` line with exit status 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
sys.path.insert(0, str(ROOT / "experiments"))


def _script(*args, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "mcvae_vs_vae.py"), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("mcvae_exp")
    args = ["--tiny", "--out", root / "report", "--runs", root / "runs", "--data", root / "mel1",
            "--songs", root / "bars16"]
    _script(*args)
    return {"root": root, "args": args, "out": root / "report"}


def test_tiny_run_writes_the_report(tiny_report):
    out = tiny_report["out"]
    for name in ("interpolation.png", "compositions.png", "curves.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    text = (out / "report.md").read_text()
    data = json.loads((out / "report.json").read_text())
    meta = data["meta"]
    assert meta["size"] == "tiny" and meta["command"].startswith("python experiments/mcvae_vs_vae.py")
    assert "Different data from the papers" in text and "Tiny run" in text and "our reading" in text
    commands = meta["commands"]
    assert commands[0].startswith("musicvae prepare folk --kind melody --bars 1")
    assert commands[1].startswith("musicvae prepare folk --kind bars --bars 16")
    assert "--preset mcvae-bar_tiny" in commands[2] and "--preset mcvae-composer_tiny" in commands[3]
    assert "--vae" in commands[3] and len(commands) == 4
    setup = data["setup"]
    assert setup["pairs"] == 16 and setup["alphas"] == [0.1, 0.3, 0.5, 0.7, 0.9] and setup["compositions"] == 16
    for setting in ("unconditional", "conditional"):
        res = data["interpolation"][setting]
        assert set(res) == {"data", "bar VAE", "MCVAE"}
        for method, by_alpha in res.items():
            assert list(by_alpha) == ["0.1", "0.3", "0.5", "0.7", "0.9"]
            for s in by_alpha.values():
                assert s["n"] == 16 and s["mean"] < 0 and s["std"] >= 0, (setting, method)
        # the data and bar-VAE curves do not depend on the setting; the MCVAE's does
        assert res["bar VAE"] == data["interpolation"]["unconditional"]["bar VAE"]
    assert data["interpolation"]["conditional"]["MCVAE"] != data["interpolation"]["unconditional"]["MCVAE"]
    comp = data["compositions"]
    assert comp["MCVAE"]["n"] == comp["bar VAE"]["n"] == 16 and comp["data"]["n"] <= 16
    for key in ("unconditional", "conditional", "compositions"):
        v = data["comparison"][key]
        assert isinstance(v["holds"], bool) and v["holds"] == (v["higher_probability"] and v["lower_spread"])
    assert data["runs"]["composer"]["steps_requested"] == 30 and data["runs"]["bar_vae"]["step_evaluated"] == 20
    assert "eval_nll" in data["runs"]["composer"]["metrics"]


def test_rerun_trains_nothing_and_bad_input_is_one_line(tiny_report, capsys):
    from mcvae_vs_vae import main

    root, args = tiny_report["root"], tiny_report["args"]
    again = root / "again"
    main([str(a if a != root / "report" else again) for a in args])  # in this process: the fixture ran the script
    redo = json.loads((again / "report.json").read_text())
    first = json.loads((root / "report" / "report.json").read_text())
    assert redo["meta"]["commands"] == []
    assert redo["interpolation"] == first["interpolation"] and redo["compositions"] == first["compositions"]

    for extra, message in ((["--songs", root / "mel1"], "needs whole songs"),
                           (["--composer-steps", "31"], "was trained for 30 steps"),
                           (["--composer-steps", "0"], "--composer-steps must be at least 1"),
                           (["--temperature", "-1"], "--temperature must be >= 0"),
                           (["--checkpoint", "best"], "latest checkpoint")):
        # the script's main() in this process (a subprocess each took ~2 s of start-up): the refusal is
        # SystemExit(2) after one stderr line, which is the exit status and output of `python mcvae_vs_vae.py`
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            main([str(a) for a in [*args, *extra]])
        err = capsys.readouterr().err.strip()
        assert stop.value.code == 2 and "Traceback" not in err, err
        assert err.splitlines() == [err] and err.startswith("error:") and message in err, err


def test_slerp_rows_match_the_library_slerp():
    from mcvae_vs_vae import slerp

    from musicvae.generation.latent import slerp as slerp_one

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 4, 8))
    b[0, 0] = 2 * a[0, 0]  # parallel: linear
    for t in (0.0, 0.3, 1.0):
        got = slerp(a, b, t)
        want = np.stack([[slerp_one(x, y, t) for x, y in zip(ra, rb)] for ra, rb in zip(a, b)])
        assert np.allclose(got, want, atol=1e-5)
