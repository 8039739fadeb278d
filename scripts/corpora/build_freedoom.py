#!/usr/bin/env python
"""Build the bundled ``freedoom`` corpus: the composed soundtrack of Debian's ``freedoom`` (MIDI lumps in its WADs).

Usage (from the repository root; needs ``apt-get install -y freedoom``, a build-time source only:
musicvae never reads the WADs at run time, the built ``freedoom.npz`` ships in the package)::

    PYTHONPATH=src nice -n 10 python scripts/corpora/build_freedoom.py --out src/musicvae/assets/corpora/freedoom.npz

A WAD is a 12-byte header (``IWAD``/``PWAD``, lump count, directory offset) and a directory of
16-byte entries (offset, size, 8-byte name). Every lump named ``D_*`` whose bytes start with
``MThd`` (standard MIDI) is read with the project's ``read_midi_bytes`` and split with
``quantize_score`` (every 4/4 stretch, all tracks). Lumps with identical bytes in both WADs are
kept once. label = ``freedoom``; meta: wad, lump, package_version.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from musicvae.music import MidiError, quantize_score  # noqa: E402
from musicvae.music.collection import load_collection, save_collection  # noqa: E402
from musicvae.music.midi_io import read_midi_bytes  # noqa: E402
from _debian import package_version, roles  # noqa: E402

PACKAGE = "freedoom"
LICENSE = ("freedoom-license: BSD-3-Clause-style (Debian copyright of freedoom, Files: *; "
           "Copyright 2001-2012 Contributors to the Freedoom project, see its CREDITS)")
WADS = ("/usr/share/games/doom/freedoom1.wad", "/usr/share/games/doom/freedoom2.wad")


def wad_lumps(path: str | os.PathLike) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of every lump of a WAD file."""
    data = Path(path).read_bytes()
    magic, count, where = struct.unpack_from("<4sii", data, 0)
    if magic not in (b"IWAD", b"PWAD"):
        raise ValueError(f"{path}: not a WAD file")
    out = []
    for i in range(count):
        off, size, raw = struct.unpack_from("<ii8s", data, where + 16 * i)
        out.append((raw.split(b"\0", 1)[0].decode("ascii", "replace"), data[off:off + size]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "src/musicvae/assets/corpora/freedoom.npz"))
    args = ap.parse_args(argv)
    t0 = time.time()
    version = package_version(PACKAGE)
    seqs, seen, skipped, counts = [], set(), [], collections.Counter()
    for wad in WADS:
        for name, blob in wad_lumps(wad):
            if not name.startswith("D_") or blob[:4] != b"MThd":
                continue
            counts["midi_lumps"] += 1
            digest = hashlib.sha256(blob).hexdigest()
            if digest in seen:
                counts["duplicate_lumps"] += 1
                continue
            seen.add(digest)
            where = f"debian:{PACKAGE}/{Path(wad).name}#{name}"
            try:
                parts = quantize_score(read_midi_bytes(blob, where), where)
            except MidiError as exc:
                skipped.append(f"{Path(wad).name}#{name}: {exc}")
                continue
            if not parts:
                skipped.append(f"{Path(wad).name}#{name}: no 4/4 stretch")
                continue
            counts["lumps_used"] += 1
            counts["with_melody_bass_drums"] += all(roles(parts[0].tracks))
            for s in parts:
                s.label = PACKAGE
                s.meta = dict(s.meta, package=PACKAGE, package_version=version, wad=Path(wad).name, lump=name)
                seqs.append(s)
    save_collection(
        seqs, args.out, name="freedoom",
        description="The composed soundtrack of Freedoom (Debian package freedoom): the standard MIDI music lumps "
                    "(D_*) of freedoom1.wad and freedoom2.wad, every 4/4 stretch, all tracks, quantized with "
                    "quantize_score.",
        source_package=f"{PACKAGE} {version} (Debian)", version={PACKAGE: version}, license={PACKAGE: LICENSE},
        built_with="python scripts/corpora/build_freedoom.py --out src/musicvae/assets/corpora/freedoom.npz")
    back = load_collection(args.out)
    summary = {"version": version, "items": len(back), "notes": int(sum(len(s) for s in back)),
               "bars": int(sum(s.num_bars for s in back)), **counts,
               "items_with_drums": sum(any(t.is_drum for t in s.tracks) for s in back),
               "skipped": skipped, "file_bytes": os.path.getsize(args.out), "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
