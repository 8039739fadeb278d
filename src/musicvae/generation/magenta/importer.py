"""``musicvae import-magenta``: a magenta MusicVAE checkpoint -> a model dir every command can load.

Place in the flow: magenta's checkpoint (prefix, folder or published ``.tar``) ->
:func:`locate` -> :mod:`.tf_bundle` (numpy) -> :mod:`.mapping` -> our model -> a model dir as
``musicvae export`` writes it (``model.safetensors``, ``model.json``, ``CARD.md``, optional
``attributes.safetensors``) -> ``TrainedModel.load(DIR)``.

Nothing is written unless the whole import succeeds: the dir is assembled under a temporary
name next to ``--out`` and renamed at the end. TensorFlow is not needed.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from safetensors.numpy import save as save_numpy

from ...models.builders import build_model, count_parameters
from ...utils.io import atomic_write_bytes, atomic_write_json
from ...utils.stored import weights_bytes
from ..store import MODEL_FORMAT, MODEL_VERSION
from ..windows import InputError, input_errors
from . import mapping
from .tf_bundle import CheckpointFormatError, read_checkpoint, read_index

DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")
URL = "https://storage.googleapis.com/magentadata/models/music_vae/checkpoints/{}.tar"
PUBLISHED = ("cat-mel_2bar_big", "hierdec-mel_16bar", "hierdec-trio_16bar", "cat-drums_2bar_small.lokl",
             "cat-drums_2bar_small.hikl")


def _prefix_of_dir(path: Path) -> Path:
    state = path / "checkpoint"
    if state.is_file():  # TF's "checkpoint" state file names the latest prefix
        match = re.search(r'^model_checkpoint_path:\s*"(.+)"\s*$', state.read_text(errors="replace"), re.M)
        if match:
            prefix = Path(match.group(1))
            prefix = prefix if prefix.is_absolute() else path / prefix
            if Path(f"{prefix}.index").is_file():
                return prefix
    indexes = sorted(path.glob("*.index"))
    if not indexes:
        raise InputError(f"{path}: no TensorFlow checkpoint in this folder (no *.index file)")
    if len(indexes) > 1:
        names = ", ".join(p.name for p in indexes[:4])
        raise InputError(f"{path}: several checkpoints ({names}); give the prefix of one, e.g. {indexes[0].with_suffix('')}")
    return indexes[0].with_suffix("")


def _extract_tar(path: Path, into: Path) -> Path:
    """The checkpoint files of a published ``.tar`` (only regular ``*.index`` / ``*.data-*`` members)."""
    try:
        with tarfile.open(path) as tar:
            wanted = [m for m in tar.getmembers() if m.isfile() and
                      (m.name.endswith(".index") or DATA_SUFFIX.search(m.name))]
            indexes = [m for m in wanted if m.name.endswith(".index")]
            if not indexes:
                raise InputError(f"{path}: no TensorFlow checkpoint inside this archive (no *.index member)")
            if len(indexes) > 1:
                raise InputError(f"{path}: several checkpoints inside this archive; extract it and give one prefix")
            stem = os.path.basename(indexes[0].name)[: -len(".index")]
            for member in wanted:
                base = os.path.basename(member.name)
                if not (base == stem + ".index" or (base.startswith(stem) and DATA_SUFFIX.search(base))):
                    continue
                src = tar.extractfile(member)
                with open(into / base, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                if (into / base).stat().st_size != member.size:
                    raise InputError(f"{path}: truncated archive ({member.name} is incomplete)")
            return into / stem
    except (tarfile.TarError, EOFError) as exc:
        raise InputError(f"{path}: not a readable tar archive ({exc})") from None


@contextlib.contextmanager
def locate(path: str | os.PathLike) -> Iterator[Path]:
    """The checkpoint prefix for a prefix, an ``.index``/``.data-*`` file, a folder or a ``.tar`` (extracted to a temp dir)."""
    p = Path(path)
    if p.is_dir():
        yield _prefix_of_dir(p)
        return
    if p.is_file() and (p.suffix == ".tar" or tarfile.is_tarfile(p)):
        with tempfile.TemporaryDirectory(prefix="musicvae-magenta-") as tmp:
            yield _extract_tar(p, Path(tmp))
        return
    if p.is_file() and p.suffix in (".index", ".meta"):
        yield p.with_suffix("")
        return
    if p.is_file() and DATA_SUFFIX.search(p.name):
        yield p.with_name(DATA_SUFFIX.sub("", p.name))
        return
    if Path(f"{p}.index").is_file():
        yield p
        return
    if not p.exists():
        raise InputError(f"{p}: no such file, folder or checkpoint prefix ({p}.index)")
    raise InputError(f"{p}: not a TensorFlow checkpoint (give the prefix, its .index, its folder or the published .tar)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def card_text(cfg: mapping.MagentaConfig, name: str, source: str, sizes: tuple[int, int, int], params: int,
              index_sha: str, attributes: str, dtype: str = "float16") -> str:
    enc, dec, z = sizes
    published = "magenta's published sizes" if sizes == cfg.published else (
        f"NOT magenta's published sizes ({cfg.published[0]}/{cfg.published[1]}/{cfg.published[2]})")
    who = ("A checkpoint of magenta's MusicVAE code at the sizes of the checkpoints Magenta (Google) trained and "
           "published" if sizes == cfg.published else
           "A checkpoint of magenta's MusicVAE code at sizes other than Magenta's published ones (trained or "
           "built by someone else with magenta's code)")
    rep = {"melody": "melodies: 90 classes (no event, note-off, MIDI pitches 21-108)",
           "drums": "drums: 512 classes (9 drum classes, GM pitches mapped with the 2018 table)",
           "trio": "trios: melody and bass 90 classes each (pitches 21-108), drums 512 classes (2018 table)"}[cfg.kind]
    return f"""# {name}: magenta's `{cfg.name}` MusicVAE, imported

**Where the weights come from.** {who}; it was converted to this folder by `musicvae
import-magenta` without TensorFlow (every variable read from the TF checkpoint's own files and
mapped to musicvae's modules; nothing was retrained).

- source: `{source}` (index sha256 `{index_sha[:16]}...`)
- magenta config: `{cfg.name}`; sizes: encoder {enc} x {cfg.encoder_layers} layer(s) per direction,
  decoder {dec} x {cfg.decoder_layers}, z {z} ({published}); {params:,} parameters
- representation: {rep}, 16 steps per bar
- decoder: {cfg.decoder}{' (conductor + one decoder per instrument)' if cfg.split else ''}
- attribute vectors: {attributes}
- imported: {datetime.date.today().isoformat()}; weights stored as {dtype}{
    " (rounding moved tiny random-weight models' logits by up to 3e-2; import with --fp32 for exact agreement)"
    if dtype == "float16" else ""}

**License.** magenta's code, including the `music_vae` README that links these checkpoints
({URL.format(cfg.name)} and siblings), is published under the Apache License 2.0; that README
states no separate license for the checkpoint files. Check magenta's terms before redistributing
this folder, and credit Roberts et al., "A Hierarchical Latent Vector Model for Learning
Long-Term Structure in Music" (ICML 2018).

**Equivalence.** `make test-magenta` builds magenta's own graph for every supported config at
a tiny size with random weights, imports the checkpoint and compares encoder mu/sigma,
teacher-forced logits and greedy samples with TensorFlow's (see README, "Magenta's models").
"""


def import_magenta(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    config_name: str | None = None,
    name: str | None = None,
    dtype: torch.dtype = torch.float16,
    attributes: Callable[[Path], dict[str, np.ndarray]] | None = None,
    force: bool = False,
) -> tuple[Path, dict]:
    """Import a magenta checkpoint into ``out_dir``; returns ``(out_dir, info)``.

    ``attributes`` (optional) gets the assembled model dir and returns attribute vectors,
    stored as ``attributes.safetensors`` before the dir is moved into place.
    """
    src, out = Path(source), Path(out_dir)
    key = config_name or mapping.guess_config(src.name.rstrip("/"))
    if key is None:
        raise InputError(f"{src}: cannot tell the magenta config from the file name; give --config "
                         f"(one of {', '.join(mapping.CONFIGS)})")
    with input_errors(mapping.MappingError):
        cfg = mapping.resolve(key)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise InputError(f"{out}: already exists and is not empty (choose another --out or pass --force)")
    with locate(src) as prefix:
        try:
            _, entries = read_index(f"{prefix}.index")
            shapes = {e.name: e.shape for e in entries}
            sizes = mapping.check_variables(cfg, shapes)
            wanted = set(mapping.expected_variables(cfg, *sizes))
            weights = read_checkpoint(prefix, names=wanted)
            config, rep, state = mapping.convert(cfg, weights)
            del weights  # the checkpoint's arrays: only the converted copies are needed now
        except (CheckpointFormatError, mapping.MappingError) as exc:
            raise InputError(f"{src}: {exc}" if str(prefix) not in str(exc) else str(exc)) from None
        index_sha = _sha256(Path(f"{prefix}.index"))
    model = build_model(config, tuple(rep["vocab_sizes"]))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    del state
    params = count_parameters(model)
    model_name = name or out.name
    info = {"source": "magenta", "magenta_config": cfg.name, "checkpoint": src.name, "index_sha256": index_sha,
            "sizes": {"encoder": sizes[0], "decoder": sizes[1], "z": sizes[2]},
            "published_sizes": sizes == cfg.published, "parameters": params,
            "data": "magenta's training set (published checkpoint)"}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.import-", dir=out.parent))
    try:
        atomic_write_bytes(tmp / "model.safetensors", weights_bytes(model, dtype))
        meta = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "name": model_name, "config": config.to_dict(),
                "representation": rep, "weights_dtype": str(dtype).replace("torch.", ""), "info": info}
        atomic_write_json(tmp / "model.json", meta)
        attrs = attributes(tmp) if attributes is not None else {}
        if attrs:
            blob = save_numpy({k: np.asarray(v, dtype=np.float32) for k, v in attrs.items()})
            atomic_write_bytes(tmp / "attributes.safetensors", blob)
        how = f"{len(attrs)} computed by musicvae from the data given with --attributes-from" if attrs else \
            "none (magenta published none; add them with `import-magenta ... --attributes-from DATA`)"
        card = card_text(cfg, model_name, src.name, sizes, params, index_sha, how, str(dtype).replace("torch.", ""))
        atomic_write_bytes(tmp / "CARD.md", card.encode("utf-8"))
        os.chmod(tmp, 0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    info["attributes"] = sorted(attrs)
    return out, json.loads(json.dumps(info))
