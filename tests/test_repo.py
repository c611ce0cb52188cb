"""The repository keeps its promises to newcomers: README's commands, CI, the Space's front matter."""

from __future__ import annotations

import re
from pathlib import Path

import gradio

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _bash_blocks()[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_readme_launch_command_starts_app_py() -> None:
    assert _bash_blocks()[0].strip().endswith("python app.py")


def test_front_matter_pins_the_gradio_we_test_with() -> None:
    front_matter = README.split("---")[1]
    assert f"sdk_version: {gradio.__version__}" in front_matter
    assert "app_file: app.py" in front_matter
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    names = {re.split(r"[<>=~!\[ ]", line.strip())[0].lower() for line in lines if line.strip() and line[0] != "#"}
    assert "gradio" not in names, "the Space pins gradio through sdk_version"
    assert "opencv-python-headless" in names and "opencv-python" not in names


def test_every_asset_has_its_source_noted() -> None:
    sources = (ROOT / "assets" / "SOURCES.md").read_text()
    for image in (ROOT / "assets").glob("*.png"):
        assert f"`{image.name}`" in sources
