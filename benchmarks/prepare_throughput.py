#!/usr/bin/env python
"""Throughput of ``musicvae prepare`` against a magenta ``note_seq`` baseline.

Both sides turn the same real MIDI files, in one run, into 2-bar melody windows
(16th-note grid, 130 classes, 1-bar stride, at most one bar of rest, unique
windows) with the same number of worker processes:

* ours: ``musicvae prepare DIR --kind melody --bars 2 --out TMP --workers N``
  (subprocess of the project venv; counts and seconds from ``TMP/manifest.json``);
* baseline: ``benchmarks/baseline_note_seq.py`` run by ``.bench-venv/bin/python``
  (note_seq 0.0.5 mirroring MusicVAE's ``OneHotMelodyConverter``; see
  ``benchmarks/requirements-baseline.txt`` for that venv).

Goal of the issue: our files/s >= 50x the baseline on 2 cores while extracting
at least as many unique windows.

Usage (from the repository root, in the project venv)::

    .venv/bin/python benchmarks/prepare_throughput.py                    # tests/fixtures/real
    .venv/bin/python benchmarks/prepare_throughput.py --repeat 5 --write-results
    .venv/bin/python benchmarks/prepare_throughput.py --midi-dir ~/midi --workers 2 --check
    .venv/bin/python benchmarks/prepare_throughput.py --folder data/mixed --workers 0 --rounds 3 --write-results

``--repeat N`` copies the file list N times (distinct names) so that timings
cover more than a few seconds; unique-window counts do not grow with it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import cpu_model, write_section

ROOT = Path(__file__).resolve().parent.parent
BASELINE_SCRIPT = ROOT / "benchmarks" / "baseline_note_seq.py"
DEFAULT_MIDI_DIR = ROOT / "tests" / "fixtures" / "real"
DEFAULT_RESULTS = ROOT / "benchmarks" / "RESULTS.md"
TARGET_RATIO = 50.0


# --------------------------------------------------------------------------- inputs

def collect_midi(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi")]
    return sorted(files)


def stage(files: list[Path], repeat: int, dest: Path) -> list[Path]:
    """Copy ``files`` ``repeat`` times into the flat folder ``dest`` with distinct names."""
    dest.mkdir(parents=True, exist_ok=True)
    staged = []
    for r in range(repeat):
        for i, src in enumerate(files):
            target = dest / f"r{r:03d}_{i:04d}_{src.name}"
            shutil.copyfile(src, target)
            staged.append(target)
    # Read everything once so neither side pays for a cold page cache.
    for p in staged:
        p.read_bytes()
    return staged


# --------------------------------------------------------------------------- sides

def musicvae_command(explicit: str | None) -> list[str]:
    if explicit:
        return shlex.split(explicit)
    exe = ROOT / ".venv" / "bin" / "musicvae"
    if exe.exists():
        return [str(exe)]
    py = ROOT / ".venv" / "bin" / "python"
    return [str(py if py.exists() else sys.executable), "-m", "musicvae"]


def run_ours(cmd: list[str], src: Path, out: Path, bars: int, workers: int, extra: list[str]) -> dict:
    argv = [*cmd, "prepare", str(src), "--kind", "melody", "--bars", str(bars),
            "--out", str(out), "--workers", str(workers), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    res: dict = {"command": argv, "wall_seconds": wall, "returncode": proc.returncode}
    manifest_path = out / "manifest.json"
    if proc.returncode != 0 or not manifest_path.exists():
        res["error"] = (proc.stderr or proc.stdout or "no manifest.json written").strip()[-2000:]
        return res
    manifest = json.loads(manifest_path.read_text())
    counts = manifest.get("counts", {})
    windows = counts.get("windows_total")
    if windows is None:
        windows = counts.get("windows_train", 0) + counts.get("windows_eval", 0)
    seconds = manifest.get("seconds")
    res.update(
        files=counts.get("files"),
        files_ok=counts.get("files_ok"),
        files_failed=counts.get("files_rejected"),
        windows=windows,
        seconds=float(seconds) if seconds else wall,
        seconds_source="manifest" if seconds else "wall",
        failure_reasons=_reason_counts(manifest.get("rejected")),
        failed_files=sorted(str(r.get("file")) for r in manifest.get("rejected") or [] if isinstance(r, dict)),
    )
    return res


def _reason_counts(rejected) -> dict:
    out: dict[str, int] = {}
    for r in rejected or []:
        reason = str(r.get("reason", "?")) if isinstance(r, dict) else str(r)
        key = reason.split(" (")[0].split(":")[0].strip()[:60]
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def compare_windows(out: Path, baseline_npy: Path) -> dict:
    """Overlap of our unique windows (shards listed in manifest.json) with the baseline's.

    Both sides use 130 classes: 0 = no event/hold, 1 = note off, 2 + pitch.
    ``leading_note_off_as_hold`` maps a note-off on a window's first step to 0
    (MusicVAE keeps the note-off of a note that began before the window there).
    """
    import numpy as np

    manifest = json.loads((out / "manifest.json").read_text())
    parts = []
    for split in ("train", "eval"):
        for shard in (manifest.get("shards") or {}).get(split, []):
            tokens = np.load(out / shard)["tokens"]
            parts.append(tokens.reshape(tokens.shape[0], -1))
    ours = {tuple(r) for a in parts for r in a.astype(np.int64).tolist()}
    base = {tuple(r) for r in np.load(baseline_npy).astype(np.int64).tolist()}

    def lead(rows):
        return {(0, *r[1:]) if r and r[0] == 1 else r for r in rows}

    res = {"ours": len(ours), "baseline": len(base), "both": len(ours & base),
           "only_ours": len(ours - base), "only_baseline": len(base - ours)}
    lo, lb = lead(ours), lead(base)
    res["leading_note_off_as_hold"] = {"both": len(lo & lb), "only_ours": len(lo - lb),
                                       "only_baseline": len(lb - lo)}
    return res


def run_baseline(python: str, src: Path, bars: int, workers: int, extra: list[str]) -> dict:
    argv = [python, str(BASELINE_SCRIPT), str(src), "--workers", str(workers), "--bars", str(bars), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    res: dict = {"command": argv, "wall_seconds": wall, "returncode": proc.returncode}
    if proc.returncode != 0:
        res["error"] = (proc.stderr or proc.stdout).strip()[-2000:]
        return res
    data = json.loads(proc.stdout)
    res.update(data)
    res["seconds_source"] = "internal"
    return res


# --------------------------------------------------------------------------- machine

def machine_info(baseline: dict | None) -> dict:
    cpu = cpu_model()
    # not `nproc`: it reports OMP_NUM_THREADS when that is set
    nproc = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    ours = {}
    from importlib.metadata import PackageNotFoundError, version

    our_python = ROOT / ".venv" / "bin" / "python"
    try:  # versions as seen by the interpreter that runs `musicvae`
        code = ("import json,importlib.metadata as m,sys\n"
                "def v(n):\n"
                " try: return m.version(n)\n"
                " except Exception: return None\n"
                "print(json.dumps({'python': sys.version.split()[0], **{n: v(n) for n in "
                "('musicvae','symusic','numpy','torch')}}))")
        py = str(our_python) if our_python.exists() else sys.executable
        ours = json.loads(subprocess.run([py, "-c", code], capture_output=True, text=True, check=True).stdout)
    except Exception:
        ours = {"python": platform.python_version()}
        for name in ("musicvae", "symusic", "numpy", "torch"):
            try:
                ours[name] = version(name)
            except PackageNotFoundError:
                ours[name] = None
    base = {}
    if baseline and "versions" in baseline:
        base = {"python": baseline.get("python"), **baseline["versions"]}
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"nproc": nproc, "cpu": cpu, "platform": platform.platform(), "ours": ours,
            "baseline": base, "loadavg_at_end": [round(x, 2) for x in load] if load else None}


# --------------------------------------------------------------------------- report

def _rate(n, s):
    return (n / s) if (n is not None and s) else None


def summarize(ours: dict | None, base: dict | None, n_files: int) -> dict:
    rows = {}
    for name, res in (("musicvae prepare", ours), ("note_seq baseline", base)):
        if not res:
            continue
        if "error" in res:
            rows[name] = {"error": res["error"]}
            continue
        files = res.get("files") or n_files
        rows[name] = {
            "files": files,
            "files_ok": res.get("files_ok"),
            "files_failed": res.get("files_failed"),
            "windows": res.get("windows"),
            # ours are stored canonical already; the baseline reports both spellings
            "windows_canonical": res.get("windows_canonical", res.get("windows")),
            "seconds": res["seconds"],
            "seconds_source": res.get("seconds_source"),
            "wall_seconds": res["wall_seconds"],
            "files_per_s": _rate(files, res["seconds"]),
            "windows_per_s": _rate(res.get("windows"), res["seconds"]),
            "failure_reasons": res.get("failure_reasons") or {},
        }
    summary: dict = {"rows": rows}
    o, b = rows.get("musicvae prepare"), rows.get("note_seq baseline")
    if o and b and "error" not in o and "error" not in b and b["files_per_s"]:
        summary["files_per_s_ratio"] = o["files_per_s"] / b["files_per_s"]
        summary["windows_per_s_ratio"] = (o["windows_per_s"] / b["windows_per_s"]) if b["windows_per_s"] else None
        summary["wall_ratio"] = b["wall_seconds"] / o["wall_seconds"] if o["wall_seconds"] else None
        # compare like with like: both sides' windows in canonical form (a note-off whose
        # note began before the window is the same music as a hold), then deduplicated
        summary["windows_ours_ge_baseline"] = (o["windows_canonical"] or 0) >= (b["windows_canonical"] or 0)
        summary["windows_ours_ge_baseline_raw"] = (o["windows"] or 0) >= (b["windows"] or 0)
        of = {Path(p).name for p in ours.get("failed_files") or []}
        bf = {Path(p).name for p in base.get("failed_files") or {}}
        summary["failed_only_ours"] = sorted(of - bf)
        summary["failed_only_baseline"] = sorted(bf - of)
        summary["goal_met"] = summary["files_per_s_ratio"] >= TARGET_RATIO and summary["windows_ours_ge_baseline"]
    return summary


def _fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def table_lines(summary: dict) -> list[str]:
    head = "| side | files | ok | failed | unique windows | unique canonical | seconds | wall s | files/s | windows/s |"
    lines = [head, "|" + "---|" * 10]
    for name, r in summary["rows"].items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'].splitlines()[-1][:120]} |||||||| ")
            continue
        lines.append(
            f"| {name} | {_fmt(r['files'])} | {_fmt(r['files_ok'])} | {_fmt(r['files_failed'])} | "
            f"{_fmt(r['windows'])} | {_fmt(r['windows_canonical'])} | {_fmt(r['seconds'], 2)} | {_fmt(r['wall_seconds'], 2)} | "
            f"{_fmt(r['files_per_s'])} | {_fmt(r['windows_per_s'])} |"
        )
    return lines


def verdict_lines(summary: dict) -> list[str]:
    if "files_per_s_ratio" not in summary:
        return ["ratio: n/a (one side did not run)"]
    out = [
        f"files/s ratio (ours / baseline): **{summary['files_per_s_ratio']:.1f}x** (target >= {TARGET_RATIO:.0f}x)",
        f"windows/s ratio: {_fmt(summary['windows_per_s_ratio'])}x; "
        f"end-to-end wall-clock ratio incl. interpreter start-up: {_fmt(summary['wall_ratio'])}x",
        f"unique windows ours >= baseline (both canonical): {summary['windows_ours_ge_baseline']}; "
        f"(raw spelling, baseline keeps orphan note-offs: {summary['windows_ours_ge_baseline_raw']})",
        f"goal met: {'yes' if summary['goal_met'] else 'NO'}",
    ]
    for side in ("ours", "baseline"):
        only = summary.get(f"failed_only_{side}")
        if only:
            out.append(f"files rejected only by {side}: {len(only)} ({', '.join(only[:5])}{', ...' if len(only) > 5 else ''})")
    return out


def results_section(args, summary: dict, machine: dict, n_src: int, n_files: int,
                    ours: dict | None, base: dict | None) -> str:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/prepare_throughput.py", *sys.argv[1:]])
    o, b = machine["ours"], machine["baseline"]
    lines = [
        "## prepare throughput: `musicvae prepare` vs note_seq baseline",
        "",
        f"Run {when}: `{cmd}`",
        "",
        f"Input: {n_src} MIDI files from `{_rel(args.midi_dir)}` x {args.repeat} = {n_files} files; "
        f"2-bar melody windows, {args.workers} worker(s) on each side.",
        "",
        f"Machine: nproc={machine['nproc']}, CPU {machine['cpu']}, {machine['platform']}; "
        f"load average at end {machine['loadavg_at_end']}.",
        f"Ours: Python {o.get('python')}, musicvae {o.get('musicvae')}, symusic {o.get('symusic')}, "
        f"numpy {o.get('numpy')}, torch {o.get('torch')}.",
        f"Baseline (.bench-venv): Python {b.get('python')}, note-seq {b.get('note-seq')}, "
        f"pretty_midi {b.get('pretty_midi')}, mido {b.get('mido')}, numpy {b.get('numpy')}, "
        f"protobuf {b.get('protobuf')}.",
        "",
        *table_lines(summary),
        "",
        *[f"- {v}" for v in verdict_lines(summary)],
    ]
    for name, r in summary["rows"].items():
        if r.get("failure_reasons"):
            reasons = ", ".join(f"{k}: {v}" for k, v in r["failure_reasons"].items())
            lines.append(f"- {name} failures: {reasons}")
    if ours and ours.get("window_diff"):
        lines.append(f"- window sets (token-level comparison): `{json.dumps(ours['window_diff'])}`")
    lines += [
        "",
        "`seconds` is measured inside each tool (ours: `seconds` of manifest.json; baseline: from pool start "
        "to the last result, imports excluded); `wall s` is the whole subprocess including interpreter and "
        "import start-up. files/s and windows/s use `seconds`. The baseline mirrors MusicVAE's "
        "`OneHotMelodyConverter(valid_programs=0-31, slice_bars=2, gap_bars=1, steps_per_quarter=4, "
        "max_tensors_per_notesequence=None)` with 130 classes, per-segment dedup as MusicVAE plus a global "
        "dedup by hash; see `benchmarks/baseline_note_seq.py`.",
    ]
    return "\n".join(lines) + "\n"


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


# --------------------------------------------------------------------------- folder mode



def timed_process(argv: list[str], env: dict | None = None) -> dict:
    """Run ``argv`` to the end: wall seconds, CPU seconds (user + system of the process and every
    descendant it waited for, e.g. pool workers) and the peak RSS of the largest of them (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    import threading

    out: dict = {}
    readers = [threading.Thread(target=lambda k=k, f=f: out.__setitem__(k, f.read()))
               for k, f in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for t in readers:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for t in readers:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "returncode": proc.returncode, "stdout": out["stdout"].decode(errors="replace"),
            "stderr": out["stderr"].decode(errors="replace")}


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def folder_mode(args) -> int:
    """Whole processes, end to end (start-up included), on ``args.folder`` as it is, A/B alternated."""
    folder = args.folder.resolve()
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi")]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    ours_argv = [*musicvae_command(args.musicvae), "prepare", str(folder), "--kind", "melody", "--bars", str(args.bars),
                 "--workers", str(args.workers), *shlex.split(args.ours_args)]
    base_argv = [args.baseline_python, str(BASELINE_SCRIPT), str(folder), "--workers", str(max(args.workers, 1) if args.workers else 2),
                 "--bars", str(args.bars), *shlex.split(args.baseline_args)]
    tmp = Path(tempfile.mkdtemp(prefix="prepare_folder_"))
    rounds = []
    try:
        for r in range(args.rounds):
            row = {}
            order = ("baseline", "ours") if r % 2 == 0 else ("ours", "baseline")
            for side in order:
                if side == "ours":
                    out = tmp / f"out{r}"
                    res = timed_process([*ours_argv, "--out", str(out)], env)
                    man = json.loads((out / "manifest.json").read_text()) if res["returncode"] == 0 else {}
                    res.update(windows=man.get("counts", {}).get("windows_total"), files_ok=man.get("counts", {}).get("files_ok"),
                               workers_used=man.get("workers"))
                    shutil.rmtree(out, ignore_errors=True)
                else:
                    res = timed_process(base_argv, env)
                    data = json.loads(res["stdout"]) if res["returncode"] == 0 else {}
                    res.update(windows=data.get("windows_canonical"), files_ok=data.get("files_ok"), inside=data.get("seconds"))
                if res["returncode"] != 0:
                    print(f"{side} failed:\n{res['stderr'][-2000:]}", file=sys.stderr)
                    return 2
                res.pop("stdout"), res.pop("stderr")
                row[side] = res
                print(f"round {r + 1} {side}: wall {res['wall']:.2f} s, cpu {res['cpu']:.2f} s, rss {res['rss_mib']:.0f} MiB, "
                      f"windows {res['windows']}", file=sys.stderr)
            row["wall_ratio"] = row["baseline"]["wall"] / row["ours"]["wall"]
            row["cpu_ratio"] = row["baseline"]["cpu"] / row["ours"]["cpu"]
            rounds.append(row)
        scales = []
        for k in args.rss_scales:
            src = args.rss_folder.resolve() if args.rss_folder else folder
            base_files = [p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi")]
            staged = tmp / f"x{k}"
            staged.mkdir()
            for c in range(k):  # hard links under new names: copies for the tool, no disk
                for i, f in enumerate(base_files):
                    os.link(f, staged / f"c{c:03d}_{i:05d}_{f.name}")
            res = timed_process([*musicvae_command(args.musicvae), "prepare", str(staged), "--kind", "melody", "--bars",
                                 str(args.bars), "--workers", str(args.workers), "--out", str(tmp / f"rss{k}")], env)
            man = json.loads((tmp / f"rss{k}" / "manifest.json").read_text()) if res["returncode"] == 0 else {}
            scales.append({"scale": k, "files": len(base_files) * k, "wall": res["wall"], "cpu": res["cpu"],
                           "rss_mib": res["rss_mib"], "windows_found": man.get("counts", {}).get("windows_found"),
                           "windows_total": man.get("counts", {}).get("windows_total"), "returncode": res["returncode"]})
            print(f"x{k}: {scales[-1]}", file=sys.stderr)
            shutil.rmtree(staged, ignore_errors=True)
            shutil.rmtree(tmp / f"rss{k}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "files": len(files), "rounds": rounds,
        "wall_ratio": _median([r["wall_ratio"] for r in rounds]) if rounds else None,
        "cpu_ratio": _median([r["cpu_ratio"] for r in rounds]) if rounds else None,
        "ours_wall": _median([r["ours"]["wall"] for r in rounds]) if rounds else None,
        "base_wall": _median([r["baseline"]["wall"] for r in rounds]) if rounds else None,
        "scales": scales,
    }
    machine = machine_info(None)
    lines = folder_lines(args, summary, machine, ours_argv, base_argv)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "machine": machine}, indent=2, default=str))
    if args.write_results:
        write_section("prepare_folder", "\n".join(lines), args.results_file)
    return 0


def folder_lines(args, summary, machine, ours_argv, base_argv) -> list[str]:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/prepare_throughput.py", *sys.argv[1:]])
    lines = [
        "## prepare vs note_seq on a folder, whole processes end to end",
        "",
        f"Run {when}: `{cmd}`",
        "",
        f"Input: `{_rel(args.folder)}`, {summary['files']:,} MIDI files; 2-bar melody windows; ours "
        f"`{' '.join(ours_argv[1:])}`, baseline `benchmarks/baseline_note_seq.py` with {base_argv[base_argv.index('--workers') + 1]} workers.",
        f"Machine: nproc={machine['nproc']}, CPU {machine['cpu']}; load average at end {machine['loadavg_at_end']} "
        "(a host shared with other jobs: wall times include their interference; CPU time is the processes' own).",
        "",
    ]
    if summary["rounds"]:
        lines += ["| round | baseline wall s | ours wall s | wall ratio | baseline CPU s | ours CPU s | CPU ratio | "
                  "baseline peak RSS MiB | ours peak RSS MiB | unique windows baseline / ours |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for i, r in enumerate(summary["rounds"]):
            b, o = r["baseline"], r["ours"]
            lines.append(f"| {i + 1} | {b['wall']:.2f} | {o['wall']:.2f} | {r['wall_ratio']:.1f}x | {b['cpu']:.2f} | {o['cpu']:.2f} | "
                         f"{r['cpu_ratio']:.1f}x | {b['rss_mib']:.0f} | {o['rss_mib']:.0f} | {b['windows']:,} / {o['windows']:,} |")
        lines += ["", f"- end to end (median of per-round ratios, A/B alternated): wall **{summary['wall_ratio']:.1f}x**, "
                      f"CPU time **{summary['cpu_ratio']:.1f}x** (goal >= {TARGET_RATIO:.0f}x)"]
    if summary["scales"]:
        lines += ["", "Peak RSS of `musicvae prepare` as the input grows (hard-linked copies under new names of "
                      f"`{_rel(args.rss_folder or args.folder)}`):", "",
                  "| copies | files | windows found | unique windows | wall s | CPU s | peak RSS MiB | vs 1 copy |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        first = summary["scales"][0]["rss_mib"]
        for sc in summary["scales"]:
            lines.append(f"| {sc['scale']} | {sc['files']:,} | {sc['windows_found'] or 0:,} | {sc['windows_total'] or 0:,} | {sc['wall']:.1f} | "
                         f"{sc['cpu']:.1f} | {sc['rss_mib']:.0f} | {sc['rss_mib'] / first:.2f}x |")
    lines += ["", "Wall and CPU time are whole processes from exec to exit, interpreter start-up and imports included; "
                  "CPU time and peak RSS come from `wait4` (the process and the pool workers it waited for; "
                  "RSS is the largest single process). Both sides run with OMP_NUM_THREADS=1."]
    return lines


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--midi-dir", type=Path, default=DEFAULT_MIDI_DIR, help="folder of MIDI files (recursive)")
    ap.add_argument("--repeat", type=int, default=1, help="replicate the file list N times")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bars", type=int, default=2)
    ap.add_argument("--musicvae", default=None,
                    help="command that runs the CLI (default .venv/bin/musicvae, else python -m musicvae)")
    ap.add_argument("--baseline-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    ap.add_argument("--ours-args", default="", help="extra arguments for `musicvae prepare` (one string, = form: --ours-args='--classes 90')")
    ap.add_argument("--baseline-args", default="",
                    help="extra arguments for baseline_note_seq.py; use the = form, "
                         "e.g. --baseline-args=--no-presplit or --baseline-args='--max-bars 100'")
    ap.add_argument("--skip-ours", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--write-results", action="store_true", help="update the section in benchmarks/RESULTS.md")
    ap.add_argument("--results-file", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--diff-windows", action="store_true",
                    help="also compare the two sets of unique windows token by token "
                         "(the baseline then also saves its windows; its timing includes that)")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the goal is met")
    ap.add_argument("--folder", type=Path, default=None,
                    help="folder mode: this folder as it is, whole processes end to end (start-up included), "
                         "--rounds A/B alternated rounds, wall and CPU time, peak RSS")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rss-scales", type=lambda t: [int(x) for x in t.split(",") if x], default=[],
                    help="folder mode: also run ours on 1,4,... hard-linked copies of --rss-folder (default --folder)")
    ap.add_argument("--rss-folder", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.folder is not None:
        if not Path(args.baseline_python).exists() and args.rounds:
            print(f"baseline interpreter {args.baseline_python} not found (make bench builds it)", file=sys.stderr)
            return 2
        return folder_mode(args)

    src_files = collect_midi(args.midi_dir)
    if not src_files:
        print(f"no .mid/.midi files under {args.midi_dir}", file=sys.stderr)
        return 2
    if not args.skip_baseline and not Path(args.baseline_python).exists():
        print(f"baseline interpreter {args.baseline_python} not found: create it with\n"
              "  python3.11 -m venv .bench-venv && .bench-venv/bin/pip install -r benchmarks/requirements-baseline.txt",
              file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="prepare_throughput_"))
    try:
        staged_dir = tmp / "midi"
        staged = stage(src_files, args.repeat, staged_dir)
        n_files = len(staged)
        print(f"{len(src_files)} MIDI files x {args.repeat} = {n_files} files, {args.workers} worker(s)", file=sys.stderr)
        ours = base = None
        if not args.skip_baseline:
            print("running note_seq baseline ...", file=sys.stderr)
            extra = shlex.split(args.baseline_args)
            if args.diff_windows:
                extra += ["--dump-windows", str(tmp / "baseline_windows.npy")]
            base = run_baseline(args.baseline_python, staged_dir, args.bars, args.workers, extra)
        if not args.skip_ours:
            print("running musicvae prepare ...", file=sys.stderr)
            ours = run_ours(musicvae_command(args.musicvae), staged_dir, tmp / "out", args.bars, args.workers,
                            shlex.split(args.ours_args))
        if (args.diff_windows and ours and base and "error" not in ours and "error" not in base):
            try:
                diff = compare_windows(tmp / "out", tmp / "baseline_windows.npy")
            except Exception as exc:  # shard layout changed, numpy missing, ...
                diff = {"error": f"{type(exc).__name__}: {exc}"}
            ours["window_diff"] = diff
    finally:
        if args.keep_tmp:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = summarize(ours, base, n_files)
    machine = machine_info(base)
    print()
    print("\n".join(table_lines(summary)))
    print()
    print("\n".join(verdict_lines(summary)))
    for name, r in summary["rows"].items():
        if r.get("failure_reasons"):
            print(f"{name} failures: {json.dumps(r['failure_reasons'])}")
        if "error" in r:
            print(f"{name} error:\n{r['error']}", file=sys.stderr)
    if ours and ours.get("window_diff"):
        print(f"window sets: {json.dumps(ours['window_diff'])}")
    print(f"machine: nproc={machine['nproc']} cpu={machine['cpu']!r} load={machine['loadavg_at_end']}")

    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "machine": machine, "ours": ours,
                                         "baseline": base}, indent=2, default=str))
    if args.write_results:
        write_section("prepare_throughput", results_section(args, summary, machine, len(src_files), n_files, ours, base),
                      args.results_file)
        print(f"updated {_rel(args.results_file)}", file=sys.stderr)

    if any("error" in r for r in summary["rows"].values()):
        return 2
    if args.check and not summary.get("goal_met"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
