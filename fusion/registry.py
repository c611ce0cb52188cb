"""Model keys -> how to load each one, what to do to it once loaded, its tiny twin, its size.

Loaders are plain functions ``(source, device, dtype) -> model`` that call the libraries' own ``from_pretrained``
with safetensors only and never ``trust_remote_code``. A source is a Hub id or a local folder; in tiny mode it is
the folder that :mod:`fusion.tiny` wrote, so the tiny twins go through exactly the same code as the real models.
Load hooks (``ModelSpec.prepare``) are plain functions ``(model, settings) -> None`` too. Heavy libraries are
imported inside the loaders and hooks: importing this module loads nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusion import acceleration
from fusion.messages import Message

if TYPE_CHECKING:
    import torch

    from fusion.config import Settings

GB = 1 << 30
MB = 1 << 20


@dataclass(frozen=True)
class ModelBundle:
    """A transformers model with the processor that prepares its inputs."""

    model: Any
    processor: Any


@dataclass(frozen=True)
class ModelSpec:
    """How one model key is loaded, built tiny, downloaded and sized."""

    key: str
    title: str
    loader: Callable[[str, torch.device, torch.dtype], Any]
    #: ``"module:function"`` writing the tiny twin into a folder; imported only in tiny mode.
    tiny_builder: str
    #: Size of the real weights in half precision, used to make room before a load.
    expected_bytes: int
    #: Files ``python -m fusion download`` fetches (``allow_patterns``).
    hub_files: tuple[str, ...]
    #: Whether the Hub repo publishes an ``fp16`` weight variant.
    has_fp16_variant: bool = False
    #: The load hook: ``prepare(model, settings)`` runs once, right after the loader, with the loaded model and the
    #: app's settings, before the cache counts the model's bytes. Whatever changes a model in place to make it
    #: faster (attention processors, fused projections, compilation, an ahead-of-time compiled package) goes here,
    #: never into a request. It returns the bytes it made the model hold besides its own modules (a frozen
    #: package's copy of the weights), which the cache counts with the model; an exception fails the load as a
    #: loader's would.
    prepare: Callable[[Any, Settings], int] | None = None

    def build_tiny(self, folder: Path) -> None:
        """Write this model's tiny random-weight twin into ``folder``."""
        module_name, function_name = self.tiny_builder.split(":")
        getattr(importlib.import_module(module_name), function_name)(folder)


def _variant(source: str, has_fp16_variant: bool) -> str | None:
    """Hub repos with an fp16 variant load it at any dtype (diffusers upcasts), so one download serves CPU and GPU."""
    return "fp16" if has_fp16_variant and not Path(source).is_dir() else None


def _load_transformers(model_class: str, processor_class: str) -> Callable[[str, Any, Any], ModelBundle]:
    def load(source: str, device: torch.device, dtype: torch.dtype) -> ModelBundle:
        import transformers

        model = getattr(transformers, model_class).from_pretrained(source, dtype=dtype, use_safetensors=True)
        processor = getattr(transformers, processor_class).from_pretrained(source)
        return ModelBundle(model=model.to(device).eval(), processor=processor)

    load.__name__ = f"load_{model_class}"
    return load


def _load_stable_diffusion(has_fp16_variant: bool) -> Callable[[str, Any, Any], Any]:
    def load(source: str, device: torch.device, dtype: torch.dtype) -> Any:
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline.from_pretrained(
            source,
            dtype=dtype,
            use_safetensors=True,
            variant=_variant(source, has_fp16_variant),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(device)

    return load


def _load_diffusers_model(class_name: str, has_fp16_variant: bool) -> Callable[[str, Any, Any], Any]:
    def load(source: str, device: torch.device, dtype: torch.dtype) -> Any:
        import diffusers

        model = getattr(diffusers, class_name).from_pretrained(
            source, dtype=dtype, use_safetensors=True, variant=_variant(source, has_fp16_variant)
        )
        return model.to(device).eval()

    load.__name__ = f"load_{class_name}"
    return load


def _load_assistant(source: str, device: torch.device, dtype: torch.dtype) -> ModelBundle:
    """A causal language model and its tokenizer; on a GPU with bfloat16 it loads in bfloat16 rather than
    float16, because the Qwen3 weights are published in bfloat16 and activations can overflow float16's range."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype == torch.float16 and device.type == "cuda" and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, use_safetensors=True)
    return ModelBundle(model=model.to(device).eval(), processor=AutoTokenizer.from_pretrained(source))


def _load_safety_checker(source: str, device: torch.device, dtype: torch.dtype) -> ModelBundle:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    model = StableDiffusionSafetyChecker.from_pretrained(source, dtype=dtype, use_safetensors=True)
    return ModelBundle(model=model.to(device).eval(), processor=CLIPImageProcessor.from_pretrained(source))


def _load_hook(key: str, first: Callable[[Any, Settings], None] | None = None) -> Callable[[Any, Settings], int]:
    """The load hook of ``key``: its acceleration (``first``; fused projections change the weight layout a package
    is built for), then the ahead-of-time compiled packages that fit it (``fusion/compiled.py``)."""

    def prepare(model: Any, settings: Settings) -> int:
        from fusion import compiled

        if first is not None:
            first(model, settings)
        return compiled.apply_packages(key, model, settings).held_bytes

    prepare.__name__ = f"prepare_{key.replace('-', '_')}"
    return prepare


def _int8_text_decoder(bundle: ModelBundle, settings: Settings) -> None:
    """BLIP's text decoders with int8 weights where they pay (``fusion/quantization.py``, which imports torch)."""
    from fusion import quantization

    quantization.prepare_text_decoder(bundle, settings)


_TRANSFORMERS_FILES = ("*.json", "*.txt", "*.safetensors")
_PIPELINE_FILES = (
    "model_index.json",
    "scheduler/*.json",
    "tokenizer/*",
    *(f"{part}/{pattern}" for part in ("text_encoder", "unet", "vae") for pattern in ("*.json", "*.fp16.safetensors")),
)

REGISTRY: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            "caption",
            "BLIP captioning (base)",
            _load_transformers("BlipForConditionalGeneration", "BlipProcessor"),
            "fusion.tiny.blip:build_caption",
            int(0.47 * GB),
            _TRANSFORMERS_FILES,
            prepare=_load_hook("caption", _int8_text_decoder),
        ),
        ModelSpec(
            "caption-large",
            "BLIP captioning (large)",
            _load_transformers("BlipForConditionalGeneration", "BlipProcessor"),
            "fusion.tiny.blip:build_caption",
            int(0.94 * GB),
            _TRANSFORMERS_FILES,
            prepare=_load_hook("caption-large", _int8_text_decoder),
        ),
        ModelSpec(
            "vqa",
            "BLIP visual question answering",
            _load_transformers("BlipForQuestionAnswering", "BlipProcessor"),
            "fusion.tiny.blip:build_vqa",
            int(0.77 * GB),
            _TRANSFORMERS_FILES,
            prepare=_load_hook("vqa", _int8_text_decoder),
        ),
        ModelSpec(
            "clip",
            "CLIP ViT-B/32",
            _load_transformers("CLIPModel", "CLIPProcessor"),
            "fusion.tiny.clip:build_clip",
            int(0.30 * GB),
            _TRANSFORMERS_FILES,
            prepare=_load_hook("clip"),
        ),
        ModelSpec(
            "clip-large",
            "CLIP ViT-L/14",
            _load_transformers("CLIPModel", "CLIPProcessor"),
            "fusion.tiny.clip:build_clip",
            int(0.86 * GB),
            _TRANSFORMERS_FILES,
            prepare=_load_hook("clip-large"),
        ),
        ModelSpec(
            "sd15",
            "Stable Diffusion 1.5",
            _load_stable_diffusion(has_fp16_variant=True),
            "fusion.tiny.diffusion:build_stable_diffusion",
            int(2.2 * GB),
            _PIPELINE_FILES,
            has_fp16_variant=True,
            prepare=_load_hook("sd15", acceleration.prepare_pipeline),
        ),
        ModelSpec(
            "sd-turbo",
            "SD-Turbo",
            _load_stable_diffusion(has_fp16_variant=True),
            "fusion.tiny.diffusion:build_stable_diffusion",
            int(2.6 * GB),
            _PIPELINE_FILES,
            has_fp16_variant=True,
            prepare=_load_hook("sd-turbo", acceleration.prepare_pipeline),
        ),
        ModelSpec(
            "controlnet-canny",
            "ControlNet Canny (SD 1.5)",
            _load_diffusers_model("ControlNetModel", has_fp16_variant=True),
            "fusion.tiny.diffusion:build_controlnet",
            int(0.72 * GB),
            ("*.json", "*.fp16.safetensors"),
            has_fp16_variant=True,
        ),
        ModelSpec(
            "taesd",
            "Tiny autoencoder (previews)",
            _load_diffusers_model("AutoencoderTiny", has_fp16_variant=False),
            "fusion.tiny.diffusion:build_taesd",
            5 * MB,
            ("*.json", "diffusion_pytorch_model.safetensors"),
            prepare=_load_hook("taesd"),
        ),
        ModelSpec(
            "safety-checker",
            "Safety checker",
            _load_safety_checker,
            "fusion.tiny.diffusion:build_safety_checker",
            int(0.61 * GB),
            ("*.json", "model.safetensors"),
            prepare=_load_hook("safety-checker", acceleration.prepare_safety_checker),
        ),
        ModelSpec(
            "assistant",
            "Qwen3 1.7B assistant (Ask)",
            _load_assistant,
            "fusion.tiny.assistant:build_assistant",
            int(3.2 * GB),
            _TRANSFORMERS_FILES,
        ),
    )
}


def get_spec(key: str) -> ModelSpec:
    """The spec of a model key, or a ValueError that lists the known keys."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValueError(
            Message("Unknown model {key!r}; known models: {choices}", key=key, choices=", ".join(REGISTRY))
        ) from None
