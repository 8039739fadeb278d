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


# ---- transposition: BatchStream is what the trainer draws its batches from, so the augmentation is tested here,
# on windows prepared from MIDI (WindowDataset supplies the per-window room; BatchStream picks and applies the shift)
import pytest  # noqa: E402

from musicvae.data.dataset import PreparedDataset, WindowDataset  # noqa: E402
from musicvae.data.prepare import PrepareConfig, prepare  # noqa: E402
from musicvae.representations.streams import FIRST_NOTE_ON  # noqa: E402


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Prepared folders: melody (low, middle and high songs), multitrack (drums + three pitched parts), drums."""
    from synth import write_band_song, write_song

    root = tmp_path_factory.mktemp("transpose")
    songs = {"melody": [[60 + (i * 7 + j * (i % 5 + 1)) % 24 for j in range(32)] for i in range(8)]
             + [[125, 126, 127, 126] * 8, [0, 1, 2, 1] * 8], "drums": [[36, 38, 42, 46] * 8, [35, 38, 49, 51] * 8]}
    out = {}
    for kind in ("melody", "multitrack", "drums"):
        src = root / kind
        src.mkdir()
        if kind == "multitrack":
            for i in range(6):
                write_band_song(src / f"band{i}.mid", i)
        else:
            for i, pitches in enumerate(songs[kind]):
                write_song(src / f"s{i}.mid", pitches, drums=kind == "drums")
        prepare(src, root / f"{kind}-out", PrepareConfig(kind, 2, eval_fraction=0.0), workers=1)
        out[kind] = root / f"{kind}-out"
    return out


def _shifted(stream, base, steps):
    """Per drawn window: (window index, the batch's window, the stored window) over ``steps``."""
    for step in steps:
        idx = stream.indices(step)[stream.rank :: stream.world_size]
        for i, window in zip(idx, stream.batch(step).numpy()):
            yield int(i), window, base[i].astype(np.int64)


def test_batches_transpose_pitched_note_ons_within_the_range_and_the_room(prepared):
    data = WindowDataset(prepared["melody"], as_torch=False)
    base = PreparedDataset(prepared["melody"]).tokens
    stream = BatchStream(data, 8, seed=3, transpose=(-5, 6))
    shifts = {}
    for i, window, stored in _shifted(stream, base, range(40)):
        on = stored >= FIRST_NOTE_ON
        np.testing.assert_array_equal(window[~on], stored[~on])  # rests and note-offs stay
        diff = np.unique(window[on] - stored[on])
        assert len(diff) == 1, diff  # one shift per window, every note moves with it
        assert -min(5, data.room_down[i]) <= diff[0] <= min(6, data.room_up[i])
        assert FIRST_NOTE_ON <= window[on].min() and window[on].max() <= 129  # still in the vocabulary
        shifts.setdefault(i, set()).add(int(diff[0]))
        music = data.converter.decode(stored)  # the shifted tokens are the music transposed by that shift
        assert data.converter.decode(window).to_tuples() == music.transpose(int(diff[0])).to_tuples()
    assert len(set().union(*shifts.values())) == 12  # every shift of -5..6 is drawn
    high, low = [i for i in range(len(base)) if base[i].max() >= FIRST_NOTE_ON + 125], \
        [i for i in range(len(base)) if 0 < base[i][base[i] >= FIRST_NOTE_ON].size and
         base[i][base[i] >= FIRST_NOTE_ON].min() <= FIRST_NOTE_ON + 2]
    assert high and low and all(max(shifts[i]) <= 2 for i in high) and all(min(shifts[i]) >= -2 for i in low)
    assert any(len(s) > 1 for s in shifts.values())  # a window is transposed anew each time it is drawn
    again = BatchStream(data, 8, seed=3, transpose=(-5, 6))
    assert all(np.array_equal(again.batch(s), stream.batch(s)) for s in (0, 7, 39))  # a pure function of (seed, step)
    plain = BatchStream(data, 8, seed=3, transpose=None)
    for _, window, stored in _shifted(plain, base, range(5)):
        np.testing.assert_array_equal(window, stored)


def test_batches_never_transpose_drums(prepared):
    data = WindowDataset(prepared["multitrack"], as_torch=False)
    assert data.pitched.tolist() == [False, True, True, True]
    base = PreparedDataset(prepared["multitrack"]).tokens
    moved = 0
    for _, window, stored in _shifted(BatchStream(data, 4, seed=1), base, range(10)):
        np.testing.assert_array_equal(window[:, 0], stored[:, 0])  # the drum stream as stored
        on = stored[:, 1:] >= FIRST_NOTE_ON
        diff = np.unique(window[:, 1:][on] - stored[:, 1:][on])
        assert len(diff) == 1  # the three pitched parts move together
        moved += diff[0] != 0
        music = data.converter.decode(stored)  # drums stay, the rest is the music transposed
        assert data.converter.decode(window).to_tuples() == music.transpose(int(diff[0])).to_tuples()
    assert moved
    drums = WindowDataset(prepared["drums"], as_torch=False)
    base = PreparedDataset(prepared["drums"]).tokens
    for _, window, stored in _shifted(BatchStream(drums, 2, seed=1), base, range(10)):
        np.testing.assert_array_equal(window, stored)
