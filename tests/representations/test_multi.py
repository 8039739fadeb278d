"""Trio and MusAE multitrack converters: combinations, grouping, layout, round trips."""

import numpy as np
from synth import random_melody_tokens

from musicvae.music import NoteSequence, TrackInfo
from musicvae.representations import MultitrackConverter, TrioConverter


def _song():
    return NoteSequence.from_tracks(
        [
            (TrackInfo(0, name="lead"), [(72, 0, 4), (74, 4, 8)]),
            (TrackInfo(24, name="guitar"), [(64, 0, 8), (60, 0, 8)]),
            (TrackInfo(33, name="bass"), [(36, 0, 8)]),
            (TrackInfo(34, name="bass2"), [(40, 0, 8)]),
            (TrackInfo(48, name="strings"), [(55, 0, 16)]),
            (TrackInfo(0, True, "drums"), [(36, 0, 1), (42, 2, 3)]),
        ]
    )


def test_trio_takes_every_melody_bass_combination():
    cands = list(TrioConverter().candidates(_song()))
    assert len(cands) == 4  # 2 melody tracks x 2 bass tracks
    assert len(list(TrioConverter(max_parts=1).candidates(_song()))) == 1  # bounded: first melody x first bass
    assert all(c.shape == (16, 3) for c in cands)
    assert TrioConverter().vocab_sizes == (130, 130, 512) and TrioConverter().depth == 772
    assert TrioConverter(21, 108).vocab_sizes == (90, 90, 512)


def test_trio_needs_all_three_parts():
    seq = NoteSequence.from_tracks([(TrackInfo(0), [(72, 0, 4)]), (TrackInfo(33), [(36, 0, 8)])])
    assert list(TrioConverter().candidates(seq)) == []


def test_trio_random_round_trip():
    rng = np.random.default_rng(3)
    conv = TrioConverter()
    for _ in range(100):
        grid = np.stack(
            [random_melody_tokens(rng, 32), random_melody_tokens(rng, 32), rng.integers(0, 512, 32).astype(np.int16)], axis=1
        )
        grid[0] = [60, 40, 1]  # every part plays
        assert conv.is_valid(grid)
        np.testing.assert_array_equal(conv.encode(conv.decode(grid)), grid)


def test_multitrack_groups_by_program_and_keeps_lowest():
    grid = MultitrackConverter().encode(_song())
    assert grid.shape == (16, 4)
    drums, bass, guitar_piano, strings = grid[0]
    assert drums == 2 + 36
    assert bass == 2 + 36  # lowest of the two bass tracks
    assert guitar_piano == 2 + 60  # lowest of lead and guitar
    assert strings == 2 + 55


def test_multitrack_random_round_trip():
    rng = np.random.default_rng(4)
    conv = MultitrackConverter()
    for _ in range(100):
        grid = np.stack([random_melody_tokens(rng, 32) for _ in range(4)], axis=1)
        np.testing.assert_array_equal(conv.encode(conv.decode(grid)), grid)


def test_real_files_round_trip(real_sequences):
    for conv in (TrioConverter(), MultitrackConverter()):
        n = 0
        for seq in real_sequences:
            for grid in conv.candidates(seq):
                assert conv.is_valid(grid)
                np.testing.assert_array_equal(conv.encode(conv.decode(grid)), grid)
                n += 1
        assert n >= 5


def test_multitrack_per_track_window_rule_needs_every_group_playing():
    """The MusAE paper's rule: every track plays and rests at most one bar; ours applies it to the mix."""
    from musicvae.data.windows import WindowRules, grid_windows

    tracks = [(TrackInfo(0, True, "drums"), [(36, s, s + 1) for s in range(0, 64, 4)]),
              (TrackInfo(33, name="bass"), [(36, s, s + 4) for s in range(0, 64, 4)]),
              (TrackInfo(24, name="guitar"), [(60, s, s + 4) for s in range(0, 64, 4)]),
              (TrackInfo(48, name="strings"), [(55, 0, 8), (57, 40, 48)])]  # strings rest from step 8 to 40
    seq = NoteSequence.from_tracks(tracks, total_steps=64)
    mix, per_track = MultitrackConverter(), MultitrackConverter(window_rule="per_track")
    rules = WindowRules(2)
    _, starts_mix = grid_windows(mix, mix.encode(seq), rules)
    _, starts_track = grid_windows(per_track, per_track.encode(seq), rules)
    assert list(starts_mix) == [0, 1, 2]
    # the strings rest 24 steps in bars 0-1 (8-32) and in bars 1-2 (16-40), more than a bar; in bars 2-3
    # they rest 8 steps before their onset at 40 and 16 after their note: at most one bar
    assert list(starts_track) == [2]
    import pytest

    with pytest.raises(ValueError, match="window_rule"):
        MultitrackConverter(window_rule="tracks")


def test_multitrack_cross_product_takes_one_track_per_group_bounded_and_lazily():
    """The MusAE paper's candidates: each combination of one track per group, not the group merged."""
    import types

    import pytest

    merged = MultitrackConverter().candidates(_song())
    assert len(merged) == 1 and merged[0][0, 2] == 60 + 2  # lead and guitar merged, lowest note kept (token = pitch + 2)
    conv = MultitrackConverter(cross_product=True)
    cands = conv.candidates(_song())
    assert isinstance(cands, types.GeneratorType)  # streamed, one grid at a time
    grids = list(cands)
    assert len(grids) == 4  # 1 drums x 2 bass x 2 guitar/piano (lead, guitar) x 1 strings
    assert sorted({int(g[0, 1]) - 2 for g in grids}) == [36, 40]  # each bass track alone
    assert sorted({int(g[0, 2]) - 2 for g in grids}) == [60, 72]  # the lead alone; the guitar's lowest note
    assert all(g.shape == (16, 4) and g[0, 3] == 55 + 2 for g in grids)
    # a group without a track stays silent; the product is bounded per group and in all
    big = NoteSequence.from_tracks([(TrackInfo(33 + i % 2, name=f"b{i}"), [(36 + i, 0, 8)]) for i in range(10)]
                                   + [(TrackInfo(24, name=f"g{i}"), [(60 + i, 0, 8)]) for i in range(10)])
    assert len(list(MultitrackConverter(cross_product=True).candidates(big))) == 16  # 4 bass x 4 guitar
    silent = conv.streams[0].encode(big.notes[:0], big.total_steps)
    assert all((g[:, 0] == silent).all() and (g[:, 3] == silent).all()
               for g in MultitrackConverter(cross_product=True).candidates(big))
    assert len(list(MultitrackConverter(cross_product=True, max_parts=10, max_combinations=64).candidates(big))) == 64
    assert conv.config()["cross_product"] is True and conv.config()["window_rule"] == "mix"
    with pytest.raises(ValueError, match="max_parts"):
        MultitrackConverter(cross_product=True, max_parts=0)


def test_multitrack_windows_round_trip_through_the_manifest_and_train_says_when_they_differ(tmp_path):
    """The converter's settings are stored (a rebuilt converter keeps the rule); the full MusAE presets
    expect the paper's windows and `train` prints a notice for others."""
    import json

    from musicvae.data.dataset import converter_from_config, window_rule_notice
    from musicvae.presets import PRESETS

    conv = converter_from_config(MultitrackConverter("per_track", cross_product=True).config())
    assert (conv.window_rule, conv.cross_product) == ("per_track", True)
    assert PRESETS["musae-gmm_2bar"].data.window_rule == "per_track" == PRESETS["musae-gauss_16bar"].data.window_rule
    assert PRESETS["musae-gmm_2bar_cpu"].data.window_rule == ""
    (tmp_path / "manifest.json").write_text(json.dumps({"representation": MultitrackConverter().config()}))
    notice = window_rule_notice(tmp_path, "per_track")
    assert notice and "--window-rule per_track --cross-product" in notice and "'mix'" in notice
    assert window_rule_notice(tmp_path, "") is None and window_rule_notice(tmp_path, "mix") is None
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"representation": MultitrackConverter("per_track", cross_product=True).config()}))
    assert window_rule_notice(tmp_path, "per_track") is None
    assert "'per_track'" in window_rule_notice(tmp_path, "mix")
    (tmp_path / "manifest.json").write_text(json.dumps({"representation": {"kind": "melody"}}))
    assert window_rule_notice(tmp_path, "per_track") is None
    assert window_rule_notice(tmp_path / "missing", "per_track") is None
