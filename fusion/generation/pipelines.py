"""Pipelines around the cached models' components, each with a scheduler and a tokenizer of its own.

The cached pipelines are never mutated: a run borrows a light pipeline built around the cached components
(``from_config`` for its scheduler, ``from_pipe`` for ControlNet), so concurrent runs never share scheduler or
tokenizer state. The cache lends them, keeps them for reuse and drops them with any model they were built
around; speed-ups are applied by the cache too, once, when a pipeline loads (``registry.ModelSpec.prepare``).
"""

from __future__ import annotations

import copy
import functools
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from fusion.generation.options import GenerationOptions, get_preset
from fusion.generation.schedulers import make_scheduler

if TYPE_CHECKING:
    from fusion.cache import ModelCache

#: The ControlNet a ``control_image`` conditions SD 1.5 through.
CONTROLNET_KEY = "controlnet-canny"


def native_size(pipe: Any) -> int:
    """The resolution a Stable Diffusion pipeline was trained at."""
    sample_size = pipe.unet.config.sample_size
    side = sample_size if isinstance(sample_size, int) else sample_size[0]
    return int(side * pipe.vae_scale_factor)



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


def borrow_pipeline(
    cache: ModelCache, options: GenerationOptions, *, controlled: bool
) -> AbstractContextManager[Any]:
    """A pipeline for resolved ``options``, lent by the cache to one call at a time (a pipeline, its scheduler and
    its tokenizer hold per-call state, so they are never shared by concurrent calls).

    Building one costs a millisecond or more of CPU (the scheduler's ``from_config``, a tokenizer copy), which
    matters for one-step SD-Turbo, so the cache keeps them for reuse; it drops them with the base model or the
    ControlNet they were built around, and with them the last references to those weights.
    """
    depends_on = (options.model, CONTROLNET_KEY) if controlled else (options.model,)
    key = (options.scheduler, "txt2img" if options.init_image is None else "img2img")
    build = lambda base, controlnet=None: build_pipeline(base, options, controlnet)  # noqa: E731
    return cache.borrow("pipeline", key, build, depends_on=depends_on)
