"""Stable Diffusion text-to-image and image-to-image on the cache's pipelines: previews, safety, PNG metadata.

Choices worth knowing:

- The cached pipelines are never mutated. Each call borrows a light pipeline object around the cached
  components with a scheduler of its own (``from_config``; see :func:`borrow_pipeline`), so concurrent calls
  never share scheduler state. Speed-ups are the cache's, applied once when a pipeline loads. The pipeline
  stops at latents and we decode them with the same VAE call it makes (one image at a time and tiled above
  :data:`TILED_DECODE_AREA`, without touching the VAE's flags).
- Seeds: image ``k`` of a batch uses its own CPU ``torch.Generator`` seeded ``seed + k`` (A1111's
  convention), so each image of a batch can be regenerated alone from the seed in its PNG, on any device (up
  to the rounding of batched floating-point kernels: a level or so on a few pixels).
- Prompts longer than the text encoder's 77 tokens are truncated (as diffusers does) and a notice says which
  words were dropped; long-prompt weighting is not implemented.
- The one shared safety checker (the cache's ``safety-checker``) checks every final image, SD-Turbo's too.
  A flagged image is replaced by a heavily blurred copy with a visible label, never a silent black square.
- Live previews are decoded from the current latents with the tiny autoencoder (TAESD), at most
  :data:`PREVIEW_MAX_SIDE` pixels: they are not safety-checked, so they are never shown at full resolution.
- A run stops when a ``threading.Event`` is set or its deadline passes: the step in progress finishes, then
  diffusers' ``callback_on_step_end`` sets ``pipe._interrupt``. The partly denoised image is still decoded,
  checked and returned, with a notice.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import queue
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from PIL.PngImagePlugin import PngInfo

from fusion.numbers import finite_number

if TYPE_CHECKING:
    import torch

    from fusion.cache import ModelCache

SAFETY_KEY = "safety-checker"
PREVIEW_KEY = "taesd"
#: The ControlNet a ``control_image`` conditions SD 1.5 through.
CONTROLNET_KEY = "controlnet-canny"
CONTROL_SCALE_RANGE = (0.0, 2.0)
#: The PNG text chunk A1111 and most Stable Diffusion tools read and write.
PARAMETERS_CHUNK = "parameters"
SIZE_MULTIPLE = 8
SIZE_RANGE = (64, 1024)
GUIDANCE_RANGE = (0.0, 30.0)
STRENGTH_RANGE = (0.01, 1.0)
MAX_IMAGES = 4
MAX_PROMPT_CHARS = 4000
SEED_LIMIT = 2**32
#: Previews are decoded at most this large (they are not safety-checked) ...
PREVIEW_MAX_SIDE = 128
#: ... and at most this often: each one waits for the GPU, and a browser shows a few per second at best.
PREVIEW_INTERVAL_S = 0.25
#: Above this many pixels an image is decoded alone and in tiles, which bounds the VAE's memory.
TILED_DECODE_AREA = 768 * 768
DEFAULT_STRENGTH = 0.6
DEFAULT_DEADLINE_S = 300.0
DEFAULT_SCHEDULER = "default"

#: Scheduler name (as A1111 calls it) -> diffusers class and the config values that make it that sampler.
SCHEDULERS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}


@dataclass(frozen=True)
class ModelPreset:
    """A generation model's defaults and limits."""

    key: str
    title: str
    steps: int
    guidance: float
    scheduler: str
    max_steps: int
    #: Applied on top of the model's scheduler config for every scheduler.
    scheduler_config: Mapping[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelPreset] = {
    preset.key: preset
    for preset in (
        ModelPreset("sd15", "Stable Diffusion 1.5", steps=25, guidance=7.0, scheduler="DPM++ 2M", max_steps=100),
        # SD-Turbo's model card: 1-4 steps without guidance; "trailing" spacing makes one step start at t=999.
        ModelPreset(
            "sd-turbo",
            "SD-Turbo",
            steps=1,
            guidance=0.0,
            scheduler="Euler a",
            max_steps=4,
            scheduler_config={"timestep_spacing": "trailing"},
        ),
    )
}


@dataclass(frozen=True)
class GenerationOptions:
    """What to generate. ``None`` means the model's default (steps, guidance, scheduler, native size)."""

    prompt: str = ""
    negative_prompt: str = ""
    model: str = "sd15"
    scheduler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    #: -1 (or any negative value) draws a random seed; the seed used is in the result.
    seed: int = -1
    num_images: int = 1
    #: RGB uint8 (H, W, 3): switches to image-to-image.
    init_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    strength: float = DEFAULT_STRENGTH
    #: RGB uint8 (H, W, 3) edge map: conditions the run through ControlNet (:data:`CONTROLNET_KEY`).
    control_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    control_scale: float = 1.0
    #: Seconds of denoising after which the run is interrupted (``None``: no deadline).
    deadline_s: float | None = DEFAULT_DEADLINE_S
    safety_checker: bool = True


@dataclass(frozen=True)
class StepUpdate:
    """Progress of a running generation, with a small unchecked preview of the first image."""

    step: int
    total: int
    elapsed_s: float
    preview: Image.Image | None = None


@dataclass(frozen=True)
class GenerationResult:
    """Generated images (each carrying its PNG ``parameters``) and what was actually used."""

    images: tuple[Image.Image, ...]
    seeds: tuple[int, ...]
    parameters: tuple[str, ...]
    flagged: tuple[bool, ...]
    #: The options with every default resolved and every value clamped.
    options: GenerationOptions
    steps_done: int
    steps_total: int
    #: ``"cancel"`` or ``"deadline"`` when the run was interrupted.
    stopped_by: str | None = None
    notices: tuple[str, ...] = ()

    @property
    def seed(self) -> int:
        return self.seeds[0]


# --------------------------------------------------------------------------------------------- options
def get_preset(model: str) -> ModelPreset:
    """The preset of a generation model key, or a ValueError that lists them."""
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"Unknown generation model {model!r}; choose one of: {', '.join(MODELS)}.") from None


def normalise_options(options: GenerationOptions, *, native_size: int) -> tuple[GenerationOptions, tuple[str, ...]]:
    """Resolve defaults and clamp or round every value into range, with a notice for each change.

    ``native_size`` is the model's own resolution (``unet.config.sample_size * vae_scale_factor``).
    """
    preset = get_preset(options.model)
    notices: list[str] = []
    prompt = _text(options.prompt, "prompt")
    negative_prompt = _text(options.negative_prompt, "negative prompt")
    scheduler = options.scheduler or DEFAULT_SCHEDULER
    if scheduler == DEFAULT_SCHEDULER:
        scheduler = preset.scheduler
    if scheduler not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {scheduler!r}; choose one of: {', '.join(SCHEDULERS)}.")
    steps = preset.steps if options.steps is None else _integer(options.steps, "Steps")
    steps = _clamp(steps, 1, preset.max_steps, "Steps", notices)
    guidance = preset.guidance if options.guidance is None else finite_number(options.guidance, "Guidance")
    guidance = _clamp(guidance, *GUIDANCE_RANGE, "Guidance", notices)
    num_images = _clamp(_integer(options.num_images, "Number of images"), 1, MAX_IMAGES, "Number of images", notices)
    seed = _seed(_integer(options.seed, "Seed"), notices)
    strength = options.strength
    if options.init_image is not None:
        _check_init_image(options.init_image)
        strength = _clamp(finite_number(strength, "Strength"), *STRENGTH_RANGE, "Strength", notices)
        steps, strength = _at_least_one_step(steps, strength, preset, notices)
    width, height = _size(options, native_size, notices)
    if guidance <= 1 and negative_prompt.strip():
        notices.append("Guidance of 1 or less turns classifier-free guidance off, so the negative prompt is ignored.")
    if preset.key == "sd-turbo" and guidance > 1:
        notices.append("SD-Turbo was distilled to run without guidance (0); higher values usually oversaturate.")
    resolved = replace(
        options,
        prompt=prompt,
        negative_prompt=negative_prompt,
        scheduler=scheduler,
        steps=steps,
        guidance=guidance,
        width=width,
        height=height,
        seed=seed,
        num_images=num_images,
        strength=strength,
    )
    return resolved, tuple(notices)


def _text(value: str | None, what: str) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(
            f"The {what} is {len(text):,} characters long; the text encoder reads only about 75 words "
            f"(77 tokens). Shorten it to under {MAX_PROMPT_CHARS:,} characters."
        )
    return text


def _integer(value: float, what: str) -> int:
    return math.floor(finite_number(value, what) + 0.5)


def _check_init_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(
            f"The init image must be RGB uint8 of shape (height, width, 3), got {image.dtype} {image.shape}; "
            "decode uploads with fusion.images.load."
        )


def _clamp(value: Any, low: Any, high: Any, what: str, notices: list[str]) -> Any:
    clamped = min(max(value, low), high)
    if clamped != value:
        notices.append(f"{what} {value:g} is outside {low:g}-{high:g}; using {clamped:g}.")
    return clamped


def _seed(seed: int, notices: list[str]) -> int:
    if seed < 0:
        if seed != -1:
            notices.append(f"Seed {seed} is negative, which means random.")
        return secrets.randbelow(SEED_LIMIT)
    if seed >= SEED_LIMIT:
        notices.append(f"Seed {seed} is above {SEED_LIMIT - 1}; using {seed % SEED_LIMIT} (the seed modulo 2^32).")
    return seed % SEED_LIMIT


def _at_least_one_step(steps: int, strength: float, preset: ModelPreset, notices: list[str]) -> tuple[int, float]:
    """img2img runs ``int(steps * strength)`` steps: make that at least one, preferring more steps."""
    if int(steps * strength) >= 1:
        return steps, strength
    needed = math.ceil(1 / strength)
    if int(needed * strength) < 1:
        needed += 1
    if needed <= preset.max_steps:
        notices.append(
            f"Strength {strength:g} x {steps} steps would not run a single denoising step; using {needed} steps."
        )
        return needed, strength
    raised = min(1.0, math.ceil(1000 / steps) / 1000)
    notices.append(
        f"Strength {strength:g} x {steps} steps would not run a single denoising step; using strength {raised:g}."
    )
    return steps, raised


def _size(options: GenerationOptions, native: int, notices: list[str]) -> tuple[int, int]:
    """Round and clamp explicit sizes with notices; missing ones follow the init image or the model."""
    width, height = options.width, options.height
    if options.init_image is not None:
        image_height, image_width = options.init_image.shape[:2]
        if width is None and height is None:
            scale = native / max(image_width, image_height)
            width, height = image_width * scale, image_height * scale
        elif width is None:
            width = int(height) * image_width / image_height
        elif height is None:
            height = int(width) * image_height / image_width
        derived = (options.width is None, options.height is None)
    else:
        derived = (width is None, height is None)
        width = native if width is None else width
        height = native if height is None else height
    return (
        _side(width, "Width", notices, quiet=derived[0]),
        _side(height, "Height", notices, quiet=derived[1]),
    )


def _side(value: float, what: str, notices: list[str], *, quiet: bool) -> int:
    """Round to a multiple of 8 and clamp to the allowed range; ``quiet`` for values we derived ourselves."""
    number = finite_number(value, what)
    low, high = SIZE_RANGE
    rounded = min(max(math.floor(number / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE, low), high)
    if not quiet and rounded != number:
        if low <= number <= high:
            notices.append(f"{what} {number:g} is not a multiple of {SIZE_MULTIPLE}; using {rounded}.")
        else:
            notices.append(f"{what} {number:g} is outside {low}-{high}; using {rounded}.")
    return rounded


def prompt_notices(tokenizer: Any, options: GenerationOptions) -> tuple[str, ...]:
    """Notices for empty, truncated and non-English prompts (the text encoder is CLIP's, 77 tokens)."""
    notices = []
    if not options.prompt.strip():
        notices.append("The prompt is empty: the image is generated without a text condition.")
    limit = tokenizer.model_max_length
    for what, text in (("prompt", options.prompt), ("negative prompt", options.negative_prompt)):
        if len(text.encode()) <= limit - 2:
            continue  # every token covers at least one byte, so this text fits (and costs no tokenizer call)
        ids = tokenizer(text, truncation=False).input_ids
        if len(ids) > limit:
            dropped = tokenizer.decode(ids[limit - 1 : -1]).strip()
            shown = dropped if len(dropped) <= 80 else dropped[:77] + "..."
            notices.append(
                f"The {what} is {len(ids)} tokens long but the text encoder reads {limit}, so it was "
                f"truncated; ignored: {shown!r}."
            )
    if _has_non_latin_letters(options.prompt):
        notices.append(
            "The prompt uses non-Latin script. Stable Diffusion's text encoder was trained mostly on English "
            "captions, so such prompts often work poorly: an English translation usually does better."
        )
    return tuple(notices)


def _has_non_latin_letters(text: str) -> bool:
    return any(char.isalpha() and "LATIN" not in unicodedata.name(char, "") for char in text)


def image_seeds(seed: int, count: int) -> tuple[int, ...]:
    """Image ``k`` of a batch uses ``seed + k`` (modulo 2^32)."""
    return tuple((seed + index) % SEED_LIMIT for index in range(count))


def native_size(pipe: Any) -> int:
    """The resolution a Stable Diffusion pipeline was trained at."""
    sample_size = pipe.unet.config.sample_size
    side = sample_size if isinstance(sample_size, int) else sample_size[0]
    return int(side * pipe.vae_scale_factor)


# ---------------------------------------------------------------------------------------- parameters text
def format_parameters(options: GenerationOptions, seed: int) -> str:
    """A1111's ``parameters`` text of resolved options: prompt, negative prompt, ``Key: value`` pairs."""
    pairs = {
        "Steps": options.steps,
        "Sampler": options.scheduler,
        "CFG scale": f"{options.guidance:g}",
        "Seed": seed,
        "Size": f"{options.width}x{options.height}",
        "Model": options.model,
    }
    if options.init_image is not None:
        pairs["Denoising strength"] = f"{options.strength:g}"
    lines = [options.prompt]
    if options.negative_prompt:
        lines.append(f"Negative prompt: {options.negative_prompt}")
    lines.append(", ".join(f"{key}: {_quote(str(value))}" for key, value in pairs.items()))
    return "\n".join(lines)


def _quote(value: str) -> str:
    return json.dumps(value) if any(char in value for char in ',:"\n') else value


_PARAMETER = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEGATIVE_PREFIX = "Negative prompt:"


def parse_parameters(text: str) -> dict[str, Any]:
    """Read A1111 ``parameters`` text back into option names (``prompt``, ``steps``, ``seed``, ...).

    Only recognised values are returned; keys it cannot read (or values that are not numbers where numbers are
    expected) are left out, so a PNG from another tool restores what it can.
    """
    lines = text.rstrip("\n").split("\n")
    pairs: dict[str, str] = {}
    if lines and len(_PARAMETER.findall(lines[-1])) >= 3:
        pairs = {key.strip(): _unquote(value) for key, value in _PARAMETER.findall(lines.pop())}
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    for line in lines:
        if negative_lines or line.startswith(_NEGATIVE_PREFIX):
            negative_lines.append(line.removeprefix(_NEGATIVE_PREFIX).lstrip() if not negative_lines else line)
        else:
            prompt_lines.append(line)
    parsed: dict[str, Any] = {"prompt": "\n".join(prompt_lines), "negative_prompt": "\n".join(negative_lines)}
    readers: dict[str, tuple[str, Callable[[str], Any]]] = {
        "Steps": ("steps", int),
        "CFG scale": ("guidance", float),
        "Seed": ("seed", int),
        "Denoising strength": ("strength", float),
        "Sampler": ("scheduler", str),
        "Model": ("model", str),
    }
    for key, (name, read) in readers.items():
        if key in pairs:
            try:
                parsed[name] = read(pairs[key])
            except ValueError:
                continue
    size = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", pairs.get("Size", ""))
    if size:
        parsed["width"], parsed["height"] = int(size[1]), int(size[2])
    if pairs.get("Schedule type", "").lower() == "karras" and f"{parsed.get('scheduler')} Karras" in SCHEDULERS:
        parsed["scheduler"] = f"{parsed['scheduler']} Karras"
    return parsed


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write a generated image as PNG with its text chunks (``parameters``, a run card; Pillow drops ``info``
    on save), as Gradio writes them."""
    info = PngInfo()
    for key, value in image.info.items():
        if isinstance(value, str):
            info.add_text(key, value)
    image.save(path, format="PNG", pnginfo=info)
    return Path(path)


# ---------------------------------------------------------------------------------------------- pipelines
def make_scheduler(name: str, base_config: Mapping[str, Any], overrides: Mapping[str, Any] = {}) -> Any:
    """A fresh scheduler of the named kind, built from a model's scheduler config."""
    import diffusers

    class_name, settings = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **{**settings, **overrides})


def build_pipeline(base: Any, options: GenerationOptions, controlnet: Any = None) -> Any:
    """A txt2img or img2img pipeline around ``base``'s weights, with its own scheduler and tokenizer;
    with a ``controlnet``, its ControlNet variant (``from_pipe``: the same components, no copies)."""
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    preset = get_preset(options.model)
    pipeline_class = StableDiffusionPipeline if options.init_image is None else StableDiffusionImg2ImgPipeline
    name = options.scheduler or preset.scheduler
    scheduler = make_scheduler(name, base.scheduler.config, preset.scheduler_config)
    components = {
        **base.components,
        "scheduler": scheduler,
        # A fast tokenizer keeps the padding of its last call: shared between threads, one call's
        # "longest" padding leaks into another's "max_length" one (mismatched prompt embeddings).
        "tokenizer": copy.deepcopy(base.tokenizer),
        "safety_checker": None,
        "feature_extractor": None,
    }
    pipe = _on_weights_device(pipeline_class)(**components, requires_safety_checker=False)
    if controlnet is not None:
        from diffusers import StableDiffusionControlNetImg2ImgPipeline, StableDiffusionControlNetPipeline

        controlled = (
            StableDiffusionControlNetPipeline
            if options.init_image is None
            else StableDiffusionControlNetImg2ImgPipeline
        )
        pipe = _on_weights_device(controlled).from_pipe(pipe, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@functools.cache
def _on_weights_device(pipeline_class: type) -> type:
    """``pipeline_class`` that runs where its UNet's weights are. On every call diffusers searches every submodule
    of every component for offloading hooks to find that device (10 ms of a warm SD-Turbo call under cProfile on
    the H200's host, ``benchmarks/results/gpu-h200-run3.json``); the cache never offloads."""
    device = property(lambda pipe: next(pipe.unet.parameters()).device)
    return type(pipeline_class.__name__, (pipeline_class,), {"_execution_device": device})


def borrow_pipeline(cache: ModelCache, options: GenerationOptions, *, controlled: bool) -> Any:
    """A pipeline for resolved ``options``, lent by the cache to one call at a time (a pipeline, its scheduler and
    its tokenizer hold per-call state, so they are never shared by concurrent calls).

    Building one costs a millisecond or more of CPU (the scheduler's ``from_config``, a tokenizer copy), which
    matters for one-step SD-Turbo, so the cache keeps them for reuse; it drops them with the base model or the
    ControlNet they were built around, and with them the last references to those weights.
    """
    depends_on = (options.model, CONTROLNET_KEY) if controlled else (options.model,)
    key = (options.scheduler, options.init_image is None)
    build = lambda base, controlnet=None: build_pipeline(base, options, controlnet)  # noqa: E731
    return cache.borrow("pipeline", key, build, depends_on=depends_on)


def decode_latents(pipe: Any, latents: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """The pipeline's own VAE decode, as 8-bit pixels (see :func:`to_bytes`); large images are decoded one at a
    time and in tiles."""
    import torch

    scaled = latents / pipe.vae.config.scaling_factor
    height, width = (side * pipe.vae_scale_factor for side in latents.shape[-2:])
    if height * width > TILED_DECODE_AREA and hasattr(pipe.vae, "tiled_decode"):
        pixels = torch.cat([pipe.vae.tiled_decode(one, return_dict=False)[0] for one in scaled.split(1)])
    else:
        pixels = pipe.vae.decode(scaled, return_dict=False, generator=generators)[0]
    return to_bytes(pipe, pixels)


def to_bytes(pipe: Any, pixels: torch.Tensor) -> torch.Tensor:
    """The pixels of ``pipe.image_processor.postprocess(pixels, output_type="pil")`` as an (N, H, W, 3) uint8
    tensor, rounded where the decoder ran: diffusers copies float32 images to the CPU and rounds them there
    (3.9 ms of a one-step SD-Turbo image on an H200, ``benchmarks/GPU.md``), and the safety checker can start
    on them there."""
    import torch

    unit = pipe.image_processor.postprocess(pixels, output_type="pt")
    return (unit.float() * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


def to_pil(decoded: torch.Tensor) -> list[Image.Image]:
    """PIL images of :func:`to_bytes`' pixels."""
    return [Image.fromarray(image) for image in decoded.cpu().numpy()]


# ----------------------------------------------------------------------------------------------- safety
def check_safety(bundle: Any, decoded: torch.Tensor) -> list[bool]:
    """Which of the images (:func:`to_bytes`' pixels) the safety checker flags: diffusers'
    ``run_safety_checker`` on the same pixels, without a trip through PIL."""
    # The checker blanks flagged entries of ``images``: it gets a list of its own.
    _, flags = bundle.model(images=list(decoded), clip_input=safety_inputs(bundle, decoded))
    return [bool(flag) for flag in flags]


def safety_inputs(bundle: Any, decoded: torch.Tensor) -> torch.Tensor:
    """The checker's CLIP pixels from :func:`to_bytes`' pixels, preprocessed where they are when the processor
    can (transformers' torchvision backend takes a ``device``; its PIL fallback copies them to the CPU)."""
    model = bundle.model
    channels_first = list(decoded.permute(0, 3, 1, 2))
    pixels = bundle.processor(channels_first, return_tensors="pt", device=model.device).pixel_values
    return pixels.to(model.device, model.dtype)


def withheld_image(image: Image.Image) -> Image.Image:
    """A flagged image made unrecognisable (downscaled to a few pixels, blurred) with a visible label."""
    width, height = image.size
    blurred = image.resize((max(1, width // 32), max(1, height // 32)), Image.Resampling.BOX)
    blurred = blurred.resize((width, height), Image.Resampling.BILINEAR)
    blurred = blurred.filter(ImageFilter.GaussianBlur(radius=max(2, min(width, height) // 16)))
    draw = ImageDraw.Draw(blurred)
    font = ImageFont.load_default(size=max(8, width // 16))
    label = "Hidden by the safety checker"
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    x, y = (width - (right - left)) // 2, (height - (bottom - top)) // 2
    draw.rectangle((0, y - 4, width, y + (bottom - top) + 8), fill=(0, 0, 0))
    draw.text((x - left, y - top), label, fill=(255, 255, 255), font=font)
    return blurred


# ----------------------------------------------------------------------------------------------- running
class _StepWatcher:
    """``callback_on_step_end``: reports progress and previews, and interrupts on cancel or deadline."""

    def __init__(
        self,
        *,
        on_step: Callable[[StepUpdate], None] | None,
        cancel: threading.Event | None,
        deadline_s: float | None,
        preview: Callable[[torch.Tensor], Image.Image] | None,
        preview_interval_s: float,
    ) -> None:
        self.on_step = on_step
        self.cancel = cancel
        self.deadline_s = deadline_s
        self.preview = preview
        self.preview_interval_s = preview_interval_s
        self.start()

    def start(self) -> None:
        self.started = time.monotonic()
        self.last_preview_s = 0.0
        self.steps_done = 0
        self.stopped_by: str | None = None

    def _wants_preview(self, elapsed: float, last_step: bool) -> bool:
        """Not for the last step (the checked image follows), and not more often than the interval."""
        if self.preview is None or last_step or elapsed - self.last_preview_s < self.preview_interval_s:
            return False
        self.last_preview_s = elapsed
        return True

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        self.steps_done = step + 1
        total = pipe.num_timesteps
        elapsed = time.monotonic() - self.started
        if self.on_step is not None:
            wanted = self._wants_preview(elapsed, last_step=self.steps_done >= total)
            preview = self.preview(callback_kwargs["latents"]) if wanted and self.preview else None
            self.on_step(StepUpdate(step=self.steps_done, total=total, elapsed_s=elapsed, preview=preview))
        if self.cancel is not None and self.cancel.is_set():
            self.stopped_by = "cancel"
        elif self.deadline_s is not None and elapsed >= self.deadline_s:
            self.stopped_by = "deadline"
        if self.stopped_by and self.steps_done < total:
            pipe._interrupt = True  # diffusers' documented way to stop a pipeline from a callback
        return {}


def _previewer(taesd: Any, pipe: Any) -> Callable[[torch.Tensor], Image.Image]:
    """Decode the first image's latents with TAESD at no more than :data:`PREVIEW_MAX_SIDE` pixels."""
    import torch.nn.functional as F

    def preview(latents: torch.Tensor) -> Image.Image:
        first = latents[:1]
        latent_side = PREVIEW_MAX_SIDE // pipe.vae_scale_factor
        height, width = first.shape[-2:]
        if max(height, width) > latent_side:
            scale = latent_side / max(height, width)
            first = F.interpolate(
                first, size=(max(1, round(height * scale)), max(1, round(width * scale))), mode="area"
            )
        pixels = taesd.decode(first.to(taesd.device, taesd.dtype), return_dict=False)[0]
        return to_pil(to_bytes(pipe, pixels))[0]

    return preview


def _pipeline_arguments(options: GenerationOptions, generators: list[Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "prompt": options.prompt,
        "negative_prompt": options.negative_prompt,
        "num_inference_steps": options.steps,
        "guidance_scale": options.guidance,
        "num_images_per_prompt": options.num_images,
        "generator": generators,
        "output_type": "latent",
    }
    if options.init_image is None:
        arguments.update(height=options.height, width=options.width)
    else:
        arguments.update(image=_init_image(options), strength=options.strength)
    if options.control_image is not None:
        control = Image.fromarray(options.control_image).resize((options.width, options.height))
        control_argument = "image" if options.init_image is None else "control_image"
        arguments.update({control_argument: control, "controlnet_conditioning_scale": options.control_scale})
    return arguments


def _init_image(options: GenerationOptions) -> Image.Image:
    image = Image.fromarray(options.init_image)
    if image.size != (options.width, options.height):
        image = image.resize((options.width, options.height), Image.Resampling.LANCZOS)
    return image


def generate(
    options: GenerationOptions = GenerationOptions(),
    *,
    cache: ModelCache,
    on_step: Callable[[StepUpdate], None] | None = None,
    cancel: threading.Event | None = None,
    preview_interval_s: float = PREVIEW_INTERVAL_S,
) -> GenerationResult:
    """Generate images; ``on_step`` gets every step (with a preview at most every ``preview_interval_s``);
    setting ``cancel`` stops the run after the current step."""
    preset = get_preset(options.model)
    keys = [preset.key]
    if options.safety_checker:
        keys.append(SAFETY_KEY)
    if on_step is not None:
        keys.append(PREVIEW_KEY)
    if options.control_image is not None:
        _check_control_image(options)
        keys.append(CONTROLNET_KEY)
    with cache.use(*keys) as held:
        models = dict(zip(keys, held if len(keys) > 1 else (held,), strict=True))
        base = models[preset.key]
        resolved, notices = normalise_options(options, native_size=native_size(base))
        seeds = image_seeds(resolved.seed, resolved.num_images)
        with borrow_pipeline(cache, resolved, controlled=CONTROLNET_KEY in models) as pipe:
            notices += prompt_notices(pipe.tokenizer, resolved) + _resize_notice(options, resolved)
            preview = _previewer(models[PREVIEW_KEY], pipe) if on_step is not None else None
            watcher = _StepWatcher(
                on_step=on_step,
                cancel=cancel,
                deadline_s=resolved.deadline_s,
                preview=preview,
                preview_interval_s=preview_interval_s,
            )
            decoded = cache.run(lambda: _denoise_and_decode(pipe, resolved, seeds, watcher))
            total = pipe.num_timesteps
        flagged = cache.run(lambda: check_safety(models[SAFETY_KEY], decoded)) if options.safety_checker else []
    return _result(to_pil(decoded), flagged, seeds, resolved, watcher, total, notices)


def _check_control_image(options: GenerationOptions) -> None:
    image = options.control_image
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(
            f"The control image must be RGB uint8 of shape (height, width, 3), got {image.dtype} {image.shape}."
        )
    if options.model != "sd15":
        raise ValueError("ControlNet-Canny is trained for Stable Diffusion 1.5: choose the sd15 model.")
    if not 0.0 <= finite_number(options.control_scale, "Control scale") <= CONTROL_SCALE_RANGE[1]:
        raise ValueError(
            f"Control scale must lie between 0 and {CONTROL_SCALE_RANGE[1]:g}, got {options.control_scale!r}."
        )


def _resize_notice(options: GenerationOptions, resolved: GenerationOptions) -> tuple[str, ...]:
    if options.init_image is None:
        return ()
    height, width = options.init_image.shape[:2]
    if (width, height) == (resolved.width, resolved.height):
        return ()
    return (f"The init image was resized from {width}x{height} to {resolved.width}x{resolved.height}.",)


def _denoise_and_decode(
    pipe: Any, options: GenerationOptions, seeds: tuple[int, ...], watcher: _StepWatcher
) -> torch.Tensor:
    import torch

    generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
    watcher.start()
    with torch.no_grad():
        latents = pipe(**_pipeline_arguments(options, generators), callback_on_step_end=watcher).images
        return decode_latents(pipe, latents, generators)


def _result(
    images: list[Image.Image],
    flagged: list[bool],
    seeds: tuple[int, ...],
    options: GenerationOptions,
    watcher: _StepWatcher,
    total: int,
    notices: tuple[str, ...],
) -> GenerationResult:
    flags = tuple(flagged) or (False,) * len(images)
    if not options.safety_checker:
        notices += ("The safety checker was turned off for this run: the images are unchecked.",)
    if any(flags):
        notices += (
            f"The safety checker flagged {sum(flags)} of {len(images)} image(s); they are shown blurred. "
            "Try another prompt or seed.",
        )
    if watcher.stopped_by == "deadline":
        notices += (
            f"Stopped after {watcher.steps_done} of {total} steps: the {options.deadline_s:g} s time limit "
            "passed, so the image is unfinished. Use fewer steps, a smaller size or fewer images.",
        )
    elif watcher.stopped_by == "cancel":
        notices += (f"Stopped after {watcher.steps_done} of {total} steps, as asked; the image is unfinished.",)
    parameters = tuple(format_parameters(options, seed) for seed in seeds)
    finished = []
    for image, text, flag in zip(images, parameters, flags, strict=True):
        shown = withheld_image(image) if flag else image
        shown.info[PARAMETERS_CHUNK] = text
        finished.append(shown)
    return GenerationResult(
        images=tuple(finished),
        seeds=seeds,
        parameters=parameters,
        flagged=flags,
        options=options,
        steps_done=watcher.steps_done,
        steps_total=total,
        stopped_by=watcher.stopped_by,
        notices=notices,
    )


_DONE = object()


def generate_stream(
    options: GenerationOptions = GenerationOptions(),
    *,
    cache: ModelCache,
    cancel: threading.Event | None = None,
    poll_s: float = 0.2,
    preview_interval_s: float = PREVIEW_INTERVAL_S,
) -> Iterator[StepUpdate | GenerationResult | None]:
    """Run :func:`generate` in a worker thread and yield its :class:`StepUpdate` s, then the result.

    It yields ``None`` every ``poll_s`` seconds without news, so a consumer (Gradio's Stop button) can close
    the stream between steps; closing it sets ``cancel`` and the run stops after the step in progress.
    """
    stop = cancel if cancel is not None else threading.Event()
    updates: queue.SimpleQueue[Any] = queue.SimpleQueue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = generate(
                options, cache=cache, on_step=updates.put, cancel=stop, preview_interval_s=preview_interval_s
            )
        except BaseException as error:
            outcome["error"] = error
        finally:
            updates.put(_DONE)

    threading.Thread(target=work, name="fusion-generate", daemon=True).start()
    finished = False
    try:
        while (item := _next_update(updates, poll_s)) is not _DONE:
            yield item
        finished = True
    finally:
        if not finished:
            stop.set()
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["result"]


def _next_update(updates: queue.SimpleQueue[Any], poll_s: float) -> Any:
    try:
        return updates.get(timeout=poll_s)
    except queue.Empty:
        return None
