"""Issue 20, item 8: no silent drops. Every entry under ``prepare``'s input folder is a source,
rejected, without windows, or skipped, each named in ``manifest.json`` with a reason."""

from __future__ import annotations

import json
import os
import socket

from synth import write_song
from typer.testing import CliRunner

from musicvae.cli.main import app

runner = CliRunner()


def test_every_input_path_is_accounted_for(tmp_path, monkeypatch):
    src = tmp_path / "midi"
    (src / "sub").mkdir(parents=True)
    (src / "locked").mkdir()
    write_song(src / "good.mid", [60 + j % 7 for j in range(32)])
    write_song(src / "sub" / "good2.mid", [62 + j % 5 for j in range(32)])
    write_song(src / "drums_only.mid", [36 + j % 3 for j in range(32)], drums=True)
    write_song(src / "strings.mid", [60 + j % 7 for j in range(32)], program=40)  # no GM 0-31 track
    write_song(src / "locked" / "hidden.mid", [60] * 8)
    (src / "garbage.mid").write_bytes(b"MThd\x00")
    (src / "notes.txt").write_text("hello")
    os.mkfifo(src / "pipe.mid")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock.mid"))
    os.symlink(tmp_path / "nowhere.mid", src / "dangling.mid")
    os.symlink(src / "sub", src / "loop")

    real_scandir = os.scandir

    def scandir(path="."):  # root reads every folder: make "locked" unreadable as for a user
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "scandir", scandir)
    else:
        os.chmod(src / "locked", 0)
    try:
        res = runner.invoke(app, ["prepare", str(src), "--kind", "melody", "--out", str(tmp_path / "o"),
                                  "--workers", "1"])
    finally:
        os.chmod(src / "locked", 0o755)
        sock.close()
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    accounted = {}
    for key in ("sources", "rejected", "without_windows", "skipped"):
        for entry in man[key]:
            name = entry["name"] if key == "sources" else entry["file"]
            assert name not in accounted, name
            accounted[name] = (key, entry.get("reason", ""))
    assert set(accounted) == {"good.mid", "sub/good2.mid", "drums_only.mid", "strings.mid", "locked",
                              "garbage.mid", "notes.txt", "pipe.mid", "sock.mid", "dangling.mid", "loop"}
    assert accounted["drums_only.mid"][0] == accounted["strings.mid"][0] == "without_windows"
    assert "GM programs 0-31" in accounted["strings.mid"][1]
    assert accounted["garbage.mid"][0] == "rejected"
    assert accounted["locked"] == ("skipped", "cannot read folder (Permission denied)")
    assert accounted["pipe.mid"][1].startswith("not a regular file") and accounted["sock.mid"][0] == "skipped"
    assert accounted["dangling.mid"][1] == "broken link" and accounted["loop"][1].startswith("link to a folder")
    assert accounted["notes.txt"][1] == "not a MIDI file name (.txt)"
    assert "without a usable window" in res.output and "other entr" in res.output
