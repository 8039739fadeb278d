"""The bundled corpora: present, documented, and preparable with the issue's commands."""

import pytest

from musicvae.data.corpora import CORPORA, corpus_dir, list_corpora, load_corpus
from musicvae.data.prepare import PrepareConfig, prepare


def test_every_corpus_is_shipped_with_provenance():
    infos = {i.name: i for i in list_corpora()}
    assert set(infos) == set(CORPORA)
    provenance = (corpus_dir() / "PROVENANCE.md").read_text()
    for name, info in infos.items():
        assert info.available, f"{name}.npz missing"
        assert info.items > 0 and info.notes > 0
        assert name in provenance
    total = sum(i.path.stat().st_size for i in infos.values())
    assert total < 12 * 2**20  # "a few MB"


def test_folk_is_monophonic_4_4_with_marked_pairs():
    seqs = load_corpus("folk")
    assert len(seqs) > 3000
    assert all(s.time_signature == (4, 4) and s.total_steps % 16 == 0 for s in seqs[:500])
    assert any(s.meta.get("paired_2_4") for s in seqs)
    assert {s.label for s in seqs} >= {"essenFolksong", "oneills1850"}


def test_fiddle_is_ryans_mammoth_apart_from_folk():
    fiddle = load_corpus("fiddle")
    assert len(fiddle) > 500
    assert {s.label for s in fiddle} == {"ryansMammoth"}
    assert all(s.source.startswith("music21:ryansMammoth/") for s in fiddle)
    assert all(s.time_signature == (4, 4) and s.total_steps % 16 == 0 for s in fiddle)
    assert any(s.meta.get("paired_2_4") for s in fiddle)  # reels in 2/4 are paired like folk's
    assert not {s.source for s in fiddle} & {s.source for s in load_corpus("folk")}


@pytest.mark.parametrize(
    "corpus, kind, bars, at_least",
    [
        ("folk", "melody", 2, 30_000),
        ("folk", "melody", 16, 5_000),
        ("fiddle", "melody", 2, 5_000),
        ("grooves", "drums", 2, 3_000),
        ("games", "trio", 16, 500),
        ("freedoom", "drums", 2, 1_000),
        ("bach", "multitrack", 4, 1_000),
    ],
)
def test_issue_commands_prepare_and_report_counts(tmp_path, corpus, kind, bars, at_least):
    man = prepare(corpus, tmp_path / "out", PrepareConfig(kind, bars), workers=2)
    c = man["counts"]
    assert c["windows_total"] >= at_least, c
    assert c["windows_eval"] > 0 and c["files_rejected"] == 0
    assert man["source"] == corpus


def test_corpora_joined_by_plus_prepare_as_one_source_keeping_each_split(tmp_path):
    from musicvae.data.corpora import corpus_parts, is_corpus_name

    assert corpus_parts("grooves+games") == ["grooves", "games"]
    for bad in ("grooves+", "grooves+grooves", "grooves+nope", "grooves games"):
        assert not is_corpus_name(bad), bad
    joined = load_corpus("grooves+games")
    assert len(joined) == len(load_corpus("grooves")) + len(load_corpus("games"))
    assert joined[len(load_corpus("grooves"))] is load_corpus("games")[0]  # parts in order, items shared

    alone = prepare("grooves", tmp_path / "g", PrepareConfig("drums", 2), workers=1)
    both = prepare("grooves+games", tmp_path / "gg", PrepareConfig("drums", 2), workers=1)
    assert both["source"] == "grooves+games"
    assert both["counts"]["windows_train"] > alone["counts"]["windows_train"] + 500
    # the split is by source name, so grooves' held-out pieces stay held out when games joins
    def held_out(man):
        return {s["name"] for s in man["sources"] if s["split"] == "eval"}

    assert held_out(alone) and held_out(alone) <= held_out(both)
    assert any(not name.startswith("mma:") for name in held_out(both))  # games' pieces held out too
    assert both["labels"]["from"] == "corpus grooves+games"  # games' own labels come along
