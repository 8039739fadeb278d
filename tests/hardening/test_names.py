"""Issue 20, item 1: file names that are not valid UTF-8 (any bytes the file system allows)
go through prepare, render and the manifest, and the run names the file."""

from __future__ import annotations

import json
import os

from synth import write_song


def test_prepare_and_render_survive_non_utf8_names(tmp_path, cli):
    src = tmp_path / "midi"
    src.mkdir()
    good = os.fsencode(src) + b"/caf\xe9-\xff.mid"
    write_song(tmp_path / "a.mid", [60 + j % 7 for j in range(32)])
    write_song(tmp_path / "b.mid", [62 + j % 5 for j in range(32)])
    os.rename(tmp_path / "a.mid", good)
    os.rename(tmp_path / "b.mid", src / "plain.mid")
    with open(os.fsencode(src) + b"/broken\xe9.mid", "wb") as fh:
        fh.write(b"MThd garbage")
    with open(os.fsencode(src) + b"/two\nlines.mid", "wb") as fh:  # a newline in a name stays on one line
        fh.write(b"")
    out = tmp_path / "out"
    proc = cli("prepare", str(src), "--kind", "melody", "--out", str(out), "--workers", "1")
    assert proc.returncode == 0, proc.out
    assert "Traceback" not in proc.out
    assert "broken\\xe9.mid" in proc.out  # the rejected file is named, readably
    man = json.loads((out / "manifest.json").read_text())
    assert {s["name"] for s in man["sources"]} == {"caf\\xe9-\\xff.mid", "plain.mid"}
    assert [r["file"] for r in man["rejected"]] == ["broken\\xe9.mid", "two\\x0alines.mid"]
    assert "  two\\x0alines.mid: empty file" in proc.out

    proc = cli("render", os.fsdecode(good), "--out", str(tmp_path / "r"), "--no-wav")
    assert proc.returncode == 0, proc.out
    assert "caf\\xe9-\\xff.mid" in proc.out
    assert os.listdir(os.fsencode(tmp_path / "r")) == [b"caf\xe9-\xff.png"]


def test_one_line_error_names_a_non_utf8_input(tmp_path, cli):
    bad = os.fsencode(tmp_path) + b"/x\xe9.mid"
    with open(bad, "wb") as fh:
        fh.write(b"not midi at all")
    proc = cli("render", os.fsdecode(bad), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.out
    assert "Traceback" not in proc.out
    assert "x\\xe9.mid" in proc.out and len(proc.stderr.decode().strip().splitlines()) == 1
