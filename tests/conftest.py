"""Shared test setup: make ``musicvae`` importable from ``src/`` when it is not installed,
and make the byte-level MIDI generators in ``tests/fixtures`` importable as ``bad_midi``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if importlib.util.find_spec("musicvae") is None:
    sys.path.insert(0, str(ROOT / "src"))

# The models in tests are tiny: one intra-op thread is as fast, and it keeps the suite
# from collapsing (OpenMP spin-waits) when another process is using the cores.
import torch  # noqa: E402

torch.set_num_threads(1)

_FIXTURES = str(ROOT / "tests" / "fixtures")
if _FIXTURES not in sys.path:
    sys.path.insert(0, _FIXTURES)


# ---- the real MIDI fixtures (tests/fixtures/real), shared by every test folder
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def real_files() -> list[Path]:
    files = sorted((ROOT / "tests" / "fixtures" / "real").rglob("*.mid"))
    if not files:
        pytest.skip("no real MIDI fixtures")
    return files


@pytest.fixture(scope="session")
def real_sequences(real_files):
    """Every usable 4/4 stretch of the real files, quantized."""
    from musicvae.music import MidiError, load_sequences

    seqs = []
    for f in real_files:
        try:
            seqs.extend(load_sequences(f))
        except MidiError:
            pass
    return seqs


# ---- tiny melody data and one tiny trained melody model, shared by training, generation, CLI and evaluation tests
@pytest.fixture(scope="session")
def mel_data(tmp_path_factory) -> Path:
    """Ten synthetic songs prepared as 2-bar melody windows (the tiny presets' data); tests only read it."""
    from synth import write_song

    from musicvae.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("tiny_mel")
    src = root / "midi"
    src.mkdir()
    for i in range(10):
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * (1 + i % 3)) % 20 for j in range(32)], step=2 + i % 3)
    prepare(src, root / "data", PrepareConfig("melody", 2, eval_fraction=0.2))
    return root / "data"


@pytest.fixture(scope="session")
def tiny_mel_run(mel_data) -> Path:
    """A ``cat-mel_2bar_small_tiny`` run dir trained 20 steps on :func:`mel_data`; its data in ``../data``."""
    from musicvae.presets import get_preset
    from musicvae.training.trainer import Trainer

    fast = ["log_every=10", "eval_every=20", "checkpoint_every=20", "batch_size=16", "eval_batches=1",
            "device=cpu", "steps=20"]
    Trainer(get_preset("cat-mel_2bar_small_tiny", fast), mel_data, mel_data.parent / "run").fit()
    return mel_data.parent / "run"


# ---- one tiny trained MusAE (mixture prior, style labels), shared by training, generation and CLI tests
MUSAE_STYLES = ("band/rock", "band/jazz", "folk")


@pytest.fixture(scope="session")
def musae_data(tmp_path_factory) -> Path:
    """Twelve synthetic 4-track songs prepared as 2-bar multitrack windows with labels from a JSON file.

    Song ``i`` has style ``MUSAE_STYLES[i % 3]``; every fourth song also carries ``extra``.
    """
    import json

    from synth import write_band_song

    from musicvae.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("musae")
    src = root / "midi"
    src.mkdir()
    labels = {}
    for i in range(12):
        write_band_song(src / f"song{i:02d}.mid", i)
        labels[f"song{i:02d}.mid"] = [MUSAE_STYLES[i % 3]] + (["extra"] if i % 4 == 0 else [])
    (root / "labels.json").write_text(json.dumps(labels))
    prepare(src, root / "data", PrepareConfig("multitrack", 2, eval_fraction=0.25), labels=root / "labels.json")
    return root / "data"


@pytest.fixture(scope="session")
def tiny_musae_run(musae_data, tmp_path_factory) -> Path:
    """A ``musae-gmm_2bar_tiny`` run dir trained 20 steps on :func:`musae_data`."""
    from musicvae.presets import get_preset
    from musicvae.training.trainer import Trainer

    run = tmp_path_factory.mktemp("musae_run") / "run"
    fast = ["log_every=10", "eval_every=20", "checkpoint_every=20", "batch_size=16", "device=cpu", "steps=20"]
    Trainer(get_preset("musae-gmm_2bar_tiny", fast), musae_data, run).fit()
    return run
