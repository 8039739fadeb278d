"""Fixtures of the hardening tests (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import run_cli


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def mel_data(tmp_path_factory) -> Path:
    """Ten synthetic songs prepared as 2-bar melody windows (the tiny preset's data)."""
    from synth import write_song

    from musicvae.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("hard_mel")
    src = root / "midi"
    src.mkdir()
    for i in range(10):
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * (1 + i % 3)) % 20 for j in range(32)], step=2 + i % 3)
    prepare(src, root / "data", PrepareConfig("melody", 2, eval_fraction=0.2))
    return root / "data"


