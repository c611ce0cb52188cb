# ruff: noqa: RUF001  (the Chinese text is written with full-width punctuation, as Chinese is)
"""The System tab's view of ``/status`` (issues 16 and 19): models with what their load hooks hold and what is
derived from them, the ahead-of-time compiled packages on disk (faked here: listing reads only their
``meta.json``), and the tab's text in Chinese. The real package, built and attached, is in tests/test_compiled.py."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from fusion import compiled, precompile
from fusion.cache import ModelCache
from fusion.config import Settings
from fusion.ui.i18n import translate
from fusion.ui.system import (
    compiled_markdown,
    derived_rows,
    package_rows,
    status_rows,
    summary_lines,
    summary_markdown,
)

CHINESE = "zh-CN"


def _cache(tiny_settings: Settings, compiled_dir: Path, **changes: object) -> ModelCache:
    return ModelCache(replace(tiny_settings, compiled_dir=compiled_dir, **changes))


def fake_package(root: Path, **changes: str) -> compiled.PackageKey:
    """A package's ``meta.json`` where :func:`fusion.compiled.list_packages` looks for it, as built on this machine
    (or as ``changes`` say), with a 2 MB file beside it; no package inside, which listing never opens."""
    key = compiled.PackageKey(
        model="sd-turbo",
        component="unet",
        source="stabilityai/sd-turbo",
        revision="commit 0",
        weights="0",
        dtype="float16",
        inputs="1x4x64x64 float16 cpu",
        signature="0",
        **compiled.environment(torch.device("cpu")),
    )
    key = replace(key, **changes)
    folder = root / key.model / key.component / key.digest()
    folder.mkdir(parents=True)
    meta = {"key": asdict(key), "compile_seconds": 42.0, "created": "2026-12-01 10:00"}
    (folder / compiled.META_FILE).write_text(json.dumps(meta))
    (folder / "weights.bin").write_bytes(bytes(2_000_000))
    return key


def test_without_packages_one_line_says_so_and_how_to_build_them(tiny_settings: Settings, tmp_path: Path) -> None:
    cache = _cache(tiny_settings, tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    status = precompile.status(cache)
    assert status == {"mode": "load", "command": "python -m fusion compile", "packages": []}
    line = compiled_markdown(status)
    assert line == "**Compiled packages**: none for this machine yet; `python -m fusion compile` builds them."
    assert translate(line, CHINESE) == "**已编译的包**：这台机器还没有；`python -m fusion compile` 可以生成它们。"
    assert package_rows({"compiled": status}) == []
    assert precompile.status(_cache(tiny_settings, tmp_path / "missing"))["packages"] == [], "no folder: none"


def test_a_package_from_another_torch_is_listed_stale_with_the_reason(tiny_settings: Settings, tmp_path: Path) -> None:
    fake_package(tmp_path, torch="2.0.0")
    fresh = fake_package(tmp_path, inputs="1x4x96x96 float16 cpu")
    status = precompile.status(_cache(tiny_settings, tmp_path))
    packages = {package["inputs"]: package for package in status["packages"]}
    stale = f"torch version: built for '2.0.0', here '{torch.__version__}'"
    assert packages["1x4x64x64 float16 cpu"]["stale"] == stale
    assert packages[fresh.inputs]["stale"] == "" and packages[fresh.inputs]["bytes"] > 2_000_000
    assert not any(package["attached"] for package in status["packages"]), "sd-turbo is not loaded"
    assert compiled_markdown(status) == (
        "**Compiled packages**: 2 on disk, 1 stale, 0 in use; `python -m fusion compile` builds more."
    )
    rows = {row[2]: row for row in package_rows({"compiled": status})}
    assert rows[fresh.inputs] == ["sd-turbo", "unet", fresh.inputs, "float16", 2.0, "ready", False]
    assert rows["1x4x64x64 float16 cpu"][5] == f"stale: {stale}"
    assert translate(rows["1x4x64x64 float16 cpu"][5], CHINESE) == f"已过期：{stale}"


def test_switched_off_packages_are_said_to_be_off(tiny_settings: Settings, tmp_path: Path) -> None:
    fake_package(tmp_path)
    status = precompile.status(_cache(tiny_settings, tmp_path, aot="off"))
    assert compiled_markdown(status) == "**Compiled packages**: switched off on this server (1 on disk)."


@pytest.fixture
def status() -> dict:
    """What ``/status`` says once SD 1.5 (with 1 MB of compiled packages) ran with ControlNet."""
    model = {"key": "sd15", "title": "Stable Diffusion 1.5", "source": "sd15", "resident": True, "pinned": False}
    model |= {"in_use": 0, "loads": 1, "hits": 2, "evictions": 0, "load_seconds": 0.5, "last_used": 1.0}
    model |= {"bytes": 4_000_000, "held_bytes": 1_000_000, "derived": 1, "derived_bytes": 250_000}
    model |= {"total_bytes": 4_250_000}
    pipeline = {"kind": "pipeline", "key": "Euler a, txt2img", "models": ["sd15", "controlnet-canny"]}
    pipeline |= {"in_use": False, "bytes": 250_000}
    return {
        "device": "cuda",
        "dtype": "float16",
        "models_source": "hub",
        "used_bytes": 5_250_000_000,
        "budget_bytes": 120_000_000_000,
        "models": [model],
        "derived": [pipeline],
        "int8_text_decoders": False,
    }


def test_a_model_row_splits_its_memory_into_weights_compiled_derived_and_total(status: dict) -> None:
    (row,) = status_rows(status)
    assert row[:2] == ["Stable Diffusion 1.5", "sd15"]
    assert row[8:12] == [3.0, 1.0, 0.25, 4.25]


def test_a_derived_object_row_names_its_models_and_size(status: dict) -> None:
    assert derived_rows(status) == [["pipeline", "Euler a, txt2img", "sd15, controlnet-canny", False, 0.25]]
    assert translate("pipeline", CHINESE) == "管线"


def test_the_summary_says_when_text_decoders_have_int8_weights(status: dict) -> None:
    assert summary_lines(status) == [summary_markdown(status)]
    first, int8 = summary_lines(status | {"device": "cpu", "dtype": "bfloat16", "int8_text_decoders": True})
    assert first.startswith("**Device** `cpu` · **dtype** `bfloat16`")
    assert "int8 weights" in int8 and "FUSION_INT8_DECODERS=0" in int8
    assert "int8" in translate(int8, CHINESE) and "文本解码器" in translate(int8, CHINESE)


def test_the_summary_is_a_message_in_every_language(status: dict) -> None:
    summary = summary_markdown(status)
    assert summary.endswith("**memory** 5.25 GB of a 120.00 GB budget")
    assert translate(summary, CHINESE).endswith("**内存** 已用 5.25 GB，预算 120.00 GB")
