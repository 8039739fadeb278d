"""Music I/O: MIDI files in and out (symusic), the shared NoteSequence, quantizing.

First stage of the flow: MIDI -> NoteSequence -> representations -> data -> models.
"""

from .midi_io import MidiError, midi_bytes, read_midi, read_midi_bytes, sequence_to_score, write_midi
from .monophonic import monophonic_line
from .quantize import NoUsableMusic, load_sequences, quantize_score
from .sequence import NoteSequence, TrackInfo

__all__ = [
    "MidiError",
    "NoUsableMusic",
    "NoteSequence",
    "TrackInfo",
    "load_sequences",
    "midi_bytes",
    "monophonic_line",
    "quantize_score",
    "read_midi",
    "read_midi_bytes",
    "sequence_to_score",
    "write_midi",
]
