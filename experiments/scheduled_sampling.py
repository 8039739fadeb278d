"""Experiment: 2-bar folk melodies with and without scheduled sampling (workshop paper, Table 1).

Place in the flow: bundled ``folk`` corpus -> ``musicvae prepare --kind melody --bars 2`` ->
``musicvae train`` of ``cat-mel_2bar_small_cpu`` twice, the same number of steps: once with
``--set train.sampling_schedule=constant --set train.sampling_rate=0`` (always teacher forcing),
once with an inverse-sigmoid schedule (magenta's ``cat-mel_2bar_small``: rate 1000, so the share
of fed-back samples passes 50 % near step 7,000; a ``_cpu`` run is shorter, so its rate is scaled
to pass 50 % at 40 % of the run, see :func:`scaled_rate`); both runs with the full preset's free
bits (0 for 2-bar melodies; the ``_cpu`` preset's 128-bit floor would pin both KLs to it) ->
:func:`musicvae.evaluation.studies.reconstruction_study` on the held-out split ->
``experiments/results/scheduled_sampling/`` (report.md, report.json, accuracy.png, curves.png).

The claim (Roberts et al., "Hierarchical Variational Autoencoders for Music", NIPS 2017
workshop, Table 1, 2-bar melodies): scheduled sampling raises sampled accuracy (0.951 -> 0.987)
with teacher-forced accuracy about equal (0.986 -> 0.989), and the KL grows (72.9 -> 76.2 nats):
a decoder trained on its own samples leans on the latent code more.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/scheduled_sampling.py             # _cpu presets
    .venv/bin/python experiments/scheduled_sampling.py --tiny --out /tmp/ss            # seconds
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from common import EXPERIMENT_NOTE, Experiment, duration, main_guard, parser, pick_mode, rel
from plots import accuracy_groups, plot_bars, plot_curves

NAME = "scheduled_sampling"
PRESET = "cat-mel_2bar_small"
CPU_STEPS, TINY_STEPS = 5_000, 20
TINY_RATE = 5.0  # inverse-sigmoid rate for --tiny: the share of samples passes 90 % by step 20
HALF_AT = 0.4  # _cpu runs: the share of fed-back samples passes 50 % at this fraction of the run
#: workshop paper, Table 1, 2-bar melody: teacher-forced, sampled accuracy, KL (nats)
PAPER = {"without": {"tf": 0.986, "sampled": 0.951, "kl_nats": 72.9},
         "with": {"tf": 0.989, "sampled": 0.987, "kl_nats": 76.2}}


def scaled_rate(steps: int, half_at: float = HALF_AT) -> float:
    """Inverse-sigmoid rate k whose share of fed-back samples, 1 - k / (k + exp(step / k)), is 1/2 at
    ``half_at * steps``: that is where exp(step / k) = k, i.e. k ln k = half_at * steps (solved by
    bisection; k >= e). Magenta's rate 1000 puts 50 % at step ~6,900, later than a whole CPU run."""
    target = max(half_at * steps, float(np.e))
    lo, hi = float(np.e), max(target, 3.0)
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mid * np.log(mid) < target else (lo, mid)
    return round((lo + hi) / 2, 1)


def schedules(mode: str, steps: int | None) -> dict[str, list[str]]:
    """``--set`` overrides of the two runs: the full preset's (magenta's) schedule and free bits, with
    the rate scaled to the run length in ``cpu`` mode (and very fast in ``tiny`` mode)."""
    from musicvae.presets import get_preset

    full = get_preset(PRESET).train
    rate = {"tiny": TINY_RATE, "full": full.sampling_rate}.get(mode) or scaled_rate(int(steps or full.steps))
    bits = [f"train.free_bits={full.free_bits:g}"] if mode != "tiny" else []
    return {"without": [*bits, "train.sampling_schedule=constant", "train.sampling_rate=0"],
            "with": [*bits, f"train.sampling_schedule={full.sampling_schedule}", f"train.sampling_rate={rate:g}"]}


def markdown(runs: dict, recs: dict, setup: dict, found: dict) -> list[str]:
    from musicvae.evaluation.report import _f, _table

    lines = ["# Scheduled sampling, 2-bar melodies (workshop paper, Table 1)", "",
             "**Claim.** Training the decoder on its own samples (scheduled sampling) raises the accuracy of "
             f"free-running sampling: {PAPER['without']['sampled']:.3f} -> {PAPER['with']['sampled']:.3f} in the "
             f"paper, with teacher-forced accuracy about equal ({PAPER['without']['tf']:.3f} -> "
             f"{PAPER['with']['tf']:.3f}); and the KL grows ({PAPER['without']['kl_nats']} -> "
             f"{PAPER['with']['kl_nats']} nats): the decoder relies on the latent code more.", "",
             f"> {EXPERIMENT_NOTE}", "",
             f"- data: {setup['data']} ({setup['eval_windows']:,} held-out 2-bar windows, {setup['n_used']} used)",
             f"- both runs: `{setup['preset']}`, {setup['steps']} steps, batch {setup['batch_size']}, free bits "
             f"{setup['free_bits']:g}, max beta {setup['max_beta']:g}, beta rate {setup['beta_rate']:g}; they differ "
             "only in the sampling schedule:"]
    for label, run in runs.items():
        lines.append(f"  - {label} scheduled sampling: `{' '.join('--set ' + s for s in run['overrides'])}` "
                     f"(evaluated at step {run['step']}; {duration(run['train_seconds_total'])} of training steps; "
                     f"share of fed-back samples at the last step {run['final_sampling_prob']:.2f})")
    lines += ["", "## Held-out reconstruction", "",
              "Per-step accuracy from the posterior sample z: with teacher forcing; **sampled as magenta measures it** "
              "(the argmax prediction at each step while the model's own temperature-1 samples are fed back: the "
              "definition beside the paper's figures); free-running (ours: the temperature-1 samples themselves "
              "scored); argmax (temperature 0, its argmax fed back). KL in nats (beta 1, no free bits); ELBO in nats "
              "per sequence.", ""]
    rows = []
    for label, r in recs.items():
        p = PAPER[label]
        rows.append([label, _f(r["tf_accuracy"]), _f(r["sampled_accuracy"]), _f(r.get("free_running_accuracy")),
                     _f(r["argmax_accuracy"]), _f(r["kl_nats"], 1), _f(r["kl_bits"], 1), _f(r["elbo_nats"], 1),
                     f"{p['tf']:.3f} / {p['sampled']:.3f} / {p['kl_nats']}"])
    lines += _table(["scheduled sampling", "teacher-forced", "sampled (magenta)", "free-running (ours)", "argmax",
                     "KL (nats)", "KL (bits)", "ELBO (nats)", "paper: tf / sampled / KL nats"], rows)
    d, paper_sampled = found, PAPER["with"]["sampled"] - PAPER["without"]["sampled"]
    paper_kl = PAPER["with"]["kl_nats"] - PAPER["without"]["kl_nats"]
    lines += [f"**Here:** sampled accuracy (magenta's) {d['sampled_delta']:+.3f} with scheduled sampling (paper "
              f"{paper_sampled:+.3f}): {'improves' if d['sampled_improves'] else 'does not improve'}; free-running "
              f"{d['free_running_delta']:+.3f}; "
              f"teacher-forced {d['tf_delta']:+.3f}; KL {d['kl_delta_nats']:+.1f} nats (paper {paper_kl:+.1f}): "
              f"{'grows' if d['kl_grows'] else 'does not grow'}.", "",
              "![accuracy](accuracy.png)", "", "## Training curves", "",
              "Held-out accuracy on the trainer's fixed evaluation batches, KL and the share of decoder inputs taken "
              "from the model's own samples.", "", "![training curves](curves.png)", ""]
    return lines


def run(exp: Experiment) -> None:
    from musicvae.evaluation import studies as st
    from musicvae.presets import get_preset

    seed = exp.args.seed
    preset = PRESET + exp.mode.suffix
    data = exp.ensure_data("melody", 2)
    runs = {label: exp.train(preset, data, label=f"{label}-ss", overrides=sets)
            for label, sets in schedules(exp.mode.name, exp.mode.steps).items()}
    tokens, eval_total = exp.eval_tokens(data, exp.mode.n, seed)
    recs = {}
    for label, info in runs.items():
        model = exp.load(info)
        train = info["curve"]["train"]
        info["final_sampling_prob"] = float(train[-1]["sampling_prob"]) if train else 0.0
        exp.log(f"{label} scheduled sampling: reconstruction on {len(tokens)} held-out windows (step {info['step']})")
        recs[label] = st.reconstruction_study(model, tokens, seed, progress=exp.progress("reconstruction"))
        exp.log(f"  teacher-forced {recs[label]['tf_accuracy']:.3f}, sampled (magenta) {recs[label]['sampled_accuracy']:.3f}, "
                f"free-running {recs[label].get('free_running_accuracy', float('nan')):.3f}, "
                f"KL {recs[label]['kl_nats']:.1f} nats")
    cfg = get_preset(preset, runs["with"]["overrides"]).train
    setup = {"data": rel(data), "eval_windows": eval_total, "n_used": len(tokens), "preset": preset,
             "steps": runs["with"]["steps_requested"], "batch_size": cfg.batch_size, "free_bits": cfg.free_bits,
             "max_beta": cfg.max_beta, "beta_rate": cfg.beta_rate}
    w, wo = recs["with"], recs["without"]
    found = {"sampled_delta": w["sampled_accuracy"] - wo["sampled_accuracy"],
             "free_running_delta": w.get("free_running_accuracy", float("nan")) - wo.get("free_running_accuracy", float("nan")),
             "tf_delta": w["tf_accuracy"] - wo["tf_accuracy"], "kl_delta_nats": w["kl_nats"] - wo["kl_nats"],
             "sampled_improves": bool(w["sampled_accuracy"] > wo["sampled_accuracy"]),
             "kl_grows": bool(w["kl_nats"] > wo["kl_nats"])}
    results = {"claim": "scheduled sampling: higher sampled accuracy, about equal teacher-forced accuracy, larger KL",
               "setup": setup, "runs": {k: {a: b for a, b in v.items() if a != "curve"} for k, v in runs.items()},
               "reconstruction": recs, "comparison": found, "paper": PAPER,
               "curves": {k: v["curve"] for k, v in runs.items()}}
    curves = {f"{k} SS": v["curve"] for k, v in runs.items()}
    groups = accuracy_groups({f"{k} SS": r for k, r in recs.items()})
    plots = {"accuracy.png": plot_bars(groups, "Held-out accuracy with and without scheduled sampling (SS)"),
             "curves.png": plot_curves(curves, [("eval", "tf_accuracy", "teacher-forced accuracy (held-out)"),
                                                ("eval", "sampled_accuracy", "sampled accuracy, magenta's (held-out)"),
                                                ("eval", "eval_kl", "KL (nats, held-out)"),
                                                ("train", "sampling_prob", "share of fed-back samples")])}
    exp.write(results, markdown(runs, recs, setup, found), plots)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(NAME, __doc__.split("\n\n")[0]).parse_args(argv)
    exp = Experiment(NAME, args, pick_mode(args, CPU_STEPS, TINY_STEPS), argv)
    main_guard(lambda: run(exp))


if __name__ == "__main__":
    main()
