"""musicvae.cli (see the package docstring for the flow).

``common`` holds the typer app and what the commands share; each command module
(``generate``, ``evaluate``, ...) imports ``common`` and registers its commands on the app;
``main`` imports every command module and runs the app. Importing the package imports
``main``, so whichever submodule is asked for, the app has every command.
"""

from . import main as _main  # noqa: F401
