"""musicvae: latent-variable models of symbolic music (MusicVAE, MusAE, MCVAE, VRASH).

The package follows the data flow: ``music`` (MIDI in/out) -> ``representations``
(reversible converters) -> ``data`` (corpora, windows, caches) -> ``models`` ->
``training`` -> ``generation`` -> ``evaluation`` -> ``cli`` (+ ``studio``), with ``render``
a leaf on ``music``; ``devtools.imports`` checks it.
"""

__version__ = "0.1.0"
