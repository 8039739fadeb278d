"""File names from the outside world: show, hash and store any bytes the file system allows,
and turn names read from files into safe path components.

Place in the flow: a leaf used by every stage that prints, hashes or stores a file name
(``data.prepare``, ``data.records``, ``render``, the CLI) or builds a path from a name it read
from a file (attribute names of a model, labels).

Python decodes a name that is not valid UTF-8 with ``surrogateescape`` (``b"caf\\xe9"`` ->
``"caf\\udce9"``); such a string cannot be encoded to UTF-8, so printing, hashing or writing it
fails. :func:`name_bytes` gives the file system's own bytes (for hashing: unchanged for valid
UTF-8 names), :func:`printable` a string that always encodes (``caf\\xe9``).
"""

from __future__ import annotations

import os
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_bytes(name: str | os.PathLike) -> bytes:
    """The bytes of a file name as the file system holds them (valid UTF-8 names: their UTF-8)."""
    return os.fsencode(name) if isinstance(name, os.PathLike) else str(name).encode("utf-8", "surrogateescape")


def printable(name: str | os.PathLike) -> str:
    """A name that prints, hashes and stores anywhere, on one line: undecodable bytes and control
    characters (a newline in a file name) shown as ``\\xNN``."""
    if type(name) is str and name.isascii() and name.isprintable():  # the common case, unchanged
        return name
    raw = name_bytes(name)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", raw.decode("utf-8", "backslashreplace"))


def safe_component(name: str, fallback: str = "item", max_len: int = 80) -> str:
    """``name`` (read from a file) as one harmless path component: no separators, no ``..``,
    no leading dot, only ``[A-Za-z0-9._+=-]``; empty results become ``fallback``."""
    text = _UNSAFE.sub("_", printable(name)).strip("._")[:max_len].strip("._")
    return text or fallback
