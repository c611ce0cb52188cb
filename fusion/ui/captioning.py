"""The captioning panel: BLIP captions for one image or a gallery, BLIP VQA, and send-to buttons.

API endpoints: ``caption`` (``image`` plus optional decoding options; returns the caption, or a list when
several candidates are asked for), ``caption_batch`` (``files``; one entry per captioned file), ``answer``
(``image``, ``question``) and ``suggest_labels`` (``caption``). Model events return their API value plus a
``gr.State`` for the view (states are invisible to API clients); a private ``.then`` step shows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from fusion.captioning import CAPTION_BOUNDS, AnswerResult, CaptionOptions, CaptionResult, require_question
from fusion.config import Settings
from fusion.gpu import gpu_task
from fusion.images import ImageError
from fusion.messages import Lines, Message
from fusion.ui.common import (
    GPU_CONCURRENCY_ID,
    GPU_CONCURRENCY_LIMIT,
    decode_upload,
    message_of,
    notices_markdown,
    reports_errors,
)
from fusion.ui.files import result_file
from fusion.ui.i18n import t
from fusion.ui.uploads import check_on_upload

CaptionFn = Callable[[Sequence[np.ndarray], CaptionOptions], CaptionResult]
AnswerFn = Callable[[np.ndarray, str], AnswerResult]
SuggestLabelsFn = Callable[[str], str]

#: A gallery request captions at most this many files (the rest are skipped with a notice).
MAX_GALLERY_IMAGES = 32
THUMBNAIL_SIDE = 384
DEFAULTS = CaptionOptions()
MODEL_CHOICES = [(t("BLIP base"), "base"), (t("BLIP large"), "large")]
MODE_CHOICES = [(t("Greedy"), "greedy"), (t("Beam search"), "beam"), (t("Nucleus sampling"), "sampling")]
#: The decoding options in the order the caption events take them after the image (or files).
OPTION_NAMES = (
    "model",
    "prefix",
    "mode",
    "num_beams",
    "length_penalty",
    "top_p",
    "temperature",
    "min_new_tokens",
    "max_new_tokens",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "num_candidates",
    "seed",
)


@dataclass(frozen=True)
class CaptioningPanel:
    """The components other panels wire to (send-to buttons) and tests look at."""

    image: gr.Image
    caption: gr.Textbox
    candidates: gr.Textbox
    use_as_prompt: gr.Button
    suggest_labels: gr.Button
    labels: gr.Textbox
    question: gr.Textbox
    answer: gr.Textbox
    files: gr.File
    gallery: gr.Gallery
    gallery_captions: gr.Textbox
    notices: gr.Markdown


# ------------------------------------------------------------------------------------------- event functions
def caption_options(**raw: Any) -> CaptionOptions:
    """Options from raw widget or API values (``preprocess=False`` passes them as sent); tasks validate."""
    return CaptionOptions(
        model=str(raw.get("model") or DEFAULTS.model),  # type: ignore[arg-type]
        prefix="" if raw.get("prefix") is None else str(raw["prefix"]),
        mode=str(raw.get("mode") or DEFAULTS.mode),  # type: ignore[arg-type]
        **{name: raw[name] for name in (*OPTION_NAMES[3:], "batch_size") if raw.get(name) is not None},
    )


def _api_value(candidates: Sequence[str]) -> str | list[str]:
    return candidates[0] if len(candidates) == 1 else list(candidates)


def _as_json(value: Any) -> str:
    """JSON text for a ``gr.JSON`` output, which parses any ``str`` it is given as JSON (a caption is not)."""
    return json.dumps(value, ensure_ascii=False)


def _thumbnail(pixels: np.ndarray) -> Image.Image:
    picture = Image.fromarray(pixels)
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return picture


def _upload_name(upload: Any, index: int) -> str:
    """The file's own name, or its place in the list ("file 3", translated) when the upload has none."""
    path = (upload.get("orig_name") or upload.get("path")) if isinstance(upload, dict) else upload
    return Path(str(path)).name if path else Message("file {number}", number=index + 1)


def make_caption_events(settings: Settings, caption_fn: CaptionFn) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The single-image and gallery event functions, bound to a caption function."""

    def seconds(pixels: Sequence[np.ndarray], options: CaptionOptions) -> int:
        return min(120, 10 + 2 * len(pixels))

    @gpu_task(duration=seconds)
    @reports_errors
    def caption_on_gpu(pixels: Sequence[np.ndarray], options: CaptionOptions) -> tuple[list[list[str]], list[str]]:
        result = caption_fn(pixels, options)
        return [list(candidates) for candidates in result.captions], list(result.notices)

    @reports_errors
    def caption(
        image: Any,
        model: str = DEFAULTS.model,
        prefix: str = DEFAULTS.prefix,
        mode: str = DEFAULTS.mode,
        num_beams: int = DEFAULTS.num_beams,
        length_penalty: float = DEFAULTS.length_penalty,
        top_p: float = DEFAULTS.top_p,
        temperature: float = DEFAULTS.temperature,
        min_new_tokens: int = DEFAULTS.min_new_tokens,
        max_new_tokens: int = DEFAULTS.max_new_tokens,
        repetition_penalty: float = DEFAULTS.repetition_penalty,
        no_repeat_ngram_size: int = DEFAULTS.no_repeat_ngram_size,
        num_candidates: int = DEFAULTS.num_candidates,
        seed: int = DEFAULTS.seed,
    ) -> tuple[str, dict[str, Any]]:
        """Caption one image with BLIP: the caption, or a list when several candidates are asked for."""
        decoded = decode_upload(image, settings)
        options = caption_options(**{name: value for name, value in locals().items() if name in OPTION_NAMES})
        captions, notices = caption_on_gpu([decoded.pixels], options)
        view = {"candidates": captions[0], "notices": [*decoded.notices, *notices]}
        return _as_json(_api_value(captions[0])), view

    @reports_errors
    def caption_batch(
        files: list[Any] | None,
        model: str = DEFAULTS.model,
        prefix: str = DEFAULTS.prefix,
        mode: str = DEFAULTS.mode,
        num_beams: int = DEFAULTS.num_beams,
        length_penalty: float = DEFAULTS.length_penalty,
        top_p: float = DEFAULTS.top_p,
        temperature: float = DEFAULTS.temperature,
        min_new_tokens: int = DEFAULTS.min_new_tokens,
        max_new_tokens: int = DEFAULTS.max_new_tokens,
        repetition_penalty: float = DEFAULTS.repetition_penalty,
        no_repeat_ngram_size: int = DEFAULTS.no_repeat_ngram_size,
        num_candidates: int = DEFAULTS.num_candidates,
        seed: int = DEFAULTS.seed,
        batch_size: int = DEFAULTS.batch_size,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Caption many images in batches: one {"file", "caption"} entry per file that could be read."""
        options = caption_options(**{name: value for name, value in locals().items() if name != "files"})
        uploads = list(files or [])
        if not uploads:
            raise ValueError("No images to caption: upload one or more picture files.")
        notices: list[str] = []
        if len(uploads) > MAX_GALLERY_IMAGES:
            notices.append(
                Message(
                    "{count} files were given; only the first {limit} were captioned.",
                    count=len(uploads),
                    limit=MAX_GALLERY_IMAGES,
                )
            )
            uploads = uploads[:MAX_GALLERY_IMAGES]
        names, pixels = [], []
        for index, upload in enumerate(uploads):
            name = _upload_name(upload, index)
            try:
                decoded = decode_upload(upload, settings, what=Message("file {name!r}", name=name))
            except ImageError as error:
                notices.append(Message("Skipped {name}: {reason}", name=name, reason=message_of(error)))
                continue
            names.append(name)
            pixels.append(decoded.pixels)
            notices += [Message("{name}: {notice}", name=name, notice=notice) for notice in decoded.notices]
        if not pixels:
            raise ValueError(Message("None of the files could be read as an image:\n{details}", details=Lines(notices)))
        captions, caption_notices = caption_on_gpu(pixels, options)
        entries = [
            {"file": name, "caption": _api_value(candidates)} for name, candidates in zip(names, captions, strict=True)
        ]
        view = {
            "items": [
                (result_file(_thumbnail(p), name="thumbnail", image_format="webp"), c[0])
                for p, c in zip(pixels, captions, strict=True)
            ],
            "lines": [f"{name}: {' | '.join(c)}" for name, c in zip(names, captions, strict=True)],
            "notices": [*notices, *caption_notices],
        }
        return entries, view

    return caption, caption_batch


def make_answer_event(settings: Settings, answer_fn: AnswerFn) -> Callable[..., Any]:
    """The VQA event function, bound to an answer function."""

    @gpu_task(duration=15)
    @reports_errors
    def answer_on_gpu(pixels: np.ndarray, question: str) -> tuple[str, list[str]]:
        result = answer_fn(pixels, question)
        return result.answer, list(result.notices)

    @reports_errors
    def answer(image: Any, question: str) -> tuple[str, dict[str, Any]]:
        """Answer a question about an image with BLIP VQA."""
        question = require_question(question)
        decoded = decode_upload(image, settings)
        text, notices = answer_on_gpu(decoded.pixels, question)
        return text, {"notices": [*decoded.notices, *notices]}

    return answer


def _show_caption(view: dict[str, Any] | None) -> tuple[Any, ...]:
    """The caption; every candidate too, when more than one was asked for."""
    view = view or {}
    candidates = view.get("candidates") or [""]
    shown = gr.update(value="\n".join(candidates), visible=len(candidates) > 1)
    return candidates[0], shown, notices_markdown(view.get("notices", ()))


#: Browser-side: a new caption run hides the previous candidates.
HIDE_CANDIDATES = "() => ({__type__: 'update', value: '', visible: false})"


def _show_gallery(view: dict[str, Any] | None) -> tuple[list[Any], str, str]:
    view = view or {}
    return view.get("items", []), "\n".join(view.get("lines", ())), notices_markdown(view.get("notices", ()))


def _show_notices(view: dict[str, Any] | None) -> str:
    return notices_markdown((view or {}).get("notices", ()))


def _decoding_visibility(mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return gr.update(visible=mode == "beam"), gr.update(visible=mode == "sampling")


# ---------------------------------------------------------------------------------------------------- layout
IMAGE_HEIGHT = 300


def _caption_outputs() -> tuple[Any, ...]:
    """The caption, large; its other candidates (shown when there are several); what to do with it."""
    caption_box = gr.Textbox(
        label=t("Caption"),
        buttons=["copy"],
        interactive=True,
        lines=2,
        elem_id="captioning-caption",
        elem_classes=["fusion-caption"],
    )
    candidates_box = gr.Textbox(
        label=t("All candidates"), lines=3, buttons=["copy"], visible=False, elem_id="captioning-candidates"
    )
    with gr.Row(elem_classes=["fusion-send"]):
        use_as_prompt = gr.Button(t("Use as prompt"), size="sm", elem_id="send-captioning-use-as-prompt")
        suggest_button = gr.Button(t("Suggest labels"), size="sm", elem_id="captioning-suggest-labels")
    labels_box = gr.Textbox(label=t("Suggested labels"), buttons=["copy"], interactive=True)
    return caption_box, candidates_box, use_as_prompt, suggest_button, labels_box


def _question_widgets() -> tuple[Any, ...]:
    """Visual question answering: the question and its button on one line, the answer under them."""
    with gr.Group():
        with gr.Row(equal_height=True):
            question_box = gr.Textbox(
                label=t("Question"), placeholder="What colour is the car?", scale=4, elem_id="captioning-question"
            )
            ask_button = gr.Button(t("Ask"), scale=1, min_width=80, elem_id="captioning-ask")
        answer_box = gr.Textbox(label=t("Answer"), buttons=["copy"], elem_id="captioning-answer")
    return question_box, ask_button, answer_box


def _slider(name: str, label: str, step: float, info: str | None = None) -> gr.Slider:
    low, high = CAPTION_BOUNDS[name]
    return gr.Slider(
        low, high, value=getattr(DEFAULTS, name), step=step, label=t(label), info=t(info) if info else None
    )


def _option_widgets() -> list[gr.components.Component]:
    """Decoding widgets in :data:`OPTION_NAMES` order; beam and sampling rows show in their mode only."""
    model = gr.Radio(MODEL_CHOICES, value=DEFAULTS.model, label=t("Model"))
    prefix = gr.Textbox(
        value=DEFAULTS.prefix,
        label=t("Prefix (optional)"),
        placeholder="a photography of",
        info=t("The caption continues this text; leave empty for an unconditional caption."),
    )
    mode = gr.Radio(MODE_CHOICES, value=DEFAULTS.mode, label=t("Decoding"))
    with gr.Row(visible=DEFAULTS.mode == "beam") as beam_row:
        num_beams = _slider("num_beams", "Beams", 1)
        length_penalty = _slider("length_penalty", "Length penalty", 0.1, ">0 favours longer captions")
    with gr.Row(visible=DEFAULTS.mode == "sampling") as sampling_row:
        top_p = _slider("top_p", "Top-p", 0.05)
        temperature = _slider("temperature", "Temperature", 0.05)
        seed = gr.Number(value=DEFAULTS.seed, precision=0, minimum=0, label=t("Seed"), min_width=100)
    with gr.Row():
        min_new_tokens = _slider("min_new_tokens", "Min new tokens", 1)
        max_new_tokens = _slider("max_new_tokens", "Max new tokens", 1)
    with gr.Row():
        repetition_penalty = _slider("repetition_penalty", "Repetition penalty", 0.05)
        no_repeat_ngram_size = _slider("no_repeat_ngram_size", "No-repeat n-gram size", 1, "0 = off")
    num_candidates = _slider("num_candidates", "Candidates", 1)
    widgets = [
        model,
        prefix,
        mode,
        num_beams,
        length_penalty,
        top_p,
        temperature,
        min_new_tokens,
        max_new_tokens,
        repetition_penalty,
        no_repeat_ngram_size,
        num_candidates,
        seed,
    ]
    mode.change(_decoding_visibility, mode, [beam_row, sampling_row], queue=False, api_visibility="private")
    return widgets


def build(
    settings: Settings,
    *,
    caption_fn: CaptionFn,
    answer_fn: AnswerFn,
    suggest_labels_fn: SuggestLabelsFn,
) -> CaptioningPanel:
    """Lay out the panel and wire its events; call inside ``gr.Tab``/``gr.Blocks``."""
    w = _layout()
    check_on_upload(settings, w["image"], w["files"])
    _wire_models(settings, w, *make_caption_events(settings, caption_fn), make_answer_event(settings, answer_fn))

    @reports_errors
    def suggest_labels(caption: str) -> str:
        """Candidate class labels (the caption's nouns), comma-separated."""
        return suggest_labels_fn(caption or "")

    w["suggest"].click(
        suggest_labels,
        w["caption"],
        w["labels"],
        api_name="suggest_labels",
        concurrency_limit=settings.cpu_concurrency,
    )
    return CaptioningPanel(
        image=w["image"],
        caption=w["caption"],
        candidates=w["candidates"],
        use_as_prompt=w["use_as_prompt"],
        suggest_labels=w["suggest"],
        labels=w["labels"],
        question=w["question"],
        answer=w["answer"],
        files=w["files"],
        gallery=w["gallery"],
        gallery_captions=w["gallery_captions"],
        notices=w["notices"],
    )


def _layout() -> dict[str, Any]:
    """Picture and Caption first, decoding options collapsed; the caption large, what to do with it, a question;
    captioning a gallery collapsed below."""
    w: dict[str, Any] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            w["image"] = gr.Image(
                type="filepath",
                label=t("Image"),
                sources=["upload", "clipboard"],
                elem_id="captioning-image",
                height=IMAGE_HEIGHT,
            )
            w["run"] = gr.Button(t("Caption"), variant="primary", elem_id="captioning-run")
            with gr.Accordion(t("Decoding options"), open=False, elem_id="captioning-options"):
                w["options"] = _option_widgets()
        with gr.Column(scale=3, min_width=280):
            w["caption"], w["candidates"], w["use_as_prompt"], w["suggest"], w["labels"] = _caption_outputs()
            w["question"], w["ask"], w["answer"] = _question_widgets()
            w["notices"] = gr.Markdown(elem_id="captioning-notices")
    with gr.Accordion(t("Caption a gallery"), open=False, elem_id="captioning-gallery-section"):
        with gr.Row():
            w["files"] = gr.File(
                file_count="multiple", file_types=["image"], label=t("Images"), elem_id="captioning-files"
            )
            with gr.Column():
                w["batch_size"] = _slider("batch_size", "Images per batch", 1)
                w["batch"] = gr.Button(t("Caption all"))
        w["gallery"] = gr.Gallery(label=t("Captioned images"), columns=4, height="auto")
        w["gallery_captions"] = gr.Textbox(label=t("Captions (file: caption)"), lines=4, buttons=["copy"])
    return w


def _wire_models(settings: Settings, w: dict[str, Any], caption_event, caption_batch_event, answer_event) -> None:
    """The three model endpoints, each returning its API value, then a private step that shows it."""
    gpu_queue = {"concurrency_id": GPU_CONCURRENCY_ID, "concurrency_limit": GPU_CONCURRENCY_LIMIT}
    view_step = {"api_visibility": "private", "concurrency_limit": None}
    caption_result = gr.JSON(visible=False, label="Caption (API value)")
    batch_result = gr.JSON(visible=False, label="Captions (API value)")
    caption_view, batch_view, answer_view = gr.State(), gr.State(), gr.State()
    options = w["options"]
    w["run"].click(
        caption_event,
        [w["image"], *options],
        [caption_result, caption_view],
        api_name="caption",
        preprocess=False,
        **gpu_queue,
    ).then(_show_caption, caption_view, [w["caption"], w["candidates"], w["notices"]], **view_step)
    w["run"].click(None, None, w["candidates"], js=HIDE_CANDIDATES, queue=False, api_visibility="private")
    w["batch"].click(
        caption_batch_event,
        [w["files"], *options, w["batch_size"]],
        [batch_result, batch_view],
        api_name="caption_batch",
        preprocess=False,
        **gpu_queue,
    ).then(_show_gallery, batch_view, [w["gallery"], w["gallery_captions"], w["notices"]], **view_step)
    w["ask"].click(
        answer_event,
        [w["image"], w["question"]],
        [w["answer"], answer_view],
        api_name="answer",
        preprocess=False,
        **gpu_queue,
    ).then(_show_notices, answer_view, w["notices"], **view_step)
