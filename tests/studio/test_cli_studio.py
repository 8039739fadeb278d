"""``musicvae studio`` as a user runs it: prints its URL, serves the page on 127.0.0.1, stops cleanly on Ctrl-C."""

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from musicvae.cli.main import app

EXE = Path(sys.executable).parent / "musicvae"


def test_studio_serves_and_stops_on_ctrl_c():
    pytest.importorskip("uvicorn", reason="the studio's web stack is not installed (pip install 'musicvae[studio]')")
    proc = subprocess.Popen([str(EXE), "studio", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        line = ""
        deadline = time.time() + 120
        while "http://" not in line and time.time() < deadline:
            line += proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line.replace("\n", ""))
        assert url, line
        with urllib.request.urlopen(url.group(0) + "api/models", timeout=60) as res:
            assert "mel_2bar" in {m["name"] for m in json.load(res)["models"]}
        with urllib.request.urlopen(url.group(0), timeout=60) as res:
            assert b"musicvae studio" in res.read()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "studio stopped" in out and "Traceback" not in out


def test_studio_refusals_are_one_line():
    runner = CliRunner()
    result = runner.invoke(app, ["studio", "--model", "/no/such/model"])
    assert result.exit_code == 2 and "no such bundled model or folder" in result.output
