"""Experiment: VRASH vs. a note-level LSTM language model and a recurrent VAE (Tikhonov & Yamshchikov, Figs. 1, 5, 6).

Place in the flow: bundled ``folk`` corpus -> ``musicvae prepare --kind notes`` (whole melodies
as note events; tracks with more than 11 distinct durations or a pitch entropy under 1.5 bits
skipped) -> ``musicvae train`` of ``lm-notes_cpu``, ``vae-notes_cpu`` and ``vrash-notes_cpu``, the
same number of steps -> on the same held-out tracks: cross-entropy per note of an untrained
network (the LM's architecture at its initial weights), the LM, the VAE and VRASH; diversity of
as many samples of each as held-out tracks (repeated-note rate, pitch entropy, distinct pitch
n-grams) against the held-out tracks; VRASH's codes of the held-out tracks on a 2-D map
coloured by collection -> ``experiments/results/vrash_vs_lm/`` (report.md, report.json,
cross_entropy.png, diversity.png, latent_map.png, entropy.png, curves.png).

The claims ("Music generation with variational recurrent autoencoder supported by history",
2017): VRASH reaches a lower held-out cross-entropy than the LM (Fig. 5: 2.34 -> 2.11 on their
data) and its melodies repeat notes less; its codes group by collection or author (Fig. 6).

Cross-entropy per note: nats summed over the three factors (pitch class, octave, duration)
per predicted position (each note and the end of the track), teacher forced. For the VAEs
``ce`` decodes from z = the posterior mean of the very track being scored (the encoder has
seen it), so it is not comparable with the LM as a likelihood; ``bound`` adds the KL per note
to the CE of a posterior sample, an upper bound of the NLL per note that *is* comparable with
the LM's ``ce``. The report gives both.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/vrash_vs_lm.py             # _cpu presets
    .venv/bin/python experiments/vrash_vs_lm.py --tiny --out /tmp/vrash         # seconds
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from common import (ROOT, EXPERIMENT_NOTE, Experiment, ExperimentError, duration, main_guard, parser, pick_mode,
                    rel)
from plots import bar_groups, plot_curves

NAME = "vrash_vs_lm"
PRESETS = {"LM": "lm-notes", "VAE": "vae-notes", "VRASH": "vrash-notes"}
CPU_STEPS, TINY_STEPS = 5000, 20
#: Fig. 5 of the paper (their MIDI data and note representation): cross-entropy per note
PAPER = {"LM": 2.34, "VRASH": 2.11}
SAMPLE_TEMPERATURE = 1.0  # the models' own distributions
NGRAMS = (1, 2, 3, 4)


def ensure_notes(exp: Experiment) -> Path:
    """The prepared notes folder (``--data`` or ``data/folk-notes``), prepared when it has no manifest."""
    data = Path(exp.args.data) if exp.args.data else ROOT / "data" / "folk-notes"
    manifest = data / "manifest.json"
    if manifest.is_file():
        try:
            kind = json.loads(manifest.read_text()).get("kind")
        except json.JSONDecodeError as exc:
            raise ExperimentError(f"{manifest}: unreadable ({exc.msg})") from None
        if kind != "notes":
            raise ExperimentError(f"{manifest}: {kind} data, but this experiment needs note tracks "
                                  f"(prepare with --kind notes, or give another --data)")
        exp.log(f"data: {data} (already prepared)")
    else:
        exp.musicvae(["prepare", "folk", "--kind", "notes", "--out", str(data), "--workers", "1"])
    return data


def load(exp: Experiment, run: dict):
    """The :class:`NoteModel` of a run (its last or best checkpoint, per ``--checkpoint``)."""
    from musicvae.generation.notes import NoteModel

    return exp.load(run, loader=NoteModel)


def cross_entropy(model, data, max_notes: int, seed: int, device: str) -> dict:
    """``ce`` (z = posterior mean), ``bound`` (one posterior sample + KL), accuracies, per factor."""
    from musicvae.training.notes import evaluate_cross_entropy

    mean = evaluate_cross_entropy(model, data, max_notes=max_notes, use_mean=True, seed=seed, device=device)
    out = {"ce": mean["ce"], "bound": mean["ce"], "kl_per_note": 0.0, "kl_per_track": 0.0,
           "accuracy": mean["accuracy"], "positions": int(mean["positions"]), "tracks": int(mean["sequences"]),
           "ce_per_factor": {f: mean[f"ce_{f}"] for f in ("pitch_class", "octave", "duration")}}
    if model.latent:
        sampled = evaluate_cross_entropy(model, data, max_notes=max_notes, use_mean=False, seed=seed, device=device)
        out.update(bound=sampled["bound"], ce_sampled_z=sampled["ce"], kl_per_note=sampled["kl_per_note"],
                   kl_per_track=sampled["kl_per_track"])
    return out


def markdown(setup: dict, ce: dict, div: dict, found: dict, latent: dict, entropy: dict, runs: dict) -> list[str]:
    from musicvae.evaluation.report import _f, _table

    lines = ["# VRASH vs. a note-level LM and a recurrent VAE (Tikhonov & Yamshchikov 2017, Figs. 1, 5, 6)", "",
             "**Claim.** A VAE whose decoder also reads its own previous notes (VRASH) models melodies better than an "
             f"LSTM language model (Fig. 5, held-out cross-entropy per note: LM {PAPER['LM']}, VRASH {PAPER['VRASH']} "
             "on their data), repeats notes less, and its codes group by collection or author (Fig. 6).", "",
             f"> {EXPERIMENT_NOTE}", "",
             f"- data: {setup['data']} (whole tracks; {setup['train_tracks']:,} train, {setup['eval_tracks']:,} held-out, "
             f"{setup['n_used']} used); tracks cut to {setup['max_notes']} events; collections from "
             f"{setup['collections_from']}",
             f"- models, {setup['steps']} steps each, batch {setup['batch_size']}, z = {setup['z_size']}:"]
    for label, run in runs.items():
        lines.append(f"  - {label}: `{run['preset']}` (evaluated at step {run['step']}; "
                     f"{duration(run['train_seconds_total'])} of training steps)")
    lines += ["", "## Held-out cross-entropy per note (Fig. 5)", "",
              "Nats per predicted position (each note and the track's end), summed over pitch class, octave and "
              "duration, teacher forced. For the VAEs `ce` decodes from the posterior mean of the track being "
              "scored (the encoder has seen it: not a likelihood); `bound` = CE with one posterior sample of z + KL "
              "per note, an upper bound of the negative log-likelihood per note, comparable with the LM's `ce`.", ""]
    rows = []
    for label, r in ce.items():
        rows.append([label, _f(r["ce"]), _f(r["bound"]), _f(r["kl_per_note"]), _f(r["kl_per_track"], 2),
                     _f(r["accuracy"]), " / ".join(_f(r["ce_per_factor"][f], 2) for f in ("pitch_class", "octave",
                                                                                          "duration")),
                     f"{PAPER[label]}" if label in PAPER else "-"])
    lines += _table(["model", "ce", "bound (NLL <=)", "KL / note", "KL / track (nats)", "accuracy",
                     "ce: pitch class / octave / duration", "paper"], rows)
    lines += [f"**Here:** VRASH bound {_f(ce['VRASH']['bound'])} vs LM {_f(ce['LM']['ce'])}: VRASH "
              f"{'is lower' if found['vrash_bound_below_lm'] else 'is not lower'} as a likelihood bound; its `ce` "
              f"(from the posterior mean) {_f(ce['VRASH']['ce'])} {'is' if found['vrash_ce_below_lm'] else 'is not'} "
              f"below the LM's (the paper's comparison). VRASH vs VAE bound: {_f(ce['VRASH']['bound'])} vs "
              f"{_f(ce['VAE']['bound'])} (reading the history {'helps' if found['vrash_bound_below_vae'] else 'does not help'}).",
              "", "![cross-entropy](cross_entropy.png)", "",
              "## Diversity of samples", "",
              f"{setup['n_used']} samples of each model (temperature {SAMPLE_TEMPERATURE}, instrument and collection drawn "
              f"from the training tracks, at most {setup['max_notes']} events) and the {setup['n_used']} held-out tracks "
              "(cut the same way), on their pitches (rests dropped): repeated-note rate = share of consecutive notes "
              "with the same pitch (mean over tracks), pitch entropy in bits (mean over tracks), distinct-n = distinct "
              "pitch n-grams / all n-grams, pooled over the tracks.", ""]
    rows = []
    for label, d in div.items():
        rows.append([label, _f(d["notes_per_sample"], 1), _f(d["repeated_note_rate"]), _f(d["pitch_entropy"], 2),
                     _f(d["pooled_pitch_entropy"], 2), *(_f(d[f"distinct_{n}"]) for n in NGRAMS)])
    lines += _table(["tracks", "notes / track", "repeated-note rate", "pitch entropy", "pooled entropy",
                     *(f"distinct-{n}" for n in NGRAMS)], rows)
    lines += [f"**Here:** VRASH repeated-note rate {_f(div['VRASH']['repeated_note_rate'])} vs LM "
              f"{_f(div['LM']['repeated_note_rate'])} (held-out {_f(div['held-out']['repeated_note_rate'])}): VRASH "
              f"{'repeats notes less' if found['vrash_repeats_less'] else 'does not repeat notes less'} than the LM.", "",
              "![diversity](diversity.png)", "",
              f"## VRASH codes of held-out tracks (Fig. 6, {latent['method']})", "",
              f"Posterior means of the {latent['n']} held-out tracks, {latent['method']} to 2-D"
              + (" (scikit-learn is not installed, so PCA instead of the paper's t-SNE)" if latent["method"] == "PCA"
                 else "") + f", coloured by collection ({latent['collections_from']}).", "",
              "![latent map](latent_map.png)", "",
              "## Pitch entropy of the tracks (Fig. 1)", "",
              f"Every pitched track of two or more notes in the prepared corpus ({entropy['tracks']:,}); the filter "
              f"drops the {entropy['below']:,} below {entropy['threshold']:g} bits.", "", "![pitch entropy](entropy.png)",
              "", "## Training curves", "", "Held-out cross-entropy per note, its bound and the KL per note on the "
              "trainer's fixed evaluation tracks.", "", "![training curves](curves.png)", ""]
    return lines


def run(exp: Experiment) -> None:
    import torch

    from musicvae.evaluation import note_plots
    from musicvae.evaluation.diversity import diversity_summary
    from musicvae.evaluation.studies import select_windows
    from musicvae.models.builders import build_model
    from musicvae.presets import get_preset
    from musicvae.training.notes import NoteSequenceSet, subset

    seed, suffix = exp.args.seed, exp.mode.suffix
    data = ensure_notes(exp)
    runs = {label: exp.train(preset + suffix, data) for label, preset in PRESETS.items()}
    models = {label: load(exp, info) for label, info in runs.items()}
    vrash = models["VRASH"]
    try:
        train = NoteSequenceSet.load(data, "train", collections=vrash.collections)
        held_all = NoteSequenceSet.load(data, "eval", collections=vrash.collections)
    except (ValueError, OSError) as exc:
        raise ExperimentError(str(exc).strip("'\"")) from None
    if len(held_all) < 2:
        raise ExperimentError(f"{data}: the eval split holds {len(held_all)} track(s); need at least 2")
    held = subset(held_all, select_windows(len(held_all), exp.mode.n, seed))
    if exp.mode.n > len(held_all):
        exp.log(f"note: --n {exp.mode.n} is more than the {len(held_all)} held-out tracks; using {len(held)}")
    cfg = get_preset(PRESETS["VRASH"] + suffix, exp.args.overrides)
    max_notes = int(cfg.notes.max_notes)

    # cross-entropy per note (Fig. 5)
    torch.manual_seed(seed)
    untrained = build_model(get_preset(PRESETS["LM"] + suffix, exp.args.overrides), train.vocab_sizes).to(exp.device)
    ce = {"untrained": cross_entropy(untrained, held, max_notes, seed, exp.device)}
    for label, m in models.items():
        ce[label] = cross_entropy(m.model, held, max_notes, seed, exp.device)
        exp.log(f"{label}: ce {ce[label]['ce']:.3f}, bound {ce[label]['bound']:.3f} nats/note")

    # diversity: as many samples as held-out tracks
    held_events = [e[:max_notes] for e in held.events]
    div = {"held-out": diversity_summary(held_events, NGRAMS)}
    for label, m in models.items():
        events, _ = m.sample_events(len(held), SAMPLE_TEMPERATURE, seed=seed + 7, max_notes=max_notes)
        div[label] = diversity_summary(events, NGRAMS)
        exp.log(f"{label}: {len(events)} samples, repeated-note rate {div[label]['repeated_note_rate']:.3f}")

    # VRASH codes of the held-out tracks (Fig. 6)
    mu, _ = vrash.encode_events(held.events, held.meta)
    points, method, details = note_plots.latent_map(mu, seed=seed)
    names = [vrash.collections[int(c)] if 0 <= int(c) < len(vrash.collections) else note_plots.UNKNOWN
             for c in held.meta[:, 1]]
    manifest = json.loads((data / "manifest.json").read_text())
    collections_from = "style labels" if manifest.get("labels", {}).get("names") else "source folders"
    latent = {"n": len(mu), "method": method, **details, "collections_from": collections_from,
              "collections": {n: names.count(n) for n in sorted(set(names))}}
    try:
        entropy = note_plots.entropy_histogram(manifest)
    except ValueError as exc:
        raise ExperimentError(f"{data}: {exc}") from None

    found = {"vrash_bound_below_lm": bool(ce["VRASH"]["bound"] < ce["LM"]["ce"]),
             "vrash_ce_below_lm": bool(ce["VRASH"]["ce"] < ce["LM"]["ce"]),
             "vrash_bound_below_vae": bool(ce["VRASH"]["bound"] < ce["VAE"]["bound"]),
             "vrash_repeats_less": bool(div["VRASH"]["repeated_note_rate"] < div["LM"]["repeated_note_rate"])}
    setup = {"data": rel(data), "train_tracks": len(train), "eval_tracks": len(held_all), "n_used": len(held),
             "max_notes": max_notes, "steps": runs["VRASH"]["steps_requested"], "batch_size": cfg.train.batch_size,
             "z_size": cfg.model.z_size, "collections_from": collections_from,
             "sample_temperature": SAMPLE_TEMPERATURE}
    results = {"claim": "VRASH: lower held-out cross-entropy per note than the LM, fewer repeated notes, codes that "
                        "group by collection", "setup": setup,
               "runs": {k: {a: b for a, b in v.items() if a != "curve"} for k, v in runs.items()},
               "cross_entropy": ce, "diversity": div, "latent_map": latent, "pitch_entropy": entropy,
               "comparison": found, "paper": PAPER, "curves": {k: v["curve"] for k, v in runs.items()}}

    fig = note_plots._figure(10.5, 3.6)
    rates = {label: {"repeated-note rate": d["repeated_note_rate"], **{f"distinct-{n}": d[f"distinct_{n}"]
                                                                        for n in (2, 3)}} for label, d in div.items()}
    bar_groups(fig.add_subplot(1, 2, 1), rates, "Repeats and distinct pitch n-grams", ylabel="share")
    ax = fig.add_subplot(1, 2, 2)
    bars = ax.bar(list(div), [d["pitch_entropy"] for d in div.values()], 0.6, color="tab:purple")
    ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_ylabel("bits (mean over tracks)")
    ax.set_title("Pitch entropy per track", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    plots = {"cross_entropy.png": note_plots.plot_cross_entropy(
                 {k: {"ce": v["ce"], "bound": v["bound"]} for k, v in ce.items()},
                 "Held-out cross-entropy per note (nats)"),
             "diversity.png": note_plots._png(fig),
             "latent_map.png": note_plots.plot_latent_map(points, names, method,
                                                          f"VRASH codes of held-out tracks ({method}), by collection"),
             "entropy.png": note_plots.plot_entropy_histogram(entropy, "Pitch entropy of the tracks (bits)"),
             "curves.png": plot_curves({k: v["curve"] for k, v in runs.items()},
                                       [("eval", "eval_ce", "cross-entropy / note (held-out, z = mean)"),
                                        ("eval", "eval_bound", "NLL bound / note (held-out)"),
                                        ("eval", "eval_kl_per_note", "KL / note (held-out)")])}
    exp.write(results, markdown(setup, ce, div, found, latent, entropy, runs), plots)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(NAME, __doc__.split("\n\n")[0]).parse_args(argv)
    exp = Experiment(NAME, args, pick_mode(args, CPU_STEPS, TINY_STEPS), argv)
    main_guard(lambda: run(exp))


if __name__ == "__main__":
    main()
