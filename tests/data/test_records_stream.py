"""records.unique_in_chunk + UniqueRecords: chunk-by-chunk dedup equals dedup of everything at once."""

import numpy as np
import pytest

from musicvae.data.labels import window_labels
from musicvae.data.records import UniqueRecords, first_occurrences, records_for, unique_in_chunk


def _all_at_once(tokens, items, starts, eval_mask, item_ids):
    """The merge before streaming: dedup of all found records in one go (the reference)."""
    is_eval = eval_mask[items]
    tr_idx, ev_idx = np.flatnonzero(~is_eval), np.flatnonzero(is_eval)
    tr_keep = tr_idx[first_occurrences(tokens[tr_idx])]
    both = np.concatenate([tr_keep, ev_idx])
    first = first_occurrences(tokens[both])
    ev_keep = both[first[first >= len(tr_keep)]]
    labels = window_labels(tokens, items, item_ids)
    return tr_keep, ev_keep, len(first_occurrences(tokens[ev_idx])), labels


@pytest.mark.parametrize("seed", range(6))
def test_streamed_dedup_equals_dedup_of_everything(seed):
    rng = np.random.default_rng(seed)
    n, n_items = 400, 30
    tokens = rng.integers(0, 3, size=(n, 4, 1)).astype(np.int16)  # few distinct windows: many duplicates
    items = np.sort(rng.integers(0, n_items, n)).astype(np.int32)
    starts = rng.integers(0, 9, n).astype(np.int32)
    eval_mask = rng.random(n_items) < 0.3
    item_ids = [sorted(rng.choice(5, rng.integers(0, 3), replace=False).tolist()) for _ in range(n_items)]
    tr_keep, ev_keep, ev_unique, labels = _all_at_once(tokens, items, starts, eval_mask, item_ids)

    cuts = np.sort(rng.choice(np.arange(1, n), 7, replace=False))
    stream = UniqueRecords(records_for("melody"), eval_mask, item_ids)
    stored = 0
    for lo, hi in zip([0, *cuts], [*cuts, n]):
        chunk = unique_in_chunk(records_for("melody"), {"tokens": tokens[lo:hi], "start_bar": starts[lo:hi], "item": items[lo:hi]})
        stored += len(chunk["tokens"])
        stream.add(chunk)
    train, evals, found = stream.splits(16)
    assert stored < n  # chunk files hold each chunk's distinct windows only
    assert found == {"found": n, "eval_unique": ev_unique}
    for got, keep in ((train, tr_keep), (evals, ev_keep)):
        np.testing.assert_array_equal(got["tokens"], tokens[keep])
        np.testing.assert_array_equal(got["item"], items[keep])
        np.testing.assert_array_equal(got["start_bar"], starts[keep])
        np.testing.assert_array_equal(got["labels"], labels[keep])


def test_chunks_of_the_old_format_still_merge():
    tokens = np.array([[[1]], [[1]], [[2]]], np.int16)
    old = {"tokens": tokens, "start_bar": np.array([0, 1, 2], np.int32), "item": np.array([0, 1, 1], np.int32)}
    stream = UniqueRecords(records_for("melody"), np.zeros(2, bool))
    stream.add(old)
    train, evals, found = stream.splits(16)
    assert found["found"] == 3 and train["tokens"].ravel().tolist() == [1, 2] and len(evals["item"]) == 0
