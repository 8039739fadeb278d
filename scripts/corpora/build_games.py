#!/usr/bin/env python
"""Build the bundled ``games`` corpus: real multitrack songs from two Debian game-music packages.

Usage (from the repository root; needs ``apt-get install -y planetblupi-music-midi openttd-openmsx``)::

    PYTHONPATH=src nice -n 10 python scripts/corpora/build_games.py --out src/musicvae/assets/corpora/games.npz \
        --fixtures tests/fixtures/real

Each ``.mid`` file listed by ``dpkg -L`` is read with the project's ``read_midi`` and split
with ``quantize_score`` (every 4/4 stretch, every track kept). label = package name, meta =
package version. With ``--fixtures DIR`` the raw .mid files are also copied to
``DIR/<package>/`` (the real-file test fixtures and benchmark set).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from musicvae.music import MidiError, quantize_score, read_midi  # noqa: E402
from musicvae.music.collection import load_collection, save_collection  # noqa: E402
from _debian import package_midis, package_version, roles  # noqa: E402

PACKAGES = {
    "planetblupi-music-midi": "GPL-3+ (Debian copyright: Files: * GPL-3+)",
    "openttd-openmsx": "GPL-2 (Debian copyright: Files: * GPL-2.0)",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "src/musicvae/assets/corpora/games.npz"))
    ap.add_argument("--fixtures", default=None, help="copy the raw .mid files to DIR/<package>/")
    args = ap.parse_args(argv)

    t0 = time.time()
    seqs, versions, per_pkg, skipped = [], {}, collections.Counter(), []
    files_mbd = collections.Counter()
    for pkg in PACKAGES:
        versions[pkg] = package_version(pkg)
        paths = package_midis(pkg)
        per_pkg[(pkg, "files")] = len(paths)
        for path in paths:
            try:
                parts = quantize_score(read_midi(path), f"debian:{pkg}/{path.name}")
            except MidiError as exc:
                skipped.append(f"{pkg}/{path.name}: {exc}")
                continue
            per_pkg[(pkg, "files_used")] += 1
            # roles over the whole file (all tracks with notes)
            if all(roles(parts[0].tracks)):
                files_mbd[pkg] += 1
            for s in parts:
                s.label = pkg
                s.meta = dict(s.meta, package=pkg, package_version=versions[pkg], file=path.name)
                seqs.append(s)
                per_pkg[(pkg, "items")] += 1
                per_pkg[(pkg, "bars")] += s.num_bars
            if args.fixtures:
                dest = Path(args.fixtures) / pkg
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest / path.name)
        if args.fixtures:
            # the fixtures keep every file, used or not
            dest = Path(args.fixtures) / pkg
            dest.mkdir(parents=True, exist_ok=True)
            for path in paths:
                if not (dest / path.name).exists():
                    shutil.copy2(path, dest / path.name)

    save_collection(
        seqs,
        args.out,
        name="games",
        description="Real multitrack game music from Debian packages planetblupi-music-midi and "
        "openttd-openmsx: every 4/4 stretch of every file, all tracks, quantized with quantize_score.",
        source_package=", ".join(f"{p} {v} (Debian)" for p, v in versions.items()),
        version=versions,
        license={p: lic for p, lic in PACKAGES.items()},
        built_with="python scripts/corpora/build_games.py --out src/musicvae/assets/corpora/games.npz --fixtures tests/fixtures/real",
    )
    back = load_collection(args.out)
    summary = {
        "versions": versions,
        "items": len(back),
        "notes": int(sum(len(s) for s in back)),
        "bars": int(sum(s.num_bars for s in back)),
        "per_package": {f"{p} {k}": n for (p, k), n in sorted(per_pkg.items())},
        "files_with_melody_bass_drums": dict(files_mbd),
        "items_with_melody_bass_drums": sum(all(roles(s.tracks)) for s in back),
        "skipped": skipped,
        "file_bytes": os.path.getsize(args.out),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
