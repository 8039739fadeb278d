"""Experiment: MCVAE (bar VAE + mixture-density composer) vs. the bar VAE alone on long folk melodies (issue 7).

Place in the flow: bundled ``folk`` corpus -> ``musicvae prepare --kind melody --bars 1`` (the
bar VAE's data) and ``--kind bars --bars 16`` (whole songs of 16 bars or more) -> ``musicvae
train --preset mcvae-bar_cpu`` -> ``musicvae train --preset mcvae-composer_cpu --vae RUN``
(``_tiny`` with ``--tiny``, full size with ``--full``) -> interpolations between pairs of
held-out songs and 25-bar compositions seeded by one bar, scored by a 5-gram model of the
training songs -> ``experiments/results/mcvae_vs_vae/`` (report.md, report.json,
interpolation.png, compositions.png, curves.png).

The claim (the MCVAE thesis): a composer that predicts each bar's code from the bars before
gives music the 5-gram model finds more probable, with a lower spread, than the bar VAE alone.

The thesis's Algorithms 1-4 are not reproduced in this repository; this script implements the
reading written out in :data:`ALGORITHMS` (and in every report). With ``a_i``, ``b_i`` the
posterior means of bar i of songs A and B, ``slerp`` spherical interpolation, and ``P(h)`` the
composer's prediction after the codes ``h`` (the mean of its most likely component):

* data: each 16th step taken from B with probability alpha, else from A (the MusicVAE paper's
  data interpolation, over the songs' first bars);
* bar VAE alone: ``z_i = slerp(a_i, b_i, alpha)``, each bar decoded on its own;
* MCVAE, unconditional: the composer reads the interpolated codes and predicts every bar after
  the first, ``z_1 = slerp(a_1, b_1, alpha)``, ``z_i = P(z_1..z_{i-1})``;
* MCVAE, conditional: the composer reads each song's own bars and its two predictions are
  interpolated, ``z_i = slerp(P(a_1..a_{i-1}), P(b_1..b_{i-1}), alpha)`` (bar 1 as above).

Compositions: the first bar of each held-out song, then 24 bars from the composer (sampled at
the given mixture and sigma temperatures: MCVAE) or 24 independent prior draws (bar VAE alone);
the data reference is the songs' own first 25 bars.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/mcvae_vs_vae.py            # _cpu presets
    .venv/bin/python experiments/mcvae_vs_vae.py --tiny --out /tmp/mcvae        # seconds
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from common import (EXPERIMENT_NOTE, ROOT, Experiment, ExperimentError, _shell, duration, main_guard, parser,
                    pick_mode, read_curve, rel)
from plots import plot_curves

NAME = "mcvae_vs_vae"
BAR_PRESET, COMPOSER_PRESET = "mcvae-bar", "mcvae-composer"
CPU_STEPS, TINY_STEPS = 10_000, 20  # bar VAE training steps
COMPOSER_TINY_STEPS = 30  # the composer's presets give the other sizes' steps
ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.9)
INTERP_BARS = 16  # interpolations span the first 16 bars of both songs (every song has them)
COMPOSE_BARS = 25
PAIRS_CPU = 256  # default interpolation pairs (--n overrides); tiny mode uses its n (16)
METHODS = ("data", "bar VAE", "MCVAE")
ALGORITHMS = {
    "data": "each 16th step of the first 16 bars taken from song B with probability alpha, else from song A",
    "bar VAE": "z_i = slerp(a_i, b_i, alpha) for every bar i, each bar decoded on its own (no context)",
    "MCVAE, unconditional": "z_1 = slerp(a_1, b_1, alpha); z_i = P(z_1..z_{i-1}): the composer reads the "
                            "interpolated piece so far and predicts its next bar",
    "MCVAE, conditional": "z_1 = slerp(a_1, b_1, alpha); z_i = slerp(P(a_1..a_{i-1}), P(b_1..b_{i-1}), alpha): "
                          "the composer reads each song's own bars and its two predictions are interpolated",
}


# ------------------------------------------------------------------ latent helpers
def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of ``(..., Z)`` arrays row by row (linear where the angle is ~0 or ~pi)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a, axis=-1, keepdims=True), np.linalg.norm(b, axis=-1, keepdims=True)
    cos = np.clip(np.sum(a * b, axis=-1, keepdims=True) / np.maximum(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    s = np.sin(omega)
    linear = (s < 1e-4) | (na == 0) | (nb == 0)
    safe = np.where(linear, 1.0, s)
    wa = np.where(linear, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    wb = np.where(linear, t, np.sin(t * omega) / safe)
    return (wa * a + wb * b).astype(np.float32)


def predict_next(composer, z: np.ndarray) -> np.ndarray:
    """``(B, N, Z)`` codes -> ``(B, N, Z)``: after each prefix ``z[:, :t+1]``, the mean of the likeliest component."""
    import torch

    from musicvae.models.modules.mdn import mdn_sample

    dev = next(composer.parameters()).device
    with torch.no_grad():
        params, _ = composer.run(torch.as_tensor(z, dtype=torch.float32, device=dev))
        return mdn_sample(params, 0.0, 0.0).cpu().numpy()


def decode(mc, z: np.ndarray, temperature: float, gen, batch: int = 256) -> np.ndarray:
    """Codes ``(B, n, Z)`` -> canonical melody tokens ``(B, n * 16)`` (each bar decoded on its own)."""
    import torch

    dev = next(mc.bar_vae.parameters()).device
    out = []
    for lo in range(0, len(z), batch):
        zt = torch.as_tensor(z[lo: lo + batch], dtype=torch.float32, device=dev)
        out.append(mc.decode_bars(zt, temperature, gen)[..., 0].cpu().numpy())
    return canonical(np.concatenate(out) if out else np.zeros((0, z.shape[1] * 16), np.int64))


def canonical(tokens: np.ndarray) -> np.ndarray:
    """Melody tokens ``(B, T)`` as heard (no orphan note-offs), the form the 5-gram model was fitted on."""
    from musicvae.representations.bars import BarConverter

    conv = BarConverter()
    return np.stack([conv.canonicalize(t).reshape(-1) for t in tokens]) if len(tokens) else tokens


def logprob(lm, tokens: np.ndarray) -> np.ndarray:
    """5-gram log-probability per 16th step (nats; higher = more probable), one per sequence."""
    return -lm.costs(np.asarray(tokens, dtype=np.int64))


# ------------------------------------------------------------------ the studies
def interpolation_study(mc, a_bars: np.ndarray, b_bars: np.ndarray, lm, temperature: float, seed: int,
                        log=None) -> dict:
    """Pairs of songs ``(P, n, 16)`` -> 5-gram log-probabilities per step ``(P,)`` per setting, method and alpha."""
    import torch

    from musicvae.evaluation.studies import bernoulli_mix

    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=next(mc.bar_vae.parameters()).device).manual_seed(seed)
    p, n = a_bars.shape[:2]
    enc = mc.encode_bars(torch.as_tensor(np.concatenate([a_bars, b_bars])[..., None]))  # (2P, n, Z)
    codes = enc.cpu().numpy()
    a, b = codes[:p], codes[p:]
    pa, pb = predict_next(mc.composer, a[:, :-1]), predict_next(mc.composer, b[:, :-1])  # (P, n-1, Z)
    flat_a, flat_b = a_bars.reshape(p, -1), b_bars.reshape(p, -1)
    mixed = bernoulli_mix(flat_a[..., None], flat_b[..., None], ALPHAS, rng)[..., 0]  # (P, S, T)
    out: dict = {"unconditional": {m: {} for m in METHODS}, "conditional": {m: {} for m in METHODS}}
    for j, alpha in enumerate(ALPHAS):
        z = slerp(a, b, alpha)  # (P, n, Z)
        data = logprob(lm, canonical(mixed[:, j]))
        vae = logprob(lm, decode(mc, z, temperature, gen))
        unc = np.concatenate([z[:, :1], predict_next(mc.composer, z[:, :-1])], axis=1)
        cond = np.concatenate([z[:, :1], slerp(pa, pb, alpha)], axis=1)
        key = f"{alpha:g}"
        for setting, mc_codes in (("unconditional", unc), ("conditional", cond)):
            out[setting]["data"][key] = data
            out[setting]["bar VAE"][key] = vae
            out[setting]["MCVAE"][key] = logprob(lm, decode(mc, mc_codes, temperature, gen))
        if log:
            log(f"  alpha {alpha:g}: data {data.mean():.3f}, bar VAE {vae.mean():.3f}, MCVAE unconditional "
                f"{out['unconditional']['MCVAE'][key].mean():.3f}, conditional "
                f"{out['conditional']['MCVAE'][key].mean():.3f} nats per step")
    return out


def composition_study(mc, songs: list[np.ndarray], lm, temperature: float, mixture_temperature: float,
                      sigma_temperature: float, seed: int) -> dict:
    """25-bar pieces from each song's first bar: MCVAE, bar VAE alone (prior draws), and the songs themselves."""
    import torch

    dev = next(mc.bar_vae.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    first = np.stack([s[:1] for s in songs])  # (S, 1, 16)
    seed_codes = mc.encode_bars(torch.as_tensor(first[..., None]))  # (S, 1, Z)
    z_mc = mc.compose_latents(COMPOSE_BARS, seed_codes, mixture_temperature=mixture_temperature,
                              sigma_temperature=sigma_temperature, generator=gen).cpu().numpy()
    prior = torch.randn(len(songs), COMPOSE_BARS - 1, mc.z_size, generator=gen, device=dev)
    z_vae = torch.cat([seed_codes, prior], dim=1).cpu().numpy()
    long_songs = [s[:COMPOSE_BARS].reshape(-1) for s in songs if len(s) >= COMPOSE_BARS]
    out = {"MCVAE": logprob(lm, decode(mc, z_mc, temperature, gen)),
           "bar VAE": logprob(lm, decode(mc, z_vae, temperature, gen)),
           "data": logprob(lm, canonical(np.stack(long_songs))) if long_songs else np.zeros(0)}
    return {m: out[m] for m in METHODS}


def stats(values: np.ndarray) -> dict:
    v = np.asarray(values, np.float64)
    if not len(v):
        return {"n": 0, "mean": None, "std": None, "median": None}
    return {"n": int(len(v)), "mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)),
            "q1": float(np.quantile(v, 0.25)), "q3": float(np.quantile(v, 0.75))}


def verdict(groups: list[dict[str, np.ndarray]]) -> dict:
    """MCVAE vs. bar VAE over a list of ``{method: values}`` groups: mean log-probability and spread."""
    mc_mean = float(np.mean([np.mean(g["MCVAE"]) for g in groups]))
    vae_mean = float(np.mean([np.mean(g["bar VAE"]) for g in groups]))
    mc_std = float(np.mean([np.std(g["MCVAE"]) for g in groups]))
    vae_std = float(np.mean([np.std(g["bar VAE"]) for g in groups]))
    return {"mcvae_mean": mc_mean, "bar_vae_mean": vae_mean, "mcvae_std": mc_std, "bar_vae_std": vae_std,
            "higher_probability": bool(mc_mean > vae_mean), "lower_spread": bool(mc_std < vae_std),
            "holds": bool(mc_mean > vae_mean and mc_std < vae_std)}


# ------------------------------------------------------------------ plots
COLORS = {"data": "#999999", "bar VAE": "#1f77b4", "MCVAE": "#d62728"}


def _boxes(ax, groups: dict[str, dict[str, np.ndarray]], title: str, xlabel: str) -> None:
    """Grouped box plots: one group per outer key (alpha), one box per method."""
    width = 0.8 / len(METHODS)
    for g, (label, by_method) in enumerate(groups.items()):
        for m, method in enumerate(METHODS):
            values = np.asarray(by_method.get(method, []), np.float64)
            if not len(values):
                continue
            box = ax.boxplot([values], positions=[g + (m - (len(METHODS) - 1) / 2) * width], widths=width * 0.9,
                             patch_artist=True, showfliers=False, manage_ticks=False)
            for patch in box["boxes"]:
                patch.set_facecolor(COLORS[method])
                patch.set_alpha(0.75)
            for line in box["medians"]:
                line.set_color("black")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(list(groups))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("5-gram log-probability per 16th (nats)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(facecolor=COLORS[m], alpha=0.75, label=m) for m in METHODS], fontsize=8)


def plot_interpolation(interp: dict) -> bytes:
    from musicvae.evaluation.report import _figure, _png

    fig = _figure(12, 4.0)
    for i, setting in enumerate(("unconditional", "conditional")):
        res = interp[setting]
        groups = {k: {m: res[m][k] for m in METHODS} for k in res["data"]}
        _boxes(fig.add_subplot(1, 2, i + 1), groups, f"{setting} interpolation ({INTERP_BARS} bars)", "alpha")
    return _png(fig)


def plot_compositions(comp: dict) -> bytes:
    from musicvae.evaluation.report import _figure, _png

    fig = _figure(5.5, 4.0)
    _boxes(fig.add_subplot(1, 1, 1), {f"{COMPOSE_BARS} bars from 1": comp}, "Compositions seeded by one bar", "")
    return _png(fig)


# ------------------------------------------------------------------ data and runs
def ensure_songs(exp: Experiment, source: str) -> Path:
    """The whole-song folder (``--songs`` or ``data/<source>-bars16``), prepared when it has no manifest."""
    songs = Path(exp.args.songs) if exp.args.songs else ROOT / "data" / f"{Path(source).name}-bars16"
    manifest = songs / "manifest.json"
    if manifest.is_file():
        try:
            m = json.loads(manifest.read_text())
        except json.JSONDecodeError as exc:
            raise ExperimentError(f"{manifest}: unreadable ({exc.msg})") from None
        if m.get("kind") != "bars":
            raise ExperimentError(f"{manifest}: {m.get('bars')}-bar {m.get('kind')} windows, but --songs needs whole "
                                  f"songs (prepare --kind bars --bars 16)")
        exp.log(f"songs: {songs} (already prepared)")
    else:
        exp.musicvae(["prepare", source, "--kind", "bars", "--bars", "16", "--out", str(songs), "--workers", "1"])
    return songs


def train_composer(exp: Experiment, songs: Path, bar_run: Path) -> dict:
    """``musicvae train --preset mcvae-composer* --vae BAR_RUN`` unless that composer is already trained."""
    from musicvae.presets import get_preset
    from musicvae.generation.compose import load_bar_vae
    from musicvae.generation.windows import InputError
    from musicvae.models.mcvae import bar_vae_fingerprint

    preset = COMPOSER_PRESET + exp.mode.suffix
    steps = exp.args.composer_steps
    if steps is None:
        steps = COMPOSER_TINY_STEPS if exp.mode.name == "tiny" else int(get_preset(preset).train.steps)
    out = exp.runs / preset
    cmd = ["train", "--preset", preset, "--data", str(songs), "--out", str(out), "--vae", str(bar_run),
           "--steps", str(steps), "--device", exp.device, *(a for s in exp.args.overrides for a in ("--set", s))]
    info = {"preset": preset, "run": rel(out), "steps_requested": steps, "command": _shell(["musicvae", *cmd])}
    from musicvae.training.checkpoint import find_latest

    latest = find_latest(out) if (out / "checkpoints").is_dir() else None
    if latest is not None:  # an ordinary run: its latest checkpoint records the config and the bar VAE
        doc = json.loads((latest / "trainer.json").read_text())
        try:
            current = bar_vae_fingerprint(load_bar_vae(bar_run)[0])
        except InputError as exc:
            raise ExperimentError(str(exc)) from None
        if doc.get("bar_vae") != current:
            raise ExperimentError(f"{out}: this composer learnt another bar VAE ({doc.get('bar_vae')}; {bar_run} is "
                                  f"now {current}): remove it to train a new one")
        trained = doc.get("config", {}).get("train", {}).get("steps")
        if trained != steps:
            raise ExperimentError(f"{out}: was trained for {trained} steps, not {steps}: remove it or give another --runs")
        done = [r for r in read_curve(out)["train"] if r.get("step") == steps and "eval_nll" in r]
        if not done:
            raise ExperimentError(f"{out}: training stopped before step {steps}: remove it and run again")
        exp.log(f"{out}: composer already trained ({steps} steps)")
    else:
        if out.exists() and any(out.iterdir()):
            raise ExperimentError(f"{out}: holds an unfinished composer run (no checkpoint): remove it")
        exp.log(f"training the composer {preset} for {steps} steps over {bar_run}")
        exp.musicvae(cmd)
    doc = json.loads((out / "checkpoints" / "best" / "trainer.json").read_text())  # the weights compose reads
    info.update(step=doc.get("step"), metrics=doc.get("metrics", {}), bar_vae=doc.get("bar_vae"),
                composer=doc.get("composer"))
    return info


def held_out_songs(songs: Path, split: str) -> list[np.ndarray]:
    from musicvae.data.latents import LatentDataError, songs_from_prepared

    try:
        return [bars for _, bars in songs_from_prepared(songs, split)]
    except LatentDataError as exc:
        raise ExperimentError(str(exc)) from None


# ------------------------------------------------------------------ report
def markdown(setup: dict, runs: dict, interp_stats: dict, comp_stats: dict, found: dict) -> list[str]:
    from musicvae.evaluation.report import _f, _table

    bar, comp = runs["bar_vae"], runs["composer"]
    cm = comp.get("metrics", {})
    lines = ["# MCVAE vs. the bar VAE alone: interpolation and composition (issue 7)", "",
             "**Claim (the MCVAE thesis).** A composer LSTM that predicts each bar's latent code from the bars "
             "before (a mixture of Gaussians over the next code) gives music that a 5-gram model finds more "
             "probable, and with a lower spread, than the bar VAE's codes alone.", "",
             f"> {EXPERIMENT_NOTE}", "",
             f"- data: bar VAE on {setup['mel1']} (1-bar melody windows); composer and evaluation on "
             f"{setup['songs']} (whole songs of 16 bars or more: {setup['train_songs']:,} train, "
             f"{setup['eval_songs']:,} held-out)",
             f"- bar VAE: `{bar['preset']}`, step {bar.get('step_evaluated')} "
             f"({duration(bar.get('train_seconds_total', 0))} of training steps)",
             f"- composer: `{comp['preset']}`, {comp['steps_requested']} steps; held-out NLL "
             f"{_f(cm.get('eval_nll'), 2)} nats per bar (one Gaussian fitted to the training codes: "
             f"{_f(cm.get('eval_nll_unconditional'), 2)}); {cm.get('train_songs', '?')} train / "
             f"{cm.get('eval_songs', '?')} held-out songs after the length filter",
             f"- 5-gram model (order 5, modified Kneser-Ney) of {setup['lm_songs']:,} training songs; score = "
             "log-probability per 16th step (nats, higher = more probable) of each piece as heard (canonical "
             "tokens)",
             f"- decoder temperature {setup['temperature']:g}; compositions: mixture temperature "
             f"{setup['mixture_temperature']:g}, sigma temperature {setup['sigma_temperature']:g}; seed "
             f"{setup['seed']}", "",
             "## The algorithms (our reading)", "",
             "The thesis's Algorithms 1-4 are not available in this repository; these are the definitions used "
             "here. a_i, b_i: posterior means of bar i of songs A and B; P(h): the composer's prediction after "
             "the codes h (the mean of its most likely mixture component).", ""]
    lines += [f"- **{name}**: {text}" for name, text in ALGORITHMS.items()]
    lines += ["", f"## Interpolation ({setup['pairs']} pairs of held-out songs, their first {INTERP_BARS} bars)", ""]
    for setting in ("unconditional", "conditional"):
        rows = []
        for key in interp_stats[setting]["data"]:
            rows.append([key, *(f"{_f(interp_stats[setting][m][key]['mean'])} ± {_f(interp_stats[setting][m][key]['std'])}"
                                for m in METHODS)])
        lines += [f"**{setting.capitalize()}** (mean ± std over pairs; MCVAE = \"MCVAE, {setting}\" above):", ""]
        lines += _table(["alpha", *METHODS], rows)
        v = found[setting]
        lines += [f"MCVAE vs. bar VAE over all alphas: mean {v['mcvae_mean']:.3f} vs {v['bar_vae_mean']:.3f} "
                  f"nats per step ({'higher' if v['higher_probability'] else 'not higher'}), spread "
                  f"{v['mcvae_std']:.3f} vs {v['bar_vae_std']:.3f} "
                  f"({'lower' if v['lower_spread'] else 'not lower'}).", ""]
    lines += ["![interpolation](interpolation.png)", "",
              f"## Compositions ({COMPOSE_BARS} bars from the first bar of {setup['compositions']} held-out songs)", ""]
    rows = [[m, str(comp_stats[m]["n"]), _f(comp_stats[m]["mean"]), _f(comp_stats[m]["std"]),
             _f(comp_stats[m]["median"])] for m in METHODS]
    lines += _table(["method", "pieces", "mean", "std", "median"], rows)
    v = found["compositions"]
    lines += [f"The data row holds the held-out songs of {COMPOSE_BARS} bars or more (their first {COMPOSE_BARS} bars). "
              f"MCVAE vs. bar VAE: mean {v['mcvae_mean']:.3f} vs {v['bar_vae_mean']:.3f} "
              f"({'higher' if v['higher_probability'] else 'not higher'}), spread {v['mcvae_std']:.3f} vs "
              f"{v['bar_vae_std']:.3f} ({'lower' if v['lower_spread'] else 'not lower'}).", "",
              "![compositions](compositions.png)", "", "## Verdict", "",
              f"Higher 5-gram probability and lower spread for the MCVAE than for the bar VAE alone: "
              f"unconditional interpolation **{'yes' if found['unconditional']['holds'] else 'no'}**, conditional "
              f"interpolation **{'yes' if found['conditional']['holds'] else 'no'}**, compositions "
              f"**{'yes' if found['compositions']['holds'] else 'no'}**.", "",
              "## Training curves", "", "Bar VAE: held-out accuracy and KL; composer: NLL per bar (nats).", "",
              "![training curves](curves.png)", ""]
    return lines


def run(exp: Experiment) -> None:
    import torch

    from musicvae.evaluation.ngram import NGramLM
    from musicvae.evaluation.studies import LM_ORDER, draw_pairs, select_windows
    from musicvae.training.checkpoint import find_latest
    from musicvae.generation.compose import load_mcvae
    from musicvae.generation.windows import InputError

    args, seed = exp.args, exp.args.seed
    torch.manual_seed(seed)
    for name in ("temperature", "mixture_temperature", "sigma_temperature"):
        if getattr(args, name) < 0:
            raise ExperimentError(f"--{name.replace('_', '-')} must be >= 0")
    if args.checkpoint != "latest":
        raise ExperimentError("--checkpoint best: the composer learns the codes of the bar VAE's latest checkpoint "
                              "(what `train --vae RUN` reads), so both are evaluated there")
    if args.composer_steps is not None and args.composer_steps < 1:
        raise ExperimentError(f"--composer-steps must be at least 1, got {args.composer_steps}")
    mel1 = exp.ensure_data("melody", 1, corpus=args.source)
    songs_dir = ensure_songs(exp, args.source)
    bar = exp.train(BAR_PRESET + exp.mode.suffix, mel1)
    bar_run = exp.runs / Path(bar["run"]).name
    comp = train_composer(exp, songs_dir, bar_run)
    try:
        mc = load_mcvae(exp.runs / Path(comp["run"]).name, device=exp.device)
    except InputError as exc:
        raise ExperimentError(str(exc)) from None
    latest = find_latest(bar_run)  # the checkpoint the composer learnt (`--vae RUN` reads the latest)
    bar["step_evaluated"] = int(json.loads((latest / "trainer.json").read_text())["step"]) if latest else None

    train_songs, eval_songs = held_out_songs(songs_dir, "train"), held_out_songs(songs_dir, "eval")
    usable = [s for s in eval_songs if len(s) >= INTERP_BARS]
    if len(usable) < 2:
        raise ExperimentError(f"{songs_dir}: the eval split holds {len(usable)} song(s) of {INTERP_BARS} bars or "
                              "more; need at least 2")
    if not train_songs:
        raise ExperimentError(f"{songs_dir}: the train split is empty: no songs for the 5-gram model")
    lm_idx = select_windows(len(train_songs), exp.mode.lm_limit, seed)
    exp.log(f"fitting the 5-gram model on {len(lm_idx):,} training songs")
    lm = NGramLM.fit([train_songs[i].reshape(-1).astype(np.int64) for i in lm_idx], order=LM_ORDER)

    n_pairs = args.n if args.n is not None else (exp.mode.n if exp.mode.name == "tiny" else PAIRS_CPU)
    ia, ib = draw_pairs(len(usable), n_pairs, np.random.default_rng(seed))
    a = np.stack([usable[i][:INTERP_BARS] for i in ia]).astype(np.int64)
    b = np.stack([usable[i][:INTERP_BARS] for i in ib]).astype(np.int64)
    exp.log(f"interpolating {n_pairs} pairs of held-out songs at alpha {', '.join(f'{x:g}' for x in ALPHAS)}")
    interp = interpolation_study(mc, a, b, lm, args.temperature, seed, log=exp.log)
    seeds = [eval_songs[i] for i in select_windows(len(eval_songs), exp.mode.n, seed)]
    exp.log(f"composing {COMPOSE_BARS} bars from the first bar of {len(seeds)} held-out songs")
    comp_scores = composition_study(mc, seeds, lm, args.temperature, args.mixture_temperature,
                                    args.sigma_temperature, seed)

    interp_stats = {s: {m: {k: stats(v) for k, v in interp[s][m].items()} for m in METHODS} for s in interp}
    comp_stats = {m: stats(v) for m, v in comp_scores.items()}
    found = {s: verdict([{m: interp[s][m][k] for m in METHODS} for k in interp[s]["data"]]) for s in interp}
    found["compositions"] = verdict([comp_scores])
    setup = {"mel1": rel(mel1), "songs": rel(songs_dir), "train_songs": len(train_songs),
             "eval_songs": len(eval_songs), "eval_songs_used": len(usable), "pairs": int(n_pairs),
             "lm_songs": len(lm_idx), "compositions": len(seeds), "alphas": list(ALPHAS),
             "interp_bars": INTERP_BARS, "compose_bars": COMPOSE_BARS, "temperature": args.temperature,
             "mixture_temperature": args.mixture_temperature, "sigma_temperature": args.sigma_temperature,
             "seed": seed, "algorithms": ALGORITHMS}
    composer_curve = read_curve(exp.runs / Path(comp["run"]).name)["train"]
    curves_bar = {"bar VAE": bar["curve"]}
    runs = {"bar_vae": {k: v for k, v in bar.items() if k != "curve"}, "composer": comp}
    results = {"claim": "MCVAE: higher 5-gram probability and lower spread than the bar VAE alone",
               "setup": setup, "runs": runs, "interpolation": interp_stats, "compositions": comp_stats,
               "comparison": found, "holds": bool(all(v["holds"] for v in found.values())),
               "scores": {"interpolation": interp, "compositions": comp_scores},
               "curves": {"bar_vae": bar["curve"], "composer": composer_curve}}
    plots = {"interpolation.png": plot_interpolation(interp), "compositions.png": plot_compositions(comp_scores),
             "curves.png": plot_curves({**curves_bar, "composer": {"train": [r for r in composer_curve
                                                                              if "nll" in r],
                                                                   "eval": [r for r in composer_curve
                                                                            if "eval_nll" in r]}},
                                       [("eval", "tf_accuracy", "bar VAE: teacher-forced accuracy (held-out)"),
                                        ("train", "kl_bits", "bar VAE: KL (bits, training)"),
                                        ("eval", "eval_nll", "composer: held-out NLL (nats per bar)")])}
    exp.write(results, markdown(setup, runs, interp_stats, comp_stats, found), plots)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--songs", type=Path, help="Prepared whole-song folder (prepare --kind bars --bars 16; default "
                                              "data/folk-bars16, prepared when missing). --data is the bar VAE's "
                                              "1-bar melody folder (default data/folk-mel1).")
    p.add_argument("--source", default="folk", help="Corpus or MIDI folder the missing data folders are prepared "
                                                    "from (default folk).")
    p.add_argument("--composer-steps", type=int, help="Composer training steps (default: its preset's; tiny: 30).")
    p.add_argument("--temperature", type=float, default=0.5, help="Bar decoder temperature (default 0.5).")
    p.add_argument("--mixture-temperature", type=float, default=1.0, help="Compositions: composer mixture temperature.")
    p.add_argument("--sigma-temperature", type=float, default=1.0, help="Compositions: composer sigma temperature.")
    args = p.parse_args(argv)
    exp = Experiment(NAME, args, pick_mode(args, CPU_STEPS, TINY_STEPS), argv)
    main_guard(lambda: run(exp))


if __name__ == "__main__":
    main()
