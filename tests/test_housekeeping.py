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
    housekeeping.start_sweeper(housekeeping.TempSpace(tmp_path, 1 << 30), own=True, every_s=0.05, age_s=HOUR)
    deadline = time.monotonic() + 5
    while target.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not target.exists()


def test_gradio_uses_the_claimed_folder_when_the_app_is_imported() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "GRADIO_TEMP_DIR"}
    code = "import app; from gradio.utils import get_upload_folder; print(get_upload_folder())"
    shown = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == str(housekeeping.APP_TEMP_DIR)


def _files(folder: Path, sizes_and_ages: dict[str, tuple[int, float]]) -> None:
    for name, (size, age_s) in sizes_and_ages.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        _aged(path, age_s)


def test_the_folder_is_measured_and_full_at_its_cap(tmp_path: Path) -> None:
    _files(tmp_path, {"a/1.png": (600, 10), "b/2.png": (400, 20)})
    space = housekeeping.TempSpace(tmp_path, 1000)
    assert not space.full(), "nothing is known before the first measure"
    assert space.measure() == 1000 and space.full()
    (tmp_path / "a" / "1.png").unlink()
    assert space.measure() == 400 and not space.full()


def test_trimming_deletes_the_oldest_files_first(tmp_path: Path) -> None:
    _files(tmp_path, {"old/1": (300, 300), "mid/2": (300, 200), "new/3": (300, 100)})
    assert housekeeping.trim(tmp_path, 650) == 1
    assert not (tmp_path / "old" / "1").exists()
    assert (tmp_path / "mid" / "2").exists() and (tmp_path / "new" / "3").exists()
    assert housekeeping.trim(tmp_path, 0) == 2


def test_the_sweeper_trims_its_own_folder_over_the_cap_and_only_measures_another(tmp_path: Path) -> None:
    own, foreign = tmp_path / "own", tmp_path / "foreign"
    for folder in (own, foreign):
        _files(folder, {f"f{index}/image.png": (100, 60 * (10 - index)) for index in range(10)})
    own_space, foreign_space = housekeeping.TempSpace(own, 500), housekeeping.TempSpace(foreign, 500)
    housekeeping.start_sweeper(own_space, own=True, every_s=60, age_s=HOUR, measure_s=0.05)
    housekeeping.start_sweeper(foreign_space, own=False, every_s=60, age_s=HOUR, measure_s=0.05)
    deadline = time.monotonic() + 5
    while (own_space.used != 400 or foreign_space.used != 1000) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert own_space.used == 400, "trimmed to 80 % of the cap, the oldest files first"
    assert sorted(path.parent.name for path in own.rglob("*.png")) == ["f6", "f7", "f8", "f9"]
    assert foreign_space.used == 1000 and foreign_space.full(), "a folder that is not the app's is left alone"
