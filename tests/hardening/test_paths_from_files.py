"""Issue 20, item 7: names read from files (a model's attribute names) never become a path
outside ``--out``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import save
from synth import write_song
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.generation.store import BUNDLED_DIR
from musicvae.utils.names import safe_component

runner = CliRunner()


@pytest.mark.parametrize("evil", ["../../../escape", "/tmp/abs", "..", "a/../../b", "x\x00y", "[red]markup"])
def test_attribute_names_from_a_model_stay_inside_out(tmp_path, evil):
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_DIR / "mel_2bar", model)
    meta = json.loads((model / "model.json").read_text())
    meta["files"].pop("attributes.safetensors")  # a hand-made model without a checksum for it
    (model / "model.json").write_text(json.dumps(meta))
    (model / "attributes.safetensors").write_bytes(save({evil: np.full(128, 0.1, np.float32)}))
    write_song(tmp_path / "song.mid", [60 + j % 7 for j in range(32)])
    out = tmp_path / "a" / "b" / "c" / "out"
    res = runner.invoke(app, ["attribute", str(tmp_path / "song.mid"), "--attribute", evil, "--model", str(model),
                              "--out", str(out), "--png"])
    assert res.exit_code == 0, res.output
    everything = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    outside = [p for p in everything if not p.startswith(("a/b/c/out/", "model/", "song.mid"))]
    assert outside == []
    assert {p.name for p in out.iterdir()} >= {f"song-{safe_component(evil)}-01.mid", f"song-{safe_component(evil)}-strip.png"}


def test_safe_component():
    assert safe_component("../../../x") == "x"
    assert safe_component("..") == "item" and safe_component("") == "item"
    assert safe_component("note_density") == "note_density"
    assert "/" not in safe_component("a/b\\c") and not safe_component(".hidden").startswith(".")


@pytest.mark.parametrize("amount", ["nan", "inf", "-inf"])
def test_non_finite_amount_is_refused(tmp_path, amount):
    write_song(tmp_path / "song.mid", [60 + j % 7 for j in range(32)])
    res = runner.invoke(app, ["attribute", str(tmp_path / "song.mid"), "--attribute", "note_density",
                              "--amount", amount, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--amount must be a finite number" in res.output
    assert not (tmp_path / "o").exists()
