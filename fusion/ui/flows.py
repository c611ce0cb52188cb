"""The Fusion tab: edge-guided generation, re-imagine round trips, report cards and run cards.

API endpoints: ``edges_to_image`` (an image's edge map conditions SD 1.5 through ControlNet-Canny),
``reimagine`` (image -> BLIP caption -> prompt -> new image, with round-trip similarities) and ``report``
(the report card of any image). Every result carries a run card (JSON) that is also stored in its PNG;
dropping that PNG or JSON on "Restore from a run card" puts the settings back.

The page shows each result as readable cards (``fusion/ui/cards.py``): the round trip, the report card with its
zero-shot scores as a label list and its colour histogram as a chart, the run card at a glance. Private follow-up
steps make them from the JSON the endpoints return, which stays, unchanged, under "Raw data". Starting a run
empties what the previous one showed, in the browser, so nothing stale is left beside a new result.

With Ask on, the Ask model then tells the report card in plain words under it, in the visitor's language: one
more private step in the GPU lane, after the card shows, so the card never waits for the language model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from fusion import features
from fusion.charts import PlotData
from fusion.classification.labels import MAX_LABELS_TEXT
from fusion.config import Settings
from fusion.errors import new_error_id
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
from fusion.images import ImageError
from fusion.messages import Message
from fusion.numbers import number_or, whole_number
from fusion.ui import cards, charts
from fusion.ui.admission import rate_limited
from fusion.ui.common import (
    FUSION_NOTICES_LABEL,
    GPU_CONCURRENCY_ID,
    GPU_CONCURRENCY_LIMIT,
    decode_upload,
    notices_markdown,
    raw_data,
    reports_errors,
)
from fusion.ui.files import accepted_path, result_file
from fusion.ui.i18n import current_language, localized, t
from fusion.ui.uploads import check_on_upload

log = logging.getLogger(__name__)
EdgesFn = Callable[..., EdgesResult]
ReimagineFn = Callable[..., ReimagineResult]
ReportFn = Callable[..., ReportCard]
CaptionFn = Callable[..., Any]
#: The Ask model's summary of a report card (its JSON) in a language it writes, ``en`` or ``zh``.
SummaryFn = Callable[[Mapping[str, Any], str], str]
#: Chains the report card's summary after the step that shows a report card (see ``_summary_follows``).
Follow = Callable[[Any], None]
SUMMARY_FAILED = "No summary this time: the Ask model could not write one (error {error_id})."
SUMMARY_EMPTY = "No summary this time: the Ask model wrote nothing."
#: Loading the Ask model and writing at most 160 tokens (ZeroGPU's duration).
SUMMARY_GPU_SECONDS = 60
DEFAULT_STEPS = 25
DEFAULT_LABELS = "a photo, a painting, a sketch"
MODES = ("txt2img", "img2img")
#: Run cards are a few kilobytes; a dropped file larger than this is not one.
MAX_RUN_CARD_BYTES = 256 << 10
RUN_CARD_TOO_LARGE = "This run card is larger than {size} KB: drop the JSON a result came with."
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
IMAGE_HEIGHT = 260
RESULT_HEIGHT = 340
HISTOGRAM_COLOURS = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}


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
    #: Where the send-to buttons go (``app.py`` fills it), under the result.
    sends: gr.Row
    #: Chains the report card of the source image (and its cards) onto an event: a send-to's "Report card".
    report_after: Callable[[Any], None]


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
        raise ValueError(Message(RUN_CARD_TOO_LARGE, size=MAX_RUN_CARD_BYTES >> 10))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError("This run card is not UTF-8 text: drop the JSON a result came with.") from None


def caption_into_prompt(image: Any, settings: Settings, caption_fn: CaptionFn) -> str:
    """The BLIP caption of the image, to edit before re-imagining."""
    source = decode_upload(image, settings, what="image")
    return caption_fn([source.pixels]).captions[0][0]


def automatic_thresholds(image: Any, automatic: bool, operation: str | None, settings: Settings) -> tuple[Any, Any]:
    """Canny's thresholds from the picture's median brightness, shown in the (then locked) sliders; as the user
    set them when "Automatic thresholds" is off. The public endpoint takes whatever the sliders say."""
    unlocked = gr.update(interactive=not automatic)
    if not automatic or image is None or operation != "Canny edges":
        return unlocked, unlocked
    try:
        pixels = decode_upload(image, settings, what="image").pixels
    except ImageError:
        return unlocked, unlocked  # the upload check has said what is wrong with it
    stats = features.run_operation(pixels, "Canny edges", canny_auto=True).stats
    return (
        gr.update(value=stats["low_threshold"], interactive=False),
        gr.update(value=stats["high_threshold"], interactive=False),
    )


# ------------------------------------------------------------------------------------------------ summary
def summary_language(language: str) -> str:
    """The language the Ask model writes a summary in for a visitor's language: Chinese for any Chinese (``zh``,
    ``zh-CN``), else English; those are the two it writes."""
    return "zh" if language.lower().partition("-")[0] == "zh" else "en"


def make_summary_event(summary_fn: SummaryFn) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The step that writes the summary under a report card already shown. The language is read here, from the
    request (a ZeroGPU worker has none); a failure puts a short notice where the summary goes, and the card stays."""

    @gpu_task(duration=SUMMARY_GPU_SECONDS)
    def write_summary(report: dict[str, Any], language: str) -> str:
        return summary_fn(report, language)

    def summarise(report: Mapping[str, Any]) -> dict[str, Any]:
        try:
            text = write_summary(dict(report), summary_language(current_language())).strip()
        except Exception:  # the card above is complete whatever failed here: say so briefly, the log has the rest
            error_id = new_error_id()
            log.exception("The report card's summary failed [error %s]", error_id)
            text = localized(Message(SUMMARY_FAILED, error_id=error_id))
        return gr.update(value=text or localized(SUMMARY_EMPTY), visible=True)

    return summarise


# ------------------------------------------------------------------------------------------------ cards
@dataclass(frozen=True)
class Cards:
    """The readable side of a result: round trip, report card (numbers, zero-shot scores, colours, and the Ask
    model's summary when Ask is on), run card."""

    similarity: gr.HTML
    report: gr.HTML
    scores: gr.Label
    colours: gr.LinePlot
    run_card: gr.HTML
    summary: gr.Textbox | None

    def report_parts(self) -> list[tuple[Any, Any]]:
        """The report card's parts, each with what empties it in the browser (``_clear``)."""
        parts = [(self.report, ""), (self.scores, HIDE_LABEL), (self.colours, HIDE_CHART)]
        return parts if self.summary is None else [*parts, (self.summary, HIDE_TEXT)]


def show_cards(
    similarity: Mapping[str, Any] | None, report: Mapping[str, Any] | None, card: Mapping[str, Any] | None
) -> tuple[Any, ...]:
    """Every card of a result, from the JSON its endpoint returned (a missing part hides its card)."""
    return (*show_report(report), cards.similarity_card(similarity), cards.run_card(card))


def show_report(report: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The report card, its zero-shot scores as a label list and its colour histogram as a chart."""
    scores = (report or {}).get("zero_shot") or {}
    return (
        cards.report_card(report),
        gr.update(value=dict(scores), visible=bool(scores)),
        charts.chart_update(colour_histogram(report)),
    )


def colour_histogram(report: Mapping[str, Any] | None) -> PlotData | None:
    """A report card's 16-bin RGB histograms as a chart."""
    histograms = (report or {}).get("colour_histogram") or {}
    series = {name: np.asarray(values, dtype=float) for name, values in histograms.items() if len(values)}
    if not series or len({len(values) for values in series.values()}) != 1:
        return None
    bins = len(next(iter(series.values())))
    centres = (np.arange(bins) + 0.5) * (256 / bins)
    return PlotData(
        "line", "Colour histogram", "channel value", "share of pixels", series, x=centres, colors=HISTOGRAM_COLOURS
    )


#: Browser-side updates that empty a result's parts: a chart is emptied and hidden; a label list only hidden (its
#: frontend cannot take an empty value while shown); a caption box emptied and hidden.
HIDE_CHART = {"__type__": "update", "value": None, "visible": False}
HIDE_LABEL = {"__type__": "update", "visible": False}
HIDE_TEXT = {"__type__": "update", "value": "", "visible": False}


def _clear(*values: Any) -> str:
    """JavaScript returning ``values`` (updates, or plain values) for its outputs."""
    return f"() => {json.dumps(list(values))}"


def _empty_first(trigger: Callable[..., Any], parts: list[tuple[Any, Any]]) -> None:
    """Empty ``parts`` (components, each with what empties it) in the browser as soon as ``trigger`` fires."""
    trigger(None, None, [part for part, _empty in parts], js=_clear(*(empty for _part, empty in parts)), **CLEARS)


# ------------------------------------------------------------------------------------------------ layout
def build(
    settings: Settings,
    *,
    edges_fn: EdgesFn,
    reimagine_fn: ReimagineFn,
    report_fn: ReportFn,
    caption_fn: CaptionFn,
    summary_fn: SummaryFn | None = None,
) -> FusionPanel:
    """The tab; the task functions are ``fusion.flows`` functions bound to the cache (``partial``), ``summary_fn``
    the Ask model's report summary (``fusion.agent.writing.summarise_report`` bound to the cache), if Ask is on."""
    events = make_events(settings, edges_fn=edges_fn, reimagine_fn=reimagine_fn, report_fn=report_fn)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            source = _source_column()
        with gr.Column(scale=3, min_width=280):
            result = _result_column(summary=summary_fn is not None)
    check_on_upload(settings, source["image"])
    _wire_settings(settings, source, result)
    summarise = None if summary_fn is None else make_summary_event(summary_fn)
    report_after = _wire_runs(settings, events, caption_fn, source, result, summarise)
    return FusionPanel(
        image=source["image"],
        prompt=source["prompt"],
        labels=source["labels"],
        operation=source["operation"],
        result=result["result"],
        control=result["control"],
        report=result["report"],
        run_card=result["run_card"],
        sends=result["sends"],
        report_after=report_after,
    )


def _source_column() -> dict[str, Any]:
    """The picture, the prompt and the three actions first; their settings below, collapsed."""
    widgets: dict[str, Any] = {}
    widgets["image"] = gr.Image(
        label=t("Source image"),
        type="filepath",
        sources=["upload", "clipboard"],
        elem_id="fusion-image",
        height=IMAGE_HEIGHT,
    )
    widgets["prompt"] = gr.Textbox(label=t("Prompt (empty for re-imagine: the caption)"), lines=2)
    widgets["caption_button"] = gr.Button(t("Caption → prompt"), size="sm", elem_id="fusion-caption-run")
    with gr.Row():
        widgets["edges_button"] = gr.Button(t("Edges → generate"), variant="primary", elem_id="fusion-edges-run")
        widgets["reimagine_button"] = gr.Button(t("Re-imagine"), variant="primary", elem_id="fusion-reimagine-run")
    widgets["report_button"] = gr.Button(t("Report card of the source image"), size="sm", elem_id="fusion-report-run")
    _edge_settings(widgets)
    with gr.Accordion(t("Re-imagine settings"), open=False, elem_id="fusion-reimagine-settings"):
        widgets["mode"] = gr.Radio(label=t("Mode"), choices=list(MODES), value="txt2img")
        widgets["strength"] = gr.Slider(
            label=t("Strength (img2img)"), minimum=0.01, maximum=1, step=0.01, value=DEFAULT_STRENGTH
        )
    with gr.Accordion(t("Seed, steps and report labels"), open=False, elem_id="fusion-more-settings"):
        with gr.Row():
            widgets["seed"] = gr.Number(label=t("Seed"), value=-1, precision=0, info=t("-1: random"))
            widgets["steps"] = gr.Number(label=t("Steps"), value=DEFAULT_STEPS, precision=0, elem_id="fusion-steps")
        widgets["labels"] = gr.Textbox(
            label=t("Report labels (zero-shot)"), value=DEFAULT_LABELS, max_length=MAX_LABELS_TEXT
        )
    with gr.Accordion(t("Restore from a run card"), open=False, elem_id="fusion-restore"):
        widgets["restore_file"] = gr.File(
            label=t("Drop a run card (.json) or a PNG made here"), file_types=[".json", ".png"]
        )
    return widgets


def _edge_settings(widgets: dict[str, Any]) -> None:
    with gr.Accordion(t("Edges → image settings"), open=False, elem_id="fusion-edges-settings"):
        widgets["operation"] = gr.Dropdown(
            label=t("Edge operation"),
            choices=[(t(name), name) for name in EDGE_OPERATIONS],
            value=DEFAULT_EDGE_OPERATION,
        )
        widgets["canny_auto"] = gr.Checkbox(
            label=t("Automatic thresholds"),
            value=True,
            info=t("Derive both thresholds from the median."),
            elem_id="fusion-canny-auto",
        )
        with gr.Row():
            widgets["canny_low"] = gr.Slider(
                label=t("Canny low"),
                minimum=0,
                maximum=255,
                step=1,
                value=100,
                interactive=False,
                elem_id="fusion-canny-low",
            )
            widgets["canny_high"] = gr.Slider(
                label=t("Canny high"),
                minimum=0,
                maximum=255,
                step=1,
                value=200,
                interactive=False,
                elem_id="fusion-canny-high",
            )
        widgets["control_scale"] = gr.Slider(label=t("Control scale"), minimum=0, maximum=2, step=0.05, value=1.0)


def _result_column(*, summary: bool) -> dict[str, Any]:
    """Result and control map side by side, notices, send-to buttons, then the cards (the report card's summary
    under it, when ``summary``); the JSON under them."""
    widgets: dict[str, Any] = {}
    with gr.Row():
        widgets["result"] = gr.Image(
            label=t("Result"),
            alt_text=t("The generated picture"),
            format="png",
            interactive=False,
            elem_id="fusion-result",
            height=RESULT_HEIGHT,
        )
        widgets["control"] = gr.Image(
            label=t("Control map"),
            alt_text=t("The edge map that steered the generation"),
            format="png",
            interactive=False,
            elem_id="fusion-control",
            height=RESULT_HEIGHT,
        )
    widgets["notices"] = gr.Markdown(label=FUSION_NOTICES_LABEL, elem_id="fusion-notices")
    widgets["sends"] = gr.Row(elem_id="fusion-send", elem_classes=["fusion-send"])
    widgets["caption"] = gr.Textbox(
        label=t("Caption of the source"), interactive=False, visible=False, elem_id="fusion-caption"
    )
    similarity_card = gr.HTML(elem_id="fusion-similarity-card", padding=False)
    report_card = gr.HTML(elem_id="fusion-report-card", padding=False)
    summary_box = None
    if summary:
        summary_box = gr.Textbox(
            label=t("In plain words (written by the Ask assistant)"),
            interactive=False,
            visible=False,
            elem_id="fusion-report-summary",
        )
    with gr.Row(equal_height=False):
        scores = gr.Label(
            label=t("Zero-shot scores"),
            visible=False,
            show_heading=False,
            elem_id="fusion-report-scores",
            min_width=200,
        )
        colours = charts.line_chart(t("Colour histogram"), elem_id="fusion-report-colours", height=200)
    widgets["cards"] = Cards(
        similarity=similarity_card,
        report=report_card,
        scores=scores,
        colours=colours,
        run_card=gr.HTML(elem_id="fusion-run-card", padding=False),
        summary=summary_box,
    )
    with raw_data("fusion-raw"):
        widgets["similarity"] = gr.JSON(label=t("Round-trip similarity"))
        widgets["report"] = gr.JSON(label=t("Report card"), elem_id="fusion-report")
        widgets["run_card"] = gr.JSON(label=t("Run card (also in the PNG)"))
    return widgets


def _wire_settings(settings: Settings, source: dict[str, Any], result: dict[str, Any]) -> None:
    """Automatic Canny thresholds follow the picture; a run card puts its settings back (and its thresholds)."""
    thresholds = [source["canny_low"], source["canny_high"]]
    for trigger in (source["image"].change, source["canny_auto"].change, source["operation"].change):
        trigger(
            lambda image, automatic, operation: automatic_thresholds(image, automatic, operation, settings),
            [source["image"], source["canny_auto"], source["operation"]],
            thresholds,
            api_visibility="private",
            preprocess=False,
            concurrency_limit=None,
            show_progress="hidden",
        )

    def restore(upload: Any) -> tuple[Any, ...]:
        values = restore_settings(upload, settings)
        restored_thresholds = values[RESTORED.index(("edges", "canny_low"))] != gr.skip()
        return (*values, gr.update(value=False) if restored_thresholds else gr.skip())

    source["restore_file"].upload(
        restore,
        source["restore_file"],
        [*(source[name] for _panel, name in RESTORED), result["notices"], source["canny_auto"]],
        preprocess=False,
        api_visibility="private",
    )


GPU_QUEUE = {"concurrency_id": GPU_CONCURRENCY_ID, "concurrency_limit": GPU_CONCURRENCY_LIMIT, "preprocess": False}
VIEW = {"api_visibility": "private", "show_progress": "hidden"}
CLEARS = {"queue": False, "api_visibility": "private"}


def _wire_runs(
    settings: Settings,
    events: dict[str, Callable[..., Any]],
    caption_fn: CaptionFn,
    source: dict[str, Any],
    result: dict[str, Any],
    summarise: Callable[..., Any] | None,
) -> Callable[[Any], None]:
    """The three public runs, each after emptying what the last run showed, each followed by its cards, and the
    report card by its summary (``summarise``, when Ask is on)."""
    follow = _summary_follows(summarise, result)
    _wire_edges(events["edges_to_image"], source, result, follow)
    _wire_reimagine(events["reimagine"], source, result, follow)
    source["caption_button"].click(
        reports_errors(lambda upload: caption_into_prompt(upload, settings, caption_fn)),
        source["image"],
        source["prompt"],
        api_visibility="private",
        **GPU_QUEUE,
    )
    return _wire_report(events["report"], source, result, follow)


def _summary_follows(summarise: Callable[..., Any] | None, result: dict[str, Any]) -> Follow:
    """Chains the report card's summary after the step that shows the card (nothing when Ask is off)."""

    def follow(shown: Any) -> None:
        if summarise is not None:
            shown.success(summarise, result["report"], result["cards"].summary, api_visibility="private", **GPU_QUEUE)

    return follow


def _stale(result: dict[str, Any]) -> list[tuple[Any, Any]]:
    """What a new run empties first, each with what empties it: every card (the summary too), the caption of the
    source and the round trip's JSON."""
    cards_: Cards = result["cards"]
    return [
        (cards_.similarity, ""),
        *cards_.report_parts(),
        (cards_.run_card, ""),
        (result["caption"], HIDE_TEXT),
        (result["similarity"], None),
    ]


def _show_all(result: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """``show_cards``' inputs (the raw JSON) and outputs (the cards)."""
    cards_: Cards = result["cards"]
    raw = [result["similarity"], result["report"], result["run_card"]]
    return raw, [cards_.report, cards_.scores, cards_.colours, cards_.similarity, cards_.run_card]


def _wire_edges(
    edges_to_image: Callable[..., Any], source: dict[str, Any], result: dict[str, Any], follow: Follow
) -> None:
    """Edges -> image; its cards only after a run that succeeded (a failed one leaves them empty, not stale)."""
    names = ("image", "prompt", "operation", "canny_low", "canny_high", "seed", "steps", "control_scale", "labels")
    button = source["edges_button"]
    _empty_first(button.click, _stale(result))
    shown = button.click(
        rate_limited(edges_to_image),
        [source[name] for name in names],
        [result["result"], result["control"], result["report"], result["run_card"], result["notices"]],
        api_name="edges_to_image",
        **GPU_QUEUE,
    ).success(show_cards, *_show_all(result), **VIEW)
    follow(shown)


def _wire_reimagine(
    reimagine: Callable[..., Any], source: dict[str, Any], result: dict[str, Any], follow: Follow
) -> None:
    """Re-imagine makes no control map: the last one goes with the other stale parts."""
    names = ("image", "prompt", "mode", "seed", "steps", "strength", "labels")
    button = source["reimagine_button"]
    _empty_first(button.click, [*_stale(result), (result["control"], None)])
    outputs = ["result", "caption", "prompt", "similarity", "report", "run_card", "notices"]
    shown = button.click(
        rate_limited(reimagine),
        [source[name] for name in names],
        [source["prompt"] if name == "prompt" else result[name] for name in outputs],
        api_name="reimagine",
        **GPU_QUEUE,
    ).success(show_cards, *_show_all(result), **VIEW)
    shown.then(lambda caption: gr.update(visible=bool(caption)), result["caption"], result["caption"], **VIEW)
    follow(shown)


def _wire_report(
    report: Callable[..., Any], source: dict[str, Any], result: dict[str, Any], follow: Follow
) -> Callable[[Any], None]:
    """The report card of the source image, from its button or chained after another event (``report_after``):
    either way the last report card goes first, and the summary follows the new one."""
    cards_: Cards = result["cards"]
    inputs = [source["image"], source["prompt"], source["labels"]]
    views = [cards_.report, cards_.scores, cards_.colours]

    def run_after(trigger: Callable[..., Any], **api: Any) -> None:
        _empty_first(trigger, cards_.report_parts())
        shown = trigger(report, inputs, result["report"], **api, **GPU_QUEUE).success(
            show_report, result["report"], views, **VIEW
        )
        follow(shown)

    def report_after(dependency: Any) -> None:
        run_after(dependency.success, api_visibility="private")

    run_after(source["report_button"].click, api_name="report")
    return report_after
