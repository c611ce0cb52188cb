"""GPU speed-ups of a Stable Diffusion pipeline, each one switchable so that ``benchmarks/gpu.py`` can time it on
and off through the product's own path.

The defaults are the settings that won on an H200 (``benchmarks/GPU.md``). Everything here uses diffusers' and
PyTorch's own switches: attention processors (SDPA or the classic matmul-softmax one), fused QKV projections,
channels-last memory, and ``torch.compile`` of the whole UNet, of its repeated transformer blocks only
(regional compilation), or of the whole UNet with CUDA graphs (``reduce-overhead``), or of the text encoder,
the UNet, the VAE decoder and the safety checker's vision tower with CUDA graphs (``cudagraphs-all``). On the
H200 the eager UNet is bound by kernel launches (a replayed CUDA graph of the same call takes 40 % of its
time), which is why only CUDA graphs pay off there. Compilation cannot be undone: a compiled UNet keeps its
mode for life.

The app applies them once per loaded copy, through the registry's load hooks (:func:`prepare_pipeline`,
:func:`prepare_safety_checker`), never while serving a request; ``benchmarks/gpu.py`` calls :func:`apply` itself.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fusion.config import COMPILE_MODES

if TYPE_CHECKING:
    from fusion.config import Settings


@dataclass(frozen=True)
class Acceleration:
    """Which speed-ups a pipeline's UNet and VAE run with (half precision is the cache's dtype, not set here)."""

    #: PyTorch's scaled-dot-product attention (diffusers' default); off means the classic matmul-softmax path.
    sdpa: bool = True
    #: Query, key and value projections as one matrix product (self-attention) and key + value (cross-attention):
    #: 1-5 % faster on the H200 in every case measured, so on by default.
    fuse_qkv: bool = True
    #: Channels-last memory for the UNet's and the VAE's convolutions: no faster on the H200 (slower for SD 1.5),
    #: so off by default.
    channels_last: bool = False
    #: cuDNN times its convolution algorithms at each new shape and keeps the fastest
    #: (``torch.backends.cudnn.benchmark``, a process-wide switch): the first call at a new image size pays for it.
    cudnn_benchmark: bool = False
    #: One of :data:`fusion.config.COMPILE_MODES`. Off by default: CUDA graphs make SD 1.5 2.7-3.2 times and
    #: one-step SD-Turbo 2.7 times faster, but each new image size or batch costs a compile of 1-2 minutes on the
    #: request that meets it.
    compile: str = "off"


def for_settings(settings: Settings) -> Acceleration:
    """The app's acceleration: the defaults, compiled as ``FUSION_COMPILE`` says. On ZeroGPU the pipeline stays as
    loaded: calls run in a worker process forked from the app, so changes made there never reach the app's own
    models and could be redone call after call (and ``torch.compile`` is not allowed there)."""
    if settings.zero_gpu:
        return NATIVE
    return Acceleration(compile=settings.compile_mode)


#: The state diffusers loads a pipeline in.
NATIVE = Acceleration(sdpa=True, fuse_qkv=False, channels_last=False, cudnn_benchmark=False, compile="off")

_applied: weakref.WeakKeyDictionary[Any, Acceleration] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def apply(pipe: Any, acceleration: Acceleration) -> None:
    """Put ``pipe``'s UNet and VAE in the state ``acceleration`` describes, undoing earlier choices where the
    libraries allow it (everything but compilation)."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    if acceleration.compile not in COMPILE_MODES:
        raise ValueError(f"Unknown compile mode {acceleration.compile!r}; choose one of {', '.join(COMPILE_MODES)}.")
    unet, vae = pipe.unet, pipe.vae
    with _lock:
        before = _applied.get(unet, NATIVE)
        if before.compile != "off" and acceleration.compile != before.compile:
            raise ValueError(f"This UNet is already compiled ({before.compile}); load a fresh copy to change that.")
        for model in (unet, vae):
            if before.fuse_qkv:
                model.unfuse_qkv_projections()
            model.set_attn_processor(AttnProcessor2_0() if acceleration.sdpa else AttnProcessor())
            if acceleration.fuse_qkv:
                model.fuse_qkv_projections()  # fused processors always use SDPA
            model.to(memory_format=torch.channels_last if acceleration.channels_last else torch.contiguous_format)
        torch.backends.cudnn.benchmark = acceleration.cudnn_benchmark
        if before.compile == "off":
            _compile(pipe, acceleration.compile)
        _applied[unet] = acceleration


def prepare_pipeline(pipe: Any, settings: Settings) -> None:
    """The Stable Diffusion pipelines' load hook: the app's acceleration, on a CUDA GPU. Nothing is done where it
    would change nothing (:data:`NATIVE`, as on ZeroGPU, whose models are loaded before a GPU is attached)."""
    wanted = for_settings(settings)
    if wanted != NATIVE:
        ensure(pipe, wanted)


def prepare_safety_checker(bundle: Any, settings: Settings) -> None:
    """The safety checker's load hook: graphed with ``cudagraphs-all``, like the pipelines it checks."""
    ensure_safety_checker(bundle.model, for_settings(settings))


def ensure(pipe: Any, acceleration: Acceleration) -> None:
    """Apply ``acceleration`` to a pipeline on a CUDA GPU whose UNet nobody has set up yet."""
    with _lock:
        done = pipe.unet in _applied
    if not done and _weights_device(pipe.unet).type == "cuda":
        apply(pipe, acceleration)


def ensure_safety_checker(checker: Any, acceleration: Acceleration) -> None:
    """With ``cudagraphs-all``, graph the safety checker's CLIP vision tower too: a one-step image waits on it
    for longer than on its UNet step (12.7 against 9.2 ms on the H200, ``benchmarks/GPU.md``)."""
    if acceleration.compile != "cudagraphs-all" or _weights_device(checker).type != "cuda":
        return
    with _lock:
        if checker not in _applied:
            checker.vision_model.compile(mode="reduce-overhead", fullgraph=True)
            _applied[checker] = acceleration


def current(pipe: Any) -> Acceleration | None:
    """What :func:`apply` last set on this pipeline's UNet, if anything."""
    with _lock:
        return _applied.get(pipe.unet)


def _weights_device(model: Any) -> Any:
    """Where a model's weights are. diffusers' ``model.device`` first searches every submodule for offloading
    hooks (6 ms of a warm SD-Turbo call under cProfile, ``benchmarks/results/gpu-h200-run3.json``), which the
    cache never adds."""
    return next(model.parameters()).device


def _compile(pipe: Any, mode: str) -> None:
    unet = pipe.unet
    if mode == "regional":
        unet.compile_repeated_blocks(fullgraph=True)
    elif mode == "full":
        unet.compile(fullgraph=True)
    elif mode == "cudagraphs":
        unet.compile(mode="reduce-overhead", fullgraph=True)
    elif mode == "cudagraphs-all":
        # A one-step SD-Turbo image spends more time in the text encoder and the VAE decoder than in the UNet
        # (benchmarks/GPU.md), all of it launch-bound: graph them too.
        for module in (pipe.text_encoder, unet, pipe.vae.decoder):
            module.compile(mode="reduce-overhead", fullgraph=True)
