"""Studio latency: from a slider move to playable audio, and 20 clients at once.

Starts ``musicvae studio`` (a real uvicorn server in its own process, on a free port) and
talks to it over HTTP like the page does:

* **slider**: for ``mel_2bar`` and ``mel_16bar``, two clips are generated, then each slider
  move is ``POST /api/interpolate`` (a new position, the clips' codes cached) followed by
  ``GET`` of the new clip's WAV (what the page's <audio> element fetches). The time from
  the POST to the last WAV byte is the latency; goals p95 < 150 ms (2 bars), < 400 ms (16 bars).
  Positions alternate between the models so both see the same machine load.
* **load**: 20 client threads, each generating (``mel_2bar``, n=1) and fetching the WAV in a
  loop for ``--seconds``; every non-200 answer or exception counts as an error (goal: none).

Usage: ``.venv/bin/python benchmarks/studio_latency.py [--moves 40] [--seconds 60] [--write-results]``
(``--write-results`` rewrites the ``studio_latency`` section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from _results import cpu_model, write_section

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"mel_2bar": 150.0, "mel_16bar": 400.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None, timeout: float = 120.0) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def fetch_wav(url: str, clip: dict) -> tuple[float, float, bytes]:
    """GET a clip's WAV: (seconds until its first bar arrived, i.e. playable; seconds to the end; bytes)."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url + clip["wav"].lstrip("/"), timeout=120) as res:
        size = int(res.headers["Content-Length"])
        first = min(size, 44 + 2 * int(round(16 * 60.0 / clip["qpm"] / 4 * 24000)))  # header + 1 bar, 24 kHz mono
        head = res.read(first)
        t1 = time.perf_counter()
        rest = res.read()
    return t1 - t0, time.perf_counter() - t0, head + rest


def start_server() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    exe = Path(sys.executable).parent / "musicvae"
    proc = subprocess.Popen([str(exe), "studio", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if _call(url + "api/models")[0] == 200:
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the studio did not start: {proc.stdout.read() if proc.stdout else ''}")


def slider(url: str, moves: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    pairs = {}
    for name in GOALS:
        status, body = _call(url + "api/generate", {"model": name, "n": 2, "seed": 1})
        assert status == 200, body
        clips = json.loads(body)["clips"]
        pairs[name] = (clips[0]["id"], clips[1]["id"])
        # warm-up: first encode of the clips (cached afterwards, as in the page) and one render
        _, first = _call(url + "api/interpolate", {"model": name, "a": clips[0]["id"], "b": clips[1]["id"], "position": 0.5})
        fetch_wav(url, json.loads(first)["clips"][0])
    times: dict[str, dict[str, list[float]]] = {n: {"total": [], "interpolate": [], "wav": [], "whole": []}
                                                for n in GOALS}
    for _ in range(moves):
        for name in GOALS:  # alternate: both models see the same load
            a, b = pairs[name]
            t0 = time.perf_counter()
            status, body = _call(url + "api/interpolate", {"model": name, "a": a, "b": b,
                                                           "position": round(rng.random(), 2)})
            t1 = time.perf_counter()
            assert status == 200, body
            playable, whole, wav = fetch_wav(url, json.loads(body)["clips"][0])
            assert wav[:4] == b"RIFF", wav[:200]
            times[name]["total"].append((t1 - t0 + playable) * 1000)
            times[name]["interpolate"].append((t1 - t0) * 1000)
            times[name]["wav"].append(playable * 1000)
            times[name]["whole"].append((t1 - t0 + whole) * 1000)
    out = {}
    for name, parts in times.items():
        out[name] = {k: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
                         "max": float(np.max(v))} for k, v in parts.items()}
        out[name]["moves"] = moves
        out[name]["goal_ms"] = GOALS[name]
    return out


def load(url: str, clients: int, seconds: float) -> dict:
    stop = time.time() + seconds
    lock = threading.Lock()
    stats = {"requests": 0, "errors": 0, "latencies": [], "messages": []}

    def client(i: int) -> None:
        k = 0
        while time.time() < stop:
            k += 1
            t0 = time.perf_counter()
            try:
                status, body = _call(url + "api/generate", {"model": "mel_2bar", "n": 1, "seed": i * 100_000 + k})
                ok = status == 200
                if ok:
                    status, wav = _call(url + json.loads(body)["clips"][0]["wav"].lstrip("/"))
                    ok = status == 200 and wav[:4] == b"RIFF"
                msg = None if ok else f"{status}: {body[:120]!r}"
            except Exception as exc:  # a refused connection or a timeout is an error too
                ok, msg = False, f"{type(exc).__name__}: {exc}"
            with lock:
                stats["requests"] += 1
                stats["latencies"].append((time.perf_counter() - t0) * 1000)
                if not ok:
                    stats["errors"] += 1
                    stats["messages"].append(msg)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    lat = stats["latencies"] or [0.0]
    return {"clients": clients, "seconds": wall, "requests": stats["requests"], "errors": stats["errors"],
            "per_s": stats["requests"] / wall, "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)), "first_errors": stats["messages"][:3]}


def machine() -> str:
    cpu = "?"
    try:
        cpu = cpu_model()
    except (OSError, StopIteration):
        pass
    return f"nproc={os.cpu_count()}, CPU {cpu}, {platform.platform()}; load average at end {[round(x, 2) for x in os.getloadavg()]}"


def report(sl: dict, ld: dict, args) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["## Studio latency (issue 23)", "",
             f"Run {when}: `.venv/bin/python benchmarks/studio_latency.py --moves {args.moves} --seconds {args.seconds:g}"
             f"{' --write-results' if args.write_results else ''}`", "",
             f"Machine: {machine()} (shared with other jobs: figures are upper bounds).", "",
             "Slider move -> playable audio: `POST /api/interpolate` (new position; the two clips' codes cached) then "
             "`GET` of the new clip's WAV until its first bar (2 s of audio) has arrived (the WAV is rendered on the "
             "server from the General MIDI SoundFont and streamed as it renders: 1 bar first, then 2, 4, 8, ...; the "
             "<audio> element starts playing from the first chunk), over HTTP on loopback to `musicvae studio` in its own process; "
             "the two models alternate move by move. `whole WAV` is the time until the last byte.", "",
             "| model | moves | p50 ms | p95 ms | max ms | goal p95 | met | interpolate p95 | first bar p95 | whole WAV p95 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in sl.items():
        t = r["total"]
        lines.append(f"| {name} | {r['moves']} | {t['p50']:.0f} | {t['p95']:.0f} | {t['max']:.0f} | < {r['goal_ms']:.0f} | "
                     f"{'yes' if t['p95'] < r['goal_ms'] else 'no'} | {r['interpolate']['p95']:.0f} | {r['wav']['p95']:.0f} | "
                     f"{r['whole']['p95']:.0f} |")
    lines += ["", f"Load: {ld['clients']} clients generating (`mel_2bar`, n=1) and fetching the WAV in a loop for "
                  f"{ld['seconds']:.0f} s: {ld['requests']:,} round trips, **{ld['errors']} errors**, "
                  f"{ld['per_s']:.1f} per second, latency p50 {ld['p50']:.0f} ms / p95 {ld['p95']:.0f} ms "
                  "(the server runs one model call at a time: two cores gain nothing from more)."]
    if ld["first_errors"]:
        lines.append(f"First errors: {ld['first_errors']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=40, help="slider moves per model")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the 20-client load test")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args()
    proc, url = start_server()
    try:
        sl = slider(url, args.moves)
        ld = load(url, args.clients, args.seconds)
        alive = proc.poll() is None and _call(url + "api/models")[0] == 200
    finally:
        proc.terminate()
        proc.wait(30)
    text = report(sl, ld, args) + f"\nServer still answering after the load: {'yes' if alive else 'NO'}.\n"
    print(text)
    if args.write_results:
        write_section("studio_latency", text)


if __name__ == "__main__":
    main()
