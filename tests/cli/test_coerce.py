"""cli.coerce: plain option values parse without pydantic and exactly as typer's own coercion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from musicvae.cli.coerce import fast_value

VALUES = ["0", "7", "-3", "+12", "007", "123456789012", " 5", "5 ", "1.5", "-0.25", ".5", "5.", "1e3", "2E-2",
          "1_000", "0x10", "nan", "inf", "-inf", "", "abc", "١٢", "1.5.2", "1e", True, 3, 2.5]


@pytest.mark.parametrize("annotation", [int, float, str, bool])
@pytest.mark.parametrize("value", VALUES)
def test_fast_values_equal_pydantic(annotation, value):
    ok, out = fast_value(annotation, None, value)
    if not ok:
        return  # handed to typer's pydantic coercion
    ref = TypeAdapter(annotation).validate_python(value)
    assert out == ref and type(out) is type(ref)


def test_fast_path_takes_the_common_values():
    assert fast_value(int, None, "12") == (True, 12)
    assert fast_value(float, None, "0.1") == (True, 0.1)
    assert fast_value(str, None, "melody") == (True, "melody")
    # anything doubtful goes to typer (pydantic): its result and message
    for annotation, value in ((int, "1_000"), (int, "1.5"), (float, "nan"), (int, " 5")):
        assert fast_value(annotation, None, value)[0] is False


def test_malformed_numbers_keep_typers_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "musicvae", "prepare", "folk", "--kind", "melody", "--out",
                           str(tmp_path / "o"), "--bars", "two"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "--bars" in line
    with pytest.raises(ValidationError) as exc:
        TypeAdapter(int).validate_python("two")
    assert "valid integer" in str(exc.value) and "valid integer" in line


def test_prepare_help_and_run_without_pydantic(tmp_path):
    """`musicvae prepare --help` and a prepare of plain options never import pydantic (~0.1 s)."""
    root = Path(__file__).resolve().parents[2]
    midi = next((root / "tests" / "fixtures" / "real").rglob("*.mid"))
    code = ("import sys\nfrom musicvae.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print('PYDANTIC' if 'pydantic' in sys.modules else 'NO-PYDANTIC', code, file=sys.stderr)\n")
    for argv in (["prepare", "--help"],
                 ["prepare", str(midi), "--kind", "melody", "--bars", "2", "--out", str(tmp_path / "o"), "--workers", "1",
                  "--eval-fraction", "0.0"]):
        proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                              env={"PATH": "", "COLUMNS": "100"})
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("NO-PYDANTIC"), proc.stderr[-2000:]
