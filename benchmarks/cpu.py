"""The free CPU tier (2 vCPU): what makes the model panels usable, each optimisation timed beside today's path.

Today is the app's CPU path as it is: eager float32, the full VAE decode, torch's default thread count. Each
variant runs through the product's own task functions (:func:`fusion.generation.generate` with the safety checker
on, :func:`fusion.captioning.caption`, :func:`fusion.classification.zero_shot`) on the published architectures with
random weights (nothing is downloaded; timing does not depend on weight values): SD-Turbo at 512² in one step, a
20-token BLIP-base caption, a CLIP ViT-B/32 classification over five labels (the default six prompt templates).

Variants run in turn, round after round (a shared CPU drifts; every variant is hit alike), after one untimed
round; each speed-up is the median over rounds of today's time divided by the variant's time in the same round.
Wall time is what a visitor waits; this process's CPU time is reported beside it because on a shared machine
other jobs stretch wall time (OpenMP threads that wait for a core spin, so CPU time is not immune either).
Each row says how much its output differs from today's: the largest and mean pixel difference in 8-bit levels,
how many caption words differ, how many top labels differ and the largest score difference. With random
weights these differences measure rounding, not quality; TAESD against the full VAE is two unrelated random
decoders here, so its quality cost cannot be measured without the real weights. Words are coarse: the caption
section also compares the next-token logits of the bfloat16 and int8 text decoders with float32's on today's
caption (teacher-forced).

AoT rows use packages from :mod:`fusion.precompile` (built on the first run into ``--compiled-dir``, compile
time reported apart).

``--ceiling`` measures instead how far SD-Turbo's full-VAE image is from this CPU's arithmetic: the FLOPs of a UNet
step and a VAE decode, their bfloat16 times (contiguous and channels-last memory) and the rate that makes.

``--waiting`` times instead how torch's OpenMP threads wait: a bfloat16 BLIP-base caption in fresh processes with
two threads as they come (GNU OpenMP spins while it waits), two threads with ``OMP_WAIT_POLICY=PASSIVE`` (which
OpenMP reads once, when torch loads it), and one thread, in turn.

    python benchmarks/cpu.py [--sections sd-turbo caption clip] [--rounds N] [--compiled-dir DIR] [--no-aot]
                             [--waiting] [--ceiling] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._random_weights import random_weight_spec
from benchmarks._report import write_section
from benchmarks._timing import median_ms
from benchmarks.captioning import blip_base_bundle
from benchmarks.classification import clip_b32_bundle
from benchmarks.generation import real_pipeline, real_registry
from fusion import captioning, compiled, generation, precompile
from fusion.cache import ModelCache
from fusion.captioning import CaptionOptions
from fusion.classification import ZeroShotOptions, zero_shot
from fusion.config import Settings
from fusion.generation import GenerationOptions
from fusion.registry import REGISTRY

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cpu.md"
#: Issue 19's floors: how many times faster than today each panel must become on this machine.
FLOORS = {"sd-turbo": 3.0, "caption": 2.0, "clip": 1.5}
PROMPT = "a photo of a red house by a lake"
LABELS = "cat, dog, house, car, tree"


@dataclass
class Variant:
    """One way to run a panel: the call, and what it returned in the first timed round."""

    name: str
    call: Callable[[], Any]
    threads: int | None = None
    times_ms: list[float] = field(default_factory=list)
    #: This process's CPU time per call: less sensitive than wall time to other jobs on a shared machine.
    cpu_ms: list[float] = field(default_factory=list)
    output: Any = None


@dataclass(frozen=True)
class Section:
    title: str
    floor: float
    variants: list[Variant]
    #: How an output differs from today's, in words.
    difference: Callable[[Any, Any], str]
    notes: tuple[str, ...] = ()


def registry() -> dict[str, Any]:
    """The published architectures with random weights; the captioner keeps the product's load hook (int8 text
    decoders, compiled packages), as the CPU tier loads it."""
    captioner = replace(random_weight_spec("caption", blip_base_bundle), prepare=REGISTRY["caption"].prepare)
    return real_registry() | {"caption": captioner, "clip": random_weight_spec("clip", clip_b32_bundle)}


def make_cache(dtype: str, compiled_dir: Path, aot: bool, tiny_dir: Path | None) -> ModelCache:
    """Published architectures with random weights, or (``tiny_dir``, a smoke run) the tiny twins; text decoders
    as they load (int8 is the caption section's own variant, :func:`with_int8_decoders`)."""
    settings = Settings(device="cpu", dtype=dtype, memory_budget=20 << 30, compiled_dir=compiled_dir)
    settings = replace(settings, aot="load" if aot else "off", int8_decoders=False)
    if tiny_dir is not None:
        return ModelCache(replace(settings, models="tiny", tiny_dir=tiny_dir))
    return ModelCache(settings, registry=registry())


def with_int8_decoders(cache: ModelCache) -> ModelCache:
    """The same models (and packages) in a cache whose text decoders load with int8 weights."""
    return ModelCache(replace(cache.settings, int8_decoders=True), registry=cache.registry)


@contextmanager
def without_packages(cache: ModelCache, key: str) -> Iterator[None]:
    """The model's packages detached for the block (the same model runs eager)."""
    model = cache.get(key)
    saved = {}
    for path in compiled.COMPONENTS[key]:
        dispatcher = compiled.component(model, path).__dict__.get("forward")
        if dispatcher is not None:
            saved[path], dispatcher.packages = dispatcher.packages, {}
    try:
        yield
    finally:
        for path, packages in saved.items():
            compiled.component(model, path).forward.packages = packages


def build_packages(cache: ModelCache, models: tuple[str, ...], side: int) -> list[str]:
    """Frozen packages for ``models`` (kept in ``--compiled-dir``, so a second run only loads them)."""
    built = precompile.build(cache, models, ((side, side),))
    precompile.apply_all(cache)
    return [outcome.line() for outcome in built]


# ------------------------------------------------------------------------------------------------- sections
def pixels_difference(today: Any, found: Any) -> str:
    a = np.asarray(today.images[0], dtype=np.int16)
    b = np.asarray(found.images[0], dtype=np.int16)
    difference = np.abs(a - b)
    return f"max {difference.max()}, mean {difference.mean():.2f} levels"


def sd_turbo(fp32: ModelCache, bf16: ModelCache, aot: bool, side: int) -> Section:
    options = GenerationOptions(prompt=PROMPT, model="sd-turbo", steps=1, seed=7, width=side, height=side)
    taesd = replace(options, decoder="taesd")

    def run(cache: ModelCache, chosen: GenerationOptions, packages: bool = True) -> Callable[[], Any]:
        def call() -> Any:
            if packages or not aot:
                return generation.generate(chosen, cache=cache)
            with (
                without_packages(cache, "sd-turbo"),
                without_packages(cache, "taesd"),
                without_packages(cache, generation.SAFETY_KEY),
            ):
                return generation.generate(chosen, cache=cache)

        return call

    variants = [
        Variant("today: float32, full VAE decode", run(fp32, options)),
        Variant("bfloat16, full VAE decode", run(bf16, options, packages=False)),
        Variant("float32, TAESD decode (fast preview quality)", run(fp32, taesd)),
        Variant("bfloat16, TAESD decode", run(bf16, taesd, packages=False)),
        Variant(
            "bfloat16, TAESD decode, safety checker off (its cost)",
            run(bf16, replace(taesd, safety_checker=False), packages=False),
        ),
    ]
    if aot:
        variants += [
            Variant("bfloat16 + AoT packages, full VAE decode", run(bf16, options)),
            Variant("bfloat16 + AoT packages, TAESD decode", run(bf16, taesd)),
            Variant("bfloat16 + AoT packages, TAESD decode, 1 thread", run(bf16, taesd), threads=1),
        ]
    notes = (
        "TAESD rows differ from today by far more than rounding: with random weights TAESD and the VAE are "
        "unrelated decoders, so these pixel differences say nothing about TAESD's quality.",
    )
    title = f"SD-Turbo, {side}², 1 step, safety checker on"
    return Section(title, FLOORS["sd-turbo"], variants, pixels_difference, notes)


def tower_variants(
    task: Callable[[ModelCache], Any], key: str, fp32: ModelCache, bf16: ModelCache, aot: bool
) -> list[Variant]:
    """Today's float32, bfloat16 without packages, and (with ``aot``) bfloat16 with the model's AoT vision tower,
    each with torch's threads and with one: the variants of a panel whose packaged part is a vision tower."""

    def run(cache: ModelCache, packages: bool = True) -> Callable[[], Any]:
        def call() -> Any:
            if packages or not aot:
                return task(cache)
            with without_packages(cache, key):
                return task(cache)

        return call

    variants = [
        Variant("today: float32", run(fp32)),
        Variant("float32, 1 thread", run(fp32), threads=1),
        Variant("bfloat16", run(bf16, packages=False)),
        Variant("bfloat16, 1 thread", run(bf16, packages=False), threads=1),
    ]
    if aot:
        variants.append(Variant("bfloat16 + AoT vision tower", run(bf16)))
        variants.append(Variant("bfloat16 + AoT vision tower, 1 thread", run(bf16), threads=1))
    return variants


def caption(fp32: ModelCache, bf16: ModelCache, aot: bool, _side: int) -> Section:
    picture = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    options = CaptionOptions(min_new_tokens=20, max_new_tokens=20)
    int8 = with_int8_decoders(bf16)

    def words(today: Any, found: Any) -> str:
        a, b = today.captions[0][0].split(), found.captions[0][0].split()
        differ = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
        return f"{differ} of {len(a)} words differ"

    def task(cache: ModelCache) -> Any:
        return captioning.caption([picture], options, cache=cache)

    variants = tower_variants(task, "caption", fp32, bf16, aot)
    variants.append(Variant("bfloat16 + int8 text decoder", lambda: _eager(int8, task)))
    if aot:
        name = "bfloat16 + AoT vision tower + int8 text decoder"
        variants.append(Variant(name, lambda: task(int8)))
        variants.append(Variant(f"{name}, 1 thread", lambda: task(int8), threads=1))
    notes = (next_token_agreement({"bfloat16": bf16, "bfloat16 + int8 text decoder": int8}, fp32, picture),)
    return Section("BLIP-base caption, 20 tokens, greedy", FLOORS["caption"], variants, words, notes)


def _eager(cache: ModelCache, task: Callable[[ModelCache], Any]) -> Any:
    with without_packages(cache, "caption"):
        return task(cache)


def next_token_agreement(caches: dict[str, ModelCache], today: ModelCache, picture: np.ndarray) -> str:
    """How each variant's decoder differs from float32's where word changes are too coarse to see it: the
    next-token logits on today's own 20-token caption (teacher-forced), their largest difference, and how often
    the top token stays the same."""

    def logits(cache: ModelCache, ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        with cache.use("caption") as bundle:
            pixels = bundle.processor(images=[picture], return_tensors="pt")["pixel_values"]
            pixels = pixels.to(bundle.model.dtype)
            if ids is None:
                ids = bundle.model.generate(pixel_values=pixels, min_new_tokens=20, max_new_tokens=20)
            return ids, bundle.model(pixel_values=pixels, input_ids=ids[:, :-1]).logits[0].float()

    ids, reference = logits(today)
    spread = float(reference.max() - reference.min())
    top_two = reference.topk(2).values
    parts = []
    for name, cache in caches.items():
        found = logits(cache, ids)[1]
        same = int((found.argmax(-1) == reference.argmax(-1)).sum())
        largest = float((found - reference).abs().max())
        parts.append(f"{name}: largest difference {largest:.3f}, same top token at {same} of {len(reference)}")
    return (
        "Next-token logits against float32's, teacher-forced on today's caption (logits span "
        f"{spread:.2f}; the closest top two are {float((top_two[:, 0] - top_two[:, 1]).min()):.3f} apart): "
        + "; ".join(parts)
        + "."
    )


def clip(fp32: ModelCache, bf16: ModelCache, aot: bool, _side: int) -> Section:
    picture = np.random.default_rng(4).integers(0, 256, (480, 640, 3), dtype=np.uint8)

    def scores(today: Any, found: Any) -> str:
        gap = max(abs(a - b) for a, b in zip(today.scores, found.scores, strict=True))
        first, second = sorted(today.scores, reverse=True)[:2]
        same = "same top label" if today.top_label == found.top_label else "other top label"
        return f"largest score difference {gap:.1e}; {same} (today's top two scores {first - second:.1e} apart)"

    variants = tower_variants(
        lambda cache: zero_shot(picture, LABELS, ZeroShotOptions(), cache=cache), "clip", fp32, bf16, aot
    )
    return Section("CLIP ViT-B/32 zero-shot, 5 labels x 6 templates", FLOORS["clip"], variants, scores)


SECTIONS = {"sd-turbo": sd_turbo, "caption": caption, "clip": clip}
#: The models each section compiles packages for.
PACKAGES = {"sd-turbo": ("sd-turbo", "taesd", generation.SAFETY_KEY), "caption": ("caption",), "clip": ("clip",)}


# --------------------------------------------------------------------------------------------------- timing
def time_rounds(section: Section, rounds: int) -> None:
    """One untimed round, then ``rounds`` rounds of every variant in turn."""
    default_threads = torch.get_num_threads()
    for index in range(-1, rounds):
        for variant in section.variants:
            torch.set_num_threads(variant.threads or default_threads)
            try:
                started, cpu_started = time.perf_counter(), time.process_time()
                output = variant.call()
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            finally:
                torch.set_num_threads(default_threads)
            if index >= 0:
                variant.times_ms.append(elapsed * 1000)
                variant.cpu_ms.append(cpu * 1000)
                variant.output = output if variant.output is None else variant.output
        print(f"  round {index + 1}: " + ", ".join(f"{v.name} {v.times_ms[-1:]}" for v in section.variants), flush=True)


def table(section: Section) -> list[str]:
    today = section.variants[0]
    lines = [
        f"### {section.title}",
        "",
        "| variant | median | speed-up vs today | floor | CPU time | CPU-time ratio | differs from today |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for variant in section.variants:
        speedup = statistics.median(a / b for a, b in zip(today.times_ms, variant.times_ms, strict=True))
        cpu_ratio = statistics.median(a / b for a, b in zip(today.cpu_ms, variant.cpu_ms, strict=True))
        met = "met" if speedup >= section.floor else "missed"
        verdict = f"≥ {section.floor:g}x: {met}" if variant is not today else ""
        difference = "—" if variant is today else section.difference(today.output, variant.output)
        median, cpu = statistics.median(variant.times_ms), statistics.median(variant.cpu_ms)
        lines.append(
            f"| {variant.name} | {median / 1000:.2f} s | {speedup:.2f}x | {verdict} | {cpu / 1000:.2f} s "
            f"| {cpu_ratio:.2f}x | {difference} |"
        )
    return [*lines, "", *section.notes, ""] if section.notes else [*lines, ""]


WAITING = {
    "2 threads, OpenMP default (spinning)": ({}, None),
    "2 threads, OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, None),
    "1 thread": ({}, 1),
}


def waiting(rounds: int) -> list[str]:
    """Each OpenMP setting in a fresh process, in turn, ``rounds`` times; a child prints its caption timings."""
    import json
    import subprocess

    results: dict[str, list[dict[str, float]]] = {name: [] for name in WAITING}
    for _ in range(rounds):
        for name, (env, threads) in WAITING.items():
            command = [sys.executable, __file__, "--caption-child", *(["--threads", str(threads)] if threads else [])]
            done = subprocess.run(command, env=os.environ | env, capture_output=True, text=True, check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(name, results[name][-1], flush=True)
    lines = [
        "### How OpenMP threads wait: BLIP-base caption, 20 tokens, bfloat16",
        "",
        "Medians over processes of each process's median of 5 captions (after one untimed); load average of the "
        "machine when each process ended, as it varied.",
        "",
        "| setting | wall time | CPU time | load averages |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, found in results.items():
        wall = statistics.median(result["wall_s"] for result in found)
        cpu = statistics.median(result["cpu_s"] for result in found)
        loads = ", ".join(f"{result['load']:.1f}" for result in found)
        lines.append(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {loads} |")
    return [*lines, ""]


def ceiling(rounds: int, side: int) -> list[str]:
    """How far SD-Turbo's full-VAE image is from this CPU's arithmetic: the FLOPs of one UNet step and one VAE decode
    (torch's ``FlopCounterMode``), their bfloat16 times in contiguous and channels-last memory, and the rate they
    reach, beside a 577x768 by 768x3072 bfloat16 matrix product's (one of BLIP's vision MLP layers)."""
    from torch.utils.flop_counter import FlopCounterMode

    pipe = real_pipeline("sd-turbo", torch.device("cpu"), torch.bfloat16)
    latents = torch.randn(1, 4, side // 8, side // 8, dtype=torch.bfloat16)
    prompt = torch.randn(1, 77, pipe.text_encoder.config.hidden_size, dtype=torch.bfloat16)
    calls: dict[str, Callable[[torch.Tensor], Any]] = {
        "UNet, one step": lambda x: pipe.unet(x, 999, encoder_hidden_states=prompt),
        "VAE decode": lambda x: pipe.vae.decode(x),
    }
    activations, weights = torch.randn(577, 768, dtype=torch.bfloat16), torch.randn(3072, 768, dtype=torch.bfloat16)
    product_ms = median_ms(lambda: torch.nn.functional.linear(activations, weights), max(rounds, 5))
    lines = [
        f"bfloat16, {side}², {torch.get_num_threads()} threads; medians of {rounds} calls after one untimed. A "
        f"577x768 by 768x3072 matrix product: {2 * 577 * 768 * 3072 / product_ms / 1e6:.0f} GFLOP/s.",
        "",
        "| component | TFLOP | contiguous | channels-last | GFLOP/s (faster of the two) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, call in calls.items():
        with FlopCounterMode(display=False) as counter:
            call(latents)
        flops = counter.get_total_flops()
        times = []
        for layout in (torch.contiguous_format, torch.channels_last):
            pipe.unet.to(memory_format=layout)
            pipe.vae.to(memory_format=layout)
            laid_out = latents.contiguous(memory_format=layout)
            times.append(median_ms(lambda laid_out=laid_out, call=call: call(laid_out), rounds) / 1000)
        lines.append(
            f"| {name} | {flops / 1e12:.2f} | {times[0]:.2f} s | {times[1]:.2f} s | {flops / min(times) / 1e9:.0f} |"
        )
    return [*lines, ""]


def caption_child(threads: int | None) -> None:
    """One process of :func:`waiting`: a bfloat16 BLIP-base caption, one untimed and five timed."""
    import json

    if threads:
        torch.set_num_threads(threads)
    cache = make_cache("bfloat16", Path(tempfile.gettempdir()), aot=False, tiny_dir=None)
    picture = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    options = CaptionOptions(min_new_tokens=20, max_new_tokens=20)
    captioning.caption([picture], options, cache=cache)
    walls, cpus = [], []
    for _ in range(5):
        started, cpu_started = time.perf_counter(), time.process_time()
        captioning.caption([picture], options, cache=cache)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    result = {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "load": os.getloadavg()[0]}
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds after the untimed one")
    parser.add_argument("--compiled-dir", type=Path, help="where AoT packages are built and reused (default: temp)")
    parser.add_argument("--no-aot", action="store_true", help="skip the AoT package rows (no compiling)")
    parser.add_argument("--tiny", action="store_true", help="smoke run on the tiny twins at 64² (numbers mean nothing)")
    parser.add_argument("--waiting", action="store_true", help="time how OpenMP threads wait (BLIP caption)")
    parser.add_argument("--ceiling", action="store_true", help="SD-Turbo's FLOPs against this CPU's rate (bfloat16)")
    parser.add_argument("--caption-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.caption_child:
        return caption_child(args.threads)
    if args.waiting:
        text = "\n".join(waiting(args.rounds))
        print(text)
        title = f"OpenMP waiting, CPU ({os.cpu_count()} cores)"
        return write_section(args.out, title, f"## {title}\n\n{text}\n", heading="CPU tier benchmark (issue 19)")
    if args.ceiling:
        text = "\n".join(ceiling(args.rounds, 64 if args.tiny else 512))
        print(text)
        title = "Arithmetic ceiling: SD-Turbo in bfloat16"
        if not args.tiny:
            write_section(args.out, title, f"## {title}\n\n{text}\n", heading="CPU tier benchmark (issue 19)")
        return None
    aot = not args.no_aot
    lines = [
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({torch.backends.cpu.get_cpu_capability()}, AVX-512 BF16: {torch.cpu._is_avx512_bf16_supported()}, "
        f"AMX: {torch.cpu._is_amx_tile_supported()}), {torch.get_num_threads()} torch threads by default; "
        f"torch {torch.__version__}, Python {platform.python_version()}; load average at start "
        f"{os.getloadavg()[0]:.1f}. `python benchmarks/cpu.py {' '.join(sys.argv[1:])}`".rstrip() + ".",
        "",
    ]
    side = 64 if args.tiny else 512
    with tempfile.TemporaryDirectory() as folder:
        compiled_dir = args.compiled_dir or Path(folder) / "compiled"
        tiny_dir = Path(folder) / "tiny" if args.tiny else None
        for name in args.sections:
            fp32 = make_cache("float32", compiled_dir, aot=False, tiny_dir=tiny_dir)
            bf16 = make_cache("bfloat16", compiled_dir, aot=aot, tiny_dir=tiny_dir)
            if aot:
                started = time.perf_counter()
                built = build_packages(bf16, PACKAGES[name], side)
                lines += [f"AoT packages for {name} ({time.perf_counter() - started:.0f} s with capture runs):", ""]
                lines += [f"- {line}" for line in built] + [""]
            section = SECTIONS[name](fp32, bf16, aot, side)
            print(section.title, flush=True)
            time_rounds(section, args.rounds)
            lines += table(section)
            del fp32, bf16
    text = "\n".join(lines)
    print(text)
    if args.tiny:
        return
    title = f"Real architectures, random weights, CPU ({os.cpu_count()} cores)"
    write_section(args.out, title, f"## {title}\n\n{text}\n", heading="CPU tier benchmark (issue 19)")


if __name__ == "__main__":
    main()
