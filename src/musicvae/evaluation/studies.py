"""The MusicVAE paper's evaluation studies (Roberts et al., ICML 2018), as plain functions.

Place in the flow: a :class:`~musicvae.generation.TrainedModel` + token windows from
``musicvae prepare`` (``PreparedDataset(DIR, "eval").tokens``, ``(N, T, K)``) -> these
studies -> dicts of figures (JSON-ready floats and lists) -> :mod:`.report`
(``report.md``, ``report.json``, PNG plots) -> ``musicvae evaluate``.

* :func:`reconstruction_study` - Table 1: teacher-forced, sampled (magenta's definition:
  argmax while fed the model's own temperature-1 samples, the figure beside the paper's),
  free-running (the temperature-1 samples themselves) and argmax accuracy, per stream and
  per bar; KL and ELBO. The same computation as ``Trainer.evaluate``, on any number of windows.
* :func:`interpolation_study` - Fig. 3: latent slerp between posterior means of two
  held-out windows vs. the data baseline (each step taken from B with probability alpha):
  Hamming distance to A and relative 5-gram cost ``C_alpha / (alpha C_B + (1 - alpha) C_A)``.
  ``C_A`` and ``C_B`` are the costs of the *data* windows A and B for both curves, so the
  latent curve's endpoints show how far reconstructions are from the data.
* :func:`attribute_study` - Fig. 4: add / subtract each attribute vector to prior samples
  and measure the mean relative change of every attribute.
* :func:`samples_study` - how data-like prior samples are: attribute statistics, 1-D
  Wasserstein distances, out-of-range rates (headline ``ood_rate``), key fit, relative
  5-gram cost and diversity, vs. held-out data (:mod:`.realism`).

Each study takes a ``seed`` (same seed, same figures) and an optional
``progress(done, total)`` callback; models are called in batches under ``torch.no_grad``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..generation import latent
from ..generation.model import TrainedModel
from ..training.losses import ACCURACY_KINDS, reconstruction_metrics
from ..music.attributes import ATTRIBUTES, hamming_distance, measure_many, relative_change
from .ngram import NGramLM, symbols

STUDIES: tuple[str, ...] = ("reconstruction", "interpolation", "attributes", "samples")
ALPHAS = np.linspace(0.0, 1.0, 11)
LM_ORDER = 5
LM_LIMIT = 20_000  # training windows the 5-gram model is fitted on, at most
BATCH = 256

ProgressFn = Optional[Callable[[int, int], None]]


class _Ticks:
    """Counts finished items and reports ``(done, total)`` to an optional callback."""

    def __init__(self, fn: ProgressFn, total: int):
        self.fn, self.total, self.done = fn, int(total), 0
        self(0)

    def __call__(self, k: int) -> None:
        self.done += int(k)
        if self.fn is not None:
            self.fn(self.done, self.total)


# ------------------------------------------------------------------- helpers
def select_windows(n_available: int, n: int, seed: int) -> np.ndarray:
    """Indices of ``min(n, n_available)`` windows, a seeded random subset in data order."""
    if n >= n_available:
        return np.arange(n_available)
    return np.sort(np.random.default_rng(seed).choice(n_available, size=n, replace=False))


def _decode(model: TrainedModel, z: np.ndarray, temperature: float, seed: int, ticks: _Ticks | None = None,
            batch_size: int = BATCH) -> np.ndarray:
    """Codes ``(M, Z)`` -> tokens ``(M, T, K)``; batch ``i`` samples with seed ``seed + i``."""
    out = []
    for j, i in enumerate(range(0, len(z), batch_size)):
        out.append(model.decode_tokens(z[i:i + batch_size], temperature, seed=seed + j).astype(np.int64))
        if ticks is not None:
            ticks(len(out[-1]))
    return np.concatenate(out) if out else np.zeros((0, model.steps, len(model.model.vocab_sizes)), np.int64)


def _measure(model: TrainedModel, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Every attribute of :data:`ATTRIBUTES` for windows ``(N, T, K)``: name -> ``(N,)``."""
    return measure_many(model.to_sequences(tokens), list(ATTRIBUTES))


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


# ------------------------------------------------------------ reconstruction
@torch.no_grad()
def reconstruction_study(model: TrainedModel, tokens: np.ndarray, seed: int = 0, batch_size: int = BATCH,
                         progress: ProgressFn = None) -> dict:
    """Table 1 on held-out windows ``(N, T, K)``: accuracies, KL (nats, bits), ELBO (nats per sequence)."""
    net = model.model.eval()
    vocab = tuple(net.vocab_sizes)
    tokens = np.asarray(tokens, dtype=np.int64)  # (N, T, K)
    n, steps, _ = tokens.shape
    bars = model.bars if model.bars > 0 and steps % model.bars == 0 else 1
    bar_steps = steps // bars
    gen = torch.Generator(device=model.device)
    gen.manual_seed(int(seed))
    batches = (torch.as_tensor(tokens[i:i + batch_size], device=model.device) for i in range(0, n, batch_size))
    m = reconstruction_metrics(net, batches, lambda i: gen, bar_steps, on_batch=_Ticks(progress, n))
    res: dict = {"n": int(n), "seed": int(seed), "sampling_temperature": 1.0,
                 "accuracy_definitions": {f"{k}_accuracy": v for k, v in ACCURACY_KINDS.items()}}
    res.update({f"{k}_accuracy": m[f"{k}_accuracy"] for k in ACCURACY_KINDS})
    kl = m.get("kl", 0.0)  # MusAE: no KL term
    res.update({"r_loss_nats": m["r_loss"], "kl_nats": kl, "kl_bits": m.get("kl_bits", 0.0),
                "elbo_nats": m.get("elbo", -(m["r_loss"] + kl))})
    res["has_latent"] = model.has_latent
    names = list(model.converter.stream_names) or [f"stream {k}" for k in range(len(vocab))]
    if len(vocab) > 1:
        res["per_stream"] = {key: dict(zip(names, v.round(4).tolist())) for key, v in m["per_stream"].items()}
    if bars > 1:
        res["per_bar"] = {key: v.round(4).tolist() for key, v in m["per_segment"].items()}
    seg = getattr(net.decoder, "segment_steps", steps)
    res["decoder"] = "hierarchical" if seg != steps else "flat"
    return res


# ------------------------------------------------------------- interpolation
def draw_pairs(n_windows: int, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` index pairs ``(a, b)`` with ``a != b`` (uniform over ordered pairs)."""
    if n_windows < 2:
        raise ValueError(f"interpolation needs at least 2 windows, got {n_windows}")
    a = rng.integers(0, n_windows, size=n_pairs)
    b = (a + rng.integers(1, n_windows, size=n_pairs)) % n_windows
    return a, b


def bernoulli_mix(a: np.ndarray, b: np.ndarray, alphas: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """The paper's data interpolation: each step takes B's tokens with probability alpha, else A's.

    ``a``, ``b`` are ``(N, T, K)``; returns ``(N, S, T, K)`` for the S alphas. A step's K
    streams move together. alpha 0 gives A exactly, alpha 1 gives B exactly.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"bernoulli_mix needs two (N, T, K) arrays of one shape, got {a.shape} and {b.shape}")
    al = np.asarray(alphas, dtype=np.float64)
    take_b = rng.random((a.shape[0], len(al), a.shape[1])) < al[None, :, None]  # (N, S, T)
    return np.where(take_b[..., None], b[:, None], a[:, None])  # (N, S, T, K)


def relative_cost(costs: np.ndarray, cost_a: np.ndarray, cost_b: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """``C_alpha / (alpha C_B + (1 - alpha) C_A)`` per pair and alpha: ``(N, S)``.

    ``costs`` ``(N, S)`` are the costs of the interpolated sequences, ``cost_a``/``cost_b``
    ``(N,)`` those of the endpoints. 1 means "as plausible as the endpoints' mix".
    """
    al = np.asarray(alphas, dtype=np.float64)[None, :]  # (1, S)
    base = al * np.asarray(cost_b, np.float64)[:, None] + (1.0 - al) * np.asarray(cost_a, np.float64)[:, None]
    return np.asarray(costs, dtype=np.float64) / base


def fit_lm(train_tokens: np.ndarray, vocab_sizes: Sequence[int], seed: int = 0, limit: int = LM_LIMIT,
           order: int = LM_ORDER) -> tuple[NGramLM, int]:
    """A 5-gram model of up to ``limit`` training windows (seeded subset); returns it and the count used."""
    idx = select_windows(len(train_tokens), limit, seed)
    syms = symbols(np.asarray(train_tokens[idx], dtype=np.int64), vocab_sizes)  # (N, T)
    return NGramLM.fit(syms, order=order), len(idx)


def _hamming_to(grids: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``(N, S, T, K)`` vs ``(N, T, K)`` -> ``(N, S)`` sequence-normalised Hamming distances."""
    return np.array([[hamming_distance(g, r) for g in row] for row, r in zip(grids, ref)])


def interpolation_study(model: TrainedModel, tokens: np.ndarray, lm: NGramLM, n_pairs: int, seed: int = 0,
                        alphas: Sequence[float] = ALPHAS, temperature: float = 0.5, batch_size: int = BATCH,
                        progress: ProgressFn = None) -> dict:
    """Fig. 3: latent slerp vs. Bernoulli mix of ``n_pairs`` pairs of distinct windows of ``tokens``."""
    tokens = np.asarray(tokens, dtype=np.int64)  # (N, T, K)
    al = np.asarray(alphas, dtype=np.float64)
    vocab = tuple(model.model.vocab_sizes)
    rng = np.random.default_rng(seed)
    ia, ib = draw_pairs(len(tokens), n_pairs, rng)
    a, b = tokens[ia], tokens[ib]  # (P, T, K) each
    p, s, t, k = len(a), len(al), tokens.shape[1], tokens.shape[2]
    ticks = _Ticks(progress, p * s)
    used = np.unique(np.concatenate([ia, ib]))
    codes = model.token_codes(tokens[used], batch_size)  # (U, Z)
    za, zb = codes[np.searchsorted(used, ia)], codes[np.searchsorted(used, ib)]  # (P, Z)
    z = np.stack([latent.slerp(x, y, al) for x, y in zip(za, zb)]).astype(np.float32)  # (P, S, Z)
    decoded = _decode(model, z.reshape(p * s, -1), temperature, seed, ticks, batch_size).reshape(p, s, t, k)
    mixed = bernoulli_mix(a, b, al, rng)  # (P, S, T, K)
    cost_a, cost_b = lm.costs(symbols(a, vocab)), lm.costs(symbols(b, vocab))  # (P,)
    res: dict = {"n_pairs": int(p), "alphas": al.round(4).tolist(), "temperature": float(temperature),
                 "method": "slerp of posterior means", "hamming_a_b": float(np.mean(_hamming_to(b[:, None], a))),
                 "cost_a_nats": float(cost_a.mean()), "cost_b_nats": float(cost_b.mean())}
    for name, grids in (("latent", decoded), ("data", mixed)):
        costs = lm.costs(symbols(grids.reshape(p * s, t, k), vocab)).reshape(p, s)  # (P, S)
        ham = _hamming_to(grids, a)  # (P, S)
        res[name] = {"hamming_to_a": ham.mean(axis=0).tolist(), "hamming_to_a_std": ham.std(axis=0).tolist(),
                     "relative_cost": relative_cost(costs, cost_a, cost_b, al).mean(axis=0).tolist(),
                     "cost_nats": costs.mean(axis=0).tolist()}
    return res


# ---------------------------------------------------------------- attributes
def attribute_vectors(model: TrainedModel, tokens: np.ndarray, batch_size: int = BATCH
                      ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every attribute's vector from windows ``(N, T, K)`` (top minus bottom quartile mean code).

    The same vectors as ``TrainedModel.attribute_vector`` (and ``musicvae export
    --attributes-from``), but the windows are encoded and measured once for all
    attributes. Returns ``(vectors, {name: why it was skipped})``.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    codes = model.token_codes(tokens, batch_size)  # (N, Z)
    values = _measure(model, tokens)
    vectors, skipped = {}, {}
    for name in ATTRIBUTES:
        try:
            vectors[name] = latent.attribute_vector(codes, values[name])
        except ValueError as exc:
            skipped[name] = str(exc)
    return vectors, skipped


def attribute_study(model: TrainedModel, vectors: dict[str, np.ndarray], n: int = 256, seed: int = 0,
                    temperature: float = 0.5, amount: float = 1.0, batch_size: int = BATCH,
                    progress: ProgressFn = None) -> dict:
    """Fig. 4: mean relative change (%) of every attribute when each vector is added (+) or subtracted (-).

    ``n`` prior codes are decoded as they are and moved by ``+-amount`` times each vector,
    all with the same sampling seed, so only the code differs. Rows: the vector applied,
    columns: the attribute measured (``None`` where undefined, e.g. pitch on drums).
    """
    rows = [name for name in ATTRIBUTES if name in vectors] + sorted(set(vectors) - set(ATTRIBUTES))
    cols = list(ATTRIBUTES)
    z = model.prior_codes(n, seed)  # (n, Z): N(0, I) for a VAE, the model's own prior for MusAE
    ticks = _Ticks(progress, n * (1 + 2 * len(rows)))
    base = _measure(model, _decode(model, z, temperature, seed, ticks, batch_size))
    plus, minus = np.full((len(rows), len(cols)), np.nan), np.full((len(rows), len(cols)), np.nan)
    for i, name in enumerate(rows):
        v = np.asarray(vectors[name], dtype=np.float32)[None]  # (1, Z)
        for sign, matrix in ((1.0, plus), (-1.0, minus)):
            moved = _measure(model, _decode(model, z + sign * amount * v, temperature, seed, ticks, batch_size))
            matrix[i] = [100.0 * relative_change(base[c], moved[c]) for c in cols]
    clean = lambda m: [[_finite(x) for x in row] for row in m]  # noqa: E731
    return {"n": int(n), "seed": int(seed), "temperature": float(temperature), "amount": float(amount),
            "vectors": rows, "attributes": cols, "plus_percent": clean(plus), "minus_percent": clean(minus),
            "base_means": {c: _finite(np.nanmean(base[c])) if np.isfinite(base[c]).any() else None for c in cols}}


# ------------------------------------------------------------------- samples
def _stats(values: np.ndarray) -> dict:
    ok = values[np.isfinite(values)]
    if not len(ok):
        return {"mean": None, "std": None, "defined": 0}
    return {"mean": float(ok.mean()), "std": float(ok.std()), "defined": int(len(ok))}


def unique_fraction(tokens: np.ndarray) -> float:
    """Share of distinct windows among ``(N, T, K)`` token grids (1.0: no two alike); NaN for none."""
    tokens = np.asarray(tokens)
    if not len(tokens):
        return float("nan")
    return len(np.unique(tokens.reshape(len(tokens), -1), axis=0)) / len(tokens)


def mean_pairwise_hamming(tokens: np.ndarray, pairs: int = 2048, seed: int = 0) -> float:
    """Mean step Hamming distance between ``pairs`` random pairs of distinct windows ``(N, T, K)``; NaN below 2."""
    tokens = np.asarray(tokens)
    if len(tokens) < 2:
        return float("nan")
    a, b = draw_pairs(len(tokens), pairs, np.random.default_rng(seed))
    return float((tokens[a] != tokens[b]).any(axis=-1).mean())


def samples_study(model: TrainedModel, tokens: np.ndarray, n: int, seed: int = 0, temperature: float = 0.5,
                  batch_size: int = BATCH, progress: ProgressFn = None, lm: NGramLM | None = None,
                  prior: str | None = None) -> dict:
    """How data-like ``n`` prior samples are, against the held-out windows ``tokens``.

    Per attribute (those of :data:`ATTRIBUTES` plus ``key_fit``, the key-invariant
    tonality of :mod:`.realism`, and for drum models its ``DRUM_ATTRIBUTES``): mean and std of both sides,
    ``normalised_difference = (mean_samples - mean_data) / std_data`` (``None`` where the
    data's attribute is undefined or constant), the 1-D Wasserstein distance and the
    share of samples outside the data's 0.1-99.9 percentile range. Headline:
    ``ood_rate``, the share of samples out of range in any key-invariant attribute
    (``ood_rate_data``: the same for a random half of the held-out windows against the
    other half's range, the rate real music gets). Melody models
    also get ``melodic_outlier_rate`` (range > 24 semitones or average leap > 7). With a
    5-gram model ``lm`` (:func:`fit_lm` on the training split): ``relative_5gram_cost`` =
    mean cost of the samples / mean cost of the held-out windows (1 = as plausible as the
    data). ``prior`` picks the codes (``TrainedModel.prior_codes``; default the model's).
    """
    ticks = _Ticks(progress, n + len(tokens))
    if model.has_latent:
        z = model.prior_codes(n, seed + 1, prior=prior)  # (n, Z)
        drawn = _decode(model, z, temperature, seed + 1, ticks, batch_size)  # (n, T, K)
    else:  # a language model samples without a code
        drawn = model.sample_tokens(n, temperature, int(seed) + 1)  # (n, T, K)
        ticks(n)
    out = sample_realism(model, drawn, tokens, lm, seed)
    ticks(len(tokens))
    return {"n_samples": int(n), "n_data": int(len(tokens)), "temperature": float(temperature),
            "prior": model.prior_name(prior) if model.has_latent else None, **out}


def realism_attributes(seqs: list, kind: str) -> dict[str, np.ndarray]:
    """The attributes the realism figures compare: :data:`ATTRIBUTES`, ``key_fit`` and, for drums,
    ``realism.DRUM_ATTRIBUTES``; name -> ``(N,)`` float64 (NaN where undefined)."""
    from . import realism

    out = measure_many(seqs, list(ATTRIBUTES))
    out["key_fit"] = realism.key_fits(seqs)
    if kind == "drums":
        for name, fn in realism.DRUM_ATTRIBUTES.items():
            out[name] = np.array([fn(q) for q in seqs], np.float64)
    return out


def sample_realism(model: TrainedModel, drawn: np.ndarray, tokens: np.ndarray, lm: NGramLM | None = None,
                   seed: int = 0) -> dict:
    """The figures of :func:`samples_study` for given sample grids ``drawn`` ``(M, T, K)`` vs. windows ``tokens``."""
    from . import realism

    drawn = np.asarray(drawn, dtype=np.int64)
    data_tokens = np.asarray(tokens, dtype=np.int64)
    sample_seqs, data_seqs = model.to_sequences(drawn), model.to_sequences(data_tokens)
    sampled, data = realism_attributes(sample_seqs, model.kind), realism_attributes(data_seqs, model.kind)
    out: dict = {"attributes": {}}
    realistic = realism.compare(sampled, data)
    for name in sampled:
        s, d = _stats(sampled[name]), _stats(data[name])
        diff = None
        if s["mean"] is not None and d["mean"] is not None and d["std"]:
            diff = (s["mean"] - d["mean"]) / d["std"]
        out["attributes"][name] = {"samples": s, "data": d, "normalised_difference": diff,
                                   **realistic["attributes"].get(name, {})}
    out["ood_rate"] = realistic["ood_rate"]
    out["ood_range"], out["ood_attributes"] = realistic["range"], realistic["ood_attributes"]
    data_rate = realism.data_ood_rate(data, np.random.default_rng(seed))
    if data_rate is not None:
        out["ood_rate_data"] = data_rate
    if model.kind == "melody":
        out["melodic_outlier_rate"] = float(realism.melodic_outliers(sample_seqs).mean())
        out["melodic_outlier_rate_data"] = float(realism.melodic_outliers(data_seqs).mean())
    out["unique_fraction"] = unique_fraction(drawn)
    out["mean_pairwise_hamming"] = mean_pairwise_hamming(drawn, seed=seed)
    out["mean_pairwise_hamming_data"] = mean_pairwise_hamming(data_tokens, seed=seed)
    if lm is not None:
        vocab = tuple(model.model.vocab_sizes)
        cost_s, cost_d = lm.costs(symbols(drawn, vocab)), lm.costs(symbols(data_tokens, vocab))
        out["cost_nats_samples"], out["cost_nats_data"] = float(cost_s.mean()), float(cost_d.mean())
        out["relative_5gram_cost"] = float(cost_s.mean() / cost_d.mean()) if cost_d.mean() > 0 else None
    return out
