"""Rendering: NoteSequences to audio (WAV) and piano-roll images (PNG).

Place in the flow: ``generation`` (NoteSequences) -> ``render`` -> the files the CLI
writes (``.wav`` and ``.png`` beside each ``.mid``; a strip image for interpolations).
"""

from .audio import RenderError, default_soundfont, render_audio, render_wav
from .pianoroll import piano_roll_image, piano_roll_strip

__all__ = ["render_wav", "render_audio", "RenderError", "default_soundfont", "piano_roll_image",
           "piano_roll_strip"]
