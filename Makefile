# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/musicvae corpus list
	$(BIN)/musicvae prepare folk --kind melody --bars 2 --out demo/folk-mel2
	$(BIN)/musicvae prepare grooves --kind drums --bars 2 --out demo/grooves-drums2
	@echo "Prepared datasets are in demo/ (see manifest.json in each)."

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# magenta's note_seq baseline lives in its own environment (it pins its own numpy stack)
.bench-venv/bin/python:
	$(PYTHON) -m venv .bench-venv
	.bench-venv/bin/pip install -q -r benchmarks/requirements-baseline.txt

bench: $(STAMP) .bench-venv/bin/python
	$(BIN)/python benchmarks/prepare_throughput.py --repeat 10 --write-results

clean:
	rm -rf $(VENV) .bench-venv demo .pytest_cache
