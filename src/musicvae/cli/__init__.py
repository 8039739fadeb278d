"""musicvae.cli (see the package docstring for the flow).

``main`` defines the typer app and, at its end, imports the command modules
(``generate``, ``evaluate``, ...), which register their commands on it and import
helpers from one another. Importing ``main`` first, whichever submodule is asked for,
keeps that order, so ``import musicvae.cli.generate`` works on its own too.
"""

from . import main as _main  # noqa: F401
