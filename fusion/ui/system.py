"""The System view: what the shared model cache holds (models, what is derived from them, the compiled packages),
and controls to evict and pin models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from fusion.config import Settings
from fusion.messages import Lines, Message
from fusion.ui.common import raw_data, reports_errors
from fusion.ui.i18n import localized, localized_table, t

COLUMNS = [
    "model",
    "key",
    "resident",
    "pinned",
    "in use",
    "loads",
    "hits",
    "evictions",
    "weights MB",
    "compiled MB",
    "derived MB",
    "total MB",
    "load s",
    "source",
]
DERIVED_COLUMNS = ["kind", "key", "made from", "in use", "MB"]
PACKAGE_COLUMNS = ["model", "component", "input shapes", "dtype", "MB", "state", "in use"]

#: What the view shows: the summary lines, the three tables and the raw ``/status``.
View = tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class SystemPanel:
    refresh: gr.Button
    #: Fills the view; app.py also runs it when a page loads.
    show: Callable[[], View]
    outputs: tuple[gr.components.Component, ...]


def megabytes(size: int) -> float:
    """Bytes as MB with two decimals: the tiny models and most derived objects weigh less than one."""
    return round(size / 1e6, 2)


def status_rows(status: dict[str, Any]) -> list[list[Any]]:
    """One table row per model from the ``/status`` JSON: its weights, what its load hook made it hold (compiled
    packages), what is derived from it, and the total that evicting it frees."""
    return [
        [
            model["title"],
            model["key"],
            model["resident"],
            model["pinned"],
            model["in_use"],
            model["loads"],
            model["hits"],
            model["evictions"],
            megabytes(model["bytes"] - model["held_bytes"]),
            megabytes(model["held_bytes"]),
            megabytes(model["derived_bytes"]),
            megabytes(model["total_bytes"]),
            model["load_seconds"],
            model["source"],
        ]
        for model in status["models"]
    ]


def derived_rows(status: dict[str, Any]) -> list[list[Any]]:
    """One row per object derived from models (a pipeline, a recorded CUDA graph): what it is, the models it was
    made from and goes with, and its own memory."""
    return [
        [item["kind"], item["key"], ", ".join(item["models"]), item["in_use"], megabytes(item["bytes"])]
        for item in status["derived"]
    ]


def package_rows(status: dict[str, Any]) -> list[list[Any]]:
    """One row per compiled package on disk: what it serves, its size, whether it fits here, whether it runs."""
    return [
        [
            package["model"],
            package["component"],
            package["inputs"],
            package["dtype"],
            megabytes(package["bytes"]),
            Message("stale: {reason}", reason=package["stale"]) if package["stale"] else "ready",
            package["attached"],
        ]
        for package in status["compiled"]["packages"]
    ]


def summary_lines(status: dict[str, Any]) -> list[Message]:
    """Device, dtype, models and memory; and, where they have them, that text decoders run with int8 weights."""
    lines = [summary_markdown(status)]
    if status["int8_text_decoders"]:
        lines.append(
            Message(
                "**Text decoders**: int8 weights for captions and answers on this CPU (`FUSION_INT8_DECODERS=0` "
                "switches them off)."
            )
        )
    return lines


def summary_markdown(status: dict[str, Any]) -> Message:
    return Message(
        "**Device** `{device}` · **dtype** `{dtype}` · **models** `{models}` · **memory** {used:.2f} GB of a "
        "{budget:.2f} GB budget",
        device=status["device"],
        dtype=status["dtype"],
        models=status["models_source"],
        used=status["used_bytes"] / 1e9,
        budget=status["budget_bytes"] / 1e9,
    )


def compiled_markdown(compiled: dict[str, Any]) -> Message:
    """One line on the ahead-of-time compiled packages: how many, how many fit and run, and how to build them."""
    packages = compiled["packages"]
    if compiled["mode"] == "off":
        return Message("**Compiled packages**: switched off on this server ({count} on disk).", count=len(packages))
    if not packages:
        return Message(
            "**Compiled packages**: none for this machine yet; `{command}` builds them.", command=compiled["command"]
        )
    return Message(
        "**Compiled packages**: {count} on disk, {stale} stale, {attached} in use; `{command}` builds more.",
        count=len(packages),
        stale=sum(bool(package["stale"]) for package in packages),
        attached=sum(package["attached"] for package in packages),
        command=compiled["command"],
    )


def build(
    settings: Settings,
    *,
    status_fn: Callable[[], dict[str, Any]],
    evict_fn: Callable[[str], bool],
    evict_unused_fn: Callable[[], int],
    pin_fn: Callable[[str], None],
    unpin_fn: Callable[[str], None],
    model_keys: Sequence[str],
) -> SystemPanel:
    """Lay out the System view; ``status`` is public, the controls are private helper events."""

    def status() -> dict:
        """Device, dtype, memory budget and use, per-model cache statistics (loads, hits, evictions, bytes), the
        objects derived from models, and the ahead-of-time compiled packages."""
        return status_fn()

    def show() -> View:
        current = status_fn()
        models = [[localized(title), *cells] for title, *cells in status_rows(current)]
        derived = [[localized(kind), *cells] for kind, *cells in derived_rows(current)]
        packages = [[*cells, localized(state), attached] for *cells, state, attached in package_rows(current)]
        return (
            localized(Lines([*summary_lines(current), compiled_markdown(current["compiled"])])),
            localized_table(COLUMNS, models),
            localized_table(DERIVED_COLUMNS, derived),
            localized_table(PACKAGE_COLUMNS, packages),
            current,
        )

    @reports_errors
    def act(action: str, key: str | None) -> View:
        if action == "evict unused":
            evict_unused_fn()
        elif not key:
            raise ValueError("Pick a model first.")
        elif action == "evict" and not evict_fn(key):
            gr.Info(localized(Message("{key} is not resident or is in use right now; nothing was evicted.", key=key)))
        elif action == "pin":
            pin_fn(key)
        elif action == "unpin":
            unpin_fn(key)
        return show()

    outputs, key, buttons, refresh = _layout(model_keys)
    refresh.click(show, outputs=outputs, api_visibility="private", queue=False)
    gr.Timer(5.0).tick(show, outputs=outputs, api_visibility="private", queue=False, show_progress="hidden")
    gr.api(status, api_name="status")
    for action, button in buttons.items():
        button.click(
            lambda chosen, action=action: act(action, chosen),
            inputs=key,
            outputs=outputs,
            api_visibility="private",
        )
    return SystemPanel(refresh=refresh, show=show, outputs=tuple(outputs))


def _layout(model_keys: Sequence[str]) -> tuple[list[Any], gr.Dropdown, dict[str, gr.Button], gr.Button]:
    """The summary lines, the models (one line per cell: headers stay whole words, a long source path scrolls
    inside the table rather than the page), the model picker and its actions in one compact row, then, collapsed,
    the derived objects with the compiled packages, and the raw ``/status``: the tab fits a 1400x900 window."""
    summary = gr.Markdown(line_breaks=True, elem_id="system-summary")
    table = gr.Dataframe(
        headers=COLUMNS,
        label=t("Models"),
        show_label=False,
        buttons=[],
        interactive=False,
        wrap=False,
        pinned_columns=1,
        elem_id="system-table",
    )
    with gr.Row(equal_height=False, elem_classes=["fusion-controls"]):
        key = gr.Dropdown(
            choices=list(model_keys), label=t("Model"), show_label=False, container=False, scale=2, min_width=180
        )
        buttons = {
            "evict": gr.Button(t("Evict"), size="md", min_width=90),
            "pin": gr.Button(t("Pin"), size="md", min_width=90),
            "unpin": gr.Button(t("Unpin"), size="md", min_width=90),
            "evict unused": gr.Button(t("Evict all unused"), size="md", min_width=140),
        }
        refresh = gr.Button(t("Refresh"), variant="primary", size="md", elem_id="system-refresh", min_width=90)
    with gr.Row(equal_height=False):
        more = t("Derived objects and compiled packages")
        with gr.Column(scale=3), gr.Accordion(more, open=False, elem_id="system-more"):
            derived = _table(DERIVED_COLUMNS, t("Derived objects"), "system-derived")
            packages = _table(PACKAGE_COLUMNS, t("Compiled packages"), "system-packages")
        with gr.Column(scale=1, min_width=200), raw_data("system-raw"):
            raw = gr.JSON(label=t("What /status returns"))
    return [summary, table, derived, packages, raw], key, buttons, refresh


def _table(headers: list[str], label: Any, elem_id: str) -> gr.Dataframe:
    return gr.Dataframe(headers=headers, label=label, buttons=[], interactive=False, wrap=False, elem_id=elem_id)
