"""The paper experiment scripts (``experiments/*.py``) end to end in ``--tiny`` mode.

Each script runs as the user runs it (a subprocess of this interpreter), trains ``_tiny``
presets a few steps on the bundled folk corpus into a temporary folder, and must write
report.md, report.json (figures in range) and its PNG plots; reruns skip finished runs, and
bad input ends with one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _script(name: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _report(out: Path, pngs: list[str]) -> tuple[str, dict]:
    for name in pngs:
        assert (out / name).read_bytes()[:8] == PNG, name
    text = (out / "report.md").read_text()
    data = json.loads((out / "report.json").read_text())
    meta = data["meta"]
    assert meta["size"] == "tiny" and meta["wall_seconds"] > 0 and meta["machine"]["cpu"]
    assert meta["command"].startswith("python experiments/")
    assert "Different data from the papers" in text and "Tiny run" in text
    assert "## How this report was made" in text and meta["machine"]["cpu"] in text
    for name in pngs:
        assert f"]({name})" in text, name
    return text, data


def _unit(x) -> bool:
    return isinstance(x, float) and 0.0 <= x <= 1.0


@pytest.fixture(scope="module")
def folk16(tmp_path_factory) -> Path:
    from musicvae.data.prepare import PrepareConfig, prepare

    out = tmp_path_factory.mktemp("folk16") / "data"
    prepare("folk", out, PrepareConfig("melody", 16))
    return out


def test_flat_vs_hierarchical(tmp_path, folk16):
    out = tmp_path / "report"
    _script("flat_vs_hierarchical", "--tiny", "--out", out, "--runs", tmp_path / "runs", "--data", folk16)
    text, data = _report(out, ["accuracy.png", "interpolation.png", "curves.png"])
    assert set(data["reconstruction"]) == {"flat", "hierarchical"}
    for label, rec in data["reconstruction"].items():
        assert rec["n"] == 16 and rec["decoder"] == label
        for key in ("tf_accuracy", "sampled_accuracy", "argmax_accuracy"):
            assert _unit(rec[key]), (label, key)
        assert len(rec["per_bar"]["sampled"]) == 16
        comp = data["comparison"][label]
        assert comp["drop"] == pytest.approx(rec["tf_accuracy"] - rec["sampled_accuracy"])
        assert data["runs"][label]["step"] == 5 and data["runs"][label]["preset"].endswith("_tiny")
    assert data["paper"]["flat"]["relative_drop"] == pytest.approx(1 - 0.620 / 0.883)
    interp = data["interpolation"]
    assert len(interp["alphas"]) == 11
    assert interp["data"]["hamming_to_a"][0] == 0.0 and interp["data"]["relative_cost"][-1] == pytest.approx(1.0)
    for label in ("flat", "hierarchical"):
        curve = interp[label]["latent"]
        assert len(curve["hamming_to_a"]) == 11 and all(_unit(h) for h in curve["hamming_to_a"])
        assert all(c > 0 for c in curve["relative_cost"])
    assert len(data["meta"]["commands"]) == 2 and all("musicvae train" in c for c in data["meta"]["commands"])
    assert "| flat |" in text and "| hierarchical |" in text and "paper's direction" in text


def test_scheduled_sampling_and_rerun(tmp_path):
    out, runs, data_dir = tmp_path / "report", tmp_path / "runs", tmp_path / "folk2"
    _script("scheduled_sampling", "--tiny", "--out", out, "--runs", runs, "--data", data_dir)
    text, data = _report(out, ["accuracy.png", "curves.png"])
    assert (data_dir / "manifest.json").is_file()  # prepared by the script
    commands = data["meta"]["commands"]
    assert commands[0].startswith("musicvae prepare folk --kind melody --bars 2") and len(commands) == 3
    runs_info = data["runs"]
    assert runs_info["without"]["final_sampling_prob"] == 0.0
    assert runs_info["with"]["final_sampling_prob"] > 0.5
    assert "train.sampling_rate=0" in runs_info["without"]["command"]
    for rec in data["reconstruction"].values():
        assert _unit(rec["tf_accuracy"]) and _unit(rec["sampled_accuracy"]) and rec["kl_nats"] >= 0
        assert _unit(rec["free_running_accuracy"])
    comp = data["comparison"]
    assert isinstance(comp["sampled_improves"], bool) and isinstance(comp["kl_grows"], bool)
    assert "| sampled (magenta) | free-running (ours) |" in text  # both accuracies, named apart
    assert f"{data['reconstruction']['with']['free_running_accuracy']:.3f}" in text
    assert data["paper"]["with"]["sampled"] == 0.987

    # a rerun trains nothing: both runs are at their step
    again = tmp_path / "again"
    _script("scheduled_sampling", "--tiny", "--out", again, "--runs", runs, "--data", data_dir)
    redo = json.loads((again / "report.json").read_text())
    assert redo["meta"]["commands"] == []
    assert redo["reconstruction"]["with"]["tf_accuracy"] == data["reconstruction"]["with"]["tf_accuracy"]

    # another setting for an existing run is refused, not silently resumed
    done = _script("scheduled_sampling", "--tiny", "--out", again, "--runs", runs, "--data", data_dir,
                   "--steps", "30", "--set", "train.free_bits=2", check=False)
    assert done.returncode == 2 and done.stderr.strip().startswith("error:")
    assert len(done.stderr.strip().splitlines()) == 1 and "train.free_bits" in done.stderr


def test_attribute_vectors(tmp_path, folk16):
    out = tmp_path / "report"
    _script("attribute_vectors", "--tiny", "--out", out, "--runs", tmp_path / "runs", "--data", folk16)
    text, data = _report(out, ["attributes.png", "attributes_minus.png", "heldout.png", "heldout_minus.png"])
    assert data["model"]["trained_here"] and data["model"]["preset"] == "hierdec-mel_16bar_tiny"
    assert data["setup"]["bars"] == 16 and "computed from 256" in data["setup"]["vectors_source"]
    for key in ("prior", "heldout"):
        res = data[key]
        assert res["n"] == 16 and len(res["attributes"]) == 7 and 1 <= len(res["vectors"]) <= 7
        for matrix in (res["plus_percent"], res["minus_percent"]):
            assert len(matrix) == len(res["vectors"]) and all(len(row) == 7 for row in matrix)
            assert all(v is None or isinstance(v, (int, float)) for row in matrix for v in row)
    assert "## Prior samples" in text and "## Held-out windows" in text


def _refusal(capsys, name: str, *args) -> str:
    """The script's main() in this process (each subprocess spent ~2 s starting up): a refusal is SystemExit(2)
    with its message on stderr, which is the exit status and output of ``python experiments/NAME.py ARGS``."""
    sys.path.insert(0, str(ROOT / "experiments"))
    main = __import__(name).main
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "Traceback" not in err, err
    return err


def test_bad_input_is_one_line(tmp_path, folk16, capsys):
    err = _refusal(capsys, "scheduled_sampling", "--tiny", "--out", tmp_path / "r", "--runs", tmp_path / "runs",
                   "--data", folk16)  # 16-bar data for a 2-bar experiment
    assert err.splitlines() == [err] and err.startswith("error:") and "needs 2-bar melody" in err
    assert "not allowed with" in _refusal(capsys, "flat_vs_hierarchical", "--tiny", "--full")
    assert "--n must be at least 2" in _refusal(capsys, "flat_vs_hierarchical", "--tiny", "--n", "1")


def test_scheduled_sampling_rate_is_scaled_to_the_run():
    sys.path.insert(0, str(ROOT / "experiments"))
    import numpy as np
    from scheduled_sampling import scaled_rate, schedules

    from musicvae.training.schedules import sampling_probability

    for steps in (1000, 5000, 20_000):
        k = scaled_rate(steps)
        assert abs(k * np.log(k) - 0.4 * steps) < 0.01 * steps  # exp(step / k) = k at 40 % of the run
        at = int(0.4 * steps)
        assert abs(sampling_probability(at, "inverse_sigmoid", k) - 0.5) < 0.02
        assert sampling_probability(steps, "inverse_sigmoid", k) > 0.9
    assert scaled_rate(20_000) > scaled_rate(5000)  # longer runs ramp more slowly
    cpu = schedules("cpu", 5000)
    assert cpu["without"] == ["train.free_bits=0", "train.sampling_schedule=constant", "train.sampling_rate=0"]
    assert cpu["with"] == ["train.free_bits=0", "train.sampling_schedule=inverse_sigmoid",
                           f"train.sampling_rate={scaled_rate(5000):g}"]
    assert schedules("full", None)["with"][-1] == "train.sampling_rate=1000"  # magenta's own rate


def test_musae_priors(tmp_path):
    from musicvae.data.prepare import PrepareConfig, prepare

    data_dir = tmp_path / "folk2"
    prepare("folk", data_dir, PrepareConfig("melody", 2))
    out = tmp_path / "report"
    _script("musae_priors", "--tiny", "--out", out, "--runs", tmp_path / "runs", "--data", data_dir, "--n", 48)
    text, data = _report(out, ["accuracy.png", "codes.png", "components.png", "curves.png"])
    assert set(data["reconstruction"]) == {"gauss", "gmm"}
    assert "musae.beta_every=10" in data["runs"]["gmm"]["command"]  # beta 0 for 10 of 20 steps, 0.1 after
    gmm, gauss = data["codes"]["gmm"], data["codes"]["gauss"]
    nc = gmm["nearest_component"]
    assert _unit(nc["accuracy"]) and 0 < nc["chance"] < 1 and _unit(nc["majority_rate"])
    assert 1 <= nc["components_used"] <= 32 and 0 < nc["top_component_share"] <= 1
    assert "skipped" in gauss["nearest_component"]  # a Gaussian prior has no components
    for codes in (gmm, gauss):
        assert _unit(codes["nearest_centroid"]["accuracy"]) and codes["nearest_centroid"]["tracks"] > 0
    assert len(gmm["components"]["relative_percent"]) == 32
    assert "nearest component" in text and "## Codes by label" in text

    # bach carries no labels: refused in one line before any training
    unlabelled = tmp_path / "bach2"
    prepare("bach", unlabelled, PrepareConfig("multitrack", 2))
    done = _script("musae_priors", "--tiny", "--corpus", "bach", "--out", tmp_path / "r2", "--runs", tmp_path / "runs2",
                   "--data", unlabelled, check=False)
    assert done.returncode == 2 and done.stderr.strip().startswith("error:") and "no labels" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs2" / "musae_priors").exists()


def test_musae_verdict_tells_collapse_weak_alignment_and_success_apart():
    sys.path.insert(0, str(ROOT / "experiments"))
    from musae_priors import verdict

    base = {"chance": 0.03, "majority_rate": 0.4, "top_component_share": 0.5}
    assert "collapsed onto one petal" in verdict({**base, "accuracy": 0.4, "components_used": 1})
    assert "weak label alignment" in verdict({**base, "accuracy": 0.07, "components_used": 31})
    assert "2.3x" in verdict({**base, "accuracy": 0.069, "components_used": 31})
    assert "more often than chance and than the majority rate" in verdict({**base, "accuracy": 0.6,
                                                                           "components_used": 20})
