"""`musicvae fit-prior`: fit a prior to a model's training codes and record how data-like its samples are.

Place in the flow: the CLI's end of ``generation.prior`` and ``evaluation.studies.samples_study``:
exported model dir + prepared data (``musicvae prepare``) -> ``prior.safetensors`` in the
model dir and the samples figures of both priors in its ``model.json`` (``info.samples``),
which ``musicvae models`` shows.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .common import app, check_data, console, load_split, user_errors


def _summary(res: dict) -> dict:
    keys = ("ood_rate", "ood_rate_data", "melodic_outlier_rate", "melodic_outlier_rate_data", "relative_5gram_cost",
            "unique_fraction", "mean_pairwise_hamming", "mean_pairwise_hamming_data", "temperature", "n_samples",
            "n_data")
    out = {k: res[k] for k in keys if k in res}
    out["normalised_difference"] = {k: a.get("normalised_difference") for k, a in res["attributes"].items()
                                     if a.get("normalised_difference") is not None}
    kf = res["attributes"].get("key_fit", {})
    out["key_fit"] = {"samples": kf.get("samples", {}).get("mean"), "data": kf.get("data", {}).get("mean")}
    return out


def _temperatures(text: str) -> list[float]:
    from ..generation import InputError
    from ..generation.store import MAX_TEMPERATURE

    try:
        temps = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"--sweep takes comma-separated numbers, got {text!r}") from None
    if any(not 0.0 <= t <= MAX_TEMPERATURE for t in temps):
        raise InputError(f"--sweep temperatures must be from 0 to {MAX_TEMPERATURE:g}, got {text!r}")
    return sorted(set(temps))


def _sweep(model, tokens, n: int, seed: int, lm, temps: list[float], done: dict[float, dict] | None = None) -> dict:
    """The samples figures of the model's own prior at each temperature, and the most data-like one.
    ``done``: temperature -> a ``samples_study`` of that prior already made (not made again)."""
    from ..evaluation import studies as st

    rows = {}
    for t in temps:
        res = (done or {}).get(t) or st.samples_study(model, tokens, n, seed, t, lm=lm)
        rows[t] = {"ood_rate": res["ood_rate"], "ood_rate_data": res["ood_rate_data"],
                   "relative_5gram_cost": res.get("relative_5gram_cost"),
                   "normalised_difference": _summary(res)["normalised_difference"]}
        cost = rows[t]["relative_5gram_cost"]
        console.print(f"T={t:g}: out-of-distribution {100 * res['ood_rate']:.2f} % (data {100 * res['ood_rate_data']:.2f} %)"
                      + (f", relative 5-gram cost {cost:.3f}" if cost is not None else ""), highlight=False)

    def excess(t: float) -> float:  # out-of-distribution rate above what held-out data gets against itself
        return max(rows[t]["ood_rate"] - rows[t]["ood_rate_data"], 0.0)

    def distance(t: float) -> float:  # mean |difference of the means| over the attributes, in data std
        nd = rows[t]["normalised_difference"]
        return round(sum(abs(v) for v in nd.values()) / max(len(nd), 1), 3)

    best = min(temps, key=lambda t: (excess(t), distance(t), abs((rows[t]["relative_5gram_cost"] or 1.0) - 1.0)))
    console.print(f"[green]default temperature[/] {best:g} (out of distribution no more than the data, or the least; "
                  "then the attributes nearest the data's)", highlight=False)
    out = {"temperature": best, "chosen_by": "the lowest out-of-distribution rate of prior samples above the held-out "
           "data's own (rates at or below it count as equal), then the smallest mean distance of the attributes' "
           "means from the data's (in data standard deviations), then the 5-gram cost nearest the data's "
           "(musicvae fit-prior --sweep)", "prior": model.prior_name(None),
           "n": n, "sweep": {f"{t:g}": row for t, row in rows.items()}}
    if model.rhythm_temperature is not None:
        out["rhythm_temperature"] = model.rhythm_temperature
    return out


@app.command("fit-prior")
def fit_prior_cmd(
    model_dir: Path = typer.Argument(..., help="Exported model dir (musicvae export); prior.safetensors is written there."),
    data: Path = typer.Option(..., "--data", help="Prepared data the model was trained on (its train and eval splits)."),
    components: int = typer.Option(8, "--components", min=1, max=256, help="Gaussian mixture components."),
    scale: float = typer.Option(0.85, "--scale", min=0.05, max=2.0,
                                help="Scale of every component's spread (< 1: draws nearer the centres; 0.85 won in "
                                     "experiments/results/prior_holes)."),
    limit: int = typer.Option(20000, "--limit", min=16, help="Training windows whose codes are fitted."),
    n: int = typer.Option(2000, "--n", min=2, help="Prior samples (and held-out windows) measured per prior."),
    temperature: float = typer.Option(0.5, "--temperature", min=0.0, help="Sampling temperature of the measurement."),
    seed: int = typer.Option(0, "--seed"),
    measure_only: bool = typer.Option(False, "--measure-only",
                                      help="Record the samples figures of N(0, I) (and an existing prior) only."),
    sweep: str = typer.Option("", "--sweep", help="Comma-separated temperatures, e.g. 0.5,0.7,0.85,1: measure the "
                              "model's prior samples at each and record as its default temperature the one whose "
                              "out-of-distribution rate exceeds the held-out data's least (ties: the attributes "
                              "nearest the data's, then the 5-gram cost nearest the data's)."),
    rhythm_temperature: float = typer.Option(None, "--rhythm-temperature", min=0.01, max=10.0,
                                             help="Melody models: draw the rhythm (hold, note-off, note-on) at this "
                                             "temperature and only the pitches at the sampling temperature; measured "
                                             "and, with --sweep, recorded as the model's."),
) -> None:
    """Fit a Gaussian mixture to the training codes (the aggregate posterior) so sampling avoids prior holes."""
    import numpy as np

    from ..evaluation import studies as st
    from ..generation import InputError, TrainedModel
    from ..generation.prior import PRIOR_FILE, fit_prior
    from ..utils.stored import file_record, read_json
    from ..utils.io import atomic_write_bytes, atomic_write_json

    with user_errors():
        temps = _temperatures(sweep)
        if not (model_dir / "model.json").is_file():
            raise InputError(f"{model_dir}: not an exported model dir (no model.json); run musicvae export first")
        model = TrainedModel.load(model_dir)
        if model.model.learned_prior or not model.has_latent:
            raise InputError(f"{model_dir}: fit-prior is for MusicVAE models with a Gaussian prior")
        ev = check_data(data, model)
        train = load_split(data, "train")
        if not measure_only:
            pick = st.select_windows(len(train), limit, seed)
            codes = model.token_codes(np.asarray(train.tokens[pick], dtype=np.int64))  # (N, Z)
            prior = fit_prior(codes, components, seed=seed)
            prior.chol = prior.chol * scale
            prior.info.update({"data": str(data), "windows": str(len(pick)), "scale": str(scale)})
            blob = prior.to_bytes()
            atomic_write_bytes(model_dir / PRIOR_FILE, blob)
            meta = read_json(model_dir / "model.json")
            meta.setdefault("files", {})[PRIOR_FILE] = file_record(blob)  # flipped bits are refused on load
            atomic_write_json(model_dir / "model.json", meta)
            console.print(f"[green]fitted[/] a {components}-component Gaussian mixture (spread x{scale:g}) to {len(pick)} training codes "
                          f"-> {model_dir / PRIOR_FILE}", highlight=False)
            model = TrainedModel.load(model_dir)
        if rhythm_temperature is not None:  # what the samples below are drawn with (and --sweep records)
            model.rhythm_temperature = rhythm_temperature
        lm, _ = st.fit_lm(train.tokens, model.model.vocab_sizes, seed)
        tokens = np.asarray(ev.tokens[st.select_windows(len(ev), n, seed)], dtype=np.int64)
        figures, studied = {}, {}
        for name in ("standard", "fitted") if model.fitted_prior is not None else ("standard",):
            res = studied[name] = st.samples_study(model, tokens, n, seed, temperature, lm=lm, prior=name)
            figures[name] = _summary(res)
            cost = res.get("relative_5gram_cost")
            console.print(f"{name} prior: out-of-distribution {100 * res['ood_rate']:.2f} % (data "
                          f"{100 * res['ood_rate_data']:.2f} %), relative 5-gram cost {cost:.3f}, "
                          f"{100 * res['unique_fraction']:.1f} % distinct", highlight=False)
        meta = read_json(model_dir / "model.json")
        meta.setdefault("info", {})["samples"] = {**figures, "data": str(data), "seed": seed}
        if temps:
            # the study of the prior sampling uses, at the measurement's temperature, is made above already
            meta["sampling"] = _sweep(model, tokens, n, seed, lm, temps, {temperature: studied[model.prior_name(None)]})
        atomic_write_json(model_dir / "model.json", meta)
        console.print(f"[green]recorded[/] the samples figures in {model_dir / 'model.json'}", highlight=False)
