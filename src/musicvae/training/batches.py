"""Deterministic, resumable batches from a prepared dataset, with transposition augmentation.

Place in the flow: ``data.dataset.WindowDataset`` arrays -> :class:`BatchStream` -> trainer.

Every random choice is a pure function of ``(seed, step)``: which windows form the
batch (a fresh permutation per epoch), how far each is transposed, and which of a
window's style labels it carries this time (one at random when it has several). So a run
resumed from a checkpoint at step s sees exactly the batches the uninterrupted run
saw, with no data-loader state to save. Under ``torch.distributed`` each rank takes
its own slice of the global batch (the distributed sampler). Windows are gathered
from memory with numpy (microseconds per batch), so no worker processes are needed;
batches are pinned before an asynchronous copy to the GPU.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import WindowDataset
from ..representations.streams import FIRST_NOTE_ON


class BatchStream:
    def __init__(
        self,
        dataset: WindowDataset,
        batch_size: int,
        *,
        seed: int = 0,
        transpose: tuple[int, int] | None = (-5, 6),
        rank: int = 0,
        world_size: int = 1,
    ):
        n = len(dataset)
        if n == 0:
            raise ValueError("the dataset is empty")
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} does not split over {world_size} processes")
        self.tokens = dataset.tokens  # (N, T, K) int16
        self.pitched = dataset.pitched  # (K,) bool
        self.window_labels = getattr(dataset, "labels", None)  # (N, M) int16 label ids, -1 padding, or None
        self.room_down = dataset.room_down
        self.room_up = dataset.room_up
        self.batch_size = min(batch_size, n - n % world_size) if n < batch_size else batch_size
        self.seed, self.transpose = seed, transpose
        self.rank, self.world_size = rank, world_size
        self.per_epoch = max(1, n // self.batch_size)
        self._perm: tuple[int, np.ndarray] | None = None  # (epoch, its permutation)

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of the windows in ``epoch``: a pure function of (seed, epoch), made once per epoch.

        Rebuilding it every step cost 0.1 ms at 20k windows but ~0.4-0.7 s at 10M; cached, the
        per-step cost is a slice (``benchmarks/batch_stream.py``). int32 where the count fits: the
        same order as ``permutation(n)`` (the shuffle's draws depend only on the length), half the memory.
        """
        if self._perm is None or self._perm[0] != epoch:
            n = len(self.tokens)
            order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
            np.random.default_rng([self.seed, epoch]).shuffle(order)
            self._perm = (epoch, order)
        return self._perm[1]

    def indices(self, step: int) -> np.ndarray:
        """The global batch of ``step`` (all ranks)."""
        epoch, b = divmod(step, self.per_epoch)
        return self.permutation(epoch)[b * self.batch_size : (b + 1) * self.batch_size].astype(np.int64)

    def shifts(self, step: int, idx: np.ndarray) -> np.ndarray:
        if self.transpose is None or not self.pitched.any():
            return np.zeros(len(idx), dtype=np.int64)
        lo = np.maximum(self.transpose[0], -self.room_down[idx])
        hi = np.minimum(self.transpose[1], self.room_up[idx])
        u = np.random.default_rng([self.seed, step, 7]).random(len(idx))
        shift = lo + np.floor(u * (hi - lo + 1)).astype(np.int64)
        return np.where(hi >= lo, shift, 0)

    def labels(self, step: int) -> np.ndarray:
        """This rank's label ids for the batch of ``step``, ``(B / world,)`` int64, ``-1`` = unlabelled.

        A window with several labels gets one of them uniformly at random, drawn anew each step.
        """
        idx = self.indices(step)[self.rank :: self.world_size]
        if self.window_labels is None:
            return np.full(len(idx), -1, dtype=np.int64)
        sets = self.window_labels[idx].astype(np.int64)  # (b, M), valid ids first
        count = (sets >= 0).sum(axis=1)  # (b,)
        u = np.random.default_rng([self.seed, step, 11]).random(len(idx))
        pick = np.minimum(np.floor(u * count).astype(np.int64), np.maximum(count - 1, 0))
        chosen = sets[np.arange(len(idx)), pick] if sets.shape[1] else np.full(len(idx), -1, np.int64)
        return np.where(count > 0, chosen, -1)

    def batch(self, step: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """This rank's part of the batch of ``step``: (B / world, T, K) int64 on ``device``."""
        idx = self.indices(step)[self.rank :: self.world_size]
        window = self.tokens[idx].astype(np.int64)  # (b, T, K)
        shift = self.shifts(step, idx)
        on = (window >= FIRST_NOTE_ON) & self.pitched[None, None, :]
        window += on * shift[:, None, None]
        out = torch.from_numpy(window)
        if torch.device(device).type == "cuda":
            return out.pin_memory().to(device, non_blocking=True)
        return out


def spread_indices(n_available: int, n: int) -> np.ndarray:
    """``min(n, n_available)`` indices evenly spaced over a split (windows are stored by source file,
    so the first ``n`` would come from a handful of files, and of one style)."""
    n = min(n, n_available)
    return (np.arange(n, dtype=np.int64) * n_available) // max(n, 1)


def spread_batches(dataset: WindowDataset, batch_size: int, count: int) -> tuple[list[torch.Tensor], np.ndarray | None]:
    """Eval batches of windows spread over the split, untransposed, and their label ids ``(n, M)`` (or None)."""
    idx = spread_indices(len(dataset), batch_size * count)
    tokens = torch.from_numpy(dataset.tokens[idx].astype(np.int64))
    labels = getattr(dataset, "labels", None)
    sets = None if labels is None else np.asarray(labels[idx], dtype=np.int64)
    return [tokens[i : i + batch_size] for i in range(0, len(idx), batch_size)], sets
