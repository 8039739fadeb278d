"""prepare: counts, corpus-wide dedup, split by source file, resume, bad files, refusals."""

import json
import shutil

import numpy as np
import pytest
from bad_midi import make_bad_midi_dir
from synth import write_song

from musicvae.data.dataset import PreparedDataset, WindowDataset
from musicvae.data.prepare import PrepareConfig, PrepareError, prepare
from musicvae.data.records import first_occurrences, is_eval_source
from musicvae.data.sources import SourceError, resolve_source


def _corpus(tmp_path, n_files=12):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(n_files):
        pitches = [60 + (i * 7 + j * (i % 5 + 1)) % 24 for j in range(32)]  # 8 bars of quarter notes
        write_song(src / f"song{i:02d}.mid", pitches)
    write_song(src / "copy_of_song00.mid", [60 + (j * 1) % 24 for j in range(32)])  # same notes as song00
    return src


def test_prepare_counts_dedup_and_split(tmp_path):
    src = _corpus(tmp_path)
    man = prepare(src, tmp_path / "out", PrepareConfig("melody", 2, eval_fraction=0.3), workers=1)
    c = man["counts"]
    assert c["files"] == 13 and c["files_ok"] == 13 and c["files_rejected"] == 0
    assert c["windows_found"] == 13 * 7
    assert c["windows_train"] + c["windows_eval"] == c["windows_total"]
    assert c["duplicates_removed"] > 0  # the copy, and repeats inside songs
    assert c["sources_eval"] >= 1
    # no file on both sides, and no eval window also in train
    splits = {s["name"]: s["split"] for s in man["sources"]}
    assert set(splits.values()) == {"train", "eval"}
    train = PreparedDataset(tmp_path / "out", "train").tokens
    ev = PreparedDataset(tmp_path / "out", "eval").tokens
    assert len(train) == c["windows_train"] and len(ev) == c["windows_eval"]
    rows = {w.tobytes() for w in train}
    assert not any(w.tobytes() in rows for w in ev)
    assert len(rows) == len(train)
    source = resolve_source(src)
    for split in ("train", "eval"):
        items = np.unique(PreparedDataset(tmp_path / "out", split).arrays["source"])
        assert {splits[source.name_of(i)] for i in items} == {split}


def test_workers_give_the_same_dataset(tmp_path):
    src = _corpus(tmp_path)
    a = prepare(src, tmp_path / "a", PrepareConfig("melody", 2), workers=1)
    b = prepare(src, tmp_path / "b", PrepareConfig("melody", 2), workers=2)
    assert a["counts"] == b["counts"]
    np.testing.assert_array_equal(PreparedDataset(tmp_path / "a").tokens, PreparedDataset(tmp_path / "b").tokens)


def test_resume_after_interruption_keeps_finished_chunks(tmp_path):
    src = _corpus(tmp_path, 20)
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(src, tmp_path / "out", PrepareConfig("melody", 2), workers=1, progress=interrupt)
    kept = sorted((tmp_path / "out" / ".work").glob("chunk-*.json"))
    assert len(kept) == 1 and not (tmp_path / "out" / "manifest.json").exists()
    seen = []
    man = prepare(src, tmp_path / "out", PrepareConfig("melody", 2), workers=1, progress=lambda d, t: seen.append(d))
    assert seen[0] > 0  # started from the kept chunk
    ref = prepare(src, tmp_path / "ref", PrepareConfig("melody", 2), workers=1)
    assert man["counts"] == ref["counts"]
    assert not (tmp_path / "out" / ".work").exists()


def test_existing_output_is_reused_or_refused(tmp_path):
    src = _corpus(tmp_path, 4)
    prepare(src, tmp_path / "out", PrepareConfig("melody", 2))
    again = prepare(src, tmp_path / "out", PrepareConfig("melody", 2))
    assert again.get("reused")
    with pytest.raises(PrepareError, match="another prepared dataset"):
        prepare(src, tmp_path / "out", PrepareConfig("melody", 4))
    man = prepare(src, tmp_path / "out", PrepareConfig("melody", 4), force=True)
    assert man["bars"] == 4


def test_bad_files_are_listed_and_good_files_still_yield(tmp_path):
    src = tmp_path / "bad"
    expected = make_bad_midi_dir(src)
    write_song(src / "good.mid", [60 + j % 12 for j in range(16)])
    (src / "notes.txt").write_text("not music")
    man = prepare(src, tmp_path / "out", PrepareConfig("melody", 2), workers=2)
    rejected = {r["file"]: r["reason"] for r in man["rejected"]}
    for name, outcome in expected.items():
        if outcome not in ("ok", "ok-or-error"):
            assert name in rejected, name
            assert outcome in rejected[name], (name, rejected[name])
    assert all("\n" not in r for r in rejected.values())
    assert man["counts"]["windows_total"] > 0
    assert any(s["name"] == "good.mid" for s in man["sources"])
    assert man["skipped_non_midi_files"] == 1


def test_nothing_usable_is_a_clear_error(tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    (src / "a.mid").write_bytes(b"hello")
    with pytest.raises(PrepareError, match="no 2-bar melody windows.*not a MIDI file"):
        prepare(src, tmp_path / "out", PrepareConfig("melody", 2))
    with pytest.raises(SourceError, match="no such file or folder"):
        resolve_source(tmp_path / "missing")
    with pytest.raises(PrepareError, match="unknown kind"):
        PrepareConfig("chords", 2)


def test_split_is_stable_and_roughly_the_fraction():
    names = [f"file{i}.mid" for i in range(2000)]
    share = np.mean([is_eval_source(n, 0.1) for n in names])
    assert 0.08 < share < 0.12
    assert is_eval_source("x.mid", 0.1, seed=3) == is_eval_source("x.mid", 0.1, seed=3)


def test_first_occurrences_arrays_and_bytes():
    rows = np.array([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4]])
    assert first_occurrences(rows).tolist() == [0, 1, 3]
    assert first_occurrences([b"a", b"b", b"a"]).tolist() == [0, 1]


def test_dataset_gives_stored_windows_and_the_room_batch_stream_transposes_within(tmp_path):
    src = tmp_path / "m"
    src.mkdir()
    write_song(src / "high.mid", [125, 126, 127, 126] * 4)
    write_song(src / "mid.mid", [60, 62, 64, 62] * 4)
    prepare(src, tmp_path / "out", PrepareConfig("melody", 2, eval_fraction=0.0))
    ds = WindowDataset(tmp_path / "out", as_torch=False)
    base = PreparedDataset(tmp_path / "out").tokens
    for i in range(len(ds)):
        np.testing.assert_array_equal(ds[i], base[i])  # as stored: WindowDataset does not transpose
        on = base[i][base[i] >= 2]
        assert ds.room_down[i] == on.min() - 2 and ds.room_up[i] == 129 - on.max()  # pitch 0..127 stays in range
    assert sorted(ds.room_up.tolist())[0] == 0 and ds.pitched.tolist() == [True]
    with pytest.raises(TypeError, match="BatchStream"):
        WindowDataset(tmp_path / "out", transpose=(-5, 6))


@pytest.mark.parametrize("kind, bars", [("melody", 2), ("drums", 2), ("trio", 4), ("multitrack", 4), ("bars", 2), ("notes", 2)])
def test_every_kind_prepares_real_files_and_rebuilds_its_converter(tmp_path, kind, bars):
    from synth import REAL_DIR

    src = tmp_path / "real"
    src.mkdir()
    for f in sorted(REAL_DIR.rglob("*.mid"))[:12]:
        shutil.copy(f, src / f.name)
    man = prepare(src, tmp_path / "out", PrepareConfig(kind, bars), workers=1)
    assert man["counts"]["windows_total"] > 0
    data = PreparedDataset(tmp_path / "out")
    conv = data.converter()
    assert conv.config() == man["representation"]
    if kind in ("melody", "drums", "trio", "multitrack"):
        assert data.tokens.shape[1:] == (16 * bars, conv.num_streams)
        for w in data.tokens[:200]:
            np.testing.assert_array_equal(conv.encode(conv.decode(w)), w)
    elif kind == "bars":
        off = data.arrays["offsets"]
        song = data.arrays["data"][off[0] : off[1]]
        assert song.shape[1] == 16 and len(song) >= bars
        np.testing.assert_array_equal(conv.encode(conv.decode(song))[0], song)
    else:
        from musicvae.representations import TrackMeta

        off, meta = data.arrays["offsets"], data.arrays["meta"]
        for i in range(min(100, len(meta))):
            ev = data.arrays["data"][off[i] : off[i + 1]]
            m = TrackMeta(int(meta[i, 0]), bool(meta[i, 1]), int(meta[i, 2]), int(meta[i, 3]))
            again, m2 = conv.encode_track(conv.decode(ev, m), 0)
            np.testing.assert_array_equal(again, ev)
            assert m2 == m


def test_automatic_workers_take_one_process_for_a_small_input(tmp_path):
    src = _corpus(tmp_path)
    auto = prepare(src, tmp_path / "auto", PrepareConfig("melody", 2), workers=None)
    two = prepare(src, tmp_path / "two", PrepareConfig("melody", 2), workers=2)
    assert auto["workers"] == 1 and two["workers"] == 2  # explicit counts are kept
    assert auto["counts"] == two["counts"]
