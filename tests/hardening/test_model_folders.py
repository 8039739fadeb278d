"""Issue 20, item 5: hostile model folders. Tampered ``model.json`` / ``trainer.json`` values and
flipped weight bits get one line (exit 2), checked before any model is built."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_run import run_cli_rss
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.generation.store import BUNDLED_DIR

runner = CliRunner()


HOSTILE = {  # name -> (dotted key in model.json, value, part of the message)
    "negative": ("config.model.z_size", -1, "outside"),
    "huge": ("config.model.decoder_hidden", 10**12, "outside"),
    "string": ("config.model.encoder_hidden", "256", "must be an integer"),
    "float": ("config.model.decoder_layers", 2.5, "must be an integer"),
    "bool": ("config.model.z_size", True, "must be an integer"),
    "zero_layers": ("config.model.encoder_layers", 0, "outside"),
    "unknown_family": ("config.model.family", "transformer", "unknown value"),
    "unknown_key": ("config.model.evil", 1, "unknown config key"),
    "nested": ("config.model", [[[[1]]]], "must be a JSON object"),
    "nan": ("config.train.learning_rate", float("nan"), "finite number"),
    "section_list": ("config", [1, 2], "no model config"),
    "vocab": ("representation.vocab_sizes", [-3], "vocab_sizes"),
    "vocab_other": ("representation.vocab_sizes", [90], "vocabulary"),
    "kind": ("representation.kind", "banjo", "representation"),
    "shape": ("config.model.z_size", 129, "weights do not fit"),
    "bigger": ("config.model.decoder_hidden", 60000, "weights do not fit"),
    "info": ("info", [1], "'info' must be"),
    "labels": ("labels", {"names": ["a"], "components": {"a": "x"}}, "labels"),
    "files": ("files", [1], "'files' table"),
    "format": ("format", "pickle", "not a musicvae-model"),
}


def _tamper(src, dst, key, value):
    shutil.copytree(src, dst)
    meta = json.loads((dst / "model.json").read_text())
    *parents, last = key.split(".")
    node = meta
    for p in parents:
        node = node[p]
    node[last] = value
    (dst / "model.json").write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_tampered_model_json_is_one_line(tmp_path, case):
    key, value, message = HOSTILE[case]
    folder = _tamper(BUNDLED_DIR / "mel_2bar", tmp_path / "m", key, value)
    res = runner.invoke(app, ["sample", "--model", str(folder), "-n", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, (res.output, res.exception)
    assert message in res.output and str(folder) in res.output
    assert not (tmp_path / "o").exists()


def test_deeply_nested_json_is_one_line(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(BUNDLED_DIR / "mel_2bar", folder)
    (folder / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    res = runner.invoke(app, ["sample", "--model", str(folder), "-n", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "invalid JSON" in res.output


@pytest.mark.parametrize("target", ["model.safetensors", "attributes.safetensors"])
def test_flipped_bit_in_an_exported_model_is_refused(tmp_path, target):
    folder = tmp_path / "m"
    shutil.copytree(BUNDLED_DIR / "mel_2bar", folder)
    data = bytearray((folder / target).read_bytes())
    data[len(data) // 2] ^= 0x10
    (folder / target).write_bytes(bytes(data))
    res = runner.invoke(app, ["sample", "--model", str(folder), "-n", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "checksum mismatch" in res.output and target in res.output


def test_every_bundled_model_carries_checksums():
    for folder in sorted(p for p in BUNDLED_DIR.iterdir() if (p / "model.json").is_file()):
        files = json.loads((folder / "model.json").read_text())["files"]
        assert "model.safetensors" in files and all({"bytes", "sha256"} <= set(r) for r in files.values())


def test_export_writes_checksums_that_load_checks(tmp_path):
    res = runner.invoke(app, ["export", str(BUNDLED_DIR / "mel_2bar"), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    files = json.loads((tmp_path / "e" / "model.json").read_text())["files"]
    assert set(files) == {"model.safetensors", "attributes.safetensors", "prior.safetensors"}
    (tmp_path / "e" / "model.safetensors").write_bytes((tmp_path / "e" / "model.safetensors").read_bytes()[:-4])
    res = runner.invoke(app, ["sample", "--model", str(tmp_path / "e"), "-n", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "truncated or altered" in res.output


def test_hostile_attribute_name_and_vector(tmp_path):
    import numpy as np
    from safetensors.numpy import save

    folder = _tamper(BUNDLED_DIR / "mel_2bar", tmp_path / "m", "files", {})
    (folder / "attributes.safetensors").write_bytes(save({"x": np.zeros(3, np.float32)}))
    res = runner.invoke(app, ["sample", "--model", str(folder), "-n", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "is not 128 finite numbers" in res.output


def test_sizes_are_checked_before_anything_is_allocated(tmp_path):
    """A 60,000-wide decoder would allocate gigabytes before the weights were found not to fit."""
    folder = _tamper(BUNDLED_DIR / "mel_2bar", tmp_path / "m", "config.model.decoder_hidden", 60000)
    proc, rss_kb = run_cli_rss("sample", "--model", str(folder), "-n", "1", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "weights do not fit" in proc.out, proc.out
    assert rss_kb < 1_000_000


def test_tampered_checkpoint_config_is_one_line(tiny_mel_run, tmp_path):
    from musicvae.training.checkpoint import find_latest

    run = tmp_path / "run"
    shutil.copytree(tiny_mel_run, run)
    trainer_json = find_latest(run) / "trainer.json"
    doc = json.loads(trainer_json.read_text())
    doc["config"]["model"]["decoder_layers"] = "many"
    trainer_json.write_text(json.dumps(doc))
    res = runner.invoke(app, ["sample", "--model", str(run), "-n", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "decoder_layers must be an integer" in res.output
