"""Batch mode throughput and peak memory: the local engine and Ray Data with 2 workers, tiny models, CPU.

Writes ``--images`` (default 2,000) small generated pictures to a temporary folder, then runs
``features,caption,classify`` over them (three zero-shot labels) with each engine in a fresh process, so that
every measurement has its own peak:

* images/s: rows written divided by the engine call's wall time. That includes loading the tiny models (the
  local engine) or starting Ray and its actors (Ray): what a user waits for, not a steady-state rate.
* peak memory: the highest sum of PSS (proportional set size: shared pages split between the processes that
  share them) over the measuring process and all its descendants (Ray's raylet, GCS and workers), sampled
  every 0.25 s; for the local engine also ``ru_maxrss``. A local run over a quarter of the images shows
  whether memory stays flat as the input grows.
* identical rows: the Ray output sorted by path equals the one-thread local output.

    python benchmarks/batch.py [--images 2000] [--out benchmarks/results/batch.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "batch.md"
TASKS = "features,caption,classify"
LABELS = "cat, dog, car"
SAMPLE_SECONDS = 0.25
SMALL_FRACTION = 4
#: Measurement key -> (table name, engine, torch threads, images for a given --images).
PLAN = {
    "local-quarter": ("local, 1 torch thread", "local", 1, lambda n: n // SMALL_FRACTION),
    "local-all": ("local, 1 torch thread", "local", 1, lambda n: n),
    "local2-quarter": ("local, 2 torch threads", "local", 2, lambda n: n // SMALL_FRACTION),
    "ray-quarter": ("Ray Data, 2 workers x 1 thread", "ray", 1, lambda n: n // SMALL_FRACTION),
    "ray-all": ("Ray Data, 2 workers x 1 thread", "ray", 1, lambda n: n),
}


def write_pictures(folder: Path, count: int) -> None:
    """Smooth random pictures, 64-128 px a side, PNG and JPEG, in two sub-folders (a quarter in ``a``)."""
    rng = np.random.default_rng(0)
    for index in range(count):
        height, width = rng.integers(64, 129, size=2)
        base = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        picture = Image.fromarray(base).resize((int(width), int(height)), Image.Resampling.BILINEAR)
        part = folder / ("a" if index < count // SMALL_FRACTION else "b")
        part.mkdir(parents=True, exist_ok=True)
        picture.save(part / f"{index:05d}.{'jpg' if index % 3 else 'png'}")


class PeakMemory:
    """Samples the PSS of this process and all its descendants in a background thread."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _total(self) -> int:
        import psutil

        total = 0
        for process in [self._process, *self._process.children(recursive=True)]:
            try:
                total += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())


def measure(engine: str, source_dir: str, output: str, threads: int) -> dict[str, Any]:
    """One engine run in this process (called in a fresh subprocess by :func:`run_measurement`)."""
    import torch

    from fusion.batch import io
    from fusion.batch.local import run_local
    from fusion.batch.ray_engine import run_ray
    from fusion.batch.tasks import BatchOptions
    from fusion.cache import ModelCache
    from fusion.classification import parse_labels
    from fusion.config import settings_from_env

    torch.set_num_threads(threads)
    settings = settings_from_env()
    options = BatchOptions(tasks=tuple(TASKS.split(",")), labels=parse_labels(LABELS)[0])
    source = io.resolve_input(source_dir)
    with PeakMemory() as memory:
        started = time.perf_counter()
        if engine == "ray":
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            summary = run_ray(source, Path(output), options, settings=settings, batch_size=8, progress=False)
            ray.shutdown()
        else:
            summary = run_local(
                source, Path(output), options, cache=ModelCache(settings), batch_size=8, progress=False
            )
        seconds = time.perf_counter() - started
    return {
        "rows": summary.rows,
        "errors": summary.errors,
        "seconds": seconds,
        "peak_pss_mb": memory.peak / 2**20,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_measurement(engine: str, source_dir: Path, output: Path, threads: int, env: dict[str, str]) -> dict:
    command = [sys.executable, __file__, "--measure", engine, str(source_dir), str(output), str(threads)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"{engine} measurement failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def same_rows(first: Path, second: Path) -> bool:
    import pyarrow.parquet as pq

    return pq.read_table(first).sort_by("path").equals(pq.read_table(second).sort_by("path"))


def marginal_rate(small: dict[str, Any], large: dict[str, Any]) -> float:
    """Images per second of the extra images of the large run: start-up costs cancel out."""
    return (large["rows"] - small["rows"]) / (large["seconds"] - small["seconds"])


def growth(results: dict[str, dict[str, Any]], engine: str) -> float:
    return results[f"{engine}-all"]["peak_pss_mb"] - results[f"{engine}-quarter"]["peak_pss_mb"]


def report(images: int, results: dict[str, dict[str, Any]], identical: bool) -> str:
    import pyarrow
    import ray
    import torch

    lines = [
        "# Batch mode benchmark",
        "",
        f"Generated pictures (64-128 px a side, 2/3 JPEG, 1/3 PNG), tasks `{TASKS}` with labels `{LABELS}`, "
        f"tiny random-weight models, batch size 8, CPU. {os.cpu_count()} CPU cores shared with other work "
        f"(load average at the end: {os.getloadavg()[0]:.1f}); torch {torch.__version__}, ray "
        f"{ray.__version__}, pyarrow {pyarrow.__version__}, Python {platform.python_version()}.",
        "",
        "| engine | images | wall time | images/s | images/s past start-up | peak memory (PSS) | ru_maxrss |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, (name, _engine, _threads, count) in PLAN.items():
        result = results[key]
        small = results.get(key.removesuffix("-all") + "-quarter") if key.endswith("-all") else None
        marginal = f"{marginal_rate(small, result):.1f}" if small else "-"
        maxrss = f"{result['maxrss_mb']:.0f} MB" if key.startswith("local") else "-"
        rate = result["rows"] / result["seconds"]
        lines.append(
            f"| {name} | {count(images):,} | {result['seconds']:.1f} s | {rate:.1f} | {marginal} | "
            f"{result['peak_pss_mb']:.0f} MB | {maxrss} |"
        )
    verdict = "yes" if identical else "NO"
    lines += [
        "",
        "Wall time includes loading the models (local) or starting Ray and its two actors, which load the "
        "models once each (Ray). *Past start-up* is the rate of the extra images of the full run over the "
        "quarter run, where those fixed costs cancel. Peak memory is the sum of PSS over the process and all "
        "its descendants: for Ray the driver, GCS, raylet and two actors that each import torch and "
        "transformers.",
        "",
        "Memory as the input grows 4x (peak of the full run minus the quarter run's): "
        + ", ".join(f"{engine} {growth(results, engine):+.0f} MB" for engine in ("local", "ray"))
        + ".",
        "",
        f"Ray's rows identical to the one-thread local engine's (sorted by path): {verdict}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--measure", nargs=4, metavar=("ENGINE", "INPUT", "OUTPUT", "THREADS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.measure:
        engine, source_dir, output, threads = args.measure
        print(json.dumps(measure(engine, source_dir, output, int(threads))))
        return 0
    with tempfile.TemporaryDirectory(prefix="fusion-batch-bench-") as temporary:
        work = Path(temporary)
        pictures = work / "pictures"
        write_pictures(pictures, args.images)
        env = os.environ | {
            "FUSION_MODELS": "tiny",
            "FUSION_TINY_DIR": str(work / "tiny"),
            "FUSION_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(ROOT),
        }
        run_measurement("local", pictures / "a", work / "warm-up.parquet", 1, env)  # builds the tiny twins
        results = {}
        for key, (name, engine, threads, count) in PLAN.items():
            source_dir = pictures / "a" if key.endswith("-quarter") else pictures
            results[key] = run_measurement(engine, source_dir, work / f"{key}.parquet", threads, env)
            print(name, count(args.images), results[key], flush=True)
        identical = same_rows(work / "local-all.parquet", work / "ray-all.parquet")
    text = report(args.images, results, identical)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
