"""`TrainedModel`: the one facade the CLI (and later the web studio) calls.

Place in the flow: checkpoint or bundled model -> :class:`TrainedModel` ->
``encode`` / ``decode`` / ``sample`` / ``interpolate`` / attribute edits ->
NoteSequences -> ``render`` (MIDI, WAV, piano rolls).

Music goes in as MIDI paths, NoteSequences, :class:`~.windows.Window` objects or
token grids; it comes out as NoteSequences. Latent codes are numpy arrays. Every
random draw takes a ``seed`` so a command run twice gives the same music.

Operations that start from music (reconstruct, interpolate, attribute edits,
averaging, neighbours) use the posterior mean ``mu`` as the code of an input, so
they are deterministic; :meth:`TrainedModel.encode` also returns a posterior sample.

MusAE models (``config.model.family == "musae"``) load the same way: their encoder is
deterministic (``z == mu``, ``sigma == 0``), prior draws come from the model's own prior
(Gaussian or flower), ``sample(label=...)`` draws from a style label's petal(s), and
interpolation is linear by default, as in the MusAE paper.
"""

from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np
import torch

from ..data.dataset import converter_from_config
from ..music.sequence import NoteSequence
from ..representations.base import GridConverter
from . import latent
from .keys import constrained, split_rhythm, takes_key, takes_rhythm
from .store import DEFAULT_TEMPERATURE, ModelFiles, load_model_files
from .windows import InputError, Window, extract_windows

Music = Union[str, os.PathLike, NoteSequence, Window, np.ndarray]


class LoadedModel:
    """What every generation front end shares: the model files, the model (``models.interface.MusicModel``)
    on its device in eval mode, and seeded generators. :class:`TrainedModel` (token grids) and
    ``generation.notes.NoteModel`` (note events) build on it; ``generation.compose`` wraps MCVAE."""

    takes_key = False  # whether decoding takes key= (TrainedModel: when its decoder can be biased)

    def __init__(self, files: ModelFiles, device: str | torch.device = "cpu"):
        self.files = files
        self.device = torch.device(device)
        self.model = files.model.to(self.device).eval()
        self.config = files.config
        self.name = files.name

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, device: str | torch.device = "cpu"):
        """A bundled model by name (``musicvae models``), an exported model dir, or a checkpoint/run dir."""
        return cls(load_model_files(name_or_path), device)

    @property
    def family(self) -> str:
        return self.config.model.family

    @property
    def default_temperature(self) -> float:
        """The temperature used when none is given: the model's recorded one (``model.json`` ``sampling``,
        chosen by ``musicvae fit-prior --sweep`` as the most data-like samples) or 0.5."""
        return float(self.files.sampling.get("temperature", DEFAULT_TEMPERATURE))

    def temperature_or_default(self, temperature: float | None) -> float:
        """``temperature``, or the model's default when it is None."""
        return self.default_temperature if temperature is None else float(temperature)

    @property
    def z_size(self) -> int:
        return int(self.model.z_size)

    @property
    def has_latent(self) -> bool:
        return self.model.has_latent

    def _generator(self, seed: int | None) -> torch.Generator | None:
        if seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(int(seed))


class TrainedModel(LoadedModel):
    """A trained MusicVAE, LM or MusAE with its representation, ready to make music."""

    def __init__(self, files: ModelFiles, device: str | torch.device = "cpu"):
        super().__init__(files, device)
        self.converter: GridConverter = converter_from_config(files.representation)
        # inputs may come from any non-drum track, not only the training corpus's programs
        opts = dict(files.representation)
        if "programs" in opts:
            opts["programs"] = None
        self.input_converter: GridConverter = converter_from_config(opts)
        self.attributes: dict[str, np.ndarray] = dict(files.attributes)
        self.label_components: dict[str, int] = dict(files.labels.get("components", {}))
        #: melody models: the temperature of the rhythm (hold / note-off / note-on), the sampling temperature
        #: then choosing only the pitches (``keys.split_rhythm``); the model's recorded one (``model.json``
        #: ``sampling.rhythm_temperature``) or None: one plain temperature for every token, as magenta
        self.rhythm_temperature: float | None = files.sampling.get("rhythm_temperature")

    @property
    def kind(self) -> str:
        return self.converter.kind

    @property
    def bars(self) -> int:
        return int(self.config.data.bars)

    @property
    def steps(self) -> int:
        return int(self.model.steps)

    @property
    def labels(self) -> list[str]:
        """Style labels ``sample(label=...)`` accepts (MusAE with the flower prior), sorted."""
        return sorted(self.label_components)

    def label_petals(self, label: str) -> list[int]:
        """Petals of a style label: its own, or every label's under a group name (``irish`` -> ``irish/*``)."""
        if not self.label_components:
            why = "a Gaussian prior" if self.model.learned_prior else "no style labels"
            raise InputError(f"{self.name}: --label needs a MusAE model trained with the mixture prior on labelled "
                             f"data; this one has {why}")
        if label in self.label_components:
            return [self.label_components[label]]
        want = label.lower()
        found = sorted({k for name, k in self.label_components.items()
                        if want in (part.lower() for part in name.replace(":", "/").split("/"))})
        if not found:
            raise InputError(f"{self.name}: unknown label {label!r}; known labels: {', '.join(self.labels)}")
        return found

    @property
    def takes_rhythm(self) -> bool:
        """Whether decoding takes a :attr:`rhythm_temperature` (one-stream melody models)."""
        return takes_rhythm(self.model, self.converter.streams)

    def split(self, temperature: float | None):
        """Context manager around one decode at ``temperature`` (None: the default): yields the temperature
        to decode with, the rhythm drawn at :attr:`rhythm_temperature` where the model has one."""
        return split_rhythm(self.model, self.converter.streams, self.temperature_or_default(temperature),
                            self.rhythm_temperature, self.name)

    def keyed(self, key: str | None):
        """Context manager: decodes inside it use only notes of ``key`` ("D minor", "C:major"; None: any).

        Melody (and trio) models mask the logits of note-ons outside the scale; note-offs and
        holds stay free, drums are untouched. Every decoding method also takes ``key=``.
        """
        return constrained(self.model, self.converter.streams, key, self.name)

    def _need_latent(self, what: str) -> None:
        if not self.has_latent:
            raise InputError(f"{self.name}: a language model has no latent space; {what} needs a VAE")

    # ------------------------------------------------------------------ inputs
    def windows(self, source: str | os.PathLike | NoteSequence) -> list[Window]:
        """Every model-length window of a MIDI file or sequence, in order, with its origin."""
        return extract_windows(source, self.input_converter, self.bars)

    def tokens(self, music: Music | Sequence[Music]) -> np.ndarray:
        """Inputs -> ``(B, T, K)`` tokens; a file or long sequence contributes its first window."""
        items = [music] if _is_single(music) else list(music)
        if not items:
            raise InputError("no music given")
        out = []
        for item in items:
            if isinstance(item, Window):
                grid = item.tokens
            elif isinstance(item, np.ndarray):
                grid = self.converter.as_grid(item)
                if grid.shape[0] != self.steps:
                    raise InputError(f"token grid has {grid.shape[0]} steps; {self.name} reads {self.steps}")
            else:
                grid = self.windows(item)[0].tokens
            out.append(np.asarray(grid, dtype=np.int64))
        return np.stack(out)

    # -------------------------------------------------------------- the model
    @torch.no_grad()
    def encode(self, music: Music | Sequence[Music], seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs -> ``(z, mu, sigma)``, each ``(B, Z)``; ``z`` is drawn from the posterior."""
        self._need_latent("encoding")
        x = torch.as_tensor(self.tokens(music), device=self.device)
        mu, sigma = self.model.encode(x)  # (B, Z) each; MusAE's deterministic code has sigma == 0
        eps = torch.randn(mu.shape, generator=self._generator(seed), device=self.device, dtype=mu.dtype)
        z = mu + sigma * eps
        return z.float().cpu().numpy(), mu.float().cpu().numpy(), sigma.float().cpu().numpy()

    @torch.no_grad()
    def token_codes(self, tokens: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Posterior means ``(N, Z)`` of token windows ``(N, T, K)``, ``batch_size`` at a time."""
        out = [self.model.encode(torch.as_tensor(tokens[i:i + batch_size], dtype=torch.int64, device=self.device))[0]
               .float().cpu().numpy() for i in range(0, len(tokens), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.z_size), np.float32)

    @property
    def takes_key(self) -> bool:
        """Whether decoding takes ``key=``: a melodic stream and MusicVAE-style decoder cores to bias."""
        return takes_key(self.model, self.converter.streams)

    @property
    def fitted_prior(self):
        """The prior fitted to the training codes (``prior.safetensors``, :mod:`.prior`), or None."""
        return self.files.prior

    def prior_name(self, prior: str | None = None) -> str:
        """The prior ``prior_codes(prior=...)`` draws from: ``fitted``, ``standard`` or ``musae``."""
        if self.model.learned_prior:
            return "musae"
        if prior not in (None, "fitted", "standard"):
            raise InputError(f"unknown prior {prior!r}; choose fitted or standard")
        if prior == "fitted" and self.fitted_prior is None:
            raise InputError(f"{self.name} has no fitted prior (prior.safetensors); make one with musicvae fit-prior")
        if prior is None:
            return "fitted" if self.fitted_prior is not None else "standard"
        return prior

    def prior_codes(self, n: int, seed: int | None = None, label: str | None = None,
                    prior: str | None = None) -> np.ndarray:
        """``(n, Z)`` draws from the model's prior.

        A VAE: its fitted prior when it has one (``prior.safetensors``), else ``N(0, I)``;
        ``prior="standard"`` forces ``N(0, I)``, ``prior="fitted"`` requires the fitted one.
        MusAE: its own prior (of ``label``'s petals).
        """
        self._need_latent("a prior draw")
        if not self.model.learned_prior:
            if label is not None:
                self.label_petals(label)  # raises: a VAE has no style labels
            if self.prior_name(prior) == "fitted":
                return self.fitted_prior.sample(n, seed)
            return np.random.default_rng(seed).standard_normal((n, self.z_size)).astype(np.float32)
        gen = self._generator(seed)
        petals = None
        if label is not None:
            choices = self.label_petals(label)
            pick = torch.randint(0, len(choices), (n,), generator=gen, device=self.device)
            petals = torch.as_tensor(choices, device=self.device)[pick]  # (n,)
        with torch.no_grad():
            return self.model.prior_sample(n, petals, gen).float().cpu().numpy()

    def codes(self, music: Music | Sequence[Music]) -> np.ndarray:
        """Posterior means ``(B, Z)`` of the inputs."""
        return self.encode(music)[1]

    @torch.no_grad()
    def decode_tokens(self, z: np.ndarray, temperature: float | None = None, seed: int | None = None,
                      key: str | None = None) -> np.ndarray:
        """Codes ``(B, Z)`` -> tokens ``(B, T, K)`` (temperature 0 = argmax; ``key``: notes of that scale only)."""
        self._need_latent("decoding")
        zt = torch.as_tensor(np.atleast_2d(np.asarray(z, dtype=np.float32)), device=self.device)
        with self.keyed(key), self.split(temperature) as t:
            tokens = self.model.decode(zt.to(next(self.model.parameters()).dtype), t, self._generator(seed))
        return tokens.cpu().numpy()

    def to_sequences(self, tokens: np.ndarray, qpm: float = 120.0, bars: int | None = None) -> list[NoteSequence]:
        """Tokens ``(B, T, K)`` -> NoteSequences (the first ``bars`` bars when given)."""
        if bars is not None:
            if not 1 <= bars <= self.bars:
                raise InputError(f"length must be 1-{self.bars} bars for {self.name}, got {bars}")
            tokens = tokens[:, : bars * 16]
        c = self.converter
        return [c.decode(c.canonicalize(c.as_grid(t)), qpm=qpm).copy(source=self.name) for t in tokens]

    def decode(self, z: np.ndarray, temperature: float | None = None, length: int | None = None,
               seed: int | None = None, qpm: float = 120.0, key: str | None = None) -> list[NoteSequence]:
        """Codes ``(B, Z)`` -> NoteSequences; ``length`` in bars cuts the output short."""
        return self.to_sequences(self.decode_tokens(z, temperature, seed, key), qpm, length)

    @torch.no_grad()
    def sample_tokens(self, n: int, temperature: float | None = None, seed: int | None = None,
                      label: str | None = None, key: str | None = None, prior: str | None = None) -> np.ndarray:
        """``n`` token grids ``(n, T, K)`` from the prior (MusAE: of ``label``'s petals), or the language model.

        ``key``: a scale the notes keep to; ``prior``: ``None`` (the fitted prior when the model has one,
        else N(0, I)), ``"standard"`` or ``"fitted"`` (see :meth:`prior_codes`).
        """
        if n < 1:
            raise InputError(f"the number of samples must be at least 1, got {n}")
        if self.model.learned_prior or (self.has_latent and self.prior_name(prior) == "fitted"):
            z = self.prior_codes(n, seed, label, prior)
            return self.decode_tokens(z, temperature, None if seed is None else seed + 1, key)
        if prior is not None and not self.has_latent:
            raise InputError(f"{self.name}: a language model has no latent prior to choose")
        if label is not None:
            self.label_petals(label)  # raises: a VAE has no style labels
        with self.keyed(key), self.split(temperature) as t:
            return self.model.sample(n, t, self._generator(seed)).cpu().numpy()

    def sample(self, n: int = 1, temperature: float | None = None, seed: int | None = None, qpm: float = 120.0,
               label: str | None = None, key: str | None = None, prior: str | None = None) -> list[NoteSequence]:
        """``n`` new pieces from the prior (or the language model); ``label``: a MusAE style; ``key``: a scale;
        ``prior``: see :meth:`sample_tokens`."""
        return self.to_sequences(self.sample_tokens(n, temperature, seed, label, key=key, prior=prior), qpm)

    def reconstruct(self, music: Music | Sequence[Music], temperature: float | None = None, seed: int | None = None,
                    qpm: float = 120.0, key: str | None = None) -> list[NoteSequence]:
        """Encode then decode: how the model hears the input."""
        return self.decode(self.codes(music), temperature, seed=seed, qpm=qpm, key=key)

    def interpolate(self, a: Music, b: Music, steps: int = 5, method: str | None = None, temperature: float | None = None,
                    seed: int | None = None, qpm: float = 120.0, key: str | None = None) -> list[NoteSequence]:
        """``steps`` pieces from ``a`` to ``b``, endpoints included (their reconstructions).

        ``method``: ``slerp`` or ``lerp``; by default slerp for MusicVAE (its paper) and
        lerp for MusAE (its paper: the flower prior is not a sphere).
        """
        method = method or self.model.interpolation
        za, zb = self.codes([a, b])
        return self.decode(latent.interpolate(za, zb, steps, method), temperature, seed=seed, qpm=qpm, key=key)

    def similar(self, music: Music, n: int = 4, similarity: float = 0.8, temperature: float | None = None,
                seed: int | None = None, qpm: float = 120.0, key: str | None = None) -> list[NoteSequence]:
        """``n`` variations whose codes correlate with the input's by ``similarity`` (0-1)."""
        z = self.codes(music)[0]
        codes = latent.neighbours(z, n, similarity, np.random.default_rng(seed))
        return self.decode(codes, temperature, seed=seed, qpm=qpm, key=key)

    def average(self, music: Sequence[Music], temperature: float | None = None, seed: int | None = None,
                qpm: float = 120.0, key: str | None = None) -> NoteSequence:
        """One piece from the mean code of several (latent averaging)."""
        return self.decode(latent.average(self.codes(music))[None], temperature, seed=seed, qpm=qpm, key=key)[0]

    # ------------------------------------------------------ attribute vectors
    def attribute_vector(self, name: str, data: Music | Sequence[Music] | np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Top-quartile minus bottom-quartile mean code for attribute ``name`` over ``data``; kept on the model."""
        from ..music.attributes import ATTRIBUTES

        if name not in ATTRIBUTES:
            raise InputError(f"unknown attribute {name!r}; choose from {', '.join(ATTRIBUTES)}")
        tokens = self.tokens(data) if not (isinstance(data, np.ndarray) and data.ndim == 3) else data
        seqs = self.to_sequences(tokens)
        values = np.array([ATTRIBUTES[name](s) for s in seqs], dtype=np.float64)
        codes = np.concatenate([self.codes(tokens[i:i + batch_size]) for i in range(0, len(tokens), batch_size)])
        self.attributes[name] = latent.attribute_vector(codes, values)
        return self.attributes[name]

    def apply_attribute(self, music: Music, name: str, amount: float = 1.0, temperature: float | None = None,
                        seed: int | None = None, qpm: float = 120.0, key: str | None = None) -> NoteSequence:
        """The input moved ``amount`` attribute vectors along ``name`` (negative: less of it)."""
        if name not in self.attributes:
            known = ", ".join(sorted(self.attributes)) or "none"
            raise InputError(f"{self.name} has no attribute vector {name!r} (known: {known}); "
                             "compute one with attribute_vector(name, data)")
        z = self.codes(music)[0] + amount * self.attributes[name]
        return self.decode(z[None], temperature, seed=seed, qpm=qpm, key=key)[0]

    def describe(self) -> dict:
        """What the model is and was trained on (for ``musicvae models`` and reports)."""
        return {"name": self.name, "kind": self.kind, "bars": self.bars, "z_size": self.z_size,
                "preset": self.config.preset, "attributes": sorted(self.attributes), **self.files.info,
                "prior": self.prior_name() if self.has_latent else None,
                **({"labels": self.labels} if self.labels else {})}


def _is_single(music: object) -> bool:
    if isinstance(music, (str, os.PathLike, NoteSequence, Window)):
        return True
    return isinstance(music, np.ndarray) and music.ndim <= 2
