"""Measuring music: attributes and evaluation metrics.

Place in the flow: ``generation`` / model outputs (token grids) -> converter ``decode``
-> :class:`~musicvae.music.sequence.NoteSequence` -> :mod:`musicvae.evaluation.metrics`
-> attribute vectors (``generation.latent.attribute_vector``) and evaluation reports.

Kept import-light: import :mod:`musicvae.evaluation.metrics` directly.
"""
