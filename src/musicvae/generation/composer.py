"""An MCVAE composer ready to continue music: :class:`ComposerModel` (what ``compose`` and the studio call).

Place in the flow: a composer folder (``train --preset mcvae-composer_* --vae RUN``, or the
bundled ``mcvae_folk`` in ``assets/models/``) -> ``training.composer.load_mcvae`` ->
:class:`ComposerModel` -> NoteSequences.

A composer folder holds ``composer.json``, ``composer.safetensors``, ``bar_vae.safetensors``
(the bar VAE it learnt from) and, when bundled, a ``CARD.md``. Bundled composers are found
by name like the other bundled models (``musicvae compose --model mcvae_folk``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..music.sequence import NoteSequence
from .keys import constrained
from .store import BUNDLED_DIR
from .windows import InputError

BUNDLED_COMPOSER = "mcvae_folk"


def is_composer_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / "composer.json").is_file()


def bundled_composers() -> dict[str, Path]:
    """Name -> folder of every composer shipped with the package."""
    if not BUNDLED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(BUNDLED_DIR.iterdir()) if is_composer_dir(p)}


def resolve_composer(name_or_path: str | os.PathLike) -> Path:
    """A bundled composer's name or a folder -> the folder (unchanged when not bundled)."""
    bundled = bundled_composers()
    return bundled[str(name_or_path)] if str(name_or_path) in bundled else Path(name_or_path)


class ComposerModel:
    """A loaded MCVAE (bar VAE + mixture-density composer) that continues melodies bar by bar."""

    def __init__(self, mcvae, name: str):
        from ..representations.bars import BarConverter

        self.mc, self.name = mcvae, name
        self.converter = BarConverter(programs=None)  # a prime may use any non-drum program

    @classmethod
    def load(cls, name_or_path: str | os.PathLike) -> "ComposerModel":
        from ..training.composer import ComposerError, load_mcvae

        path = resolve_composer(name_or_path)
        if not is_composer_dir(path):
            raise InputError(f"{name_or_path}: not a composer folder (no composer.json)")
        try:
            return cls(load_mcvae(path), path.name)
        except (ComposerError, ValueError) as exc:
            raise InputError(f"{path}: {exc}") from None

    def _streams(self):
        return self.converter.melody.streams

    @torch.no_grad()
    def continue_sequence(self, prime: NoteSequence, bars: int = 8, prime_bars: int = 1, temperature: float = 0.5,
                          mixture_temperature: float = 0.5, sigma_temperature: float = 1.0,
                          seed: int | None = None, key: str | None = None, qpm: float | None = None) -> NoteSequence:
        """``bars`` bars: the first ``prime_bars`` of ``prime`` (from its first note) as written, then the composer's."""
        from ..data.latents import SeedError, seed_bars

        try:
            kept = seed_bars(prime, max_bars=max(1, min(prime_bars, bars - 1)), converter=self.converter)
        except SeedError as exc:
            raise InputError(str(exc)) from None
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        codes = self.mc.encode_bars(torch.as_tensor(kept, dtype=torch.long)[None, :, :, None])  # (1, P, Z)
        with constrained(self.mc.bar_vae, self._streams(), key, self.name):
            tokens = self.mc.compose(bars, codes, temperature=temperature, mixture_temperature=mixture_temperature,
                                     sigma_temperature=sigma_temperature, batch=1, generator=gen)
        grid = tokens[0, :, 0].cpu().numpy().reshape(bars, self.converter.steps_per_bar)
        grid[: len(kept)] = kept
        seq = self.converter.decode(self.converter.canonicalize(grid), qpm=qpm or float(prime.qpm or 120.0))
        return seq.copy(source=self.name)

    def describe(self) -> dict:
        return {"name": self.name, "z_size": int(self.mc.z_size), "kind": "composer"}
