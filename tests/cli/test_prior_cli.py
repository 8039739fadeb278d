"""`musicvae fit-prior`, `sample --prior` and the out-of-distribution column of `musicvae models`."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from musicvae.cli.generate import ood_cell
from musicvae.cli.main import app
from musicvae.generation import InputError
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
    assert ood_cell({"samples": {"standard": {"ood_rate": 0.125}}}, False) == "12.50 % (standard prior, T=0.5)"


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


def test_sweep_records_the_default_temperature_that_sampling_uses(tiny_mel_run, tmp_path, monkeypatch):
    from musicvae.cli import prior as prior_cli
    from musicvae.evaluation import studies as st
    from musicvae.generation import TrainedModel

    out = export_model(tiny_mel_run, tmp_path / "m")
    data = str(tiny_mel_run.parent / "data")
    assert TrainedModel.load(out).default_temperature == 0.5  # none recorded
    real = st.samples_study

    def study(model, tokens, n, seed=0, temperature=0.5, **kw):  # a model whose samples are data-like at T = 0.7
        res = real(model, tokens, n, seed, temperature, **kw)
        res["ood_rate"], res["ood_rate_data"] = abs(temperature - 0.7), 0.0
        return res

    monkeypatch.setattr(st, "samples_study", study)
    res = runner.invoke(app, ["fit-prior", str(out), "--data", data, "--components", "1", "--n", "6",
                              "--sweep", "1.0,0.7,0.3"])
    assert res.exit_code == 0, res.output
    assert "default temperature 0.7" in res.output
    # rates at or below the data's own count as equal: then the attributes nearest the data's decide,
    # then the 5-gram cost nearest 1
    from musicvae.cli.prior import _sweep

    distances = {0.3: 0.2, 0.5: 0.2, 1.0: 0.2}

    def flat(model, tokens, n, seed=0, temperature=0.5, **kw):
        res = real(model, tokens, n, seed, temperature, **kw)
        res["ood_rate"], res["ood_rate_data"] = 0.0, 0.01
        res["relative_5gram_cost"] = {0.3: 0.90, 0.5: 0.98, 1.0: 1.2}[temperature]
        d = distances[temperature]
        res["attributes"] = {"note_density": {"normalised_difference": -d}, "pitch_range": {"normalised_difference": d}}
        return res

    monkeypatch.setattr(st, "samples_study", flat)
    m0 = TrainedModel.load(out)
    ev = np.zeros((4, m0.steps, 1), np.int64)
    assert _sweep(m0, ev, 4, 0, None, [0.3, 0.5, 1.0])["temperature"] == 0.5
    distances[1.0] = 0.1  # samples at T = 1 are nearest the data in their attributes: they win over the 5-gram cost
    assert _sweep(m0, ev, 4, 0, None, [0.3, 0.5, 1.0])["temperature"] == 1.0
    monkeypatch.setattr(st, "samples_study", study)
    sampling = json.loads((out / "model.json").read_text())["sampling"]
    assert sampling["temperature"] == 0.7 and set(sampling["sweep"]) == {"0.3", "0.7", "1"}
    m = TrainedModel.load(out)
    assert m.default_temperature == 0.7
    # no temperature given = the model's; the same tokens as asking for 0.7, not 0.5
    assert (m.sample_tokens(4, seed=3) == m.sample_tokens(4, 0.7, seed=3)).all()
    assert not (m.sample_tokens(4, seed=3) == m.sample_tokens(4, 0.0, seed=3)).all()
    assert "T=0.7" in ood_cell(m.files.info, True, m.files.sampling)
    re_exported = TrainedModel.load(export_model(out, tmp_path / "again"))
    assert re_exported.default_temperature == 0.7  # export keeps it
    for bad in ("0.5,x", "-1", "99"):
        res = runner.invoke(app, ["fit-prior", str(out), "--data", data, "--sweep", bad])
        assert res.exit_code != 0 and "--sweep" in res.output and "Traceback" not in res.output
    meta = json.loads((out / "model.json").read_text())
    meta["sampling"]["temperature"] = "hot"
    (out / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="sampling.temperature"):
        TrainedModel.load(out)


def test_fit_prior_records_a_rhythm_temperature_that_sampling_uses(tiny_mel_run, tmp_path):
    from musicvae.generation import TrainedModel

    out = export_model(tiny_mel_run, tmp_path / "m")
    data = str(tiny_mel_run.parent / "data")
    res = runner.invoke(app, ["fit-prior", str(out), "--data", data, "--components", "1", "--n", "6",
                              "--sweep", "0.5", "--rhythm-temperature", "0.9"])
    assert res.exit_code == 0, res.output
    sampling = json.loads((out / "model.json").read_text())["sampling"]
    assert sampling["rhythm_temperature"] == 0.9 and sampling["temperature"] == 0.5
    m = TrainedModel.load(out)
    assert m.rhythm_temperature == 0.9
    assert "T=0.5, rhythm 0.9" in ood_cell(m.files.info, True, m.files.sampling)  # musicvae models shows it
    split = m.sample_tokens(8, seed=3)
    m.rhythm_temperature = None
    assert not (split == m.sample_tokens(8, seed=3)).all()  # the recorded rhythm temperature is used
    res = runner.invoke(app, ["fit-prior", str(out), "--data", data, "--sweep", "0.5", "--rhythm-temperature", "0"])
    assert res.exit_code != 0 and "Traceback" not in res.output
