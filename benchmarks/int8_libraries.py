"""Why ``fusion/quantization.py`` has an int8 layer of its own: one BLIP-base caption (20 tokens, bfloat16, on the
CPU) with the text decoder as loaded, with the product's int8 layers, with optimum-quanto's int8 weights and with
torchao's ``Int8WeightOnlyConfig``, each as the library documents it for eager use, in turn over rounds (after one
untimed); medians, and whether the caption's words stayed bfloat16's.

The two libraries are not dependencies of the app: install them for this run only (``pip install torchao
optimum-quanto``); a library that is not installed is left out. Random weights, published architecture.

    python benchmarks/int8_libraries.py [--rounds N] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_section
from benchmarks.cpu import make_cache, with_int8_decoders
from fusion import captioning
from fusion.cache import ModelCache
from fusion.captioning import CaptionOptions

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cpu.md"


def with_quanto(decoder: torch.nn.Module) -> None:
    from optimum.quanto import freeze, qint8, quantize

    quantize(decoder, weights=qint8)
    freeze(decoder)


def with_torchao(decoder: torch.nn.Module) -> None:
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantize_(decoder, Int8WeightOnlyConfig())


LIBRARIES: dict[str, tuple[str, Callable[[torch.nn.Module], None]]] = {
    "optimum-quanto, qint8 weights": ("optimum.quanto", with_quanto),
    "torchao, Int8WeightOnlyConfig": ("torchao", with_torchao),
}


def caches(folder: Path) -> dict[str, ModelCache]:
    """bfloat16 as loaded, the product's int8 decoder, and one cache per installed library."""
    plain = make_cache("bfloat16", folder, aot=False, tiny_dir=None)
    found = {"bfloat16 text decoder": plain, "fusion.quantization int8 layers": with_int8_decoders(plain)}
    for name, (module, apply) in LIBRARIES.items():
        if importlib.util.find_spec(module) is None:
            print(f"{module} is not installed: {name} left out", flush=True)
            continue
        cache = ModelCache(plain.settings, registry=plain.registry)
        apply(cache.get("caption").model.text_decoder)
        found[f"{name} ({_version(module)})"] = cache
    return found


def _version(module: str) -> str:
    from importlib.metadata import version

    return version({"optimum.quanto": "optimum-quanto"}.get(module, module))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    picture = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    options = CaptionOptions(min_new_tokens=20, max_new_tokens=20)
    with tempfile.TemporaryDirectory() as folder:
        variants = caches(Path(folder))
        times: dict[str, list[float]] = {name: [] for name in variants}
        words: dict[str, Any] = {}
        for index in range(-1, args.rounds):
            for name, cache in variants.items():
                started = time.perf_counter()
                words[name] = captioning.caption([picture], options, cache=cache).captions[0][0]
                if index >= 0:
                    times[name].append(time.perf_counter() - started)
    reference = words["bfloat16 text decoder"]
    lines = [
        f"{os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}; load average at start "
        f"{os.getloadavg()[0]:.1f}. `python benchmarks/int8_libraries.py {' '.join(sys.argv[1:])}`".rstrip() + ".",
        "",
        "| text decoder | median | per round | words as bfloat16's |",
        "| --- | ---: | --- | --- |",
    ]
    for name, found in times.items():
        rounds = ", ".join(f"{value:.2f}" for value in found)
        lines.append(f"| {name} | {statistics.median(found):.2f} s | {rounds} | {words[name] == reference} |")
    text = "\n".join(lines)
    print(text)
    title = "Int8 text decoders: the product's layers against two libraries' (BLIP-base caption, bfloat16)"
    write_section(args.out, title, f"## {title}\n\n{text}\n", heading="CPU tier benchmark (issue 19)")


if __name__ == "__main__":
    main()
