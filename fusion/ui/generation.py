"""The text-to-image panel: SD 1.5 or SD-Turbo, image-to-image, live previews, Stop, history, PNG parameters.

API endpoint ``generate``: ``prompt``, ``negative_prompt``, ``seed`` (-1: random), ``steps``, ``guidance``,
``width``, ``height``, ``model``, ``scheduler``, plus ``num_images``, ``strength`` and ``init_image``.
Steps, width and height of 0 (or ``None``), guidance -1 and the scheduler ``"default"`` (the defaults) mean
the chosen model's own values (SD 1.5: 25 steps, guidance 7, DPM++ 2M; SD-Turbo: 1 step, guidance 0,
Euler a; the model's native size). It returns the PNG files (each with an A1111 ``parameters`` text chunk),
the seed used, the first image's parameters text, the notices, and an (at the end empty) preview.

The raw values are read by :func:`fusion.generation.read_options`, the one place that turns them into options (the
ZeroGPU duration is estimated from the same options). The event is a generator: it streams small previews and a
per-step progress bar while the pipeline runs in a worker thread. Stop sets the session's run's
:class:`~fusion.generation.Stop`, which the run checks between steps; the run then returns its unfinished images
with a "Stopped after N of M steps" notice, like any other result. When the session has no run in progress here
(its run still waits in the queue, or runs in a ZeroGPU worker process), Stop cancels the event through Gradio
instead, which withdraws a queued run and closes a running generator. A deadline (the same Stop's other reason)
bounds every run, also where Stop cannot reach.

The page puts the result first: the prompt and Generate beside a large gallery, every setting in a collapsed group
(left at the model's defaults), the small live preview under Generate only while a run lasts. Starting a run
empties what the previous one showed; when it ends, a private step reads its parameters text into a readable card
(the text itself, what the API returns, stays under "Raw data"). The init image is checked the moment it arrives.
"""

from __future__ import annotations

import contextlib
import html
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from fusion.config import Settings
from fusion.generation import (
    DECODERS,
    DEFAULT_DEADLINE_S,
    DEFAULT_MODEL,
    DEFAULT_SCHEDULER,
    DEFAULT_STRENGTH,
    GUIDANCE_RANGE,
    MAX_IMAGES,
    MODEL_DEFAULT,
    MODELS,
    PARAMETERS_CHUNK,
    SCHEDULERS,
    SIZE_MULTIPLE,
    SIZE_RANGE,
    GenerationOptions,
    GenerationResult,
    StepUpdate,
    StopSignals,
    parse_parameters,
    read_options,
)
from fusion.gpu import gpu_task
from fusion.images import ImageError
from fusion.messages import Message
from fusion.ui.admission import rate_limited
from fusion.ui.cards import Metric, card
from fusion.ui.common import (
    GPU_CONCURRENCY_ID,
    GPU_CONCURRENCY_LIMIT,
    current_session,
    decode_upload,
    notices_markdown,
    raw_data,
    reports_errors,
    wire_stop,
)
from fusion.ui.files import accepted_path, result_file
from fusion.ui.i18n import localized, t
from fusion.ui.uploads import check_on_upload

#: ``generation.generate_stream`` bound to the cache: options and a Stop in, updates and the result out.
GenerateStream = Callable[..., Iterator[StepUpdate | GenerationResult | None]]

HISTORY_LIMIT = 48
#: Loading, decoding and the safety check on top of the denoising deadline.
GPU_MARGIN_SECONDS = 15
#: The ``generate`` API's inputs and outputs, in order (the inputs are the event function's parameters).
API_INPUTS = (
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "guidance",
    "width",
    "height",
    "model",
    "scheduler",
    "num_images",
    "strength",
    "init_image",
    "decoder",
)
OUTPUT_NAMES = ("gallery", "seed_used", "parameters", "notices", "preview")


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
    #: Where the send-to buttons go (``app.py`` fills it): right under the result.
    sends: gr.Row


# ------------------------------------------------------------------------------------------- event functions
def generation_options(settings: Settings, deadline_s: float, **raw: Any) -> tuple[GenerationOptions, tuple[str, ...]]:
    """The run's options and their notices from the event's raw inputs (the init image through the file gate)."""
    upload = raw.pop("init_image", None)
    init_image = None if upload is None else decode_upload(upload, settings, what="init image").pixels
    return read_options({**raw, "init_image": init_image}, deadline_s=deadline_s, zero_gpu=settings.zero_gpu)


def _outputs(result: GenerationResult, notices: tuple[str, ...]) -> tuple[Any, ...]:
    gallery = [
        (result_file(image, name=f"seed-{seed}"), localized(Message("seed {seed}", seed=seed)))
        for image, seed in zip(result.images, result.seeds, strict=True)
    ]
    return gallery, result.seed, result.parameters[0], notices_markdown(notices + result.notices), None


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
        decoder: str | None = "vae",
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's documented way to ask for progress)
    ) -> Iterator[tuple[Any, ...]]:
        """Generate images with Stable Diffusion 1.5 or SD-Turbo; returns PNGs carrying their parameters.

        Args:
            prompt: what to draw (empty: unconditional); CLIP reads the first 77 tokens.
            negative_prompt: what to avoid (ignored when guidance is 1 or less).
            seed: -1 for a random seed; image k of a batch uses seed + k.
            steps: denoising steps; 0 for the model's default (SD 1.5: 25, SD-Turbo: 1).
            guidance: classifier-free guidance scale; -1 for the model's default (SD 1.5: 7, SD-Turbo: 0).
            width: 64-1024, a multiple of 8; 0 for the model's own size (with an init image: its aspect ratio).
            height: 64-1024, a multiple of 8; 0 for the model's own size (with an init image: its aspect ratio).
            model: "sd15" or "sd-turbo".
            scheduler: "default" (the model's) or one of "DPM++ 2M", "DPM++ 2M Karras", "Euler a",
                "Euler", "DDIM", "UniPC".
            num_images: 1-4.
            strength: image-to-image strength (with init_image), 0.01-1.
            init_image: an image to start from (image-to-image).
            decoder: "vae" (full quality) or "taesd" (fast preview quality: much faster on a CPU, less fine
                detail; labelled in the notices and the PNG parameters).
        """
        options, notices = generation_options(
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
            decoder=decoder,
        )
        skip = (gr.skip(),) * len(OUTPUT_NAMES)
        step: StepUpdate | None = None
        with (
            signals.running(current_session()) as stop,
            contextlib.closing(generate_fn(options, stop=stop)) as stream,
        ):
            for item in stream:
                if item is None:
                    yield skip
                elif isinstance(item, StepUpdate):
                    step = item
                    preview = gr.skip() if item.preview is None else result_file(item.preview, name="preview")
                    yield (*skip[:-1], preview)
                else:
                    yield _outputs(item, notices)
                    continue
                # After every yield, not before: the browser hides the progress bar when an output arrives.
                if step is not None:
                    progress((step.step, step.total), desc=localized("Denoising"), unit=localized("steps"))

    parameter_names = list(inspect.signature(generate).parameters)

    def gpu_seconds(*args: Any, **kwargs: Any) -> int:
        """ZeroGPU's duration for a call: the time budget of the options the run will read, plus a margin. The
        init image is left out: its size does not change the estimate, and decoding it here would be wasted."""
        raw = dict(zip(parameter_names, args, strict=False)) | kwargs
        raw.pop("init_image", None)
        try:
            options, _ = read_options(raw, deadline_s=deadline_s, zero_gpu=settings.zero_gpu)
        except ValueError:
            options, _ = read_options({}, deadline_s=deadline_s, zero_gpu=settings.zero_gpu)
        return math.ceil(options.deadline_s) + GPU_MARGIN_SECONDS

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
        notices.append(
            Message("Model {model!r} is not available here; the model was left unchanged.", model=parsed.pop("model"))
        )
    if "scheduler" in parsed and parsed["scheduler"] not in SCHEDULERS:
        notices.append(
            Message(
                "Sampler {sampler!r} is not available here; it was left unchanged.", sampler=parsed.pop("scheduler")
            )
        )
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
    "decoder",
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


def _steps_info(model: str) -> Message:
    preset = MODELS.get(model, MODELS[DEFAULT_MODEL])
    return Message("0: the model's default ({steps}); at most {maximum}", steps=preset.steps, maximum=preset.max_steps)


def _guidance_info(model: str) -> Message:
    preset = MODELS.get(model, MODELS[DEFAULT_MODEL])
    low, high = GUIDANCE_RANGE
    return Message(
        "-1: the model's default ({guidance:g}); {low:g}-{high:g}, 0 or 1 turns guidance off",
        guidance=preset.guidance,
        low=low,
        high=high,
    )


def _scheduler_choices(model: str, shown: Callable[[str], Any] = localized) -> list[tuple[Any, str]]:
    """The scheduler choices; ``shown`` is :func:`t` while the page is built, :func:`localized` in an event."""
    preset = MODELS.get(model, MODELS[DEFAULT_MODEL])
    return [
        (shown(Message("Model default ({scheduler})", scheduler=preset.scheduler)), DEFAULT_SCHEDULER),
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


def last_seed(used: float | None) -> Any:
    """The seed of the last run into the seed field; nothing while a run in progress has emptied it."""
    return gr.skip() if used is None else used


def parameters_card(text: str | None) -> str:
    """The run's parameters at a glance, read from the text its PNGs carry (the text stays under "Raw data")."""
    if not text:
        return ""
    parsed = parse_parameters(text)
    model = str(parsed.get("model", ""))
    metrics = [
        Metric(localized("Model"), MODELS[model].title if model in MODELS else model),
        Metric(localized("Seed"), str(parsed.get("seed", ""))),
        Metric(localized("Steps"), str(parsed.get("steps", ""))),
        Metric(localized("Guidance"), f"{parsed['guidance']:g}" if "guidance" in parsed else ""),
        Metric(localized("Scheduler"), str(parsed.get("scheduler", ""))),
        Metric(localized("Size"), f"{parsed.get('width', '?')} × {parsed.get('height', '?')} px"),  # noqa: RUF001
    ]
    if "strength" in parsed:
        metrics.append(Metric(localized("Strength"), f"{parsed['strength']:g}"))
    decoder = str(parsed.get("decoder", "vae"))
    metrics.append(Metric(localized("Final decode"), localized(DECODERS.get(decoder, decoder))))
    negative = parsed.get("negative_prompt")
    shown_negative = localized(Message("Negative prompt: {text!r}", text=negative)) if negative else ""
    prompt = parsed.get("prompt")
    return card(
        metrics,
        title=localized("Parameters (also stored in each PNG)"),
        lead=localized(Message("Prompt: {text!r}", text=prompt)) if prompt else "",
        extra=f'<p class="fusion-card-foot">{html.escape(shown_negative)}</p>' if negative else "",
        compact=True,
    )


def after_run(text: str | None) -> tuple[Any, ...]:
    """When a run ends: its card, and the live preview put away until the next run."""
    return parameters_card(text), gr.update(visible=False)


#: Browser-side, the moment a run starts: the previous run's outputs and card are emptied (it is in the history),
#: and the live preview shows, empty, under Generate. In the order of ``_Results.cleared``.
CLEAR_RUN = "() => [null, {__type__: 'update', value: null, visible: true}, null, '', '', '']"
#: Browser-side: an init image that arrives (uploaded, or sent from another tab) opens its section.
OPEN_WITH_IMAGE = "(image) => ({__type__: 'update', ...(image ? {open: true} : {})})"


# ------------------------------------------------------------------------------------------------ layout
GALLERY_HEIGHT = 420
SIZE_INFO = "{low}-{high}, a multiple of {multiple}; 0: the model's size (with an init image: its aspect ratio)"


@dataclass(frozen=True)
class _Form:
    """The input column's widgets (named as the ``generate`` API's parameters where they are one)."""

    prompt: gr.Textbox
    enhance_button: gr.Button
    generate_button: gr.Button
    stop_button: gr.Button
    negative_prompt: gr.Textbox
    model: gr.Dropdown
    scheduler: gr.Dropdown
    steps: gr.Number
    guidance: gr.Number
    decoder: gr.Radio
    width: gr.Number
    height: gr.Number
    seed: gr.Number
    random_seed: gr.Button
    reuse_seed: gr.Button
    num_images: gr.Slider
    image_to_image: gr.Accordion
    init_image: gr.Image
    strength: gr.Slider
    restore_file: gr.File


@dataclass(frozen=True)
class _Results:
    """The output widgets (named as the ``generate`` API's outputs where they are one) and their readable card."""

    preview: gr.Image
    gallery: gr.Gallery
    notices: gr.Markdown
    sends: gr.Row
    use_result: gr.Button
    card: gr.HTML
    seed_used: gr.Number
    parameters: gr.Textbox
    history: gr.Gallery

    def cleared(self) -> list[Any]:
        """What :data:`CLEAR_RUN` empties when a run starts, in its order."""
        return [self.gallery, self.preview, self.seed_used, self.parameters, self.notices, self.card]


def build(
    settings: Settings,
    *,
    generate_fn: GenerateStream,
    enhance_fn: Callable[[str], str] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> GenerationPanel:
    """The panel; ``generate_fn`` is ``functools.partial(generation.generate_stream, cache=cache)``, ``enhance_fn``
    the Ask model's prompt expansion (``fusion.agent.writing.enhance_prompt`` bound to the cache), if Ask is on."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            form, preview = _form(enhance=enhance_fn is not None)
        with gr.Column(scale=3, min_width=280):
            results = _results(preview)
    check_on_upload(settings, form.init_image, what="init image")
    _wire_run(settings, form, results, generate_fn, deadline_s)
    _wire_helpers(settings, form, results)
    if enhance_fn is not None:
        _wire_enhance(form, enhance_fn)
    return GenerationPanel(
        prompt=form.prompt,
        negative_prompt=form.negative_prompt,
        model=form.model,
        init_image=form.init_image,
        strength=form.strength,
        gallery=results.gallery,
        preview=results.preview,
        seed_used=results.seed_used,
        parameters=results.parameters,
        notices=results.notices,
        history=results.history,
        generate_button=form.generate_button,
        stop_button=form.stop_button,
        restore_file=form.restore_file,
        sends=results.sends,
    )


def _form(*, enhance: bool) -> tuple[_Form, gr.Image]:
    """The prompt and Generate first; the live preview under them (shown while a run lasts); then the settings,
    each group collapsed, showing SD 1.5's defaults until another model is chosen."""
    prompt = gr.Textbox(
        label=t("Prompt"),
        lines=3,
        placeholder="a photo of a red house by a lake, golden hour",
        elem_id="generation-prompt",
    )
    enhance_button = gr.Button(t("Enhance prompt"), size="sm", visible=enhance, elem_id="generation-enhance")
    with gr.Row():
        generate_button = gr.Button(t("Generate"), variant="primary", scale=2, elem_id="generation-run")
        stop_button = gr.Button(t("Stop"), variant="stop", scale=1, min_width=80, elem_id="generation-stop")
    preview = gr.Image(
        label=t("Live preview (small)"),
        type="pil",
        interactive=False,
        height=180,
        visible=False,
        elem_id="generation-preview",
    )
    with gr.Accordion(t("Negative prompt"), open=False, elem_id="generation-negative"):
        negative_prompt = gr.Textbox(
            label=t("Negative prompt"), show_label=False, lines=2, placeholder="blurry, low quality"
        )
    widgets = {**_model_settings(), **_size_settings()}
    with gr.Accordion(t("Image to image"), open=False, elem_id="generation-img2img") as image_to_image:
        init_image = gr.Image(
            label=t("Init image"),
            type="filepath",
            sources=["upload", "clipboard"],
            height=220,
            elem_id="generation-init-image",
        )
        strength = gr.Slider(
            label=t("Strength"),
            minimum=0.01,
            maximum=1.0,
            step=0.01,
            value=DEFAULT_STRENGTH,
            info=t("How far to move away from the init image (1: ignore it)"),
        )
    with gr.Accordion(t("Restore settings from a PNG"), open=False, elem_id="generation-restore"):
        restore_file = gr.File(label=t("Drop a PNG generated here"), file_types=[".png"], type="filepath")
    form = _Form(
        prompt=prompt,
        enhance_button=enhance_button,
        generate_button=generate_button,
        stop_button=stop_button,
        negative_prompt=negative_prompt,
        image_to_image=image_to_image,
        init_image=init_image,
        strength=strength,
        restore_file=restore_file,
        **widgets,
    )
    return form, preview


def _model_settings() -> dict[str, Any]:
    """Model, sampler, steps, guidance and the final decode, collapsed: 0, -1 and "default" are the model's own."""
    sd15 = MODELS[DEFAULT_MODEL]
    with gr.Accordion(t("Model and sampling"), open=False, elem_id="generation-model-settings"):
        with gr.Row():
            model = gr.Dropdown(
                label=t("Model"), choices=[(preset.title, key) for key, preset in MODELS.items()], value=sd15.key
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
                label=t("Guidance (CFG scale)"), value=MODEL_DEFAULT["guidance"], info=t(_guidance_info(sd15.key))
            )
        decoder = gr.Radio(
            label=t("Final decode"),
            choices=[(t(title), key) for key, title in DECODERS.items()],
            value="vae",
            info=t("Fast preview quality decodes with the tiny autoencoder: much faster on a CPU, less fine detail."),
            elem_id="generation-decoder",
        )
    return {"model": model, "scheduler": scheduler, "steps": steps, "guidance": guidance, "decoder": decoder}


def _size_settings() -> dict[str, Any]:
    """Size, seed (with its two small buttons) and the number of images, collapsed."""
    size_info = t(Message(SIZE_INFO, low=SIZE_RANGE[0], high=SIZE_RANGE[1], multiple=SIZE_MULTIPLE))
    with gr.Accordion(t("Size, seed and number of images"), open=False, elem_id="generation-size-settings"):
        with gr.Row():
            width = gr.Number(
                label=t("Width"), value=MODEL_DEFAULT["width"], precision=0, info=size_info, elem_id="generation-width"
            )
            height = gr.Number(
                label=t("Height"),
                value=MODEL_DEFAULT["height"],
                precision=0,
                info=size_info,
                elem_id="generation-height",
            )
        with gr.Row(equal_height=True, elem_classes=["fusion-controls"]):
            seed = gr.Number(
                label=t("Seed"),
                value=-1,
                precision=0,
                info=t("-1: random"),
                scale=2,
                min_width=110,
                elem_id="generation-seed",
            )
            random_seed = gr.Button(t("Random"), size="sm", scale=1, min_width=70, elem_id="generation-random-seed")
            reuse_seed = gr.Button(t("Last seed"), size="sm", scale=1, min_width=70, elem_id="generation-last-seed")
        num_images = gr.Slider(label=t("Number of images"), minimum=1, maximum=MAX_IMAGES, step=1, value=1)
    return {
        "width": width,
        "height": height,
        "seed": seed,
        "random_seed": random_seed,
        "reuse_seed": reuse_seed,
        "num_images": num_images,
    }


def _results(preview: gr.Image) -> _Results:
    """The result, large; its notices and what to do with it; its parameters as a card, the raw text collapsed;
    the session's history collapsed."""
    gallery = gr.Gallery(
        label=t("Result"),
        format="png",
        columns=2,
        fit_columns=False,  # one picture takes a column, so it shows whole (a click shows it large)
        height=GALLERY_HEIGHT,
        object_fit="contain",
        interactive=False,
        elem_id="generation-gallery",
    )
    notices = gr.Markdown(label=t("Notices"), elem_id="generation-notices")
    with gr.Row(elem_id="generation-send", elem_classes=["fusion-send"]) as sends:
        use_result = gr.Button(t("Use as init image"), size="sm", elem_id="generation-use-result")
    parameters_view = gr.HTML(elem_id="generation-card", padding=False)
    with raw_data("generation-raw"):
        seed_used = gr.Number(label=t("Seed used"), precision=0, interactive=False)
        parameters = gr.Textbox(label=t("Parameters (also stored in each PNG)"), lines=3, buttons=["copy"])
    with gr.Accordion(t("History (this session)"), open=False, elem_id="generation-history"):
        history = gr.Gallery(
            label=t("History (this session)"),
            show_label=False,
            format="png",
            columns=6,
            height=220,
            interactive=False,
            buttons=["download", "download_all", "fullscreen"],
        )
    return _Results(
        preview=preview,
        gallery=gallery,
        notices=notices,
        sends=sends,
        use_result=use_result,
        card=parameters_view,
        seed_used=seed_used,
        parameters=parameters,
        history=history,
    )


def _wire_run(
    settings: Settings, form: _Form, results: _Results, generate_fn: GenerateStream, deadline_s: float
) -> None:
    """The ``generate`` endpoint, after emptying the last run's outputs; then its card, and the history."""
    triggers = [form.generate_button.click, form.prompt.submit]
    gr.on(triggers, None, None, results.cleared(), js=CLEAR_RUN, queue=False, api_visibility="private")
    stop_signals = StopSignals()
    generating = gr.on(
        triggers=triggers,
        fn=rate_limited(make_generate_event(settings, generate_fn, deadline_s, stop_signals)),
        inputs=[getattr(form, name) for name in API_INPUTS],
        outputs=[getattr(results, name) for name in OUTPUT_NAMES],
        api_name="generate",
        preprocess=False,
        show_progress_on=[results.gallery],
        concurrency_id=GPU_CONCURRENCY_ID,
        concurrency_limit=GPU_CONCURRENCY_LIMIT,
    )
    private = {"api_visibility": "private", "show_progress": "hidden"}
    generating.then(after_run, results.parameters, [results.card, results.preview], queue=False, **private)
    history_state = gr.State([])
    history = [results.history, history_state]
    generating.success(add_to_history, [results.gallery, history_state], history, **private)
    wire_stop(form.stop_button, generating, stop_signals)


def _wire_helpers(settings: Settings, form: _Form, results: _Results) -> None:
    """The private helpers: seeds, model defaults, a result as init image, settings restored from a PNG."""
    private = {"api_visibility": "private"}
    form.random_seed.click(lambda: -1, outputs=form.seed, queue=False, **private)
    form.reuse_seed.click(last_seed, inputs=results.seed_used, outputs=form.seed, queue=False, **private)
    hinted = [form.steps, form.guidance, form.scheduler]
    form.model.input(model_defaults, inputs=form.model, outputs=hinted, **private)
    selected_state = gr.State(None)
    results.gallery.select(selected_image, outputs=selected_state, queue=False, **private)
    results.gallery.change(lambda: None, outputs=selected_state, queue=False, **private)  # a new run: none chosen
    results.use_result.click(
        result_for_img2img, [selected_state, results.gallery], form.init_image, queue=False, **private
    )
    form.init_image.change(None, form.init_image, form.image_to_image, js=OPEN_WITH_IMAGE, queue=False, **private)
    form.restore_file.upload(
        lambda upload: restore_settings(upload, settings),
        inputs=form.restore_file,
        outputs=[*(getattr(form, name) for name in RESTORED), results.notices],
        preprocess=False,
        **private,
    ).success(model_hints, inputs=form.model, outputs=hinted, **private)


def _wire_enhance(form: _Form, enhance_fn: Callable[[str], str]) -> None:
    """"Enhance prompt": the Ask model expands a short description (in any language) into a detailed English prompt,
    as Fooocus does before it generates; it runs in the GPU lane like every model."""

    @gpu_task(duration=30)
    @reports_errors
    def enhance(prompt: str | None) -> str:
        return enhance_fn("" if prompt is None else str(prompt))

    form.enhance_button.click(
        enhance,
        inputs=form.prompt,
        outputs=form.prompt,
        api_visibility="private",
        concurrency_id=GPU_CONCURRENCY_ID,
        concurrency_limit=GPU_CONCURRENCY_LIMIT,
    )
