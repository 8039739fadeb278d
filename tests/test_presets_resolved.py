"""Every preset resolves to the config it had before presets.py was rewritten as declarations.

``tests/fixtures/presets_resolved.json`` was written from the earlier presets.py (the code that patched
fields in place) with ``{name: PRESETS[name].to_dict()}`` in PRESETS' order; the declarations must
give the same names, in the same order (``musicvae presets`` lists them so), with every field equal.
A deliberate change to a preset changes this file in the same commit.
"""

import json
from pathlib import Path

from musicvae.presets import PRESETS, get_preset

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "presets_resolved.json"


def test_every_preset_resolves_as_before():
    want = json.loads(FIXTURE.read_text())
    assert list(PRESETS) == list(want)
    for name, config in want.items():
        assert PRESETS[name].to_dict() == config, name
        assert get_preset(name).to_dict() == config, name
