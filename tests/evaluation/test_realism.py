"""Sample realism: Wasserstein distance, out-of-range rates, key fit - hand-made cases with known answers."""

import math

import numpy as np
import pytest

from musicvae.evaluation.realism import (
    best_key,
    compare,
    key_fit,
    melodic_outliers,
    ood_flags,
    out_of_range,
    percentile_range,
    wasserstein_1d,
)
from musicvae.music import NoteSequence, TrackInfo


def melody(pitches, length=2, total_steps=32):
    return NoteSequence.from_tuples([(p, i * length, (i + 1) * length) for i, p in enumerate(pitches)],
                                    total_steps=total_steps)


C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]
A_MINOR_HARMONIC = [57, 59, 60, 62, 64, 65, 68, 69]


# ---------------------------------------------------------------- Wasserstein
def test_wasserstein_by_hand():
    assert wasserstein_1d([0.0], [3.0]) == pytest.approx(3.0)
    assert wasserstein_1d([1, 2, 3], [1, 2, 3]) == 0.0
    assert wasserstein_1d([0, 0, 1, 1], [0, 1]) == pytest.approx(0.0)  # same distribution, different sizes
    assert wasserstein_1d([0, 1], [0, 0, 0, 1]) == pytest.approx(0.25)  # |0.5 - 0.75| over [0, 1]
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    assert wasserstein_1d(a, a + 2.5) == pytest.approx(2.5)
    assert wasserstein_1d(a, a) == 0.0


def test_wasserstein_skips_nan_and_is_nan_for_nothing():
    assert wasserstein_1d([0.0, np.nan], [2.0]) == pytest.approx(2.0)
    assert math.isnan(wasserstein_1d([np.nan], [1.0]))
    assert math.isnan(wasserstein_1d([], [1.0]))


# -------------------------------------------------------------- out of range
def test_percentile_range_and_out_of_range():
    data = np.arange(1001, dtype=float)  # 0..1000: 0.1 % -> 1, 99.9 % -> 999
    assert percentile_range(data) == pytest.approx((1.0, 999.0))
    flags = out_of_range([0.0, 1.0, 500.0, 999.0, 1000.0, np.nan], data)
    assert flags.tolist() == [True, False, False, False, True, False]  # NaN: never out of range
    assert not out_of_range([5.0], [np.nan]).any()  # no defined data: nothing is out
    assert all(math.isnan(v) for v in percentile_range([np.nan]))


def test_ood_flags_any_attribute_and_data_against_itself():
    data = {"a": np.arange(1001.0), "b": np.arange(1001.0)}
    samples = {"a": np.array([500.0, 2000.0, 500.0]), "b": np.array([500.0, 500.0, -5.0]), "other": np.zeros(3)}
    assert ood_flags(samples, data).tolist() == [False, True, True]
    assert ood_flags(data, data).mean() <= 0.004  # at most the 0.2 % tails of each attribute


def test_compare_leaves_c_diatonic_out_of_the_headline():
    data = {"c_diatonic": np.linspace(0.5, 1.0, 1001), "note_density": np.linspace(0.1, 0.5, 1001)}
    samples = {"c_diatonic": np.array([0.0, 0.0]), "note_density": np.array([0.3, 0.9])}
    res = compare(samples, data)
    assert res["ood_rate"] == 0.5 and res["ood_attributes"] == ["note_density"]
    assert res["attributes"]["c_diatonic"]["out_of_range_rate"] == 1.0
    nd = res["attributes"]["note_density"]
    assert nd["wasserstein_per_std"] == pytest.approx(nd["wasserstein"] / np.std(data["note_density"]))
    undefined = compare({"x": np.ones(2)}, {"x": np.full(3, np.nan)})
    assert undefined["attributes"]["x"]["wasserstein"] is None and undefined["ood_rate"] is None


def test_melodic_outliers():
    wide = melody([40, 70, 45])  # range 30
    leaps = melody([60, 69, 60, 69])  # average leap 9, range 9
    fine = melody(C_MAJOR)
    single = melody([60])
    assert melodic_outliers([wide, leaps, fine, single]).tolist() == [True, True, False, False]


# ------------------------------------------------------------------ tonality
def test_best_key_finds_c_major_and_a_minor():
    hist = np.bincount(np.array(C_MAJOR) % 12, minlength=12) + np.eye(12)[0] * 4 + np.eye(12)[7] * 2  # tonic, dominant
    key, corr = best_key(hist)
    assert key == 0 and corr > 0.7
    minor = np.bincount(np.array(A_MINOR_HARMONIC) % 12, minlength=12) + np.eye(12)[9] * 4 + np.eye(12)[4] * 2
    assert best_key(minor)[0] == 12 + 9
    assert best_key(np.zeros(12)) == (-1, best_key(np.zeros(12))[1]) and math.isnan(best_key(np.ones(12))[1])
    with pytest.raises(ValueError):
        best_key(np.ones(7))


def test_key_fit_is_transposition_invariant():
    assert key_fit(melody(C_MAJOR)) == 1.0
    for shift in (1, 5, 6, 11):
        assert key_fit(melody([p + shift for p in C_MAJOR])) == 1.0
        assert key_fit(melody([p + shift for p in A_MINOR_HARMONIC])) == 1.0
    chromatic = melody(list(range(60, 72)), length=2)
    assert key_fit(chromatic) == pytest.approx(8 / 12)  # flat histogram: the best scale holds 8 of 12
    off = melody(C_MAJOR + [61, 63, 66])  # three notes outside every key that holds the rest
    assert key_fit(off) < 1.0


def test_key_fit_edge_cases():
    assert math.isnan(key_fit(NoteSequence.from_tuples([], total_steps=32)))
    assert key_fit(melody([60, 72, 60])) == 1.0  # one pitch class
    drums = NoteSequence.from_tracks([(TrackInfo(is_drum=True), [(36, 0, 1), (38, 4, 5)])], total_steps=16)
    assert math.isnan(key_fit(drums))


def test_drum_attributes_by_hand():
    from musicvae.evaluation.realism import drum_classes, drum_polyphony

    hits = [(36, 0, 1), (42, 0, 1), (38, 4, 5), (42, 8, 9), (36, 12, 13)]  # 4 onsets, 5 hits, 3 classes
    drums = NoteSequence.from_tracks([(TrackInfo(is_drum=True), hits)], total_steps=16)
    assert drum_classes(drums) == 3.0 and drum_polyphony(drums) == pytest.approx(5 / 4)
    assert drum_classes(melody(C_MAJOR)) == 0.0 and math.isnan(drum_polyphony(melody(C_MAJOR)))
