"""The .npz note collection: save/load round trip, header, empty collections."""

from __future__ import annotations

import json

import numpy as np
import pytest

from musicvae.music import NoteSequence, TrackInfo
from musicvae.music.collection import load_collection, read_collection_header, save_collection


def _seqs():
    a = NoteSequence.from_tracks(
        [
            (TrackInfo(0, False, "lead"), [(72, 0, 4, 99), (74, 4, 8)]),
            (TrackInfo(33, False, "bässo"), [(36, 0, 16)]),
            (TrackInfo(0, True, "drums"), [(36, 0, 1), (42, 2, 3)]),
        ],
        qpm=133.3333,
        source="songs/é one.mid",
        label="jazz",
        meta={"paired_2_4": True, "stretch": 2, "nested": {"x": [1, 2]}},
    )
    b = NoteSequence.from_tuples([], total_steps=32, time_signature=(2, 2), label="")
    c = NoteSequence.from_tuples([(60, 0, 12), (62, 12, 24)], steps_per_bar=12, steps_per_quarter=3, qpm=60)
    return [a, b, c]


def _same(x: NoteSequence, y: NoteSequence):
    np.testing.assert_array_equal(x.notes, y.notes)
    assert x.notes.dtype == y.notes.dtype == np.int32
    assert x.tracks == y.tracks
    for f in ("total_steps", "steps_per_bar", "steps_per_quarter", "time_signature", "source", "label", "meta"):
        assert getattr(x, f) == getattr(y, f), f


def test_round_trip(tmp_path):
    seqs = _seqs()
    path = save_collection(seqs, tmp_path / "c.npz", name="demo", version=3)
    back = load_collection(path)
    assert len(back) == 3
    for x, y in zip(seqs, back):
        _same(x, y)
    assert back[0].qpm == 133.333  # stored rounded to 3 decimals
    assert back[1].time_signature == (2, 2) and isinstance(back[1].time_signature, tuple)
    assert back[2].qpm == 60.0 and back[0].tracks[2].is_drum is True


def test_header_info_and_no_pickle(tmp_path):
    path = save_collection(_seqs(), tmp_path / "c.npz", corpus="x", count=3)
    head = read_collection_header(path)
    assert head["format"] == "musicvae-collection" and head["version"] == 1
    assert head["info"] == {"corpus": "x", "count": 3}
    assert [i["label"] for i in head["items"]] == ["jazz", "", ""]
    with np.load(path, allow_pickle=False) as data:  # loadable with pickle disabled
        assert sorted(data.files) == ["header", "notes", "offsets"]
        assert data["offsets"].tolist() == [0, 5, 5, 7]


def test_empty_collection(tmp_path):
    path = save_collection([], tmp_path / "empty.npz")
    assert load_collection(path) == []
    assert read_collection_header(path)["items"] == []


def test_generator_input_and_atomic_write(tmp_path):
    path = save_collection((s for s in _seqs()), tmp_path / "deep" / "g.npz")
    assert [p.name for p in path.parent.iterdir()] == ["g.npz"]
    assert len(load_collection(path)) == 3


def test_not_a_collection(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, header=np.frombuffer(json.dumps({"format": "else"}).encode(), np.uint8))
    with pytest.raises(ValueError, match="not a musicvae note collection"):
        load_collection(path)
