"""Experiment: attribute vector arithmetic, the heat map of the ICML 2018 paper's Fig. 4.

Place in the flow: a trained melody model (default the bundled ``mel_16bar``; ``mel_2bar`` with
a message while ``mel_16bar`` is not bundled; ``--train``/``--tiny``/``--full`` train
``hierdec-mel_16bar{_cpu,_tiny,}`` instead) + the folk data prepared at the model's length ->
attribute vectors (the model's own, else the top minus bottom quartile mean code of training
windows) -> :func:`musicvae.evaluation.studies.attribute_study` on prior samples (the paper's
setting) and the same edit applied to the codes of held-out windows ->
``experiments/results/attribute_vectors/`` (report.md, report.json, attributes*.png, heldout*.png).

The claim (Fig. 4): adding an attribute vector to a code raises that attribute in the decoded
music and subtracting it lowers it (a strong diagonal), while the other attributes change much
less, except those correlated with it in the data (e.g. note density and 8th-note syncopation).

    OMP_NUM_THREADS=1 .venv/bin/python experiments/attribute_vectors.py          # bundled model, no training
    .venv/bin/python experiments/attribute_vectors.py --tiny --out /tmp/attr       # a tiny model, seconds
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from common import (EXPERIMENT_NOTE, Experiment, ExperimentError, main_guard, parser, pick_mode, rel)

NAME = "attribute_vectors"
PRESET = "hierdec-mel_16bar"
DEFAULT_MODEL, FALLBACK_MODEL = "mel_16bar", "mel_2bar"
CPU_STEPS, TINY_STEPS = 4000, 5
PRIOR_SAMPLES = 256  # the paper's
BATCH = 256


def pick_model(exp: Experiment):
    """The model to study and a note on where it came from (training it first when asked)."""
    from musicvae.generation import InputError, TrainedModel
    from musicvae.generation.store import bundled_models

    args = exp.args
    if args.tiny or args.full or args.train:
        data = exp.ensure_data("melody", 16)
        run = exp.train(PRESET + exp.mode.suffix, data)
        model = exp.load(run)
        return model, data, {"model": run["preset"], "trained_here": True, **{k: v for k, v in run.items()
                                                                            if k != "curve"}}
    name, note = args.model, None
    if name == DEFAULT_MODEL and DEFAULT_MODEL not in bundled_models():
        note = (f"{DEFAULT_MODEL} is not bundled yet (its training run is not finished); using {FALLBACK_MODEL}, "
                f"a 2-bar model, instead: rerun this script once {DEFAULT_MODEL} ships for the 16-bar heat map")
        exp.log(f"note: {note}")
        name = FALLBACK_MODEL
    try:
        model = TrainedModel.load(name, device=exp.device)
    except InputError as exc:
        raise ExperimentError(str(exc)) from None
    if model.kind != "melody" or not model.has_latent:
        raise ExperimentError(f"{name}: a {model.kind} {'model' if model.has_latent else 'language model'}; "
                              "this experiment needs a melody model with a latent code")
    data = exp.ensure_data("melody", model.bars)
    info = {"model": name, "trained_here": False, "step": model.files.info.get("step"), "fallback_note": note}
    return model, data, info


def codes_of(model, tokens: np.ndarray) -> np.ndarray:
    """Posterior means ``(N, Z)`` of windows ``(N, T, K)``."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(tokens), BATCH):
            mu, _ = model.model.encode(torch.as_tensor(tokens[i:i + BATCH], device=model.device))
            out.append(mu.float().cpu().numpy())
    return np.concatenate(out)


def edit_study(model, z: np.ndarray, vectors: dict[str, np.ndarray], seed: int, temperature: float = 0.5,
               amount: float = 1.0) -> dict:
    """:func:`attribute_study`'s figures for given codes ``z`` (e.g. of held-out windows) instead of prior samples."""
    from musicvae.music.attributes import ATTRIBUTES, measure_many, relative_change

    def measured(codes: np.ndarray) -> dict[str, np.ndarray]:
        tokens = np.concatenate([model.decode_tokens(codes[i:i + BATCH], temperature, seed=seed + j)
                                 for j, i in enumerate(range(0, len(codes), BATCH))])
        return measure_many(model.to_sequences(tokens), list(ATTRIBUTES))

    rows, cols = [a for a in ATTRIBUTES if a in vectors], list(ATTRIBUTES)
    base = measured(z)
    matrices = {"plus_percent": [], "minus_percent": []}
    for name in rows:
        for key, sign in (("plus_percent", 1.0), ("minus_percent", -1.0)):
            moved = measured(z + sign * amount * np.asarray(vectors[name], dtype=np.float32)[None])
            change = [100.0 * relative_change(base[c], moved[c]) for c in cols]
            matrices[key].append([float(v) if np.isfinite(v) else None for v in change])
    return {"n": int(len(z)), "seed": int(seed), "temperature": float(temperature), "amount": float(amount),
            "vectors": rows, "attributes": cols, **matrices}


def summary(res: dict) -> dict:
    """Mean change of each vector's own attribute (diagonal) and mean |change| of the others."""
    cols = res["attributes"]
    out = {}
    for key in ("plus_percent", "minus_percent"):
        diag, off = [], []
        for name, row in zip(res["vectors"], res[key]):
            for c, v in zip(cols, row):
                if v is not None:
                    (diag if c == name else off).append(v)
        out[key] = {"diagonal_mean": float(np.mean(diag)) if diag else None,
                    "off_diagonal_mean_abs": float(np.mean(np.abs(off))) if off else None,
                    "diagonal_right_sign": int(sum((v > 0) if key == "plus_percent" else (v < 0) for v in diag)),
                    "diagonal_defined": len(diag)}
    return out


def heat_table(res: dict, key: str) -> list[str]:
    from musicvae.evaluation.report import _f, _table

    sign = "+" if key == "plus_percent" else "−"
    return _table(["vector", *res["attributes"]],
                  [[f"{sign} {name}", *(_f(v, 1) for v in row)] for name, row in zip(res["vectors"], res[key])])


def markdown(info: dict, setup: dict, prior: dict, held: dict, sums: dict) -> list[str]:
    lines = ["# Attribute vectors (ICML 2018 Fig. 4)", "",
             "**Claim.** Adding an attribute vector (mean code of the top quartile of training windows by that "
             "attribute minus that of the bottom quartile) to a latent code raises the attribute in the decoded "
             "music, subtracting it lowers it, and the other attributes change much less, except those correlated "
             "with it in the data. The paper's Fig. 4 shows the five attributes of its Appendix C (the first five "
             "columns here); pitch range and distinct pitches are this project's additions.", "",
             f"> {EXPERIMENT_NOTE}", ""]
    if info.get("fallback_note"):
        lines += [f"**Note:** {info['fallback_note']}.", ""]
    step = f", step {info['step']}" if info.get("step") is not None else ""
    lines += [f"- model: `{info['model']}` ({setup['bars']}-bar melody, {setup['decoder']} decoder, z {setup['z']}"
              f"{step}{'; trained by this script' if info['trained_here'] else ''})",
              f"- attribute vectors: {setup['vectors_source']}",
              f"- data: {setup['data']} ({setup['eval_windows']:,} held-out windows)",
              f"- decoding: temperature {prior['temperature']}, vector amount {prior['amount']}, the same sampling "
              "seed with and without the vector (so only the code differs)", "",
              "Cells: mean relative change of the measured attribute (column) in percent when the vector (row) is "
              "added or subtracted; n/a where the attribute is undefined, or where its unedited mean is 0 and the edit "
              "moves it (an infinite relative change).", ""]
    for title, res, png in ((f"Prior samples (the paper's setting, {prior['n']} samples)", prior, "attributes"),
                            (f"Held-out windows ({held['n']} codes of the folk eval split)", held, "heldout")):
        s = sums[png]
        lines += [f"## {title}", "", "Vector added:", "", *heat_table(res, "plus_percent"),
                  f"![vector added]({png}.png)", "", "Vector subtracted:", "", *heat_table(res, "minus_percent"),
                  f"![vector subtracted]({png}_minus.png)", ""]
        p, m = s["plus_percent"], s["minus_percent"]
        if p["diagonal_mean"] is not None and m["diagonal_mean"] is not None:
            lines += [f"**Here:** adding a vector changes its own attribute by {p['diagonal_mean']:+.0f} % on average "
                      f"(up for {p['diagonal_right_sign']} of {p['diagonal_defined']}), subtracting it by "
                      f"{m['diagonal_mean']:+.0f} % (down for {m['diagonal_right_sign']} of {m['diagonal_defined']}); "
                      f"the other attributes move by {p['off_diagonal_mean_abs']:.0f} % on average (absolute).", ""]
    return lines


def run(exp: Experiment) -> None:
    from musicvae.evaluation import studies as st
    from musicvae.evaluation.report import plot_attributes

    seed = exp.args.seed
    model, data, info = pick_model(exp)
    vectors, source = dict(model.attributes), "the model's own (stored with it)"
    if not vectors:
        train, total = exp.train_tokens(data, exp.mode.attribute_windows, seed)
        exp.log(f"computing attribute vectors from {len(train):,} training windows")
        vectors, skipped = st.attribute_vectors(model, train)
        for name, why in skipped.items():
            exp.log(f"  no vector for {name}: {why}")
        source = f"computed from {len(train):,} of the {total:,} training windows in {rel(data)}"
    if not vectors:
        raise ExperimentError(f"no attribute vector could be computed from {data}")
    n = exp.args.n if exp.args.n is not None else (16 if exp.mode.name == "tiny" else PRIOR_SAMPLES)
    exp.log(f"attribute study: {n} prior samples x {1 + 2 * len(vectors)} decodings")
    prior = st.attribute_study(model, vectors, n, seed, progress=exp.progress("prior samples"))
    tokens, eval_total = exp.eval_tokens(data, n, seed)
    exp.log(f"the same on the codes of {len(tokens)} held-out windows")
    held = edit_study(model, codes_of(model, tokens), vectors, seed)
    sums = {"attributes": summary(prior), "heldout": summary(held)}
    setup = {"data": rel(data), "eval_windows": eval_total, "bars": model.bars, "z": model.z_size,
             "decoder": model.config.model.decoder, "vectors_source": source, "vectors": sorted(vectors),
             "vector_norms": {k: float(np.linalg.norm(v)) for k, v in vectors.items()}}
    results = {"claim": "adding / subtracting an attribute vector raises / lowers that attribute; others change less",
               "model": info, "setup": setup, "prior": prior, "heldout": held, "summary": sums}
    plots = {"attributes.png": plot_attributes(prior, "plus_percent"),
             "attributes_minus.png": plot_attributes(prior, "minus_percent"),
             "heldout.png": plot_attributes(held, "plus_percent"),
             "heldout_minus.png": plot_attributes(held, "minus_percent")}
    exp.write(results, markdown(info, setup, prior, held, sums), plots)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"Bundled model name, exported model dir or run dir (default {DEFAULT_MODEL}, falling back "
                        f"to {FALLBACK_MODEL} while it is not bundled).")
    p.add_argument("--train", action="store_true",
                   help=f"Train {PRESET}_cpu (to --steps, default {CPU_STEPS}) and study it instead of --model.")
    args = p.parse_args(argv)
    exp = Experiment(NAME, args, pick_mode(args, CPU_STEPS, TINY_STEPS), argv)
    main_guard(lambda: run(exp))


if __name__ == "__main__":
    main()
