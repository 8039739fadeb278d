"""BatchStream's epoch-cached permutation: the batches of a step stay a pure function of (seed, step)."""

from types import SimpleNamespace

import numpy as np

from musicvae.training.batches import BatchStream


class _Windows(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.tokens)


def _data(n: int, steps: int = 4) -> _Windows:
    rng = np.random.default_rng(0)
    return _Windows(tokens=rng.integers(0, 130, (n, steps, 1)).astype(np.int16), pitched=np.array([True]),
                           room_down=np.full(n, 5), room_up=np.full(n, 6), labels=None)


def test_indices_are_the_per_epoch_permutation_in_any_step_order():
    data = _data(103)
    stream = BatchStream(data, 10, seed=7)
    assert stream.per_epoch == 10
    steps = [0, 1, 9, 10, 25, 3, 11, 99, 0]  # across epochs, back and forth (resume, eval interleaving)
    for step in steps:
        epoch, b = divmod(step, stream.per_epoch)
        expect = np.random.default_rng([7, epoch]).permutation(103)[b * 10 : (b + 1) * 10]  # the uncached definition
        got = stream.indices(step)
        assert got.dtype == np.int64 and np.array_equal(got, expect)
        assert np.array_equal(BatchStream(data, 10, seed=7).indices(step), got)  # a fresh stream agrees
    first = stream.indices(0)
    assert not np.array_equal(first, BatchStream(data, 10, seed=8).indices(0))  # the seed matters


def test_one_epoch_covers_each_window_once():
    stream = BatchStream(_data(64), 8, seed=1)
    seen = np.concatenate([stream.indices(s) for s in range(stream.per_epoch)])
    assert sorted(seen.tolist()) == list(range(64))
    assert not np.array_equal(stream.indices(0), stream.indices(stream.per_epoch))  # next epoch reshuffles
