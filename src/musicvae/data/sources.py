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
    """Resolved input: ``files`` (paths relative to ``root``) or ``corpus`` (name; items are indices)."""

    spec: str
    # paths relative to root, as plain strings: a file's name is the same string object (printable
    # returns it unchanged), so a folder of 54k files holds ~80 B per file, not two strings and a Path
    files: list[str] = field(default_factory=list)
    corpus: str | None = None
    root: Path | None = None
    skipped: int = 0  # files in a folder without a MIDI extension
    # every other input path that is not a source, with its reason: non-MIDI names, special
    # entries (FIFO, socket, device), broken links, links to folders, unreadable folders
    skipped_entries: list[tuple[str, str]] = field(default_factory=list)
    _names: list[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(load_corpus(self.corpus)) if self.corpus else len(self.files)

    def name_of(self, index: int) -> str:
        """Stable name of item ``index`` (relative path, or the corpus item's source); bytes that
        are not UTF-8 appear as ``\\xNN`` (:func:`~musicvae.utils.names.printable`)."""
        if self.corpus:
            return load_corpus(self.corpus)[index].source or f"{self.corpus}#{index}"
        if self._names is None:  # every name at once (prepare asks for each several times)
            self._names = [printable(rel) for rel in self.files]
        return self._names[index]

    def path_of(self, index: int) -> str:
        """The path of file ``index`` (its root joined to its relative path)."""
        root = os.fspath(self.root) if self.root is not None else ""
        return os.path.join(root, self.files[index]) if root not in ("", ".") else self.files[index]


def collection_of(name: str) -> str:
    """Collection of a source name (:meth:`Source.name_of`): its corpus sub-collection or top folder.

    ``music21:essenFolksong/x.abc#3`` -> ``essenFolksong``, ``mma:alexis/hiphop.mma#A`` ->
    ``alexis``, ``jazz/a.mid`` -> ``jazz``; a name without a folder (``a.mid``) -> ``""`` (the root).
    """
    rest = name.split(":", 1)[1] if ":" in name.split("/", 1)[0] else name
    return rest.split("/", 1)[0] if "/" in rest else ""


NOT_MIDI = "not a MIDI file name"


def walk_folder(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """MIDI files under ``root`` (recursive, sorted; paths relative to ``root``) and ``(relative name, reason)`` for every
    other entry: nothing under the folder is left out silently. Links to files are followed,
    links to folders are not (a loop would never end)."""
    files: list[str] = []
    entries: list[tuple[str, str]] = []

    def rel(p: str) -> str:
        return printable(os.path.relpath(p, root))

    def unreadable(err: OSError) -> None:
        entries.append((rel(err.filename) if err.filename else "?", f"cannot read folder ({err.strerror or err})"))

    # os.scandir's entries know their type from the folder listing: no stat per plain file
    # (only links and file systems without entry types cost one)
    top = os.fspath(root)
    prefix = top if top.endswith(os.sep) else top + os.sep  # what scandir puts before each name
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                listing = list(it)  # DirEntry objects of one folder, dropped before the next
        except OSError as err:
            unreadable(err)
            continue
        while listing:
            entry = listing.pop()
            full = entry.path
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(full)
                    continue
                is_link = entry.is_symlink()
                if is_link and entry.is_dir():  # a link to a folder
                    entries.append((rel(full), "link to a folder (not followed)"))
                    continue
                regular = entry.is_file()  # follows a link to a file
                if not regular and is_link:
                    os.stat(full)  # raises for a broken link
            except OSError as exc:
                entries.append((rel(full), "broken link" if entry.is_symlink() else f"cannot read ({exc.strerror})"))
                continue
            if not regular:
                entries.append((rel(full), "not a regular file (FIFO, socket or device)"))
            elif Path(entry.name).suffix.lower() in MIDI_EXTENSIONS:
                files.append(full)
            else:
                entries.append((rel(full), f"{NOT_MIDI} ({Path(entry.name).suffix or 'no extension'})"))
    # the order of sorted Paths (component by component): the separator compares below every
    # character a name can hold (NUL never occurs in a path), one key string per file
    files.sort(key=lambda f: f.replace(os.sep, "\0"))
    # relative to root, made in one pass after the walk (made during it, between the listings'
    # short-lived entries, they scattered over more memory pages: +2 MiB peak at 54k files)
    files = [f[len(prefix):] if f.startswith(prefix) else os.path.relpath(f, top) for f in files]
    entries.sort()
    return files, entries


class SourceError(ValueError):
    """SOURCE names nothing usable (one-line message)."""


def resolve_source(spec: str | os.PathLike) -> Source:
    spec = str(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        files, entries = walk_folder(path)
        if not files:
            why = f" ({len(entries)} other entr{'y' if len(entries) == 1 else 'ies'}, e.g. {entries[0][0]}: " \
                  f"{entries[0][1]})" if entries else ""
            raise SourceError(f"{spec}: no MIDI files (.mid, .midi, .kar, .rmi, .smf) in this folder{why}")
        skipped = sum(1 for _, why in entries if why.startswith(NOT_MIDI))
        return Source(spec, files=files, root=path, skipped=skipped, skipped_entries=entries)
    if path.is_file():
        return Source(spec, files=[path.name], root=path.parent)
    if is_corpus_name(spec):
        load_corpus(spec)  # fail early if missing
        return Source(spec, corpus=spec)
    if any(ch in spec for ch in "*?["):
        matched = sorted(globlib.glob(os.path.expanduser(spec), recursive=True))
        found = [os.path.normpath(p) for p in matched if os.path.isfile(p)]
        if not found:
            raise SourceError(f"{spec}: the pattern matches no files")
        root = Path(os.path.commonpath([os.path.dirname(f) or "." for f in found]))
        files = [os.path.relpath(f, root) for f in found]
        others = [(printable(p), "not a regular file") for p in matched if not Path(p).is_file() and not Path(p).is_dir()]
        return Source(spec, files=files, root=root, skipped_entries=others)
    from .corpora import CORPORA

    raise SourceError(f"{spec}: no such file or folder, and not a bundled corpus ({', '.join(CORPORA)})")
