"""``musicvae evaluate`` end to end on the tiny model: report files and figures, one-line refusals."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.data.dataset import PreparedDataset

runner = CliRunner()


def _run(args):
    result = runner.invoke(app, ["evaluate", *map(str, args)])
    return result, " ".join(result.output.split())  # rich wraps long lines


def _refused(args, *needles):
    result, text = _run(args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text and isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1 and text.startswith("error:"), result.output
    for needle in needles:
        assert needle in text, text
    return text


@pytest.fixture(scope="module")
def data_dir(tiny_mel_run):
    return tiny_mel_run.parent / "data"


@pytest.fixture(scope="module")
def report(tiny_mel_run, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result, text = _run(["--model", tiny_mel_run, "--data", data_dir, "--out", out, "--n", 6, "--seed", 1])
    assert result.exit_code == 0, result.output
    return out, text


def test_report_files_and_figures(report, data_dir):
    out, text = report
    assert sorted(p.name for p in out.iterdir()) == ["attributes.png", "interpolation.png", "reconstruction.png",
                                                     "report.json", "report.md", "samples.png"]
    rep = json.loads((out / "report.json").read_text())
    assert set(rep) == {"meta", "reconstruction", "interpolation", "attributes", "samples"}
    meta = rep["meta"]
    assert meta["n_used"] == 6 and meta["seed"] == 1 and meta["kind"] == "melody" and meta["data"] == str(data_dir)
    rec = rep["reconstruction"]
    for key in ("tf_accuracy", "sampled_accuracy", "free_running_accuracy", "argmax_accuracy"):
        assert 0.0 <= rec[key] <= 1.0
    assert rec["kl_bits"] >= 0 and rec["elbo_nats"] < 0
    interp = rep["interpolation"]
    assert interp["n_pairs"] == 6 and len(interp["alphas"]) == 11
    assert interp["data"]["hamming_to_a"][0] == 0.0
    assert interp["data"]["hamming_to_a"][-1] == pytest.approx(interp["hamming_a_b"])
    assert interp["data"]["relative_cost"][0] == pytest.approx(1.0)
    assert interp["data"]["relative_cost"][-1] == pytest.approx(1.0)
    assert interp["lm"]["order"] == 5 and interp["lm"]["train_windows"] == len(PreparedDataset(data_dir, "train"))
    att = rep["attributes"]
    assert att["n"] == 6 and "computed from" in att["source"]  # the tiny model ships no vectors
    assert len(att["plus_percent"]) == len(att["vectors"]) == len(att["minus_percent"]) >= 1
    assert all(len(row) == len(att["attributes"]) for row in att["plus_percent"])
    assert rep["samples"]["n_samples"] == 6 and "note_density" in rep["samples"]["attributes"]
    md = (out / "report.md").read_text()
    assert md.startswith(f"# Evaluation of {meta['model']}")
    for needle in (str(data_dir), "n used: 6", "seed: 1", "date: ", "Lakh MIDI", "0.986 / sampled 0.951",
                   "![interpolation](interpolation.png)", "![attribute vectors](attributes.png)"):
        assert needle in md, needle
    assert "teacher-forced" in text and "report.md" in text
    assert (out / "interpolation.png").read_bytes()[:4] == b"\x89PNG"


def test_studies_subset_and_n_too_large(tiny_mel_run, data_dir, tmp_path):
    total = len(PreparedDataset(data_dir, "eval"))
    result, text = _run(["--model", tiny_mel_run, "--data", data_dir, "--out", tmp_path, "--n", 100000,
                         "--studies", "reconstruction"])
    assert result.exit_code == 0, result.output
    assert f"--n 100000 is more than the {total} held-out windows" in text and f"using n={total}" in text
    rep = json.loads((tmp_path / "report.json").read_text())
    assert set(rep) == {"meta", "reconstruction"}
    assert rep["meta"]["n_used"] == total == rep["reconstruction"]["n"] and rep["meta"]["n_requested"] == 100000


def test_temperature_reaches_the_decoding_studies(tiny_mel_run, data_dir, tmp_path):
    reps = {}
    for t in (0.0, 2.0):
        result, text = _run(["--model", tiny_mel_run, "--data", data_dir, "--out", tmp_path / str(t), "--n", 8,
                             "--studies", "interpolation,samples", "--temperature", t])
        assert result.exit_code == 0, result.output
        reps[t] = json.loads((tmp_path / str(t) / "report.json").read_text())
        assert reps[t]["meta"]["temperature"] == t
        assert reps[t]["samples"]["temperature"] == t == reps[t]["interpolation"]["temperature"]
        assert f"T={t}" in text
    # the decoded samples themselves differ (T = 0: the argmax; T = 2: flattened distributions)
    assert reps[0.0]["samples"]["attributes"] != reps[2.0]["samples"]["attributes"]
    result, _ = _run(["--model", tiny_mel_run, "--data", data_dir, "--out", tmp_path / "d", "--n", 8,
                      "--studies", "samples"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "d" / "report.json").read_text())["meta"]["temperature"] == 0.5  # none recorded


def _copy_with(data_dir, dest, **changes):
    shutil.copytree(data_dir, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    for key, value in changes.items():
        if key == "eval_shards":
            manifest["shards"]["eval"] = value
        else:
            manifest[key] = value
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def test_refusals_are_one_line(tiny_mel_run, data_dir, tmp_path):
    base = ["--model", tiny_mel_run, "--out", tmp_path / "out", "--n", 4]
    _refused([*base, "--data", tmp_path / "nowhere"], "nowhere: no such data folder")
    drums = _copy_with(data_dir, tmp_path / "drumdata", kind="drums")
    _refused([*base, "--data", drums], "drumdata/manifest.json: drums data", "is a melody model")
    longer = _copy_with(data_dir, tmp_path / "longdata", steps=256)
    _refused([*base, "--data", longer], "longdata/manifest.json: windows of 256 steps", "reads 32")
    empty = _copy_with(data_dir, tmp_path / "emptyeval", eval_shards=[])
    _refused([*base, "--data", empty], "emptyeval/manifest.json: the eval split is empty")
    _refused([*base, "--data", data_dir, "--studies", "reconstruction,melodies"], "unknown study 'melodies'")
    _refused([*base, "--data", data_dir, "--model", "nope"], "nope: unknown model")
    assert not (tmp_path / "out").exists()  # nothing written on refusal
