"""``--resume``: which checkpoint to continue from, and whether it is the same run.

Place in the flow: ``training.trainer`` (``--resume``) -> this
module -> ``training.checkpoint`` (load).

* The checkpoint ``latest.json`` names is tried first, then every step dir newest first; the
  first that loads intact is used, and a notice says when that is not latest.json's (garbage,
  pointing at a missing step, an emptied or corrupt step dir).
* Before any weights are read, the stored config is compared with the requested one: another
  dataset (the prepared folder's fingerprint), preset, seed, model or data config is refused
  with a one-line diff, unless ``--force``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..config import FORMERLY, migrate
from ..utils.run_dirs import read_trainer
from .checkpoint import CheckpointError, read_config, resume_candidates

# train.* keys that make a different run (others, e.g. steps or eval cadence, may change on resume; so may
# the family settings that were train.* keys before the family sections, e.g. musae.critic_steps)
_RUN_KEYS = ("seed",)


def config_diff(saved: dict, now: dict, saved_data: str | None, now_data: str | None) -> list[str]:
    """``key old -> new`` for each setting that makes another run (dataset, preset, seed, model, data)."""
    out = []
    if saved_data and now_data and saved_data != now_data:
        out.append(f"dataset {saved_data} -> {now_data}")
    if saved.get("preset") != now.get("preset"):
        out.append(f"preset {saved.get('preset')} -> {now.get('preset')}")
    saved = migrate(saved)  # a run from before the family sections: its flat keys in their sections
    for section in [s for s in now if s != "preset"]:  # model, data, train and the family's own section
        old, new = saved.get(section) or {}, now.get(section) or {}
        keys = _RUN_KEYS if section == "train" else [
            k for k in sorted(set(old) | set(new)) if FORMERLY.get(k) != "train"]
        for key in keys:
            if key in old and old.get(key) != new.get(key):
                out.append(f"{section}.{key} {old.get(key)!r} -> {new.get(key)!r}")
    return out


def data_identity(manifest: dict) -> str | None:
    """What names a prepared dataset in a checkpoint: its manifest's fingerprint."""
    fp = manifest.get("fingerprint")
    return str(fp) if fp else None


class ResumeRefused(ValueError):
    """One-line reason a run cannot be resumed."""


def load_resumable(run_dir: Path, config: dict, data_id: str | None, force: bool,
                   load: Callable[[Path], dict[str, Any]]) -> tuple[dict[str, Any], Path, str | None]:
    """Load the newest intact checkpoint with ``load(step_dir)``; returns (state, step dir, notice)."""
    candidates, problem = resume_candidates(run_dir)
    if not candidates:
        raise ResumeRefused(f"{run_dir}: --resume but no {'intact ' if problem else ''}checkpoint there"
                            + (f" ({problem})" if problem else ""))
    errors: list[str] = []
    for step_dir in candidates:
        try:
            saved = read_config(step_dir)
            # fails in the loop too: a corrupt trainer.json is one more reason to fall back
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        saved_data = read_trainer(step_dir).get("data_id")  # read intact just above
        diff = config_diff(saved, config, saved_data if isinstance(saved_data, str) else None, data_id) if saved else []
        if diff and not force:
            raise ResumeRefused(f"{step_dir}: was trained with another model or data config ({'; '.join(diff)}); "
                                f"start a new run dir, or pass --force to resume anyway")
        try:
            state = load(step_dir)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        notice = None
        if problem or errors:
            notice = f"{problem or errors[0]}; resuming from {step_dir.name}, the newest intact checkpoint"
        return state, step_dir, notice
    raise ResumeRefused(f"cannot resume: {errors[0]}")
