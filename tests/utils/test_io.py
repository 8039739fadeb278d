"""Atomic writes: content lands whole, permissions are ordinary, failures leave the old file."""

import os
import stat

import numpy as np
import pytest

from musicvae.utils.io import atomic_save_npz, atomic_write, atomic_write_json, load_npz


def test_atomic_write_has_ordinary_permissions(tmp_path):
    path = atomic_write_json(tmp_path / "a.json", {"x": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "keep.bin"
    path.write_bytes(b"old")

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]


def test_npz_round_trip_refuses_object_arrays(tmp_path):
    atomic_save_npz(tmp_path / "x.npz", a=np.arange(3))
    assert load_npz(tmp_path / "x.npz")["a"].tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="pickle"):
        atomic_save_npz(tmp_path / "y.npz", a=np.array([{}, 1], dtype=object))
