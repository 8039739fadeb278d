"""The studio's JSON API without a browser (Starlette's TestClient): every endpoint, good and bad input."""

import io
import wave

import numpy as np
import pytest

from musicvae.music import NoteSequence, midi_bytes
from musicvae.music.scales import parse_key
from musicvae.music.sequence import TrackInfo

pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2 (pip install 'musicvae[studio-test]')")


@pytest.fixture(scope="module")
def client(studio_session):
    from starlette.testclient import TestClient

    from musicvae.studio.app import create_app

    with TestClient(create_app(studio_session), raise_server_exceptions=False) as c:
        yield c


def _ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _bad(response, status, *needles):
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "Traceback" not in message and "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


def _tune(pitches=(60, 62, 64, 65, 67, 69, 71, 72), step=2, bars=2) -> bytes:
    n = bars * 16 // step
    return midi_bytes(NoteSequence.from_tuples([(pitches[i % len(pitches)], step * i, step * i + step) for i in range(n)]))


@pytest.fixture(scope="module")
def two(client):
    clips = _ok(client.post("/api/generate", json={"model": "mel_2bar", "n": 2, "seed": 3}))["clips"]
    return clips[0]["id"], clips[1]["id"]


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"roll\"" in page.text and "studio.js" in page.text
    assert "http" not in page.text.replace("http://", "").lower() or "cdn" not in page.text.lower()
    js = client.get("/static/studio.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "DownloadURL" in js.text and "fetch(" in js.text
    for path in ("/static/../app.py", "/static/session.py", "/static/.hidden.js", "/nope"):
        _bad(client.get(path), 404, "not found")


def test_models_lists_bundled_models_modes_and_limits(client):
    info = _ok(client.get("/api/models"))
    names = {m["name"]: m for m in info["models"]}
    assert {"mel_2bar", "mel_16bar", "drums_2bar"} <= set(names)
    assert names["mel_2bar"]["key"] is True and names["drums_2bar"]["key"] is False
    assert "note_density" in names["mel_2bar"]["attributes"]
    assert "minor" in info["modes"] and info["limits"]["upload_bytes"] > 0


def test_a_request_without_temperature_takes_the_models_own(client):
    from musicvae.generation import TrainedModel

    names = {m["name"]: m for m in _ok(client.get("/api/models"))["models"]}
    for name in ("mel_2bar", "mel_16bar"):
        t = names[name]["temperature"]
        assert t == TrainedModel.load(name).default_temperature  # the slider starts there (studio.js)
        implicit = _ok(client.post("/api/generate", json={"model": name, "n": 2, "seed": 9}))["clips"]
        explicit = _ok(client.post("/api/generate", json={"model": name, "n": 2, "seed": 9, "temperature": t}))["clips"]
        other = _ok(client.post("/api/generate", json={"model": name, "n": 2, "seed": 9, "temperature": 0}))["clips"]
        assert [c["notes"] for c in implicit] == [c["notes"] for c in explicit]
        assert [c["notes"] for c in implicit] != [c["notes"] for c in other]


def test_rhythm_temperature_per_request_and_the_models_own(client):
    """A melody model's recorded rhythm temperature applies unless the request gives one (0: one temperature for
    every token); the override lasts one request; a drum model refuses it in one line."""
    from musicvae.generation import TrainedModel

    names = {m["name"]: m for m in _ok(client.get("/api/models"))["models"]}
    own = TrainedModel.load("mel_16bar").rhythm_temperature
    assert own is not None and names["mel_16bar"]["rhythm"] == own and names["mel_16bar"]["takes_rhythm"]
    assert names["mel_2bar"]["takes_rhythm"] and names["mel_2bar"]["rhythm"] is None
    assert not names["drums_2bar"]["takes_rhythm"]

    def notes(**extra):
        body = {"model": "mel_16bar", "n": 3, "seed": 4, "temperature": 0.5, **extra}
        return [c["notes"] for c in _ok(client.post("/api/generate", json=body))["clips"]]

    default, off = notes(), notes(rhythm_temperature=0)
    assert notes(rhythm_temperature=own) == default != off
    assert sum(map(len, default)) > sum(map(len, off))  # one low temperature thins the melody out
    assert notes() == default  # the override did not stick to the shared model
    _bad(client.post("/api/generate", json={"model": "drums_2bar", "rhythm_temperature": 0.9}), 400, "one-stream melody")
    _bad(client.post("/api/generate", json={"model": "mel_2bar", "rhythm_temperature": "x"}), 400, "rhythm_temperature")


def test_generate_is_seeded_and_keyed(client):
    a = _ok(client.post("/api/generate", json={"model": "mel_2bar", "n": 3, "seed": 5, "temperature": 1.0}))["clips"]
    b = _ok(client.post("/api/generate", json={"model": "mel_2bar", "n": 3, "seed": 5, "temperature": 1.0}))["clips"]
    assert len(a) == 3 and [c["notes"] for c in a] == [c["notes"] for c in b]
    assert a[0]["id"] != b[0]["id"] and a[0]["bars"] == 2 and a[0]["mid"].endswith(".mid")
    keyed = _ok(client.post("/api/generate", json={"model": "mel_2bar", "n": 8, "seed": 1, "temperature": 2.0,
                                                   "key": "F# minor"}))["clips"]
    pcs = {n[2] % 12 for c in keyed for n in c["notes"]}
    assert pcs and pcs <= parse_key("F# minor").pitch_classes
    drums = _ok(client.post("/api/generate", json={"model": "drums_2bar", "n": 1, "seed": 1}))["clips"]
    assert drums[0]["drums"] == [True]


def test_generate_refuses_bad_values(client):
    _bad(client.post("/api/generate", json={"model": "nope"}), 400, "unknown model")
    _bad(client.post("/api/generate", json={"n": 0}), 400, "n must be between")
    _bad(client.post("/api/generate", json={"n": 1000}), 400, "n must be between")
    _bad(client.post("/api/generate", json={"temperature": "hot"}), 400, "temperature must be a number")
    _bad(client.post("/api/generate", content=b"{\"temperature\": NaN}"), 400, "temperature")
    _bad(client.post("/api/generate", json={"n": 1.5}), 400, "whole number")
    _bad(client.post("/api/generate", json={"key": "H major"}), 400, "expected a tonic")
    _bad(client.post("/api/generate", json={"key": 5}), 400, "key must be a text")
    _bad(client.post("/api/generate", json={"model": "drums_2bar", "key": "C major"}), 400, "drums")
    _bad(client.post("/api/generate", json={"label": "irish"}), 400, "label")
    _bad(client.post("/api/generate", content=b"{not json"), 400, "JSON")
    _bad(client.post("/api/generate", content=b"[1, 2]"), 400, "JSON object")
    _bad(client.post("/api/generate", content=b"x" * 100_000), 413, "too large")
    _bad(client.get("/api/generate"), 405)


def test_interpolate_slider_and_pad(client, two):
    a, b = two
    start = _ok(client.post("/api/interpolate", json={"model": "mel_2bar", "a": a, "b": b, "position": 0.0,
                                                      "temperature": 0}))["clips"][0]
    end = _ok(client.post("/api/interpolate", json={"model": "mel_2bar", "a": a, "b": b, "position": 1.0,
                                                    "temperature": 0}))["clips"][0]
    assert start["notes"] != end["notes"] and "slerp 0.00" in start["name"]
    pad = _ok(client.post("/api/interpolate", json={"model": "mel_2bar", "corners": [a, b, a, b], "x": 0.0,
                                                    "y": 1.0, "temperature": 0}))["clips"][0]
    assert pad["notes"] == start["notes"]  # bottom-left corner is a's code again
    keyed = _ok(client.post("/api/interpolate", json={"model": "mel_2bar", "a": a, "b": b, "position": 0.5,
                                                      "temperature": 1.5, "key": "Bb major"}))["clips"][0]
    assert {n[2] % 12 for n in keyed["notes"]} <= parse_key("Bb major").pitch_classes
    _bad(client.post("/api/interpolate", json={"model": "mel_16bar", "a": a, "b": b}), 400, "16-bar", "2 bars long")
    la, lb = (c["id"] for c in _ok(client.post("/api/generate", json={"model": "mel_16bar", "n": 2, "seed": 1}))["clips"])
    long = _ok(client.post("/api/interpolate", json={"model": "mel_16bar", "a": la, "b": lb, "position": 0.3}))
    assert long["clips"][0]["total_steps"] == 256


def test_interpolate_refusals(client, two):
    a, b = two
    _bad(client.post("/api/interpolate", json={"a": a, "b": "0123456789ab"}), 404, "no clip")
    _bad(client.post("/api/interpolate", json={"a": a, "b": b, "position": 2}), 400, "position must be between")
    _bad(client.post("/api/interpolate", json={"a": a, "b": b, "method": "cubic"}), 400, "slerp or lerp")
    _bad(client.post("/api/interpolate", json={"corners": [a, b]}), 400, "four clip ids")
    _bad(client.post("/api/interpolate", json={"corners": [a, b, a, b], "x": 0.5}), 400, "y is missing")
    _bad(client.post("/api/interpolate", json={"a": [1], "b": b}), 400, "clip id is a string")
    drum = _ok(client.post("/api/generate", json={"model": "drums_2bar", "n": 1, "seed": 2}))["clips"][0]["id"]
    _bad(client.post("/api/interpolate", json={"model": "mel_2bar", "a": drum, "b": b}), 400)  # drums into melody


def test_similar_and_attribute(client, two):
    a, _ = two
    sims = _ok(client.post("/api/similar", json={"model": "mel_2bar", "clip": a, "n": 3, "similarity": 0.9,
                                                 "seed": 1}))["clips"]
    assert len(sims) == 3 and all("similar 0.90" in c["name"] for c in sims)
    _bad(client.post("/api/similar", json={"clip": a, "similarity": -1}), 400, "similarity")
    dense = _ok(client.post("/api/attribute", json={"model": "mel_2bar", "clip": a, "temperature": 0,
                                                    "amounts": {"note_density": 3}}))["clips"][0]
    sparse = _ok(client.post("/api/attribute", json={"model": "mel_2bar", "clip": a, "temperature": 0,
                                                     "amounts": {"note_density": -3}}))["clips"][0]
    assert len(dense["notes"]) > len(sparse["notes"])
    both = _ok(client.post("/api/attribute", json={"model": "mel_2bar", "clip": a, "temperature": 0,
                                                   "amounts": {"note_density": 1, "pitch_range": -1}}))["clips"][0]
    assert "note_density +1.0" in both["name"] and "pitch_range -1.0" in both["name"]
    _bad(client.post("/api/attribute", json={"clip": a, "amounts": {"swing": 1}}), 400, "no attribute vector 'swing'")
    _bad(client.post("/api/attribute", json={"clip": a, "amounts": {"note_density": 99}}), 400, "between")
    _bad(client.post("/api/attribute", json={"clip": a, "amounts": [1]}), 400, "amounts must map")


def test_upload_midi_and_bad_files(client):
    clips = _ok(client.post("/api/upload?name=scale.mid", content=_tune()))["clips"]
    assert len(clips) == 1 and clips[0]["name"] == "scale.mid" and len(clips[0]["notes"]) == 16
    _bad(client.post("/api/upload?name=x.mid", content=b"MThd garbage"), 400, "x.mid")
    _bad(client.post("/api/upload?name=notes.txt", content=b"hello"), 400, "notes.txt", "not a MIDI file")
    _bad(client.post("/api/upload", content=b""), 400, "empty")
    _bad(client.post("/api/upload?name=big.mid", content=b"MThd" + b"\0" * (2 << 20)), 413, "too large")
    long = _tune(step=4, bars=200)
    _bad(client.post("/api/upload?name=long.mid", content=long), 400, "long.mid", "too long")
    drums = midi_bytes(NoteSequence.from_tracks([(TrackInfo(is_drum=True), [(36, i, i + 1) for i in range(0, 32, 4)])]))
    drum_clip = _ok(client.post("/api/upload?name=beat.mid", content=drums))["clips"][0]
    _bad(client.post("/api/similar", json={"model": "mel_2bar", "clip": drum_clip["id"]}), 400, "beat.mid")
    _ok(client.post("/api/similar", json={"model": "drums_2bar", "clip": drum_clip["id"], "n": 1}))


def test_clip_json_midi_and_wav(client, two):
    a, _ = two
    clip = _ok(client.get(f"/api/clips/{a}"))
    assert clip["id"] == a
    mid = client.get(f"/api/clips/{a}.mid")
    assert mid.status_code == 200 and mid.content[:4] == b"MThd" and "attachment" in mid.headers["content-disposition"]
    wav = client.get(f"/api/clips/{a}.wav")
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(wav.content)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        assert w.getframerate() == 24000 and w.getnframes() > 24000 * 4  # 2 bars at 120 qpm + tail
    assert np.abs(samples).max() > 300  # not silent
    _bad(client.get("/api/clips/0123456789ab.wav"), 404, "no clip")
    _bad(client.get(f"/api/clips/{a}.mp3"), 400, "json, mid or wav")
    _bad(client.get("/api/clips/..%2F..%2Fetc%2Fpasswd"), 404)


def test_continue_with_the_bundled_composer(client):
    prime = _ok(client.post("/api/upload?name=prime.mid", content=_tune(bars=2)))["clips"][0]
    out = _ok(client.post("/api/continue", json={"clip": prime["id"], "bars": 6, "prime_bars": 2, "seed": 1}))
    clip = out["clips"][0]
    assert clip["total_steps"] == 96 and clip["model"] == "mcvae_folk"
    assert [n for n in clip["notes"] if n[0] < 32] == [n for n in prime["notes"]]  # the prime kept as written
    assert any(n[0] >= 32 for n in clip["notes"])  # and continued
    keyed = _ok(client.post("/api/continue", json={"clip": prime["id"], "bars": 6, "prime_bars": 1, "seed": 2,
                                                   "key": "G major", "temperature": 1.5}))["clips"][0]
    assert {n[2] % 12 for n in keyed["notes"] if n[0] >= 16} <= parse_key("G major").pitch_classes
    _bad(client.post("/api/continue", json={"clip": prime["id"], "bars": 1000}), 400, "bars")
    _bad(client.post("/api/continue", json={"clip": prime["id"], "composer": "nope"}), 400, "unknown composer")


def test_clip_store_is_bounded():
    from musicvae.studio.session import Studio, StudioError

    s = Studio(max_clips=3)
    ids = [s.add(NoteSequence.from_tuples([(60, 0, 4)]), f"c{i}").id for i in range(5)]
    s.clip(ids[2])  # touched: kept
    s.add(NoteSequence.from_tuples([(60, 0, 4)]), "c5")
    with pytest.raises(StudioError, match="no clip"):
        s.clip(ids[0])
    with pytest.raises(StudioError, match="no clip"):
        s.clip(ids[3])
    s.clip(ids[2])


def test_internal_errors_are_json_and_the_server_survives(client, studio_session, monkeypatch):
    def boom(req):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(studio_session, "generate", boom)
    # the route captured the bound method at app creation; call through a fresh app
    from starlette.testclient import TestClient

    from musicvae.studio.app import create_app

    with TestClient(create_app(studio_session), raise_server_exceptions=False) as c:
        _bad(c.post("/api/generate", json={}), 500, "internal error", "kaboom")
        assert c.get("/api/models").status_code == 200


def test_extra_models_from_run_dirs_and_exports(tiny_mel_run):
    from starlette.testclient import TestClient

    from musicvae.studio.app import create_app
    from musicvae.studio.session import Studio, StudioError

    s = Studio([str(tiny_mel_run), "mel_2bar"])
    assert tiny_mel_run.name in s.sources and list(s.sources).count("mel_2bar") == 1
    with TestClient(create_app(s)) as c:
        names = [m["name"] for m in _ok(c.get("/api/models"))["models"]]
        assert tiny_mel_run.name in names
        clips = _ok(c.post("/api/generate", json={"model": tiny_mel_run.name, "n": 2, "seed": 0}))["clips"]
        assert clips[0]["model"] == tiny_mel_run.name
    with pytest.raises(StudioError, match="no such bundled model or folder"):
        Studio(["/no/such/dir"])
