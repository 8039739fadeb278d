"""The studio page in a real browser: Debian's Chromium (headless) driven by Playwright.

Generate, move the interpolation slider, apply an attribute, drop MIDI files (good and bad),
use the key control; check that the piano roll changes and that the audio element gets a
non-silent clip. Screenshots go to the test's folder, and to ``$MUSICVAE_STUDIO_SCREENSHOTS``
when set (``docs/studio/`` holds the committed ones). Skipped, with the reason, where Chromium
or Playwright is missing (``.ci/run`` installs Chromium with apt; Playwright never downloads
a browser here: it is pointed at /usr/bin/chromium).
"""

import os
import shutil
from pathlib import Path

import pytest

from musicvae.music import NoteSequence, midi_bytes
from musicvae.music.scales import parse_key

CHROMIUM = os.environ.get("MUSICVAE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--autoplay-policy=no-user-gesture-required"]

if not Path(CHROMIUM).is_file():
    pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does this)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'musicvae[studio-test]')")


@pytest.fixture(scope="module")
def page(studio_url, tmp_path_factory):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        errors = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(studio_url)
        pg.wait_for_selector("body[data-ready='1']")
        pg.js_errors = errors
        yield pg
        browser.close()


def _shot(page, tmp_path, name):
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    out = os.environ.get("MUSICVAE_STUDIO_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)
    assert path.stat().st_size > 10_000
    return path


def _roll(page) -> str:
    return page.evaluate("document.getElementById('roll').toDataURL()")


def _audio_peak(page) -> float:
    """Fetch what the <audio> element plays, decode it in the page, return its peak amplitude."""
    return page.evaluate("""async () => {
        const player = document.getElementById('player');
        const data = await (await fetch(player.src)).arrayBuffer();
        const ctx = new OfflineAudioContext(1, 1, 22050);
        const buf = await ctx.decodeAudioData(data);
        let peak = 0;
        for (const x of buf.getChannelData(0)) peak = Math.max(peak, Math.abs(x));
        return peak;
    }""")


def _clip_count(page) -> int:
    return page.locator("#clips .clip").count()


def test_studio_in_chromium(page, tmp_path):
    # Generate: four clips, a piano roll, a playable non-silent clip
    blank = _roll(page)
    # mel_2bar records no rhythm temperature: the control is offered, off (one temperature for every token)
    assert page.is_visible("#rhythm-on") and not page.is_checked("#rhythm-on")
    assert page.text_content("#rhythm-out") == "off" and page.is_disabled("#rhythm")
    # the "working…" badge never moves the page: shown on every request, it must not push the tools (and the
    # interpolation pad under a dragging mouse) down, as it did once the header's row was full
    top = page.evaluate("document.querySelector('main').getBoundingClientRect().top")
    page.evaluate("document.getElementById('busy').hidden = false")
    assert page.is_visible("#busy")
    assert page.evaluate("document.querySelector('main').getBoundingClientRect().top") == top
    page.evaluate("document.getElementById('busy').hidden = true")
    page.fill("#seed", "7")
    page.click("#gen-go")
    page.wait_for_function("document.querySelectorAll('#clips .clip').length >= 4")
    assert _roll(page) != blank
    assert page.evaluate("document.getElementById('player').src").endswith(".wav")
    assert _audio_peak(page) > 0.01
    _shot(page, tmp_path, "studio-generate")

    # Interpolate: move the slider; the preview switches to the new clip, its roll and its audio
    page.click("#tabs button[data-tool='interpolate']")
    before = _roll(page)
    page.evaluate("""() => { const s = document.getElementById('interp-slider');
                              s.value = '0.2'; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_function("document.getElementById('preview-name').textContent.includes('slerp 0.20')")
    page.evaluate("""() => { const s = document.getElementById('interp-slider');
                              s.value = '0.9'; s.dispatchEvent(new Event('input')); }""")
    page.wait_for_function("document.getElementById('preview-name').textContent.includes('slerp 0.90')")
    assert _roll(page) != before
    assert _audio_peak(page) > 0.01
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7)
    page.wait_for_function("document.getElementById('preview-name').textContent.includes('pad (')")
    _shot(page, tmp_path, "studio-interpolate")

    # Attribute: one slider up, apply to the selected clip -> a new clip named after the edit
    page.click("#tabs button[data-tool='attribute']")
    n = _clip_count(page)
    page.evaluate("""() => { const s = document.querySelector('#attr-sliders input[data-name="note_density"]');
                              s.value = '2'; s.dispatchEvent(new Event('input')); }""")
    page.click("#attr-go")
    page.wait_for_function(f"document.querySelectorAll('#clips .clip').length > {n}")
    assert "note_density +2.0" in page.text_content("#preview-name")
    _shot(page, tmp_path, "studio-attribute")

    # Drop a MIDI file onto the page: it becomes a clip; a non-MIDI file shows a message instead
    tune = NoteSequence.from_tuples([(60 + [0, 2, 4, 5, 7, 9, 11, 12][i % 8], 2 * i, 2 * i + 2) for i in range(32)])
    n = _clip_count(page)
    _drop(page, "dropped.mid", midi_bytes(tune))
    page.wait_for_function(f"document.querySelectorAll('#clips .clip').length > {n}")
    assert "dropped.mid" in page.text_content("#clips")
    assert "dropped.mid" in page.text_content("#preview-name")
    _drop(page, "notes.txt", b"these are not notes")
    page.wait_for_function("!document.getElementById('message').hidden && "
                           "document.getElementById('message').textContent.includes('not a MIDI file')")

    # Drag a clip out: dragstart hands the browser a DownloadURL (audio/midi:NAME.mid:URL) that serves the MIDI
    url = page.evaluate("""() => { const dt = new DataTransfer();
        document.querySelector('#clips .clip').dispatchEvent(new DragEvent('dragstart', {dataTransfer: dt, bubbles: true}));
        return dt.getData('DownloadURL'); }""")
    mime, name, href = url.split(":", 2)
    assert mime == "audio/midi" and name.endswith(".mid") and href.startswith("http://127.0.0.1:")
    assert page.evaluate("async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer()).slice(0, 4).join()",
                         href) == "77,84,104,100"  # MThd

    # Continue: select the dropped clip, extend it to 8 bars with the bundled composer
    page.click("#clips .clip:has-text('dropped.mid')")
    page.click("#tabs button[data-tool='continue']")
    n = _clip_count(page)
    page.fill("#cont-bars", "8")
    page.click("#cont-go")
    page.wait_for_function(f"document.querySelectorAll('#clips .clip').length > {n}")
    assert "continued" in page.text_content("#preview-name")
    assert page.evaluate("state.clips.get(state.order[0]).total_steps") == 128
    _shot(page, tmp_path, "studio-continue")

    # Key: D minor, generate; every note of the new clips is in the scale
    page.click("#tabs button[data-tool='generate']")
    page.select_option("#key-tonic", "D")
    page.select_option("#key-mode", "minor")
    page.fill("#temperature", "1.5")
    page.dispatch_event("#temperature", "input")
    n = _clip_count(page)
    page.click("#gen-go")
    page.wait_for_function(f"document.querySelectorAll('#clips .clip').length >= {n + 4}")
    pitches = page.evaluate("state.order.slice(0, 4).flatMap(id => state.clips.get(id).notes.map(n => n[2]))")
    assert pitches and {p % 12 for p in pitches} <= parse_key("D minor").pitch_classes
    _shot(page, tmp_path, "studio-key")

    # Another model: the temperature slider moves to that model's own default (mel_16bar records one)
    from musicvae.generation import TrainedModel

    own = TrainedModel.load("mel_16bar").default_temperature
    page.select_option("#key-tonic", "")
    page.select_option("#model", "mel_16bar")  # fires change
    assert float(page.input_value("#temperature")) == pytest.approx(own)
    assert page.text_content("#temperature-out") == f"{own:.2f}"
    assert f"default: {own:.2f}" in page.get_attribute("#temperature", "title")
    rhythm = TrainedModel.load("mel_16bar").rhythm_temperature  # and the rhythm control to its own
    assert page.is_visible("#rhythm") and page.is_checked("#rhythm-on")
    assert float(page.input_value("#rhythm")) == pytest.approx(rhythm)
    assert page.text_content("#rhythm-out") == f"{rhythm:.2f}"
    n = _clip_count(page)
    page.fill("#gen-n", "2")
    page.click("#gen-go")
    page.wait_for_function(f"document.querySelectorAll('#clips .clip').length >= {n + 2}")
    assert page.evaluate("state.clips.get(state.order[0]).total_steps") == 256
    _shot(page, tmp_path, "studio-16bar")
    assert page.js_errors == []


def _drop(page, name: str, data: bytes) -> None:
    page.evaluate("""([name, bytes]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], name, {type: 'audio/midi'}));
        for (const type of ['dragenter', 'dragover', 'drop'])
            document.body.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", [name, list(data)])
