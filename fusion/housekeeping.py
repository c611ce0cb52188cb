"""Old temporary files swept from the app's own Gradio folder, so a long-running Space does not fill its disk.

Gradio's ``delete_cache`` sweeps only the files it lists for the app, and 6.31 does not list the files written to a
session's own copy of a component: every image that ``/generate`` streams to its gallery is one of them, and they
stay for the life of the disk (``benchmarks/results/load.md``). So ``python app.py`` gives Gradio a temporary folder
of its own (``GRADIO_TEMP_DIR``, unless it is already set, when the folder may be shared with other programs and is
left alone) and sweeps it on the ``delete_cache`` schedule: files older than the age go, and the folders they leave
empty.

Within the hour, anyone may still upload 25 MB after 25 MB. So the folder's total size is measured every minute
(:class:`TempSpace`): past its cap, uploads are refused (``fusion/ui/http.py``) and, in the app's own folder, the
oldest files are deleted until it is back under 80 % of the cap.

This module must not import Gradio: the folder is named before Gradio is imported, which reads it then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import MutableMapping
from pathlib import Path

log = logging.getLogger(__name__)

APP_TEMP_DIR = Path(tempfile.gettempdir()) / "fusion-gradio"
#: A folder over its cap is trimmed down to this share of it, so that it is not trimmed again at once.
TRIM_TO = 0.8


class TempSpace:
    """Gradio's temporary folder and the most it may hold; measured by the sweeper, read by the upload guard."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.used = 0

    def measure(self) -> int:
        """Add up the folder's files now (a few tenths of a second for ten thousand files)."""
        self.used = sum(size for _path, size, _mtime in _files(self.folder))
        return self.used

    def full(self) -> bool:
        """Whether the last measure reached the cap."""
        return self.used >= self.max_bytes


def _files(folder: Path) -> list[tuple[Path, int, float]]:
    """Every file under ``folder`` with its size and modification time (files that vanish meanwhile are skipped)."""
    found = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue
            found.append((path, stat.st_size, stat.st_mtime))
    return found


def trim(folder: Path, max_bytes: int) -> int:
    """Delete the oldest files under ``folder`` until the rest hold at most ``max_bytes``; the count deleted."""
    files = sorted(_files(folder), key=lambda entry: entry[2])
    total = sum(size for _path, size, _mtime in files)
    removed = 0
    for path, size, _mtime in files:
        if total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
        total -= size
    return removed


def claim_temp_dir(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Point Gradio at the app's own temporary folder; the folder, or ``None`` when ``GRADIO_TEMP_DIR`` was set."""
    if environ.get("GRADIO_TEMP_DIR"):
        return None
    environ["GRADIO_TEMP_DIR"] = str(APP_TEMP_DIR)
    return APP_TEMP_DIR


def sweep(folder: Path, *, age_s: float, now: float | None = None) -> int:
    """Delete files under ``folder`` last modified more than ``age_s`` seconds ago, then empty folders; the count."""
    cutoff = (time.time() if now is None else now) - age_s
    removed = 0
    for root, _dirs, files in os.walk(folder, topdown=False):
        here = Path(root)
        try:
            # Read before the files go: removing them makes the folder look new.
            old_folder = here != folder and here.lstat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        for name in files:
            path = here / name
            try:
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # gone already (Gradio's own sweep, a concurrent request)
                continue
        if old_folder:  # never a fresh folder Gradio is about to write into
            with contextlib.suppress(OSError):  # not empty, or gone
                here.rmdir()
    return removed


def start_sweeper(
    space: TempSpace, *, own: bool, every_s: float, age_s: float, measure_s: float = 60
) -> threading.Thread:
    """In a daemon thread: measure ``space`` every ``measure_s`` seconds; when the folder is the app's ``own``,
    also sweep files older than ``age_s`` every ``every_s`` seconds and trim it when it is over its cap."""
    folder = space.folder

    def run() -> None:
        next_sweep = 0.0
        while True:
            try:
                if own and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + every_s
                    if removed := sweep(folder, age_s=age_s):
                        log.info("Swept %d temporary files older than %g s from %s", removed, age_s, folder)
                if space.measure() > space.max_bytes and own:
                    removed = trim(folder, int(space.max_bytes * TRIM_TO))
                    cap_mb = space.max_bytes >> 20
                    log.warning("%s was over its %d MB cap: deleted its %d oldest files", folder, cap_mb, removed)
                    space.measure()
            except OSError as error:  # a sweep that fails must not stop the next one
                log.warning("Sweeping %s failed: %s", folder, error)
            time.sleep(min(measure_s, every_s) if own else measure_s)

    thread = threading.Thread(target=run, name="fusion-sweeper", daemon=True)
    thread.start()
    return thread
