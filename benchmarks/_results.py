"""Shared by the scripts in ``benchmarks/``: the machine's CPU name and the marked blocks of RESULTS.md.

Each benchmark owns one block of ``benchmarks/RESULTS.md``, written between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``. :func:`write_section` replaces that block in place (or appends it, under an
optional heading, when the file has no such block yet) and leaves every other line of the file as it was,
so the scripts can rewrite their own results without touching each other's.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def markers(name: str) -> tuple[str, str]:
    """The start and end comment lines of the block ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("?" where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        return "?"


def write_section(name: str, body: str, path: Path = RESULTS, heading: str | None = None) -> Path:
    """Put ``body`` between the markers of ``name`` in ``path``; returns ``path``.

    An existing block is replaced where it stands; a missing one (or a file that does not exist yet) is
    appended after ``heading`` if given. A start marker without its end marker counts as missing, so a
    hand-damaged file never loses the text after a lone marker.
    """
    start, end = markers(name)
    block = f"{start}\n{body.strip(chr(10))}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if i >= 0 and j >= 0:
        text = text[:i] + block + text[j + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    path.write_text(text)
    return path
