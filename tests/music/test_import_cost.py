"""music.midi_io defers symusic's SoundFont downloader (pySmartDL: urllib, http, ssl) until used."""

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout


def test_reading_midi_does_not_load_the_downloader():
    out = _run("import sys\nimport musicvae.music.midi_io\n"
               "print('pySmartDL.pySmartDL' in sys.modules, 'urllib.request' in sys.modules)")
    assert out.split() == ["False", "False"]


def test_the_downloader_still_works_when_used():
    out = _run("import musicvae.music.midi_io\nimport pySmartDL\nimport symusic.soundfont as sf\n"
               "print(pySmartDL.utils.__name__)\nfrom pySmartDL import SmartDL\nprint(SmartDL.__module__)\n"
               "print(sf.BuiltInSF3.__name__, callable(sf.SmartDL))")
    assert out.split() == ["pySmartDL.utils", "pySmartDL.pySmartDL", "BuiltInSF3", "True"]
