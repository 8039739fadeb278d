"""Measuring music: the papers' studies, n-gram costs, realism and reports.

Place in the flow: ``generation`` / model outputs (token grids) -> converter ``decode``
-> :class:`~musicvae.music.sequence.NoteSequence` -> :mod:`musicvae.music.attributes`
-> attribute vectors (``generation.latent.attribute_vector``) and evaluation reports.

Kept import-light: import :mod:`musicvae.music.attributes` directly.
"""
