"""How faithfully a model's decoding settings keep an input: reconstruct held-out windows from their codes.

Usage:
    python scripts/models/decode_fidelity.py MODEL DATA [N] [T:RHYTHM ...]

For each setting (``0.85:none`` = one plain temperature 0.85; ``0.7:0.85`` = pitch temperature 0.7 with
rhythm temperature 0.85; ``0:none`` = argmax) it decodes the posterior means of N held-out windows of the
prepared DATA (seeded) and prints the share of tokens equal to the input's and the number of note-ons
against the input's (1.00x = as many notes as the input). Used for mel_16bar's card (rhythm temperature).
"""

from __future__ import annotations

import sys

import numpy as np

from musicvae.cli.common import load_split
from musicvae.evaluation import studies as st
from musicvae.generation import TrainedModel
from musicvae.representations.streams import FIRST_NOTE_ON


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    model, data = TrainedModel.load(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    settings = sys.argv[4:] or ["0.85:none", "0.7:1.0", "0.7:0.85", "0.5:none", "0:none"]
    ev = load_split(data, "eval")
    tokens = np.asarray(ev.tokens[st.select_windows(len(ev), n, 0)], dtype=np.int64)  # (N, T, K)
    codes = model.token_codes(tokens)
    for setting in settings:
        t, r = setting.split(":")
        model.rhythm_temperature = None if r == "none" else float(r)
        out = np.concatenate([model.decode_tokens(codes[i:i + 64], float(t), seed=i)
                              for i in range(0, len(codes), 64)])
        notes = (out >= FIRST_NOTE_ON).sum() / max((tokens >= FIRST_NOTE_ON).sum(), 1)
        print(f"T={t} rhythm={r}: tokens equal to the input {(out == tokens).mean():.3f}, "
              f"note-ons {notes:.2f}x the input's")


if __name__ == "__main__":
    main()
