"""The classical-features panel: one operation picker, the parameters that operation uses, picture + numbers + plot.

Controls are generated from the operations' ``ParamSpec``s, so adding an operation to :mod:`fusion.features` adds
its controls and API parameters here without touching this file. The plot is rendered by a chained private event,
so API clients of ``/features`` get the picture and numbers without paying for matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from fusion import features, plots
from fusion.charts import PlotData
from fusion.config import Settings
from fusion.i18n import plain_example_table, t
from fusion.ui.common import decode_upload, notices_markdown, reports_errors
from fusion.ui.files import result_file

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLES = (
    ("chelsea.png", "Canny edges"),
    ("astronaut.png", "ORB keypoints"),
    ("coffee.png", "Dominant colours"),
    ("rocket.png", "HOG"),
    ("brick.png", "LBP texture"),
    ("camera.png", "Contours"),
)


@dataclass(frozen=True)
class FeaturesPanel:
    """Components other panels wire to (edge maps to generation, images to classification)."""

    image: gr.Image
    operation: gr.Dropdown
    result: gr.Image


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


def _visibility(operation_name: str, names: list[str]) -> list[Any]:
    operation = features.OPERATIONS.get(operation_name)
    used = {spec.name for spec in operation.params} if operation else set()
    second = gr.update(visible=bool(operation and operation.needs_second_image))
    return [second, *(gr.update(visible=name in used) for name in names)]


def build(settings: Settings) -> FeaturesPanel:
    """Lay out the panel inside the current Blocks context and wire its events."""
    operation_names = list(features.OPERATIONS)
    first = features.OPERATIONS[operation_names[0]]
    specs = all_params()

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
        return result_file(result.image), result.stats, notices_markdown(notices), result.plot

    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(
                label=t("Image"),
                type="filepath",
                sources=["upload", "clipboard", "webcam"],
                elem_id="features-image",
            )
            operation = gr.Dropdown(
                choices=[(t(name), name) for name in operation_names],
                value=operation_names[0],
                label=t("Operation"),
                elem_id="features-operation",
                info=t("Grouped: " + ", ".join(dict.fromkeys(op.group for op in features.OPERATIONS.values()))),
            )
            second_image = gr.Image(
                label=t("Second image (matching; empty = a known warp of the first)"),
                type="filepath",
                visible=first.needs_second_image,
            )
            run_button = gr.Button(t("Run"), variant="primary", elem_id="features-run")
            with gr.Accordion(t("Parameters"), open=True):
                controls = {name: _control(spec, spec in first.params) for name, spec in specs.items()}
        with gr.Column(scale=1):
            result = gr.Image(label=t("Result"), format="png", interactive=False, elem_id="features-result")
            notices = gr.Markdown(elem_id="features-notices")
            stats = gr.JSON(label=t("Numbers"))
            plot = gr.Plot(label=t("Plot"), elem_id="features-plot", visible=False)
    plot_data = gr.State()

    operation.change(
        lambda name: _visibility(name, list(controls)),
        inputs=operation,
        outputs=[second_image, *controls.values()],
        api_visibility="private",
        queue=False,
    )
    inputs_kwargs: Mapping[str, gr.components.Component] = controls
    event = run_button.click(
        run,
        inputs=[image, operation, second_image],
        inputs_kwargs=dict(inputs_kwargs),
        outputs=[result, stats, notices, plot_data],
        api_name="features",
        preprocess=False,
    )
    event.then(_render_plot, inputs=plot_data, outputs=plot, api_visibility="private")

    def run_example(image: Any, operation: str) -> tuple[Any, ...]:
        picture, numbers, notes, data = run(image, operation)
        return picture, numbers, notes, _render_plot(data)

    examples = gr.Examples(
        examples=[[str(ASSETS / name), op] for name, op in EXAMPLES if op in features.OPERATIONS],
        inputs=[image, operation],
        outputs=[result, stats, notices, plot],
        fn=run_example,
        cache_examples=True,
        cache_mode="eager",
        preprocess=False,
        api_visibility="private",
        label=t("Examples (cached: click one to see its result)"),
    )
    plain_example_table(examples)
    return FeaturesPanel(image=image, operation=operation, result=result)


def _render_plot(data: PlotData | None) -> Any:
    """The operation's plot, or a hidden empty plot for operations that have none."""
    if data is None:
        return gr.update(value=None, visible=False)
    return gr.update(value=plots.plot(data), visible=True)
