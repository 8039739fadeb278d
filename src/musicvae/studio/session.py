"""What the studio does, without the web: models, clips in memory, and the tools on them.

Place in the flow: ``generation`` (:class:`~musicvae.generation.TrainedModel`, the composer) +
``render`` (WAV) -> :class:`Studio` (this module) -> ``studio.app`` (HTTP/JSON) -> the page.

A :class:`Studio` holds
* the models a user may pick: the bundled ones, plus the exported model dirs and training
  runs given with ``--model`` (loaded on first use, then kept);
* the composer for Continue (the bundled MCVAE ``mcvae_folk``, or one given with ``--model``);
* clips: every piece generated or uploaded, by id, in a bounded LRU (oldest dropped first),
  with its MIDI/WAV bytes and per-model codes cached.

Every tool returns plain dicts (JSON-ready). Input the user can fix raises :class:`StudioError`
(one line, shown in the page); the server turns everything else into a 500 JSON error too.
Nothing here writes a file: MIDI and WAV are rendered to bytes in memory.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..generation import InputError, TrainedModel
from ..generation.compose import BUNDLED_COMPOSER, ComposerModel, bundled_composers, is_composer_dir
from ..generation.store import bundled_models
from ..music.midi_io import MidiError, midi_bytes, read_midi_bytes
from ..music.quantize import quantize_score
from ..music.scales import MODES
from ..music.sequence import NoteSequence

MAX_UPLOAD_BYTES = 1 << 20  # a MIDI file of a few minutes is tens of KB
MAX_CLIP_BARS = 128  # uploads longer than this are refused (say which part to use)
MAX_CLIPS = 512  # LRU bound of clips held in memory
MAX_N = 16  # variations per request
STEPS_PER_BAR = 16
log = logging.getLogger("musicvae.studio")


class StudioError(ValueError):
    """Input the user can fix; the message is shown in the page as it is."""


@dataclass
class Clip:
    id: str
    seq: NoteSequence
    name: str
    model: str | None = None
    codes: dict[str, np.ndarray] = field(default_factory=dict)  # model name -> posterior mean (Z,)
    wav: bytes | None = None

    def to_json(self) -> dict:
        notes = np.asarray(self.seq.notes).reshape(-1, 5)
        return {"id": self.id, "name": self.name, "model": self.model, "total_steps": int(self.seq.total_steps),
                "bars": -(-int(self.seq.total_steps) // STEPS_PER_BAR), "qpm": float(self.seq.qpm),
                "steps_per_bar": STEPS_PER_BAR, "notes": notes.astype(int).tolist(),
                "drums": [bool(t.is_drum) for t in self.seq.tracks],
                "mid": f"/api/clips/{self.id}.mid", "wav": f"/api/clips/{self.id}.wav"}


def _num(value, name: str, lo: float, hi: float, default: float | None = None) -> float:
    if value is None:
        if default is None:
            raise StudioError(f"{name} is missing")
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise StudioError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(x) or not lo <= x <= hi:
        raise StudioError(f"{name} must be between {lo:g} and {hi:g}, got {x:g}")
    return x


def _int(value, name: str, lo: int, hi: int, default: int | None = None) -> int | None:
    if value is None:
        return default
    x = _num(value, name, lo, hi)
    if x != int(x):
        raise StudioError(f"{name} must be a whole number, got {value!r}")
    return int(x)


class Studio:
    """Models, the clip store and the tools; safe to call from many threads (one model call at a time)."""

    def __init__(self, extra_models: list[str] | None = None, max_clips: int = MAX_CLIPS):
        self.sources: dict[str, str] = {name: name for name in bundled_models()}
        self.composer_sources: dict[str, str] = {name: str(p) for name, p in bundled_composers().items()}
        for item in extra_models or []:
            path = Path(item)
            if is_composer_dir(path):
                self.composer_sources[path.name] = str(path)
            elif item in self.sources or item in self.composer_sources:
                continue
            else:
                if not path.exists():
                    raise StudioError(f"--model {item}: no such bundled model or folder")
                self.sources[path.name if path.name not in self.sources else str(path)] = str(path)
        self._models: dict[str, TrainedModel] = {}
        self._composers: dict[str, ComposerModel] = {}
        self._clips: OrderedDict[str, Clip] = OrderedDict()
        self.max_clips = max_clips
        self._lock = threading.RLock()  # one model call at a time: two cores gain nothing from more
        self._store_lock = threading.Lock()
        self._counter = itertools.count(1)

    # ------------------------------------------------------------ models
    def model(self, name: str | None) -> TrainedModel:
        name = name or ("mel_2bar" if "mel_2bar" in self.sources else next(iter(self.sources), None))
        if name not in self.sources:
            raise StudioError(f"unknown model {name!r}; choose from {', '.join(self.sources)}")
        return self._loaded(self._models, name, TrainedModel.load, self.sources[name])

    def composer(self, name: str | None = None) -> ComposerModel:
        name = name or (BUNDLED_COMPOSER if BUNDLED_COMPOSER in self.composer_sources
                        else next(iter(self.composer_sources), None))
        if name is None:
            raise StudioError("no composer: Continue needs an MCVAE composer (give one with --model COMPOSER_DIR)")
        if name not in self.composer_sources:
            raise StudioError(f"unknown composer {name!r}; choose from {', '.join(self.composer_sources)}")
        return self._loaded(self._composers, name, ComposerModel.load, self.composer_sources[name])

    def _loaded(self, cache: dict, name: str, load, source: str):
        """``cache[name]``, loaded from ``source`` on first use (kept afterwards)."""
        with self._lock:
            if name not in cache:
                cache[name] = self._run(load, source)
            return cache[name]

    def models(self) -> dict:
        out = []
        for name in self.sources:
            try:
                m = self.model(name)
            except StudioError as exc:
                out.append({"name": name, "error": str(exc)})
                continue
            out.append({"name": name, "kind": m.kind, "bars": m.bars, "family": m.family,
                        "attributes": sorted(m.attributes), "labels": m.labels, "key": m.takes_key,
                        "latent": m.has_latent, "temperature": m.default_temperature,
                        "rhythm": getattr(m, "rhythm_temperature", None),
                        "takes_rhythm": getattr(m, "takes_rhythm", False)})
        return {"models": out, "composers": list(self.composer_sources), "modes": list(MODES),
                "limits": {"upload_bytes": MAX_UPLOAD_BYTES, "clip_bars": MAX_CLIP_BARS, "n": MAX_N}}

    # ------------------------------------------------------------- clips
    def add(self, seq: NoteSequence, name: str, model: str | None = None) -> Clip:
        clip = Clip(secrets.token_hex(6), seq, name, model)
        with self._store_lock:
            self._clips[clip.id] = clip
            while len(self._clips) > self.max_clips:
                self._clips.popitem(last=False)
        return clip

    def clip(self, clip_id) -> Clip:
        if not isinstance(clip_id, str):
            raise StudioError(f"a clip id is a string, got {clip_id!r}")
        with self._store_lock:
            clip = self._clips.get(clip_id)
            if clip is None:
                raise StudioError(f"no clip {clip_id!r} (it may have been dropped: the studio keeps the last "
                                  f"{self.max_clips}); generate or upload it again")
            self._clips.move_to_end(clip_id)
            return clip

    def midi(self, clip_id: str) -> bytes:
        return midi_bytes(self.clip(clip_id).seq)

    def wav_stream(self, clip_id: str) -> tuple[int, Iterator[bytes]]:
        """``(size in bytes, chunks)`` of the clip's WAV, streamed as it renders (see :mod:`.audio`)."""
        from ..render.audio import RenderError
        from .audio import stream_wav, wav_length

        clip = self.clip(clip_id)
        if clip.wav is not None:
            return len(clip.wav), iter([clip.wav])

        def chunks() -> Iterator[bytes]:
            parts = []
            try:
                for part in stream_wav(clip.seq, STEPS_PER_BAR):
                    parts.append(part)
                    yield part
            except RenderError as exc:  # after the header was sent: the page sees a broken clip, the log why
                log.warning("cannot render %s: %s", clip.name, exc)
                return
            clip.wav = b"".join(parts)

        return 44 + 2 * wav_length(clip.seq), chunks()

    def upload(self, data: bytes, filename: str = "upload.mid") -> list[dict]:
        """MIDI bytes -> one clip per 4/4 stretch (at most 4); refuses non-MIDI, empty and too long files."""
        name = Path(str(filename or "upload.mid")).name[:80] or "upload.mid"
        if len(data) > MAX_UPLOAD_BYTES:
            raise StudioError(f"{name}: too large ({len(data):,} bytes > {MAX_UPLOAD_BYTES:,}); drop a MIDI file")
        try:
            seqs = quantize_score(read_midi_bytes(data, name), name)
        except MidiError as exc:
            raise StudioError(str(exc)) from None
        except Exception as exc:  # quantizing a hostile file: report, never crash
            raise StudioError(f"{name}: unreadable MIDI ({type(exc).__name__})") from None
        seqs = [s for s in seqs if len(s.notes)]
        if not seqs:
            raise StudioError(f"{name}: no notes in 4/4 (the studio reads quantized 4/4 music)")
        out = []
        for i, seq in enumerate(seqs[:4]):
            bars = -(-int(seq.total_steps) // STEPS_PER_BAR)
            if bars > MAX_CLIP_BARS:
                raise StudioError(f"{name}: too long ({bars} bars > {MAX_CLIP_BARS}); cut the part you want "
                                  f"in a MIDI editor first")
            label = name if len(seqs) == 1 else f"{name} ({i + 1})"
            out.append(self.add(seq.copy(source=name), label).to_json())
        return out

    def _codes(self, m: TrainedModel, clips: list[Clip]) -> np.ndarray:
        """Posterior means of clips under model ``m`` (cached on each clip)."""
        missing = [c for c in clips if m.name not in c.codes]
        if missing:
            try:
                mu = m.codes([c.seq for c in missing])
            except InputError as exc:
                raise StudioError(str(exc)) from None
            for c, z in zip(missing, mu):
                c.codes[m.name] = z
        return np.stack([c.codes[m.name] for c in clips])

    # ------------------------------------------------------------- tools
    def _run(self, fn, *args, rhythm: tuple[TrainedModel, float | None] | None = None, **kwargs):
        """``fn(*args, **kwargs)`` under the model lock; ``rhythm``: (model, its rhythm temperature for this
        call only), None: the model's own."""
        with self._lock:
            saved = None if rhythm is None else rhythm[0].rhythm_temperature
            try:
                if rhythm is not None:
                    rhythm[0].rhythm_temperature = rhythm[1]
                return fn(*args, **kwargs)
            except InputError as exc:
                raise StudioError(str(exc)) from None
            finally:
                if rhythm is not None:
                    rhythm[0].rhythm_temperature = saved

    def _emit(self, seqs: list[NoteSequence], m: TrainedModel | ComposerModel, what: str) -> list[dict]:
        n = next(self._counter)
        return [self.add(s, f"{what} #{n}" + (f".{i + 1}" if len(seqs) > 1 else ""), m.name).to_json()
                for i, s in enumerate(seqs)]

    def _common(self, req: dict, latent: str | None = None
                ) -> tuple[TrainedModel, float, int | None, str | None, tuple | None]:
        """The request's model, temperature, seed, key and rhythm override for :meth:`_run` (``rhythm_temperature``
        absent or null: the model's own, None here; 0: one temperature for every token); ``latent``: the tool,
        which needs a VAE."""
        m = self.model(req.get("model"))
        own = rhythm = getattr(m, "rhythm_temperature", None)  # note-event models have none
        if req.get("rhythm_temperature") is not None:
            rhythm = _num(req.get("rhythm_temperature"), "rhythm_temperature", 0.0, 5.0) or None
            if rhythm is not None and not getattr(m, "takes_rhythm", False):
                raise StudioError(f"{m.name}: a rhythm temperature works with one-stream melody models")
        temperature = _num(req.get("temperature"), "temperature", 0.0, 5.0, m.default_temperature)
        seed = _int(req.get("seed"), "seed", 0, 2**31 - 1)
        key = req.get("key") or None
        if key is not None and not isinstance(key, str):
            raise StudioError(f"key must be a text such as 'D minor', got {key!r}")
        if latent is not None and not m.has_latent:
            raise StudioError(f"{m.name} is a language model: {latent} needs a VAE")
        return m, temperature, seed, key, (None if rhythm == own else (m, rhythm))

    def generate(self, req: dict) -> dict:
        m, t, seed, key, rhythm = self._common(req)
        n = _int(req.get("n"), "n", 1, MAX_N, 4)
        label = req.get("label") or None
        seqs = self._run(m.sample, n, t, seed=seed, label=label, key=key, rhythm=rhythm)
        return {"clips": self._emit(seqs, m, "sample")}

    def interpolate(self, req: dict) -> dict:
        """Two clips and a position 0-1 along the path (slerp; lerp for MusAE), or four corners and (x, y)."""
        from ..generation import latent

        m, t, seed, key, rhythm = self._common(req, "interpolation")
        if "corners" in req:
            ids = req.get("corners")
            if not isinstance(ids, list) or len(ids) != 4:
                raise StudioError("corners: give four clip ids (top-left, top-right, bottom-left, bottom-right)")
            x, y = _num(req.get("x"), "x", 0.0, 1.0), _num(req.get("y"), "y", 0.0, 1.0)
            with self._lock:
                z = self._codes(m, [self.clip(i) for i in ids])
                code = (1 - x) * (1 - y) * z[0] + x * (1 - y) * z[1] + (1 - x) * y * z[2] + x * y * z[3]
            what = f"pad ({x:.2f}, {y:.2f})"
        else:
            a, b = self.clip(req.get("a")), self.clip(req.get("b"))
            pos = _num(req.get("position"), "position", 0.0, 1.0, 0.5)
            method = req.get("method") or m.model.interpolation
            if method not in ("slerp", "lerp"):
                raise StudioError(f"method must be slerp or lerp, got {method!r}")
            with self._lock:
                za, zb = self._codes(m, [a, b])
                code = (latent.slerp(za, zb, pos) if method == "slerp" else (1 - pos) * za + pos * zb)
            what = f"{method} {pos:.2f}"
        seqs = self._run(m.decode, np.asarray(code, dtype=np.float32)[None], t, seed=seed, key=key,
                         rhythm=rhythm)
        return {"clips": self._emit(seqs, m, what)}

    def similar(self, req: dict) -> dict:
        m, t, seed, key, rhythm = self._common(req, "variations")
        clip = self.clip(req.get("clip"))
        n = _int(req.get("n"), "n", 1, MAX_N, 4)
        sim = _num(req.get("similarity"), "similarity", 0.0, 1.0, 0.8)
        from ..generation import latent

        with self._lock:
            z = self._codes(m, [clip])[0]
        codes = latent.neighbours(z, n, sim, np.random.default_rng(seed))
        seqs = self._run(m.decode, codes, t, seed=seed, key=key, rhythm=rhythm)
        return {"clips": self._emit(seqs, m, f"similar {sim:.2f}")}

    def attribute(self, req: dict) -> dict:
        m, t, seed, key, rhythm = self._common(req, "attribute vectors")
        clip = self.clip(req.get("clip"))
        amounts = req.get("amounts") or {}
        if not isinstance(amounts, dict):
            raise StudioError("amounts must map attribute names to numbers")
        unknown = sorted(set(amounts) - set(m.attributes))
        if unknown:
            raise StudioError(f"{m.name} has no attribute vector {unknown[0]!r} "
                              f"(it has: {', '.join(sorted(m.attributes)) or 'none'})")
        with self._lock:
            z = self._codes(m, [clip])[0].copy()
        for name, amount in amounts.items():
            z = z + _num(amount, f"amount of {name}", -5.0, 5.0) * m.attributes[name]
        seqs = self._run(m.decode, z[None], t, seed=seed, key=key, rhythm=rhythm)
        desc = ", ".join(f"{k} {float(v):+.1f}" for k, v in amounts.items() if float(v)) or "unchanged"
        return {"clips": self._emit(seqs, m, desc)}

    def continue_(self, req: dict) -> dict:
        """Extend a clip bar by bar with the MCVAE composer (the clip's first bars kept as written)."""
        clip = self.clip(req.get("clip"))
        bars = _int(req.get("bars"), "bars", 2, 64, 8)
        prime_bars = _int(req.get("prime_bars"), "prime_bars", 1, 16, 2)
        t = _num(req.get("temperature"), "temperature", 0.0, 5.0, 0.5)
        mt = _num(req.get("mixture_temperature"), "mixture_temperature", 0.0, 5.0, 0.5)
        seed = _int(req.get("seed"), "seed", 0, 2**31 - 1)
        key = req.get("key") or None
        comp = self.composer(req.get("composer"))
        seqs = self._run(comp.continue_sequence, clip.seq, bars=bars, prime_bars=min(prime_bars, bars - 1),
                         temperature=t, mixture_temperature=mt, seed=seed, key=key)
        return {"clips": self._emit([seqs], comp, "continued")}
