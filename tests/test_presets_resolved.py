"""Every preset resolves to the config it had before presets.py was rewritten as declarations.

``tests/fixtures/presets_resolved.json`` was written from the earlier presets.py (the code that patched
fields in place) with ``{name: PRESETS[name].to_dict()}`` in PRESETS' order; the declarations must
give the same names, in the same order (``musicvae presets`` lists them so), with every field equal.
A deliberate change to a preset changes this file in the same commit. It was regenerated once when the
family settings moved into their own sections (``musae``, ``mcvae``, ``notes``), after checking that
``Config.from_dict`` of every earlier (flat) entry equals the new one, field by field.
"""

import json
from pathlib import Path

from musicvae.presets import PRESETS, get_preset

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "presets_resolved.json"


def test_every_preset_resolves_as_before():
    want = json.loads(FIXTURE.read_text())
    assert list(PRESETS) == list(want)
    for name, config in want.items():  # as JSON text: an int where there was a float (0 for 0.0) differs too
        assert json.dumps(PRESETS[name].to_dict()) == json.dumps(config), name
        assert json.dumps(get_preset(name).to_dict()) == json.dumps(config), name


def test_presets_show_prints_the_resolved_config():
    from typer.testing import CliRunner

    from musicvae.cli.main import app

    for name in ("cat-mel_2bar_small", "hierdec-trio_16bar_cpu", "musae-gmm_2bar_tiny", "vrash-notes_cpu"):
        result = CliRunner().invoke(app, ["presets", "--show", name])
        shown = json.loads(result.output)
        assert result.exit_code == 0 and shown == get_preset(name).to_dict(), name
        own = {"musae": {"musae"}, "vrash": {"notes"}}.get(shown["model"]["family"], set())
        assert set(shown) == {"preset", "model", "data", "train", *own}, name  # the family's own section only
    result = CliRunner().invoke(app, ["presets", "--show", "cat-mel_3bar"])
    assert result.exit_code == 2 and "unknown preset 'cat-mel_3bar'" in result.output
    assert "Traceback" not in result.output
