"""Style labels: mapping files, bundled-corpus rules, windows' label sets, one random label per draw."""

import json

import numpy as np
import pytest
from synth import write_band_song, write_song
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.data.dataset import WindowDataset
from musicvae.data.labels import LabelError, corpus_labels, match_labels, read_label_file, window_labels
from musicvae.data.prepare import PrepareConfig, PrepareError, prepare
from musicvae.music.sequence import NoteSequence
from musicvae.training.batches import BatchStream


def _seq(source: str, label: str = "") -> NoteSequence:
    return NoteSequence.from_tuples([(60, 0, 4)], source=source, label=label)


def test_read_csv_with_header_several_labels_and_json(tmp_path):
    csv = tmp_path / "l.csv"
    csv.write_text("file,label\nsub/a.mid,rock\nb.mid,jazz;blues,pop\n\nc,\"x|y\"\n")
    assert read_label_file(csv) == {"sub/a.mid": ["rock"], "b.mid": ["jazz", "blues", "pop"], "c": ["x", "y"]}
    js = tmp_path / "l.json"
    js.write_text(json.dumps({"a.mid": "rock", "b.mid": ["jazz", "jazz", "pop"]}))
    assert read_label_file(js) == {"a.mid": ["rock"], "b.mid": ["jazz", "pop"]}


@pytest.mark.parametrize("name, text, message", [
    ("l.csv", "a.mid\n", "needs a file and at least one label"),
    ("l.json", "{oops", "invalid JSON"),
    ("l.json", "[1, 2]", "expected a JSON object"),
    ("l.json", '{"a.mid": 3}', "must be a string or a list"),
    ("l.txt", "a.mid,rock", "must end in .csv or .json"),
    ("l.csv", "file,label\n", "holds no file -> label entries"),
])
def test_bad_label_files_are_one_line_errors_naming_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LabelError, match=message) as info:
        read_label_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(LabelError, match="no such labels file"):
        read_label_file(tmp_path / "missing.csv")


def test_keys_match_relative_path_file_name_or_stem():
    names = ["pop/a.mid", "rock/b.mid", "c.MID", "d.mid"]
    labels, unmatched = match_labels(names, {"pop/a.mid": ["p"], "b.mid": ["r"], "c": ["c"], "zzz.mid": ["z"]})
    assert labels == [["p"], ["r"], ["c"], []] and unmatched == ["zzz.mid"]


def test_bundled_corpus_rules():
    folk = {"music21:essenFolksong/han2.abc#12": ["chinese/essen"], "music21:essenFolksong/erk30.abc#1": ["german/essen"],
            "music21:essenFolksong/irl.abc#3": ["irish/essen"], "music21:essenFolksong/lux.abc#3": ["luxembourg/essen"],
            "music21:essenFolksong/test0.abc#1": [], "music21:oneills1850/0001-0050.abc#7": ["irish/oneills"],
            "music21:airdsAirs/book1.abc#1": ["scottish/aird"],
            "music21:miscFolk/americanfifeopus.abc#2": ["american/fife"],
            "music21:miscFolk/northumbrianminstrelsyopus.abc#2": ["english/northumbrian"]}
    for source, expected in folk.items():
        assert corpus_labels("folk", _seq(source)) == expected, source
    assert corpus_labels("fiddle", _seq("music21:ryansMammoth/AcaciaReel.abc#1")) == ["american/ryans"]
    assert corpus_labels("games", _seq("debian:openttd-openmsx/x.mid", "openttd-openmsx")) == ["openttd"]
    assert corpus_labels("bach", _seq("music21:bach/bwv1.6.mxl", "bach")) == []


def test_duplicate_windows_carry_the_union_of_their_files_labels():
    keys = np.array([[[1]], [[2]], [[1]], [[3]]], dtype=np.int16)  # windows 0 and 2 are the same
    items = np.array([0, 0, 1, 2])
    out = window_labels(keys, items, [[0], [1, 2], []])
    assert out.dtype == np.int16 and out.shape == (4, 3)
    assert [sorted(x for x in row if x >= 0) for row in out] == [[0, 1, 2], [0], [0, 1, 2], []]


def test_prepare_stores_label_ids_and_names(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(6):
        write_band_song(src / f"s{i}.mid", i)
    (tmp_path / "labels.csv").write_text("file,label\n" + "".join(f"s{i}.mid,{'ab'[i % 2]}\n" for i in range(5))
                                         + "nothere.mid,c\n")
    man = prepare(src, tmp_path / "d", PrepareConfig("multitrack", 2, eval_fraction=0.3), labels=tmp_path / "labels.csv")
    lab = man["labels"]
    assert lab["names"] == ["a", "b"] and lab["unmatched_entries"] == 1 and lab["sources_labelled"] == 5
    total = sum(lab["windows"]["train"].values()) + lab["unlabelled_windows"]["train"]
    assert total == man["counts"]["windows_train"]
    by_name = {s["name"]: s for s in man["sources"]}
    assert by_name["s0.mid"]["labels"] == ["a"] and by_name["s5.mid"]["labels"] == []
    train = WindowDataset(tmp_path / "d", "train", as_torch=False)
    assert train.label_names == ["a", "b"] and train.labels.shape[0] == len(train)
    assert set(np.unique(train.labels)) <= {-1, 0, 1}


def test_unlabelled_folders_have_no_labels_and_a_mapping_that_names_nothing_fails(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(3):
        write_song(src / f"s{i}.mid", [60 + (i + j) % 12 for j in range(16)])
    man = prepare(src, tmp_path / "d", PrepareConfig("melody", 2))
    assert man["labels"] == {"names": [], "from": None}
    assert WindowDataset(tmp_path / "d", "train").labels is None
    (tmp_path / "l.json").write_text('{"other.mid": "x"}')
    with pytest.raises(PrepareError, match="none of its 1 entries names a file"):
        prepare(src, tmp_path / "e", PrepareConfig("melody", 2), labels=tmp_path / "l.json")


def test_a_window_with_several_labels_gets_a_random_one_per_draw_reproducibly(musae_data):
    data = WindowDataset(musae_data, "train", transpose=None, as_torch=False)
    names = data.label_names
    assert names == ["band/jazz", "band/rock", "extra", "folk"]
    stream = BatchStream(data, 16, seed=3)
    seen: dict[int, set] = {}
    for step in range(60):
        idx, labels = stream.indices(step), stream.labels(step)
        assert np.array_equal(labels, BatchStream(data, 16, seed=3).labels(step))  # a pure function of (seed, step)
        for i, lab in zip(idx, labels):
            valid = {int(x) for x in data.labels[i] if x >= 0}
            assert (lab in valid) if valid else lab == -1
            seen.setdefault(int(i), set()).add(int(lab))
    multi = [i for i in seen if (data.labels[i] >= 0).sum() > 1]
    assert multi and all(len(seen[i]) == 2 for i in multi if len(seen[i]) > 1)
    assert any(len(seen[i]) == 2 for i in multi)


def test_cli_prepare_labels_and_its_errors(tmp_path):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(3):
        write_band_song(src / f"s{i}.mid", i)
    (tmp_path / "l.csv").write_text("s0.mid,rock\ns1.mid,jazz\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["prepare", str(src), "--kind", "multitrack", "--out", str(tmp_path / "o"),
                             "--workers", "1", "--labels", str(tmp_path / "l.csv")])
    assert ok.exit_code == 0, ok.output
    assert "labels from" in ok.output and "jazz" in ok.output
    (tmp_path / "bad.csv").write_text("s0.mid\n")
    bad = runner.invoke(app, ["prepare", str(src), "--kind", "multitrack", "--out", str(tmp_path / "p"),
                              "--workers", "1", "--labels", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 2 and "bad.csv: row 1" in bad.output and "Traceback" not in bad.output


def test_a_corpus_prepared_before_labels_is_still_reused_with_a_note(tmp_path):
    from musicvae.data.prepare import _fingerprint
    from musicvae.data.sources import resolve_source

    cfg = PrepareConfig("multitrack", 2)
    man = prepare("games", tmp_path / "d", cfg)
    assert man["labels"]["names"] == ["openttd", "planetblupi"] and man["labels"]["from"] == "corpus games"
    # what an older version wrote: no labels entry, the fingerprint without labels
    legacy = {k: v for k, v in man.items() if k != "labels"}
    legacy["fingerprint"] = _fingerprint(resolve_source("games"), cfg)
    (tmp_path / "d" / "manifest.json").write_text(json.dumps(legacy))
    again = prepare("games", tmp_path / "d", cfg)
    assert again["reused"] and "--force" in again["note"]
    (tmp_path / "l.csv").write_text("music000.mid,x\n")
    with pytest.raises(PrepareError, match="holds another prepared dataset"):
        prepare("games", tmp_path / "d", cfg, labels=tmp_path / "l.csv")


def test_spread_indices_cover_the_split():
    from musicvae.training.batches import spread_indices

    assert spread_indices(10, 4).tolist() == [0, 2, 5, 7]
    assert spread_indices(3, 8).tolist() == [0, 1, 2]
