"""Key names -> scales: the spellings ``--key`` accepts and the ones it refuses."""

import pytest

from musicvae.music.scales import MODES, Key, ScaleError, parse_key


@pytest.mark.parametrize("text, tonic, mode", [
    ("D minor", 2, "minor"), ("C:major", 0, "major"), ("f#-dorian", 6, "dorian"), ("Bb", 10, "major"),
    ("Am", 9, "minor"), ("bm", 11, "minor"), ("E♭ harmonic minor", 3, "harmonic minor"),
    ("G_mixolydian", 7, "mixolydian"), ("c major pentatonic", 0, "major pentatonic"), ("Cb", 11, "major"),
    ("A aeolian", 9, "minor"), ("e blues", 4, "blues"),
])
def test_parse_key(text, tonic, mode):
    assert parse_key(text) == Key(tonic, mode)


def test_scales_have_the_right_notes():
    assert parse_key("C major").pitch_classes == {0, 2, 4, 5, 7, 9, 11}
    assert parse_key("A minor").pitch_classes == parse_key("C major").pitch_classes
    assert parse_key("D minor").pitch_classes == {2, 4, 5, 7, 9, 10, 0}
    assert parse_key("D minor").allows(62 + 12) and not parse_key("D minor").allows(61)
    assert all(len(MODES[m]) == len(set(MODES[m])) and MODES[m][0] == 0 for m in MODES)
    assert parse_key("F# major").name == "F# major"


@pytest.mark.parametrize("text", ["", "H major", "D weird", "minor", "C#b major", "12"])
def test_bad_keys_are_refused_with_the_accepted_forms(text):
    with pytest.raises(ScaleError, match="key"):
        parse_key(text)
