"""``--key`` on the generation commands: keyed MIDI out, one-line refusals."""

from typer.testing import CliRunner

from musicvae.cli.main import app
from musicvae.music import NoteSequence, load_sequences, write_midi
from musicvae.music.scales import parse_key

runner = CliRunner()


def _pitch_classes(folder):
    return {int(p) % 12 for f in sorted(folder.glob("*.mid")) for s in load_sequences(f) for p in s.notes[:, 2]}


def test_key_option_on_sample_interpolate_similar(tiny_mel_run, tmp_path):
    src = write_midi(NoteSequence.from_tuples([(60 + i % 12, 2 * i, 2 * i + 2) for i in range(16)]), tmp_path / "in.mid")
    allowed = parse_key("D minor").pitch_classes
    runs = [["sample", "-n", "4", "-t", "2.0"], ["interpolate", str(src), str(src), "--steps", "3", "-t", "2.0"],
            ["similar", str(src), "-n", "3", "-t", "2.0"]]
    for i, args in enumerate(runs):
        out = tmp_path / f"o{i}"
        result = runner.invoke(app, args + ["--model", str(tiny_mel_run), "--seed", "3", "--key", "D minor",
                                            "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert _pitch_classes(out) <= allowed and _pitch_classes(out)


def test_bad_key_is_one_line(tiny_mel_run, tmp_path):
    result = runner.invoke(app, ["sample", "--model", str(tiny_mel_run), "--key", "Q minor", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "expected a tonic" in " ".join(result.output.split())
    result = runner.invoke(app, ["sample", "--model", "drums_2bar", "--key", "C", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "drums" in result.output


def test_rhythm_temperature_option_reaches_the_decoder_and_is_refused_by_drums(tmp_path):
    """``--rhythm-temperature`` on a melody model changes what is drawn (more notes than one low temperature
    gives); a drum model refuses it in one line."""

    def notes(out):
        return sum(len(s.notes) for f in sorted(out.glob("*.mid")) for s in load_sequences(f))

    counts = {}
    for name, extra in (("plain", []), ("rhythm", ["--rhythm-temperature", "1.0"])):
        out = tmp_path / name
        result = runner.invoke(app, ["sample", "--model", "mel_2bar", "-n", "16", "-t", "0.1", "--seed", "2",
                                     "--prior", "standard", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        counts[name] = notes(out)
    assert counts["rhythm"] > counts["plain"], counts
    result = runner.invoke(app, ["sample", "--model", "drums_2bar", "--rhythm-temperature", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "one-stream melody" in " ".join(result.output.split())
    assert "Traceback" not in result.output
