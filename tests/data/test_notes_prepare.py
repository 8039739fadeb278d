"""``prepare --kind notes``: whole tracks as records, the track filter and its reasons in the manifest,
stored source collections and the pitch-entropy histogram (VRASH, issue 8)."""

import json

import numpy as np
import pytest
from synth import write_note_corpus, write_tune
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.data.dataset import PreparedDataset
from musicvae.data.prepare import PrepareConfig, PrepareError, prepare
from musicvae.evaluation.note_plots import entropy_histogram, plot_entropy_histogram
from musicvae.music import NoteSequence, load_sequences, write_midi
from musicvae.music.sequence import TrackInfo
from musicvae.representations.notes import NoteEventConverter

PNG = b"\x89PNG\r\n\x1a\n"


def _seq(pitches, durations):
    notes, t = [], 0
    for i, p in enumerate(pitches):
        d = durations[i % len(durations)]
        notes.append((p, t, t + d))
        t += d
    return NoteSequence.from_tuples(notes)


@pytest.mark.parametrize("pitches, durations, reason", [
    ([60], [4], "single note"),
    ([60, 62, 64, 65, 67], [4], "single duration value"),
    ([60, 62, 64, 65, 67, 69], [1, 2, 3, 5, 6, 7], None),
    ([60, 60, 60, 60, 61, 60], [2, 4], "pitch entropy below 1.5 bits"),
    ([60, 62, 64, 65, 67, 69, 71, 72], [2, 4], None),
])
def test_track_filter_reasons(pitches, durations, reason):
    conv = NoteEventConverter()
    stats = conv.track_stats(_seq(pitches, durations), 0)
    assert stats["notes"] == len(pitches) and not stats["is_drum"]
    assert conv.reject_reason(stats) == reason


def test_track_filter_thresholds_are_configurable():
    seq = _seq([60, 62, 64, 65, 67, 69], [1, 2, 3, 5, 6, 7])  # 6 distinct durations, entropy log2(6) = 2.58 bits
    stats = NoteEventConverter().track_stats(seq, 0)
    assert stats["distinct_durations"] == 6 and stats["pitch_entropy"] == pytest.approx(np.log2(6))
    assert NoteEventConverter(max_durations=5).reject_reason(stats) == "more than 5 distinct durations"
    assert NoteEventConverter(max_durations=None).reject_reason(stats) is None
    assert NoteEventConverter(min_pitch_entropy=3.0).reject_reason(stats) == "pitch entropy below 3 bits"
    flat = NoteEventConverter().track_stats(_seq([60, 60, 60, 62], [2, 4]), 0)
    assert NoteEventConverter(min_pitch_entropy=0.0).reject_reason(flat) is None
    conv = NoteEventConverter(max_durations=7, min_pitch_entropy=0.5)
    assert conv.config()["max_durations"] == 7 and conv.config()["min_pitch_entropy"] == 0.5
    with pytest.raises(ValueError):
        NoteEventConverter(max_durations=1)
    with pytest.raises(ValueError):
        NoteEventConverter(min_pitch_entropy=-1)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("notes_prep")
    src = write_note_corpus(root / "midi", n=8)
    write_tune(src / "bad" / "one_note.mid", [60], [4])
    write_tune(src / "bad" / "one_duration.mid", [60, 62, 64, 65, 67, 69], [4])
    write_tune(src / "bad" / "flat.mid", [60] * 12 + [62], [2, 4])
    band = [(TrackInfo(0, True, "drums"), [(36, 4 * j, 4 * j + 1) for j in range(16)]),
            (TrackInfo(33, False, "bass"), [(40 + j % 7, 4 * j, 4 * j + 2 + 2 * (j % 2)) for j in range(16)])]
    write_midi(NoteSequence.from_tracks(band), src / "band" / "band.mid")
    man = prepare(src, root / "out", PrepareConfig("notes", 2, eval_fraction=0.25))
    return root, man


def test_whole_tracks_are_the_records_with_reasons_in_the_manifest(prepared):
    root, man = prepared
    tracks = man["tracks"]
    assert tracks["unit"] == "track" and tracks["kept"]["train"] + tracks["kept"]["eval"] == 9  # 8 tunes + the bass
    assert man["counts"]["windows_total"] == 9
    assert tracks["rejected_by_reason"] == {"drum track": 1, "pitch entropy below 1.5 bits": 1,
                                            "single duration value": 1, "single note": 1}
    listed = {(r["file"], r["reason"]) for r in tracks["rejected_tracks"]}
    assert listed == {("bad/one_note.mid", "single note"), ("bad/one_duration.mid", "single duration value"),
                      ("bad/flat.mid", "pitch entropy below 1.5 bits"), ("band/band.mid", "drum track")}
    drum = next(r for r in tracks["rejected_tracks"] if r["reason"] == "drum track")
    assert drum["track"] == 0 and drum["notes"] == 16
    flat = next(r for r in tracks["rejected_tracks"] if r["file"] == "bad/flat.mid")
    assert flat["notes"] == 13 and flat["pitch_entropy"] < 1.5 and flat["distinct_durations"] == 2
    assert tracks["filter"] == {"max_durations": 11, "min_pitch_entropy": 1.5}
    # the histogram counts every pitched track of 2+ notes, kept or not (not the single note, not drums)
    assert sum(tracks["pitch_entropy"]["counts"]) == 9 + 2
    # each record is the whole track, encoded as the converter does
    conv = NoteEventConverter()
    data = PreparedDataset(root / "out", "train")
    off, names = data.arrays["offsets"], {s["name"] for s in man["sources"]}
    assert len(off) - 1 == tracks["kept"]["train"] and (data.arrays["start_bar"] == 0).all()
    by_source = {i: s for i, s in enumerate(sorted(p.relative_to(root / "midi").as_posix()
                                                   for p in (root / "midi").rglob("*.mid")))}
    for k in range(len(off) - 1):
        name = by_source[int(data.arrays["source"][k])]
        assert name in names
        seq = load_sequences(root / "midi" / name)[0]
        track = 1 if name == "band/band.mid" else 0
        ev, meta = conv.encode_track(seq, track)
        np.testing.assert_array_equal(data.arrays["data"][off[k]: off[k + 1]], ev)
        assert data.arrays["meta"][k, 2] == meta.median_duration


def test_source_collections_are_stored_per_track(prepared):
    root, man = prepared
    coll = man["collections"]
    assert coll["names"] == ["band", "jigs", "reels"]
    for split in ("train", "eval"):
        arr = PreparedDataset(root / "out", split).arrays
        got = {coll["names"][int(c)] for c in arr["collection"]}
        assert got == set(coll["tracks"][split]) and sum(coll["tracks"][split].values()) == len(arr["collection"])


def test_entropy_histogram_plot(prepared):
    _, man = prepared
    hist = entropy_histogram(man)
    assert hist["threshold"] == 1.5 and hist["tracks"] == 11 and hist["below"] == 1
    assert len(hist["edges"]) == len(hist["counts"]) + 1
    assert plot_entropy_histogram(hist)[:8] == PNG
    with pytest.raises(ValueError, match="no pitch-entropy histogram"):
        entropy_histogram({"kind": "melody"})


def test_a_corpus_without_usable_tracks_is_one_error(tmp_path):
    src = tmp_path / "m"
    write_tune(src / "a.mid", [60], [4])
    write_tune(src / "b.mid", [60, 62, 64], [4])
    with pytest.raises(PrepareError, match="no usable note tracks.*single duration value; single note"):
        prepare(src, tmp_path / "out", PrepareConfig("notes", 2, eval_fraction=0.0))


def test_cli_filter_options(tmp_path):
    src = write_note_corpus(tmp_path / "m", n=4)  # tunes of 5 distinct durations
    write_tune(src / "two.mid", [60, 62, 64, 65, 67, 69], [2, 4])
    runner = CliRunner()
    res = runner.invoke(app, ["prepare", str(src), "--kind", "notes", "--out", str(tmp_path / "out"), "--workers", "1",
                              "--max-durations", "3", "--min-entropy", "0", "--eval-fraction", "0"])
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert man["representation"]["max_durations"] == 3 and man["representation"]["min_pitch_entropy"] == 0.0
    assert man["tracks"]["rejected_by_reason"] == {"more than 3 distinct durations": 4}
    assert man["counts"]["windows_total"] == 1
    assert "4 track(s) skipped" in " ".join(res.output.split())
    res = runner.invoke(app, ["prepare", str(src), "--kind", "melody", "--out", str(tmp_path / "m2"),
                              "--min-entropy", "1"])
    assert res.exit_code == 2 and "apply to --kind notes only" in res.output
