"""Style labels of source files: from a bundled corpus's metadata or a user's mapping file.

Place in the flow: ``prepare`` asks :func:`source_labels` for each source item's labels
-> ``merge`` gives every window the labels of the files it came from (the union over
duplicate windows) -> shards hold ``labels`` ``(n, M)`` int16 ids (``-1`` padding) and
``manifest.json`` the names -> ``training.batches`` draws one label per window per step ->
MusAE's flower prior (``models.modules.priors.label_components`` maps names to petals).

Label names may be hierarchical, ``group/name``: labels sharing a group land on
neighbouring petals, and ``musicvae sample --label group`` samples all of them.

Bundled corpora (see ``assets/corpora/PROVENANCE.md``):

* ``folk``: ``region/collection`` from each tune's source file. Essen (music21's
  ``essenFolksong``): ``han*`` -> ``chinese/essen``, ``irl`` -> ``irish/essen``, ``lot`` ->
  ``lorraine/essen``, ``lux`` -> ``luxembourg/essen``, the German collections (``altdeu``,
  ``ballad``, ``boehme``, ``dva``, ``erk``, ``fink``, ``kinder``, ``variant``, ``zuccal``) ->
  ``german/essen``; ``test*`` and ``folkHaydn`` (no stated region) stay unlabelled.
  O'Neill's 1850 -> ``irish/oneills``; Aird's Airs -> ``scottish/aird``; miscFolk's
  American fife tunes -> ``american/fife``, its Northumbrian minstrelsy ->
  ``english/northumbrian``; Nottingham -> ``english/nottingham``.
* ``fiddle``: Ryan's Mammoth Collection (Boston, 1883) -> ``american/ryans``.
* ``games``: the soundtrack (``planetblupi``, ``openttd``).
* ``bach`` (one composer) and ``grooves`` (246 loosely named groove files): no labels;
  give your own with ``--labels``.

Mapping file (``--labels FILE``) for any source, ``.csv`` or ``.json``:

* CSV: ``file,label[,label...]`` per row (a cell may also hold several labels separated
  by ``;`` or ``|``); a first row whose first cell is ``file``, ``filename``, ``path`` or
  ``name`` is a header.
* JSON: an object ``{"file": "label" | ["label", ...]}``.

A key names a source item by its path relative to the source folder (as the
manifest lists it), its file name, or its file name without extension; a key that
names no item is counted in the manifest (``labels.unmatched_entries``).
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path, PurePosixPath

import numpy as np

from ..music.sequence import NoteSequence
from .corpora import corpus_parts, load_corpus
from .records import duplicate_groups, label_matrix, lowest_labels
from .sources import Source

LABEL_SEPARATORS = re.compile(r"[;|]")
HEADER_KEYS = {"file", "filename", "path", "name"}
MAX_LABELS_PER_WINDOW = 16

_ESSEN_REGIONS = {"han": "chinese", "irl": "irish", "lot": "lorraine", "lux": "luxembourg"}
_ESSEN_GERMAN = {"altdeu", "ballad", "boehme", "dva", "erk", "fink", "kinder", "variant", "zuccal"}
_GAMES = {"planetblupi-music-midi": "planetblupi", "openttd-openmsx": "openttd"}
# music21 collections of one region
_ONE_LABEL = {"oneills1850": "irish/oneills", "airdsAirs": "scottish/aird",
              "nottingham-dataset": "english/nottingham", "ryansMammoth": "american/ryans"}


class LabelError(ValueError):
    """A mapping file that cannot be used (one-line message naming the file)."""


def folk_labels(seq: NoteSequence) -> list[str]:
    """``region/collection`` of a ``folk`` or ``fiddle`` tune from its source ``music21:<collection>/<file>#<X>``."""
    collection, _, rest = seq.source.removeprefix("music21:").partition("/")
    stem = rest.split("#")[0].rsplit(".", 1)[0]
    if collection == "essenFolksong":
        base = re.sub(r"\d+$", "", stem)
        if base in _ESSEN_REGIONS:
            return [f"{_ESSEN_REGIONS[base]}/essen"]
        return ["german/essen"] if base in _ESSEN_GERMAN else []
    if collection == "miscFolk":
        return ["american/fife"] if "fife" in stem else ["english/northumbrian"] if "northumbrian" in stem else []
    return [_ONE_LABEL[collection]] if collection in _ONE_LABEL else []


def corpus_labels(corpus: str, seq: NoteSequence) -> list[str]:
    """The style labels of one item of a bundled corpus (see the module docstring)."""
    if corpus in ("folk", "fiddle"):
        return folk_labels(seq)
    if corpus == "games":
        return [_GAMES.get(seq.label, seq.label)] if seq.label else []
    return []


def _split_labels(cells: list[str]) -> list[str]:
    out: list[str] = []
    for cell in cells:
        out += [p.strip() for p in LABEL_SEPARATORS.split(cell) if p.strip()]
    return list(dict.fromkeys(out))  # unique, in order


MAX_LABEL_FILE_BYTES = 256 * 2**20


def read_label_file(path: str | os.PathLike) -> dict[str, list[str]]:
    """``{key: [labels]}`` from a ``.csv`` or ``.json`` mapping file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such labels file")
    if path.stat().st_size > MAX_LABEL_FILE_BYTES:
        raise LabelError(f"{path}: labels file too large ({path.stat().st_size / 2**20:.0f} MiB)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: cannot read labels file ({exc})") from None
    mapping: dict[str, list[str]] = {}
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except RecursionError:
            raise LabelError(f"{path}: invalid JSON (nested too deeply)") from None
        except json.JSONDecodeError as exc:
            raise LabelError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(doc, dict):
            raise LabelError(f"{path}: expected a JSON object mapping file -> label or [labels]")
        for key, value in doc.items():
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise LabelError(f"{path}: the labels of {key!r} must be a string or a list of strings")
            mapping.setdefault(str(key).strip(), []).extend(_split_labels(values))
    elif path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
        if rows and rows[0][0].strip().lower() in HEADER_KEYS:
            rows = rows[1:]
        for number, row in enumerate(rows, 1):
            labels = _split_labels(row[1:])
            if not row[0].strip() or not labels:
                raise LabelError(f"{path}: row {number} ({','.join(row)!r}) needs a file and at least one label")
            mapping.setdefault(row[0].strip(), []).extend(labels)
    else:
        raise LabelError(f"{path}: labels file must end in .csv or .json")
    mapping = {k: list(dict.fromkeys(v)) for k, v in mapping.items() if v}
    if not mapping:
        raise LabelError(f"{path}: holds no file -> label entries")
    return mapping


def _keys(name: str) -> list[str]:
    """Ways a mapping file may name a source item: relative path, file name, file name without extension."""
    p = PurePosixPath(name.replace("\\", "/").split("#")[0])
    return [name, str(p), p.name, p.stem]


def match_labels(names: list[str], mapping: dict[str, list[str]]) -> tuple[list[list[str]], list[str]]:
    """Labels of each source item (``names`` as the manifest lists them) and the mapping keys that matched none."""
    found = [next((key for key in _keys(name) if key in mapping), None) for name in names]
    return [list(mapping.get(key, [])) for key in found], sorted(set(mapping) - set(found))


def source_labels(source: Source, labels_file: str | os.PathLike | None = None) -> tuple[list[list[str]], dict]:
    """Labels of every item of ``source`` and where they came from (for the manifest).

    A mapping file wins over a bundled corpus's own labels; without either, no item has labels.
    """
    names = [source.name_of(i) for i in range(source.size)]
    if labels_file is not None:
        mapping = read_label_file(labels_file)
        labels, unmatched = match_labels(names, mapping)
        if not any(labels):
            raise LabelError(f"{labels_file}: none of its {len(mapping)} entries names a file of {source.spec} "
                             f"(keys are paths relative to the source folder, file names, or names without extension; "
                             f"e.g. {names[0]!r})")
        return labels, {"from": str(labels_file), "unmatched_entries": len(unmatched),
                        "unmatched_examples": unmatched[:5]}
    if source.corpus:
        labels = [corpus_labels(part, seq) for part in corpus_parts(source.corpus) for seq in load_corpus(part)]
        return labels, {"from": f"corpus {source.corpus}" if any(labels) else None}
    return [()] * len(names), {"from": None}  # one shared empty tuple (read only), not a list per item


def window_labels(keys: list[bytes] | np.ndarray, items: np.ndarray, item_ids: list[list[int]]) -> np.ndarray:
    """``(n, M)`` int16 label ids per record (``-1`` padding): the union over all copies of the window.

    ``keys`` are the records' dedup keys, ``items`` ``(n,)`` their source items and
    ``item_ids`` each item's label ids. At most :data:`MAX_LABELS_PER_WINDOW` ids are kept
    (the lowest), so a pattern found in many files does not blow the array up.
    """
    group = duplicate_groups(keys)  # (n,)
    lab = label_matrix(item_ids)[items]  # (n, width)
    g, lid = np.repeat(group, lab.shape[1]), lab.ravel()
    keep = lid >= 0
    n_groups = int(group.max()) + 1 if len(group) else 0
    pairs = np.unique(np.stack([g[keep], lid[keep]], axis=1), axis=0) if keep.any() else np.zeros((0, 2), np.int64)
    return lowest_labels(pairs, n_groups, MAX_LABELS_PER_WINDOW)[group]  # (n, M)


def label_counts(labels: np.ndarray, names: list[str]) -> tuple[dict[str, int], int]:
    """Windows carrying each label, and windows without any, of a ``(n, M)`` label array."""
    if len(labels) == 0:
        return {name: 0 for name in names}, 0
    counts = np.bincount(labels[labels >= 0].astype(np.int64), minlength=len(names))
    return dict(zip(names, counts.tolist())), int((labels < 0).all(axis=1).sum())


def labels_manifest(names: list[str], info: dict | None, splits: dict[str, dict], sources_labelled: int) -> dict:
    """The manifest's ``labels`` entry: names, origin, and windows per label and split."""
    doc: dict = {"names": names, **(info or {"from": None})}
    if names:
        doc["windows"], doc["unlabelled_windows"] = {}, {}
        for split, records in splits.items():
            arr = records.get("labels", np.zeros((0, 1), np.int16)) if records else np.zeros((0, 1), np.int16)
            doc["windows"][split], doc["unlabelled_windows"][split] = label_counts(arr, names)
        doc["sources_labelled"] = sources_labelled
    return doc
