# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow test-magenta tf-venv bench clean

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

# magenta's own MusicVAE graph (TensorFlow) lives in its own environment, used only by test-magenta
.tf-venv/bin/python:
	$(PYTHON) -m venv .tf-venv
	.tf-venv/bin/pip install -q -r scripts/magenta/requirements-tf.txt
	.tf-venv/bin/pip install -q --no-deps magenta==2.1.4 note-seq==0.0.5

tf-venv: .tf-venv/bin/python

# parity with magenta: every supported config built by magenta's code at a tiny size (random
# weights), saved, imported with `musicvae import-magenta` and compared output by output
MAGENTA_REF ?= runs/magenta-ref
test-magenta: $(STAMP) .tf-venv/bin/python
	.tf-venv/bin/python scripts/magenta/tf_reference.py $(MAGENTA_REF) 2>$(MAGENTA_REF).log || \
		{ tail -20 $(MAGENTA_REF).log; exit 1; }
	.tf-venv/bin/python scripts/magenta/tf_reference.py --published $(MAGENTA_REF)-published \
		cat-drums_2bar_small hierdec-mel_16bar 2>>$(MAGENTA_REF).log || { tail -20 $(MAGENTA_REF).log; exit 1; }
	MUSICVAE_MAGENTA_REF=$(MAGENTA_REF) MUSICVAE_MAGENTA_REF_PUBLISHED=$(MAGENTA_REF)-published \
		$(BIN)/python -m pytest -m magenta tests/magenta_parity -q -s

clean:
	rm -rf $(VENV) .bench-venv .tf-venv demo .pytest_cache
