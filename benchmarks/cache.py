"""What the model cache costs: hits, cold loads of every tiny twin, concurrent first use, eviction.

Everything runs on the tiny random-weight twins (``FUSION_MODELS=tiny``) through the real cache and the
real ``from_pretrained`` loaders, on the CPU. Goals: a hit (``get`` of a resident model) ≤ 0.1 ms; the
whole tiny set ≤ 30 MB on disk and built in ≤ 10 s. Prints a markdown table and writes it to
``benchmarks/results/cache.md``.

    python benchmarks/cache.py [--repeats N] [--threads 8] [--out benchmarks/results/cache.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import functools
import gc
import importlib
import itertools
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_ms
from fusion.cache import ModelCache
from fusion.config import Settings
from fusion.registry import REGISTRY, ModelSpec
from fusion.tiny import ensure_tiny

HIT_GOAL_US = 100.0
TINY_SET_GOAL_MB = 30.0
TINY_SET_GOAL_S = 10.0
HITS_PER_SAMPLE = 1000
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cache.md"


@dataclass(frozen=True)
class TwinRow:
    key: str
    build_ms: float
    disk_mb: float
    resident_mb: float
    cold_load_ms: float


def has_builder(spec: ModelSpec) -> bool:
    module_name, function_name = spec.tiny_builder.split(":")
    try:
        return hasattr(importlib.import_module(module_name), function_name)
    except ImportError:
        return False


def folder_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def tiny_settings(tiny_dir: Path, *, budget: int = 8 << 30) -> Settings:
    return Settings(models="tiny", tiny_dir=tiny_dir, device="cpu", dtype="float32", memory_budget=budget)


def measure_twins(keys: list[str], tiny_dir: Path, repeats: int) -> list[TwinRow]:
    """Build each twin once into a fresh folder, then time cold loads through fresh caches."""
    rows = []
    for key in keys:
        started = time.perf_counter()
        ensure_tiny(REGISTRY[key], tiny_dir / key)
        build_ms = (time.perf_counter() - started) * 1000
        settings = tiny_settings(tiny_dir)
        cold_ms = median_ms(functools.partial(cold_load, settings, key), repeats, warmup=1)
        cache = ModelCache(settings)
        cache.get(key)
        resident_mb = cache.used_bytes() / 1e6
        rows.append(TwinRow(key, build_ms, folder_mb(tiny_dir / key), resident_mb, cold_ms))
        gc.collect()
    return rows


def cold_load(settings: Settings, key: str) -> None:
    """One first use of ``key`` in a fresh cache: a real ``from_pretrained`` of its twin."""
    ModelCache(settings).get(key)


def hit_latency_us(cache: ModelCache, key: str, repeats: int) -> tuple[float, float]:
    """Median microseconds of one ``get`` hit and of one ``use`` enter + exit."""
    cache.get(key)

    def gets() -> None:
        for _ in range(HITS_PER_SAMPLE):
            cache.get(key)

    def uses() -> None:
        for _ in range(HITS_PER_SAMPLE):
            with cache.use(key):
                pass

    per_sample = 1000 / HITS_PER_SAMPLE  # ms per sample -> µs per call
    return median_ms(gets, repeats, warmup=2) * per_sample, median_ms(uses, repeats, warmup=2) * per_sample


def concurrent_first_use(keys: list[str], tiny_dir: Path, threads: int) -> tuple[float, dict[str, int]]:
    """Wall seconds for ``threads`` threads that each ask a fresh cache for every key (rotated order)."""
    cache = ModelCache(tiny_settings(tiny_dir))
    start_line = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        start_line.wait()
        for offset in range(len(keys)):
            cache.get(keys[(index + offset) % len(keys)])

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    return wall, {model.key: model.loads for model in cache.stats().models if model.key in keys}


def eviction_costs(keys: tuple[str, str], tiny_dir: Path, repeats: int) -> tuple[float, float, float]:
    """Median ms of ``evict`` (gc included), of a bare ``gc.collect``, of a get that must evict to load."""
    cache = ModelCache(tiny_settings(tiny_dir))
    evict_times = []
    for _ in range(repeats):
        cache.get(keys[0])
        started = time.perf_counter()
        cache.evict(keys[0])
        evict_times.append((time.perf_counter() - started) * 1000)
    collect_ms = median_ms(gc.collect, repeats)

    sizes = []
    for key in keys:
        cache.get(key)
        sizes.append(cache.used_bytes())
        cache.evict(key)
    tight = ModelCache(tiny_settings(tiny_dir, budget=max(sizes)))  # room for one of the two at a time
    tight.get(keys[1])
    alternate = itertools.cycle(keys)
    thrash_ms = median_ms(lambda: tight.get(next(alternate)), repeats * 2, warmup=1)
    evictions = sum(model.evictions for model in tight.stats().models)
    assert evictions >= repeats * 2, "the thrash loop did not evict on every get"
    return statistics.median(evict_times), collect_ms, thrash_ms


def markdown(rows: list[TwinRow], results: dict[str, str], missing: list[str]) -> str:
    lines = [
        "# Model cache benchmark",
        "",
        f"Tiny twins, CPU float32, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"Python {platform.python_version()}.",
        "",
        "| model | build (ms) | disk (MB) | resident (MB) | cold load, median (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {row.key} | {row.build_ms:.0f} | {row.disk_mb:.2f} | {row.resident_mb:.2f} | "
            f"{row.cold_load_ms:.0f} |"
            for row in rows
        ),
        "",
        "| measurement | result |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in results.items()),
    ]
    if missing:
        lines += ["", f"No tiny builder yet for: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    import diffusers
    import transformers  # imported before timing: builds and loads are measured, not library imports

    del diffusers, transformers
    keys = [key for key, spec in REGISTRY.items() if has_builder(spec)]
    missing = [key for key in REGISTRY if key not in keys]
    with tempfile.TemporaryDirectory(prefix="fusion-cache-bench-") as scratch:
        tiny_dir = Path(scratch)
        rows = measure_twins(keys, tiny_dir, args.repeats)
        warm = ModelCache(tiny_settings(tiny_dir))
        hit_us, use_us = hit_latency_us(warm, keys[0], args.repeats * 4)
        wall, loads = concurrent_first_use(keys, tiny_dir, args.threads)
        evict_ms, collect_ms, thrash_ms = eviction_costs(("taesd", "clip"), tiny_dir, args.repeats)

    build_s = sum(row.build_ms for row in rows) / 1000
    disk_mb = sum(row.disk_mb for row in rows)
    sequential_s = sum(row.cold_load_ms for row in rows) / 1000
    results = {
        f"`get` hit, median of {HITS_PER_SAMPLE}-call samples": (
            f"{hit_us:.2f} µs (goal ≤ {HIT_GOAL_US:.0f} µs: {'met' if hit_us <= HIT_GOAL_US else 'MISSED'})"
        ),
        "`use` enter + exit, median": f"{use_us:.2f} µs",
        f"concurrent first use, {args.threads} threads x {len(keys)} keys": (
            f"{wall:.2f} s wall; loads per key: {sorted(set(loads.values()))} "
            f"(sum of the cold loads alone: {sequential_s:.2f} s; loads take turns, see cache.py)"
        ),
        "`evict` (includes `gc.collect`), median": (
            f"{evict_ms:.1f} ms (a bare `gc.collect`: {collect_ms:.1f} ms)"
        ),
        "`get` that must evict the other model to load (budget fits one)": f"{thrash_ms:.0f} ms",
        "whole tiny set": (
            f"{disk_mb:.1f} MB on disk (goal ≤ {TINY_SET_GOAL_MB:.0f} MB), built in {build_s:.1f} s "
            f"(goal ≤ {TINY_SET_GOAL_S:.0f} s)"
        ),
    }
    table = markdown(rows, results, missing)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
