"""Score a composer's bar VAE (e.g. the bundled ``mcvae_folk``) on a prepared 1-bar melody folder's held-out split.

Usage (from the repository root)::

    .venv/bin/musicvae prepare folk --kind melody --bars 1 --out data/folk-mel1
    .venv/bin/python scripts/models/score_bar_vae.py mcvae_folk data/folk-mel1

Prints the reconstruction study (``musicvae.evaluation.studies``, the code behind ``musicvae evaluate``)
as JSON: teacher-forced, sampled (magenta's definition), free-running and argmax accuracy, KL and ELBO.
``musicvae evaluate`` takes MusicVAE models only; a composer keeps its bar VAE inside its own folder.
"""

from __future__ import annotations

import json
import sys

from musicvae.config import Config
from musicvae.data.dataset import PreparedDataset
from musicvae.evaluation.studies import reconstruction_study
from musicvae.generation.compose import ComposerModel, resolve_composer
from musicvae.generation.model import TrainedModel
from musicvae.generation.store import ModelFiles


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    name, data = sys.argv[1], sys.argv[2]
    stored = json.loads((resolve_composer(name) / "composer.json").read_text())["bar_vae_model"]
    composer = ComposerModel.load(name)
    files = ModelFiles(name=f"{name} bar VAE", model=composer.mc.bar_vae.float().eval(),
                       config=Config.from_dict(stored["config"]), representation=stored["representation"])
    rec = reconstruction_study(TrainedModel(files), PreparedDataset(data, "eval").tokens, seed=0)
    print(json.dumps({k: v for k, v in rec.items() if k != "accuracy_definitions"}, indent=1, default=str))


if __name__ == "__main__":
    main()
