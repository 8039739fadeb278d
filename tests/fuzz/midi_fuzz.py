"""A seeded generator of corrupted MIDI files made from real ones (tests/fixtures/real).

Place in the flow: the fuzz target of ``musicvae prepare`` (``test_prepare_fuzz.py``); also
runnable by hand: ``python tests/fuzz/midi_fuzz.py OUT_DIR --n 500 --seed 3`` writes a folder.

Each case is a real file put through one to three mutations that real-world corpora show
or a hostile user could make: flipped bits, truncation, overwritten or inserted bytes, lying
chunk lengths, header fields (format, track count, SMPTE or zero division), absurd delta times,
spliced files, runaway note repeats, empty files and garbage behind a valid header. Names mix
plain, non-UTF-8 bytes, upper-case and other MIDI extensions. The same seed gives the same bytes.
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


def real_files() -> list[bytes]:
    return [p.read_bytes() for p in sorted(REAL.rglob("*.mid"))]


def _track_offsets(data: bytes) -> list[int]:
    """Offsets of the ``MTrk`` chunk headers (as far as the bytes say)."""
    out, at = [], data.find(b"MTrk")
    while at >= 0:
        out.append(at)
        at = data.find(b"MTrk", at + 4)
    return out


def _flip_bits(d: bytearray, r: random.Random) -> None:
    for _ in range(r.choice((1, 2, 8, 64))):
        i = r.randrange(len(d))
        d[i] ^= 1 << r.randrange(8)


def _truncate(d: bytearray, r: random.Random) -> None:
    del d[r.randrange(len(d)):]


def _overwrite(d: bytearray, r: random.Random) -> None:
    at = r.randrange(len(d))
    n = r.choice((1, 4, 16, 256))
    d[at:at + n] = bytes(r.randrange(256) for _ in range(min(n, len(d) - at)))


def _insert(d: bytearray, r: random.Random) -> None:
    at = r.randrange(len(d) + 1)
    d[at:at] = bytes(r.randrange(256) for _ in range(r.choice((1, 3, 17, 300))))


def _lie_length(d: bytearray, r: random.Random) -> None:
    offs = _track_offsets(bytes(d))
    if offs:
        at = r.choice(offs) + 4
        value = r.choice((0, 1, 7, 0x7FFFFFFF, 0xFFFFFFFF, r.randrange(1 << 20)))
        d[at:at + 4] = struct.pack(">I", value)


def _header(d: bytearray, r: random.Random) -> None:
    if len(d) < 14:
        return
    field = r.choice(("format", "ntracks", "division", "length"))
    if field == "format":
        d[8:10] = struct.pack(">H", r.choice((0, 1, 2, 3, 0xFFFF)))
    elif field == "ntracks":
        d[10:12] = struct.pack(">H", r.choice((0, 1, 200, 0xFFFF)))
    elif field == "division":
        d[12:14] = r.choice((b"\x00\x00", b"\xe7\x28", b"\x00\x01", b"\x7f\xff", b"\x80\x00"))
    else:
        d[4:8] = struct.pack(">I", r.choice((0, 2, 6, 100, 0xFFFFFFFF)))


def _huge_delta(d: bytearray, r: random.Random) -> None:
    offs = _track_offsets(bytes(d))
    if offs:
        at = r.choice(offs) + 8  # first event's delta time
        d[at:at] = b"\xff\xff\xff\x7f\x90\x3c\x40"  # 0x0FFFFFFF ticks, then a note-on
        d[12:14] = r.choice((b"\x00\x01", d[12:14]))


def _splice(d: bytearray, r: random.Random, pool: list[bytes]) -> None:
    other = r.choice(pool)
    cut = r.randrange(len(d))
    d[cut:] = other[r.randrange(len(other)):]


def _repeat(d: bytearray, r: random.Random) -> None:
    offs = _track_offsets(bytes(d))
    if offs:
        at = r.choice(offs) + 8
        chunk = bytes(d[at:at + r.choice((8, 32, 128))])
        d[at:at] = chunk * r.choice((10, 200, 2000))


MUTATIONS = ("flip", "truncate", "overwrite", "insert", "lie_length", "header", "huge_delta", "splice", "repeat")


def corrupt(data: bytes, r: random.Random, pool: list[bytes]) -> tuple[bytes, list[str]]:
    """One corrupted variant of ``data`` and the names of the mutations applied."""
    roll = r.random()
    if roll < 0.02:
        return b"", ["empty"]
    if roll < 0.04:
        return b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0" + bytes(r.randrange(256) for _ in range(200)), ["garbage"]
    d = bytearray(data)
    applied = []
    for _ in range(r.choice((1, 1, 2, 3))):
        if not d:
            break
        name = r.choice(MUTATIONS)
        fn = globals()[f"_{name}" if name != "flip" else "_flip_bits"]
        fn(d, r, pool) if name == "splice" else fn(d, r)
        applied.append(name)
    return bytes(d), applied


_EXTENSIONS = (".mid", ".mid", ".mid", ".MID", ".midi", ".kar", ".smf")


def case_name(i: int, r: random.Random) -> bytes:
    stem = f"case{i:05d}".encode()
    if r.random() < 0.1:
        stem += b"-\xe9\xff"  # not UTF-8
    elif r.random() < 0.05:
        stem += " spaced [x] ü".encode()
    return stem + r.choice(_EXTENSIONS).encode()


def write_cases(folder: str | os.PathLike, n: int, seed: int, good_share: float = 0.25) -> dict[bytes, list[str]]:
    """``n`` files in ``folder`` (a quarter untouched real files); returns file name -> mutations."""
    r = random.Random(seed)
    pool = real_files()
    base = os.fsencode(folder)
    os.makedirs(base, exist_ok=True)
    made: dict[bytes, list[str]] = {}
    for i in range(n):
        data = r.choice(pool)
        if r.random() < good_share:
            content, applied = data, []
        else:
            content, applied = corrupt(data, r, pool)
        sub = b"" if r.random() < 0.7 else b"sub%d/" % r.randrange(3)
        if sub:
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        name = sub + case_name(i, r)
        with open(os.path.join(base, name), "wb") as fh:
            fh.write(content)
        made[name] = applied
    return made


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cases = write_cases(a.out, a.n, a.seed)
    print(f"wrote {len(cases)} files to {a.out}")
