"""Building ahead-of-time compiled packages: ``python -m fusion compile`` and the start-up build.

Every package is captured from the product's own task functions (a generation, a caption, a VQA answer, a CLIP
embedding) at the requested size, so it is compiled for exactly the arguments those functions pass
(:func:`fusion.compiled.capture`, ``spaces.aoti_capture``). Building runs each task once per component, eagerly,
up to the call it captures.

    python -m fusion compile [--models KEY ...] [--sizes 512x512 ...] [--batch N] [--rebuild] [--list]

On ZeroGPU, :func:`build_at_startup` builds the missing packages inside one ``@spaces.GPU`` call (the GPU is
only attached there) and then attaches every package to the resident models, in the main process, as
``spaces``' AoT helpers intend. Elsewhere (``FUSION_AOT=build`` on a CPU Space or a dedicated GPU) the same
function runs without the decorator, which is also how the tests run it on the CPU with the tiny twins.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from fusion import captioning, compiled, generation
from fusion.classification import embeddings
from fusion.config import get_settings
from fusion.gpu import gpu_task

if TYPE_CHECKING:
    from fusion.cache import ModelCache
    from fusion.config import Settings

log = logging.getLogger(__name__)

#: What a plain ``python -m fusion compile`` builds: the generation models with the safety checker, the base
#: captioner and CLIP B/32 (the large variants and VQA on request).
DEFAULT_MODELS = ("sd-turbo", "sd15", "safety-checker", "caption", "clip")
#: A generous GPU allowance for the start-up build (``spaces``' AoT examples ask for 1500 s); a run that finds
#: every package already built returns in seconds.
STARTUP_GPU_SECONDS = 1500
PROMPT = "a photo of a red house by a lake"
#: What builds the packages, as the System tab tells the server's owner.
COMMAND = "python -m fusion compile"


@dataclass(frozen=True)
class Size:
    """What a package is built for: images per call, and the image size where the model's shapes depend on it."""

    batch: int = 1
    width: int | None = None
    height: int | None = None

    @classmethod
    def parse(cls, text: str, batch: int = 1) -> Size:
        width, _, height = text.lower().partition("x")
        return cls(batch, int(width), int(height or width))

    def __str__(self) -> str:
        image = f"{self.width}x{self.height}, " if self.width else ""
        return f"{image}batch {self.batch}"


@dataclass(frozen=True)
class Built:
    """One component's outcome: the package, or why there is none."""

    model: str
    component: str
    size: Size
    package: compiled.PackageInfo | None
    error: str = ""

    def line(self) -> str:
        where = f"{self.model} {self.component} ({self.size})"
        if self.package is None:
            return f"{where}: FAILED ({self.error})"
        info = self.package
        frozen = ", frozen" if info.key.frozen else ""
        size = f"{info.bytes / 1e6:.1f} MB, compiled in {info.compile_seconds:.0f} s"
        return f"{where}: {info.key.inputs}{frozen}, {size}"


def _picture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def _tasks(cache: ModelCache, model_key: str, size: Size) -> Iterator[tuple[str, str, Callable[[], Any]]]:
    """(model whose component is captured, component, a task call that reaches it) for one model at one size."""
    pictures = [_picture(index) for index in range(size.batch)]
    if model_key in generation.MODELS or model_key in {generation.SAFETY_KEY, generation.PREVIEW_KEY}:
        base = model_key if model_key in generation.MODELS else "sd-turbo"
        decoder = "taesd" if model_key == generation.PREVIEW_KEY else "vae"
        options = generation.GenerationOptions(
            prompt=PROMPT,
            model=base,
            steps=1,
            seed=0,
            width=size.width,
            height=size.height,
            num_images=size.batch,
            decoder=decoder,
        )
        run = lambda: generation.generate(options, cache=cache)  # noqa: E731
        for path in compiled.COMPONENTS[model_key]:
            yield model_key, path, run
    elif model_key in captioning.CAPTION_MODEL_KEYS.values():
        model = next(name for name, key in captioning.CAPTION_MODEL_KEYS.items() if key == model_key)
        options = captioning.CaptionOptions(model=model, batch_size=size.batch)  # type: ignore[arg-type]
        caption = lambda: captioning.caption(pictures, options, cache=cache)  # noqa: E731
        yield model_key, "vision_model", caption
        with cache.use(model_key) as bundle:
            fixed_shapes = captioning.uses_cuda_graphs(cache.settings, bundle.model.device, options)
        if fixed_shapes:  # the decoder's shape is fixed only in the CUDA-graph loop (default caption length)
            yield model_key, "text_decoder", caption
    elif model_key == captioning.VQA_MODEL_KEY:
        yield model_key, "vision_model", lambda: captioning.answer(pictures[0], "what is it?", cache=cache)
    elif model_key in {"clip", "clip-large"}:

        def encode() -> Any:
            with cache.use(model_key) as bundle:
                return embeddings.encode_images(bundle, pictures)

        yield model_key, "vision_model", encode
    else:
        raise ValueError(f"Nothing to compile for {model_key!r}; compilable models: {', '.join(compiled.COMPONENTS)}")


def sizes_for(cache: ModelCache, model_key: str, images: tuple[tuple[int, int], ...], batch: int) -> list[Size]:
    """The sizes to build a model for: the given image sizes (default: the pipeline's native size) where its shapes
    follow the image, one size otherwise (the safety checker, BLIP and CLIP resize every image themselves)."""
    if model_key not in generation.MODELS and model_key != generation.PREVIEW_KEY:
        return [Size(batch)]
    if not images:
        with cache.use(model_key if model_key in generation.MODELS else "sd-turbo") as pipe:
            side = generation.native_size(pipe)
        images = ((side, side),)
    return [Size(batch, width, height) for width, height in images]


def build(
    cache: ModelCache,
    models: tuple[str, ...],
    images: tuple[tuple[int, int], ...] = (),
    batch: int = 1,
    *,
    components: tuple[str, ...] = (),
    frozen: bool | None = None,
    rebuild: bool = False,
) -> list[Built]:
    """Capture, compile and save a package for each component of each model (only ``components`` where given) at
    each size; ``frozen`` packages (:mod:`fusion.compiled`) by default on the CPU only. Failures are reported, not
    raised."""
    settings = cache.settings
    frozen = cache.device.type == "cpu" if frozen is None else frozen
    outcomes = []
    for model_key in models:
        for size in sizes_for(cache, model_key, images, batch):
            for key, path, run in _tasks(cache, model_key, size):
                if components and path not in components:
                    continue
                model = cache.get(key)
                try:
                    args, kwargs = compiled.capture(compiled.component(model, path), run)
                    info = compiled.compile_package(
                        key, model, path, args, kwargs, settings.compiled_dir, frozen=frozen, rebuild=rebuild
                    )
                    outcomes.append(Built(key, path, size, info))
                except Exception as error:  # one component that will not export must not stop the others
                    log.exception("Could not compile %s %s", key, path)
                    outcomes.append(Built(key, path, size, None, f"{type(error).__name__}: {str(error)[:300]}"))
    return outcomes


def apply_all(cache: ModelCache) -> list[compiled.ApplyReport]:
    """Attach the packages to every resident model, as each registry entry's load hook does for models it loads
    later (models loaded before their packages were built, as ZeroGPU's are, need this); the cache counts them."""
    reports = []
    for stats in cache.stats().models:
        if stats.resident and stats.key in compiled.COMPONENTS:
            report = compiled.apply_packages(stats.key, cache.get(stats.key), cache.settings)
            cache.hold(stats.key, report.held_bytes)
            reports.append(report)
    return reports


#: The cache the start-up build works on. On ZeroGPU the GPU call's arguments are pickled and a cache is not
#: picklable; the forked worker inherits this module's state instead.
_startup: dict[str, ModelCache] = {}


def _build_in_gpu_call(
    models: tuple[str, ...], images: tuple[tuple[int, int], ...], components: tuple[str, ...], frozen: bool | None
) -> list[Built]:
    """The part that needs the GPU. On ZeroGPU it runs in a forked worker: its arguments and result are pickled
    (plain values only) and it leaves its packages on disk for the main process to attach. It attaches them here
    too: ZeroGPU may hand later calls to this same worker, forked before the main process attached anything."""
    cache = _startup["cache"]
    built = build(cache, models, images, components=components, frozen=frozen)
    apply_all(cache)
    return built


#: The build wrapped in one ``spaces.GPU`` call on ZeroGPU (the identity elsewhere), decorated at import time as
#: ZeroGPU expects.
build_in_gpu_call = gpu_task(duration=STARTUP_GPU_SECONDS)(_build_in_gpu_call)


def build_at_startup(
    cache: ModelCache,
    models: tuple[str, ...] = (),
    images: tuple[tuple[int, int], ...] = (),
    components: tuple[str, ...] = (),
    frozen: bool | None = None,
) -> tuple[list[Built], list[compiled.ApplyReport]]:
    """Start-up: with ``FUSION_AOT=build``, compile the missing packages inside one GPU call (of the given models,
    default: the resident ones among :data:`DEFAULT_MODELS`); then attach every package that fits to the resident
    models."""
    settings = cache.settings
    if settings.aot == "off":
        return [], []
    built: list[Built] = []
    if settings.aot == "build":
        resident = {stats.key for stats in cache.stats().models if stats.resident}
        wanted = models or tuple(key for key in DEFAULT_MODELS if key in resident)
        started = time.perf_counter()
        _startup["cache"] = cache
        built = build_in_gpu_call(wanted, images, components, frozen)
        log.info("Start-up compile: %d package(s) in %.0f s", len(built), time.perf_counter() - started)
    return built, apply_all(cache)


def describe(settings: Settings) -> list[str]:
    """One line per package on disk: model, component, shapes, size, and why this process cannot use it."""
    lines = []
    for info in compiled.list_packages(settings.compiled_dir):
        stale = compiled.stale_reason(info)
        state = f"unusable here: {stale}" if stale else "ready"
        lines.append(f"{info.title}: {info.bytes / 1e6:.1f} MB, built {info.created}, {state}")
    return lines


@dataclass(frozen=True)
class PackageStatus:
    """One package on disk, as ``/status`` and the System tab list it."""

    model: str
    component: str
    #: The call's tensors it was built for (a package serves one call signature).
    inputs: str
    dtype: str
    frozen: bool
    #: Its size on disk, about what it holds in memory once attached.
    bytes: int
    created: str
    #: Why this process cannot use it; ``""`` when nothing rules it out.
    stale: str
    #: Whether a loaded model runs it now.
    attached: bool


def status(cache: ModelCache) -> dict[str, Any]:
    """The compiled packages for ``/status``: whether they are used here (``FUSION_AOT``), the command that builds
    them, and every package on disk with whether it is stale here and whether a loaded model runs it."""
    settings = cache.settings
    attached = {
        info.folder
        for key in compiled.COMPONENTS.keys() & cache.registry.keys()
        for info in cache.inspect(key, partial(compiled.packages_in_use, model_key=key)) or ()
    }
    packages = [
        PackageStatus(
            model=info.key.model,
            component=info.key.component,
            inputs=info.key.inputs,
            dtype=info.key.dtype,
            frozen=info.key.frozen,
            bytes=info.bytes,
            created=info.created,
            stale=compiled.stale_reason(info) or "",
            attached=info.folder in attached,
        )
        for info in compiled.list_packages(settings.compiled_dir)
    ]
    return {"mode": settings.aot, "command": COMMAND, "packages": [asdict(package) for package in packages]}


def main(argv: list[str]) -> int:
    from fusion.cache import get_cache

    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.list:
        print("\n".join(describe(settings)) or f"No packages in {settings.compiled_dir}.")
        return 0
    images = tuple((size.width, size.height) for size in map(Size.parse, args.sizes or ()))
    frozen = {"auto": None, "yes": True, "no": False}[args.frozen]
    options = {"components": tuple(args.components), "frozen": frozen, "rebuild": args.rebuild}
    outcomes = build(get_cache(), tuple(args.models), images, args.batch, **options)
    for outcome in outcomes:
        print(outcome.line())
    print(f"Packages are in {settings.compiled_dir} (FUSION_COMPILED_DIR).")
    return 1 if any(outcome.package is None for outcome in outcomes) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Compile models ahead of time (AOTInductor) for this machine's device, dtype and torch, so the "
        "app loads them instead of compiling on a visitor's request.",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="KEY",
        choices=list(compiled.COMPONENTS),
        default=list(DEFAULT_MODELS),
        help=f"models to compile (default: {' '.join(DEFAULT_MODELS)})",
    )
    parser.add_argument("--sizes", nargs="+", metavar="WxH", help="image sizes (default: each model's native size)")
    parser.add_argument("--batch", type=int, default=1, help="images per call (default 1)")
    parser.add_argument(
        "--components", nargs="+", default=[], metavar="PATH", help="only these components (e.g. unet vae.decoder)"
    )
    parser.add_argument(
        "--frozen",
        choices=("auto", "yes", "no"),
        default="auto",
        help="weights folded into the package (auto: on the CPU, where it lets oneDNN prepack them)",
    )
    parser.add_argument("--rebuild", action="store_true", help="compile again even where a package exists")
    parser.add_argument("--list", action="store_true", help="list the packages on disk and exit")
    return parser
