#!/usr/bin/env bash
# Rebuild the bundled models under src/musicvae/assets/models/ from the bundled corpora.
# Each model: prepare its data, train with the project's own trainer, export the checkpoint
# with the lowest held-out loss as fp16 safetensors with attribute vectors and a model card.
#
#   bash scripts/models/build.sh [mel_2bar|mel_16bar|drums_2bar ...]   (default: all)
#
# On a 2-core CPU: mel_2bar ~2 h (two threads), drums_2bar ~1.5 h, mel_16bar ~2.5 h. The exact
# commands and figures of the shipped models are in each model's CARD.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
ASSETS=src/musicvae/assets/models
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(mel_2bar drums_2bar mel_16bar)

build() {  # name corpus kind bars preset steps [extra train args...]
  local name=$1 corpus=$2 kind=$3 bars=$4 preset=$5 steps=$6; shift 6
  local data=data/$corpus-$kind$bars run=runs/bundled-$name${SUFFIX:-}
  "$BIN/musicvae" prepare "$corpus" --kind "$kind" --bars "$bars" --out "$data"
  local args=(train --preset "$preset" --data "$data" --out "$run" --steps "$steps" "$@")
  local cmd="musicvae ${args[*]}"
  "$BIN/musicvae" "${args[@]}" || "$BIN/musicvae" "${args[@]}" --resume
  "$BIN/python" scripts/models/card.py "$run" "$data" "$ASSETS/$name" --name "$name" --command "$cmd" \
    --checkpoint "${CHECKPOINT:-best}"
  # the prior sampling uses: a Gaussian mixture fitted to the training codes (experiments/results/prior_holes)
  local limit=10000 n=2000
  [ "$bars" -gt 2 ] && limit=5000 n=500
  # and the model's default temperature: the most data-like of a sweep (README "Sampling temperature")
  # (PRIOR_ARGS: the mixture's size and spread, a rhythm temperature; SWEEP: the temperatures measured)
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 "$BIN/musicvae" fit-prior "$ASSETS/$name" --data "$data" --limit $limit --n $n \
    --sweep "${SWEEP:-0.3,0.5,0.7,0.85,1}" ${PRIOR_ARGS:-}
}

for m in "${models[@]}"; do
  case $m in
    # 18,000 steps on folk, then 4,000 on folk+fiddle from that model at the learning rate its schedule
    # had reached (the leave-one-collection-out recipe of its CARD.md); prior: 16 components, spreads x0.7
    mel_2bar)   build mel_2bar folk melody 2 cat-mel_2bar_cpu 18000
                SUFFIX=-ff CHECKPOINT=latest PRIOR_ARGS="--components 16 --scale 0.7" \
                  build mel_2bar folk+fiddle melody 2 cat-mel_2bar_cpu 4000 --set eval_every=1000 \
                  --set checkpoint_every=1000 --set train.learning_rate=0.000131 \
                  --set train.init_from="$ASSETS/mel_2bar" ;;
    # 5,000 steps on grooves with magenta's 48 free bits, then 3,000 more on grooves+games (the games'
    # real drum tracks) with 128 free bits from that model; the latest checkpoint ships (its CARD.md)
    drums_2bar) build drums_2bar grooves drums 2 cat-drums_2bar_cpu 5000 --set eval_every=500 --set checkpoint_every=500
                SUFFIX=-gg CHECKPOINT=latest build drums_2bar grooves+games drums 2 cat-drums_2bar_cpu 3000 \
                  --set eval_every=500 --set checkpoint_every=500 --set train.free_bits=128 \
                  --set train.init_from="$ASSETS/drums_2bar" ;;
    # (a 128-unit bottom decoder, --set model.decoder_hidden=128, samples in ~half the time but was
    # worse in every measure and its attribute vectors stopped working: benchmarks/RESULTS.md)
    # 4,000 steps from scratch, then 3,500 more on 4 random bars per window (train.segment_subset, 1.8x
    # cheaper steps) from that model (train.init_from); the shipped model's default temperature comes
    # from fit-prior --sweep (see its CARD.md)
    # its samples draw the rhythm at temperature 0.85 and the pitches at the swept one (README "Rhythm temperature")
    mel_16bar)  build mel_16bar folk melody 16 hierdec-mel_16bar_cpu 4000 --set eval_every=500 --set checkpoint_every=500
                SUFFIX=-k4 SWEEP=0.5,0.6,0.7,0.8,0.85 PRIOR_ARGS="--rhythm-temperature 0.85" build mel_16bar folk melody 16 hierdec-mel_16bar_cpu 3500 --set eval_every=500 \
                  --set checkpoint_every=500 --set train.segment_subset=4 --set train.init_from="$ASSETS/mel_16bar" ;;
    *) echo "unknown bundled model $m (mel_2bar, drums_2bar, mel_16bar)" >&2; exit 2 ;;
  esac
done
