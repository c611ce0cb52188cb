"""What the generation wrapper costs over diffusers, and seconds per image on the real architectures.

``--arch tiny`` (default): :func:`fusion.generation.generate` (option checks, prompt token count, pipeline
borrowed from the pool, our VAE decode, the shared safety checker, PNG parameters) against diffusers'
``StableDiffusionPipeline`` built once around the same components with the same checker attached; same
scheduler, steps, guidance and seed. Both return safety-checked PIL images and the benchmark first checks that
their pixels are identical. Goal: at most 1.03 times the raw call (SD 1.5 defaults: 25 steps with guidance;
SD-Turbo: 1 step). Timed in alternating pairs so that load from other processes hits both alike.

``--arch real`` builds SD 1.5's and SD-Turbo's UNet, VAE and text encoder (and the CLIP ViT-L/14 safety
checker and TAESD) from their published configurations with random weights; nothing is downloaded and timing
does not depend on weight values. It runs each model once at a reduced size and step count to prove the path
works; those timings are labelled CPU and say nothing about the GPU goals, which ``benchmarks/gpu.py`` measures
(it imports these builders).

    python benchmarks/generation.py [--arch tiny|real] [--device auto|cpu|cuda] [--threads N] [--pairs N]
                                    [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import gc
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._random_weights import random_weight_spec
from benchmarks._report import table, write_section
from benchmarks._timing import median_ms
from fusion import generation
from fusion.cache import ModelCache, resolve_device, resolve_dtype
from fusion.config import Settings
from fusion.generation import GenerationOptions
from fusion.registry import ModelBundle, ModelSpec
from fusion.tiny.tokenizers import clip_tokenizer

PROMPT = "a photo of a red house by a lake"
SEED = 1234
OVERHEAD_GOAL = 1.03
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "generation.md"


@dataclass(frozen=True)
class Case:
    """One model at the settings the goals are stated for."""

    model: str
    steps: int
    goal_s: float
    floor_s: float

    @property
    def label(self) -> str:
        guidance = generation.MODELS[self.model].guidance
        return f"{generation.MODELS[self.model].title}, {self.steps} step(s), guidance {guidance:g}"


CASES = (Case("sd15", 25, goal_s=0.30, floor_s=0.054), Case("sd-turbo", 1, goal_s=0.030, floor_s=0.0044))
#: Reduced CPU runs of the real architectures: (model, steps, side).
CPU_REAL_RUNS = (("sd15", 2, 256), ("sd-turbo", 1, 256))

# Published configurations (config.json of each component); everything not listed is the class default.
SD15_UNET = {"sample_size": 64, "cross_attention_dim": 768}
SD21_UNET = {  # SD-Turbo is distilled from SD 2.1 and keeps its UNet
    "sample_size": 64,
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
}
SD_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
}
CLIP_VIT_L_TEXT = {  # openai/clip-vit-large-patch14, SD 1.5's text encoder
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
OPENCLIP_VIT_H_TEXT = {  # SD 2.1 / SD-Turbo's text encoder (the penultimate of OpenCLIP ViT-H's 24 layers)
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 512,
}
SAFETY_VISION = {  # CompVis/stable-diffusion-safety-checker: CLIP ViT-L/14 vision tower
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
}
TEXT_CONFIGS = {"sd15": CLIP_VIT_L_TEXT, "sd-turbo": OPENCLIP_VIT_H_TEXT}
UNET_CONFIGS = {"sd15": SD15_UNET, "sd-turbo": SD21_UNET}


# ------------------------------------------------------------------------------------- real architectures
def real_pipeline(model: str, device: torch.device, dtype: torch.dtype) -> Any:
    """A Stable Diffusion pipeline of the published architecture with random weights (built on ``device``)."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from fusion.tiny.diffusion import SD_SCHEDULER_CONFIG

    tokenizer = clip_tokenizer()
    text_config = CLIPTextConfig(
        **TEXT_CONFIGS[model], bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**UNET_CONFIGS[model])
        vae = AutoencoderKL(**SD_VAE)
        text_encoder = CLIPTextModel(text_config)
    from diffusers import PNDMScheduler

    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(SD_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def real_safety_checker(device: torch.device, dtype: torch.dtype) -> ModelBundle:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    from fusion.tiny.diffusion import CLIP_MEAN, CLIP_STD

    config = CLIPConfig(text_config=CLIP_VIT_L_TEXT, vision_config=SAFETY_VISION, projection_dim=768)
    torch.manual_seed(0)
    with torch.device(device):
        checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(1.0)  # like a real checker on ordinary images: nothing flagged
        checker.special_care_embeds_weights.fill_(1.0)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )
    return ModelBundle(model=checker.to(device, dtype).eval(), processor=processor)


def real_taesd(device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    with torch.device(device):
        return AutoencoderTiny().to(device, dtype).eval()


def real_registry() -> dict[str, ModelSpec]:
    return {
        "sd15": random_weight_spec("sd15", lambda device, dtype: real_pipeline("sd15", device, dtype)),
        "sd-turbo": random_weight_spec("sd-turbo", lambda device, dtype: real_pipeline("sd-turbo", device, dtype)),
        generation.SAFETY_KEY: random_weight_spec(generation.SAFETY_KEY, real_safety_checker),
        generation.PREVIEW_KEY: random_weight_spec(generation.PREVIEW_KEY, real_taesd),
    }


def make_cache(arch: str, device_name: str, folder: Path) -> ModelCache:
    if arch == "tiny":
        return ModelCache(Settings(models="tiny", tiny_dir=folder, device=device_name, memory_budget=1 << 30))
    return ModelCache(Settings(device=device_name, memory_budget=256 << 30), registry=real_registry())


# --------------------------------------------------------------------------------------------- measuring
def options_for(case: Case, side: int | None = None, steps: int | None = None) -> GenerationOptions:
    return GenerationOptions(
        prompt=PROMPT, model=case.model, steps=steps or case.steps, seed=SEED, width=side, height=side
    )


def raw_call(cache: ModelCache, options: GenerationOptions) -> Callable[[], list[Any]]:
    """diffusers' own pipeline, built once around the cached components with the safety checker attached."""
    from diffusers import StableDiffusionPipeline

    base = cache.get(options.model)
    checker = cache.get(generation.SAFETY_KEY)
    resolved, _ = generation.normalise_options(options, native_size=generation.native_size(base))
    scheduler = generation.make_scheduler(
        resolved.scheduler, base.scheduler.config, generation.MODELS[resolved.model].scheduler_config
    )
    components = {
        **base.components,
        "scheduler": scheduler,
        "safety_checker": checker.model,
        "feature_extractor": checker.processor,
    }
    pipe = StableDiffusionPipeline(**components, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)

    def call() -> list[Any]:
        return pipe(
            resolved.prompt,
            num_inference_steps=resolved.steps,
            guidance_scale=resolved.guidance,
            height=resolved.height,
            width=resolved.width,
            generator=[torch.Generator(device="cpu").manual_seed(resolved.seed)],
        ).images

    return call


def paired_medians(first: Callable[[], Any], second: Callable[[], Any], pairs: int) -> tuple[float, float, float]:
    """Medians of each and of the per-pair ratio second / first, timing one call of each in turn, so that
    load from other processes (this CPU is shared) hits both alike."""
    a, b = [], []
    for _ in range(pairs):
        a.append(median_ms(first, 1, warmup=0))
        b.append(median_ms(second, 1, warmup=0))
    return (
        statistics.median(a),
        statistics.median(b),
        statistics.median(y / x for x, y in zip(a, b, strict=True)),
    )


def measure_overhead(cache: ModelCache, pairs: int) -> list[tuple[str, str]]:
    rows = []
    for case in CASES:
        options = options_for(case)
        raw = raw_call(cache, options)
        ours = lambda options=options: generation.generate(options, cache=cache).images  # noqa: E731
        if any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(raw(), ours(), strict=True)):
            raise AssertionError(f"{case.model}: the wrapper and the raw pipeline disagree")
        raw_ms, ours_ms, ratio = paired_medians(raw, ours, pairs)
        previews = median_ms(
            lambda options=options: generation.generate(options, cache=cache, on_step=lambda _update: None),
            max(3, pairs // 4),
        )
        verdict = "met" if ratio <= OVERHEAD_GOAL else "missed"
        rows += [
            (f"{case.label}: raw diffusers pipeline (+ checker)", f"{raw_ms:.1f} ms"),
            (f"{case.label}: `generation.generate`", f"{ours_ms:.1f} ms"),
            (f"{case.label}: wrapper / raw", f"{ratio:.3f}x (goal ≤ {OVERHEAD_GOAL}x: {verdict})"),
            (
                f"{case.label}: with progress callbacks and live TAESD previews (≤ 4 per second)",
                f"{previews:.1f} ms (informational)",
            ),
        ]
    return rows


def measure_cpu_real(cache: ModelCache) -> list[tuple[str, str]]:
    """The real architectures on the CPU are slow: one run each at a reduced size proves the path works."""
    rows = []
    for model, steps, side in CPU_REAL_RUNS:
        case = next(case for case in CASES if case.model == model)
        options = options_for(case, side=side, steps=steps)
        ms = median_ms(lambda options=options: generation.generate(options, cache=cache), repeats=1, warmup=1)
        rows.append(
            (
                f"CPU only (not the GPU goal): {case.label.split(',')[0]}, {steps} step(s), {side}²",
                f"{ms / 1000:.1f} s",
            )
        )
        cache.evict(model)
        gc.collect()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--pairs", type=int, default=61, help="raw/wrapper call pairs (tiny)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (a shared CPU thrashes with more)"
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        cache = make_cache(args.arch, args.device, Path(folder))
        rows = measure_overhead(cache, args.pairs) if args.arch == "tiny" else measure_cpu_real(cache)
    dtype = str(resolve_dtype("auto", device)).removeprefix("torch.")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    models = "tiny twins" if args.arch == "tiny" else "SD 1.5 / SD-Turbo architectures, random weights"
    title = f"{models} on {where}"
    header = (
        f"{dtype}, prompt {PROMPT!r}, seed {SEED}, each model's default scheduler "
        "(DPM++ 2M / Euler a, trailing), "
        f"safety checker on; {torch.get_num_threads()} torch thread(s); torch {torch.__version__}, "
        f"diffusers {_version('diffusers')}, "
        f"Python {platform.python_version()}."
    )
    section = table(title, header, rows)
    print(section)
    write_section(args.out, title, section, heading="Generation benchmark")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
