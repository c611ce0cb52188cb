"""GPU speed of every model through the product's own code paths, each optimisation on and off, against floors.

One run builds SD 1.5, SD-Turbo, the tiny autoencoder (TAESD), the safety checker, BLIP-base and CLIP ViT-B/32
from their published configurations with random weights (nothing is downloaded; timing does not depend on weight
values), keeps them in one shared :class:`fusion.cache.ModelCache`, and times:

* SD 1.5, 512², 25 steps with classifier-free guidance, and SD-Turbo, 512², 1 and 4 steps, through
  :func:`fusion.generation.generate` (safety checker on, as in the app), with each speed-up of
  :mod:`fusion.acceleration` on and off, fp16 against bf16, live previews on and off, and ``torch.compile``
  (regional, full, CUDA graphs) on a fresh copy of the UNet, compile time reported apart;
* guidance batched (one UNet call on a batch of two) against two calls, and the full VAE decode against TAESD;
* where a one-step SD-Turbo image's time goes, each model call eager and replayed as a CUDA graph;
* a 20-token BLIP-base caption and a batch of 8 through :func:`fusion.captioning.caption`, fp16 and bf16, through
  ``generate`` and through the CUDA-graph greedy loop (:mod:`fusion.static_greedy`), with how often they agree;
* one CLIP image embedding through the classification path and the bare model call;
* cold loads through the app's own registry loaders (``from_pretrained`` of local safetensors folders written
  here), after asking the kernel to drop its page cache.

Each figure is the median of several calls, after warm-up, each call with fresh inputs (another seed, prompt or
image), timed with CUDA events around the whole call. Its floor comes from counted work: the FLOPs of one call
(``torch.utils.flop_counter``) at the matrix rate and the weight bytes read by its model calls at the copy
bandwidth, both measured at the start of the run; the larger of the two is the floor.

``--quick`` runs the same code on the tiny twins at small sizes (it is what CI runs, on the CPU, in seconds);
its numbers prove the script works and say nothing about a GPU. Compilation and CUDA graphs run on CUDA only.

Warm calls of the fastest eager and the compiled variants, and of a graphed caption, are also profiled
(cProfile, host time by function) into the JSON's ``profiles``.

    python benchmarks/gpu.py [--quick] [--device auto|cpu|cuda] [--budget-s S] [--parts PART ...]
        [--models sd15 sd-turbo] [--compile MODEL:MODE ...] [--json FILE] [--markdown FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import cProfile
import gc
import io
import json
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._random_weights import random_weight_spec
from benchmarks.agent import measure as measure_planning_step
from benchmarks.agent import qwen3_bundle
from benchmarks.captioning import blip_base_bundle
from benchmarks.classification import clip_b32_bundle
from benchmarks.generation import real_registry
from fusion import acceleration, captioning, compiled, generation, precompile
from fusion.acceleration import Acceleration
from fusion.agent.planner import ASSISTANT_KEY
from fusion.cache import ModelCache, module_bytes
from fusion.captioning import CaptionOptions
from fusion.classification.hybrid import clip_image_embeddings
from fusion.config import Settings
from fusion.cuda_graphs import CapturedCall
from fusion.generation import GenerationOptions
from fusion.registry import REGISTRY, ModelBundle, ModelSpec

PROMPTS = (
    "a photo of a red house by a lake",
    "an oil painting of a lighthouse at dusk",
    "a close-up of a tabby cat on a wooden table",
    "a watercolour of mountains above a foggy valley",
    "a street market in the rain, photograph",
)
T = TypeVar("T")
#: Goals on an H200-class GPU (issue 9), in milliseconds.
GOALS_MS = {"sd15": 300.0, "sd-turbo-1": 30.0, "caption": 40.0}
#: Compile variants, most telling first (on the H200, CUDA graphs gained most and regional compilation nothing):
#: each costs a compile of up to 90 s, and the run stops starting them when the budget runs low.
DEFAULT_COMPILE = [
    "sd15:cudagraphs",
    "sd-turbo:cudagraphs-all",
    "sd-turbo:cudagraphs",
    "sd15:full",
    "sd15:regional",
    "sd-turbo:regional",
    "sd-turbo:full",
]


@dataclass(frozen=True)
class Sizes:
    """What one run times: the published settings, or tiny ones for ``--quick``."""

    side: int = 512
    sd15_steps: int = 25
    turbo_steps: tuple[int, ...] = (1, 4)
    caption_tokens: int = 20
    caption_batch: int = 8
    repeats: int = 7
    warmup: int = 2


QUICK = Sizes(side=64, sd15_steps=2, turbo_steps=(1, 2), caption_tokens=4, caption_batch=4, repeats=2, warmup=1)


@dataclass
class Row:
    """One measured figure: median milliseconds, and its floor and goal when it has them."""

    section: str
    name: str
    ms: float | None
    floor_ms: float | None = None
    goal_ms: float | None = None
    note: str = ""
    samples_ms: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return self.ms / self.floor_ms if self.ms and self.floor_ms else None


@dataclass(frozen=True)
class Ceilings:
    """The device's matrix rate and copy bandwidth, measured at the start of the run."""

    flops_per_s: float
    bytes_per_s: float

    def floor_ms(self, flops: float, weight_bytes: float) -> float:
        return max(flops / self.flops_per_s, weight_bytes / self.bytes_per_s) * 1000


class Run:
    """The timer, the rows so far (written after each one, so a run cut short still reports), and the budget."""

    def __init__(self, device: torch.device, sizes: Sizes, budget_s: float, json_path: Path | None) -> None:
        self.device = device
        self.sizes = sizes
        self.deadline = time.monotonic() + budget_s
        self.json_path = json_path
        self.rows: list[Row] = []
        self.ceilings = Ceilings(1.0, 1.0)
        #: Where one warm call's host time goes (cProfile, by cumulative time), per measurement name.
        self.profiles: dict[str, str] = {}

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        shown = "skipped" if row.ms is None else f"{row.ms:.3f} ms"
        print(f"[{row.section}] {row.name}: {shown} {row.note}", flush=True)
        if self.json_path:
            self.json_path.write_text(json.dumps(self.report(), indent=1))
        return row

    def skip(self, section: str, name: str, why: str) -> None:
        self.add(Row(section, name, None, note=why))

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def time_once(self, fn: Callable[[], Any]) -> float:
        """Milliseconds of one call, to the end of its GPU work (CUDA events around it on CUDA)."""
        if not self.cuda:
            started = time.perf_counter()
            fn()
            return (time.perf_counter() - started) * 1000
        self.sync()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    def median(self, fn: Callable[[int], Any], *, repeats: int | None = None, warmup: int | None = None) -> Row:
        """Median of ``fn(i)`` over fresh inputs ``i`` (warm-up calls use inputs of their own)."""
        warmup = self.sizes.warmup if warmup is None else warmup
        for i in range(warmup):
            fn(-1 - i)
        samples = [self.time_once(lambda i=i: fn(i)) for i in range(repeats or self.sizes.repeats)]
        return Row("", "", statistics.median(samples), samples_ms=[round(s, 4) for s in samples])

    def report(self) -> dict[str, Any]:
        return {
            "device": torch.cuda.get_device_name(self.device) if self.cuda else f"CPU ({os.cpu_count()} cores)",
            "torch": torch.__version__,
            "python": platform.python_version(),
            "sizes": asdict(self.sizes),
            "ceilings": asdict(self.ceilings),
            "rows": [asdict(row) | {"ratio": row.ratio} for row in self.rows],
            "profiles": self.profiles,
        }

    def profile(self, name: str, fn: Callable[[], Any], *, lines: int = 45) -> None:
        """Keep the functions one call of ``fn`` spends most host time in (the GPU is waited for at the end)."""
        profiler = cProfile.Profile()
        profiler.runcall(lambda: (fn(), self.sync()))
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(lines)
        self.profiles[name] = text.getvalue()


# ---------------------------------------------------------------------------------------------- counting work
def measure_ceilings(run: Run) -> Ceilings:
    """The dense half-precision matrix rate and the device-to-device copy bandwidth, as the floors' ceilings."""
    side, dtype, count = (8192, torch.bfloat16, 1 << 30) if run.cuda else (1024, torch.float32, 1 << 26)
    a = torch.randn(side, side, device=run.device, dtype=dtype)
    b = torch.randn(side, side, device=run.device, dtype=dtype)
    matmul_ms = run.median(lambda _i: a @ b, repeats=10, warmup=3).ms
    source = torch.empty(count, dtype=torch.uint8, device=run.device)
    target = torch.empty_like(source)
    copy_ms = run.median(lambda _i: target.copy_(source), repeats=10, warmup=3).ms
    return Ceilings(flops_per_s=2 * side**3 / (matmul_ms / 1000), bytes_per_s=2 * count / (copy_ms / 1000))


@contextmanager
def counted_calls(modules: dict[str, torch.nn.Module]) -> Iterator[Counter[str]]:
    """How many times each module's ``forward`` runs inside the block."""
    calls: Counter[str] = Counter()
    handles = [
        module.register_forward_hook(lambda *_args, name=name: calls.update([name])) for name, module in modules.items()
    ]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def floor_ms(run: Run, fn: Callable[[], Any], modules: dict[str, torch.nn.Module]) -> float:
    """The floor of one call: its counted FLOPs at the matrix rate, or the weight bytes its model calls read at
    the copy bandwidth, whichever is larger."""
    from torch.utils.flop_counter import FlopCounterMode

    with counted_calls(modules) as calls, FlopCounterMode(display=False) as counter:
        fn()
    weight_bytes = sum(calls[name] * module_bytes(module) for name, module in modules.items())
    return run.ceilings.floor_ms(counter.get_total_flops(), weight_bytes)


def pipeline_modules(pipe: Any) -> dict[str, torch.nn.Module]:
    return {"unet": pipe.unet, "text encoder": pipe.text_encoder, "VAE decoder": pipe.vae.decoder}


# ----------------------------------------------------------------------------------------------- the models
def published_registry() -> dict[str, ModelSpec]:
    """The app's keys, each built from its published configuration with random weights."""
    return real_registry() | {
        "caption": random_weight_spec("caption", blip_base_bundle),
        "clip": random_weight_spec("clip", clip_b32_bundle),
        ASSISTANT_KEY: random_weight_spec(ASSISTANT_KEY, qwen3_bundle),
    }


def make_cache(quick: bool, device: str, folder: Path, **settings: Any) -> ModelCache:
    if quick:  # a dry run of every part: float32, whatever the CPU could do, so that its rows stay comparable
        settings = {"dtype": "float32", **settings}
        tiny = Settings(models="tiny", tiny_dir=folder / "tiny", device=device, memory_budget=8 << 30, **settings)
        return ModelCache(tiny)
    return ModelCache(Settings(device=device, memory_budget=120 << 30, **settings), registry=published_registry())


def random_pictures(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(count)]


# ------------------------------------------------------------------------------------------------ generation
def generation_options(model: str, steps: int, side: int, i: int) -> GenerationOptions:
    return GenerationOptions(
        prompt=PROMPTS[i % len(PROMPTS)], model=model, steps=steps, seed=1000 + i, width=side, height=side
    )


def generate_call(cache: ModelCache, model: str, steps: int, side: int, *, previews: bool = False):
    on_step = (lambda _update: None) if previews else None
    return lambda i: generation.generate(generation_options(model, steps, side, i), cache=cache, on_step=on_step)


def eager_variants(dtype: torch.dtype) -> list[tuple[str, Acceleration, torch.dtype]]:
    """Each speed-up alone on top of the plain run (fp16/bf16, SDPA), then the ones that stack."""
    plain = acceleration.NATIVE
    return [
        (f"plain ({_dtype_name(dtype)}, SDPA)", plain, dtype),
        ("classic attention instead of SDPA", replace(plain, sdpa=False), dtype),
        ("+ channels-last", replace(plain, channels_last=True), dtype),
        ("+ fused QKV", replace(plain, fuse_qkv=True), dtype),
        ("+ channels-last + fused QKV", replace(plain, channels_last=True, fuse_qkv=True), dtype),
        ("+ fused QKV + cuDNN autotuning", replace(plain, fuse_qkv=True, cudnn_benchmark=True), dtype),
        (
            "+ channels-last + fused QKV + cuDNN autotuning",
            replace(plain, channels_last=True, fuse_qkv=True, cudnn_benchmark=True),
            dtype,
        ),
        ("plain in bfloat16", plain, torch.bfloat16),
    ]


def measure_generation(run: Run, cache: ModelCache, model: str, steps: int) -> tuple[Acceleration, float | None]:
    """Every eager variant of one model at one step count, timed in turn round after round (so that drifts of
    clock or load hit all alike); returns the fastest variant and the floor."""
    section = f"{model}, {run.sizes.side}², {steps} step(s)"
    goal = GOALS_MS.get(model if model == "sd15" else f"{model}-{steps}")
    pipe = cache.get(model)
    call = generate_call(cache, model, steps, run.sizes.side)
    acceleration.apply(pipe, Acceleration())
    modules = pipeline_modules(pipe) | {"safety checker": cache.get(generation.SAFETY_KEY).model}
    floor = floor_ms(run, lambda: call(0), modules)
    variants = eager_variants(cache.dtype)
    samples: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for i in range(-run.sizes.warmup, run.sizes.repeats):
        for name, variant, dtype in variants:
            pipe.to(dtype=dtype)
            acceleration.apply(pipe, variant)
            ms = run.time_once(lambda i=i: call(i))
            if i >= 0:
                samples[name].append(ms)
    pipe.to(dtype=cache.dtype)
    medians = {name: statistics.median(times) for name, times in samples.items()}
    for name, _, _ in variants:
        times = [round(ms, 4) for ms in samples[name]]
        run.add(Row(section, name, medians[name], floor_ms=floor, goal_ms=goal, samples_ms=times))
    same_dtype = [(medians[name], variant) for name, variant, dtype in variants if dtype == cache.dtype]
    best = min(same_dtype, key=lambda pair: pair[0])[1]
    acceleration.apply(pipe, best)
    run.profile(f"{section}: fastest eager", lambda: call(-300))
    row = run.median(generate_call(cache, model, steps, run.sizes.side, previews=True))
    run.add(replace(row, section=section, name="fastest eager + live TAESD previews", floor_ms=floor, goal_ms=goal))
    return best, floor


def measure_compiled(run: Run, cache: ModelCache, model: str, steps: int, mode: str, best: Acceleration, floor: float):
    """One ``torch.compile`` mode on a fresh copy of the model (compilation cannot be undone), if time is left."""
    section = f"{model}, {run.sizes.side}², {steps} step(s)"
    name = f"fastest eager + torch.compile ({mode})"
    if not run.cuda:
        return run.skip(section, name, "CUDA only")
    if run.left_s() < 120:
        return run.skip(section, name, "out of time budget")
    cache.evict(model)
    cache.evict(generation.SAFETY_KEY)  # cudagraphs-all compiles the checker too: each variant gets a fresh one
    gc.collect()
    torch.cuda.empty_cache()
    pipe = cache.get(model)
    call = generate_call(cache, model, steps, run.sizes.side)
    try:
        acceleration.apply(pipe, replace(best, compile=mode))
        # The app graphs the checker at load when FUSION_COMPILE says so; here the mode changes per variant.
        acceleration.ensure_safety_checker(cache.get(generation.SAFETY_KEY).model, replace(best, compile=mode))
        first_ms = run.time_once(lambda: call(-100))
        row = run.median(call)
        run.profile(f"{section}: {name}", lambda: call(-200))
    except Exception as error:  # a compiler failure is a result to report, not a reason to stop the run
        return run.skip(section, name, f"failed: {type(error).__name__}: {str(error)[:200]}")
    goal = GOALS_MS.get(model if model == "sd15" else f"{model}-{steps}")
    note = f"first call (compiles) {first_ms / 1000:.1f} s"
    run.add(replace(row, section=section, name=name, floor_ms=floor, goal_ms=goal, note=note))


def measure_breakdown(run: Run, cache: ModelCache) -> None:
    """Where a one-step SD-Turbo image's time goes, and what each model call costs the GPU itself: the same call
    replayed as a CUDA graph, with no Python or kernel-launch time around it (CUDA only)."""
    section = "where the time goes"
    pipe, checker = cache.get("sd-turbo"), cache.get(generation.SAFETY_KEY)
    acceleration.apply(pipe, Acceleration())
    latent = run.sizes.side // pipe.vae_scale_factor
    ids = pipe.tokenizer(PROMPTS[0], padding="max_length", max_length=77, return_tensors="pt").input_ids
    ids = ids.to(run.device)
    text = pipe.text_encoder(ids)[0]
    timestep = torch.tensor(999, device=run.device)
    latents = torch.randn(1, 4, latent, latent, device=run.device, dtype=cache.dtype)
    pixels = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    images = pipe.image_processor.postprocess(pixels, output_type="pil")
    decoded = generation.to_bytes(pipe, pixels)
    clip_input = checker.processor(images, return_tensors="pt").pixel_values.to(run.device, cache.dtype)
    parts = {
        "SD-Turbo text encoder (OpenCLIP ViT-H text, 77 tokens)": lambda: pipe.text_encoder(ids),
        "SD-Turbo UNet, batch 1": lambda: pipe.unet(latents, timestep, text, return_dict=False),
        f"SD VAE decode, {run.sizes.side}²": lambda: pipe.vae.decode(latents, return_dict=False),
        "decoded pixels to PIL: diffusers postprocess (rounds on the CPU)": lambda: pipe.image_processor.postprocess(
            pixels, output_type="pil"
        ),
        "decoded pixels to PIL: the app's to_bytes + to_pil (rounds on the GPU)": lambda: generation.to_pil(
            generation.to_bytes(pipe, pixels)
        ),
        "safety checker, all of it (from the decoded pixels)": lambda: generation.check_safety(checker, decoded),
        "safety checker: preprocessing of PIL images (as diffusers does)": lambda: checker.processor(
            images, return_tensors="pt"
        ).pixel_values.to(run.device, cache.dtype),
        "safety checker: preprocessing of the decoded pixels": lambda: generation.safety_inputs(checker, decoded),
        "safety checker: model (CLIP ViT-L/14, concept scores)": lambda: checker.model(
            images=[np.asarray(image) for image in images], clip_input=clip_input
        ),
    }
    with torch.inference_mode():
        for name, fn in parts.items():
            run.add(replace(run.median(lambda _i, fn=fn: fn()), section=section, name=name))
        if not run.cuda:
            return run.skip(section, "model calls replayed as CUDA graphs", "CUDA only")
        sd15 = cache.get("sd15")
        acceleration.apply(sd15, Acceleration())
        width = sd15.text_encoder.config.hidden_size
        guided = (
            torch.randn(2, 4, latent, latent, device=run.device, dtype=cache.dtype),
            timestep,
            torch.randn(2, 77, width, device=run.device, dtype=cache.dtype),
        )
        calls: dict[str, tuple[Callable[..., Any], tuple[torch.Tensor, ...]]] = {
            "SD-Turbo text encoder": (lambda i: pipe.text_encoder(i)[0], (ids,)),
            "SD-Turbo UNet, batch 1": (lambda *a: pipe.unet(*a, return_dict=False)[0], (latents, timestep, text)),
            "SD 1.5 UNet, batch 2 (one guided step)": (lambda *a: sd15.unet(*a, return_dict=False)[0], guided),
            f"SD VAE decode, {run.sizes.side}²": (lambda z: pipe.vae.decode(z, return_dict=False)[0], (latents,)),
            "safety checker's vision tower": (lambda x: checker.model.vision_model(x)[1], (clip_input,)),
        }
        for name, (fn, inputs) in calls.items():
            time_eager_and_graph(run, section, name, fn, inputs)
        decode, _ = calls[f"SD VAE decode, {run.sizes.side}²"]
        for variant in (
            replace(acceleration.NATIVE, cudnn_benchmark=True),
            replace(acceleration.NATIVE, channels_last=True),
            replace(acceleration.NATIVE, channels_last=True, cudnn_benchmark=True),
        ):
            acceleration.apply(pipe, variant)
            switches = ", ".join(k for k in ("channels_last", "cudnn_benchmark") if getattr(variant, k))
            time_eager_and_graph(run, section, f"SD VAE decode with {switches}", decode, (latents,))
        acceleration.apply(pipe, Acceleration())


def time_eager_and_graph(
    run: Run, section: str, name: str, fn: Callable[..., Any], inputs: tuple[torch.Tensor, ...]
) -> None:
    """``fn(*inputs)`` called eagerly, then the same call recorded once and replayed as a CUDA graph."""
    eager = run.median(lambda _i: fn(*inputs))
    captured = CapturedCall(fn, *inputs)
    replay = run.median(lambda _i: captured.graph.replay())
    run.add(replace(eager, section=section, name=f"{name}: eager call"))
    run.add(replace(replay, section=section, name=f"{name}: replayed CUDA graph (GPU time alone)"))


def measure_guidance_batching(run: Run, cache: ModelCache) -> None:
    """One UNet call on the conditional and unconditional halves together, against two calls."""
    section = "SD 1.5 UNet, one guided step"
    pipe = cache.get("sd15")
    acceleration.apply(pipe, Acceleration())
    latent = run.sizes.side // pipe.vae_scale_factor
    width = pipe.text_encoder.config.hidden_size

    def inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        latents = torch.randn(batch, 4, latent, latent, device=run.device, dtype=cache.dtype)
        text = torch.randn(batch, 77, width, device=run.device, dtype=cache.dtype)
        return latents, text

    pair, single = inputs(2), inputs(1)
    with torch.inference_mode():
        floor = floor_ms(run, lambda: pipe.unet(*_unet_args(pair)), {"unet": pipe.unet})
        batched = run.median(lambda _i: pipe.unet(*_unet_args(pair)))
        split = run.median(lambda _i: (pipe.unet(*_unet_args(single)), pipe.unet(*_unet_args(single))))
    run.add(replace(batched, section=section, name="guidance batched: one call on a batch of 2", floor_ms=floor))
    run.add(replace(split, section=section, name="guidance unbatched: two calls on a batch of 1", floor_ms=floor))


def _unet_args(inputs: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int, torch.Tensor]:
    latents, text = inputs
    return latents, 500, text


def measure_decoders(run: Run, cache: ModelCache) -> None:
    """The full VAE decode the app finishes with, against TAESD (what live previews use)."""
    section = f"decode one {run.sizes.side}² image"
    pipe, taesd = cache.get("sd15"), cache.get(generation.PREVIEW_KEY)
    latent = run.sizes.side // pipe.vae_scale_factor
    generators = [torch.Generator().manual_seed(0)]

    def latents(i: int) -> torch.Tensor:
        noise = torch.Generator(device="cpu").manual_seed(i + 10)
        return torch.randn(1, 4, latent, latent, generator=noise).to(run.device, cache.dtype)

    with torch.inference_mode():
        full_floor = floor_ms(run, lambda: pipe.vae.decode(latents(0)), {"VAE decoder": pipe.vae.decoder})
        tiny_floor = floor_ms(run, lambda: taesd.decode(latents(0)), {"TAESD": taesd})
        full = run.median(lambda i: generation.to_pil(generation.decode_latents(pipe, latents(i), generators)))
        tiny = run.median(lambda i: taesd.decode(latents(i), return_dict=False)[0].float().cpu())
    run.add(
        replace(full, section=section, name="VAE decode + postprocess (the app's final decode)", floor_ms=full_floor)
    )
    run.add(replace(tiny, section=section, name="TAESD decode (tiny autoencoder)", floor_ms=tiny_floor))


# ---------------------------------------------------------------------------------------- captions and CLIP
def measure_captions(run: Run, cache: ModelCache) -> None:
    """Greedy captions through ``generate`` and (CUDA only) through the fixed-shape loop replaying CUDA graphs,
    fp16 and bf16, and how many captions the two paths agree on."""
    tokens, batch = run.sizes.caption_tokens, run.sizes.caption_batch
    section = f"BLIP-base caption, {tokens} tokens"
    options = CaptionOptions(min_new_tokens=tokens, max_new_tokens=tokens, batch_size=batch)
    bundle = cache.get("caption")
    pictures = random_pictures(batch + run.sizes.repeats + run.sizes.warmup, seed=1)

    def one(i: int) -> Any:
        return captioning.caption([pictures[i % len(pictures)]], options, cache=cache)

    def several(i: int) -> Any:
        start = i % len(pictures)
        return captioning.caption((pictures * 2)[start : start + batch], options, cache=cache)

    modules = {"vision": bundle.model.vision_model, "text decoder": bundle.model.text_decoder}
    with torch.inference_mode(), caption_graphs(cache, on=False):
        single_floor = floor_ms(run, lambda: one(0), modules)
        batch_floor = floor_ms(run, lambda: several(0), modules)
    paths = {"generate": False, "CUDA graphs": True} if run.cuda else {"generate": False}
    for dtype in dict.fromkeys((cache.dtype, torch.bfloat16)):
        bundle.model.to(dtype)
        captions = {}
        for path, graphs in paths.items():
            with caption_graphs(cache, on=graphs):
                name = f"1 image ({_dtype_name(dtype)}, {path})"
                row = replace(run.median(one), section=section, name=name, floor_ms=single_floor)
                run.add(replace(row, goal_ms=GOALS_MS["caption"]))
                row = run.median(several)
                note = f"{row.ms / batch:.2f} ms per image"
                name = f"batch of {batch} ({_dtype_name(dtype)}, {path})"
                run.add(replace(row, section=section, name=name, floor_ms=batch_floor, note=note))
                captions[path] = captioning.caption(pictures, replace(options, min_new_tokens=0), cache=cache)
                if graphs:
                    run.profile(f"{section}: 1 image ({_dtype_name(dtype)}, {path})", lambda: one(-50))
        if len(captions) == 2:
            same = sum(a == b for a, b in zip(*(c.captions for c in captions.values()), strict=True))
            run.skip(section, f"same caption from both paths ({_dtype_name(dtype)})", f"{same} of {len(pictures)}")
    bundle.model.to(cache.dtype)


@contextmanager
def caption_graphs(cache: ModelCache, *, on: bool) -> Iterator[None]:
    """Captions through the CUDA-graph loop (where the settings allow it) or through ``generate``."""
    saved = cache.settings
    cache.settings = replace(saved, caption_graphs=on)
    try:
        yield
    finally:
        cache.settings = saved


def measure_clip(run: Run, cache: ModelCache) -> None:
    section = "CLIP ViT-B/32 image embedding"
    bundle = cache.get("clip")
    pictures = random_pictures(run.sizes.repeats + run.sizes.warmup + 64, seed=2)
    pixels = bundle.processor.image_processor(images=pictures[:64], return_tensors="pt")["pixel_values"]
    pixels = pixels.to(run.device, bundle.model.dtype)
    with torch.inference_mode():
        one_floor = floor_ms(
            run, lambda: bundle.model.get_image_features(pixel_values=pixels[:1]), {"vision": bundle.model.vision_model}
        )
        path = run.median(lambda i: clip_image_embeddings([pictures[i]], model_key="clip", cache=cache))
        bare = run.median(lambda i: bundle.model.get_image_features(pixel_values=pixels[i % 64 : i % 64 + 1]))
        batch = run.median(lambda _i: bundle.model.get_image_features(pixel_values=pixels))
    note = "640x480 upload: resize, crop and normalise on the CPU, then the model"
    run.add(
        replace(path, section=section, name="1 image through the classification path", floor_ms=one_floor, note=note)
    )
    run.add(replace(bare, section=section, name="1 image, model call only (preprocessed pixels)", floor_ms=one_floor))
    note = f"{batch.ms / 64 * 1000:.1f} µs per image"
    run.add(replace(batch, section=section, name="64 images, model call only", floor_ms=one_floor * 64, note=note))


# ------------------------------------------------------------------------------------------------ cold loads
def drop_page_cache() -> bool:
    """Ask Linux to forget cached file pages (root only), so a load reads the disk; whether it worked."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def save_bundle(bundle: ModelBundle, folder: Path) -> None:
    bundle.model.save_pretrained(folder, safe_serialization=True)
    bundle.processor.save_pretrained(folder)


def measure_cold_loads(run: Run, cache: ModelCache, folder: Path) -> None:
    """Write each model as the Hub ships it (safetensors, fp16), then load it with the app's registry loaders."""
    section = "cold load from local safetensors"
    saved = {}
    for key in ("sd15", "caption", "clip"):
        target = folder / "saved" / key
        model = cache.get(key)
        if isinstance(model, ModelBundle):
            save_bundle(model, target)
        else:
            model.save_pretrained(target, safe_serialization=True)
        saved[key] = str(target)
        cache.evict(key)
    gc.collect()
    if run.cuda:
        torch.cuda.empty_cache()
    settings = Settings(models="hub", model_ids=saved, device=str(run.device), memory_budget=120 << 30)
    registry = {key: REGISTRY[key] for key in saved}
    for key in saved:
        dropped = drop_page_cache()
        loader = ModelCache(settings, registry=registry)
        ms = run.time_once(lambda loader=loader, key=key: loader.get(key))
        size = module_bytes(loader.get(key)) / 1e9
        note = f"{size:.2f} GB; {'page cache dropped first' if dropped else 'page cache NOT dropped (not root)'}"
        run.add(Row(section, f"{REGISTRY[key].title} ({key})", ms, floor_ms=None, note=note))
        loader.evict(key)
        del loader
        gc.collect()


# ------------------------------------------------------------------------------------- ahead-of-time packages
#: Issue 19's goals on an H200, in milliseconds, safety checker on; and for process start to the first image.
AOT_GOALS_MS = {"sd15": 220.0, "sd-turbo": 20.0, "caption": 25.0, "start": 15_000.0}
#: What the aot part compiles (``model`` or ``model:component,component``), each component once, in this order.
#: SD 1.5's time is its 25 UNet steps, so only its UNet is compiled by default.
DEFAULT_AOT = ["sd-turbo", "safety-checker", "caption", "sd15:unet"]


def measure_aot(run: Run, folder: Path, quick: bool, choices: list[str], cold_start: bool) -> None:
    """Ahead-of-time packages (fusion/compiled.py) on a cache of their own, set up as on ZeroGPU (no fused QKV,
    captions through ``generate``): eager, then the packages as ZeroGPU runs them, then as a dedicated GPU does
    (each package replayed as a CUDA graph; captions through the fixed-shape loop with the decoder compiled too).
    Compile times, the VAE decoder's variants and the time from process start to the first image follow."""
    section = "ahead-of-time packages"
    device = str(run.device)
    cache = make_cache(quick, device, folder, zero_gpu=True, aot="load", compiled_dir=folder / "compiled")
    side, sizes = run.sizes.side, run.sizes
    pictures = random_pictures(sizes.repeats + sizes.warmup, seed=3)
    options = CaptionOptions(min_new_tokens=sizes.caption_tokens, max_new_tokens=sizes.caption_tokens)
    cases = {
        "sd15": (f"SD 1.5, {side}², {sizes.sd15_steps} steps", generate_call(cache, "sd15", sizes.sd15_steps, side)),
        "sd-turbo": (f"SD-Turbo, {side}², 1 step", generate_call(cache, "sd-turbo", 1, side)),
        "caption": (
            f"BLIP-base caption, {sizes.caption_tokens} tokens",
            lambda i: captioning.caption([pictures[i % len(pictures)]], options, cache=cache),
        ),
    }
    eager = {}
    for key, (label, call) in cases.items():
        eager[key] = run.add(replace(run.median(call), section=section, name=f"{label}: eager, as on ZeroGPU"))
    for choice in choices:
        model, _, components = choice.partition(":")
        only = tuple(filter(None, components.split(",")))
        _compile_rows(run, precompile.build(cache, (model,), ((side, side),), components=only))
    precompile.apply_all(cache)
    for key, (label, call) in cases.items():
        row = run.median(call)
        note = f"{eager[key].ms / row.ms:.2f}x eager" if eager[key].ms and row.ms else ""
        run.add(replace(row, section=section, name=f"{label}: AoT packages, as on ZeroGPU (no CUDA graphs)", note=note))
    # A dedicated GPU: the same packages replayed as CUDA graphs, captions through the CUDA-graph loop.
    cache.settings = replace(cache.settings, zero_gpu=False)
    if any(choice.partition(":")[0] == "caption" for choice in choices):
        _compile_rows(run, precompile.build(cache, ("caption",), components=("text_decoder",)))
    for key in compiled.COMPONENTS:
        if any(stats.key == key and stats.resident for stats in cache.stats().models):
            compiled.apply_packages(key, cache.get(key), cache.settings, graphs=True)
    for key, (label, call) in cases.items():
        row = run.median(call)
        note = f"{eager[key].ms / row.ms:.2f}x eager" if eager[key].ms and row.ms else ""
        name = f"{label}: AoT packages + CUDA graphs (dedicated GPU)"
        run.add(replace(row, section=section, name=name, goal_ms=AOT_GOALS_MS[key], note=note))
    measure_aot_decoder(run, cache, folder)
    measure_startup(run, folder, quick, cold_start)


def _compile_rows(run: Run, built: list[precompile.Built]) -> None:
    for outcome in built:
        name = f"compile {outcome.model} {outcome.component} ({outcome.size})"
        if outcome.package is None:
            run.skip("AoT compile", name, f"failed: {outcome.error}")
        else:
            info = outcome.package
            note = f"{info.key.inputs}; {info.bytes / 1e6:.1f} MB on disk (export + AOTInductor, capture run excluded)"
            run.add(Row("AoT compile", name, info.compile_seconds * 1000, note=note))


def measure_aot_decoder(run: Run, cache: ModelCache, folder: Path) -> None:
    """SD-Turbo's VAE decode alone: eager, its package, the package replayed as a CUDA graph, and a package
    compiled with inductor's max-autotune, with each one's largest pixel difference from eager."""
    section = f"VAE decode, {run.sizes.side}², one image"
    pipe = cache.get("sd-turbo")
    decoder = compiled.dispatcher(pipe.vae.decoder, "vae.decoder", "sd-turbo")
    latent = run.sizes.side // pipe.vae_scale_factor
    latents = torch.randn(1, 4, latent, latent, device=run.device, dtype=cache.dtype)

    def decode() -> torch.Tensor:
        return generation.to_bytes(pipe, pipe.vae.decode(latents, return_dict=False)[0])

    with compiled.uncompiled(pipe.vae.decoder):
        reference = decode()
        run.add(replace(run.median(lambda _i: decode()), section=section, name="eager"))
    capture = compiled.capture(pipe.vae.decoder, decode)
    tuned = folder / "compiled-max-autotune"
    variants = {
        "AoT package": (folder / "compiled", None, False),
        "AoT package + CUDA graph": (folder / "compiled", None, True),
        "AoT package, max-autotune, + CUDA graph": (tuned, {"max_autotune": True}, True),
    }
    for name, (root, configs, graphs) in variants.items():
        try:
            info = compiled.compile_package("sd-turbo", pipe, "vae.decoder", *capture, root, inductor_configs=configs)
        except Exception as error:  # max-autotune needs a GPU and may fail; the other rows still count
            run.skip(section, name, f"failed: {type(error).__name__}: {str(error)[:200]}")
            continue
        decoder.packages = {info.key.signature: compiled.load_package(info.folder, "sd-turbo", pipe, graphs=graphs)}
        difference = (decode().int() - reference.int()).abs().max().item()
        if not decoder.packages:  # the dispatcher dropped a package that would not load, and ran eager
            run.skip(section, name, "failed: the package did not load (see the log)")
            continue
        note = f"max pixel difference from eager {difference}/255; compiled in {info.compile_seconds:.0f} s"
        run.add(replace(run.median(lambda _i: decode()), section=section, name=name, note=note))


def measure_startup(run: Run, folder: Path, quick: bool, cold: bool) -> None:
    """Process start to the first SD-Turbo image (safety checker on), set up as on ZeroGPU: with the packages
    built above, and (``cold``) with none, compiled at start-up. Models are built from their configurations on the
    device (random weights), not read from disk: cold loads are timed apart."""
    section = "process start to the first image"
    runs = [("packages present: loaded at start-up", folder / "compiled", False)]
    if cold:
        runs.append(("no packages: compiled at start-up", folder / "compiled-at-start", True))
    for name, root, build in runs:
        command = [sys.executable, __file__, "--startup-child", str(root), "--device", str(run.device.type)]
        command += ["--quick"] * quick + ["--startup-build"] * build
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            run.skip(section, name, f"failed: {done.stderr[-300:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        note = f"{result['applied']} package(s) applied, {result['built']} built"
        goal = None if build else AOT_GOALS_MS["start"]
        run.add(Row(section, name, result["seconds"] * 1000, goal_ms=goal, note=note))


def startup_child(compiled_dir: Path, quick: bool, device: str, build: bool) -> None:
    """The child of :func:`measure_startup`: start as the app does on ZeroGPU with the packages in ``compiled_dir``
    (compiling them first with ``build``), make one image, print the seconds since this process started."""
    import psutil

    settings = {"zero_gpu": True, "aot": "build" if build else "load", "compiled_dir": compiled_dir}
    cache = make_cache(quick, device, compiled_dir.parent, **settings)
    keys = ("sd-turbo", generation.SAFETY_KEY)
    cache.preload(keys)
    side = (QUICK if quick else Sizes()).side
    built, reports = precompile.build_at_startup(cache, keys, ((side, side),))
    generation.generate(generation_options("sd-turbo", 1, side, 0), cache=cache)
    if cache.device.type == "cuda":
        torch.cuda.synchronize()
    applied = sum(len(report.applied) for report in reports)
    seconds = time.time() - psutil.Process().create_time()
    print(json.dumps({"seconds": seconds, "applied": applied, "built": len(built)}))


# --------------------------------------------------------------------------------------------------- output
def guarded(run: Run, what: str, measure: Callable[..., T], *args: Any) -> T | None:
    """Run one part; a failure becomes a row of the report, and the parts after it still run."""
    try:
        return measure(run, *args)
    except Exception as error:
        run.skip(what, "failed", f"{type(error).__name__}: {str(error)[:300]}")
        return None


def markdown(run: Run) -> str:
    report = run.report()
    ceilings = run.ceilings
    lines = [
        f"Device: {report['device']}; torch {report['torch']}, Python {report['python']}. "
        f"Ceilings measured in this run: {ceilings.flops_per_s / 1e12:.1f} TFLOP/s "
        f"({'bf16 8192³ matmul' if run.cuda else 'fp32 1024³ matmul'}), "
        f"{ceilings.bytes_per_s / 1e12:.2f} TB/s (device copy).",
        "",
        "| section | measurement | median | floor | ratio to floor | goal | note |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in run.rows:
        goal = ""
        if row.goal_ms is not None and row.ms is not None:
            goal = f"≤ {_ms(row.goal_ms)}: {'met' if row.ms <= row.goal_ms else 'missed'}"
        ratio = f"{row.ratio:.1f}" if row.ratio else ""
        median = _ms(row.ms) if row.ms is not None else "—"
        lines.append(
            f"| {row.section} | {row.name} | {median} | {_ms(row.floor_ms) if row.floor_ms else ''} "
            f"| {ratio} | {goal} | {row.note} |"
        )
    return "\n".join(lines) + "\n"


def _ms(value: float) -> str:
    return f"{value / 1000:.3f} s" if value >= 1000 else f"{value:.2f} ms" if value >= 1 else f"{value * 1000:.0f} µs"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def measure_planning(run: Run, cache: ModelCache) -> None:
    """The Ask model's planning step with the tools' schemas in the prompt and constrained decoding: time from
    message to first tool call (the goal: at most 0.5 s on the GPU) and tokens per second (benchmarks/agent.py)."""
    quick = run.sizes is QUICK
    section = "Ask planning step (" + ("tiny twin" if quick else "Qwen3-1.7B architecture, random weights") + ")"
    planning = measure_planning_step(cache, repeats=3 if quick else 5)
    tokens = f"{planning.tokens} tokens of `{planning.first_call}`, {planning.tools} tools in a prompt of "
    tokens += f"{planning.prompt_tokens} tokens"
    run.add(Row(section, "message → first tool call, cold (tool list computed)", planning.cold_s * 1000, note=tokens))
    goal = 500.0 if run.cuda else None
    rate = f"{planning.tokens / planning.warm_s:.1f} tokens/s constrained, "
    rate += f"{planning.tokens / planning.unconstrained_s:.1f} unconstrained"
    run.add(Row(section, "message → first tool call, warm", planning.warm_s * 1000, goal_ms=goal, note=rate))


PARTS: dict[str, Callable[[Run, ModelCache], None]] = {
    "breakdown": measure_breakdown,
    "guidance": measure_guidance_batching,
    "decoders": measure_decoders,
    "captions": measure_captions,
    "clip": measure_clip,
    "planning": measure_planning,
}
ALL_PARTS = ["generation", *PARTS, "loads", "compile", "aot"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny twins at small sizes (CI, CPU)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--budget-s", type=float, default=420.0, help="compile variants stop when this runs out")
    parser.add_argument("--parts", nargs="+", choices=ALL_PARTS, default=ALL_PARTS, help="what to measure")
    parser.add_argument(
        "--compile",
        nargs="*",
        default=DEFAULT_COMPILE,
        help="model:mode pairs to compile, in this order, while the budget lasts",
    )
    parser.add_argument(
        "--models", nargs="+", choices=("sd15", "sd-turbo"), default=("sd15", "sd-turbo"), help="generation part"
    )
    parser.add_argument(
        "--aot", nargs="*", default=DEFAULT_AOT, metavar="MODEL[:COMPONENTS]", help="what the aot part compiles"
    )
    parser.add_argument("--aot-cpu", action="store_true", help="run the aot part on the CPU too (a dry run)")
    parser.add_argument(
        "--aot-cold-start", action="store_true", help="also time a start with no packages (compiles at start-up)"
    )
    parser.add_argument("--startup-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--startup-build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="write every row here as it is measured")
    parser.add_argument("--markdown", type=Path, help="write the final table here")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.startup_child:
        return startup_child(args.startup_child, args.quick, args.device, args.startup_build)
    sizes = QUICK if args.quick else Sizes()
    with tempfile.TemporaryDirectory() as folder:
        cache = make_cache(args.quick, args.device, Path(folder))
        run = Run(cache.device, sizes, args.budget_s, args.json)
        run.ceilings = measure_ceilings(run)
        best = {}
        if "generation" in args.parts:
            for model, steps in (("sd15", sizes.sd15_steps), *(("sd-turbo", s) for s in sizes.turbo_steps)):
                if model not in args.models:
                    continue
                best[model, steps] = guarded(run, f"{model}, {steps} step(s)", measure_generation, cache, model, steps)
        for part, measure in PARTS.items():
            if part in args.parts:
                guarded(run, part, measure, cache)
        if "loads" in args.parts:
            guarded(run, "cold loads", measure_cold_loads, cache, Path(folder))
        if "compile" in args.parts:
            for model, mode in (choice.split(":") for choice in args.compile):
                steps = sizes.sd15_steps if model == "sd15" else sizes.turbo_steps[0]
                found = best.get((model, steps)) or (Acceleration(), None)
                measure_compiled(run, cache, model, steps, mode, *found)
        if "aot" in args.parts:
            if run.cuda or args.aot_cpu:
                aot = (Path(folder), args.quick, args.aot, args.aot_cold_start)
                guarded(run, "ahead-of-time packages", measure_aot, *aot)
            else:
                run.skip("ahead-of-time packages", "AoT packages against eager", "CUDA only")
    table = markdown(run)
    if args.markdown:
        args.markdown.write_text(table)
    print()
    print(table)


if __name__ == "__main__":
    main()
