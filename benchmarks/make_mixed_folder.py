#!/usr/bin/env python
"""Build ``data/mixed``: a folder of many small real MIDI files for timing ``musicvae prepare``.

Place in the flow: installed Debian packages + bundled corpora -> this script -> ``data/mixed/``
-> ``musicvae prepare data/mixed`` and ``benchmarks/prepare_throughput.py --folder data/mixed``.

What goes in (issue 21's recipe; ``data/`` is scratch, rebuild it to rerun a benchmark):

- every MIDI file of the Debian packages ``planetblupi-music-midi``, ``openttd-openmsx`` and ``mma``
  (its example MIDIs), copied under ``debian/<package>/``;
- the music lumps (``D_*`` starting ``MThd``) of ``freedoom``'s WADs, as ``freedoom-wad/<wad>-<lump>.mid``
  (cut out as ``scripts/corpora/build_freedoom.py`` does);
- every item of the bundled corpora folk, grooves, bach, freedoom and games written with
  ``music.midi_io.write_midi`` as ``corpus/<name>/<index>.mid``.

Nothing from ``tests/fixtures``. Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/make_mixed_folder.py --out data/mixed [--every 10 --out data/mixed10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts" / "corpora"))

PACKAGES = ("planetblupi-music-midi", "openttd-openmsx", "mma")
CORPORA = ("folk", "grooves", "bach", "freedoom", "games")
MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi", ".smf")
WADS = ("/usr/share/games/doom/freedoom1.wad", "/usr/share/games/doom/freedoom2.wad")


def package_midis(package: str) -> list[Path]:
    """The regular MIDI files a Debian package installed (``dpkg -L``), links resolved, each once."""
    try:
        listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        print(f"warning: package {package} is not installed; left out", file=sys.stderr)
        return []
    seen, out = set(), []
    for line in sorted(listing.splitlines()):
        p = Path(line)
        if p.suffix.lower() in MIDI_SUFFIXES and p.is_file() and not p.is_symlink():
            real = p.resolve()
            if real not in seen:
                seen.add(real)
                out.append(p)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "data" / "mixed"))
    ap.add_argument("--every", type=int, default=1, help="keep every n-th file (data/mixed10: 10)")
    ap.add_argument("--force", action="store_true", help="replace an existing folder")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        if not args.force:
            print(f"{out}: exists (pass --force to rebuild)", file=sys.stderr)
            return 1
        shutil.rmtree(out)

    from musicvae.data.corpora import load_corpus
    from musicvae.music.midi_io import midi_bytes

    items: list[tuple[str, bytes]] = []  # (relative name, MIDI bytes)
    for package in PACKAGES:
        for p in package_midis(package):
            items.append((f"debian/{package}/{p.parent.name}-{p.name}", p.read_bytes()))
    try:
        from build_freedoom import wad_lumps

        for wad in WADS:
            if not os.path.exists(wad):
                continue
            for name, blob in wad_lumps(wad):
                if name.startswith("D_") and blob[:4] == b"MThd":
                    items.append((f"freedoom-wad/{Path(wad).stem}-{name}.mid", blob))
    except ImportError:
        print("warning: scripts/corpora/build_freedoom.py not found; WAD lumps left out", file=sys.stderr)
    for corpus in CORPORA:
        for i, seq in enumerate(load_corpus(corpus)):
            items.append((f"corpus/{corpus}/{i:05d}.mid", midi_bytes(seq)))

    kept = items[:: args.every]
    for rel, blob in kept:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    print(f"{out}: {len(kept)} MIDI files ({sum(len(b) for _, b in kept) / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
