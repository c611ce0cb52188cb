"""The model cache over real ``from_pretrained`` loads of tiny models written by builders in this module.

The test registry below is the cache's own: its tiny builders save small diffusers / transformers models
with ``save_pretrained`` and its loaders are the product's registry loaders, so every load reads safetensors
from disk. Wrappers around those loaders only count calls, wait, or raise an injected error before calling
the real loader.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import itertools
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import AutoencoderTiny, DiffusionPipeline
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

from fusion.cache import KEY_TEXT_LIMIT, DerivedStats, ModelCache, ModelLoadError, module_bytes, readable_key
from fusion.config import Settings
from fusion.registry import REGISTRY, ModelBundle, ModelSpec, _load_diffusers_model, _load_transformers
from fusion.tiny import COMPLETE_MARKER, SEED, ensure_tiny

#: Every folder the autoencoder builder wrote, to prove a twin is built once and then reused.
BUILDS: list[Path] = []
TINY_SET_MAX_BYTES = 30 * 1000 * 1000


def _tiny_autoencoder() -> AutoencoderTiny:
    torch.manual_seed(SEED)
    return AutoencoderTiny(
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    ).eval()


def build_tiny_autoencoder(folder: Path) -> None:
    """A diffusers ``AutoencoderTiny`` of 9,191 float parameters."""
    BUILDS.append(folder)
    _tiny_autoencoder().save_pretrained(folder, safe_serialization=True)


def build_tiny_vision(folder: Path) -> None:
    """A transformers ``CLIPVisionModel`` (5,192 parameters and an int64 buffer) with its image processor."""
    torch.manual_seed(SEED)
    config = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=16,
        patch_size=8,
    )
    CLIPVisionModel(config).save_pretrained(folder, safe_serialization=True)
    processor = CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    processor.save_pretrained(folder)


def build_broken(folder: Path) -> None:
    raise RuntimeError("this builder always fails")


def _spec(key: str, builder: str, loader: Callable[..., Any]) -> ModelSpec:
    return ModelSpec(
        key, f"Test model {key}", loader, f"{__name__}:{builder}", 0, ("*.json", "*.safetensors")
    )


LOAD_AUTOENCODER = _load_diffusers_model("AutoencoderTiny", has_fp16_variant=False)
LOAD_VISION = _load_transformers("CLIPVisionModel", "CLIPImageProcessor")
TEST_REGISTRY: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        *(_spec(key, "build_tiny_autoencoder", LOAD_AUTOENCODER) for key in ("a", "b", "c", "d")),
        _spec("vision", "build_tiny_vision", LOAD_VISION),
        _spec("broken", "build_broken", LOAD_AUTOENCODER),
    )
}
AUTOENCODER_BYTES = 9_191 * 4


class LoaderCalls:
    """Wraps a real loader: counts calls, can raise an error first, and can run a hook before loading."""

    def __init__(
        self,
        loader: Callable[..., Any],
        *,
        fail_first: int = 0,
        error: Exception | None = None,
        before: Callable[[], None] | None = None,
    ) -> None:
        self.loader = loader
        self.fail_first = fail_first
        self.error = error or torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.before = before
        self.calls = 0
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def __call__(self, source: str, device: torch.device, dtype: torch.dtype) -> Any:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.fail_first
        if failing:
            raise self.error
        if self.before is not None:
            self.before()
        started = time.perf_counter()
        model = self.loader(source, device, dtype)
        self.intervals.append((started, time.perf_counter()))
        return model


@pytest.fixture(scope="module")
def built_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test registry's twins, built once for this module (the broken one excepted)."""
    folder = tmp_path_factory.mktemp("cache-twins")
    for key, spec in TEST_REGISTRY.items():
        if key != "broken":
            ensure_tiny(spec, folder / key)
    return folder


def make_cache(
    tiny_dir: Path, *, budget: int = 1 << 30, loaders: dict[str, Callable[..., Any]] | None = None
) -> ModelCache:
    """A fresh tiny-mode cache over the test registry, with some loaders optionally wrapped."""
    registry = {
        key: dataclasses.replace(spec, loader=(loaders or {}).get(key, spec.loader))
        for key, spec in TEST_REGISTRY.items()
    }
    settings = Settings(models="tiny", tiny_dir=tiny_dir, device="cpu", dtype="float32", memory_budget=budget)
    return ModelCache(settings, registry=registry)


def stats_of(cache: ModelCache, key: str):
    return next(model for model in cache.stats().models if model.key == key)


def resident_keys(cache: ModelCache) -> set[str]:
    return {model.key for model in cache.stats().models if model.resident}


def independent_bytes(model: Any) -> int:
    """Parameter and buffer bytes, counted here without the cache's helper."""
    if isinstance(model, ModelBundle):
        model = model.model
    modules = [model] if isinstance(model, torch.nn.Module) else list(model.components.values())
    tensors = {
        id(tensor): tensor
        for module in modules
        if isinstance(module, torch.nn.Module)
        for tensor in (*module.parameters(), *module.buffers())
    }
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())


def run_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run ``target(i)`` in ``count`` threads released together; return results (or raise the first error)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait()
        try:
            results[index] = target(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck: deadlock"
    if errors:
        raise errors[0]
    return results


# ------------------------------------------------------------------------------------------------ concurrency
def test_eight_threads_asking_for_one_key_share_one_load(built_dir: Path) -> None:
    arrived = threading.Semaphore(0)

    def wait_for_all_callers() -> None:
        for _ in range(8):  # every thread has called get() before the one real load starts
            assert arrived.acquire(timeout=10)
        time.sleep(0.05)

    loader = LoaderCalls(LOAD_AUTOENCODER, before=wait_for_all_callers)
    cache = make_cache(built_dir, loaders={"a": loader})

    def ask(_index: int) -> Any:
        arrived.release()
        return cache.get("a")

    models = run_threads(8, ask)

    assert loader.calls == 1
    assert all(model is models[0] for model in models)
    stats = stats_of(cache, "a")
    assert (stats.loads, stats.hits) == (1, 7)


def test_loads_of_different_keys_take_turns_and_leave_torch_intact(built_dir: Path) -> None:
    """diffusers' loads patch ``nn.Module.register_parameter`` process-wide: the cache runs one at a time."""
    register_parameter = torch.nn.Module.register_parameter
    loaders = {key: LoaderCalls(LOAD_AUTOENCODER, before=lambda: time.sleep(0.02)) for key in "abcd"}
    cache = make_cache(built_dir, loaders=loaders)

    models = run_threads(4, lambda index: cache.get("abcd"[index]))

    assert [loader.calls for loader in loaders.values()] == [1, 1, 1, 1]
    intervals = sorted(interval for loader in loaders.values() for interval in loader.intervals)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(intervals))
    assert torch.nn.Module.register_parameter is register_parameter
    assert all(parameter.device.type == "cpu" for model in models for parameter in model.parameters())
    assert torch.nn.Linear(2, 2).weight.device.type == "cpu"


def test_a_hit_never_waits_for_a_load_of_another_key(built_dir: Path) -> None:
    release_load = threading.Event()
    loader = LoaderCalls(LOAD_AUTOENCODER, before=lambda: release_load.wait(10))
    cache = make_cache(built_dir, loaders={"a": loader})
    resident = cache.get("b")
    loading = threading.Thread(target=cache.get, args=("a",))
    loading.start()
    try:
        while loader.calls == 0:
            time.sleep(0.001)
        hit = run_threads(1, lambda _index: cache.get("b"))[0]
        assert hit is resident
        assert stats_of(cache, "a").loads == 0  # the load was still in progress during the hit
    finally:
        release_load.set()
        loading.join(timeout=10)
    assert stats_of(cache, "a").loads == 1


def test_concurrent_first_use_of_several_keys_loads_each_once(built_dir: Path) -> None:
    loaders = {key: LoaderCalls(TEST_REGISTRY[key].loader) for key in ("a", "b", "c", "vision")}
    cache = make_cache(built_dir, loaders=loaders)
    keys = list(loaders)

    run_threads(16, lambda index: cache.get(keys[index % len(keys)]))

    assert {key: loader.calls for key, loader in loaders.items()} == dict.fromkeys(keys, 1)
    assert all(stats_of(cache, key).hits == 3 for key in keys)


# --------------------------------------------------------------------------------------------- budget / LRU
def test_budget_evicts_least_recently_used_and_stays_under_budget(built_dir: Path) -> None:
    cache = make_cache(built_dir, budget=2 * AUTOENCODER_BYTES + AUTOENCODER_BYTES // 2)
    steps = [("a", {"a"}), ("b", {"a", "b"}), ("a", {"a", "b"}), ("c", {"a", "c"}), ("b", {"b", "c"})]
    for key, expected in steps:
        cache.get(key)
        assert resident_keys(cache) == expected, f"after get({key!r})"
        assert cache.used_bytes() <= cache.budget

    assert [stats_of(cache, key).evictions for key in "abc"] == [1, 1, 0]
    assert stats_of(cache, "b").loads == 2


def test_a_hub_load_makes_room_for_its_expected_size_first(built_dir: Path) -> None:
    """The registry's sizes are half precision: a float32 load needs twice as much room."""
    resident_at_load: list[set[str]] = []
    loader = LoaderCalls(LOAD_AUTOENCODER, before=lambda: resident_at_load.append(resident_keys(cache)))
    registry = {
        "a": dataclasses.replace(TEST_REGISTRY["a"], loader=loader, expected_bytes=AUTOENCODER_BYTES),
        **{key: TEST_REGISTRY[key] for key in ("b", "c")},
    }
    settings = Settings(
        model_ids={key: str(built_dir / key) for key in registry},
        device="cpu",
        dtype="float32",
        memory_budget=2 * AUTOENCODER_BYTES + AUTOENCODER_BYTES // 2,
    )
    cache = ModelCache(settings, registry=registry)
    cache.get("b")
    cache.get("c")

    cache.get("a")

    assert resident_at_load == [set()]  # b, then c, were evicted before the load started
    assert resident_keys(cache) == {"a"}
    assert [stats_of(cache, key).evictions for key in "bc"] == [1, 1]


def test_a_held_model_is_never_evicted(built_dir: Path) -> None:
    cache = make_cache(built_dir, budget=AUTOENCODER_BYTES + AUTOENCODER_BYTES // 2)
    with cache.use("a") as held:
        loaded = cache.get("b")
        assert resident_keys(cache) == {"a", "b"}
        assert stats_of(cache, "a").in_use == 1
        assert cache.evict("a") is False
        assert cache.evict_unused() == 1  # only b
        assert cache.get("a") is held
    assert stats_of(cache, "a").in_use == 0
    assert loaded is not None
    cache.get("c")
    assert resident_keys(cache) == {"c"}
    assert cache.used_bytes() <= cache.budget


def test_use_yields_a_tuple_for_several_keys_and_releases_them(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    with cache.use("a", "vision") as (autoencoder, bundle):
        assert isinstance(autoencoder, AutoencoderTiny)
        assert isinstance(bundle.model, CLIPVisionModel)
        assert [stats_of(cache, key).in_use for key in ("a", "vision")] == [1, 1]
    assert [stats_of(cache, key).in_use for key in ("a", "vision")] == [0, 0]


def test_use_releases_held_models_when_a_later_key_fails(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    with pytest.raises(ModelLoadError, match="Test model broken"), cache.use("a", "broken"):
        pytest.fail("the body must not run")
    assert stats_of(cache, "a").in_use == 0
    assert cache.evict("a") is True


def test_use_rejects_unknown_keys_before_loading_anything(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    with pytest.raises(ValueError, match="Unknown model 'nope'"), cache.use("a", "nope"):
        pass
    assert stats_of(cache, "a").loads == 0


def test_pin_prevents_eviction(built_dir: Path) -> None:
    cache = make_cache(built_dir, budget=AUTOENCODER_BYTES + AUTOENCODER_BYTES // 2)
    cache.get("a")
    cache.pin("a")
    cache.get("b")
    assert resident_keys(cache) == {"a", "b"}
    assert cache.evict_unused() == 1
    assert cache.evict("a") is True  # an explicit evict still drops a pinned model
    cache.get("a")
    cache.unpin("a")
    cache.get("c")
    assert resident_keys(cache) == {"c"}
    assert stats_of(cache, "a").evictions == 2


def test_preload_pins_every_key_and_reports_failures_together(built_dir: Path) -> None:
    cache = make_cache(built_dir, budget=AUTOENCODER_BYTES)
    with pytest.raises(ModelLoadError, match=r"Preloading failed for 1 of 3 models.*Test model broken"):
        cache.preload(("a", "broken", "b"))
    assert resident_keys(cache) == {"a", "b"}  # both pinned, so over the budget by design
    assert [stats_of(cache, key).pinned for key in ("a", "b", "broken")] == [True, True, False]


# ------------------------------------------------------------------------------------------ out of memory
def test_out_of_memory_while_loading_frees_unused_models_and_retries(built_dir: Path) -> None:
    loader = LoaderCalls(LOAD_AUTOENCODER, fail_first=1)
    cache = make_cache(built_dir, loaders={"a": loader})
    cache.get("b")
    cache.get("c")
    cache.pin("c")

    model = cache.get("a")

    assert isinstance(model, AutoencoderTiny)
    assert loader.calls == 2
    assert resident_keys(cache) == {"a", "c"}
    assert stats_of(cache, "a").loads == 1


def test_out_of_memory_twice_while_loading_is_a_clear_error(built_dir: Path) -> None:
    loader = LoaderCalls(LOAD_AUTOENCODER, fail_first=2)
    cache = make_cache(built_dir, loaders={"a": loader})
    with pytest.raises(
        ModelLoadError, match=r"Not enough CPU memory to load Test model a, even after freeing"
    ):
        cache.get("a")
    assert stats_of(cache, "a").failures == 1
    assert cache.get("a") is not None  # the third real load succeeds: a failed load is retried on next use


class FlakyForward:
    """A real forward pass of the tiny autoencoder's decoder, after ``failures`` injected errors."""

    def __init__(self, model: AutoencoderTiny, failures: int, error: Exception | None = None) -> None:
        self.model = model
        self.failures = failures
        self.error = error or torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        self.calls = 0

    def __call__(self) -> torch.Tensor:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        with torch.no_grad():
            return self.model.decode(torch.zeros(1, 4, 2, 2)).sample


def test_run_frees_unused_models_after_out_of_memory_and_retries(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    cache.get("b")
    with cache.use("a") as model:
        forward = FlakyForward(model, failures=1)
        result = cache.run(forward)
        assert forward.calls == 2
        assert result.shape == (1, 3, 4, 4)
        assert torch.equal(result, FlakyForward(model, failures=0)())
        assert resident_keys(cache) == {"a"}  # b was evicted, a is held


def test_run_out_of_memory_twice_is_a_clear_error(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    with cache.use("a") as model:
        forward = FlakyForward(model, failures=2)
        with pytest.raises(
            ModelLoadError, match="ran out of memory even after freeing every model not in use"
        ):
            cache.run(forward)
    assert forward.calls == 2


def test_run_passes_other_errors_through_without_evicting(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    model = cache.get("a")
    forward = FlakyForward(model, failures=1, error=RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        cache.run(forward)
    assert forward.calls == 1
    assert resident_keys(cache) == {"a"}


# ------------------------------------------------------------------------------------------------ statistics
def test_statistics_count_loads_hits_evictions_and_bytes(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    bundle = cache.get("vision")
    autoencoder = cache.get("a")
    for _ in range(3):
        assert cache.get("vision") is bundle
    cache.evict("a")
    cache.get("a")

    stats = cache.stats()
    vision, a = stats_of(cache, "vision"), stats_of(cache, "a")
    assert (stats.device, stats.dtype, stats.models_source) == ("cpu", "float32", "tiny")
    assert (vision.loads, vision.hits, vision.evictions) == (1, 3, 0)
    assert (a.loads, a.hits, a.evictions) == (2, 0, 1)
    assert (
        vision.bytes == independent_bytes(bundle) == 5_192 * 4 + 5 * 8
    )  # float weights + int64 position ids
    assert a.bytes == independent_bytes(autoencoder) == AUTOENCODER_BYTES == module_bytes(autoencoder)
    assert stats.used_bytes == cache.used_bytes() == vision.bytes + a.bytes
    assert vision.load_seconds > 0 and a.load_seconds > 0
    assert vision.source == str(built_dir / "vision")
    assert next(bundle.model.parameters()).dtype == torch.float32
    assert stats.to_dict()["models"][0]["key"] == "a"


def test_hold_replaces_what_a_resident_model_holds_for_its_speed_ups(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    cache.get("a")
    cache.hold("a", 1000)
    assert (stats_of(cache, "a").bytes, stats_of(cache, "a").held_bytes) == (AUTOENCODER_BYTES + 1000, 1000)
    cache.hold("a", 400)  # what it holds now, not more on top
    assert (stats_of(cache, "a").total_bytes, cache.used_bytes()) == (AUTOENCODER_BYTES + 400,) * 2
    assert cache.evict("a")
    cache.hold("a", 5)
    assert (stats_of(cache, "a").bytes, stats_of(cache, "a").held_bytes, cache.used_bytes()) == (0, 0, 0)


# ------------------------------------------------------------------------------------------ derived objects
def test_borrowed_objects_are_lent_one_at_a_time_counted_and_dropped_with_their_model(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    built: list[Any] = []

    def copy_of(model: Any) -> Any:  # weights of its own, which the cache must count
        built.append(model)
        return copy.deepcopy(model)

    with (
        cache.use("a") as model,
        cache.borrow("copy", 1, copy_of, depends_on=("a",)) as first,
        cache.borrow("copy", 1, copy_of, depends_on=("a",)) as second,
    ):
        assert first is not second, "one caller at a time"
        assert stats_of(cache, "a").in_use == 1, "a loan is part of the call that holds the model"
    with cache.use("a"), cache.borrow("copy", 1, copy_of, depends_on=("a",)) as again:
        assert again in (first, second), "a free one is reused"
    assert built == [model, model], "built from the cached model"
    stats = cache.stats()
    assert stats.derived == 2 * (DerivedStats("copy", "1", ("a",), in_use=False, bytes=AUTOENCODER_BYTES),)
    assert (stats_of(cache, "a").derived, stats_of(cache, "a").derived_bytes) == (2, 2 * AUTOENCODER_BYTES)
    assert stats_of(cache, "a").total_bytes == 3 * AUTOENCODER_BYTES, "evicting it frees its copies too"
    assert stats.used_bytes == cache.used_bytes() == 3 * AUTOENCODER_BYTES
    view = lambda model: SimpleNamespace(components={"model": model})  # noqa: E731
    with cache.use("a"), cache.borrow("view", 1, view, depends_on=("a",)):
        assert cache.stats().derived[-1].bytes == 0, "what shares the model's weights costs nothing more"
    with cache.use("a"), cache.borrow("copy", 2, copy_of, depends_on=("a",), keep=1) as last:
        last = weakref.ref(last)
    assert sorted((d.kind, d.key) for d in cache.stats().derived) == [("copy", "2"), ("view", "1")], "keep=1 trims"
    del model, first, second, again
    assert cache.evict("a")
    gc.collect()
    assert last() is None and cache.stats().derived == ()


def test_only_held_models_lend_what_is_derived_from_them(built_dir: Path) -> None:
    """A loan is made inside a ``use`` of its models, so that they stay resident while it lasts."""
    cache = make_cache(built_dir)
    cache.get("a")
    with pytest.raises(KeyError, match="a"), cache.borrow("copy", 1, copy.deepcopy, depends_on=("a",)):
        pass
    assert cache.stats().derived == ()


def test_derived_bytes_count_in_the_budget(built_dir: Path) -> None:
    cache = make_cache(built_dir, budget=int(2.5 * AUTOENCODER_BYTES))
    with cache.use("a"), cache.borrow("copy", 1, copy.deepcopy, depends_on=("a",)) as twin:
        twin = weakref.ref(twin)
    cache.get("b")  # a, its copy and b would take 3 model sizes: a goes, and its copy with it
    gc.collect()
    assert resident_keys(cache) == {"b"} and twin() is None
    assert cache.used_bytes() == AUTOENCODER_BYTES


def test_a_failed_build_keeps_nothing(built_dir: Path) -> None:
    cache = make_cache(built_dir)

    def failing(*_models: Any) -> Any:
        raise RuntimeError("could not record")

    with (
        pytest.raises(RuntimeError, match="could not record"),
        cache.use("a", "vision"),
        cache.borrow("graph", 1, failing, depends_on=("a", "vision")),
    ):
        pass
    assert [stats_of(cache, key).in_use for key in ("a", "vision")] == [0, 0] and cache.stats().derived == ()


# ------------------------------------------------------------------------------------------- load failures
def hub_cache(model_ids: dict[str, str]) -> ModelCache:
    """A hub-mode cache over the product registry with some model ids replaced."""
    settings = Settings(model_ids={**Settings().model_ids, **model_ids}, device="cpu", memory_budget=1 << 30)
    return ModelCache(settings)


def _failure(cache: ModelCache, key: str, caplog: pytest.LogCaptureFixture) -> tuple[str, str]:
    """The user's message of a failed load, and the server log's line with the same error id."""
    with caplog.at_level(logging.ERROR, logger="fusion.cache"), pytest.raises(ModelLoadError) as caught:
        cache.get(key)
    message, error_id = str(caught.value), caught.value.error_id
    assert error_id and f"(error {error_id})" in message
    logged = [record.getMessage() for record in caplog.records if f"[error {error_id}]" in record.getMessage()]
    assert len(logged) == 1
    assert "FUSION_" not in message and "/tmp" not in message and "Error:" not in message, (
        "no variable names, paths or exception text for an anonymous user"
    )
    return message, logged[0]


def test_an_incomplete_local_folder_is_a_clear_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    message, logged = _failure(hub_cache({"caption": str(tmp_path)}), "caption", caplog)
    assert "BLIP captioning (base) is not available: its weights on this server are incomplete" in message
    assert "python -m fusion download" in message
    assert str(tmp_path) in logged and "FUSION_CAPTION_MODEL" in logged and "OSError" in logged


def test_a_missing_folder_is_a_clear_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    message, logged = _failure(hub_cache({"clip": str(tmp_path / "not-there")}), "clip", caplog)
    assert "its weights are not on this server" in message
    assert "there is no such folder; fix FUSION_CLIP_MODEL" in logged


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated")  # diffusers
def test_a_model_missing_offline_names_it_and_says_what_to_do(caplog: pytest.LogCaptureFixture) -> None:
    cache = hub_cache({"taesd": "fusion-test/no-such-model"})
    message, logged = _failure(cache, "taesd", caplog)
    assert "Tiny autoencoder (previews) is not available" in message and "no-such-model" not in message
    assert "Hub cannot be reached" in message
    assert "'fusion-test/no-such-model'" in logged and "FUSION_MODELS=tiny" in logged
    assert stats_of(cache, "taesd").failures == 1


def test_the_cache_keeps_working_after_a_failed_load(built_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fixed-later"
    folder.mkdir()
    settings = Settings(
        model_ids={"a": str(folder), "b": str(built_dir / "b")}, device="cpu", memory_budget=1 << 30
    )
    cache = ModelCache(settings, registry={key: TEST_REGISTRY[key] for key in ("a", "b")})
    with pytest.raises(ModelLoadError, match="its weights on this server are incomplete"):
        cache.get("a")

    assert isinstance(cache.get("b"), AutoencoderTiny)
    build_tiny_autoencoder(folder)  # the folder is fixed: the next use loads it
    assert isinstance(cache.get("a"), AutoencoderTiny)
    assert [stats_of(cache, key).loads for key in ("a", "b")] == [1, 1]


def test_a_failing_tiny_builder_is_a_model_load_error(built_dir: Path) -> None:
    cache = make_cache(built_dir)
    with pytest.raises(ModelLoadError, match="Test model broken is not available: its tiny stand-in could not be"):
        cache.get("broken")
    assert not (built_dir / "broken").exists()
    assert cache.get("a") is not None


# ----------------------------------------------------------------------------------------------- tiny twins
def test_a_tiny_twin_is_built_once_then_reused(tmp_path: Path) -> None:
    first = make_cache(tmp_path)
    first.get("d")
    assert (tmp_path / "d" / COMPLETE_MARKER).read_text() == "d"
    assert sum(folder.parent == tmp_path for folder in BUILDS) == 1

    second = make_cache(tmp_path)
    second.get("d")
    assert sum(folder.parent == tmp_path for folder in BUILDS) == 1
    assert stats_of(second, "d").loads == 1


def test_a_half_written_twin_is_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text("{ truncated")
    assert isinstance(make_cache(tmp_path).get("c"), AutoencoderTiny)
    assert (tmp_path / "c" / COMPLETE_MARKER).exists()


def test_a_tiny_twin_round_trips_through_from_pretrained(built_dir: Path) -> None:
    loaded = make_cache(built_dir).get("a").state_dict()
    built = _tiny_autoencoder().state_dict()
    assert loaded.keys() == built.keys()
    assert all(torch.equal(loaded[name], built[name]) for name in built)


# ---------------------------------------------------------------------------------------- product registry
@pytest.fixture(scope="module")
def registry_cache(tiny_settings: Settings) -> Iterator[ModelCache]:
    """Every registry model through a cache of its own (the session's twins are built once and shared)."""
    cache = ModelCache(tiny_settings)
    yield cache
    cache.evict_unused()


@pytest.mark.parametrize("key", list(REGISTRY))
def test_every_registry_model_loads_in_tiny_mode(registry_cache: ModelCache, key: str) -> None:
    model = registry_cache.get(key)

    stats = stats_of(registry_cache, key)
    assert (stats.loads, stats.failures) == (1, 0)
    assert stats.bytes == independent_bytes(model) > 0
    if isinstance(model, ModelBundle):
        assert model.processor is not None
        assert not model.model.training
    elif isinstance(model, DiffusionPipeline):
        assert model.safety_checker is None
    else:
        assert isinstance(model, torch.nn.Module)


def test_the_whole_tiny_set_is_small_on_disk(registry_cache: ModelCache, tiny_dir: Path) -> None:
    for key in REGISTRY:
        registry_cache.get(key)
    size = sum(
        path.stat().st_size for key in REGISTRY for path in (tiny_dir / key).rglob("*") if path.is_file()
    )
    assert size <= TINY_SET_MAX_BYTES, f"tiny twins take {size / 1e6:.1f} MB on disk"


# ---------------------------------------------------------------------------------------------- memory released
class WatchedCache(ModelCache):
    """A cache that keeps a weak reference to everything it lends, with the models it was derived from."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.lent: list[tuple[tuple[str, ...], weakref.ref[Any]]] = []
        self.kinds: dict[str, weakref.ref[Any]] = {}

    @contextmanager
    def borrow(self, kind: str, key: Any, build: Callable[..., Any], **options: Any) -> Iterator[Any]:
        with super().borrow(kind, key, build, **options) as value:
            self.lent.append((tuple(options["depends_on"]), weakref.ref(value)))
            self.kinds[kind] = weakref.ref(value)
            yield value


def use_every_model(cache: ModelCache) -> None:
    """Run every registry model as the app does, so that what each one derives exists too: pipelines of every
    kind (txt2img, img2img, ControlNet, SD-Turbo), previews, the safety checker, captions (recorded CUDA graphs
    on a GPU), VQA and CLIP."""
    from fusion import captioning, generation

    picture = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    edges = np.zeros((64, 64, 3), dtype=np.uint8)
    edges[16:48, 30:34] = 255
    base = generation.GenerationOptions(prompt="a house", steps=2, seed=0)
    for options in (
        base,
        dataclasses.replace(base, init_image=picture, strength=0.5),
        dataclasses.replace(base, control_image=edges),
        dataclasses.replace(base, model="sd-turbo", steps=1),
    ):
        generation.generate(options, cache=cache, on_step=lambda _update: None)
    for model in captioning.CAPTION_MODEL_KEYS:
        captioning.caption([picture], captioning.CaptionOptions(model=model), cache=cache)
    captioning.answer(picture, "What colour is it?", cache=cache)
    for key in ("clip", "clip-large"):
        cache.get(key)
    from fusion.agent.planner import plan_turn
    from fusion.agent.tools import build_tools

    tools = list(build_tools(cache).values())[:3]
    system = {"role": "system", "content": "Use the tools."}
    plan_turn([system, {"role": "user", "content": "edges"}], tools, ("image-1",), cache=cache, choice="required")
    assert resident_keys(cache) == set(REGISTRY)


def weak_parts(model: Any) -> list[weakref.ref[Any]]:
    """Weak references to a cached model and every torch module in it."""
    if isinstance(model, ModelBundle):
        parts = [model.model]
    elif isinstance(model, torch.nn.Module):
        parts = [model]
    else:
        parts = [part for part in model.components.values() if isinstance(part, torch.nn.Module)]
    return [weakref.ref(model), *(weakref.ref(module) for part in parts for module in part.modules())]


#: ControlNet first, while SD 1.5 is still loaded; then every other model in turn.
EVICTION_ORDER = ["controlnet-canny", *(key for key in REGISTRY if key != "controlnet-canny")]


def test_evicting_controlnet_frees_it_while_sd15_stays_loaded(tiny_settings: Settings) -> None:
    """A ControlNet run pools a pipeline around SD 1.5 and the ControlNet: evicting the ControlNet alone must
    free it, or the next load makes a second copy (issue 16: it stayed alive before the cache owned pipelines)."""
    from fusion import generation

    cache = ModelCache(tiny_settings)
    edges = np.zeros((64, 64, 3), dtype=np.uint8)
    edges[16:48, 30:34] = 255
    options = generation.GenerationOptions(prompt="a house", steps=1, seed=0, control_image=edges)
    generation.generate(options, cache=cache)
    controlnet = weakref.ref(cache.get(generation.CONTROLNET_KEY))
    assert cache.evict(generation.CONTROLNET_KEY)
    gc.collect()
    assert resident_keys(cache) >= {"sd15"}
    assert controlnet() is None, "something besides the cache still holds the evicted ControlNet"


def test_evicting_each_model_in_turn_releases_it_and_what_came_from_it(tiny_settings: Settings) -> None:
    cache = WatchedCache(tiny_settings)
    use_every_model(cache)
    stats = cache.stats()
    assert stats.used_bytes == sum(model.bytes for model in stats.models) + sum(d.bytes for d in stats.derived)
    pipelines = {d.models: d for d in stats.derived if d.kind == "pipeline"}
    assert set(pipelines) == {("sd15",), ("sd15", "controlnet-canny"), ("sd-turbo",)}
    assert all(d.bytes == 0 for d in pipelines.values()), "from_pipe shares the models' weights"
    assert stats_of(cache, "sd15").derived == sum("sd15" in d.models for d in stats.derived if d.kind == "pipeline")
    for key in EVICTION_ORDER:
        model = weak_parts(cache.get(key))
        derived = [ref for models, ref in cache.lent if key in models]
        resident = resident_keys(cache) - {key}
        kept = [ref for models, ref in cache.lent if set(models) <= resident and ref() is not None]
        assert cache.evict(key)
        gc.collect()
        assert [ref for ref in model + derived if ref() is not None] == [], f"{key} is still alive after eviction"
        assert all(ref() is not None for ref in kept), "what came from other models only is kept"
        assert stats_of(cache, key).derived == 0 and not any(key in d.models for d in cache.stats().derived)
    assert cache.stats().used_bytes == 0 and cache.stats().derived == ()


def test_status_lists_what_a_controlnet_run_and_an_ask_turn_derive_until_their_models_go(
    tiny_settings: Settings,
) -> None:
    """Issue 16: each derived object in ``/status`` with its kind, key, the models it came from and its own bytes,
    counted in those models' totals and gone once one of them is evicted."""
    from fusion import generation
    from fusion.agent.planner import plan_turn, prefix_bytes
    from fusion.agent.tools import build_tools

    cache = WatchedCache(tiny_settings)
    edges = np.zeros((64, 64, 3), dtype=np.uint8)
    edges[16:48, 30:34] = 255
    options = generation.GenerationOptions(prompt="a house", steps=1, seed=0, control_image=edges)
    generation.generate(options, cache=cache)
    system = {"role": "system", "content": "Use the tools."}
    tools = list(build_tools(cache).values())[:3]
    plan_turn([system, {"role": "user", "content": "edges"}], tools, ("image-1",), cache=cache, choice="required")

    status = json.loads(json.dumps(cache.stats().to_dict()))  # as the API sends it
    rows = {row["kind"]: row for row in status["derived"]}
    assert sorted(rows) == ["grammar compiler", "pipeline", "tool-list prefix"]
    pipeline, prefix = rows["pipeline"], rows["tool-list prefix"]
    assert pipeline["models"] == ["sd15", "controlnet-canny"] and not pipeline["in_use"]
    scheduler, mode = pipeline["key"].split(", ")
    assert scheduler in generation.SCHEDULERS and mode == "txt2img"
    models = tuple(cache.inspect(key, lambda model: model) for key in ("sd15", "controlnet-canny"))
    assert pipeline["bytes"] == module_bytes(cache.kinds["pipeline"](), excluding=models) == 0, "from_pipe shares"
    assert prefix["models"] == ["assistant"] and prefix["bytes"] == prefix_bytes(cache.kinds["tool-list prefix"]())
    assert prefix["bytes"] > 0 and len(prefix["key"]) == KEY_TEXT_LIMIT, "the system prompt's key, cut short"
    assert rows["grammar compiler"]["key"] == ""
    by_key = {model["key"]: model for model in status["models"]}
    assistant = by_key["assistant"]
    assert assistant["derived"] == 2
    assert assistant["derived_bytes"] == prefix["bytes"] + rows["grammar compiler"]["bytes"]
    assert assistant["total_bytes"] == assistant["bytes"] + assistant["derived_bytes"]
    assert status["used_bytes"] == sum(model["bytes"] for model in status["models"]) + sum(
        row["bytes"] for row in status["derived"]
    )

    assert cache.evict("controlnet-canny")
    assert sorted(row.kind for row in cache.stats().derived) == ["grammar compiler", "tool-list prefix"]
    assert stats_of(cache, "sd15").derived == 0
    assert cache.evict("assistant") and cache.stats().derived == ()
    assert stats_of(cache, "assistant").total_bytes == 0


def test_a_readable_key_joins_tuples_and_cuts_long_text_with_a_digest() -> None:
    assert readable_key(("Euler a", "txt2img")) == "Euler a, txt2img"
    assert readable_key(("vision", 1, 3, 384, 384)) == "vision, 1, 3, 384, 384"
    assert readable_key(None) == ""
    first, second = readable_key("x" * 100 + "a"), readable_key("x" * 100 + "b")
    assert len(first) == KEY_TEXT_LIMIT and first.startswith("x" * 29 + "… #") and first != second


@pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU memory is measured on CUDA only")
def test_evicting_each_model_gives_its_gpu_memory_back(tiny_dir: Path) -> None:
    """``memory_allocated`` falls by at least each model's bytes when it is evicted, and back to where it started
    once all are gone (cuBLAS workspaces cleared first, as PyTorch's own leak check does)."""

    def allocated() -> int:
        gc.collect()
        torch._C._cuda_clearCublasWorkspaces()
        return torch.cuda.memory_allocated()

    settings = Settings(models="tiny", tiny_dir=tiny_dir, device="cuda", memory_budget=8 << 30)
    started = allocated()
    cache = WatchedCache(settings)
    use_every_model(cache)
    for key in EVICTION_ORDER:
        size, before = stats_of(cache, key).bytes, allocated()
        assert cache.evict(key)
        assert before - allocated() >= size > 0, key
    assert allocated() <= started


@pytest.mark.parametrize(("fast_bfloat16", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_dtype_is_bfloat16_on_a_cpu_that_computes_it_natively(
    monkeypatch: pytest.MonkeyPatch, fast_bfloat16: bool, expected: torch.dtype
) -> None:
    from fusion import cache as cache_module

    monkeypatch.setattr(cache_module, "cpu_has_fast_bfloat16", lambda: fast_bfloat16)
    assert cache_module.resolve_dtype("auto", torch.device("cpu")) == expected
    assert cache_module.resolve_dtype("float32", torch.device("cpu")) == torch.float32
    assert cache_module.resolve_dtype("auto", torch.device("cuda")) == torch.float16
