"""fusion.acceleration: every speed-up keeps the picture, can be switched off again, follows the settings, and is
applied once, when a model loads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0, FusedAttnProcessor2_0

from fusion import acceleration, generation
from fusion.acceleration import Acceleration
from fusion.cache import ModelCache
from fusion.config import Settings, settings_from_env
from fusion.generation import GenerationOptions

PLAIN = acceleration.NATIVE


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    """A cache of its own: these tests change the pipeline's attention processors and memory format."""
    folder = tmp_path_factory.mktemp("acceleration-tiny")
    settings = Settings(models="tiny", tiny_dir=Path(folder), device="cpu", dtype="float32", memory_budget=1 << 30)
    return ModelCache(settings)


def _pixels(cache: ModelCache) -> np.ndarray:
    options = GenerationOptions(prompt="a red house by a lake", model="sd15", steps=3, seed=7, width=64, height=64)
    return np.asarray(generation.generate(options, cache=cache).images[0], dtype=np.int16)


def _processor_types(model: torch.nn.Module) -> set[type]:
    return {type(processor) for processor in model.attn_processors.values()}


@pytest.mark.parametrize(
    "variant",
    [
        replace(PLAIN, sdpa=False),
        replace(PLAIN, fuse_qkv=True),
        replace(PLAIN, channels_last=True),
        replace(PLAIN, fuse_qkv=True, channels_last=True),
    ],
    ids=["classic-attention", "fused-qkv", "channels-last", "fused-channels-last"],
)
def test_each_speed_up_keeps_the_picture(cache: ModelCache, variant: Acceleration) -> None:
    pipe = cache.get("sd15")
    acceleration.apply(pipe, PLAIN)
    reference = _pixels(cache)
    acceleration.apply(pipe, variant)
    try:
        changed = _pixels(cache)
    finally:
        acceleration.apply(pipe, PLAIN)
    assert acceleration.current(pipe) == PLAIN
    assert np.abs(changed - reference).max() <= 2


def test_apply_sets_and_undoes_each_switch(cache: ModelCache) -> None:
    pipe = cache.get("sd15")
    acceleration.apply(pipe, replace(PLAIN, fuse_qkv=True, channels_last=True, cudnn_benchmark=True))
    assert _processor_types(pipe.unet) == {FusedAttnProcessor2_0}
    assert torch.backends.cudnn.benchmark
    conv = next(module for module in pipe.unet.modules() if isinstance(module, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()

    acceleration.apply(pipe, replace(PLAIN, sdpa=False))
    assert _processor_types(pipe.unet) == {AttnProcessor}
    assert _processor_types(pipe.vae) == {AttnProcessor}
    assert conv.weight.is_contiguous()
    assert not torch.backends.cudnn.benchmark

    acceleration.apply(pipe, PLAIN)
    assert _processor_types(pipe.unet) == {AttnProcessor2_0}


def test_ensure_leaves_cpu_pipelines_and_earlier_choices_alone(cache: ModelCache) -> None:
    pipe = cache.get("sd15")
    acceleration.apply(pipe, PLAIN)
    acceleration.ensure(pipe, Acceleration(fuse_qkv=True))
    assert acceleration.current(pipe) == PLAIN
    assert _processor_types(pipe.unet) == {AttnProcessor2_0}


def test_unknown_compile_mode_is_refused(cache: ModelCache) -> None:
    with pytest.raises(ValueError, match="Unknown compile mode 'fastest'"):
        acceleration.apply(cache.get("sd15"), Acceleration(compile="fastest"))


def test_settings_choose_the_compile_mode_except_on_zero_gpu() -> None:
    assert settings_from_env({}).compile_mode == "off"
    regional = settings_from_env({"FUSION_COMPILE": "Regional"})
    assert acceleration.for_settings(regional) == Acceleration(compile="regional")
    zero_gpu = replace(regional, zero_gpu=True)
    assert acceleration.for_settings(zero_gpu) == acceleration.NATIVE
    with pytest.raises(ValueError, match="FUSION_COMPILE must be one of off, regional, full, cudagraphs"):
        settings_from_env({"FUSION_COMPILE": "1"})


@pytest.mark.parametrize(
    ("mode", "compiled"),
    [
        ("regional", {"BasicTransformerBlock"}),
        ("full", {"UNet2DConditionModel"}),
        ("cudagraphs", {"UNet2DConditionModel"}),
        ("cudagraphs-all", {"CLIPTextModel", "UNet2DConditionModel", "Decoder"}),
    ],
)
def test_each_compile_mode_compiles_its_modules_once(
    cache: ModelCache, monkeypatch: pytest.MonkeyPatch, mode: str, compiled: set[str]
) -> None:
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: calls.append((type(self).__name__, kw)))
    pipe = cache.get("sd15")
    try:
        acceleration.apply(pipe, replace(PLAIN, compile=mode))
        assert {name for name, _ in calls} == compiled
        assert all(kw["fullgraph"] for _, kw in calls)
        assert all(kw.get("mode") == "reduce-overhead" for _, kw in calls) == mode.startswith("cudagraphs")
        compiled_calls = len(calls)
        acceleration.apply(pipe, replace(PLAIN, fuse_qkv=True, compile=mode))  # other switches still change
        assert len(calls) == compiled_calls  # not compiled twice
        assert {type(p) for p in pipe.unet.attn_processors.values()} == {FusedAttnProcessor2_0}
        with pytest.raises(ValueError, match="already compiled"):
            acceleration.apply(pipe, PLAIN)
    finally:
        cache.evict("sd15")  # the next test gets a pipeline that was never compiled


def test_only_cudagraphs_all_graphs_the_safety_checker_once_on_cuda(
    cache: ModelCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: calls.append((type(self).__name__, kw)))
    checker = cache.get("safety-checker").model
    try:
        acceleration.ensure_safety_checker(checker, replace(PLAIN, compile="cudagraphs-all"))
        assert calls == []  # on the CPU
        monkeypatch.setattr(acceleration, "_weights_device", lambda _model: torch.device("cuda"))
        for mode in ("off", "regional", "full", "cudagraphs"):
            acceleration.ensure_safety_checker(checker, replace(PLAIN, compile=mode))
        assert calls == []
        for _ in range(2):
            acceleration.ensure_safety_checker(checker, replace(PLAIN, compile="cudagraphs-all"))
        assert calls == [("CLIPVisionModel", {"mode": "reduce-overhead", "fullgraph": True})]
    finally:
        cache.evict("safety-checker")


def test_the_load_hooks_speed_models_up_once_when_they_load_never_per_request(
    cache: ModelCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``FUSION_COMPILE=cudagraphs-all`` on a (pretended) CUDA GPU: the pipeline and the safety checker are
    set up by their registry hooks when they load, and a second request changes nothing."""
    calls: list[str] = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: calls.append(type(self).__name__))
    monkeypatch.setattr(acceleration, "_weights_device", lambda _model: torch.device("cuda"))
    fresh = ModelCache(replace(cache.settings, compile_mode="cudagraphs-all"))
    options = GenerationOptions(prompt="a red house", model="sd-turbo", seed=1)
    generation.generate(options, cache=fresh)
    pipe = fresh.get("sd-turbo")
    assert acceleration.current(pipe) == Acceleration(compile="cudagraphs-all")
    assert _processor_types(pipe.unet) == {FusedAttnProcessor2_0}
    assert sorted(calls) == ["CLIPTextModel", "CLIPVisionModel", "Decoder", "UNet2DConditionModel"]
    monkeypatch.setattr(acceleration, "apply", lambda *_: pytest.fail("a request changed a cached model"))
    generation.generate(options, cache=fresh)
    assert len(calls) == 4


def test_the_load_hooks_leave_cpu_and_zero_gpu_models_as_loaded(
    cache: ModelCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = cache.get("sd-turbo")
    assert acceleration.current(pipe) is None and _processor_types(pipe.unet) == {AttnProcessor2_0}
    monkeypatch.setattr(acceleration, "_weights_device", lambda _model: torch.device("cuda"))
    acceleration.prepare_pipeline(pipe, replace(cache.settings, zero_gpu=True))  # loaded before a GPU is attached
    assert acceleration.current(pipe) is None and _processor_types(pipe.unet) == {AttnProcessor2_0}
