"""`musicvae fit-prior`, `sample --prior` and the out-of-distribution column of `musicvae models`."""

import json

from typer.testing import CliRunner

from musicvae.cli.generate import ood_cell
from musicvae.cli.main import app
from musicvae.generation.prior import PRIOR_FILE
from musicvae.generation.store import export_model

runner = CliRunner()


def test_fit_prior_writes_the_prior_and_its_figures(tiny_mel_run, tmp_path):
    out = export_model(tiny_mel_run, tmp_path / "m")
    data = tiny_mel_run.parent / "data"
    res = runner.invoke(app, ["fit-prior", str(out), "--data", str(data), "--components", "1", "--n", "8"])
    assert res.exit_code == 0, res.output
    assert (out / PRIOR_FILE).is_file()
    samples = json.loads((out / "model.json").read_text())["info"]["samples"]
    assert set(samples) >= {"standard", "fitted"} and 0.0 <= samples["fitted"]["ood_rate"] <= 1.0
    assert "fitted" in ood_cell({"samples": samples}, True) and "N(0, I)" in ood_cell({"samples": samples}, True)
    res = runner.invoke(app, ["sample", "--model", str(out), "-n", "1", "--seed", "0", "--out", str(tmp_path / "s"),
                              "--prior", "standard"])
    assert res.exit_code == 0 and "standard prior" in res.output, res.output
    res = runner.invoke(app, ["sample", "--model", str(out), "-n", "1", "--out", str(tmp_path / "s"), "--prior", "x"])
    assert res.exit_code != 0 and "unknown prior" in res.output


def test_fit_prior_refuses_a_run_dir_in_one_line(tiny_mel_run):
    res = runner.invoke(app, ["fit-prior", str(tiny_mel_run), "--data", str(tiny_mel_run.parent / "data")])
    assert res.exit_code != 0 and "not an exported model dir" in res.output and "Traceback" not in res.output


def test_ood_cell_without_figures():
    assert ood_cell({}, False) == "-"
    assert ood_cell({"samples": {"standard": {"ood_rate": 0.125}}}, False) == "12.50 % (standard prior)"


def test_a_flipped_bit_in_the_fitted_prior_is_refused(tiny_mel_run, tmp_path):
    from musicvae.generation import InputError, TrainedModel

    out = export_model(tiny_mel_run, tmp_path / "m")
    res = runner.invoke(app, ["fit-prior", str(out), "--data", str(tiny_mel_run.parent / "data"), "--components", "1",
                              "--n", "4"])
    assert res.exit_code == 0, res.output
    assert PRIOR_FILE in json.loads((out / "model.json").read_text())["files"]
    assert TrainedModel.load(out).prior_name() == "fitted"
    blob = bytearray((out / PRIOR_FILE).read_bytes())
    blob[-3] ^= 0x10
    (out / PRIOR_FILE).write_bytes(bytes(blob))
    import pytest

    with pytest.raises(InputError, match="prior.safetensors"):
        TrainedModel.load(out)
    (out / PRIOR_FILE).unlink()  # recorded but missing: refused too
    with pytest.raises(InputError):
        TrainedModel.load(out)
