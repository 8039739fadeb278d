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
	$(BIN)/pip install -q -c constraints.txt -e '.[test,analysis,studio,studio-test]'
	touch $(STAMP)

install: $(STAMP)

EXAMPLES := src/musicvae/assets/examples
demo: $(STAMP)
	$(BIN)/musicvae models
	$(BIN)/musicvae sample --model mel_2bar -n 4 --seed 1 --out demo/samples --wav --png
	$(BIN)/musicvae sample --model drums_2bar -n 2 --seed 1 --out demo/drums --wav --png
	$(BIN)/musicvae interpolate $(EXAMPLES)/bog_blossom.mid $(EXAMPLES)/bird_alone.mid --model mel_16bar \
		--steps 5 --seed 1 --out demo/interpolation --wav --png
	$(BIN)/musicvae attribute $(EXAMPLES)/bog_blossom.mid --model mel_2bar --attribute note_density --amount 2 \
		--seed 1 --out demo/attribute --wav --png
	@echo "Listen to demo/*/*.wav, open demo/*/*.mid in any MIDI editor, look at demo/*/*.png."
	@echo "Make music in the browser: $(BIN)/musicvae studio   (then open http://127.0.0.1:8765/; Ctrl-C stops it)"

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
