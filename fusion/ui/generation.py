"""The text-to-image panel: SD 1.5 or SD-Turbo, image-to-image, live previews, Stop, history, PNG parameters.

API endpoint ``generate``: ``prompt``, ``negative_prompt``, ``seed`` (-1: random), ``steps``, ``guidance``,
``width``, ``height``, ``model``, ``scheduler``, plus ``num_images``, ``strength`` and ``init_image``.
Steps, width and height of 0 (or ``None``), guidance -1 and the scheduler ``"default"`` (the defaults) mean
the chosen model's own values (SD 1.5: 25 steps, guidance 7, DPM++ 2M; SD-Turbo: 1 step, guidance 0,
Euler a; the model's native size). It returns the PNG files (each with an A1111 ``parameters`` text chunk),
the seed used, the first image's parameters text, the notices, and an (at the end empty) preview.

The event is a generator: it streams small previews and a per-step progress bar while the pipeline runs in a
worker thread. Stop asks the session's run in progress to end after the current step; the run then returns its
unfinished images with a "Stopped after N of M steps" notice, like any other result. When the session has no run
in progress here (its run still waits in the queue, or runs in a ZeroGPU worker process), Stop cancels the event
through Gradio instead, which withdraws a queued run and closes a running generator. A deadline bounds every run,
also where Stop cannot reach.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from fusion.config import Settings
from fusion.generation import (
    DEFAULT_DEADLINE_S,
    DEFAULT_SCHEDULER,
    DEFAULT_STRENGTH,
    GUIDANCE_RANGE,
    MAX_IMAGES,
    MODELS,
    PARAMETERS_CHUNK,
    SCHEDULERS,
    SIZE_RANGE,
    GenerationOptions,
    GenerationResult,
    StepUpdate,
    parse_parameters,
)
from fusion.gpu import gpu_task
from fusion.i18n import localized, t
from fusion.images import ImageError
from fusion.numbers import optional_number
from fusion.ui.admission import rate_limited
from fusion.ui.common import (
    GPU_CONCURRENCY_ID,
    GPU_CONCURRENCY_LIMIT,
    current_session,
    decode_upload,
    notices_markdown,
    reports_errors,
)
from fusion.ui.files import accepted_path, result_file

#: ``generation.generate_stream`` bound to the cache: options and a cancel event in, updates and the result out.
GenerateStream = Callable[..., Iterator[StepUpdate | GenerationResult | None]]


class StopSignals:
    """The cancel event of each session's run in progress, so that Stop can end it after the current step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}

    @contextlib.contextmanager
    def running(self, session: str | None) -> Iterator[threading.Event]:
        """A fresh cancel event for one run, findable by :meth:`stop` while the run lasts."""
        cancel = threading.Event()
        if session:
            with self._lock:
                self._running[session] = cancel
        try:
            yield cancel
        finally:
            if session:
                with self._lock:
                    if self._running.get(session) is cancel:
                        del self._running[session]

    def stop(self, session: str | None) -> bool:
        """Ask the session's run in progress to stop; whether there was one."""
        with self._lock:
            cancel = self._running.get(session or "")
        if cancel is None:
            return False
        cancel.set()
        return True

DEFAULT_MODEL = "sd15"
HISTORY_LIMIT = 48
#: On ZeroGPU a run may take this long per step and image at 512 px (generous for an H200 slice), plus a base.
ZERO_GPU_SECONDS_PER_STEP = 0.25
ZERO_GPU_BASE_SECONDS = 20.0
#: Loading, decoding and the safety check on top of the denoising deadline.
GPU_MARGIN_SECONDS = 15
OUTPUT_NAMES = ("gallery", "seed_used", "parameters", "notices", "preview")
#: Values of the number fields that stand for "the chosen model's default" (up to and including them).
MODEL_DEFAULT = {"steps": 0, "guidance": -1, "width": 0, "height": 0}


@dataclass(frozen=True)
class GenerationPanel:
    """The components other panels wire to (captions into the prompt, images into img2img, results out)."""

    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    model: gr.Dropdown
    init_image: gr.Image
    strength: gr.Slider
    gallery: gr.Gallery
    preview: gr.Image
    seed_used: gr.Number
    parameters: gr.Textbox
    notices: gr.Markdown
    history: gr.Gallery
    generate_button: gr.Button
    stop_button: gr.Button
    restore_file: gr.File


# ------------------------------------------------------------------------------------------- event functions
def _integer(value: Any, what: str) -> int | None:
    number = optional_number(value, what)
    return None if number is None else math.floor(number + 0.5)


def _model_default_if(value: Any, what: str, *, sentinel: float, integer: bool) -> float | None:
    """``None`` (the model's default) for an empty value or the ``sentinel`` (see MODEL_DEFAULT); a value below
    the sentinel is an error, not another way to ask for the default.

    Sentinels rather than empty fields, because Gradio shows and sends an empty ``gr.Number`` as 0.
    """
    number = _integer(value, what) if integer else optional_number(value, what)
    if number is not None and number < sentinel:
        raise ValueError(f"{what} {number:g} is too low: {sentinel:g} means the model's default.")
    return None if number is None or number == sentinel else number


def generation_options(settings: Settings, deadline_s: float, **raw: Any) -> GenerationOptions:
    """Options from the event's raw inputs; :func:`fusion.generation.normalise_options` clamps them later."""
    init_upload = raw.get("init_image")
    init_image = None if init_upload is None else decode_upload(init_upload, settings, what="init image").pixels
    seed = _integer(raw.get("seed"), "Seed")
    num_images = _integer(raw.get("num_images"), "Number of images")
    strength = optional_number(raw.get("strength"), "Strength")
    options = GenerationOptions(
        prompt="" if raw.get("prompt") is None else str(raw["prompt"]),
        negative_prompt="" if raw.get("negative_prompt") is None else str(raw["negative_prompt"]),
        model=str(raw.get("model") or DEFAULT_MODEL),
        scheduler=str(raw.get("scheduler") or DEFAULT_SCHEDULER),
        steps=_model_default_if(raw.get("steps"), "Steps", sentinel=0, integer=True),
        guidance=_model_default_if(raw.get("guidance"), "Guidance", sentinel=-1, integer=False),
        width=_model_default_if(raw.get("width"), "Width", sentinel=0, integer=True),
        height=_model_default_if(raw.get("height"), "Height", sentinel=0, integer=True),
        seed=-1 if seed is None else seed,
        num_images=1 if num_images is None else num_images,
        init_image=init_image,
        strength=DEFAULT_STRENGTH if strength is None else strength,
    )
    return replace(options, deadline_s=time_budget_s(settings, deadline_s, options))


def time_budget_s(settings: Settings, deadline_s: float, options: GenerationOptions) -> float:
    """Seconds of denoising a request may take: ``deadline_s``, or on ZeroGPU an estimate from its size."""
    if not settings.zero_gpu:
        return deadline_s
    preset = MODELS.get(options.model, MODELS[DEFAULT_MODEL])
    steps = min(max(options.steps or preset.steps, 1), preset.max_steps)
    area = max(1.0, (options.width or 512) * (options.height or 512) / 512**2)
    images = min(max(options.num_images, 1), MAX_IMAGES)
    return min(deadline_s, ZERO_GPU_BASE_SECONDS + ZERO_GPU_SECONDS_PER_STEP * steps * images * area)


def _outputs(result: GenerationResult) -> tuple[Any, ...]:
    gallery = [
        (result_file(image, name=f"seed-{seed}"), localized(f"seed {seed}"))
        for image, seed in zip(result.images, result.seeds, strict=True)
    ]
    return gallery, result.seed, result.parameters[0], notices_markdown(result.notices), None


def make_generate_event(
    settings: Settings,
    generate_fn: GenerateStream,
    deadline_s: float = DEFAULT_DEADLINE_S,
    stop_signals: StopSignals | None = None,
) -> Callable[..., Iterator[tuple[Any, ...]]]:
    """The streaming event function (also the ``generate`` API), bound to a generation stream; its runs can be
    stopped through ``stop_signals``."""
    signals = stop_signals or StopSignals()

    def generate(
        prompt: str | None,
        negative_prompt: str | None = None,
        seed: float | None = -1,
        steps: float | None = MODEL_DEFAULT["steps"],
        guidance: float | None = MODEL_DEFAULT["guidance"],
        width: float | None = MODEL_DEFAULT["width"],
        height: float | None = MODEL_DEFAULT["height"],
        model: str | None = DEFAULT_MODEL,
        scheduler: str | None = DEFAULT_SCHEDULER,
        num_images: float | None = 1,
        strength: float | None = DEFAULT_STRENGTH,
        init_image: Any = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's documented way to ask for progress)
    ) -> Iterator[tuple[Any, ...]]:
        """Generate images with Stable Diffusion 1.5 or SD-Turbo; returns PNGs carrying their parameters.

        Args:
            prompt: what to draw (empty: unconditional); CLIP reads the first 77 tokens.
            negative_prompt: what to avoid (ignored when guidance is 1 or less).
            seed: -1 for a random seed; image k of a batch uses seed + k.
            steps: denoising steps; 0 for the model's default (SD 1.5: 25, SD-Turbo: 1).
            guidance: classifier-free guidance scale; -1 for the model's default (SD 1.5: 7, SD-Turbo: 0).
            width: 64-1024, a multiple of 8; 0 for the model's own size (or the init image's shape).
            height: 64-1024, a multiple of 8; 0 for the model's own size (or the init image's shape).
            model: "sd15" or "sd-turbo".
            scheduler: "default" (the model's) or one of "DPM++ 2M", "DPM++ 2M Karras", "Euler a",
                "Euler", "DDIM", "UniPC".
            num_images: 1-4.
            strength: image-to-image strength (with init_image), 0.01-1.
            init_image: an image to start from (image-to-image).
        """
        options = generation_options(
            settings,
            deadline_s,
            prompt=prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            steps=steps,
            guidance=guidance,
            width=width,
            height=height,
            model=model,
            scheduler=scheduler,
            num_images=num_images,
            strength=strength,
            init_image=init_image,
        )
        skip = (gr.skip(),) * len(OUTPUT_NAMES)
        step: StepUpdate | None = None
        with (
            signals.running(current_session()) as cancel,
            contextlib.closing(generate_fn(options, cancel=cancel)) as stream,
        ):
            for item in stream:
                if item is None:
                    yield skip
                elif isinstance(item, StepUpdate):
                    step = item
                    preview = gr.skip() if item.preview is None else result_file(item.preview, name="preview")
                    yield (*skip[:-1], preview)
                else:
                    yield _outputs(item)
                    continue
                # After every yield, not before: the browser hides the progress bar when an output arrives.
                if step is not None:
                    progress((step.step, step.total), desc=localized("Denoising"), unit=localized("steps"))

    parameter_names = list(inspect.signature(generate).parameters)

    def gpu_seconds(*args: Any, **kwargs: Any) -> int:
        raw = dict(zip(parameter_names, args, strict=False)) | kwargs
        try:
            options = GenerationOptions(
                model=str(raw.get("model") or DEFAULT_MODEL),
                steps=_model_default_if(raw.get("steps"), "Steps", sentinel=0, integer=True),
                width=_model_default_if(raw.get("width"), "Width", sentinel=0, integer=True),
                height=_model_default_if(raw.get("height"), "Height", sentinel=0, integer=True),
                num_images=_integer(raw.get("num_images"), "Number of images") or 1,
            )
        except ValueError:
            options = GenerationOptions()
        return math.ceil(time_budget_s(settings, deadline_s, options)) + GPU_MARGIN_SECONDS

    return gpu_task(duration=gpu_seconds)(reports_errors(generate))


@reports_errors
def restore_settings(upload: Any, settings: Settings) -> tuple[Any, ...]:
    """Settings from a dropped PNG's ``parameters`` chunk in :data:`RESTORED` order, then the notices."""
    decoded = decode_upload(upload, settings, what="PNG")
    text = decoded.text.get(PARAMETERS_CHUNK)
    if not text:
        raise ValueError(
            "This image carries no generation parameters: drop a PNG made here (or by A1111-style tools), "
            "which stores them in a 'parameters' text chunk."
        )
    parsed = parse_parameters(text)
    notices = []
    if "model" in parsed and parsed["model"] not in MODELS:
        notices.append(f"Model {parsed.pop('model')!r} is not available here; the model was left unchanged.")
    if "scheduler" in parsed and parsed["scheduler"] not in SCHEDULERS:
        notices.append(f"Sampler {parsed.pop('scheduler')!r} is not available here; it was left unchanged.")
    values = tuple(parsed[name] if name in parsed else gr.skip() for name in RESTORED)
    return (*values, notices_markdown(["Settings restored from the PNG.", *notices]))


#: The controls :func:`restore_settings` fills, in order (then the notices).
RESTORED = (
    "prompt",
    "negative_prompt",
    "model",
    "scheduler",
    "steps",
    "guidance",
    "width",
    "height",
    "seed",
    "strength",
)


def model_defaults(model: str) -> tuple[Any, ...]:
    """Switching model sets steps, guidance and scheduler back to "the model's default" and shows it."""
    return (
        gr.update(value=MODEL_DEFAULT["steps"], info=localized(_steps_info(model))),
        gr.update(value=MODEL_DEFAULT["guidance"], info=localized(_guidance_info(model))),
        gr.update(choices=_scheduler_choices(model), value=DEFAULT_SCHEDULER),
    )


def model_hints(model: str) -> tuple[Any, ...]:
    """The hints of :func:`model_defaults` without touching the values (after restoring from a PNG)."""
    return (
        gr.update(info=localized(_steps_info(model))),
        gr.update(info=localized(_guidance_info(model))),
        gr.update(choices=_scheduler_choices(model)),
    )


def _steps_info(model: str) -> str:
    preset = MODELS.get(model, MODELS[DEFAULT_MODEL])
    return f"0: the model's default ({preset.steps}); at most {preset.max_steps}"


def _guidance_info(model: str) -> str:
    preset = MODELS.get(model, MODELS[DEFAULT_MODEL])
    low, high = GUIDANCE_RANGE
    return f"-1: the model's default ({preset.guidance:g}); {low:g}-{high:g}, 0 or 1 turns guidance off"


def _scheduler_choices(model: str, shown: Callable[[str], Any] = localized) -> list[tuple[Any, str]]:
    """The scheduler choices; ``shown`` is :func:`t` while the page is built, :func:`localized` in an event."""
    preset = MODELS.get(model, MODELS[DEFAULT_MODEL])
    return [
        (shown(f"Model default ({preset.scheduler})"), DEFAULT_SCHEDULER),
        *((name, name) for name in SCHEDULERS),
    ]


def add_to_history(gallery: list[tuple[str, str | None]] | None, history: list[Any]) -> tuple[list[Any], list[Any]]:
    """Newest results first, at most :data:`HISTORY_LIMIT`; the state keeps it per browser session.

    The gallery value comes back from the browser, so only its files that pass the file gate are kept.
    """
    results = []
    for path, caption in gallery or []:
        with contextlib.suppress(ImageError):
            results.append((str(accepted_path(path, what="result")), caption))
    updated = [*results, *history][:HISTORY_LIMIT]
    return updated, updated


def selected_image(event: gr.SelectData) -> str | None:
    """The file path of the result the user clicked in the gallery."""
    value = event.value if isinstance(event.value, dict) else {}
    image = value.get("image")
    return image.get("path") if isinstance(image, dict) else None


@reports_errors
def result_for_img2img(selected: str | None, gallery: list[tuple[str, str | None]] | None) -> str:
    """The clicked result (else the first) as the init image; both come from the browser, so through the gate."""
    chosen = selected or (gallery[0][0] if gallery else None)
    if not chosen:
        raise ValueError("Generate an image first (or upload one as the init image).")
    return str(accepted_path(chosen, what="result"))


# ------------------------------------------------------------------------------------------------ layout
def build(
    settings: Settings,
    *,
    generate_fn: GenerateStream,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> GenerationPanel:
    """The panel; ``generate_fn`` is ``functools.partial(generation.generate_stream, cache=cache)``."""
    sd15 = MODELS[DEFAULT_MODEL]
    history_state = gr.State([])
    selected_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(
                label=t("Prompt"),
                lines=3,
                placeholder="a photo of a red house by a lake, golden hour",
                elem_id="generation-prompt",
            )
            negative_prompt = gr.Textbox(label=t("Negative prompt"), lines=2, placeholder="blurry, low quality")
            with gr.Row():
                generate_button = gr.Button(t("Generate"), variant="primary", elem_id="generation-run")
                stop_button = gr.Button(t("Stop"), variant="stop", elem_id="generation-stop")
            with gr.Row():
                model = gr.Dropdown(
                    label=t("Model"),
                    choices=[(preset.title, key) for key, preset in MODELS.items()],
                    value=sd15.key,
                )
                scheduler = gr.Dropdown(
                    label=t("Scheduler"), choices=_scheduler_choices(sd15.key, t), value=DEFAULT_SCHEDULER
                )
            with gr.Row():
                steps = gr.Number(
                    label=t("Steps"),
                    value=MODEL_DEFAULT["steps"],
                    precision=0,
                    info=t(_steps_info(sd15.key)),
                    elem_id="generation-steps",
                )
                guidance = gr.Number(
                    label=t("Guidance (CFG scale)"),
                    value=MODEL_DEFAULT["guidance"],
                    info=t(_guidance_info(sd15.key)),
                )
            size_info = t(f"{SIZE_RANGE[0]}-{SIZE_RANGE[1]}, a multiple of 8; 0: the model's own size")
            with gr.Row():
                width = gr.Number(
                    label=t("Width"),
                    value=MODEL_DEFAULT["width"],
                    precision=0,
                    info=size_info,
                    elem_id="generation-width",
                )
                height = gr.Number(
                    label=t("Height"),
                    value=MODEL_DEFAULT["height"],
                    precision=0,
                    info=size_info,
                    elem_id="generation-height",
                )
            with gr.Row(equal_height=True):
                seed = gr.Number(label=t("Seed"), value=-1, precision=0, info=t("-1: random"), scale=3)
                random_seed = gr.Button(t("🎲 Random"), scale=1, size="sm")
                reuse_seed = gr.Button(t("♻️ Last seed"), scale=1, size="sm")
            num_images = gr.Slider(label=t("Number of images"), minimum=1, maximum=MAX_IMAGES, step=1, value=1)
            with gr.Accordion(t("Image to image"), open=False):
                init_image = gr.Image(label=t("Init image"), type="filepath", sources=["upload", "clipboard"])
                strength = gr.Slider(
                    label=t("Strength"),
                    minimum=0.01,
                    maximum=1.0,
                    step=0.01,
                    value=DEFAULT_STRENGTH,
                    info=t("How far to move away from the init image (1: ignore it)"),
                )
                use_result = gr.Button(t("Use the selected result as init image"), size="sm")
            with gr.Accordion(t("Restore settings from a PNG"), open=False):
                restore_file = gr.File(label=t("Drop a PNG generated here"), file_types=[".png"], type="filepath")
        with gr.Column(scale=4):
            preview = gr.Image(
                label=t("Live preview (small)"), type="pil", interactive=False, height=160, elem_id="generation-preview"
            )
            gallery = gr.Gallery(
                label=t("Result"), format="png", columns=2, height=420, interactive=False, elem_id="generation-gallery"
            )
            with gr.Row():
                seed_used = gr.Number(label=t("Seed used"), precision=0, interactive=False)
            parameters = gr.Textbox(label=t("Parameters (also stored in each PNG)"), lines=3, buttons=["copy"])
            notices = gr.Markdown(label=t("Notices"), elem_id="generation-notices")
            history = gr.Gallery(
                label=t("History (this session)"),
                format="png",
                columns=6,
                height=220,
                interactive=False,
                buttons=["download", "download_all", "fullscreen"],
            )

    inputs = [
        prompt,
        negative_prompt,
        seed,
        steps,
        guidance,
        width,
        height,
        model,
        scheduler,
        num_images,
        strength,
        init_image,
    ]
    stop_signals = StopSignals()
    generating = gr.on(
        triggers=[generate_button.click, prompt.submit],
        fn=rate_limited(make_generate_event(settings, generate_fn, deadline_s, stop_signals)),
        inputs=inputs,
        outputs=[gallery, seed_used, parameters, notices, preview],
        api_name="generate",
        preprocess=False,
        show_progress_on=[gallery],
        concurrency_id=GPU_CONCURRENCY_ID,
        concurrency_limit=GPU_CONCURRENCY_LIMIT,
    )
    generating.success(add_to_history, [gallery, history_state], [history, history_state], api_visibility="private")
    # Stop ends the session's run after its current step; with none running here, a change of ``withdraw``
    # cancels the event through Gradio (a queued run, or one in a ZeroGPU worker).
    withdraw = gr.State(0)
    stop_button.click(
        lambda count: gr.skip() if stop_signals.stop(current_session()) else count + 1,
        inputs=withdraw,
        outputs=withdraw,
        api_visibility="private",
        queue=False,
    )
    withdraw.change(None, cancels=[generating], api_visibility="private")
    random_seed.click(lambda: -1, outputs=seed, api_visibility="private", queue=False)
    reuse_seed.click(lambda used: used, inputs=seed_used, outputs=seed, api_visibility="private", queue=False)
    model.input(model_defaults, inputs=model, outputs=[steps, guidance, scheduler], api_visibility="private")
    gallery.select(selected_image, outputs=selected_state, api_visibility="private", queue=False)
    use_result.click(result_for_img2img, [selected_state, gallery], init_image, api_visibility="private", queue=False)
    restore_file.upload(
        lambda upload: restore_settings(upload, settings),
        inputs=restore_file,
        outputs=[
            prompt,
            negative_prompt,
            model,
            scheduler,
            steps,
            guidance,
            width,
            height,
            seed,
            strength,
            notices,
        ],
        preprocess=False,
        api_visibility="private",
    ).success(model_hints, inputs=model, outputs=[steps, guidance, scheduler], api_visibility="private")
    return GenerationPanel(
        prompt=prompt,
        negative_prompt=negative_prompt,
        model=model,
        init_image=init_image,
        strength=strength,
        gallery=gallery,
        preview=preview,
        seed_used=seed_used,
        parameters=parameters,
        notices=notices,
        history=history,
        generate_button=generate_button,
        stop_button=stop_button,
        restore_file=restore_file,
    )
