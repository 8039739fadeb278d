"""Helpers of the hardening tests (issue 20): run the real ``musicvae`` command in a subprocess,
where the file system's bytes, signals and resource limits behave as for a user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=None, preexec_fn=None, timeout=300, env=None) -> subprocess.CompletedProcess:
    """``python -m musicvae ARGS`` with bytes arguments allowed; output decoded leniently."""
    full_env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "COLUMNS": "200", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), full_env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "musicvae", *args], capture_output=True, cwd=cwd,
                          preexec_fn=preexec_fn, timeout=timeout, env=full_env)
    proc.out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return proc


@pytest.fixture
def cli():
    return run_cli
