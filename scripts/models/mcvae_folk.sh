#!/usr/bin/env bash
# Rebuild the bundled MCVAE composer src/musicvae/assets/models/mcvae_folk (bar VAE + composer on `folk`).
# About 30 CPU-minutes on a 2-core machine; the exact commands and figures are in its CARD.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$BIN/musicvae" prepare folk --kind melody --bars 1 --out data/folk-mel1
"$BIN/musicvae" prepare folk --kind bars --bars 16 --out data/folk-bars16
BAR=(train --preset mcvae-bar_cpu --data data/folk-mel1 --out runs/mcvae-bar
     --set model.encoder_hidden=128 --set model.decoder_hidden=192 --set model.decoder_layers=1 --set model.z_size=32
     --set train.free_bits=8 --set train.sampling_schedule=constant --set train.sampling_rate=0
     --set train.batch_size=64 --set train.steps=4000 --set train.checkpoint_every=250 --set train.eval_every=500
     --set train.log_every=50)
COMPOSER=(train --preset mcvae-composer_cpu --data data/folk-bars16 --vae runs/mcvae-bar --out runs/mcvae
          --set train.steps=1000)
nice -n 10 "$BIN/musicvae" "${BAR[@]}"
nice -n 10 "$BIN/musicvae" "${COMPOSER[@]}"
"$BIN/python" scripts/models/bundle_composer.py runs/mcvae src/musicvae/assets/models/mcvae_folk --bar-run runs/mcvae-bar \
  --command-bar "musicvae ${BAR[*]}" --command-composer "musicvae ${COMPOSER[*]}"
