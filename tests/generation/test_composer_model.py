"""The bundled MCVAE composer (mcvae_folk): continues music by name, keeps the prime, obeys a key."""

import pytest
from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.generation import InputError
from musicvae.generation.compose import BUNDLED_COMPOSER, ComposerModel, bundled_composers
from musicvae.music import NoteSequence, load_sequences
from musicvae.music.scales import parse_key


@pytest.fixture(scope="module")
def composer():
    return ComposerModel.load(BUNDLED_COMPOSER)


def _scale(bars=2):
    return NoteSequence.from_tuples([(60 + [0, 2, 4, 5, 7, 9, 11, 12][i % 8], 2 * i, 2 * i + 2) for i in range(8 * bars)])


def test_bundled_composer_is_small_fp16_and_carded():
    folder = bundled_composers()[BUNDLED_COMPOSER]
    sizes = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    assert sizes < 8e6 and (folder / "CARD.md").is_file()
    assert '"weights_dtype": "float16"' in (folder / "composer.json").read_text()


def test_continue_keeps_the_prime_and_extends_it(composer):
    prime = _scale()
    out = composer.continue_sequence(prime, bars=6, prime_bars=2, seed=1)
    assert out.total_steps == 96
    head = [tuple(n) for n in out.notes.tolist() if n[0] < 32]
    assert head == [tuple(n) for n in prime.notes.tolist()]
    assert any(n[0] >= 32 for n in out.notes.tolist())
    again = composer.continue_sequence(prime, bars=6, prime_bars=2, seed=1)
    assert again.notes.tolist() == out.notes.tolist()


def test_continue_in_a_key(composer):
    out = composer.continue_sequence(_scale(), bars=8, prime_bars=1, seed=3, temperature=1.5, key="Eb major")
    later = {int(n[2]) % 12 for n in out.notes.tolist() if n[0] >= 16}
    assert later and later <= parse_key("Eb major").pitch_classes


def test_refusals(composer, tmp_path):
    with pytest.raises(InputError):
        composer.continue_sequence(NoteSequence.from_tuples([], total_steps=8), bars=4)
    with pytest.raises(InputError, match="not a composer folder"):
        ComposerModel.load(tmp_path)


def test_compose_command_by_bundled_name(tmp_path):
    result = CliRunner().invoke(app, ["compose", "--model", BUNDLED_COMPOSER, "--bars", "4", "--seed", "2",
                                      "--key", "D minor", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (mid,) = tmp_path.glob("*.mid")
    pcs = {int(p) % 12 for s in load_sequences(mid) for p in s.notes[:, 2]}
    assert pcs <= parse_key("D minor").pitch_classes
