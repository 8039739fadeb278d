"""Fixtures of the hardening tests (issue 20)."""

from __future__ import annotations

import pytest
from cli_run import run_cli


@pytest.fixture
def cli():
    return run_cli
