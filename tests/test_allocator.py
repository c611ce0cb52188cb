"""fusion.allocator: glibc's mmap threshold is pinned in a fresh process, and an explicit environment wins."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)


def _fix_in_fresh_process(**env: str) -> str:
    code = "from fusion.allocator import fix_mmap_threshold; print(fix_mmap_threshold())"
    environment = {key: value for key, value in os.environ.items() if key != "MALLOC_MMAP_THRESHOLD_"} | env
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_threshold_is_fixed_on_glibc() -> None:
    assert _fix_in_fresh_process() == "True"


def test_an_explicit_environment_setting_is_left_alone() -> None:
    assert _fix_in_fresh_process(MALLOC_MMAP_THRESHOLD_="65536") == "False"
