"""Parity with magenta's own graph: same weights, same outputs (``make test-magenta``, not the default suite).

``scripts/magenta/tf_reference.py`` (run by ``make test-magenta`` in ``.tf-venv``) builds every
supported config with magenta's code at a tiny size, fills it with random weights, saves the TF
checkpoint and TensorFlow's outputs on random inputs. Here each checkpoint is imported with
``musicvae import-magenta`` (numpy reader, no TensorFlow) and our model must give

* the same encoder mu and sigma (max abs difference <= 1e-5),
* the same teacher-forced logits over the whole window (<= 1e-4),
* the same greedy tokens decoded from the same z (identical),

with float32 weights (``--fp32``). The default fp16 export is measured too (its logits must stay
within 0.1). The measured differences are written to ``$MUSICVAE_MAGENTA_REF/parity.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvae.generation import TrainedModel
from musicvae.generation.magenta import mapping
from musicvae.generation.magenta.importer import import_magenta
from musicvae.generation.magenta.tf_bundle import read_checkpoint
from musicvae.models.modules.encoder import one_hot

pytestmark = pytest.mark.magenta
REF = Path(os.environ.get("MUSICVAE_MAGENTA_REF", "runs/magenta-ref"))
RESULTS: dict[str, dict] = {}


def _outputs(model_dir: Path, ref) -> dict[str, np.ndarray]:
    m = TrainedModel.load(model_dir).model
    tokens = torch.from_numpy(ref["tokens"].astype(np.int64))
    z = torch.from_numpy(ref["z"])
    with torch.no_grad():
        mu, sigma = m.encode(tokens)
        logits = m.decoder.teacher(z, tokens)
        greedy = m.decode(z, temperature=0.0)
    return {"mu": mu.numpy(), "sigma": sigma.numpy(), "logits": logits.numpy(), "tokens": greedy.numpy()}


@pytest.fixture(scope="module", autouse=True)
def _write_results():
    yield
    if RESULTS:
        (REF / "parity.json").write_text(json.dumps(RESULTS, indent=1))
        print("\nparity (max abs difference vs TensorFlow; tokens: share identical)")
        for name, r in RESULTS.items():
            print(f"  {name:22s} fp32: mu {r['fp32']['mu']:.1e} sigma {r['fp32']['sigma']:.1e} logits "
                  f"{r['fp32']['logits']:.1e} tokens {r['fp32']['tokens']:.3f} | fp16 export: logits "
                  f"{r['fp16']['logits']:.1e} tokens {r['fp16']['tokens']:.3f}"
                  + (f" | mu fp32 vs fp64 {r['fp32']['mu_fp32_vs_fp64']:.1e}" if "mu_fp32_vs_fp64" in r["fp32"] else ""))


@pytest.mark.parametrize("name", list(mapping.CONFIGS))
def test_parity_with_magenta(name, tmp_path):
    folder = REF / name
    if not (folder / "reference.npz").is_file():
        pytest.fail(f"{folder}: no reference outputs; run `make test-magenta` (it builds them in .tf-venv)")
    ref = np.load(folder / "reference.npz")
    # our reader returns exactly what TensorFlow's reader returned
    weights = read_checkpoint(folder / "model.ckpt")
    tf_vars = {k[4:] for k in ref.files if k.startswith("var/")}
    assert set(weights) == tf_vars
    for key in tf_vars:
        assert np.array_equal(weights[key], ref[f"var/{key}"]), key
    result = {}
    for label, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        out, _ = import_magenta(folder / "model.ckpt", tmp_path / label, config_name=name, dtype=dtype)
        got = _outputs(out, ref)
        result[label] = {k: float(np.abs(got[k] - ref[k]).max()) for k in ("mu", "sigma", "logits")}
        result[label]["tokens"] = float((got["tokens"] == ref["sample_tokens"]).mean())
    RESULTS[name] = result
    assert result["fp32"]["mu"] <= 1e-5 and result["fp32"]["sigma"] <= 1e-5, result
    assert result["fp32"]["logits"] <= 1e-4, result
    assert result["fp32"]["tokens"] == 1.0, result
    # fp16 weights (the default export) round every weight to 11 bits: measured and reported, not
    # held to the fp32 bounds (on these random nets a rare near-tie flips a greedy token, and a
    # free-running decoder then follows its own different history)
    assert result["fp16"]["logits"] <= 0.1, result


PUBLISHED_REF = Path(os.environ.get("MUSICVAE_MAGENTA_REF_PUBLISHED", "runs/magenta-ref-published"))
PUBLISHED = ["cat-drums_2bar_small", "hierdec-mel_16bar"]


@pytest.mark.parametrize("name", PUBLISHED)
def test_parity_at_published_sizes(name, tmp_path):
    """magenta's own sizes (hierdec-mel_16bar: 176M parameters), random weights of std 2 / sqrt(fan-in).

    mu and sigma must differ from TensorFlow's by no more than float32 rounding moves them (3x our
    float32-vs-float64 difference); logits and greedy tokens as for the tiny configs.
    """
    import hashlib

    folder = PUBLISHED_REF / name
    if not (folder / "reference.npz").is_file():
        pytest.fail(f"{folder}: no reference outputs; run `make test-magenta`")
    ref = np.load(folder / "reference.npz")
    digests = json.loads((folder / "variables.json").read_text())
    weights = read_checkpoint(folder / "model.ckpt")
    assert sorted(weights) == sorted(digests)
    for key, rec in digests.items():
        assert hashlib.sha256(np.ascontiguousarray(weights[key]).tobytes()).hexdigest() == rec["sha256"], key
    del weights
    out, info = import_magenta(folder / "model.ckpt", tmp_path / "m", config_name=name, dtype=torch.float32)
    assert info["published_sizes"]
    got = _outputs(out, ref)
    result = {k: float(np.abs(got[k] - ref[k]).max()) for k in ("mu", "sigma", "logits")}
    result["tokens"] = float((got["tokens"] == ref["sample_tokens"]).mean())
    result["parameters"] = info["parameters"]
    # float32 rounding alone: our encoder in float64 vs float32 (256 steps of a random 2048-unit
    # LSTM amplify rounding; measured 2e-3 on mu for hierdec-mel_16bar, TensorFlow as far off)
    m = TrainedModel.load(out).model
    tokens = torch.from_numpy(ref["tokens"].astype(np.int64))
    with torch.no_grad():
        mu64, sigma64 = m.double().encoder(one_hot(tokens, m.vocab_sizes).double())
    result["mu_fp32_vs_fp64"] = float(np.abs(got["mu"] - mu64.numpy()).max())
    result["sigma_fp32_vs_fp64"] = float(np.abs(got["sigma"] - sigma64.numpy()).max())
    RESULTS[f"{name} (published sizes)"] = {"fp32": result, "fp16": {"logits": float("nan"), "tokens": float("nan")}}
    assert result["mu"] <= 3 * result["mu_fp32_vs_fp64"] + 1e-5, result
    assert result["sigma"] <= 3 * result["sigma_fp32_vs_fp64"] + 1e-5, result
    assert result["logits"] <= 1e-4, result
    assert result["tokens"] == 1.0, result
