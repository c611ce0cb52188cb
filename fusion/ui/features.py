"""The classical-features panel: pick a group, then an operation; the result, a card of its numbers and a chart.

Controls are generated from the operations' ``ParamSpec``s, so adding an operation to :mod:`fusion.features` adds
its controls and API parameters here without touching this file. ``/features`` returns the picture, the numbers
(JSON, in the collapsed "Raw data" section) and notices; the card and the chart come from a chained private
event, so API clients get the picture and the numbers without waiting for them.

The operation picker lists the operations of the chosen group (the page loads with the first group's); the
``operation`` input itself keeps every operation as its choice, so the API is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from fusion import features
from fusion.charts import PlotData
from fusion.config import Settings
from fusion.ui import cards, charts
from fusion.ui.common import FEATURES_NOTICES_LABEL, decode_upload, notices_markdown, raw_data, reports_errors
from fusion.ui.files import result_file
from fusion.ui.i18n import localized, plain_example_table, t
from fusion.ui.uploads import check_on_upload

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLES = (
    ("chelsea.png", "Canny edges"),
    ("astronaut.png", "ORB keypoints"),
    ("coffee.png", "Dominant colours"),
    ("rocket.png", "HOG"),
    ("brick.png", "LBP texture"),
    ("camera.png", "Contours"),
)
GROUPS = tuple(dict.fromkeys(operation.group for operation in features.OPERATIONS.values()))
IMAGE_HEIGHT = 300
RESULT_HEIGHT = 380


@dataclass(frozen=True)
class FeaturesPanel:
    """Components other panels wire to (edge maps to generation, images to classification)."""

    image: gr.Image
    operation: gr.Dropdown
    result: gr.Image
    #: Where the send-to buttons go (``app.py`` fills it): right under the result.
    sends: gr.Row


def all_params() -> dict[str, features.ParamSpec]:
    """Every distinct parameter of every operation, in first-use order."""
    specs: dict[str, features.ParamSpec] = {}
    for operation in features.OPERATIONS.values():
        for spec in operation.params:
            specs.setdefault(spec.name, spec)
    return specs


def _control(spec: features.ParamSpec, visible: bool) -> gr.components.Component:
    common: dict[str, Any] = {"label": t(spec.label), "info": t(spec.info) if spec.info else None, "visible": visible}
    if spec.kind == "bool":
        return gr.Checkbox(value=bool(spec.default), **common)
    if spec.kind == "choice":
        return gr.Dropdown(choices=[(t(choice), choice) for choice in spec.choices], value=spec.default, **common)
    step = spec.step if spec.step is not None else (1 if spec.kind == "int" else 0.01)
    return gr.Slider(minimum=spec.minimum, maximum=spec.maximum, step=step, value=spec.default, **common)


# ----------------------------------------------------------------------------------------- picker events
def operations_in(group: str) -> list[tuple[str, str]]:
    """The picker's choices for a group, in the request's language."""
    return [(localized(name), name) for name, op in features.OPERATIONS.items() if op.group == group]


def pick_group(group: str) -> dict[str, Any]:
    """A group was chosen: its operations, the first one selected."""
    choices = operations_in(group) or operations_in(GROUPS[0])
    return gr.update(choices=choices, value=choices[0][1])


def show_operation(operation_name: str, names: list[str]) -> list[Any]:
    """An operation was chosen (or set by an example): its group, its description, its controls."""
    operation = features.OPERATIONS.get(operation_name)
    used = {spec.name for spec in operation.params} if operation else set()
    group = operation.group if operation else GROUPS[0]
    return [
        gr.update(value=group),
        gr.update(choices=operations_in(group)),
        localized(operation.description) if operation else "",
        gr.update(visible=bool(operation and operation.needs_second_image)),
        *(gr.update(visible=name in used) for name in names),
    ]


# ------------------------------------------------------------------------------------------- result view
def show_view(view: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The card of the numbers and the chart (line or bar) of a result."""
    if not view:
        return "", charts.hidden(), charts.hidden()
    card = cards.feature_card(view["stats"])
    plot: PlotData | None = view.get("plot")
    return card, charts.chart_update(plot, "line"), charts.chart_update(plot, "bar")


def view_of(operation: str, result: features.FeatureResult) -> dict[str, Any]:
    return {"operation": operation, "stats": result.stats, "plot": result.plot}


#: Browser-side: the card and charts of the previous run are emptied the moment a new one starts.
CLEAR_VIEW = "() => ['', {__type__: 'update', visible: false}, {__type__: 'update', visible: false}]"


# ------------------------------------------------------------------------------------------------ layout
def build(settings: Settings) -> FeaturesPanel:
    """Lay out the panel inside the current Blocks context and wire its events."""
    run = make_run(settings)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            image, group, operation, description, second_image, run_button, controls = _inputs()
        with gr.Column(scale=3, min_width=280):
            result = gr.Image(
                label=t("Result"),
                alt_text=t("The operation's result"),
                format="png",
                interactive=False,
                elem_id="features-result",
                height=RESULT_HEIGHT,
            )
            notices = gr.Markdown(label=FEATURES_NOTICES_LABEL, elem_id="features-notices")
            sends = gr.Row(elem_id="features-send", elem_classes=["fusion-send"])
            card = gr.HTML(elem_id="features-card", padding=False)
            line = charts.line_chart(t("Chart"), elem_id="features-plot-line")
            bar = charts.bar_chart(t("Chart"), elem_id="features-plot-bar")
            with raw_data("features-raw"):
                stats = gr.JSON(label=t("Numbers"), elem_id="features-numbers")
    view = gr.State()
    view_outputs = [card, line, bar]
    _wire_picker(group, operation, description, second_image, controls)
    check_on_upload(settings, image)
    check_on_upload(settings, second_image, what="second image")
    run_button.click(None, None, view_outputs, js=CLEAR_VIEW, queue=False, api_visibility="private")
    event = run_button.click(
        run,
        inputs=[image, operation, second_image],
        inputs_kwargs=dict(controls),
        outputs=[result, stats, notices, view],
        api_name="features",
        preprocess=False,
    )
    event.then(show_view, view, view_outputs, api_visibility="private", show_progress="hidden")
    _examples(run, image, operation, [result, stats, notices], view_outputs)
    return FeaturesPanel(image=image, operation=operation, result=result, sends=sends)


def _inputs() -> tuple[Any, ...]:
    """The input column: picture, group and operation, what it does, Run, then the parameters (collapsed)."""
    first = features.OPERATIONS[next(iter(features.OPERATIONS))]
    image = gr.Image(
        label=t("Image"),
        type="filepath",
        sources=["upload", "clipboard", "webcam"],
        elem_id="features-image",
        height=IMAGE_HEIGHT,
    )
    with gr.Row(equal_height=True):
        group = gr.Dropdown(
            choices=[(t(name), name) for name in GROUPS],
            value=first.group,
            label=t("Group"),
            elem_id="features-group",
            scale=2,
            min_width=120,
        )
        operation = gr.Dropdown(
            choices=[(t(name), name) for name in features.OPERATIONS],
            value=first.name,
            label=t("Operation"),
            elem_id="features-operation",
            scale=3,
            min_width=150,
        )
    description = gr.Markdown(t(first.description), elem_id="features-description")
    second_image = gr.Image(
        label=t("Second image (matching; empty = a known warp of the first)"),
        type="filepath",
        visible=first.needs_second_image,
        elem_id="features-second-image",
        height=IMAGE_HEIGHT,
    )
    run_button = gr.Button(t("Run"), variant="primary", elem_id="features-run")
    with gr.Accordion(t("Parameters"), open=False, elem_id="features-parameters"):
        controls = {name: _control(spec, spec in first.params) for name, spec in all_params().items()}
    return image, group, operation, description, second_image, run_button, controls


def _wire_picker(group, operation, description, second_image, controls) -> None:
    # Raw values (preprocess=False): Gradio would check the operation against the choices the picker shows now,
    # and an example may set one of another group.
    private = {"api_visibility": "private", "queue": False, "preprocess": False}
    # The page opens on the first group's operations (the input's own choices stay all of them, for the API).
    gr.on(None, lambda: gr.update(choices=operations_in(GROUPS[0])), outputs=operation, **private)
    group.input(pick_group, group, operation, **private)
    operation.change(
        lambda name: show_operation(name, list(controls)),
        inputs=operation,
        outputs=[group, operation, description, second_image, *controls.values()],
        **private,
    )


def make_run(settings: Settings):
    @reports_errors
    def run(image: Any, operation: str, second_image: Any = None, **params: Any) -> tuple[Any, ...]:
        """Run one classical operation (Canny, ORB, HOG, LBP, colour histograms...) on an image.

        Returns the result picture, its numbers (counts, thresholds chosen, descriptor length...) and notices.
        """
        decoded = decode_upload(image, settings)
        notices = list(decoded.notices)
        second = None
        if second_image is not None:
            decoded_second = decode_upload(second_image, settings, what="second image")
            notices.extend(decoded_second.notices)
            second = decoded_second.pixels
        # Every control's value arrives with every call; the operation takes only its own.
        spec = features.OPERATIONS.get(operation)
        own = {name: params[name] for name in (p.name for p in spec.params) if name in params} if spec else {}
        result = features.run_operation(decoded.pixels, operation, second_image=second, **own)
        notices.extend(result.notices)
        return result_file(result.image), result.stats, notices_markdown(notices), view_of(operation, result)

    return run


def _examples(run, image, operation, outputs, view_outputs) -> None:
    """Compact example buttons below the result; their pictures and numbers are computed at start-up, their card
    and chart when clicked (in the visitor's language)."""

    def run_example(example_image: Any, example_operation: str) -> tuple[Any, ...]:
        return run(example_image, example_operation)[:3]

    shown = [(name, op) for name, op in EXAMPLES if op in features.OPERATIONS]
    examples = gr.Examples(
        examples=[[str(ASSETS / name), op] for name, op in shown],
        example_labels=[f"{op} · {Path(name).stem}" for name, op in shown],
        inputs=[image, operation],
        outputs=outputs,
        fn=run_example,
        cache_examples=True,
        cache_mode="eager",
        preprocess=False,
        api_visibility="private",
        label=t("Examples (cached: click one to see its result)"),
        elem_id="features-examples",
    )
    plain_example_table(examples)
    # The buttons name their operation in the visitor's language (Gradio shows example labels as sent).
    gr.on(
        None,
        lambda: gr.update(sample_labels=[f"{localized(op)} · {Path(name).stem}" for name, op in shown]),
        outputs=examples.dataset,
        api_visibility="private",
        queue=False,
    )

    def example_view(example_image: Any, example_operation: str) -> tuple[Any, ...]:
        return show_view(run(example_image, example_operation)[3])

    examples.cache_event.then(
        example_view, [image, operation], view_outputs, api_visibility="private", preprocess=False
    )
