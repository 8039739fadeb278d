"""The import check (musicvae.devtools.imports): the package follows the flow, and the check catches
what it exists for, on fake module graphs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from musicvae.devtools import imports
from musicvae.devtools.imports import Edge, problems

SRC = Path(imports.__file__).resolve().parents[2]


def test_package_follows_the_flow():
    assert problems(imports.scan(SRC)) == []


def test_command_line_exits_zero_on_the_package():
    run = subprocess.run([sys.executable, "-m", "musicvae.devtools.imports"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "imports follow the flow" in run.stdout


def graph(**edges):
    """``graph(a=[("b", True)])`` with dotted names written ``a__b`` -> {"musicvae.a.b": [Edge(...)]}."""
    name = lambda key: "musicvae." + key.replace("__", ".")  # noqa: E731
    out = {name(k): [Edge(name(t), i + 1, at_import) for i, (t, at_import) in enumerate(v)]
           for k, v in edges.items()}
    for targets in list(out.values()):
        for e in targets:
            out.setdefault(e.target, [])
    return out


def check(g):
    return problems(g)


def test_earlier_stage_and_foundation_imports_pass():
    g = graph(models__vae=[("data__dataset", True), ("representations__base", True), ("utils__io", True),
                           ("config", True), ("music__sequence", False)],
              cli__main=[("evaluation__metrics", False), ("render__audio", True), ("studio__app", False)],
              studio__app=[("render__audio", True), ("generation__model", True)],
              render__audio=[("music__sequence", True), ("utils__io", True)],
              presets=[("config", True)])
    assert check(g) == []


@pytest.mark.parametrize("importer,imported,at_import", [
    ("models__vrash", "training__losses", True),     # a later stage, module level
    ("models__vrash", "training__losses", False),    # ... or inside a function: same dependency
    ("data__latents", "models__mcvae", False),
    ("music__midi_io", "representations__base", True),
    ("generation__model", "evaluation__metrics", False),
    ("evaluation__metrics", "cli__main", True),
    ("training__trainer", "studio__app", True),       # studio sits with cli
    ("generation__model", "render__audio", True),    # render is a leaf: only cli imports it
    ("render__audio", "representations__base", True),  # ... and it hangs on music alone
    ("utils__io", "music__sequence", True),          # the foundation imports nothing later
    ("config", "models__builders", False),
    ("presets", "training__composer", False),
])
def test_import_of_a_later_stage_fails(importer, imported, at_import):
    g = graph(**{importer: [(imported, at_import)]})
    found = check(g)
    assert len(found) == 1 and "musicvae." + imported.replace("__", ".") in found[0], found


def test_module_level_cycle_fails_function_level_loop_in_one_stage_passes():
    loop = graph(cli__main=[("cli__generate", True)], cli__generate=[("cli__main", True)])
    found = check(loop)
    assert len(found) == 1 and "import cycle" in found[0] and "musicvae.cli.generate" in found[0]
    three = graph(data__a=[("data__b", True)], data__b=[("data__c", True)], data__c=[("data__a", True)],
                  data__d=[("data__a", True)])
    assert [c for c in check(three) if "cycle" in c] == ["import cycle (module level): "
                                                         "musicvae.data.a <-> musicvae.data.b <-> musicvae.data.c"]
    lazy = graph(cli__main=[("cli__generate", False)], cli__generate=[("cli__main", True)])
    assert check(lazy) == []


def test_scan_reads_relative_type_checking_and_function_imports(tmp_path):
    pkg = tmp_path / "musicvae"
    for folder in ("models", "training", "cli"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "training" / "losses.py").write_text("")
    (pkg / "models" / "vae.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..training import losses\n"
        "if TYPE_CHECKING:\n    from musicvae.cli import main\n"
        "def f():\n    import musicvae.training\n")
    (pkg / "cli" / "main.py").write_text("from . import other\n")
    (pkg / "cli" / "other.py").write_text("try:\n    from .main import x\nexcept ImportError:\n    pass\n")
    g = imports.scan(tmp_path)
    assert g["musicvae.models.vae"] == [Edge("musicvae.training.losses", 2, True), Edge("musicvae.cli.main", 4, False),
                                        Edge("musicvae.training", 6, False)]
    assert g["musicvae.cli.other"] == [Edge("musicvae.cli.main", 2, True)]
    found = problems(g)
    assert len(found) == 4, found  # three flow violations and the cli cycle
    assert found[-1] == "import cycle (module level): musicvae.cli.main <-> musicvae.cli.other"


def test_unplaced_package_is_refused():
    with pytest.raises(ValueError, match="not placed in the flow"):
        check(graph(newstage__x=[("music__sequence", True)]))
