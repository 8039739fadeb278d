"""The command line: corpus list, prepare, and one-line errors (exit 2, no traceback)."""

import json

import pytest
from synth import write_song
from typer.testing import CliRunner

from musicvae.cli.main import app

runner = CliRunner()


def test_corpus_list_shows_every_corpus():
    result = runner.invoke(app, ["corpus", "list"])
    assert result.exit_code == 0
    for name in ("folk", "bach", "grooves", "games", "freedoom"):
        assert name in result.output


def test_prepare_writes_manifest(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(3):
        write_song(src / f"s{i}.mid", [60 + (i + j) % 12 for j in range(16)])
    result = runner.invoke(app, ["prepare", str(src), "--kind", "melody", "--bars", "2", "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["kind"] == "melody" and man["counts"]["files_ok"] == 3
    assert "unique 2-bar melody windows" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "/no/such/dir", "--kind", "melody", "--out", "OUT"], "no such file or folder"),
        (["prepare", "folk", "--kind", "chords", "--out", "OUT"], "unknown kind"),
        (["prepare", "folk", "--kind", "melody", "--bars", "0", "--out", "OUT"], "--bars must be at least 1"),
        (["prepare", "folk", "--kind", "melody", "--classes", "64", "--out", "OUT"], "--classes must be 130 or 90"),
        (["prepare", "folk", "--kind", "melody", "--cross-product", "--out", "OUT"], "--cross-product applies to --kind multitrack"),
    ],
)
def test_bad_requests_fail_in_one_line(tmp_path, args, message):
    args = [a.replace("OUT", str(tmp_path / "o")) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_not_midi_only_is_one_line_error(tmp_path):
    src = tmp_path / "x"
    src.mkdir()
    (src / "a.mid").write_text("hello")
    result = runner.invoke(app, ["prepare", str(src), "--kind", "drums", "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 2
    assert "not a MIDI file" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("module", ["common", "generate", "evaluate", "analyze", "compose", "main"])
def test_every_cli_module_imports_on_its_own(module):
    """Scripts import e.g. ``musicvae.cli.generate`` directly (each command module imports only ``common``)."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", f"import musicvae.cli.{module}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
