"""A TensorFlow checkpoint reader in numpy: the tensor-bundle format, without TensorFlow.

Place in the flow: magenta's published checkpoint (``PREFIX.index`` + ``PREFIX.data-*``) ->
:func:`read_checkpoint` -> ``{variable name: numpy array}`` -> :mod:`.mapping` -> our modules.

The format (TensorFlow's ``tensor_bundle``, TF 1.x and 2.x alike):

* ``PREFIX.index`` is a LevelDB-style sorted table: data blocks of prefix-compressed
  ``(key, value)`` entries with a restart array, each followed by a 5-byte trailer
  (compression byte, masked crc32c); an index block of ``(last key, block handle)``; a
  48-byte footer (metaindex and index handles, then the magic ``0xdb4775248b80fb57``).
* The entry under the empty key is a ``BundleHeaderProto`` (number of shards, endianness);
  every other key is a variable name whose value is a ``BundleEntryProto`` (dtype, shape,
  shard id, offset, size, masked crc32c of the bytes).
* ``PREFIX.data-0000S-of-0000N`` hold the raw little-endian tensor bytes.

The few protobuf fields needed are decoded by hand (varints and length-delimited fields).
Every block's checksum is verified; a tensor's checksum is verified when a crc32c module
(``google-crc32c`` or ``crc32c``) is installed, or in pure Python for tensors up to 1 MiB.
Anything malformed raises :class:`CheckpointFormatError` naming the file and the reason.
"""

from __future__ import annotations

import os
import struct
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER = 5
PURE_CRC_LIMIT = 1 << 20  # bytes: larger tensors are checked only with a native crc32c module

# TensorFlow DataType enum -> numpy dtype (the ones a checkpoint of weights holds)
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
          10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
DT_STRING = 7
DT_BFLOAT16 = 14


class CheckpointFormatError(ValueError):
    """A file that is not a readable TensorFlow tensor-bundle checkpoint."""


# --------------------------------------------------------------------------- crc32c


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def _crc32c_py(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _native_crc32c():
    try:
        import google_crc32c

        return lambda data: google_crc32c.value(bytes(data))
    except ImportError:
        pass
    try:
        import crc32c

        return crc32c.crc32c
    except ImportError:
        return None


_NATIVE = _native_crc32c()


def crc32c(data: bytes) -> int:
    return _NATIVE(data) if _NATIVE is not None else _crc32c_py(data)


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def can_check(size: int) -> bool:
    return _NATIVE is not None or size <= PURE_CRC_LIMIT


# --------------------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """``(field number, wire type, value)`` of a protobuf message (value: int or bytes)."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + n]), pos + n
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf field")
        out.append((number, wire, value))
    return out


@dataclass(frozen=True)
class Entry:
    """One variable's ``BundleEntryProto``."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc: int | None
    sliced: bool


def _shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, wire, value in _fields(buf):
        if number == 2 and wire == 2:  # Dim
            size = 0
            for n, w, v in _fields(value):
                if n == 1 and w == 0:
                    size = v - (1 << 64) if v >= 1 << 63 else v
            dims.append(size)
        elif number == 3 and value:
            raise ValueError("unknown rank")
    return tuple(dims)


_ENTRY_INTS = {1: "dtype", 3: "shard", 4: "offset", 5: "size", 6: "crc"}  # BundleEntryProto's integer fields


def _entry(name: str, buf: bytes) -> Entry:
    fields: dict = {"dtype": 0, "shape": (), "shard": 0, "offset": 0, "size": 0, "crc": None, "sliced": False}
    for number, wire, value in _fields(buf):
        if number in _ENTRY_INTS:
            fields[_ENTRY_INTS[number]] = int(value)
        elif number == 2:
            fields["shape"] = _shape(value)
        elif number == 7:
            fields["sliced"] = True
    return Entry(name, **fields)


# --------------------------------------------------------------------------- the table (.index)


def _block(data: bytes, offset: int, size: int, where: Path) -> bytes:
    end = offset + size
    if offset < 0 or end + BLOCK_TRAILER > len(data):
        raise CheckpointFormatError(f"{where}: truncated (a block ends past the end of the file)")
    block, kind = data[offset:end], data[end]
    stored = struct.unpack_from("<I", data, end + 1)[0]
    if masked_crc32c(data[offset:end + 1]) != stored:
        raise CheckpointFormatError(f"{where}: corrupt (a block's checksum does not match)")
    if kind != 0:
        raise CheckpointFormatError(f"{where}: compressed blocks (type {kind}) are not supported")
    return block


def _block_entries(block: bytes, where: Path) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CheckpointFormatError(f"{where}: corrupt (empty block)")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise CheckpointFormatError(f"{where}: corrupt (bad restart array)")
    out, pos, key = [], 0, b""
    try:
        while pos < limit:
            shared, pos = _varint(block, pos)
            non_shared, pos = _varint(block, pos)
            n, pos = _varint(block, pos)
            if shared > len(key) or pos + non_shared + n > limit:
                raise ValueError("entry overruns its block")
            key = key[:shared] + block[pos:pos + non_shared]
            pos += non_shared
            out.append((key, block[pos:pos + n]))
            pos += n
    except ValueError as exc:
        raise CheckpointFormatError(f"{where}: corrupt ({exc})") from None
    return out


def read_index(index_path: str | os.PathLike) -> tuple[int, list[Entry]]:
    """``(number of shards, entries)`` from a checkpoint's ``.index`` file."""
    where = Path(index_path)
    try:
        data = where.read_bytes()
    except OSError as exc:
        raise CheckpointFormatError(f"{where}: cannot read ({exc.strerror or exc})") from None
    if len(data) < FOOTER_SIZE:
        raise CheckpointFormatError(f"{where}: not a TensorFlow checkpoint index (too short)")
    if struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise CheckpointFormatError(f"{where}: not a TensorFlow checkpoint index (no table magic at its end; "
                                    f"truncated or another kind of file)")
    footer = data[len(data) - FOOTER_SIZE:]
    try:
        _, pos = _varint(footer, 0)  # metaindex offset
        _, pos = _varint(footer, pos)  # metaindex size
        index_offset, pos = _varint(footer, pos)
        index_size, pos = _varint(footer, pos)
    except ValueError:
        raise CheckpointFormatError(f"{where}: corrupt footer") from None
    num_shards, entries, header = 1, [], False
    for _, handle in _block_entries(_block(data, index_offset, index_size, where), where):
        try:
            offset, pos = _varint(handle, 0)
            size, _ = _varint(handle, pos)
        except ValueError:
            raise CheckpointFormatError(f"{where}: corrupt block handle") from None
        for key, value in _block_entries(_block(data, offset, size, where), where):
            try:
                if key == b"":
                    header = True
                    for number, _, v in _fields(value):
                        if number == 1:
                            num_shards = int(v)
                        elif number == 2 and v != 0:
                            raise CheckpointFormatError(f"{where}: big-endian checkpoints are not supported")
                else:
                    entries.append(_entry(key.decode("utf-8"), value))
            except (ValueError, UnicodeDecodeError) as exc:
                if isinstance(exc, CheckpointFormatError):
                    raise
                raise CheckpointFormatError(f"{where}: corrupt entry {key[:80]!r} ({exc})") from None
    if not header:
        raise CheckpointFormatError(f"{where}: not a tensor-bundle index (no bundle header)")
    if num_shards < 1:
        raise CheckpointFormatError(f"{where}: corrupt header ({num_shards} shards)")
    return num_shards, entries


# --------------------------------------------------------------------------- tensors


def shard_path(prefix: str | os.PathLike, shard: int, num_shards: int) -> Path:
    return Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}")


def read_checkpoint(prefix: str | os.PathLike, *, names: set[str] | None = None,
                    verify: bool = True) -> dict[str, np.ndarray]:
    """Every variable (or those in ``names``) of the checkpoint at ``prefix`` as numpy arrays.

    ``prefix`` is what TensorFlow calls the checkpoint path (``.../model.ckpt-1234``), without
    ``.index``. String tensors and partitioned (sliced) variables are skipped.
    """
    prefix = str(prefix)
    num_shards, entries = read_index(prefix + ".index")
    sizes: dict[int, int] = {}
    files: dict[int, object] = {}
    out: dict[str, np.ndarray] = {}
    with ExitStack() as opened:  # the shard files, closed on the way out
        for e in entries:
            if (names is not None and e.name not in names) or e.dtype == DT_STRING or e.sliced:
                continue
            if e.dtype == DT_BFLOAT16:
                raise CheckpointFormatError(f"{prefix}.index: {e.name} is bfloat16, which this reader does not convert")
            if e.dtype not in DTYPES:
                raise CheckpointFormatError(f"{prefix}.index: {e.name} has an unsupported dtype (TF enum {e.dtype})")
            if not 0 <= e.shard < num_shards:
                raise CheckpointFormatError(f"{prefix}.index: {e.name} lives in shard {e.shard} of {num_shards}")
            path = shard_path(prefix, e.shard, num_shards)
            if e.shard not in files:
                try:
                    files[e.shard] = opened.enter_context(open(path, "rb"))
                    sizes[e.shard] = os.fstat(files[e.shard].fileno()).st_size
                except OSError as exc:
                    raise CheckpointFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
            dtype = np.dtype(DTYPES[e.dtype]).newbyteorder("<")
            count = int(np.prod(e.shape, dtype=np.int64)) if e.shape else 1
            if any(d < 0 for d in e.shape) or count * dtype.itemsize != e.size:
                raise CheckpointFormatError(f"{prefix}.index: {e.name}: {e.size} bytes do not make a {dtype} "
                                            f"tensor of shape {e.shape}")
            if e.offset < 0 or e.offset + e.size > sizes[e.shard]:
                raise CheckpointFormatError(f"{path}: truncated ({e.name} ends at byte {e.offset + e.size}, "
                                            f"the file has {sizes[e.shard]})")
            f = files[e.shard]
            f.seek(e.offset)
            raw = f.read(e.size)
            if len(raw) != e.size:
                raise CheckpointFormatError(f"{path}: truncated while reading {e.name}")
            if verify and e.crc is not None and can_check(e.size) and masked_crc32c(raw) != e.crc:
                raise CheckpointFormatError(f"{path}: corrupt ({e.name}'s checksum does not match)")
            out[e.name] = np.frombuffer(raw, dtype=dtype).reshape(e.shape).astype(dtype.newbyteorder("="))
    return out
