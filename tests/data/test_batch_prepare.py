"""prepare's batched melody path (data.batch) against the file-by-file path it replaces.

The per-file functions (``quantize_score``, ``MelodyConverter.candidates``, ``grid_windows``) are the
reference: for the real fixtures, nasty MIDI files, synthetic edge cases, the bundled corpora and
random sequences, a chunk done in arrays must give the same windows (tokens, start bars, items,
in order), the same per-item counts and the same rejects; and a whole ``prepare`` the same manifest
and shards, with one worker or two.
"""

from __future__ import annotations

import json
import shutil
import types

import numpy as np
import pytest
from bad_midi import conductor, make_bad_midi_dir, notes_track, smf
from synth import REAL_DIR, write_tune

import musicvae.data.prepare as prep
from musicvae.data.batch import window_chunk
from musicvae.data.prepare import PrepareConfig, prepare
from musicvae.data.sources import resolve_source
from musicvae.music import NoteSequence, write_midi
from musicvae.music.sequence import TrackInfo
from musicvae.representations import get_converter


def _both(source, cfg, indices, options=None, load_item=None):
    """(batched, per-file) results of one chunk, as comparable plain values."""
    conv = get_converter(cfg.kind, **(options or {}))
    load = load_item or (lambda i: prep._read_item(source, i))
    acc, per_item, ok, rejects, item = window_chunk(source, cfg, conv, indices, load)
    if load_item is not None:  # the per-file loop reads corpus items through _read_item
        source = types.SimpleNamespace(corpus="x")
        saved, prep._read_item = prep._read_item, lambda s, i: load_item(i)
    try:
        r_acc, r_per, r_ok, r_rej, r_item = prep._per_file(source, cfg, conv, indices, {})
    finally:
        if load_item is not None:
            prep._read_item = saved
    packed = cfg.records.pack(acc, item)
    ref = cfg.records.pack(r_acc, r_item)
    return (packed, per_item, ok, rejects), (ref, r_per, r_ok, r_rej)


def _assert_same(got, want, min_windows=1):
    (a, per, ok, rej), (b, r_per, r_ok, r_rej) = got, want
    assert rej == r_rej
    assert ok == r_ok and per == r_per
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert len(a["item"]) >= min_windows  # the comparison saw windows, not two empty chunks


@pytest.fixture(scope="module")
def edge_dir(tmp_path_factory):
    """Real fixtures, nasty files and synthetic edge cases in one folder."""
    root = tmp_path_factory.mktemp("edge")
    shutil.copytree(REAL_DIR, root / "real", ignore=shutil.ignore_patterns("*.md"))
    make_bad_midi_dir(root / "bad")
    e = root / "edge"
    e.mkdir()
    (e / "empty.mid").write_bytes(b"")
    write_tune(e / "one_note.mid", [60], [4])
    write_tune(e / "one_long_note.mid", [60], [70])
    # rests longer than a bar (and exactly one bar) between notes
    write_midi(NoteSequence.from_tuples([(60, 0, 4), (62, 20, 24), (64, 40, 41), (65, 75, 79), (67, 79, 80),
                                         (69, 120, 124), (71, 140, 144)], total_steps=160), e / "rests.mid")
    # polyphony: chords, equal pitches at one onset with different ends, overlapping notes, zero-length
    chords = [(60, 0, 8), (64, 0, 8), (67, 0, 4), (67, 0, 12), (55, 4, 6), (72, 6, 7), (72, 6, 20), (48, 16, 32),
              (50, 17, 18), (50, 30, 31), (79, 31, 40), (36, 40, 64), (127, 44, 45), (0, 46, 47)]
    write_midi(NoteSequence.from_tuples(chords, total_steps=64), e / "poly.mid")
    parts = [(TrackInfo(0, True, "drums"), [(36, j * 4, j * 4 + 1) for j in range(40)]),
             (TrackInfo(40, False, "violin"), [(76, 0, 8)]),  # not a melody program
             (TrackInfo(5, False, "ep"), [(64, 8, 12), (66, 40, 44), (60, 40, 42)]),
             (TrackInfo(0, False, "empty"), []),
             (TrackInfo(24, False, "guitar"), [(52, j * 2, j * 2 + 3) for j in range(60)])]
    write_midi(NoteSequence.from_tracks(parts), e / "band.mid")
    (e / "no44.mid").write_bytes(smf([conductor(time_sigs=[(0, 6, 8)]), notes_track([(60, 0, 96)])]))
    (e / "late_34.mid").write_bytes(smf([conductor(time_sigs=[(480 * 8, 3, 4)]),
                                         notes_track([(60 + j, 240 * j, 240 * j + 200) for j in range(40)])]))
    odd = notes_track([(60 + j % 5, 37 * j, 37 * j + 50) for j in range(60)])
    (e / "tpq_odd.mid").write_bytes(smf([conductor(), odd], division=97))
    return root


@pytest.mark.parametrize("kind", ["melody", "drums"])
def test_edge_cases_file_by_file_and_together(edge_dir, kind):
    source = resolve_source(edge_dir)
    cfg = PrepareConfig(kind, 2)
    everything = range(source.size)
    _assert_same(*_both(source, cfg, everything))
    for lo in range(0, source.size, 7):  # chunks of a few files, as a pool cuts them
        _assert_same(*_both(source, cfg, range(lo, min(lo + 7, source.size))), min_windows=0)
    got, want = _both(source, cfg, everything)
    reasons = dict(want[3])
    names = {source.name_of(i): r for i, r in reasons.items()}
    assert names["edge/empty.mid"] == "empty file" and "no 4/4 section" in names["edge/no44.mid"]
    assert "bad/not_midi.mid" in names and "bad/only_34.mid" in names


RULES = [("drums", 2, 1.0, 1, {}), ("drums", 1, 0.0, 1, {}), ("drums", 4, 0.3, 2, {"mapping": "2018"}),
         ("drums", 16, 1.0, 1, {})] + [("melody", *p) for p in [
    (1, 1.0, 1, {}), (2, 0.0, 1, {}), (2, 0.3, 1, {}), (3, 1.7, 2, {}), (2, 0.5, 2, {}),
    (4, 2.0, 1, {"keep": "lowest"}), (16, 1.0, 1, {}), (2, 1.0, 1, {"programs": None}),
    (2, 1.0, 1, {"min_pitch": 21, "max_pitch": 108})]]


@pytest.mark.parametrize("kind,bars,rest,stride,options", RULES)
def test_window_rules_and_converter_options(edge_dir, kind, bars, rest, stride, options):
    source = resolve_source(edge_dir)
    cfg = PrepareConfig(kind, bars, max_rest_bars=rest, stride_bars=stride, options=options)
    _assert_same(*_both(source, cfg, range(source.size), options))


@pytest.mark.parametrize("corpus,n", [("folk", 400), ("bach", 60), ("games", 39), ("freedoom", 64), ("grooves", 80)])
def test_bundled_corpora(corpus, n):
    source = resolve_source(corpus)
    has_windows = {("drums", "grooves"), ("drums", "freedoom")}
    has_windows |= {("melody", c) for c in ("folk", "bach", "games", "freedoom")}
    for kind in ("melody", "drums"):
        for bars in (2, 16):
            _assert_same(*_both(source, PrepareConfig(kind, bars), range(min(n, source.size))),
                         min_windows=int(bars == 2 and (kind, corpus) in has_windows))


def test_random_sequences():
    """Random tracks (drums, other programs, polyphony, ties at one onset, notes past the end)."""
    rng = np.random.default_rng(7)
    seqs = []
    for _ in range(150):
        parts = []
        total = int(rng.integers(1, 12)) * 16
        for _ in range(int(rng.integers(1, 4))):
            info = TrackInfo(int(rng.choice([0, 5, 30, 33, 40])), bool(rng.random() < 0.2))
            n = int(rng.integers(0, 40))
            start = rng.integers(0, total + 8, n)
            notes = [(int(p), int(s), int(s + d)) for p, s, d in
                     zip(rng.integers(0, 128, n), start, rng.integers(1, 40, n))]
            notes += notes[: int(rng.integers(0, 3))]  # exact duplicates
            parts.append((info, notes))
        seqs.append([NoteSequence.from_tracks(parts, total_steps=total)])
    source = types.SimpleNamespace(corpus="random")
    for kind in ("melody", "drums"):
        for bars, rest in ((1, 1.0), (2, 0.5), (4, 1.0)):
            _assert_same(*_both(source, PrepareConfig(kind, bars, max_rest_bars=rest), range(len(seqs)),
                                load_item=lambda i: seqs[i]))


def _manifest(out):
    doc = json.loads((out / "manifest.json").read_text())
    for k in ("created", "seconds"):
        doc.pop(k)
    return doc


def _shards(out, doc):
    return {s: dict(np.load(out / s)) for s in doc["shards"]["train"] + doc["shards"]["eval"]}


@pytest.mark.parametrize("kind,workers", [("melody", 1), ("melody", 2), ("drums", 1), ("drums", 2)])
def test_prepare_same_dataset_as_file_by_file(edge_dir, tmp_path, monkeypatch, kind, workers):
    cfg = PrepareConfig(kind, 2, eval_fraction=0.2)
    prepare(edge_dir, tmp_path / "batched", cfg, workers=workers)
    monkeypatch.setattr(prep, "batchable", lambda cfg, conv: False)
    prepare(edge_dir, tmp_path / "per_file", cfg, workers=workers)
    a, b = _manifest(tmp_path / "batched"), _manifest(tmp_path / "per_file")
    assert a == b and a["counts"]["windows_total"] > 0 and a["rejected"]
    sa, sb = _shards(tmp_path / "batched", a), _shards(tmp_path / "per_file", b)
    assert sa.keys() == sb.keys()
    for shard in sa:
        assert sa[shard].keys() == sb[shard].keys()
        for k in sa[shard]:
            np.testing.assert_array_equal(sa[shard][k], sb[shard][k])


def test_a_failing_batch_is_redone_file_by_file(edge_dir, tmp_path, monkeypatch):
    """Anything the arrays raise costs nothing: the chunk is done file by file, bad files still rejected one by one."""
    cfg = PrepareConfig("melody", 2)
    want = prepare(edge_dir, tmp_path / "a", cfg, workers=1)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(prep, "window_chunk", broken)
    got = prepare(edge_dir, tmp_path / "b", cfg, workers=1)
    for doc in (want, got):
        doc.pop("created"), doc.pop("seconds")
    assert got == want and got["counts"]["files_rejected"] > 0 and got["counts"]["windows_total"] > 0


def test_one_bad_file_inside_a_chunk(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(5):
        write_tune(src / f"t{i}.mid", [60 + i, 62, 64 + i, 65, 67] * 8, [4, 2, 2])
    (src / "t2.mid").write_bytes(b"MThd garbage")  # in the middle of the chunk
    source = resolve_source(src)
    got, want = _both(source, PrepareConfig("melody", 2), range(source.size))
    _assert_same(got, want)
    assert got[3] == [(2, "truncated MIDI header (12 bytes)")] and len(got[1]) == 4


def test_notes_read_through_numpy_when_their_bytes_cannot_be_trusted(edge_dir, monkeypatch):
    """Both ways of taking notes out of symusic (its serialized bytes, checked once; ``numpy()``) agree."""
    import musicvae.music.batch as mb

    source = resolve_source(edge_dir)
    cfg = PrepareConfig("melody", 2)
    fast = _both(source, cfg, range(source.size))
    monkeypatch.setattr(mb, "_STATES_OK", [False])
    slow = _both(source, cfg, range(source.size))
    _assert_same(fast[0], slow[0])
    _assert_same(*slow)


def test_note_state_layout_check():
    import musicvae.music.batch as mb

    assert isinstance(mb.note_states_work(), bool)
    with pytest.raises(ValueError, match="layout"):
        mb._read_states([b"\x02\x00\x00\x00" + bytes(12)], [1])  # says 2 notes, holds 1
