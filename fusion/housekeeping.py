"""Old temporary files swept from the app's own Gradio folder, so a long-running Space does not fill its disk.

Gradio's ``delete_cache`` sweeps only the files it lists for the app, and 6.31 does not list the files written to a
session's own copy of a component: every image that ``/generate`` streams to its gallery is one of them, and they
stay for the life of the disk (``benchmarks/results/load.md``). So ``python app.py`` gives Gradio a temporary folder
of its own (``GRADIO_TEMP_DIR``, unless it is already set, when the folder may be shared with other programs and is
left alone) and sweeps it on the ``delete_cache`` schedule: files older than the age go, and the folders they leave
empty. This module must not import Gradio: the folder is named before Gradio is imported, which reads it then.
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


def start_sweeper(folder: Path, *, every_s: float, age_s: float) -> threading.Thread:
    """Sweep ``folder`` now and then every ``every_s`` seconds, in a daemon thread."""

    def run() -> None:
        while True:
            try:
                removed = sweep(folder, age_s=age_s)
            except OSError as error:  # a sweep that fails must not stop the next one
                log.warning("Sweeping %s failed: %s", folder, error)
            else:
                if removed:
                    log.info("Swept %d temporary files older than %g s from %s", removed, age_s, folder)
            time.sleep(every_s)

    thread = threading.Thread(target=run, name="fusion-sweeper", daemon=True)
    thread.start()
    return thread
