"""``RUN_DIR/metrics.jsonl`` that belongs to one run: run id, truncation on resume, torn tails.

Place in the flow: the trainer (``training.trainer``) appends one
JSON line per log and eval record; ``--resume`` rewrites the file to what the checkpoint it
resumes from had seen; readers (experiments, tests) read it line by line.

* Every line carries ``"run"``, an id drawn when the run starts and stored in its checkpoints,
  so lines of two runs can never mix: a fresh run in a folder whose earlier run died before its
  first checkpoint replaces that run's lines (no checkpoint: nothing to continue).
* ``--resume`` keeps only the lines of the checkpoint's run up to the checkpoint's step (later
  ones are redone) and drops a torn or unreadable line (a kill or a full disk mid-write).
* A line is written with one ``write`` call; if it fails (disk full), the file is cut back to
  its previous length, so a torn line is never left behind by this process.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import suppress
from pathlib import Path

from ..utils.io import atomic_write

LOG_FILE = "metrics.jsonl"


def read_records(path: str | os.PathLike) -> tuple[list[dict], int]:
    """Every readable JSON-object line of a metrics log and how many lines were skipped (torn/garbage)."""
    records, bad = [], 0
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            bad += 1
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step", 0), int):
            records.append(rec)
        else:
            bad += 1
    return records, bad


class MetricsLog:
    """Append-only JSONL log of one run (see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike, run_id: str | None = None):
        self.path = Path(run_dir) / LOG_FILE
        self.run_id = run_id or uuid.uuid4().hex[:12]

    def _drop_temps(self) -> None:
        """Remove a ``.metrics.jsonl.*.tmp`` left by a kill during a rewrite (only this run's one
        writer, holding the --out lock, rewrites the log)."""
        for tmp in self.path.parent.glob(f".{LOG_FILE}.*.tmp"):
            with suppress(OSError):
                tmp.unlink()

    def start_fresh(self) -> str | None:
        """A new run: lines left by an earlier run that saved no checkpoint are removed (returns a
        notice saying so, or None)."""
        self._drop_temps()
        if not self.path.exists():
            return None
        records, _ = read_records(self.path)
        self.path.unlink()
        return (f"{self.path}: removed {len(records)} line(s) of an earlier run that stopped before its first "
                f"checkpoint") if records else None

    def resume(self, step: int) -> str | None:
        """Keep the lines of this run (and lines without a run id: older versions) up to ``step``;
        drop torn lines. Returns a notice when something other than redone steps was dropped."""
        self._drop_temps()
        records, bad = read_records(self.path)
        keep = [r for r in records if r.get("run", self.run_id) == self.run_id and r.get("step", 0) <= step]
        foreign = sum(1 for r in records if r.get("run", self.run_id) != self.run_id)
        if not self.path.exists():
            return None
        text = "".join(json.dumps(r) + "\n" for r in keep)
        atomic_write(self.path, lambda fh: fh.write(text), mode="w")
        why = []
        if bad:
            why.append(f"{bad} torn or unreadable line(s)")
        if foreign:
            why.append(f"{foreign} line(s) of another run")
        return f"{self.path}: dropped {' and '.join(why)}" if why else None

    def append(self, record: dict) -> None:
        """Write one line (with this run's id) in one call; on failure cut the file back and raise."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps({**record, "run": self.run_id}) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(28, "No space left on device (short write)", str(self.path))
            except OSError:
                with suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
