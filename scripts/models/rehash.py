"""Record the size and sha256 of a model dir's safetensors files in its model.json.

Usage: python scripts/models/rehash.py src/musicvae/assets/models/*/

``musicvae export`` (and ``card.py``) write these checksums themselves; run this only after
replacing a bundled model's ``model.safetensors`` or ``attributes.safetensors`` by hand (loading
refuses a file whose checksum does not match: issue 20, hostile model folders).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def rehash(folder: Path) -> dict:
    meta_path = folder / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["files"] = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                     for name in ("model.safetensors", "attributes.safetensors")
                     if (folder / name).is_file() for data in [(folder / name).read_bytes()]}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta["files"]


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg, ", ".join(rehash(Path(arg))))
