"""Piano-roll PNGs: sizes follow the documented formula, strips stack rows, empty rolls draw."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from musicvae.music.sequence import NoteSequence, TrackInfo
from musicvae.render import RenderError, piano_roll_image, piano_roll_strip
from musicvae.render import pianoroll as pr


def _size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def _blue_pixels(path) -> int:
    """Pixels close to the first track colour (#1f77b4, drawn at >= 45 % opacity over white/grey)."""
    px = _pixels(path)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    return int(((b - r > 60) & (b > g)).sum())


def test_size_follows_the_formula_for_two_lengths(tmp_path):
    two = NoteSequence.from_tuples([(60, 0, 4), (64, 4, 8)], total_steps=32)
    sixteen = NoteSequence.from_tuples([(60, 0, 4), (64, 4, 8), (62, 200, 256)], total_steps=256)
    # pitches 60-64 -> 58..66 with the margin -> widened to one octave: 56..68, 13 rows
    height = pr.TOP + 13 * 8 + pr.BOTTOM
    assert pr.pitch_range(two) == (56, 68)
    assert _size(piano_roll_image(two, tmp_path / "a.png", title="two bars")) == (640, height)  # min_width
    assert _size(piano_roll_image(sixteen, tmp_path / "b.png")) == (pr.LEFT + 256 * 6 + pr.RIGHT, height)
    assert _size(piano_roll_image(two, tmp_path / "c.png", pixels_per_step=30, pixels_per_pitch=5)) == (
        pr.LEFT + 32 * 30 + pr.RIGHT, pr.TOP + 13 * 5 + pr.BOTTOM)
    for seq in (two, sixteen):
        assert _size(piano_roll_image(seq, tmp_path / "d.png")) == pr.piano_roll_size(seq)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png", "d.png"]


def test_pitch_range_grows_with_the_notes(tmp_path):
    wide = NoteSequence.from_tuples([(40, 0, 4), (90, 4, 8)], total_steps=32)
    assert pr.pitch_range(wide) == (38, 92)
    assert _size(piano_roll_image(wide, tmp_path / "w.png"))[1] == pr.TOP + 55 * 8 + pr.BOTTOM
    edge = NoteSequence.from_tuples([(0, 0, 4), (127, 4, 8)], total_steps=16)
    assert pr.pitch_range(edge) == (0, 127)
    low = NoteSequence.from_tuples([(1, 0, 4)], total_steps=16)
    assert pr.pitch_range(low) == (0, 12)
    assert _size(piano_roll_image(edge, tmp_path / "e.png")) == pr.piano_roll_size(edge)


def test_notes_are_drawn(tmp_path):
    seq = NoteSequence.from_tuples([(60, 0, 16), (67, 16, 32)], total_steps=32)
    empty = NoteSequence.from_tuples([], total_steps=32)
    assert _blue_pixels(piano_roll_image(seq, tmp_path / "n.png")) > 200
    assert _blue_pixels(piano_roll_image(empty, tmp_path / "e.png")) == 0


def test_empty_sequences_render(tmp_path):
    empty = NoteSequence.from_tuples([], total_steps=32)
    assert pr.pitch_range(empty) == pr.EMPTY_RANGE
    assert _size(piano_roll_image(empty, tmp_path / "e.png")) == (640, pr.TOP + 13 * 8 + pr.BOTTOM)
    no_tracks = NoteSequence(np.zeros((0, 5), np.int32), [], 0)
    assert _size(piano_roll_image(no_tracks, tmp_path / "z.png")) == pr.piano_roll_size(no_tracks)
    assert _size(piano_roll_strip([empty, empty], tmp_path / "s.png")) == pr.piano_roll_size([empty, empty])


def test_drums_get_their_own_band(tmp_path):
    drums = NoteSequence.from_tuples([(36, 0, 1), (38, 4, 5), (42, 2, 3), (42, 6, 7)], is_drum=True,
                                     total_steps=16)
    # drums only: no pitched band, one row per drum pitch used
    assert pr.pitch_range(drums) is None
    assert _size(piano_roll_image(drums, tmp_path / "d.png")) == (640, pr.TOP + 3 * 8 + pr.BOTTOM)
    trio = NoteSequence.from_tracks([
        (TrackInfo(0, False, "melody"), [(72, 0, 4), (74, 4, 8)]),
        (TrackInfo(33, False, "bass"), [(36, 0, 8)]),
        (TrackInfo(0, True, "drums"), [(36, 0, 1), (38, 4, 5)]),
    ], total_steps=32)
    lo, hi = pr.pitch_range(trio)
    assert (lo, hi) == (34, 76)  # drum pitches do not widen the pitch range
    expected = (640, pr.TOP + (hi - lo + 1) * 8 + pr.BAND_GAP + 2 * 8 + pr.BOTTOM)
    assert _size(piano_roll_image(trio, tmp_path / "t.png", title="trio")) == expected


def test_strip_stacks_one_row_per_sequence(tmp_path):
    seqs = [NoteSequence.from_tuples([(60 + i, 0, 8), (64 + i, 8, 16)], total_steps=32) for i in range(5)]
    lo, hi = pr.pitch_range(seqs)
    band = (hi - lo + 1) * 8
    heights = []
    for n in (1, 2, 5):
        titles = [f"α={i / max(1, n - 1):.2f}" for i in range(n)]
        w, h = _size(piano_roll_strip(seqs[:n], tmp_path / f"s{n}.png", titles=titles))
        assert w == 640
        assert h == pr.TOP + n * (pr.ROW_HEAD + band) + (n - 1) * pr.ROW_GAP + pr.BOTTOM
        heights.append(h)
    assert heights[0] < heights[1] < heights[2]
    assert heights[2] - heights[1] == 3 * (heights[1] - heights[0])  # every row adds the same height
    # rows share one pitch axis: the range covers every sequence, not just the first
    assert (lo, hi) == (58, 70)  # 60 (first row) - 2 .. 68 (last row) + 2
    # sequences of different lengths share the longest time axis
    long = NoteSequence.from_tuples([(60, 0, 4)], total_steps=256)
    assert _size(piano_roll_strip([seqs[0], long], tmp_path / "l.png"))[0] == pr.LEFT + 256 * 6 + pr.RIGHT


def test_strip_rejects_bad_input(tmp_path):
    seq = NoteSequence.from_tuples([(60, 0, 4)])
    with pytest.raises(RenderError, match="no sequences"):
        piano_roll_strip([], tmp_path / "x.png")
    with pytest.raises(RenderError, match="1 titles for 2"):
        piano_roll_strip([seq, seq], tmp_path / "x.png", titles=["only one"])
    assert not (tmp_path / "x.png").exists()
