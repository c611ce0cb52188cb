"""A run: the models from the cache, the options resolved against them, a borrowed pipeline denoising step by
step (progress, previews, a :class:`~fusion.generation.stopping.Stop` checked between steps), the decode, the
safety check, and the images with their PNG parameters; :func:`generate_stream` runs it in a worker thread for
the panel.

- Seeds: image ``k`` of a batch uses its own CPU ``torch.Generator`` seeded ``seed + k`` (A1111's
  convention), so each image of a batch can be regenerated alone from the seed in its PNG, on any device (up
  to the rounding of batched floating-point kernels: a level or so on a few pixels).
- Prompts longer than the text encoder's 77 tokens are truncated (as diffusers does) and a notice says which
  words were dropped; long-prompt weighting is not implemented.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from fusion import compiled
from fusion.generation.decoding import PREVIEW_KEY, decode_latents, previewer, to_bytes, to_pil
from fusion.generation.options import (
    GenerationOptions,
    check_options,
    image_seeds,
    prompt_notices,
    resolve_options,
)
from fusion.generation.parameters import PARAMETERS_CHUNK, format_parameters
from fusion.generation.pipelines import CONTROLNET_KEY, borrow_pipeline, native_size
from fusion.generation.safety import SAFETY_KEY, check_safety, withheld_image
from fusion.generation.stopping import Stop, StopReason
from fusion.messages import Message

if TYPE_CHECKING:
    import torch

    from fusion.cache import ModelCache

#: Previews are decoded at most this often: each one waits for the GPU, and a browser shows a few per second at best.
PREVIEW_INTERVAL_S = 0.25


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
    stopped_by: StopReason | None = None
    notices: tuple[str, ...] = ()

    @property
    def seed(self) -> int:
        return self.seeds[0]


class _StepWatcher:
    """``callback_on_step_end``: reports progress and previews, and interrupts the run when its :class:`Stop`
    says so (asked, or past the deadline)."""

    def __init__(
        self,
        *,
        stop: Stop,
        deadline_s: float | None,
        on_step: Callable[[StepUpdate], None] | None,
        preview: Callable[[torch.Tensor], Image.Image] | None,
        preview_interval_s: float,
    ) -> None:
        self.stop = stop
        self.deadline_s = deadline_s
        self.on_step = on_step
        self.preview = preview
        self.preview_interval_s = preview_interval_s
        self.start()

    def start(self) -> None:
        """(Re)start the run's clock and counts: the cache retries a call that ran out of memory."""
        self.stop.start(self.deadline_s)
        self.last_preview_s = 0.0
        self.steps_done = 0
        self.stopped_by: StopReason | None = None

    def _wants_preview(self, elapsed: float, last_step: bool) -> bool:
        """Not for the last step (the checked image follows), and not more often than the interval."""
        if self.preview is None or last_step or elapsed - self.last_preview_s < self.preview_interval_s:
            return False
        self.last_preview_s = elapsed
        return True

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        self.steps_done = step + 1
        total = pipe.num_timesteps
        elapsed = self.stop.elapsed_s()
        if self.on_step is not None:
            wanted = self._wants_preview(elapsed, last_step=self.steps_done >= total)
            preview = self.preview(callback_kwargs["latents"]) if wanted and self.preview else None
            self.on_step(StepUpdate(step=self.steps_done, total=total, elapsed_s=elapsed, preview=preview))
        self.stopped_by = self.stop.reason() or self.stopped_by
        if self.stopped_by and self.steps_done < total:
            pipe._interrupt = True  # diffusers' documented way to stop a pipeline from a callback
        return {}


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
    options: GenerationOptions = GenerationOptions(),  # noqa: B008 (frozen: safe to share)
    *,
    cache: ModelCache,
    on_step: Callable[[StepUpdate], None] | None = None,
    stop: Stop | None = None,
    preview_interval_s: float = PREVIEW_INTERVAL_S,
) -> GenerationResult:
    """Generate images; ``on_step`` gets every step (with a preview at most every ``preview_interval_s``);
    setting ``stop`` ends the run after the current step, as its deadline (``options.deadline_s``) does."""
    checked, notices = check_options(options)  # before any model loads
    keys = [checked.model]
    if checked.safety_checker:
        keys.append(SAFETY_KEY)
    if on_step is not None or checked.decoder == "taesd":
        keys.append(PREVIEW_KEY)
    if checked.control_image is not None:
        keys.append(CONTROLNET_KEY)
    with compiled.collect_notices() as uncompiled, cache.use(*keys) as held:
        models = dict(zip(keys, held if len(keys) > 1 else (held,), strict=True))
        resolved, resolution_notices = resolve_options(checked, native_size=native_size(models[checked.model]))
        notices += resolution_notices
        seeds = image_seeds(resolved.seed, resolved.num_images)
        with borrow_pipeline(cache, resolved, controlled=CONTROLNET_KEY in models) as pipe:
            notices += prompt_notices(pipe.tokenizer, resolved)
            watcher = _StepWatcher(
                stop=Stop() if stop is None else stop,
                deadline_s=resolved.deadline_s,
                on_step=on_step,
                preview=previewer(models[PREVIEW_KEY], pipe) if on_step is not None else None,
                preview_interval_s=preview_interval_s,
            )
            taesd = models[PREVIEW_KEY] if resolved.decoder == "taesd" else None
            decoded = cache.run(lambda: _denoise_and_decode(pipe, resolved, seeds, watcher, taesd))
            total = pipe.num_timesteps
        flagged = cache.run(lambda: check_safety(models[SAFETY_KEY], decoded)) if resolved.safety_checker else []
    return _result(to_pil(decoded), flagged, seeds, resolved, watcher, total, notices + tuple(uncompiled))


def _denoise_and_decode(
    pipe: Any, options: GenerationOptions, seeds: tuple[int, ...], watcher: _StepWatcher, taesd: Any = None
) -> torch.Tensor:
    import torch

    generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
    watcher.start()
    with torch.no_grad():
        latents = pipe(**_pipeline_arguments(options, generators), callback_on_step_end=watcher).images
        if taesd is not None:
            return to_bytes(pipe, taesd.decode(latents.to(taesd.device, taesd.dtype), return_dict=False)[0])
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
    if options.decoder == "taesd":
        notices += ("Decoded with TAESD: fast preview quality, with less fine detail than the full VAE.",)
    if any(flags):
        notices += (
            Message(
                "The safety checker flagged {flagged} of {count} image(s); they are shown blurred. Try another prompt "
                "or seed.",
                flagged=sum(flags),
                count=len(images),
            ),
        )
    if watcher.stopped_by == "deadline":
        notices += (
            Message(
                "Stopped after {done} of {total} steps: the {limit:g} s time limit passed, so the image is unfinished. "
                "Use fewer steps, a smaller size or fewer images.",
                done=watcher.steps_done,
                total=total,
                limit=options.deadline_s,
            ),
        )
    elif watcher.stopped_by == "cancel":
        notices += (
            Message(
                "Stopped after {done} of {total} steps, as asked; the image is unfinished.",
                done=watcher.steps_done,
                total=total,
            ),
        )
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
    options: GenerationOptions = GenerationOptions(),  # noqa: B008 (frozen: safe to share)
    *,
    cache: ModelCache,
    stop: Stop | None = None,
    poll_s: float = 0.2,
    preview_interval_s: float = PREVIEW_INTERVAL_S,
) -> Iterator[StepUpdate | GenerationResult | None]:
    """Run :func:`generate` in a worker thread and yield its :class:`StepUpdate` s, then the result.

    It yields ``None`` every ``poll_s`` seconds without news, so a consumer (Gradio's Stop button) can close
    the stream between steps; closing it sets ``stop`` and the run ends after the step in progress.
    """
    stop = stop if stop is not None else Stop()
    updates: queue.SimpleQueue[Any] = queue.SimpleQueue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = generate(
                options, cache=cache, on_step=updates.put, stop=stop, preview_interval_s=preview_interval_s
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
