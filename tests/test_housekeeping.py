"""fusion.housekeeping: the app's own Gradio folder, and a sweep that removes only what is old."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fusion import housekeeping

HOUR = 3600


def _aged(path: Path, seconds: float) -> Path:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))
    return path


def test_the_app_claims_a_folder_only_when_none_is_set() -> None:
    unset: dict[str, str] = {}
    assert housekeeping.claim_temp_dir(unset) == housekeeping.APP_TEMP_DIR
    assert unset["GRADIO_TEMP_DIR"] == str(housekeeping.APP_TEMP_DIR)
    chosen = {"GRADIO_TEMP_DIR": "/srv/shared"}
    assert housekeeping.claim_temp_dir(chosen) is None
    assert chosen == {"GRADIO_TEMP_DIR": "/srv/shared"}


def test_sweep_removes_old_files_and_the_folders_they_leave_empty(tmp_path: Path) -> None:
    old_dir, new_dir, empty_new = tmp_path / "aaa", tmp_path / "bbb", tmp_path / "ccc"
    for folder in (old_dir, new_dir, empty_new):
        folder.mkdir()
    (old_dir / "image.png").write_bytes(b"old")
    _aged(old_dir / "image.png", 2 * HOUR)
    (new_dir / "image.png").write_bytes(b"new")
    (new_dir / "old.webp").write_bytes(b"old")
    _aged(new_dir / "old.webp", 2 * HOUR)
    _aged(old_dir, 2 * HOUR)

    assert housekeeping.sweep(tmp_path, age_s=HOUR) == 2
    assert not old_dir.exists()  # emptied and old itself
    assert (new_dir / "image.png").exists() and not (new_dir / "old.webp").exists()
    assert empty_new.exists()  # a fresh folder Gradio may be about to write into
    assert tmp_path.exists()


def test_the_sweeper_runs_in_the_background(tmp_path: Path) -> None:
    target = tmp_path / "x" / "result.png"
    target.parent.mkdir()
    target.write_bytes(b"png")
    _aged(target, 2 * HOUR)
    housekeeping.start_sweeper(tmp_path, every_s=0.05, age_s=HOUR)
    deadline = time.monotonic() + 5
    while target.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not target.exists()


def test_gradio_uses_the_claimed_folder_when_the_app_is_imported() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "GRADIO_TEMP_DIR"}
    code = "import app; from gradio.utils import get_upload_folder; print(get_upload_folder())"
    shown = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == str(housekeeping.APP_TEMP_DIR)
