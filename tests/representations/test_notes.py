"""Tests for musicvae.representations.notes (VRASH note events)."""

from fractions import Fraction

import numpy as np
import pytest

from musicvae.music.sequence import NoteSequence, TrackInfo
from musicvae.representations.notes import (
    DEFAULT_DURATION_RATIOS,
    DRUM_GROUP,
    REST_OCTAVE,
    REST_PITCH_CLASS,
    NoteEventConverter,
    TrackMeta,
    instrument_group,
)

B = {r: k for k, r in enumerate(DEFAULT_DURATION_RATIOS)}  # ratio -> bucket


def b(ratio: str) -> int:
    return B[Fraction(ratio)]


def rest(ratio: str) -> list[int]:
    return [REST_PITCH_CLASS, REST_OCTAVE, b(ratio)]


@pytest.fixture
def conv() -> NoteEventConverter:
    return NoteEventConverter()


def roundtrip_events(conv, events, meta):
    seq = conv.decode(events, meta)
    return conv.encode_track(seq, 0)


# --------------------------------------------------------------- vocabulary
def test_vocab_sizes_default_and_custom():
    assert NoteEventConverter().vocab_sizes == (13, 12, 16)
    assert NoteEventConverter(duration_ratios=[0.5, 1, 2]).vocab_sizes == (13, 12, 3)


def test_ratio_table_must_contain_one_and_increase():
    with pytest.raises(ValueError):
        NoteEventConverter(duration_ratios=[0.5, 2])
    with pytest.raises(ValueError):
        NoteEventConverter(duration_ratios=[1, 0.5])
    assert NoteEventConverter(duration_ratios=[1 / 3, 1]).duration_ratios[0] == Fraction(1, 3)


def test_instrument_group_and_meta_validation():
    assert instrument_group(33, False) == 4
    assert instrument_group(33, True) == DRUM_GROUP
    assert TrackMeta(program=127).instrument_group == 15
    assert TrackMeta(program=0, is_drum=True).instrument_group == 16
    with pytest.raises(ValueError):
        TrackMeta(octave_shift=5)
    with pytest.raises(ValueError):
        TrackMeta(median_duration=0)


# ---------------------------------------------------------------- centring
@pytest.mark.parametrize(
    "pitches, shift",
    [
        ([48, 50, 52], 0),  # median 50 already in [48, 60)
        ([59], 0),
        ([60], -12),
        ([47], 12),
        ([70, 72, 76], -24),
        ([30, 31, 90], 24),  # median 31 -> 55
        ([40, 70], 12),  # even count: lower median 40 -> 52
    ],
)
def test_centring_moves_lower_median_into_octave_4(conv, pitches, shift):
    seq = NoteSequence.from_tuples([(p, 4 * i, 4 * i + 4) for i, p in enumerate(pitches)])
    events, meta = conv.encode_track(seq, 0)
    assert meta.octave_shift == shift
    notes = events[events[:, 0] != REST_PITCH_CLASS]
    centred = notes[:, 1].astype(int) * 12 + notes[:, 0]
    assert centred.tolist() == [p + shift for p in pitches]
    assert 48 <= sorted(centred)[(len(centred) - 1) // 2] < 60
    assert conv.decode(events, meta).to_tuples() == seq.to_tuples()


def test_centred_pitches_outside_octaves_0_10_are_folded(conv):
    low = NoteSequence.from_tuples([(2, 0, 4), (100, 4, 8), (101, 8, 12)])
    events, meta = conv.encode_track(low, 0)
    assert meta.octave_shift == -48 and events[0].tolist() == [2, 0, b("1")]
    assert conv.decode(events, meta).to_tuples()[0] == (50, 0, 4)  # pitch class kept
    high = NoteSequence.from_tuples([(120, 0, 4), (20, 4, 8), (21, 8, 12)])
    events, meta = conv.encode_track(high, 0)
    assert meta.octave_shift == 36 and events[0].tolist() == [0, 10, b("1")]
    assert conv.decode(events, meta).to_tuples()[0] == (84, 0, 4)
    # decoding folds pitches outside 0-127 too (sampled events)
    out = conv.decode([[0, 10, b("1")], [0, 0, b("1")]], TrackMeta(octave_shift=-48))
    assert out.to_tuples() == [(120, 0, 4), (48, 4, 8)]


def test_octave_convention_c4_is_60(conv):
    # median 50 -> no shift; pitch 60 (C4) is pitch class 0 in octave index 5
    seq = NoteSequence.from_tuples([(50, 0, 4), (49, 4, 8), (60, 8, 12)])
    events, meta = conv.encode_track(seq, 0)
    assert meta.octave_shift == 0
    assert events[:3].tolist() == [[2, 4, b("1")], [1, 4, b("1")], [0, 5, b("1")]]


def test_drums_are_not_centred(conv):
    seq = NoteSequence.from_tuples([(36, 0, 2), (42, 2, 4), (38, 4, 6)], program=0, is_drum=True)
    events, meta = conv.encode_track(seq, 0)
    assert meta.octave_shift == 0 and meta.is_drum and meta.instrument_group == DRUM_GROUP
    assert events[:3].tolist() == [[0, 3, b("1")], [6, 3, b("1")], [2, 3, b("1")]]
    out = conv.decode(events, meta)
    assert out.tracks[0].is_drum and out.to_tuples() == seq.to_tuples()
    assert conv.is_valid(events, meta)
    # the same events are not valid for a pitched track (median 38 not in octave 4)
    assert not conv.is_valid(events)


# -------------------------------------------------------- rests / durations
def test_single_note_with_trailing_rest(conv):
    seq = NoteSequence.from_tuples([(60, 0, 4)])  # total 16 steps
    events, meta = conv.encode_track(seq, 0)
    assert meta == TrackMeta(program=0, is_drum=False, median_duration=4, octave_shift=-12)
    assert events.dtype == np.int16
    assert events.tolist() == [[0, 4, b("1")], rest("3")]
    out = conv.decode(events, meta)
    assert out.to_tuples() == [(60, 0, 4)] and out.total_steps == 16


def test_leading_and_inner_rests(conv):
    seq = NoteSequence.from_tuples([(62, 2, 6), (64, 8, 12), (65, 12, 16)], total_steps=16)
    events, meta = conv.encode_track(seq, 0)
    assert events.tolist() == [
        rest("1/2"), [2, 4, b("1")], rest("1/2"), [4, 4, b("1")], [5, 4, b("1")]
    ]
    assert conv.decode(events, meta).to_tuples() == seq.to_tuples()


def test_rest_longer_than_largest_bucket_is_split(conv):
    seq = NoteSequence.from_tuples([(60, 0, 1), (62, 41, 42)], total_steps=48)
    events, meta = conv.encode_track(seq, 0)
    assert meta.median_duration == 1
    # 40-step gap = 16 + 16 + 8; 6-step trailing silence = 6
    assert events.tolist() == [
        [0, 4, b("1")], rest("16"), rest("16"), rest("8"), [2, 4, b("1")], rest("6")
    ]
    out = conv.decode(events, meta)
    assert out.to_tuples() == seq.to_tuples() and out.total_steps == 48


def test_unrepresentable_note_snaps_to_nearest_bucket_keeping_onsets(conv):
    # md = 4; a 5-step note: 5/4 is nearer 3/2 (6 steps) than 1 (4) in log-duration
    seq = NoteSequence.from_tuples([(60, 0, 4), (62, 4, 9), (64, 12, 16)])
    events, meta = conv.encode_track(seq, 0)
    assert meta.median_duration == 4
    assert events[1].tolist() == [2, 4, b("3/2")]
    assert events[2].tolist() == rest("1/2")  # the following silence shrinks
    assert conv.decode(events, meta).to_tuples() == [(60, 0, 4), (62, 4, 10), (64, 12, 16)]


def test_note_longer_than_largest_bucket_is_clamped(conv):
    seq = NoteSequence.from_tuples(
        [(60, 0, 1), (62, 1, 2), (64, 2, 22), (65, 24, 25)], total_steps=32
    )
    events, meta = conv.encode_track(seq, 0)
    assert meta.median_duration == 1
    assert events[2].tolist() == [4, 4, b("16")]
    out = conv.decode(events, meta)
    assert out.to_tuples() == [(60, 0, 1), (62, 1, 2), (64, 2, 18), (65, 24, 25)]
    assert out.total_steps == 32


@pytest.mark.parametrize("gap, rest_steps", [(3, 5), (2, 0)])
def test_silence_shorter_than_any_bucket_rounds_and_error_is_not_carried(conv, gap, rest_steps):
    # md = 5: the shortest usable bucket is 1 (5 steps); a leftover of >= 2.5
    # steps becomes a 5-step rest, a shorter one is dropped; the next silence
    # is measured from the decoded time so the third onset is kept
    seq = NoteSequence.from_tuples(
        [(60, 0, 5), (62, 5 + gap, 10 + gap), (64, 20, 25)], total_steps=32
    )
    events, meta = conv.encode_track(seq, 0)
    assert meta.median_duration == 5
    assert conv.is_valid(events, meta)  # the events are canonical; the encoding was lossy
    out = conv.decode(events, meta)
    assert out.to_tuples() == [(60, 0, 5), (62, 5 + rest_steps, 10 + rest_steps), (64, 20, 25)]
    assert out.total_steps == 30  # 7 trailing steps: 5 + leftover 2 dropped


def test_polyphony_reduced_by_keep():
    seq = NoteSequence.from_tuples([(60, 0, 4), (55, 0, 4), (62, 4, 8), (50, 4, 8)], total_steps=8)
    hi, _ = NoteEventConverter(keep="highest").encode_track(seq, 0)
    lo, _ = NoteEventConverter(keep="lowest").encode_track(seq, 0)
    assert hi[:, 0].tolist() == [0, 2] and lo[:, 0].tolist() == [7, 2]


def test_empty_track_raises_and_encode_skips_it(conv):
    seq = NoteSequence.from_tracks(
        [(TrackInfo(0), [(60, 0, 4)]), (TrackInfo(33), []), (TrackInfo(40), [(72, 0, 8)])]
    )
    with pytest.raises(ValueError):
        conv.encode_track(seq, 1)
    out = conv.encode(seq)
    assert [m.program for _, m in out] == [0, 40]
    assert out[1][1].median_duration == 8


def test_max_events_truncates():
    seq = NoteSequence.from_tuples([(60 + i, 2 * i, 2 * i + 1) for i in range(8)])
    events, _ = NoteEventConverter(max_events=5).encode_track(seq, 0)
    full, _ = NoteEventConverter().encode_track(seq, 0)
    assert len(full) > 5 and events.tolist() == full[:5].tolist()


# ---------------------------------------------------------------- decoding
def test_decode_total_steps_cut_and_extend(conv):
    meta = TrackMeta(median_duration=4)
    events = [[0, 4, b("1")], [2, 4, b("2")], [4, 4, b("1")]]  # 0-4, 4-12, 12-16
    assert conv.decode(events, meta).total_steps == 16
    cut = conv.decode(events, meta, total_steps=8)
    assert cut.to_tuples() == [(48, 0, 4), (50, 4, 8)] and cut.total_steps == 8
    longer = conv.decode(events, meta, total_steps=32, velocity=100)
    assert longer.total_steps == 32 and (longer.notes[:, 3] == 100).all()


def test_decode_rejects_out_of_vocab(conv):
    with pytest.raises(ValueError):
        conv.decode([[13, 4, 0]], TrackMeta())
    with pytest.raises(ValueError):
        conv.decode([[0, 4, 16]], TrackMeta())
    assert len(conv.decode(np.zeros((0, 3), dtype=np.int16), TrackMeta())) == 0


# ---------------------------------------------------------------- validity
def test_is_valid_rejections(conv):
    meta = TrackMeta(median_duration=1)
    ok = [[0, 4, b("1")], rest("2")]
    assert conv.is_valid(ok) and conv.is_valid(ok, meta)
    assert not conv.is_valid([[0, 4]])  # shape
    assert not conv.is_valid([[0.0, 4.0, 7.0]])  # dtype
    assert not conv.is_valid([[0, 4, b("1")], [12, 4, b("1")]])  # rest with an octave
    assert not conv.is_valid([[0, 11, b("1")]])  # note with the rest octave
    assert not conv.is_valid([rest("1")])  # no notes
    assert not conv.is_valid([[0, 4, b("2")]])  # median bucket not 1
    assert not conv.is_valid([[0, 5, b("1")]])  # median not centred
    # two 1-step rests re-encode as one 2-step rest
    assert not conv.is_valid([[0, 4, b("1")], rest("1"), rest("1")], meta)
    assert conv.is_valid([[0, 4, b("1")], rest("16"), rest("1")], meta)
    # half a step is not representable with median 1
    assert conv.is_valid([[0, 4, b("1")], rest("1/2")])
    assert not conv.is_valid([[0, 4, b("1")], rest("1/2")], meta)
    # a note bucket that is not a whole number of steps (re-encodes snapped)
    notes = [[0, 4, b("1")], [2, 4, b("1/2")], [4, 4, b("2")]]
    assert conv.is_valid(notes) and not conv.is_valid(notes, meta)
    assert conv.is_valid(notes, TrackMeta(median_duration=2))
    # decoded pitch below 0
    assert not conv.is_valid([[0, 4, b("1")]], TrackMeta(octave_shift=60))
    # drum events must carry no shift
    assert not conv.is_valid([[0, 4, b("1")]], TrackMeta(is_drum=True, octave_shift=12))
    assert not NoteEventConverter(max_events=1).is_valid(ok)


# ---------------------------------------------------------- property tests
def _random_events(rng, conv):
    """Mostly-valid random events and meta (some constraints deliberately loose)."""
    md = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 24]))
    usable = [k for k, r in enumerate(conv.duration_ratios) if (r * md).denominator == 1]
    n = int(rng.integers(1, 12))
    m = (n - 1) // 2
    unit = conv.unit_bucket
    below = [k for k in usable if k <= unit]
    above = [k for k in usable if k >= unit]
    durs = list(rng.choice(below, m)) + [unit] + list(rng.choice(above, n - 1 - m))
    med = int(rng.integers(48, 60))
    pitches = (list(rng.integers(med - 30, med + 1, m)) + [med]
               + list(rng.integers(med, med + 30, n - 1 - m)))
    order = rng.permutation(n)
    shift = 12 * int(rng.integers(-3, 4))
    events = []
    for i in order:
        p = int(pitches[i])
        events.append([p % 12, p // 12, int(durs[i])])
        for _ in range(int(rng.choice([0, 0, 1, 1, 2]))):
            events.append([REST_PITCH_CLASS, REST_OCTAVE, int(rng.choice(usable))])
    if rng.random() < 0.1:  # occasionally a non-usable bucket
        events.append([REST_PITCH_CLASS, REST_OCTAVE, int(rng.integers(0, 16))])
    if rng.random() < 0.1:  # occasionally a note bucket that may not be usable
        events.append([0, 4, int(rng.integers(0, 16))])
    if rng.random() < 0.1:  # occasionally break the median
        events[0][2] = int(rng.integers(0, 16))
    if rng.random() < 0.2:
        events.insert(0, [REST_PITCH_CLASS, REST_OCTAVE, int(rng.choice(usable))])
    meta = TrackMeta(program=int(rng.integers(0, 128)), is_drum=False,
                     median_duration=md, octave_shift=shift)
    return np.array(events, dtype=np.int16), meta


def test_random_events_valid_iff_exact_roundtrip(conv):
    rng = np.random.default_rng(1234)
    n_valid = n_invalid = 0
    for _ in range(400):
        events, meta = _random_events(rng, conv)
        back, back_meta = roundtrip_events(conv, events, meta)
        exact = back.tolist() == events.tolist() and back_meta == meta
        assert conv.is_valid(events, meta) == exact, (events.tolist(), meta)
        if exact:
            n_valid += 1
            assert conv.is_valid(events)  # the meta-free check is necessary
        else:
            n_invalid += 1
    assert n_valid > 100 and n_invalid > 50


def test_random_representable_sequences_roundtrip(conv):
    """Monophonic tracks with md in {1,2,3,4,6,8} (a 1-step bucket exists) round-trip."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        md = int(rng.choice([1, 2, 3, 4, 6, 8]))
        lengths = sorted({int(r * md) for r in conv.duration_ratios if (r * md).denominator == 1})
        n = int(rng.integers(1, 10))
        m = (n - 1) // 2
        durs = (list(rng.choice([x for x in lengths if x <= md], m)) + [md]
                + list(rng.choice([x for x in lengths if x >= md], n - 1 - m)))
        durs = [int(d) for d in rng.permutation(durs)]
        drum = bool(rng.random() < 0.2)
        centre = int(rng.integers(20, 108))
        t, notes = int(rng.integers(0, 40)), []
        for d in durs:
            notes.append((int(np.clip(centre + rng.integers(-24, 25), 0, 127)), t, t + d))
            t += d + int(rng.choice([0, 0, 1, 5, 37]))
        seq = NoteSequence.from_tuples(notes, program=int(rng.integers(0, 128)), is_drum=drum)
        events, meta = conv.encode_track(seq, 0)
        assert meta.median_duration == md and meta.is_drum == drum
        assert conv.is_valid(events, meta)
        out = conv.decode(events, meta)
        assert out.to_tuples() == seq.to_tuples()
        assert out.total_steps == seq.total_steps
        assert out.tracks[0] == TrackInfo(meta.program, drum)
