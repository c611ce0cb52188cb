"""Stable Diffusion text-to-image and image-to-image on the cache's pipelines: previews, safety, PNG metadata.

One job per module:

- :mod:`~fusion.generation.options`: the models' presets, the options and their limits, and the one place values
  become options (raw widget and API values read, checked, then resolved against the loaded model);
- :mod:`~fusion.generation.schedulers`: the samplers by A1111 name (a new scheduler is one line there);
- :mod:`~fusion.generation.parameters`: A1111's PNG ``parameters`` text, written and read back;
- :mod:`~fusion.generation.pipelines`: light pipelines around the cached components, lent by the cache;
- :mod:`~fusion.generation.decoding`: latents to pixels, and the small TAESD previews;
- :mod:`~fusion.generation.safety`: the safety checker, and the blurred, labelled stand-in for a flagged image;
- :mod:`~fusion.generation.stopping`: the one way a run stops early (asked, or past its deadline);
- :mod:`~fusion.generation.run`: a run from options to images, and its stream of progress for the panel.

The names other modules use are importable from here.
"""

from fusion.generation.decoding import (
    PREVIEW_KEY,
    PREVIEW_MAX_SIDE,
    TILED_DECODE_AREA,
    decode_latents,
    to_bytes,
    to_pil,
)
from fusion.generation.options import (
    CONTROL_SCALE_RANGE,
    DECODERS,
    DEFAULT_DEADLINE_S,
    DEFAULT_MODEL,
    DEFAULT_STRENGTH,
    GUIDANCE_RANGE,
    MAX_IMAGES,
    MAX_PROMPT_CHARS,
    MODEL_DEFAULT,
    MODELS,
    SEED_LIMIT,
    SIZE_MULTIPLE,
    SIZE_RANGE,
    STRENGTH_RANGE,
    GenerationOptions,
    ModelPreset,
    check_options,
    get_preset,
    image_seeds,
    init_image_size,
    normalise_options,
    prompt_notices,
    read_options,
    resolve_options,
)
from fusion.generation.parameters import PARAMETERS_CHUNK, format_parameters, parse_parameters, save_png
from fusion.generation.pipelines import CONTROLNET_KEY, borrow_pipeline, build_pipeline, native_size
from fusion.generation.run import PREVIEW_INTERVAL_S, GenerationResult, StepUpdate, generate, generate_stream
from fusion.generation.safety import SAFETY_KEY, check_safety, safety_inputs, withheld_image
from fusion.generation.schedulers import DEFAULT_SCHEDULER, SCHEDULERS, make_scheduler
from fusion.generation.stopping import Stop, StopSignals

__all__ = [
    "CONTROLNET_KEY",
    "CONTROL_SCALE_RANGE",
    "DECODERS",
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MODEL",
    "DEFAULT_SCHEDULER",
    "DEFAULT_STRENGTH",
    "GUIDANCE_RANGE",
    "MAX_IMAGES",
    "MAX_PROMPT_CHARS",
    "MODELS",
    "MODEL_DEFAULT",
    "PARAMETERS_CHUNK",
    "PREVIEW_INTERVAL_S",
    "PREVIEW_KEY",
    "PREVIEW_MAX_SIDE",
    "SAFETY_KEY",
    "SCHEDULERS",
    "SEED_LIMIT",
    "SIZE_MULTIPLE",
    "SIZE_RANGE",
    "STRENGTH_RANGE",
    "TILED_DECODE_AREA",
    "GenerationOptions",
    "GenerationResult",
    "ModelPreset",
    "StepUpdate",
    "Stop",
    "StopSignals",
    "borrow_pipeline",
    "build_pipeline",
    "check_options",
    "check_safety",
    "decode_latents",
    "format_parameters",
    "generate",
    "generate_stream",
    "get_preset",
    "image_seeds",
    "init_image_size",
    "make_scheduler",
    "native_size",
    "normalise_options",
    "parse_parameters",
    "prompt_notices",
    "read_options",
    "resolve_options",
    "safety_inputs",
    "save_png",
    "to_bytes",
    "to_pil",
    "withheld_image",
]
