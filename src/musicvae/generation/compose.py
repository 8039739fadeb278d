"""MCVAE composition: :class:`ComposerModel` (what ``musicvae compose`` and the studio call).

Place in the flow: a composer folder (``train --preset mcvae-composer_* --vae RUN``, or the
bundled ``mcvae_folk`` in ``assets/models/``) -> :func:`load_mcvae` -> :class:`ComposerModel`
-> :meth:`~ComposerModel.compose` -> NoteSequences.

A composer folder holds ``composer.json``, ``composer.safetensors``, ``bar_vae.safetensors``
(the bar VAE it learnt from) and, when bundled, a ``CARD.md``. Bundled composers are found
by name like the other bundled models (``musicvae compose --model mcvae_folk``).

A composition continues from the first bar(s) of a prime (kept as written in the output; the
composer reads their codes) or, without one, from a draw of the bar VAE's prior N(0, I).
Errors the user can fix (a prime shorter than one bar, a missing or non-MIDI file, a composer
paired with a bar VAE it did not learn from) are one-line :class:`~.windows.InputError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..data.latents import LatentDataError, SeedError, seed_bars
from ..models.builders import build_model
from ..models.mcvae import COMPOSER_FORMAT, COMPOSER_VERSION, MCVAE, Composer, bar_vae_fingerprint
from ..music.sequence import NoteSequence
from ..representations.bars import BarConverter
from ..utils.run_dirs import (BEST_DIR, CHECKPOINTS_DIR, MODEL_FILE, TRAINER_FILE, has_checkpoints, read_config,
                              read_trainer, resolve_checkpoint)
from ..utils.stored import StoredFileError, load_weights_bytes, read_bytes, read_json
from .keys import constrained
from .store import bundled_models, load_model_files
from .windows import InputError, input_errors

BUNDLED_COMPOSER = "mcvae_folk"


def is_composer_dir(path: str | os.PathLike) -> bool:
    """A composer folder of the first format, or a composer training run."""
    path = Path(path)
    if (path / "composer.json").is_file():
        return True
    try:
        return has_checkpoints(path) and read_config(path).get("model", {}).get("family") == "mcvae"
    except (StoredFileError, OSError):
        return False


def bundled_composers() -> dict[str, Path]:
    """Name -> folder of every composer shipped with the package."""
    return bundled_models("composer.json")


def resolve_composer(name_or_path: str | os.PathLike) -> Path:
    """A bundled composer's name or a folder -> the folder (unchanged when not bundled)."""
    bundled = bundled_composers()
    return bundled[str(name_or_path)] if str(name_or_path) in bundled else Path(name_or_path)


def load_bar_vae(name_or_path: str | os.PathLike) -> tuple[torch.nn.Module, dict]:
    """A trained 1-bar VAE (run dir, checkpoint or export) and the info to store with a composer."""
    try:
        files = load_model_files(name_or_path)
    except InputError as exc:
        raise InputError(f"bar VAE: {exc}") from None
    if int(getattr(files.model, "steps", 0)) != 16 or getattr(files.model, "z_size", 0) <= 0:
        raise InputError(f"{name_or_path}: not a 1-bar VAE (train one with --preset mcvae-bar_* on 1-bar melody data)")
    info = {"config": files.config.to_dict(), "representation": dict(files.representation), "source": str(name_or_path)}
    return files.model.float().eval(), info


# --------------------------------------------------------------------------- composer folders
def _check_pair(doc: dict, bar_vae: torch.nn.Module | None, where: Path) -> None:
    if bar_vae is not None and doc.get("bar_vae") is not None:
        given = bar_vae_fingerprint(bar_vae)
        if given != doc["bar_vae"]:
            raise InputError(
                f"{where}: this composer learnt the codes of bar VAE {doc['bar_vae']}, but the bar VAE given is "
                f"{given}; pair it with its own bar VAE or train a composer for this one"
            )


def _stored_bar_vae(doc: dict, where: Path) -> torch.nn.Module:
    vae_doc = doc.get("bar_vae_model")
    if not isinstance(vae_doc, dict) or not vae_doc.get("config"):
        raise InputError(f"{where}: no copy of the bar VAE stored with this composer; give the bar VAE (--vae RUN_DIR)")
    return build_model(Config.from_dict(vae_doc["config"]), tuple(vae_doc["vocab_sizes"]))


def _fill(model: torch.nn.Module, path: Path, record) -> None:
    """Weights from ``path`` (checked against its sidecar's record) into ``model``."""
    with input_errors(StoredFileError):
        load_weights_bytes(model, read_bytes(path, record), path)


def load_mcvae(path: str | os.PathLike, *, bar_vae: torch.nn.Module | None = None,
               device: str | torch.device = "cpu") -> MCVAE:
    """A composer run (``train --preset mcvae-composer_*``: its best checkpoint) or a composer folder of the
    first format (``composer.json``) -> :class:`MCVAE`, with its stored bar VAE or the ``bar_vae`` given (checked)."""
    root = Path(path).parent if Path(path).name == "composer.json" else Path(path)
    meta_path = root / "composer.json"
    if not meta_path.is_file():
        return _run_mcvae(root, bar_vae, device)
    with input_errors(StoredFileError):
        doc = read_json(meta_path)
    if not isinstance(doc, dict) or doc.get("format") != COMPOSER_FORMAT or doc.get("version") != COMPOSER_VERSION:
        raise InputError(f"{meta_path}: not a {COMPOSER_FORMAT} v{COMPOSER_VERSION} file")
    _check_pair(doc, bar_vae, root)
    composer = Composer(**doc["composer"])
    files = doc.get("files", {})
    _fill(composer, root / "composer.safetensors", files.get("composer.safetensors"))
    if bar_vae is None:
        bar_vae = _stored_bar_vae(doc, root)
        _fill(bar_vae, root / "bar_vae.safetensors", files.get("bar_vae.safetensors"))
        if doc.get("bar_vae") is not None and bar_vae_fingerprint(bar_vae) != doc["bar_vae"]:
            raise InputError(f"{root / 'bar_vae.safetensors'}: is not the bar VAE recorded in composer.json")
    return MCVAE(bar_vae.to(device).eval(), composer.to(device).eval())


def _run_mcvae(root: Path, bar_vae: torch.nn.Module | None, device) -> MCVAE:
    best = root / CHECKPOINTS_DIR / BEST_DIR
    with input_errors(StoredFileError):
        step_dir = best if (best / TRAINER_FILE).is_file() else resolve_checkpoint(root)
        doc = read_trainer(step_dir)
    if (doc.get("config") or {}).get("model", {}).get("family") != "mcvae":
        raise InputError(f"{root}: a training run, not a composer (compose reads the --out of "
                         f"`musicvae train --preset mcvae-composer_* --vae RUN_DIR`)")
    _check_pair(doc, bar_vae, root)
    mc = MCVAE(_stored_bar_vae(doc, root), Composer(**doc["composer"]))
    _fill(mc, step_dir / MODEL_FILE, (doc.get("files") or {}).get(MODEL_FILE))
    return MCVAE((bar_vae or mc.bar_vae).to(device).eval(), mc.composer.to(device).eval())


class ComposerModel:
    """A loaded MCVAE (bar VAE + mixture-density composer) that composes melodies bar by bar."""

    def __init__(self, mcvae, name: str):
        self.mc, self.name = mcvae, name
        self.converter = BarConverter(programs=None)  # a prime may use any non-drum program

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, vae: str | os.PathLike | None = None) -> "ComposerModel":
        """A bundled composer's name or a composer folder; ``vae``: decode with this bar VAE (checked) instead
        of the stored copy."""
        path = resolve_composer(name_or_path)  # a bundled composer's name (mcvae_folk) or a folder
        if not path.exists():
            raise InputError(f"{name_or_path}: no such composer folder or bundled composer (bundled: "
                             f"{', '.join(bundled_composers()) or 'none'}; train one with --preset mcvae-composer_* "
                             f"--vae RUN_DIR)")
        if not (path / "composer.json").is_file() and not has_checkpoints(path):
            raise InputError(f"{name_or_path}: not a composer folder (no composer.json) or composer run")
        bar_vae = load_bar_vae(vae)[0] if vae is not None else None
        try:
            mc = load_mcvae(path, bar_vae=bar_vae)
        except InputError:
            raise
        except ValueError as exc:  # MCVAE's own pairing checks (code size, bar length)
            raise InputError(f"{name_or_path}: {exc}") from None
        if tuple(mc.vocab_sizes) != (130,):
            raise InputError(f"{name_or_path}: the bar VAE reads {mc.vocab_sizes} melody classes; MCVAE's bars use "
                             f"130 (prepare the bar VAE's data with the default --classes 130)")
        return cls(mc, path.name)

    @torch.no_grad()
    def compose(self, n: int = 1, bars: int = 64, prime: str | os.PathLike | NoteSequence | None = None,
                prime_bars: int = 1, temperature: float = 0.5, mixture_temperature: float = 1.0,
                sigma_temperature: float = 1.0, seed: int | None = None, key: str | None = None,
                qpm: float = 120.0) -> tuple[list[NoteSequence], int]:
        """``n`` compositions of ``bars`` bars and how many bars of ``prime`` they keep (0 without one).

        With a prime: its first ``prime_bars`` bars from its first note (fewer when it is shorter) as
        written, then the composer's continuation of their codes; without: a prior draw continued.
        ``temperature``: the bar decoder's; ``mixture_temperature`` / ``sigma_temperature``: the composer's.
        """
        kept, codes = None, None
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        with input_errors(SeedError, LatentDataError):
            if prime is not None:
                kept = seed_bars(prime, max_bars=prime_bars, converter=self.converter)  # (P, 16)
                codes = self.mc.encode_bars(torch.as_tensor(kept, dtype=torch.long)[None, :, :, None])  # (1, P, Z)
                codes = codes.expand(n, -1, -1)
        with constrained(self.mc.bar_vae, self.converter.melody.streams, key, self.name):
            tokens = self.mc.compose(bars, codes, temperature=temperature, mixture_temperature=mixture_temperature,
                                     sigma_temperature=sigma_temperature, batch=n, generator=gen)  # (n, bars*16, 1)
        grids: np.ndarray = tokens[..., 0].cpu().numpy().reshape(n, bars, self.converter.steps_per_bar)
        if kept is not None:
            grids[:, : len(kept)] = kept  # the prime as written, then the continuation
        seqs = [self.converter.decode(self.converter.canonicalize(g), qpm=qpm).copy(source=self.name) for g in grids]
        return seqs, 0 if kept is None else len(kept)

    def continue_sequence(self, prime: NoteSequence, bars: int = 8, prime_bars: int = 1, temperature: float = 0.5,
                          mixture_temperature: float = 0.5, sigma_temperature: float = 1.0,
                          seed: int | None = None, key: str | None = None, qpm: float | None = None) -> NoteSequence:
        """``bars`` bars: the first ``prime_bars`` of ``prime`` (from its first note) as written, then the composer's."""
        seqs, _ = self.compose(1, bars, prime, max(1, min(prime_bars, bars - 1)), temperature, mixture_temperature,
                               sigma_temperature, seed, key, qpm or float(prime.qpm or 120.0))
        return seqs[0]

    def describe(self) -> dict:
        return {"name": self.name, "z_size": int(self.mc.z_size), "kind": "composer"}
