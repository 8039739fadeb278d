"""Making music with a trained model: the :class:`TrainedModel` facade and latent operations.

Place in the flow: ``training`` checkpoints (or bundled models) -> ``generation``
-> ``render`` (MIDI, WAV, piano rolls) and the CLI.
"""

from .model import TrainedModel
from .store import DEFAULT_MODEL, bundled_models, export_model, load_model_files
from .windows import InputError, Window, extract_windows

__all__ = ["TrainedModel", "InputError", "Window", "extract_windows", "export_model", "bundled_models",
           "load_model_files", "DEFAULT_MODEL"]
