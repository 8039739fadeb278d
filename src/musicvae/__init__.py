"""musicvae: latent-variable models of symbolic music (MusicVAE, MusAE, MCVAE, VRASH).

The package follows the data flow: ``music`` (MIDI in/out) -> ``representations``
(reversible converters) -> ``data`` (corpora, windows, caches) -> ``models`` ->
``training`` -> ``generation`` -> ``evaluation`` -> ``render`` -> ``cli``.
"""

__version__ = "0.1.0"
