"""Tiny random-weight twins of every registry model, written with ``save_pretrained`` and reused when present.

They let tests, CI and offline smoke runs (``FUSION_MODELS=tiny``) go through exactly the product's loading code.
Their outputs are noise: the weights are random.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Protocol

#: Written last into a finished twin's folder, so a half-written folder is never mistaken for a model.
COMPLETE_MARKER = ".fusion-tiny-complete"
SEED = 0
_build_lock = threading.Lock()


class Buildable(Protocol):
    """What a twin is built from: a registry entry (``fusion.registry.ModelSpec``), seen from below it."""

    key: str

    def build_tiny(self, folder: Path) -> None: ...


def ensure_tiny(spec: Buildable, folder: Path) -> Path:
    """Build ``spec``'s tiny twin into ``folder`` unless a complete one is already there."""
    if (folder / COMPLETE_MARKER).exists():
        return folder
    with _build_lock:
        if (folder / COMPLETE_MARKER).exists():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            spec.build_tiny(staging)
            (staging / COMPLETE_MARKER).write_text(spec.key)
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        except FileExistsError:
            pass  # another process finished the same twin first; its copy is as good as ours
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder
