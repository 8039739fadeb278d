"""``python -m musicvae`` runs the command line (also under ``torchrun -m musicvae``)."""

from .cli.main import main

main()
