"""The classification panel: CLIP zero-shot over typed labels, a hybrid head taught by example, explanations.

API endpoints:

- ``classify`` (``image``, ``labels`` as one string; templates, mode, threshold, "none of these" and model are
  optional): a JSON object label -> confidence over exactly the labels given (after trimming and removing
  duplicates), in the order given, plus ``"none of these"`` only when asked for.
- ``explain`` (``image``, ``labels``; optional templates and model): the hybrid head's label -> probability,
  the contribution of each feature family to the top label, and the CLIP patch heatmap. API clients get the
  zero-shot head; in the browser a head taught in this session (or loaded from a file) is used when its
  labels match.

Teaching (add examples, load a zip, train, cross-validate, load a head) depends on per-session state and is
private. Model events return their API value plus a ``gr.State`` view that a private ``.then`` step displays.

``app.py`` passes the task functions already bound to the shared cache (``functools.partial``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from fusion import images
from fusion.charts import PlotData
from fusion.classification.datasets import LabelledImages, load_zip
from fusion.classification.evaluation import TABLE_HEADERS, AblationResult
from fusion.classification.head import DEFAULT_C, FAMILIES, MAX_WEIGHT, FeatureWeights, HybridHead
from fusion.classification.hybrid import Explanation, HeadOptions, TrainResult
from fusion.classification.labels import DEFAULT_TEMPLATES, MAX_LABELS_TEXT, parse_labels, parse_templates
from fusion.classification.zeroshot import ZeroShotOptions, ZeroShotResult
from fusion.config import Settings
from fusion.gpu import gpu_task
from fusion.messages import Lines, Message
from fusion.numbers import number_or
from fusion.ui import charts
from fusion.ui.common import (
    GPU_CONCURRENCY_ID,
    GPU_CONCURRENCY_LIMIT,
    decode_upload,
    message_of,
    notices_markdown,
    reports_errors,
)
from fusion.ui.files import accepted_path, new_result_path, result_file
from fusion.ui.i18n import localized, localized_table, t
from fusion.ui.uploads import check_on_upload

ClassifyFn = Callable[[np.ndarray, str, ZeroShotOptions], ZeroShotResult]
ExplainFn = Callable[[np.ndarray, HybridHead], Explanation]
ZeroShotHeadFn = Callable[[Sequence[str], HeadOptions], HybridHead]
TrainFn = Callable[[LabelledImages, HeadOptions], TrainResult]
AblationFn = Callable[[LabelledImages, HeadOptions], AblationResult]

DEFAULT_TEMPLATE_TEXT = "\n".join(DEFAULT_TEMPLATES)
MODEL_CHOICES = [("CLIP ViT-B/32", "clip"), ("CLIP ViT-L/14", "clip-large")]
MODEL_KEYS = tuple(key for _title, key in MODEL_CHOICES)
MODE_CHOICES = [
    (t("Softmax: which one is it?"), "softmax"),
    (t("Independent: is each one present?"), "independent"),
]
FAMILY_TITLES = {
    "hog": "HOG",
    "lbp": "LBP texture",
    "color": "colour histogram",
    "edges": "edges",
    "clip": "CLIP",
}
EXAMPLES_HEADERS = ["label", "examples"]
#: Examples kept per session; they are stored downscaled (features use at most 224-256 px anyway).
MAX_EXAMPLES = 300
EXAMPLE_SIDE = 256
#: Examples are kept at 256 px: a picture that takes more than this to decode (16 megapixels of RGB) is refused.
EXAMPLE_DECODE_BYTES = 64 << 20
PLOT_TOP = 20
DEFAULTS = ZeroShotOptions()
POSITIVE, NEGATIVE = "#3b7dd8", "#d8553b"
IMAGE_HEIGHT = 280


@dataclass(frozen=True)
class ClassificationPanel:
    """Components other panels send images and labels to."""

    image: gr.Image
    labels: gr.Textbox
    templates: gr.Textbox
    scores: gr.Label
    classify: gr.Button
    notices: gr.Markdown


# ------------------------------------------------------------------------------------------ option parsing
def zero_shot_options(
    templates: Any = None,
    mode: Any = None,
    threshold: Any = None,
    include_none: Any = None,
    model: Any = None,
) -> tuple[ZeroShotOptions, tuple[str, ...]]:
    """Options from raw widget or API values (``preprocess=False`` passes them as sent)."""
    parsed, notices = parse_templates(None if templates is None else str(templates))
    options = ZeroShotOptions(
        templates=parsed,
        mode=str(mode or DEFAULTS.mode),  # type: ignore[arg-type]
        threshold=number_or(threshold, "Threshold", DEFAULTS.threshold),
        include_none=bool(include_none),
        model_key=_model_key(model),
    )
    return options, notices


def _model_key(model: Any) -> str:
    key = str(model or "clip")
    if key not in MODEL_KEYS:
        raise ValueError(Message("Unknown CLIP model {model!r}; choose clip or clip-large.", model=key))
    return key


def head_options(templates: Any, model: Any, weights: Sequence[Any], C: Any, zero_shot_prior: Any) -> HeadOptions:
    parsed, _notices = parse_templates(None if templates is None else str(templates))
    values = {
        family: number_or(value, Message("The {family} weight", family=family), 1.0)
        for family, value in zip(FAMILIES, weights, strict=True)
    }
    return HeadOptions(
        weights=FeatureWeights(**values),
        C=number_or(C, "C", HeadOptions().C),
        zero_shot_prior=bool(zero_shot_prior),
        templates=parsed,
        model_key=_model_key(model),
    )


# ---------------------------------------------------------------------------------------------- plots/views
def score_plot(scores: dict[str, float], top: int, title: str) -> PlotData:
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:top]
    return PlotData(
        "bar",
        title,
        "label",
        "score",
        {"score": np.array([score for _label, score in ranked])},
        x=np.array([_short(label) for label, _score in ranked]),
    )


def _short(label: str, limit: int = 30) -> str:
    """A label short enough for a plot's axis."""
    return label if len(label) <= limit else label[: limit - 3] + "..."


def contribution_plot(contributions: dict[str, float], label: str) -> PlotData:
    values = np.array(list(contributions.values()))
    return PlotData(
        "bar",
        Message("What pushed {label!r} above the average label", label=label),
        "feature family",
        "logit contribution",
        {"contribution": values},
        x=np.array([FAMILY_TITLES[family] for family in contributions]),
        bar_colors=tuple(POSITIVE if value >= 0 else NEGATIVE for value in values),
        named_categories=True,
    )


def _top(scores: dict[str, float], top_k: Any) -> dict[str, float]:
    count = max(1, int(top_k or 5))
    return dict(sorted(scores.items(), key=lambda item: item[1], reverse=True)[:count])


def _show_scores(view: dict[str, Any] | None, top_k: Any) -> tuple[Any, Any, str]:
    if not view:
        return None, charts.hidden(), ""
    scores = view["scores"]
    chart = charts.chart_update(score_plot(scores, PLOT_TOP, view["title"]))
    notes = list(view["notices"])
    if view.get("present") is not None:
        present = ", ".join(view["present"]) or "none"
        notes.insert(
            0, Message("Present at threshold {threshold:.2f}: {labels}", threshold=view["threshold"], labels=present)
        )
    return _top(scores, top_k), chart, notices_markdown(notes)


def _show_explanation(view: dict[str, Any] | None) -> tuple[Any, Any, str]:
    if not view:
        return None, charts.hidden(), ""
    chart = charts.chart_update(contribution_plot(view["contributions"], view["top_label"]))
    return _top(view["confidences"], 5), chart, notices_markdown(view["notices"])


def _show_ablation(view: dict[str, Any] | None) -> tuple[Any, str]:
    if not view:
        return charts.hidden(), ""
    return charts.chart_update(view["plot"]), notices_markdown(view["notices"])


# ---------------------------------------------------------------------------------------------------- events
def make_classify_event(settings: Settings, classify_fn: ClassifyFn) -> Callable[..., Any]:
    @gpu_task(duration=20)
    @reports_errors
    def classify_on_gpu(pixels: np.ndarray, labels: str, options: ZeroShotOptions) -> ZeroShotResult:
        return classify_fn(pixels, labels, options)

    @reports_errors
    def classify(
        image: Any,
        labels: str,
        templates: str = DEFAULT_TEMPLATE_TEXT,
        mode: str = DEFAULTS.mode,
        threshold: float = DEFAULTS.threshold,
        include_none: bool = DEFAULTS.include_none,
        model: str = DEFAULTS.model_key,
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """Zero-shot CLIP scores for one image: label -> confidence over exactly the labels given.

        ``labels`` is one string, comma- or newline-separated. ``templates`` holds one prompt per line with
        ``{}`` for the label (several are ensembled). ``mode`` "softmax" makes the scores sum to one;
        "independent" scores each label against a neutral prompt, and ``threshold`` marks labels as present.
        """
        parse_labels(labels)  # fail fast on missing labels, before the image is decoded
        options, template_notices = zero_shot_options(templates, mode, threshold, include_none, model)
        decoded = decode_upload(image, settings)
        result = classify_on_gpu(decoded.pixels, "" if labels is None else str(labels), options)
        view = {
            "scores": result.confidences(),
            "title": "Zero-shot softmax scores" if result.mode == "softmax" else "Zero-shot independent scores",
            "present": list(result.present) if result.mode == "independent" else None,
            "threshold": result.threshold,
            "notices": [*decoded.notices, *template_notices, *result.notices],
        }
        return result.confidences(), view

    return classify


def make_explain_event(
    settings: Settings, explain_fn: ExplainFn, zero_shot_head_fn: ZeroShotHeadFn
) -> Callable[..., Any]:
    @gpu_task(duration=30)
    @reports_errors
    def explain_on_gpu(
        pixels: np.ndarray, head: HybridHead | None, labels: tuple[str, ...], options: HeadOptions
    ) -> Explanation:
        if head is None:
            head = zero_shot_head_fn(labels, options)
        return explain_fn(pixels, head)

    @reports_errors
    def explain(
        image: Any,
        labels: str,
        templates: str = DEFAULT_TEMPLATE_TEXT,
        model: str = DEFAULTS.model_key,
        head: HybridHead | None = None,
    ) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        """Classify with the hybrid head and explain: label -> probability, each feature family's contribution
        to the top label (logit units above the average label) and CLIP's patch heatmap for the top label."""
        parsed, notices = parse_labels(labels)
        notes = list(notices)
        if head is not None and {label.casefold() for label in head.labels} != {label.casefold() for label in parsed}:
            notes.append("The taught head knows other labels than those typed, so CLIP zero-shot was used.")
            head = None
        if len(parsed) < 2 and head is None:
            raise ValueError("Type at least two labels to explain a choice between them.")
        options = HeadOptions(
            templates=parse_templates(None if templates is None else str(templates))[0],
            model_key=_model_key(model),
        )
        decoded = decode_upload(image, settings)
        result = explain_on_gpu(decoded.pixels, head, parsed, options)
        value = {
            "confidences": result.confidences,
            "top_label": result.top_label,
            "contributions": result.contributions,
            "bias": result.bias,
        }
        view = {**value, "notices": [*decoded.notices, *notes, *result.notices]}
        return value, result_file(result.heatmap, name="heatmap"), view

    return explain


def _examples_table(examples: list[tuple[str, np.ndarray]]) -> list[list[Any]]:
    counts: dict[str, int] = {}
    for label, _pixels in examples:
        counts[label] = counts.get(label, 0) + 1
    return [[label, count] for label, count in counts.items()]


def _example_pixels(upload: Any, what: str) -> np.ndarray:
    """An example image, through the file gate and decoded straight to its kept size."""
    return images.load(
        accepted_path(upload, what=what), max_side=EXAMPLE_SIDE, max_bytes=EXAMPLE_DECODE_BYTES, what=what
    ).pixels


def _merged_labels(labels_text: str | None, extra: Sequence[str]) -> tuple[str, ...]:
    """The typed labels followed by any example labels not typed yet (case-insensitively)."""
    try:
        typed, _ = parse_labels(labels_text)
    except ValueError:
        typed = ()
    known = {label.casefold() for label in typed}
    return typed + tuple(dict.fromkeys(label for label in extra if label.casefold() not in known))


def make_teach_events(
    settings: Settings,
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """Add example files under a label, add an ImageFolder zip, and clear the examples (CPU only)."""

    def _result(examples, labels_text, notices) -> tuple[Any, ...]:
        labels = _merged_labels(labels_text, [label for label, _ in examples])
        return (
            examples,
            localized_table(EXAMPLES_HEADERS, _examples_table(examples)),
            ", ".join(labels),
            gr.update(choices=list(labels)),
            notices_markdown(notices),
        )

    @reports_errors
    def add_examples(examples: list | None, label: Any, files: list | None, labels_text: str | None):
        examples = list(examples or [])
        label = " ".join(str(label or "").replace(",", " ").split())
        if not label:
            raise ValueError("Choose or type the label these example images show, then add them.")
        if not files:
            raise ValueError("Upload one or more example images for this label first.")
        notices = []
        before = len(examples)
        for index, upload in enumerate(files):
            if len(examples) >= MAX_EXAMPLES:
                notices.append(Message("Kept the first {limit} examples; the rest were not added.", limit=MAX_EXAMPLES))
                break
            try:
                examples.append((label, _example_pixels(upload, Message("file {number}", number=index + 1))))
            except images.ImageError as error:
                notices.append(Message("Skipped file {number}: {reason}", number=index + 1, reason=message_of(error)))
        if len(examples) == before and len(examples) < MAX_EXAMPLES:
            raise ValueError(Message("None of the files could be read as an image:\n{details}", details=Lines(notices)))
        return _result(examples, labels_text, notices)

    @reports_errors
    def add_zip(examples: list | None, archive: Any, labels_text: str | None):
        path = accepted_path(archive, what="zip")
        if path is None:
            raise ValueError("Upload a .zip of folders named after the labels, each holding example images.")
        examples = list(examples or [])
        room = MAX_EXAMPLES - len(examples)
        if room <= 0:
            raise ValueError(
                Message("There are already {count} examples: clear some before adding a zip.", count=MAX_EXAMPLES)
            )
        dataset = load_zip(path, max_side=EXAMPLE_SIDE, max_images=room, max_bytes=EXAMPLE_DECODE_BYTES)
        for pixels, target in zip(dataset.images, dataset.targets, strict=True):
            examples.append((dataset.labels[target], pixels))
        notices = list(dataset.notices)
        return _result(examples, labels_text, notices)

    def clear_examples(labels_text: str | None):
        return _result([], labels_text, [])

    return add_examples, add_zip, clear_examples


def examples_dataset(examples: Sequence[tuple[str, np.ndarray]], labels_text: str | None) -> LabelledImages:
    """The session's examples as a labelled set over the typed labels plus any example labels."""
    labels = _merged_labels(labels_text, [label for label, _ in examples])
    if not labels:
        raise ValueError("Type the labels to teach, separated by commas, then add examples of each.")
    index = {label.casefold(): number for number, label in enumerate(labels)}
    return LabelledImages(
        tuple(pixels for _label, pixels in examples),
        np.array([index[label.casefold()] for label, _ in examples], dtype=np.intp),
        labels,
    )


def make_train_events(
    settings: Settings, train_fn: TrainFn, ablation_fn: AblationFn
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    @gpu_task(duration=lambda dataset, options: min(300, 20 + len(dataset) // 5))
    @reports_errors
    def train_on_gpu(dataset: LabelledImages, options: HeadOptions) -> TrainResult:
        return train_fn(dataset, options)

    @gpu_task(duration=lambda dataset, options: min(300, 30 + len(dataset) // 2))
    @reports_errors
    def ablation_on_gpu(dataset: LabelledImages, options: HeadOptions) -> AblationResult:
        return ablation_fn(dataset, options)

    @reports_errors
    def train(examples, labels_text, templates, model, hog, lbp, color, edges, clip, C, prior):
        options = head_options(templates, model, (hog, lbp, color, edges, clip), C, prior)
        result = train_on_gpu(examples_dataset(examples or [], labels_text), options)
        path = new_result_path("fusion-head.safetensors")
        result.head.save(path)
        accuracy = (
            ""
            if np.isnan(result.train_accuracy)
            else Message(", {share:.0%} right on its examples", share=result.train_accuracy)
        )
        status = localized(
            Message(
                "Trained on {examples} example(s) of {labels} labels in {seconds:.2f} s{accuracy}. Explain now uses "
                "this head.",
                examples=result.head.examples,
                labels=len(result.head.labels),
                seconds=result.seconds,
                accuracy=accuracy,
            )
        )
        status += "\n\n" + notices_markdown(result.notices)
        return result.head, status, str(path)

    @reports_errors
    def ablation(examples, labels_text, templates, model, hog, lbp, color, edges, clip, C, prior):
        options = head_options(templates, model, (hog, lbp, color, edges, clip), C, prior)
        result = ablation_on_gpu(examples_dataset(examples or [], labels_text), options)
        rows = [[localized(head), *values] for head, *values in result.table()]
        return localized_table(TABLE_HEADERS, rows), {"plot": result.plot(), "notices": list(result.notices)}

    @reports_errors
    def load_head(upload: Any) -> tuple[HybridHead, str]:
        path = accepted_path(upload, what="head")
        if path is None:
            raise ValueError("Upload a .safetensors head saved by this app.")
        head = HybridHead.load(path)
        return (
            head,
            localized(
                Message(
                    "Loaded a head for {labels} ({examples} examples). Explain uses it.",
                    labels=", ".join(head.labels),
                    examples=head.examples,
                )
            ),
        )

    return train, ablation, load_head


# ---------------------------------------------------------------------------------------------------- layout
def _scoring_widgets() -> list[gr.components.Component]:
    templates = gr.Textbox(
        value=DEFAULT_TEMPLATE_TEXT,
        lines=4,
        elem_id="classification-templates",
        label=t("Prompt templates (one per line, {} is the label)"),
        info=t("Several templates are averaged (prompt ensembling)."),
    )
    mode = gr.Radio(MODE_CHOICES, value=DEFAULTS.mode, label=t("Scoring"))
    threshold = gr.Slider(0, 1, value=DEFAULTS.threshold, step=0.01, label=t("Threshold (independent scoring)"))
    include_none = gr.Checkbox(value=False, label=t('Add a "none of these" class (softmax scoring)'))
    model = gr.Radio(MODEL_CHOICES, value=DEFAULTS.model_key, label=t("Model"))
    return [templates, mode, threshold, include_none, model]


def _weight_widgets() -> list[gr.components.Component]:
    gr.Markdown(t("**Weight of each feature family** (0 leaves it out)"), elem_classes=["fusion-subhead"])
    with gr.Row(elem_classes=["fusion-weights"]):
        weights = [
            gr.Slider(0, MAX_WEIGHT, value=1.0, step=0.1, label=t(FAMILY_TITLES[family]), min_width=140)
            for family in FAMILIES
        ]
    with gr.Row(equal_height=True):
        C = gr.Slider(0.1, 100, value=DEFAULT_C, step=0.1, label=t("C (higher = fits the examples more closely)"))
        prior = gr.Checkbox(value=True, label=t("Start from CLIP zero-shot (works with 0 examples)"))
    return [*weights, C, prior]


def build(
    settings: Settings,
    *,
    classify_fn: ClassifyFn,
    explain_fn: ExplainFn,
    zero_shot_head_fn: ZeroShotHeadFn,
    train_fn: TrainFn,
    ablation_fn: AblationFn,
) -> ClassificationPanel:
    """Lay out the panel and wire its events; call inside ``gr.Tab``/``gr.Blocks``."""
    w: dict[str, Any] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            w["image"], w["labels"], w["classify"], scoring, w["top_k"] = _classify_inputs()
            w["templates"], w["mode"], w["threshold"], w["include_none"], w["model"] = scoring
        with gr.Column(scale=3, min_width=280):
            w["scores"] = gr.Label(label=t("Zero-shot scores"), elem_id="classification-scores")
            w["score_chart"] = charts.bar_chart(t("Scores"), elem_id="classification-chart", height=240)
            w["notices"] = gr.Markdown(elem_id="classification-notices")
            # The deeper tools, collapsed beside the input rather than under it.
            w["explain"], w["heatmap"], w["head_scores"], w["contributions"], w["explain_notices"] = (
                _explain_section()
            )
            with gr.Accordion(t("Teach by example"), open=False, elem_id="classification-teach"):
                w.update(_teach_section())
    w["examples"], w["head"] = gr.State([]), gr.State()
    check_on_upload(settings, w["image"], w["example_files"])
    _wire_scoring(
        settings,
        w,
        make_classify_event(settings, classify_fn),
        make_explain_event(settings, explain_fn, zero_shot_head_fn),
    )
    _wire_teaching(settings, w, make_teach_events(settings), make_train_events(settings, train_fn, ablation_fn))
    return ClassificationPanel(
        image=w["image"],
        labels=w["labels"],
        templates=w["templates"],
        scores=w["scores"],
        classify=w["classify"],
        notices=w["notices"],
    )


def _wire_scoring(settings: Settings, w: dict[str, Any], classify_event: Any, explain_event: Any) -> None:
    """Classify and Explain (public), each hiding its last chart as it starts and showing the new one after."""
    gpu_queue = {"concurrency_id": GPU_CONCURRENCY_ID, "concurrency_limit": GPU_CONCURRENCY_LIMIT}
    view_step = {"api_visibility": "private", "concurrency_limit": None}
    classify_result = gr.JSON(visible=False, label="Scores (API value)")
    explain_result = gr.JSON(visible=False, label="Explanation (API value)")
    classify_view, explain_view = gr.State(), gr.State()
    score_outputs = [w["scores"], w["score_chart"], w["notices"]]
    w["classify"].click(None, None, w["score_chart"], js=charts.HIDE_JS, queue=False, api_visibility="private")
    w["classify"].click(
        classify_event,
        [w[name] for name in ("image", "labels", "templates", "mode", "threshold", "include_none", "model")],
        [classify_result, classify_view],
        api_name="classify",
        preprocess=False,
        **gpu_queue,
    ).then(_show_scores, [classify_view, w["top_k"]], score_outputs, **view_step)
    w["top_k"].change(_show_scores, [classify_view, w["top_k"]], score_outputs, **view_step)
    w["explain"].click(None, None, w["contributions"], js=charts.HIDE_JS, queue=False, api_visibility="private")
    w["explain"].click(
        explain_event,
        [w[name] for name in ("image", "labels", "templates", "model", "head")],
        [explain_result, w["heatmap"], explain_view],
        api_name="explain",
        preprocess=False,
        **gpu_queue,
    ).then(_show_explanation, explain_view, [w["head_scores"], w["contributions"], w["explain_notices"]], **view_step)


def _wire_teaching(settings: Settings, w: dict[str, Any], teach_events: Any, train_events: Any) -> None:
    """Examples in, a head trained or cross-validated, a head loaded: all private, per session."""
    add_examples, add_zip, clear_examples = teach_events
    train_event, ablation_event, load_head = train_events
    gpu_queue = {"concurrency_id": GPU_CONCURRENCY_ID, "concurrency_limit": GPU_CONCURRENCY_LIMIT}
    cpu_queue = {"concurrency_limit": settings.cpu_concurrency, "api_visibility": "private"}
    view_step = {"api_visibility": "private", "concurrency_limit": None}
    gr.on(  # on page load: browsers show table headers as sent, so send them in the page's language
        None,
        lambda: (localized_table(EXAMPLES_HEADERS, []), localized_table(TABLE_HEADERS, [])),
        outputs=[w["examples_table"], w["ablation_table"]],
        api_visibility="private",
        queue=False,
    )
    teach_outputs = [w["examples"], w["examples_table"], w["labels"], w["example_label"], w["train_status"]]
    w["add"].click(
        add_examples,
        [w["examples"], w["example_label"], w["example_files"], w["labels"]],
        teach_outputs,
        preprocess=False,
        **cpu_queue,
    ).then(lambda: None, None, w["example_files"], **view_step)
    w["example_zip"].upload(
        add_zip, [w["examples"], w["example_zip"], w["labels"]], teach_outputs, preprocess=False, **cpu_queue
    )
    w["clear"].click(clear_examples, w["labels"], teach_outputs, **cpu_queue)
    w["labels"].blur(
        lambda text, rows: gr.update(choices=list(_merged_labels(text, [row[0] for row in rows or []]))),
        [w["labels"], w["examples"]],
        w["example_label"],
        **view_step,
    )
    train_inputs = [w["examples"], w["labels"], w["templates"], w["model"], *w["training"]]
    w["train"].click(
        train_event,
        train_inputs,
        [w["head"], w["train_status"], w["head_file"]],
        api_visibility="private",
        **gpu_queue,
    )
    ablation_view = gr.State()
    w["ablation"].click(
        ablation_event, train_inputs, [w["ablation_table"], ablation_view], api_visibility="private", **gpu_queue
    ).then(_show_ablation, ablation_view, [w["ablation_chart"], w["ablation_notices"]], **view_step)
    w["head_upload"].upload(load_head, w["head_upload"], [w["head"], w["train_status"]], preprocess=False, **cpu_queue)


def _classify_inputs() -> tuple[Any, ...]:
    """The picture, the labels and Classify; how the labels are scored, collapsed under them."""
    image = gr.Image(
        type="filepath",
        label=t("Image"),
        sources=["upload", "clipboard"],
        elem_id="classification-image",
        height=IMAGE_HEIGHT,
    )
    labels = gr.Textbox(
        label=t("Labels"),
        max_length=MAX_LABELS_TEXT,
        placeholder="cat, dog, car",
        lines=1,
        max_lines=6,
        info=t("Separate labels with commas or new lines."),
        elem_id="classification-labels",
    )
    classify_button = gr.Button(t("Classify"), variant="primary", elem_id="classification-run")
    with gr.Accordion(t("Prompts and scoring"), open=False, elem_id="classification-prompts"):
        scoring = _scoring_widgets()
        top_k = gr.Slider(1, 50, value=5, step=1, label=t("Show the top k labels"))
    return image, labels, classify_button, scoring, top_k


def _explain_section() -> tuple[Any, ...]:
    """The hybrid head's answer, why (each feature family's push), and where CLIP looked, collapsed."""
    with gr.Accordion(t("Explain with the hybrid head"), open=False, elem_id="classification-explain"):
        explain_button = gr.Button(t("Explain"), elem_id="classification-explain-run")
        with gr.Row(equal_height=False):
            heatmap = gr.Image(
                label=t("CLIP patch similarity to the top label"),
                alt_text=t("Where CLIP saw the top label: a heatmap over the picture"),
                format="png",
                interactive=False,
                height=300,
            )
            with gr.Column():
                head_scores = gr.Label(label=t("Hybrid head"))
                contribution_chart = charts.bar_chart(
                    t("Feature family contributions"), elem_id="classification-contributions", height=240
                )
        explain_notices = gr.Markdown()
    return explain_button, heatmap, head_scores, contribution_chart, explain_notices


def _teach_section() -> dict[str, Any]:
    """Examples per label, the feature families' weights, train or cross-validate, save and load heads."""
    w: dict[str, Any] = {}
    gr.Markdown(
        t(
            "Add a few images per label (or a zip of folders named after the labels), then train: the head "
            "starts from CLIP zero-shot and combines it with HOG, LBP, colour and edge features."
        )
    )
    with gr.Row():
        with gr.Column():
            w["example_label"] = gr.Dropdown(choices=[], allow_custom_value=True, label=t("These images show"))
            w["example_files"] = gr.File(
                file_count="multiple", file_types=["image"], label=t("Example images"), elem_id="classification-files"
            )
            w["add"] = gr.Button(t("Add examples"))
        with gr.Column():
            w["example_zip"] = gr.File(file_types=[".zip"], label=t("...or an ImageFolder zip (<label>/<images>)"))
            w["examples_table"] = gr.Dataframe(headers=EXAMPLES_HEADERS, label=t("Examples"), interactive=False)
            w["clear"] = gr.Button(t("Clear examples"))
    w["training"] = _weight_widgets()
    with gr.Row():
        w["train"] = gr.Button(t("Train head"), variant="primary")
        w["ablation"] = gr.Button(t("Cross-validate heads"))
    w["train_status"] = gr.Markdown()
    with gr.Row():
        w["head_file"] = gr.File(label=t("Trained head (.safetensors)"), interactive=False)
        w["head_upload"] = gr.File(file_types=[".safetensors"], label=t("Load a head"))
    w["ablation_table"] = gr.Dataframe(headers=TABLE_HEADERS, label=t("Held-out accuracy"), interactive=False)
    w["ablation_chart"] = charts.bar_chart(t("Ablation"), elem_id="classification-ablation-chart")
    w["ablation_notices"] = gr.Markdown()
    return w
