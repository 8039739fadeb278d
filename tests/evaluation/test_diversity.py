"""Diversity statistics on hand-made sequences with known answers, and their edge cases."""

import math

import numpy as np
import pytest

from musicvae.evaluation.diversity import (
    distinct_ngram_ratio,
    diversity_summary,
    event_pitches,
    pitch_entropy,
    repeated_note_rate,
)


def test_event_pitches_drop_rests():
    ev = np.array([[0, 4, 7], [12, 11, 7], [7, 4, 3], [11, 5, 7]])
    assert event_pitches(ev).tolist() == [48, 55, 71]
    assert event_pitches(np.zeros((0, 3))).tolist() == []
    assert event_pitches([[12, 11, 1]]).tolist() == []


@pytest.mark.parametrize(
    "seq, rate",
    [
        ([60, 60, 62, 62, 62], 3 / 4),
        ([60, 62, 64], 0.0),
        ([5, 5], 1.0),
        (np.array([[0, 4, 7], [0, 4, 7], [0, 4, 8]]), 1 / 2),  # rows compared as whole events
    ],
)
def test_repeated_note_rate(seq, rate):
    assert repeated_note_rate(seq) == pytest.approx(rate)


def test_repeated_note_rate_is_nan_without_a_pair():
    assert math.isnan(repeated_note_rate([]))
    assert math.isnan(repeated_note_rate([60]))


def test_pitch_entropy_known_values():
    assert pitch_entropy([60, 62, 64, 65]) == pytest.approx(2.0)  # 4 equally likely pitches
    assert pitch_entropy([60, 60, 62, 62]) == pytest.approx(1.0)
    assert pitch_entropy([60, 60, 60, 62], base=math.e) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert pitch_entropy([60]) == 0.0 and pitch_entropy([7, 7, 7]) == 0.0
    assert math.isnan(pitch_entropy([]))


def test_distinct_ngrams_single_and_pooled():
    assert distinct_ngram_ratio([1, 2, 1, 2, 1], 2) == pytest.approx(2 / 4)  # 12 21 12 21
    assert distinct_ngram_ratio([1, 2, 3], 1) == 1.0
    assert distinct_ngram_ratio([1, 2, 3], 3) == 1.0  # exactly one 3-gram
    # pooled: the same bigram in two samples counts once; no n-gram across the boundary
    assert distinct_ngram_ratio([[1, 2], [1, 2]], 2) == pytest.approx(1 / 2)
    assert distinct_ngram_ratio([np.array([1, 2, 3]), np.array([4])], 2) == 1.0
    assert distinct_ngram_ratio([[1, 2], [3]], 2, pooled=True) == 1.0


def test_distinct_ngrams_edge_cases():
    assert math.isnan(distinct_ngram_ratio([], 2))
    assert math.isnan(distinct_ngram_ratio([60], 2))
    assert math.isnan(distinct_ngram_ratio([[60], [62]], 2))
    with pytest.raises(ValueError):
        distinct_ngram_ratio([1, 2], 0)


def test_diversity_summary_on_events():
    a = np.array([[0, 4, 7], [0, 4, 7], [12, 11, 7], [0, 4, 7]])  # C C (rest) C: all repeats
    b = np.array([[0, 4, 7], [2, 4, 7]])  # C D
    c = np.array([[12, 11, 7]])  # only a rest: undefined rate and entropy
    s = diversity_summary([a, b, c], ns=(1, 2))
    assert s["samples"] == 3 and s["notes_per_sample"] == pytest.approx(5 / 3)
    assert s["repeated_note_rate"] == pytest.approx((1.0 + 0.0) / 2)
    assert s["pitch_entropy"] == pytest.approx((0.0 + 1.0) / 2)
    assert s["pooled_pitch_entropy"] == pytest.approx(-(0.8 * math.log2(0.8) + 0.2 * math.log2(0.2)))
    assert s["distinct_1"] == pytest.approx(2 / 5)  # C C C C D
    assert s["distinct_2"] == pytest.approx(2 / 3)  # CC CC | CD
    empty = diversity_summary([])
    assert empty["samples"] == 0 and math.isnan(empty["repeated_note_rate"]) and math.isnan(empty["distinct_2"])
