"""benchmarks/_results.py: the one writer of RESULTS.md's marked blocks used by every benchmark."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
_results = importlib.import_module("_results")


def test_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# R\n\nintro\n<!-- a:start -->\nold a\n<!-- a:end -->\nmiddle\n"
                    "<!-- b:start -->\nold b\n<!-- b:end -->\ntail\n")
    _results.write_section("a", "\nnew a\nline 2\n", path)
    assert path.read_text() == ("# R\n\nintro\n<!-- a:start -->\nnew a\nline 2\n<!-- a:end -->\nmiddle\n"
                                "<!-- b:start -->\nold b\n<!-- b:end -->\ntail\n")


def test_appends_a_missing_block_under_its_heading(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# R\n\ntext\n\n")
    _results.write_section("c", "table", path, heading="## C")
    assert path.read_text() == "# R\n\ntext\n\n## C\n\n<!-- c:start -->\ntable\n<!-- c:end -->\n"
    _results.write_section("c", "table 2", path, heading="## C")  # second write replaces, no second heading
    assert path.read_text().count("## C") == 1 and "table 2" in path.read_text() and "table\n" not in path.read_text()


def test_lone_start_marker_keeps_the_text_after_it(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("<!-- a:start -->\nprecious notes\n")
    _results.write_section("a", "x", path)
    assert "precious notes" in path.read_text()
    assert path.read_text().endswith("<!-- a:start -->\nx\n<!-- a:end -->\n")


def test_missing_file_is_created(tmp_path):
    path = tmp_path / "new.md"
    _results.write_section("a", "x", path)
    assert path.read_text() == "# Benchmark results\n\n<!-- a:start -->\nx\n<!-- a:end -->\n"


@pytest.mark.parametrize("script", ["sample_latency", "sample_throughput", "studio_latency", "train_throughput",
                                    "train_vs_reference", "prepare_throughput"])
def test_every_benchmark_writes_through_the_helper(script):
    source = (BENCH / f"{script}.py").read_text()
    assert "write_section(" in source
    assert ":start -->" not in source and "re.sub(" not in source  # no private copy of the block code
