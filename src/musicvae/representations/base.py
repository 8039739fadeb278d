"""The contract every step-grid representation fulfils.

Place in the flow: NoteSequence -> :class:`GridConverter` -> token grid ``(T, K)``
-> ``data.windows`` (N-bar windows) -> models; and model output -> tokens -> NoteSequence.

A grid converter turns a sequence into one or more *candidates*: full-length
token grids of shape ``(T, K)``, ``T`` steps by ``K`` streams (K=1 melody or drums,
3 for a trio, 4 for MusAE's multitrack). Each stream has its own vocabulary;
the model's one-hot input is the concatenation ``[vocab_0 | vocab_1 | ...]``.

Reversibility: ``encode(decode(tokens)) == tokens`` for every *canonical* grid
(``canonicalize(tokens) == tokens``), which is what every converter's round-trip
test checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..music.sequence import NoteSequence


class GridConverter(ABC):
    """Reversible conversion between NoteSequences and ``(T, K)`` integer token grids."""

    #: short name used in manifests and on the command line (``--kind``)
    kind: str = ""
    record = "window"  # what ``musicvae prepare`` stores: fixed-size windows of the grid (data.records)
    #: one name per stream, e.g. ("melody", "bass", "drums")
    stream_names: tuple[str, ...] = ()
    #: one vocabulary size per stream
    vocab_sizes: tuple[int, ...] = ()
    #: streams that the rest rule and the "has notes" rule apply to one by one;
    #: ``None`` applies them to the mix of all streams (MusAE's multitrack)
    required_streams: tuple[int, ...] | None = None

    @property
    def num_streams(self) -> int:
        return len(self.vocab_sizes)

    @property
    def depth(self) -> int:
        """Width of the concatenated one-hot vector, e.g. 130+130+512 for a trio."""
        return int(sum(self.vocab_sizes))

    @abstractmethod
    def candidates(self, seq: NoteSequence) -> list[np.ndarray]:
        """Every full-length ``(seq.total_steps, K)`` grid this sequence yields (may be empty)."""

    @abstractmethod
    def decode(self, tokens: np.ndarray, qpm: float = 120.0) -> NoteSequence:
        """Token grid ``(T, K)`` (or ``(T,)`` for K=1) -> NoteSequence."""

    @abstractmethod
    def sounding(self, tokens: np.ndarray) -> np.ndarray:
        """Boolean ``(T, K)``: is something sounding (melody) or hit (drums) at each step."""

    @abstractmethod
    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        """Boolean ``(T, K)``: does a note start at each step."""

    @abstractmethod
    def canonicalize(self, tokens: np.ndarray) -> np.ndarray:
        """The canonical spelling of a grid (what ``encode(decode(tokens))`` returns)."""

    # ----------------------------------------------------------------- shared
    def encode(self, seq: NoteSequence) -> np.ndarray:
        """The first candidate grid of ``seq``; ValueError if it yields none."""
        first = next(iter(self.candidates(seq)), None)  # candidates may be a lazy iterator (trio)
        if first is None:
            raise ValueError(f"{seq.source or 'sequence'}: nothing to extract as {self.kind}")
        return first

    def as_grid(self, tokens: np.ndarray) -> np.ndarray:
        """``(T,)`` -> ``(T, 1)``; checks the stream count."""
        tokens = np.asarray(tokens)
        if tokens.ndim == 1:
            tokens = tokens[:, None]
        if tokens.ndim != 2 or tokens.shape[1] != self.num_streams:
            raise ValueError(f"{self.kind} tokens must have shape (T, {self.num_streams}), got {tokens.shape}")
        return tokens

    def is_valid(self, tokens: np.ndarray) -> bool:
        """In range for every stream's vocabulary and canonical."""
        grid = self.as_grid(tokens)
        if (grid < 0).any() or (grid >= np.asarray(self.vocab_sizes)).any():
            return False
        return bool(np.array_equal(self.canonicalize(grid), grid))

    def one_hot(self, tokens: np.ndarray) -> np.ndarray:
        """``(T, K)`` tokens -> ``(T, depth)`` float32 concatenated one-hot (for inspection and tests)."""
        grid = self.as_grid(tokens)
        out = np.zeros((len(grid), self.depth), dtype=np.float32)
        offsets = np.cumsum((0,) + tuple(self.vocab_sizes[:-1]))  # where each stream's one-hot starts
        out[np.arange(len(grid))[:, None], offsets + grid] = 1.0
        return out

    def config(self) -> dict:
        """JSON description stored in manifests and checkpoints."""
        return {"kind": self.kind, "streams": list(self.stream_names), "vocab_sizes": list(self.vocab_sizes)}


class StreamConverter(GridConverter):
    """A grid converter built from one codec per stream (see :mod:`.streams`).

    Subclasses decide which tracks feed which stream (:meth:`candidates`); decoding,
    canonical form, silence and onsets are the streams' own (transposition: training.batches.BatchStream).
    """

    def __init__(self, streams: list, decode_tracks: list):
        self.streams = list(streams)
        self.decode_tracks = list(decode_tracks)  # TrackInfo per stream, used by decode
        self.vocab_sizes = tuple(s.vocab_size for s in self.streams)

    def _per_stream(self, tokens: np.ndarray, fn: str) -> np.ndarray:
        grid = self.as_grid(tokens)
        if len(self.streams) == 1:  # one stream (melody, drums): a view, no stacking copy
            return getattr(self.streams[0], fn)(grid[:, 0])[:, None]
        return np.stack([getattr(s, fn)(grid[:, k]) for k, s in enumerate(self.streams)], axis=1)

    def sounding(self, tokens: np.ndarray) -> np.ndarray:
        return self._per_stream(tokens, "sounding")

    def onsets(self, tokens: np.ndarray) -> np.ndarray:
        return self._per_stream(tokens, "onsets")

    def canonicalize(self, tokens: np.ndarray) -> np.ndarray:
        return self._per_stream(tokens, "canonicalize").astype(np.asarray(tokens).dtype)

    def canonicalize_windows(self, windows: np.ndarray) -> np.ndarray:
        """Canonical form of windows ``(n, W, K)`` cut from canonical grids (in place)."""
        for k, s in enumerate(self.streams):
            column = np.ascontiguousarray(windows[:, :, k])
            windows[:, :, k] = s.canonicalize_cut(column)
        return windows

    def encode_streams(self, parts: list[np.ndarray], total_steps: int) -> np.ndarray:
        """One notes array per stream -> ``(T, K)`` grid."""
        return np.stack([s.encode(n, total_steps) for s, n in zip(self.streams, parts)], axis=1)

    def decode(self, tokens: np.ndarray, qpm: float = 120.0) -> NoteSequence:
        grid = self.as_grid(tokens)
        parts = [(info, [tuple(int(v) for v in row) for row in stream.decode(grid[:, k])])
                 for k, (stream, info) in enumerate(zip(self.streams, self.decode_tracks))]
        return NoteSequence.from_tracks(parts, total_steps=len(grid), qpm=qpm)
