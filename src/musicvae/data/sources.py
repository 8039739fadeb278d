"""Where ``prepare`` reads from: a folder (recursive), a glob, single files, or a bundled corpus.

Place in the flow: command line SOURCE -> :func:`resolve_source` -> work items for ``prepare``.
"""

from __future__ import annotations

import glob as globlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..utils.names import printable
from .corpora import is_corpus_name, load_corpus

MIDI_EXTENSIONS = frozenset({".mid", ".midi", ".kar", ".rmi", ".smf"})


@dataclass
class Source:
    """Resolved input: ``files`` (paths) or ``corpus`` (name; items are indices)."""

    spec: str
    files: list[Path] = field(default_factory=list)
    corpus: str | None = None
    root: Path | None = None
    skipped: int = 0  # files in a folder without a MIDI extension

    @property
    def size(self) -> int:
        return len(load_corpus(self.corpus)) if self.corpus else len(self.files)

    def name_of(self, index: int) -> str:
        """Stable name of item ``index`` (relative path, or the corpus item's source); bytes that
        are not UTF-8 appear as ``\\xNN`` (:func:`~musicvae.utils.names.printable`)."""
        if self.corpus:
            return load_corpus(self.corpus)[index].source or f"{self.corpus}#{index}"
        path = self.files[index]
        if self.root is not None:
            try:
                return printable(path.relative_to(self.root))
            except ValueError:
                pass
        return printable(path)


def collection_of(name: str) -> str:
    """Collection of a source name (:meth:`Source.name_of`): its corpus sub-collection or top folder.

    ``music21:essenFolksong/x.abc#3`` -> ``essenFolksong``, ``mma:alexis/hiphop.mma#A`` ->
    ``alexis``, ``jazz/a.mid`` -> ``jazz``; a name without a folder (``a.mid``) -> ``""`` (the root).
    """
    rest = name.split(":", 1)[1] if ":" in name.split("/", 1)[0] else name
    return rest.split("/", 1)[0] if "/" in rest else ""


class SourceError(ValueError):
    """SOURCE names nothing usable (one-line message)."""


def resolve_source(spec: str | os.PathLike) -> Source:
    spec = str(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        files, skipped = [], 0
        for p in sorted(path.rglob("*")):
            if p.is_file():
                if p.suffix.lower() in MIDI_EXTENSIONS:
                    files.append(p)
                else:
                    skipped += 1
        if not files:
            raise SourceError(f"{spec}: no MIDI files (.mid, .midi, .kar, .rmi, .smf) in this folder")
        return Source(spec, files=files, root=path, skipped=skipped)
    if path.is_file():
        return Source(spec, files=[path], root=path.parent)
    if is_corpus_name(spec):
        load_corpus(spec)  # fail early if missing
        return Source(spec, corpus=spec)
    if any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in globlib.glob(os.path.expanduser(spec), recursive=True) if Path(p).is_file())
        if not files:
            raise SourceError(f"{spec}: the pattern matches no files")
        root = Path(os.path.commonpath([str(f.parent) for f in files]))
        return Source(spec, files=files, root=root)
    from .corpora import CORPORA

    raise SourceError(f"{spec}: no such file or folder, and not a bundled corpus ({', '.join(CORPORA)})")
