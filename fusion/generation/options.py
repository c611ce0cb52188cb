"""What to generate: the models' presets, the options with their limits, and the one place values become options.

Options arrive as raw values from a widget or an API client (numbers, numeric strings, empty strings, sentinels)
or as a :class:`GenerationOptions` from Python. Three steps, each in one function:

- :func:`read_options` reads raw values (with :mod:`fusion.numbers`) into options, then checks them;
- :func:`check_options` checks every given value and brings it into range, with a notice for each change. What
  is left to the model (``None``, the ``"default"`` scheduler, seed -1) stays so, and checking options it has
  already checked changes nothing and says nothing, so a run can check whatever it is given;
- :func:`resolve_options` fills in the model's defaults once the model is loaded (its native size is known
  then), with notices about what the combination changes or ignores.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fusion.generation.schedulers import DEFAULT_SCHEDULER, check_scheduler
from fusion.messages import Message
from fusion.numbers import (
    clamped,
    finite_number,
    number_or,
    one_of,
    optional_number,
    optional_whole_number,
    whole_number,
)

SIZE_MULTIPLE = 8
SIZE_RANGE = (64, 1024)
GUIDANCE_RANGE = (0.0, 30.0)
STRENGTH_RANGE = (0.01, 1.0)
CONTROL_SCALE_RANGE = (0.0, 2.0)
MAX_IMAGES = 4
MAX_PROMPT_CHARS = 4000
SEED_LIMIT = 2**32
DEFAULT_MODEL = "sd15"
DEFAULT_STRENGTH = 0.6
DEFAULT_DEADLINE_S = 300.0
#: Raw values of the number fields that stand for "the chosen model's default"; values below them are refused.
#: Sentinels rather than empty fields, because Gradio shows and sends an empty ``gr.Number`` as 0.
MODEL_DEFAULT = {"steps": 0, "guidance": -1, "width": 0, "height": 0}
#: On ZeroGPU a run may take this long per step and image at 512 px (generous for an H200 slice), plus a base.
ZERO_GPU_SECONDS_PER_STEP = 0.25
ZERO_GPU_BASE_SECONDS = 20.0


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


#: How the final latents become pixels: the pipeline's VAE, or TAESD (18x fewer FLOPs at 512², most of a CPU
#: image's time), labelled as such and never chosen silently; its pixel cost is in benchmarks/results/cpu.md.
DECODERS = {"vae": "Full quality (VAE)", "taesd": "Fast preview quality (TAESD)"}


@dataclass(frozen=True)
class GenerationOptions:
    """What to generate. ``None`` means the model's default (steps, guidance, scheduler, native size)."""

    prompt: str = ""
    negative_prompt: str = ""
    model: str = DEFAULT_MODEL
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
    #: RGB uint8 (H, W, 3) edge map: conditions the run through ControlNet (``pipelines.CONTROLNET_KEY``).
    control_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    control_scale: float = 1.0
    #: Seconds of denoising after which the run is interrupted (``None``: no deadline).
    deadline_s: float | None = DEFAULT_DEADLINE_S
    safety_checker: bool = True
    #: One of :data:`DECODERS`.
    decoder: str = "vae"


def get_preset(model: str) -> ModelPreset:
    """The preset of a generation model key, or a ValueError that lists them."""
    return MODELS[one_of(model, MODELS, "generation model")]


# ------------------------------------------------------------------------------------------------ raw values
def read_options(
    raw: Mapping[str, Any], *, deadline_s: float = DEFAULT_DEADLINE_S, zero_gpu: bool = False
) -> tuple[GenerationOptions, tuple[str, ...]]:
    """Checked options (see :func:`check_options`) and their notices from the raw values a widget or API client
    sends, keyed by option name; ``init_image`` comes decoded (RGB uint8).

    Empty values take the defaults. Steps, width and height of 0 and guidance -1 (:data:`MODEL_DEFAULT`) mean
    the model's default, and values below them are refused rather than taken as another way to say so. The
    deadline is ``deadline_s``, on ZeroGPU less for a small request (:func:`time_budget_s`).
    """
    seed = optional_whole_number(raw.get("seed"), "Seed")
    num_images = optional_whole_number(raw.get("num_images"), "Number of images")
    options = GenerationOptions(
        prompt=_text(raw.get("prompt"), "prompt"),
        negative_prompt=_text(raw.get("negative_prompt"), "negative prompt"),
        model=str(raw.get("model") or DEFAULT_MODEL),
        scheduler=str(raw.get("scheduler") or DEFAULT_SCHEDULER),
        steps=_model_default_if(raw.get("steps"), "Steps", whole=True),
        guidance=_model_default_if(raw.get("guidance"), "Guidance", whole=False),
        width=_model_default_if(raw.get("width"), "Width", whole=True),
        height=_model_default_if(raw.get("height"), "Height", whole=True),
        seed=-1 if seed is None else seed,
        num_images=1 if num_images is None else num_images,
        init_image=raw.get("init_image"),
        strength=number_or(raw.get("strength"), "Strength", DEFAULT_STRENGTH),
        decoder=str(raw.get("decoder") or "vae"),
    )
    checked, notices = check_options(options)
    return replace(checked, deadline_s=time_budget_s(checked, deadline_s, zero_gpu=zero_gpu)), notices


def _model_default_if(value: Any, what: str, *, whole: bool) -> float | None:
    """``None`` (the model's default) for an empty value or the field's sentinel in :data:`MODEL_DEFAULT`."""
    sentinel = MODEL_DEFAULT[what.lower()]
    number = optional_whole_number(value, what) if whole else optional_number(value, what)
    if number is not None and number < sentinel:
        raise ValueError(
            Message(
                "{what} {value:g} is too low: {sentinel:g} means the model's default.",
                what=what,
                value=number,
                sentinel=sentinel,
            )
        )
    return None if number is None or number == sentinel else number


def time_budget_s(options: GenerationOptions, deadline_s: float, *, zero_gpu: bool) -> float:
    """Seconds of denoising checked options may take: ``deadline_s``, or on ZeroGPU an estimate from their size
    (ZeroGPU grants a call the seconds it asks for, and a short request asks for less)."""
    if not zero_gpu:
        return deadline_s
    steps = get_preset(options.model).steps if options.steps is None else options.steps
    area = max(1.0, (options.width or 512) * (options.height or 512) / 512**2)
    return min(deadline_s, ZERO_GPU_BASE_SECONDS + ZERO_GPU_SECONDS_PER_STEP * steps * options.num_images * area)


# ---------------------------------------------------------------------------------------------------- checks
def check_options(options: GenerationOptions) -> tuple[GenerationOptions, tuple[str, ...]]:
    """Every given value checked and clamped or rounded into range, with a notice for each change; what is left
    to the model stays. Refuses (ValueError) what cannot be used: unknown models and schedulers, texts that are
    far too long, images that are not RGB uint8, ControlNet outside SD 1.5."""
    preset = get_preset(options.model)
    notices: list[str] = []
    prompt = _text(options.prompt, "prompt")
    negative_prompt = _text(options.negative_prompt, "negative prompt")
    scheduler = check_scheduler(options.scheduler)
    one_of(options.decoder, DECODERS, "decoder")
    steps = options.steps
    if steps is not None:
        steps = clamped(whole_number(steps, "Steps"), 1, preset.max_steps, "Steps", notices)
    guidance = options.guidance
    if guidance is not None:
        guidance = clamped(finite_number(guidance, "Guidance"), *GUIDANCE_RANGE, "Guidance", notices)
    num_images = whole_number(options.num_images, "Number of images")
    num_images = clamped(num_images, 1, MAX_IMAGES, "Number of images", notices)
    seed = _seed(whole_number(options.seed, "Seed"), notices)
    strength = options.strength
    if options.init_image is not None:
        _check_init_image(options.init_image)
        strength = clamped(finite_number(strength, "Strength"), *STRENGTH_RANGE, "Strength", notices)
    if options.control_image is not None:
        _check_control_image(options)
    width = None if options.width is None else _side(options.width, "Width", notices)
    height = None if options.height is None else _side(options.height, "Height", notices)
    checked = replace(
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
    return checked, tuple(notices)


def _text(value: str | None, what: str) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(
            Message(
                "The {what} is {length:,} characters long; the text encoder reads only about 75 words (77 tokens). "
                "Shorten it to under {limit:,} characters.",
                what=what,
                length=len(text),
                limit=MAX_PROMPT_CHARS,
            )
        )
    return text


def _check_init_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(
            Message(
                "The init image must be RGB uint8 of shape (height, width, 3), got {dtype} {shape}; decode uploads "
                "with fusion.images.load.",
                dtype=str(image.dtype),
                shape=image.shape,
            )
        )


def _check_control_image(options: GenerationOptions) -> None:
    image = options.control_image
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(
            Message(
                "The control image must be RGB uint8 of shape (height, width, 3), got {dtype} {shape}.",
                dtype=str(image.dtype),
                shape=image.shape,
            )
        )
    if options.model != "sd15":
        raise ValueError("ControlNet-Canny is trained for Stable Diffusion 1.5: choose the sd15 model.")
    if not 0.0 <= finite_number(options.control_scale, "Control scale") <= CONTROL_SCALE_RANGE[1]:
        raise ValueError(
            Message(
                "Control scale must lie between 0 and {maximum:g}, got {value!r}.",
                maximum=CONTROL_SCALE_RANGE[1],
                value=options.control_scale,
            )
        )


def _seed(seed: int, notices: list[str]) -> int:
    """-1 for any negative seed (random: drawn when the run resolves its options), else the seed modulo 2^32."""
    if seed < 0:
        if seed != -1:
            notices.append(Message("Seed {seed} is negative, which means random.", seed=seed))
        return -1
    if seed >= SEED_LIMIT:
        notices.append(
            Message(
                "Seed {seed} is above {maximum}; using {used} (the seed modulo 2^32).",
                seed=seed,
                maximum=SEED_LIMIT - 1,
                used=seed % SEED_LIMIT,
            )
        )
    return seed % SEED_LIMIT


def _side(value: float, what: str, notices: list[str]) -> int:
    """A width or height rounded to a multiple of 8 and clamped to the allowed range, with a notice if it moved."""
    inside = clamped(finite_number(value, what), *SIZE_RANGE, what, notices)
    rounded = _rounded_side(inside)
    if rounded != inside:
        notices.append(
            Message(
                "{what} {value:g} is not a multiple of {multiple}; using {used}.",
                what=what,
                value=inside,
                multiple=SIZE_MULTIPLE,
                used=rounded,
            )
        )
    return rounded


def _rounded_side(number: float) -> int:
    low, high = SIZE_RANGE
    return min(max(math.floor(number / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE, low), high)


# ---------------------------------------------------------------------------------------------- resolution
def resolve_options(options: GenerationOptions, *, native_size: int) -> tuple[GenerationOptions, tuple[str, ...]]:
    """Checked options with the model's defaults filled in: steps, guidance and scheduler from its preset, a
    random seed for -1, missing sizes from the init image's aspect ratio or from ``native_size`` (the model's own
    resolution, ``unet.config.sample_size * vae_scale_factor``); with notices for what the combination changes or
    ignores, and for the size an init image is generated at."""
    preset = get_preset(options.model)
    notices: list[str] = []
    steps = preset.steps if options.steps is None else options.steps
    guidance = preset.guidance if options.guidance is None else options.guidance
    strength = options.strength
    if options.init_image is not None:
        steps, strength = _at_least_one_step(steps, strength, preset, notices)
    width, height, size_notices = _size(options, native_size)
    notices += size_notices
    if guidance <= 1 and options.negative_prompt.strip():
        notices.append("Guidance of 1 or less turns classifier-free guidance off, so the negative prompt is ignored.")
    if preset.key == "sd-turbo" and guidance > 1:
        notices.append("SD-Turbo was distilled to run without guidance (0); higher values usually oversaturate.")
    resolved = replace(
        options,
        scheduler=preset.scheduler if options.scheduler in (None, DEFAULT_SCHEDULER) else options.scheduler,
        steps=steps,
        guidance=guidance,
        width=width,
        height=height,
        seed=secrets.randbelow(SEED_LIMIT) if options.seed < 0 else options.seed,
        strength=strength,
    )
    return resolved, tuple(notices)


def normalise_options(options: GenerationOptions, *, native_size: int) -> tuple[GenerationOptions, tuple[str, ...]]:
    """:func:`check_options` then :func:`resolve_options`: options ready to run, with every notice."""
    checked, notices = check_options(options)
    resolved, more = resolve_options(checked, native_size=native_size)
    return resolved, notices + more


def _at_least_one_step(steps: int, strength: float, preset: ModelPreset, notices: list[str]) -> tuple[int, float]:
    """img2img runs ``int(steps * strength)`` steps: make that at least one, preferring more steps."""
    if int(steps * strength) >= 1:
        return steps, strength
    needed = math.ceil(1 / strength)
    if int(needed * strength) < 1:
        needed += 1
    if needed <= preset.max_steps:
        notices.append(
            Message(
                "Strength {strength:g} x {steps} steps would not run a single denoising step; using {needed} steps.",
                strength=strength,
                steps=steps,
                needed=needed,
            )
        )
        return needed, strength
    raised = min(1.0, math.ceil(1000 / steps) / 1000)
    notices.append(
        Message(
            "Strength {strength:g} x {steps} steps would not run a single denoising step; using strength {raised:g}.",
            strength=strength,
            steps=steps,
            raised=raised,
        )
    )
    return steps, raised


#: The notices of :func:`_size`: how big an image-to-image output is, and why.
INIT_IMAGE_RESIZED = "The init image was resized from {width}x{height} to {new_width}x{new_height}."
SIZE_FROM_INIT_IMAGE = (
    "The output is {new_width}x{new_height}: the init image's aspect ratio ({width}x{height}) at about the model's "
    "own size. Set a width and height to choose another size."
)
SIDE_FROM_INIT_IMAGE = (
    "The output is {new_width}x{new_height}: the side not given follows the init image's aspect ratio "
    "({width}x{height})."
)


def _size(options: GenerationOptions, native: int) -> tuple[int, int, tuple[str, ...]]:
    """Checked sizes as they are; missing ones follow the init image's aspect ratio (:func:`init_image_size`)
    or are the model's native size. A notice says the size an init image is generated at, and why."""
    width, height = options.width, options.height
    if options.init_image is None:
        return _rounded_side(width or native), _rounded_side(height or native), ()
    image_height, image_width = options.init_image.shape[:2]
    if width is None and height is None:
        width, height = init_image_size(image_width, image_height, native)
    elif width is None:
        width = _rounded_side(height * image_width / image_height)
    elif height is None:
        height = _rounded_side(width * image_height / image_width)
    elif (width, height) == (image_width, image_height):
        return width, height, ()
    derived = options.width is None or options.height is None
    both = options.width is None and options.height is None
    notice = Message(
        (SIZE_FROM_INIT_IMAGE if both else SIDE_FROM_INIT_IMAGE) if derived else INIT_IMAGE_RESIZED,
        width=image_width,
        height=image_height,
        new_width=width,
        new_height=height,
    )
    return width, height, (notice,)


def init_image_size(image_width: int, image_height: int, native: int) -> tuple[int, int]:
    """The size an init image is generated at when no width or height was given: its aspect ratio at about the
    model's native pixel area (``native`` squared, what the model was trained on), each side a multiple of 8
    within :data:`SIZE_RANGE`. A ratio beyond the range's (16:1) keeps as much of it as the limits allow."""
    ratio = math.sqrt(image_width / image_height)
    width, height = native * ratio, native / ratio
    low, high = SIZE_RANGE
    shrink = min(1.0, high / max(width, height))
    grow = max(1.0, low / min(width * shrink, height * shrink))
    return _rounded_side(width * shrink * grow), _rounded_side(height * shrink * grow)


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
                Message(
                    "The {what} is {length} tokens long but the text encoder reads {limit}, so it was truncated; "
                    "ignored: {ignored!r}.",
                    what=what,
                    length=len(ids),
                    limit=limit,
                    ignored=shown,
                )
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
