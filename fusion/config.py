"""Settings read once from the environment, frozen for the life of the process.

Every knob the app has lives here, so the rest of the code never reads ``os.environ`` itself and tests can build
a ``Settings`` with exactly the values they need.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from fusion.ratelimit import RateLimit, parse_rate

ModelSource = Literal["hub", "tiny"]

#: Default Hub id (or local folder) for every model role, overridable by the environment variable beside it.
DEFAULT_MODEL_IDS: dict[str, tuple[str, str]] = {
    "caption": ("FUSION_CAPTION_MODEL", "Salesforce/blip-image-captioning-base"),
    "caption-large": ("FUSION_CAPTION_LARGE_MODEL", "Salesforce/blip-image-captioning-large"),
    "vqa": ("FUSION_VQA_MODEL", "Salesforce/blip-vqa-base"),
    "clip": ("FUSION_CLIP_MODEL", "openai/clip-vit-base-patch32"),
    "clip-large": ("FUSION_CLIP_LARGE_MODEL", "openai/clip-vit-large-patch14"),
    "sd15": ("FUSION_SD15_MODEL", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
    "sd-turbo": ("FUSION_TURBO_MODEL", "stabilityai/sd-turbo"),
    "controlnet-canny": ("FUSION_CONTROLNET_MODEL", "lllyasviel/control_v11p_sd15_canny"),
    "taesd": ("FUSION_TAESD_MODEL", "madebyollin/taesd"),
    "safety-checker": ("FUSION_SAFETY_MODEL", "CompVis/stable-diffusion-safety-checker"),
    "assistant": ("FUSION_ASSISTANT_MODEL", "Qwen/Qwen3-1.7B"),
}

#: What ZeroGPU loads onto the GPU at start-up (it requires models placed there at import), unless FUSION_PRELOAD says.
ZERO_GPU_PRELOAD = ("caption", "vqa", "clip", "sd15", "sd-turbo", "controlnet-canny", "taesd", "safety-checker")

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")
COMPILE_MODES = ("off", "regional", "full", "cudagraphs", "cudagraphs-all")
#: The generation rate limit on a Space unless ``FUSION_GENERATION_RATE`` says otherwise (``off`` turns it off).
SPACES_GENERATION_RATE = "30/hour"
#: off: ignore compiled packages; load: apply those found in ``compiled_dir``; build: also compile the missing ones at
#: start-up (inside one ZeroGPU call there), see fusion/compiled.py and fusion/precompile.py.
AOT_MODES = ("off", "load", "build")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one running app."""

    models: ModelSource = "hub"
    model_ids: Mapping[str, str] = field(default_factory=lambda: {k: v for k, (_, v) in DEFAULT_MODEL_IDS.items()})
    device: str = "auto"
    dtype: str = "auto"
    #: Model memory budget in bytes; ``None`` means a fraction of free accelerator memory (or of RAM on CPU).
    memory_budget: int | None = None
    budget_fraction: float = 0.8
    #: Model keys loaded at start-up (always the defaults on ZeroGPU, which requires it).
    preload: tuple[str, ...] = ()
    #: Where tiny random-weight twins are written and reused.
    tiny_dir: Path = Path.home() / ".cache" / "fusion" / "tiny"
    #: Uploads whose long side exceeds this are downscaled (with a notice).
    max_image_side: int = 2048
    #: Memory one image decode may take (bytes); the pixel cap per mode follows from it (``fusion/images.py``).
    #: All decodes of the process together may hold twice this.
    decode_memory: int = 256 << 20
    max_file_size: str = "25mb"
    #: Requests waiting in each lane of the queue (the GPU lane, and the CPU events together) before more are refused.
    queue_max_size: int = 32
    #: Requests one client may have waiting in the GPU lane (in the CPU lane: half the lane).
    client_queue: int = 4
    cpu_concurrency: int = 4
    #: Total size of Gradio's temporary folder past which uploads are refused and the oldest files swept.
    temp_max_size: int = 2 << 30
    server_name: str = "127.0.0.1"
    server_port: int = 7860
    on_spaces: bool = False
    zero_gpu: bool = False
    #: How to ``torch.compile`` the diffusion UNet on CUDA (never on ZeroGPU, which does not allow it): off,
    #: regional (its transformer blocks), full, cudagraphs (full, with CUDA graphs), or cudagraphs-all (the text
    #: encoder, the VAE decoder and the safety checker's vision tower too).
    compile_mode: str = "off"
    #: Ahead-of-time compiled packages (fusion/compiled.py): what to do with them, and where they are kept.
    aot: str = "load"
    compiled_dir: Path = Path.home() / ".cache" / "fusion" / "compiled"
    #: Greedy captions replay their decoding steps as CUDA graphs on a dedicated CUDA GPU (fusion/static_greedy.py).
    caption_graphs: bool = True
    #: Captions and answers on the CPU in bfloat16 run their text decoder with int8 weights (fusion/quantization.py).
    int8_decoders: bool = True
    #: Also serve the public endpoints as MCP tools for language-model agents (``gradio[mcp]``).
    mcp_server: bool = False
    #: Per-client limit on requests that run a diffusion model; ``None``: no limit (:data:`SPACES_GENERATION_RATE`
    #: on Spaces unless set).
    generation_rate: RateLimit | None = None
    #: Identify clients by the ``X-Forwarded-For`` header (set by a trusted proxy, as on Spaces); see ratelimit.py.
    trust_forwarded_for: bool = False
    #: Serve the Ask tab (its language model loads on first use, or at start-up on ZeroGPU); off: never loaded.
    ask: bool = True
    #: Whether the Ask model may answer at any turn (``auto``) or must call tools until its last step
    #: (``required``: tests and evaluations that need a plan from random weights).
    ask_tool_choice: str = "auto"
    #: Model variables that were set but mean nothing in tiny mode (the app warns about them at start-up).
    ignored_variables: tuple[str, ...] = ()

    def model_id(self, role: str) -> str:
        """The Hub id or local folder configured for a model role."""
        try:
            return self.model_ids[role]
        except KeyError:
            raise ValueError(f"Unknown model role {role!r}; known roles: {', '.join(self.model_ids)}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _bytes(raw: str) -> int | None:
    """Parse a size such as ``6GB``, ``512mb`` or ``1000000``; empty means automatic."""
    text = raw.strip().lower().replace(" ", "")
    if not text or text == "auto":
        return None
    units = {"tb": 1 << 40, "gb": 1 << 30, "mb": 1 << 20, "kb": 1 << 10, "b": 1}
    for suffix, scale in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * scale)
    return int(float(text))


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower() or default
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _rate(env: Mapping[str, str], name: str, default: str | None) -> RateLimit | None:
    raw = env.get(name, "").strip() or default
    if not raw or raw.lower() == "off":
        return None
    try:
        return parse_rate(raw)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in {"1", "true", "0", "false"}:
        raise ValueError(f"{name} must be 1 (on) or 0 (off); got {raw!r}")
    return raw in {"1", "true"}


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables (see README's configuration table)."""
    env = os.environ if env is None else env
    zero_gpu = env.get("SPACES_ZERO_GPU", "").lower() in {"1", "true"}
    on_spaces = env.get("SYSTEM") == "spaces" or "SPACE_ID" in env
    preload_raw = env.get("FUSION_PRELOAD", "")
    preload = tuple(key.strip() for key in preload_raw.split(",") if key.strip())
    if zero_gpu and not preload_raw.strip():
        preload = ZERO_GPU_PRELOAD + (("assistant",) if _flag(env, "FUSION_ASK", default=True) else ())
    model_ids = {role: env.get(var, "").strip() or default for role, (var, default) in DEFAULT_MODEL_IDS.items()}
    models = _choice(env, "FUSION_MODELS", "hub", ("hub", "tiny"))
    set_variables = tuple(var for var, _default in DEFAULT_MODEL_IDS.values() if env.get(var, "").strip())
    fusion_cache = Path(env.get("HF_HOME", Path.home() / ".cache" / "huggingface")).parent / "fusion"
    return Settings(
        models=models,  # type: ignore[arg-type]
        model_ids=model_ids,
        device=_choice(env, "FUSION_DEVICE", "auto", DEVICES),
        dtype=_choice(env, "FUSION_DTYPE", "auto", DTYPES),
        memory_budget=_bytes(env.get("FUSION_MEMORY_BUDGET", "")),
        preload=preload,
        tiny_dir=Path(env.get("FUSION_TINY_DIR", "").strip() or fusion_cache / "tiny"),
        max_image_side=_int(env, "FUSION_MAX_IMAGE_SIDE", 2048),
        decode_memory=_bytes(env.get("FUSION_DECODE_MEMORY", "")) or Settings.decode_memory,
        max_file_size=env.get("FUSION_MAX_FILE_SIZE", "25mb").strip() or "25mb",
        queue_max_size=_int(env, "FUSION_QUEUE_SIZE", Settings.queue_max_size),
        client_queue=_int(env, "FUSION_CLIENT_QUEUE", Settings.client_queue),
        cpu_concurrency=_int(env, "FUSION_CPU_CONCURRENCY", 4),
        temp_max_size=_bytes(env.get("FUSION_TEMP_MAX_SIZE", "")) or Settings.temp_max_size,
        server_name=env.get("GRADIO_SERVER_NAME", "0.0.0.0" if env.get("SYSTEM") == "spaces" else "127.0.0.1"),
        server_port=_int(env, "GRADIO_SERVER_PORT", 7860),
        on_spaces=on_spaces,
        zero_gpu=zero_gpu,
        compile_mode=_choice(env, "FUSION_COMPILE", "off", COMPILE_MODES),
        aot=_choice(env, "FUSION_AOT", "build" if zero_gpu else "load", AOT_MODES),
        compiled_dir=Path(env.get("FUSION_COMPILED_DIR", "").strip() or fusion_cache / "compiled"),
        caption_graphs=_flag(env, "FUSION_CAPTION_GRAPHS", default=True),
        int8_decoders=_flag(env, "FUSION_INT8_DECODERS", default=True),
        mcp_server=env.get("FUSION_MCP", "").strip().lower() in {"1", "true"},
        generation_rate=_rate(env, "FUSION_GENERATION_RATE", SPACES_GENERATION_RATE if on_spaces else None),
        trust_forwarded_for=_flag(env, "FUSION_TRUST_FORWARDED_FOR", default=on_spaces),
        ask=_flag(env, "FUSION_ASK", default=True),
        ask_tool_choice=_choice(env, "FUSION_ASK_TOOL_CHOICE", "auto", ("auto", "required")),
        ignored_variables=set_variables if models == "tiny" else (),
    )


@cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return settings_from_env()
