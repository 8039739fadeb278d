"""MCVAE through the command line: train a tiny bar VAE and a tiny composer, compose, and the one-line refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from musicvae.cli.main import app

runner = CliRunner()
BARS = 8


def _run(args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def _refused(args, *needles) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in text and text.count("error:") == 1, text
    for needle in needles:
        assert needle in text, text
    return text


FAST = ["--device", "cpu", "--set", "eval_every=10", "--set", "checkpoint_every=10", "--set", "batch_size=16"]


@pytest.fixture(scope="module")
def mcvae(tmp_path_factory) -> dict[str, Path]:
    """Eight synthetic 20-24-bar songs -> 1-bar melody and 16-bar song folders -> a tiny bar VAE and composer."""
    from synth import write_song

    root = tmp_path_factory.mktemp("mcvae")
    src = root / "midi"
    src.mkdir()
    for i in range(8):  # quarter notes: 20, 22 or 24 bars
        write_song(src / f"s{i}.mid", [55 + (i * 5 + j * (1 + i % 3)) % 20 for j in range(80 + 8 * (i % 3))])
    mel, songs = root / "mel1", root / "bars16"
    _run(["prepare", src, "--kind", "melody", "--bars", "1", "--out", mel, "--workers", "1", "--eval-fraction", "0.25"])
    _run(["prepare", src, "--kind", "bars", "--bars", "16", "--out", songs, "--workers", "1", "--eval-fraction", "0.25"])
    _run(["train", "--preset", "mcvae-bar_tiny", "--data", mel, "--out", root / "bar", "--steps", "20", *FAST])
    out = _run(["train", "--preset", "mcvae-composer_tiny", "--data", songs, "--out", root / "composer",
                "--vae", root / "bar", "--steps", "30", *FAST])
    return {"root": root, "src": src, "mel": mel, "songs": songs, "bar": root / "bar", "composer": root / "composer",
            "train_output": out}


def _notes(path: Path) -> np.ndarray:
    from musicvae.music import load_sequences

    seqs = load_sequences(path)
    assert len(seqs) == 1
    return seqs[0].notes  # (N, ...) pitch, start, end in 16th steps


def test_composer_training_through_the_cli(mcvae):
    out = mcvae["train_output"]
    assert "train: " in out and "eval: " in out and "songs of 16-339 bars" in out
    assert "held-out NLL" in out and "musicvae compose --model" in out
    comp = mcvae["composer"]
    for name in ("checkpoints/best/model.safetensors", "checkpoints/best/trainer.json", "metrics.jsonl",
                 "latents/train/latents.json", "latents/eval/latents.json"):
        assert (comp / name).is_file(), name
    import json

    doc = json.loads((comp / "checkpoints" / "best" / "trainer.json").read_text())  # an ordinary checkpoint
    assert doc["config"]["train"]["steps"] == 30 and doc["composer"]["hidden_size"] == 32
    assert doc["composer"]["components"] == 3 and doc["bar_vae_model"]["config"]["preset"] == "mcvae-bar_tiny"


def test_compose_from_a_prior_draw_writes_midi_wav_png(mcvae, tmp_path):
    out = _run(["compose", "--model", mcvae["composer"], "--bars", BARS, "--seed", "3", "--out", tmp_path,
                "--wav", "--png", "--temperature", "0.5", "--mixture-temperature", "0.8", "--sigma-temperature", "0.5"])
    assert f"1 {BARS}-bar composition(s) from a prior draw" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["composition.mid", "composition.png", "composition.wav"]
    notes = _notes(tmp_path / "composition.mid")
    assert len(notes) > 0 and int(notes[:, 2].max()) <= BARS * 16
    again = tmp_path / "again"
    _run(["compose", "--model", mcvae["composer"], "--bars", BARS, "--seed", "3", "--out", again,
          "--mixture-temperature", "0.8", "--sigma-temperature", "0.5"])
    assert (again / "composition.mid").read_bytes() == (tmp_path / "composition.mid").read_bytes()  # same seed


def test_compose_continues_a_prime(mcvae, tmp_path):
    prime = mcvae["src"] / "s1.mid"
    out = _run(["compose", "--model", mcvae["composer"], "--prime", prime, "--prime-bars", "2", "--bars", BARS,
                "-n", "2", "--seed", "0", "--out", tmp_path])
    assert "from 2 bar(s) of s1.mid" in out
    files = sorted(tmp_path.glob("*.mid"))
    assert [p.name for p in files] == ["s1-continued-01.mid", "s1-continued-02.mid"]
    want = _notes(prime)
    want = want[want[:, 1] < 32]  # the prime's first two bars
    for f in files:
        notes = _notes(f)
        assert len(notes) > 0 and int(notes[:, 2].max()) <= BARS * 16
        head = notes[notes[:, 1] < 32]
        assert head[:, 0].tolist() == want[:, 0].tolist()  # the prime, as written, then the continuation


def test_compose_refusals_are_one_line(mcvae, tmp_path):
    from synth import write_song

    m = ["--model", mcvae["composer"], "--bars", BARS, "--out", tmp_path / "o"]
    half = write_song(tmp_path / "half.mid", [60, 62], step=4)
    _refused(["compose", *m, "--prime", half], "half.mid: the music lasts 2 beats, shorter than one bar")
    _refused(["compose", *m, "--prime", tmp_path / "missing.mid"], "missing.mid: no such file")
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not a midi file at all")
    _refused(["compose", *m, "--prime", junk], "junk.mid", "not a MIDI file")
    _refused(["compose", *m, "--prime", tmp_path], "is a directory")
    _refused(["compose", *m, "--prime-bars", "2"], "--prime-bars needs --prime")
    _refused(["compose", *m, "--prime", half, "--prime-bars", str(BARS + 1)], "more than the 8 bars")
    _refused(["compose", "--model", tmp_path / "nothing", "--out", tmp_path / "o"], "no such composer folder")
    _refused(["compose", "--model", mcvae["bar"], "--out", tmp_path / "o"], "a training run, not a composer")
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_composer_paired_with_another_bar_vae_is_refused(mcvae, tmp_path):
    other = tmp_path / "other"
    _run(["train", "--preset", "mcvae-bar_tiny", "--data", mcvae["mel"], "--out", other, "--steps", "5",
          "--set", "seed=1", *FAST])
    _refused(["compose", "--model", mcvae["composer"], "--vae", other, "--bars", BARS, "--out", tmp_path / "o"],
             "learnt the codes of bar VAE", "pair it with its own bar VAE")
    # its own bar VAE is accepted
    _run(["compose", "--model", mcvae["composer"], "--vae", mcvae["bar"], "--bars", "2", "--out", tmp_path / "ok"])


def test_train_refusals_are_one_line(mcvae, tiny_mel_run, tmp_path):
    songs, bar = mcvae["songs"], mcvae["bar"]
    _refused(["train", "--preset", "mcvae-composer_tiny", "--data", songs, "--out", tmp_path / "a"],
             "give that VAE with --vae RUN_DIR")
    _refused(["train", "--preset", "mcvae-bar_tiny", "--data", mcvae["mel"], "--out", tmp_path / "b", "--vae", bar],
             "--vae is for the MCVAE composer presets")
    _refused(["train", "--preset", "mcvae-composer_tiny", "--data", mcvae["mel"], "--out", tmp_path / "c",
              "--vae", bar, "--device", "cpu"], "not whole songs", "--kind bars")
    _refused(["train", "--preset", "mcvae-composer_tiny", "--data", songs, "--out", mcvae["composer"],
              "--vae", bar, "--device", "cpu"], "already holds checkpoints")
    _refused(["train", "--preset", "mcvae-composer_tiny", "--data", songs, "--out", tmp_path / "d",
              "--vae", mcvae["composer"], "--device", "cpu"], "bar VAE")
    _refused(["train", "--preset", "mcvae-composer_tiny", "--data", songs, "--out", tmp_path / "f",
              "--vae", tmp_path / "missing-run", "--device", "cpu"], "bar VAE", "missing-run")
    # a VAE of 2-bar windows is not a bar VAE
    _refused(["train", "--preset", "mcvae-composer_tiny", "--data", songs, "--out", tmp_path / "g",
              "--vae", tiny_mel_run, "--device", "cpu"], "not a 1-bar VAE")


# ------------------------------------------------------------------ presets and config
def test_bar_vae_presets_have_the_thesis_sizes_and_a_real_kl_term():
    from musicvae.presets import get_preset

    full = get_preset("mcvae-bar")
    m = full.model
    assert (m.family, m.decoder, m.encoder_hidden, m.encoder_layers, m.decoder_hidden, m.decoder_layers, m.z_size) == (
        "musicvae", "flat", 512, 1, 512, 2, 64)
    for name in ("mcvae-bar", "mcvae-bar_cpu", "mcvae-bar_tiny"):
        cfg = get_preset(name)
        assert (cfg.data.kind, cfg.data.bars) == ("melody", 1), name
        t = cfg.train
        # the KL term must bite: a few free bits at most (not the _cpu melody default of 128) and beta that grows
        assert t.max_beta > 0 and t.free_bits <= 16 and t.beta_rate < 0.9999, name
    assert get_preset("mcvae-bar_cpu").model.z_size == 64 and get_preset("mcvae-bar_tiny").model.z_size == 16


def test_composer_presets_follow_composer_sizes_and_overrides():
    from musicvae.config import ConfigError
    from musicvae.models.builders import build_model
    from musicvae.presets import get_preset

    # (hidden, layers, mixture components, batch, steps, crop bars): ours, the thesis does not give them
    sizes = {"": (512, 2, 10, 64, 20_000, 0), "_cpu": (256, 2, 10, 32, 4000, 64), "_tiny": (32, 1, 3, 8, 60, 0)}
    for suffix, want in sizes.items():
        cfg = get_preset(f"mcvae-composer{suffix}")
        assert (cfg.model.family, cfg.data.kind, cfg.data.bars) == ("mcvae", "bars", 16)
        c = cfg.mcvae
        assert (c.composer_hidden, c.composer_layers, c.mixture_components, cfg.train.batch_size, cfg.train.steps,
                c.crop_bars) == want
        with pytest.raises(ConfigError, match="--vae RUN_DIR"):
            build_model(cfg, (130,))
    cfg = get_preset("mcvae-composer_cpu", ["mixture_components=5", "train.crop_bars=32", "composer_hidden=64"])
    assert (cfg.mcvae.mixture_components, cfg.mcvae.crop_bars, cfg.mcvae.composer_hidden) == (5, 32, 64)
    assert get_preset("mcvae-composer").mcvae.max_song_bars == 3 * 113


def test_presets_table_rows_for_composers():
    from musicvae.cli.compose import composer_row
    from musicvae.presets import get_preset

    row = composer_row(get_preset("mcvae-composer_cpu"))
    assert len(row) == 5 and row[2] == "bar VAE's" and row[-1].endswith("M (z 64)")
