"""Note-sequence data for VRASH: prepared folder -> set -> padded batches -> training loop."""

import math
import shutil

import numpy as np
import pytest
import torch
from synth import write_song, write_tune

from musicvae.data.dataset import PreparedDataset
from musicvae.data.prepare import PrepareConfig, prepare
from musicvae.models.vrash import build_note_model
from musicvae.representations.notes import NoteEventConverter
from musicvae.training.notes import (
    UNKNOWN,
    NoteBatchStream,
    NoteSequenceSet,
    beta_at,
    collate_notes,
    collection_of,
    evaluate_cross_entropy,
    note_batches,
)
from musicvae.presets import get_preset
from musicvae.training.trainer import Trainer

TINY = dict(hidden_size=24, encoder_hidden=16, pitch_size=8, octave_size=4, duration_size=4, z_size=8, position_size=4)


@pytest.fixture(scope="module")
def notes_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("notes")
    src = root / "midi"
    for folder in ("jigs", "reels"):
        (src / folder).mkdir(parents=True)
    for i in range(8):  # whole tracks are the records: two durations each, so the track filter keeps them
        pitches = [60 + (i * 7 + j * (i % 5 + 1)) % 24 for j in range(32)]
        write_tune(src / ("jigs" if i % 2 else "reels") / f"s{i}.mid", pitches, [2 + i % 3, 4 + i % 3],
                   program=8 * (i % 3))
    prepare(src, root / "out", PrepareConfig("notes", 4, eval_fraction=0.3))
    return root


@pytest.mark.parametrize(
    "name, col",
    [("music21:essenFolksong/han1.abc#3", "essenFolksong"), ("mma:alexis/hiphop.mma#A", "alexis"),
     ("jazz/a.mid", "jazz"), ("a.mid", ""), ("C:x.mid", "")],
)
def test_collection_of(name, col):
    assert collection_of(name) == col


def test_collate_pads_and_cuts():
    items = [(np.ones((3, 3), np.int64), np.array([1, 2])), (np.full((5, 3), 2), np.array([3, 0]))]
    b = collate_notes(items)
    assert b.events.shape == (2, 5, 3) and b.events.dtype == torch.int64
    assert b.lengths.tolist() == [3, 5] and b.has_end.tolist() == [True, True]
    assert b.events[0, 3:].abs().sum() == 0 and b.meta.tolist() == [[1, 2], [3, 0]]
    c = collate_notes(items, max_notes=4)
    assert c.events.shape == (2, 4, 3) and c.lengths.tolist() == [3, 4] and c.has_end.tolist() == [True, False]
    with pytest.raises(ValueError):
        collate_notes([(np.zeros((0, 3)), np.array([0, 0]))])
    with pytest.raises(ValueError):
        collate_notes([])


def test_load_prepared_notes_with_collections_and_decode(notes_dir):
    out = notes_dir / "out"
    train = NoteSequenceSet.load(out, "train")
    ev = NoteSequenceSet.load(out, "eval", collections=train.collections)
    assert train.warning is None and train.collections == [UNKNOWN, "jigs", "reels"]
    assert ev.collections == train.collections and len(train) and len(ev)
    raw = PreparedDataset(out, "train").arrays
    np.testing.assert_array_equal(train.events[0], raw["data"][: raw["offsets"][1]])
    assert {tuple(m) for m in train.meta[:, :1]} <= {(0,), (1,), (2,)}  # GM families of programs 0, 8, 16
    for i in range(len(train)):
        assert train.collections[train.meta[i, 1]] == collection_of(train.names[i])
    conv = NoteEventConverter()
    seq = conv.decode(train.events[0], train.track_meta(0))
    again, _ = conv.encode_track(seq, 0)
    np.testing.assert_array_equal(again, train.events[0])
    assert train.vocab_sizes == (13, 12, 16)


def test_moved_source_folder_keeps_stored_collections_and_older_folders_fall_back(notes_dir, tmp_path):
    shutil.copytree(notes_dir / "out", tmp_path / "out")
    moved = tmp_path / "out"
    import json

    man = json.loads((moved / "manifest.json").read_text())
    man["source"] = str(tmp_path / "gone")
    (moved / "manifest.json").write_text(json.dumps(man))
    data = NoteSequenceSet.load(moved)  # prepare stored each track's collection: the source is not needed
    assert data.warning is None and data.collections == [UNKNOWN, "jigs", "reels"] and (data.meta[:, 1] > 0).all()
    for rel in man["shards"]["train"]:  # a folder prepared before collections were stored
        with np.load(moved / rel) as z:
            arrays = {k: v for k, v in z.items() if k != "collection"}
        np.savez(moved / rel, **arrays)
    data = NoteSequenceSet.load(moved)
    assert data.collections == [UNKNOWN] and (data.meta[:, 1] == 0).all() and "collections unknown" in data.warning


def test_collections_from_stored_style_labels(notes_dir, tmp_path):
    import json

    out = tmp_path / "out"
    shutil.copytree(notes_dir / "out", out)
    man = json.loads((out / "manifest.json").read_text())
    assert "labels" not in PreparedDataset(out).arrays  # no labels: collections come from folders
    with pytest.raises(ValueError, match="no style labels"):
        NoteSequenceSet.load(out, collection_from="labels")
    man["labels"] = {"names": ["irish/oneills", "scottish/aird"]}
    (out / "manifest.json").write_text(json.dumps(man))
    for rel in man["shards"]["train"]:
        with np.load(out / rel) as z:
            arrays = dict(z)
        n = len(arrays["source"])
        arrays["labels"] = np.stack([np.arange(n) % 3 - 1, np.full(n, -1)], axis=1).astype(np.int16)  # -1, 0, 1, ...
        np.savez(out / rel, **arrays)
    data = NoteSequenceSet.load(out)
    assert data.collections == [UNKNOWN, "irish/oneills", "scottish/aird"]
    assert data.meta[:3, 1].tolist() == [0, 1, 2]
    assert NoteSequenceSet.load(out, collection_from="source").collections == [UNKNOWN, "jigs", "reels"]


def test_refuses_grid_data(tmp_path):
    src = tmp_path / "m"
    src.mkdir()
    write_song(src / "a.mid", list(range(60, 76)))
    prepare(src, tmp_path / "out", PrepareConfig("melody", 2, eval_fraction=0.0))
    with pytest.raises(ValueError, match="not notes"):
        NoteSequenceSet.load(tmp_path / "out")


def test_batches_cover_each_epoch_once():
    data = NoteSequenceSet([np.full((i + 1, 3), i) for i in range(7)], np.zeros((7, 2)))
    seen = [int(b.events[j, 0, 0]) for b in note_batches(data, 3) for j in range(len(b))]
    assert seen == list(range(7))  # evaluation: every track once, in order
    stream, again = NoteBatchStream(data, 3, seed=1), NoteBatchStream(data, 3, seed=1)
    for epoch in range(3):  # training: 2 batches of 3 per epoch, no track twice, the remainder left out
        ids = [int(t) for s in (2 * epoch, 2 * epoch + 1) for t in stream.batch(s).events[:, 0, 0]]
        assert len(ids) == len(set(ids)) == 6
    assert torch.equal(stream.batch(5).events, again.batch(5).events)  # a pure function of (seed, step)


def test_beta_annealing():
    assert beta_at(0, 0.5, 10) == 0.0 and beta_at(5, 0.5, 10) == 0.25 and beta_at(50, 0.5, 10) == 0.5
    assert beta_at(0, 0.5, 0) == 0.5


@pytest.mark.parametrize("preset", ["lm-notes_tiny", "vrash-notes_tiny"])
def test_training_loop_lowers_held_out_cross_entropy(notes_dir, preset, tmp_path):
    """The one Trainer with the note family's plug-in: logs, KL warm-up, evaluation on every eval track."""
    ev = NoteSequenceSet.load(notes_dir / "out", "eval")
    cfg = get_preset(preset, ["device=cpu", "batch_size=8", "learning_rate=1e-2", "max_beta=0.2", "kl_warmup_steps=20",
                              "log_every=10", "eval_every=20", "eval_batches=64", "steps=40", "decoder_hidden=24"])
    logs = []
    trainer = Trainer(cfg, notes_dir / "out", tmp_path / "run", on_log=logs.append)
    before = trainer.evaluate()
    final = trainer.fit()
    tr = [h for h in logs if "loss" in h]
    evs = [h for h in logs if "eval_ce" in h]
    assert [h["step"] for h in tr] == [10, 20, 30, 40] and [h["step"] for h in evs] == [20, 40]
    assert tr[-1]["beta"] == 0.2 and 0.0 < tr[0]["beta"] < 0.1  # linear warm-up over 20 steps
    assert final == {k: v for k, v in evs[-1].items() if k != "step"}
    assert final["eval_ce"] < before["eval_ce"] - 1.0 and math.isfinite(final["eval_bound"])
    assert final["eval_notes"] == sum(len(e) + 1 for e in ev.events)


def test_pooled_evaluation_matches_one_batch(notes_dir):
    train = NoteSequenceSet.load(notes_dir / "out", "train")
    m = build_note_model("vae", collections=len(train.collections), **TINY).eval()
    pooled = evaluate_cross_entropy(m, train, batch_size=3)
    whole = m.cross_entropy_per_note(collate_notes([train[i] for i in range(len(train))]))
    for k in ("ce", "bound", "kl_per_note", "ce_octave", "positions"):
        assert pooled[k] == pytest.approx(whole[k], rel=1e-5)
