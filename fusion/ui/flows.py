"""The Fusion tab: edge-guided generation, re-imagine round trips, report cards and run cards.

API endpoints: ``edges_to_image`` (an image's edge map conditions SD 1.5 through ControlNet-Canny),
``reimagine`` (image -> BLIP caption -> prompt -> new image, with round-trip similarities) and ``report``
(the report card of any image). Every result carries a run card (JSON) that is also stored in its PNG;
dropping that PNG or JSON on "Restore from a run card" puts the settings back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from fusion.classification.labels import MAX_LABELS_TEXT
from fusion.config import Settings
from fusion.flows import (
    DEFAULT_EDGE_OPERATION,
    EDGE_OPERATIONS,
    RUN_CARD_CHUNK,
    EdgeSettings,
    EdgesResult,
    ReimagineResult,
    ReportCard,
    restore_run_card,
)
from fusion.generation import DEFAULT_STRENGTH, GenerationOptions
from fusion.gpu import gpu_task
from fusion.numbers import number_or, whole_number
from fusion.ui.admission import rate_limited
from fusion.ui.common import (
    GPU_CONCURRENCY_ID,
    GPU_CONCURRENCY_LIMIT,
    decode_upload,
    notices_markdown,
    reports_errors,
    user_error,
)
from fusion.ui.files import accepted_path, result_file
from fusion.ui.i18n import t

EdgesFn = Callable[..., EdgesResult]
ReimagineFn = Callable[..., ReimagineResult]
ReportFn = Callable[..., ReportCard]
CaptionFn = Callable[..., Any]
DEFAULT_STEPS = 25
DEFAULT_LABELS = "a photo, a painting, a sketch"
MODES = ("txt2img", "img2img")
#: Run cards are a few kilobytes; a dropped file larger than this is not one.
MAX_RUN_CARD_BYTES = 256 << 10
#: The controls a run card restores, in output order: (panel in the card, setting name).
RESTORED = (
    ("edges", "operation"),
    ("edges", "canny_low"),
    ("edges", "canny_high"),
    ("generation", "prompt"),
    ("generation", "seed"),
    ("generation", "steps"),
    ("generation", "control_scale"),
    ("generation", "strength"),
    ("report", "labels"),
    ("reimagine", "mode"),
)


@dataclass(frozen=True)
class FusionPanel:
    """Components other panels send to: the source image, the prompt, the labels, the result."""

    image: gr.Image
    prompt: gr.Textbox
    labels: gr.Textbox
    operation: gr.Dropdown
    result: gr.Image
    control: gr.Image
    report: gr.JSON
    run_card: gr.JSON


def _options(prompt: Any, seed: Any, steps: Any, **extra: Any) -> GenerationOptions:
    return GenerationOptions(
        prompt="" if prompt is None else str(prompt),
        seed=whole_number(number_or(seed, "Seed", -1), "Seed"),
        steps=whole_number(number_or(steps, "Steps", DEFAULT_STEPS), "Steps"),
        **extra,
    )


def _result_image(result: Any) -> str:
    """The first generated picture (with its run card chunk), in a file of its own."""
    return result_file(result.generation.images[0], name="fusion")


def make_events(
    settings: Settings, *, edges_fn: EdgesFn, reimagine_fn: ReimagineFn, report_fn: ReportFn
) -> dict[str, Callable[..., Any]]:
    """The public event functions, bound to task functions; their docstrings describe the MCP tools."""

    @gpu_task(duration=120)
    @reports_errors
    def edges_to_image(
        image: Any,
        prompt: str | None = "",
        operation: str | None = DEFAULT_EDGE_OPERATION,
        canny_low: float | None = 100,
        canny_high: float | None = 200,
        seed: float | None = -1,
        steps: float | None = DEFAULT_STEPS,
        control_scale: float | None = 1.0,
        labels: str | None = DEFAULT_LABELS,
    ) -> tuple[Any, ...]:
        """Generate an image with Stable Diffusion 1.5 whose structure follows the edges of an input image.

        The input's edge map (Canny with the given thresholds, or a Sobel/Scharr/Laplacian gradient map)
        conditions the generation through ControlNet-Canny; the result is measured against it.

        Args:
            image: the image whose edges (outlines) the new image should follow.
            prompt: what the new image should show, for example "a watercolour of a cat".
            operation: "Canny edges" (default), "Sobel gradients", "Scharr gradients" or "Laplacian".
            canny_low: Canny's lower hysteresis threshold (0-255).
            canny_high: Canny's upper hysteresis threshold (0-255).
            seed: -1 for a random seed.
            steps: denoising steps (1-100).
            control_scale: how strongly the edges steer the image (0-2, 1 is ControlNet's default).
            labels: comma-separated labels the report card scores with CLIP zero-shot.

        Returns:
            the generated PNG (with its run card in a text chunk), the control map, the report card (caption,
            zero-shot scores, CLIP prompt score, sharpness, edge density, colours, and structure fidelity:
            edge IoU/F1 against the control map, ORB inlier ratio, histogram distance), the run card JSON
            and notices.
        """
        source = decode_upload(image, settings, what="image")
        edges = EdgeSettings(
            str(operation or DEFAULT_EDGE_OPERATION),
            {
                "canny_low": number_or(canny_low, "Low threshold", 100),
                "canny_high": number_or(canny_high, "High threshold", 200),
            },
        )
        options = _options(prompt, seed, steps, control_scale=number_or(control_scale, "Control scale", 1.0))
        result = edges_fn(source.pixels, options, edges=edges, labels=str(labels or ""))
        return (
            _result_image(result),
            result_file(result.control, name="control"),
            result.reports[0].to_dict(),
            result.card,
            notices_markdown([*source.notices, *result.notices, *result.reports[0].notices]),
        )

    @gpu_task(duration=120)
    @reports_errors
    def reimagine(
        image: Any,
        prompt: str | None = "",
        mode: str | None = "txt2img",
        seed: float | None = -1,
        steps: float | None = DEFAULT_STEPS,
        strength: float | None = DEFAULT_STRENGTH,
        labels: str | None = DEFAULT_LABELS,
    ) -> tuple[Any, ...]:
        """Re-imagine an image: caption it with BLIP, generate a new image from that caption (or the given
        prompt), and measure how close the round trip came back.

        Args:
            image: the image to re-imagine.
            prompt: the prompt to generate from; empty uses the BLIP caption of the image.
            mode: "txt2img" (from the prompt alone) or "img2img" (starting from the image).
            seed: -1 for a random seed.
            steps: denoising steps (1-100).
            strength: img2img only: how far to move away from the image (0.01-1).
            labels: comma-separated labels the report card scores with CLIP zero-shot.

        Returns:
            the generated PNG, the caption of the input, the prompt used, the round-trip similarities (CLIP
            image-image cosine, and the prompt against the new image's caption), the new image's report card,
            the run card JSON and notices.
        """
        source = decode_upload(image, settings, what="image")
        options = _options(prompt, seed, steps, strength=number_or(strength, "Strength", DEFAULT_STRENGTH))
        result = reimagine_fn(source.pixels, options, mode=str(mode or "txt2img"), labels=str(labels or ""))
        similarity = {
            "image_image": result.image_similarity,
            "prompt_vs_new_caption": result.text_similarity,
            "new_caption": result.new_caption,
        }
        return (
            _result_image(result),
            result.caption,
            result.prompt,
            similarity,
            result.report.to_dict(),
            result.card,
            notices_markdown([*source.notices, *result.notices]),
        )

    @gpu_task(duration=30)
    @reports_errors
    def report(image: Any, prompt: str | None = "", labels: str | None = DEFAULT_LABELS) -> dict[str, Any]:
        """The report card of an image: what the models and the classical measures say about it.

        Args:
            image: any image (a generated one, or a photo).
            prompt: the prompt it was generated from, for the CLIP prompt-image score (optional).
            labels: comma-separated labels to score with CLIP zero-shot (optional).

        Returns:
            a JSON object: BLIP caption, zero-shot scores, CLIPScore against the prompt (100 x cosine),
            sharpness (variance of the Laplacian), Canny edge density, RGB means and 16-bin histograms.
        """
        source = decode_upload(image, settings, what="image")
        return report_fn(source.pixels, prompt=str(prompt or ""), labels=str(labels or "")).to_dict()

    return {"edges_to_image": edges_to_image, "reimagine": reimagine, "report": report}


@reports_errors
def restore_settings(upload: Any, settings: Settings) -> tuple[Any, ...]:
    """Settings from a run card (a JSON file, or a PNG made here) in :data:`RESTORED` order, then notices."""
    path = accepted_path(upload, what="run card")
    if path is None:
        raise ValueError("Drop a run card (.json) or a PNG made in the Fusion tab.")
    if path.suffix.lower() == ".json":
        panels = restore_run_card(_run_card_text(path))
    else:
        text = decode_upload(upload, settings, what="PNG").text.get(RUN_CARD_CHUNK)
        if not text:
            raise ValueError("This image carries no run card: drop a PNG made in the Fusion tab, or its JSON.")
        panels = restore_run_card(text)
    values = tuple(panels.get(panel, {}).get(name, gr.skip()) for panel, name in RESTORED)
    return (*values, notices_markdown(["Settings restored from the run card."]))


def _run_card_text(path: Path) -> str:
    """A run card file's text: small UTF-8 JSON, or a clear error."""
    if path.stat().st_size > MAX_RUN_CARD_BYTES:
        raise ValueError(
            f"This run card is larger than {MAX_RUN_CARD_BYTES >> 10} KB: drop the JSON a result came with."
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError("This run card is not UTF-8 text: drop the JSON a result came with.") from None


def caption_into_prompt(image: Any, settings: Settings, caption_fn: CaptionFn) -> str:
    """The BLIP caption of the image, to edit before re-imagining."""
    source = decode_upload(image, settings, what="image")
    return caption_fn([source.pixels]).captions[0][0]


def build(
    settings: Settings,
    *,
    edges_fn: EdgesFn,
    reimagine_fn: ReimagineFn,
    report_fn: ReportFn,
    caption_fn: CaptionFn,
) -> FusionPanel:
    """The tab; the task functions are ``fusion.flows`` functions bound to the cache (``partial``)."""
    events = make_events(settings, edges_fn=edges_fn, reimagine_fn=reimagine_fn, report_fn=report_fn)
    with gr.Row():
        with gr.Column(scale=3):
            image = gr.Image(
                label=t("Source image"), type="filepath", sources=["upload", "clipboard"], elem_id="fusion-image"
            )
            prompt = gr.Textbox(label=t("Prompt (empty for re-imagine: the caption)"), lines=2)
            caption_button = gr.Button(t("Caption → prompt"), size="sm")
            labels = gr.Textbox(label=t("Report labels (zero-shot)"), value=DEFAULT_LABELS, max_length=MAX_LABELS_TEXT)
            with gr.Accordion(t("Edges → image (ControlNet-Canny)"), open=True):
                operation = gr.Dropdown(
                    label=t("Edge operation"),
                    choices=[(t(name), name) for name in EDGE_OPERATIONS],
                    value=DEFAULT_EDGE_OPERATION,
                )
                with gr.Row():
                    canny_low = gr.Slider(label=t("Canny low"), minimum=0, maximum=255, step=1, value=100)
                    canny_high = gr.Slider(label=t("Canny high"), minimum=0, maximum=255, step=1, value=200)
                control_scale = gr.Slider(label=t("Control scale"), minimum=0, maximum=2, step=0.05, value=1.0)
                edges_button = gr.Button(t("Edges → generate"), variant="primary", elem_id="fusion-edges-run")
            with gr.Accordion(t("Re-imagine (caption → prompt → image)"), open=True):
                mode = gr.Radio(label=t("Mode"), choices=list(MODES), value="txt2img")
                strength = gr.Slider(
                    label=t("Strength (img2img)"), minimum=0.01, maximum=1, step=0.01, value=DEFAULT_STRENGTH
                )
                reimagine_button = gr.Button(t("Re-imagine"), variant="primary")
            with gr.Row():
                seed = gr.Number(label=t("Seed"), value=-1, precision=0, info=t("-1: random"))
                steps = gr.Number(label=t("Steps"), value=DEFAULT_STEPS, precision=0, elem_id="fusion-steps")
            report_button = gr.Button(t("Report card of the source image"))
            with gr.Accordion(t("Restore from a run card"), open=False):
                restore_file = gr.File(
                    label=t("Drop a run card (.json) or a PNG made here"), file_types=[".json", ".png"]
                )
        with gr.Column(scale=4):
            with gr.Row():
                control = gr.Image(label=t("Control map"), format="png", interactive=False, elem_id="fusion-control")
                result = gr.Image(label=t("Result"), format="png", interactive=False, elem_id="fusion-result")
            caption = gr.Textbox(label=t("Caption of the source"), interactive=False)
            similarity = gr.JSON(label=t("Round-trip similarity"))
            report = gr.JSON(label=t("Report card"), elem_id="fusion-report")
            run_card = gr.JSON(label=t("Run card (also in the PNG)"))
            notices = gr.Markdown()

    gpu_queue = {
        "concurrency_id": GPU_CONCURRENCY_ID,
        "concurrency_limit": GPU_CONCURRENCY_LIMIT,
        "preprocess": False,
    }
    edges_button.click(
        rate_limited(events["edges_to_image"]),
        [image, prompt, operation, canny_low, canny_high, seed, steps, control_scale, labels],
        [result, control, report, run_card, notices],
        api_name="edges_to_image",
        **gpu_queue,
    )
    reimagine_button.click(
        rate_limited(events["reimagine"]),
        [image, prompt, mode, seed, steps, strength, labels],
        [result, caption, prompt, similarity, report, run_card, notices],
        api_name="reimagine",
        **gpu_queue,
    )
    report_button.click(events["report"], [image, prompt, labels], report, api_name="report", **gpu_queue)
    caption_button.click(
        reports_errors(lambda upload: caption_into_prompt(upload, settings, caption_fn)),
        image,
        prompt,
        api_visibility="private",
        **gpu_queue,
    )
    restore_file.upload(
        lambda upload: restore_settings(upload, settings),
        restore_file,
        [
            operation,
            canny_low,
            canny_high,
            prompt,
            seed,
            steps,
            control_scale,
            strength,
            labels,
            mode,
            notices,
        ],
        preprocess=False,
        api_visibility="private",
    )
    return FusionPanel(
        image=image,
        prompt=prompt,
        labels=labels,
        operation=operation,
        result=result,
        control=control,
        report=report,
        run_card=run_card,
    )


def first_image(gallery: list[Any] | None) -> str:
    """The file path of a gallery's first image (a send-to source)."""
    if not gallery:
        raise user_error("There is no image to send yet: upload or generate one first.")
    first = gallery[0]
    item = first[0] if isinstance(first, (list, tuple)) else first
    if isinstance(item, dict):
        item = (item.get("image") or item).get("path")
    return str(item)


def make_gallery_report(settings: Settings, report_fn: ReportFn) -> Callable[..., dict[str, Any] | None]:
    """The report card shown under the Text-to-image gallery, computed as soon as a result lands."""

    @gpu_task(duration=30)
    @reports_errors
    def gallery_report(gallery: list[Any] | None, prompt: str | None, labels: str | None) -> dict[str, Any] | None:
        if not gallery:
            return None
        source = decode_upload(first_image(gallery), settings, what="image")
        return report_fn(source.pixels, prompt=str(prompt or ""), labels=str(labels or "")).to_dict()

    return gallery_report
