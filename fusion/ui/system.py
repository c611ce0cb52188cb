"""The System view: what the shared model cache holds, and controls to evict and pin models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from fusion.config import Settings
from fusion.ui.common import reports_errors
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
    "MB",
    "load s",
    "source",
]


@dataclass(frozen=True)
class SystemPanel:
    refresh: gr.Button
    #: Fills the view; app.py also runs it when a page loads.
    show: Callable[[], tuple[str, list[list[Any]], dict[str, Any]]]
    outputs: tuple[gr.components.Component, ...]


def status_rows(status: dict[str, Any]) -> list[list[Any]]:
    """One table row per model from the ``/status`` JSON."""
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
            round(model["bytes"] / 1e6, 1),
            model["load_seconds"],
            model["source"],
        ]
        for model in status["models"]
    ]


def summary_markdown(status: dict[str, Any]) -> str:
    used, budget = status["used_bytes"] / 1e9, status["budget_bytes"] / 1e9
    return (
        f"**Device** `{status['device']}` · **dtype** `{status['dtype']}` · **models** `{status['models_source']}` · "
        f"**memory** {used:.2f} GB of a {budget:.2f} GB budget"
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
        """Device, dtype, memory budget and use, and per-model cache statistics (loads, hits, evictions, bytes)."""
        return status_fn()

    def show() -> tuple[str, list[list[Any]], dict[str, Any]]:
        current = status_fn()
        rows = [[localized(title), *cells] for title, *cells in status_rows(current)]
        return localized(summary_markdown(current)), localized_table(COLUMNS, rows), current

    @reports_errors
    def act(action: str, key: str | None) -> tuple[str, list[list[Any]], dict[str, Any]]:
        if action == "evict unused":
            evict_unused_fn()
        elif not key:
            raise ValueError("Pick a model first.")
        elif action == "evict" and not evict_fn(key):
            gr.Info(localized(f"{key} is not resident or is in use right now; nothing was evicted."))
        elif action == "pin":
            pin_fn(key)
        elif action == "unpin":
            unpin_fn(key)
        return show()

    summary, table, raw, key, buttons, refresh = _layout(model_keys)
    outputs = [summary, table, raw]
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


def _layout(model_keys: Sequence[str]) -> tuple[Any, ...]:
    """The summary line, the table (one line per cell: headers stay whole words, a long source path scrolls
    inside the table rather than the page), then the model picker and its actions in one compact row."""
    summary = gr.Markdown(elem_id="system-summary")
    table = gr.Dataframe(
        headers=COLUMNS,
        label=t("Models"),
        interactive=False,
        wrap=False,
        pinned_columns=1,
        elem_id="system-table",
    )
    with gr.Row(equal_height=False, elem_classes=["fusion-controls"]):
        key = gr.Dropdown(choices=list(model_keys), label=t("Model"), scale=2, min_width=180)
        buttons = {
            "evict": gr.Button(t("Evict"), size="md", min_width=90),
            "pin": gr.Button(t("Pin"), size="md", min_width=90),
            "unpin": gr.Button(t("Unpin"), size="md", min_width=90),
            "evict unused": gr.Button(t("Evict all unused"), size="md", min_width=140),
        }
        refresh = gr.Button(t("Refresh"), variant="primary", size="md", elem_id="system-refresh", min_width=90)
    raw = gr.JSON(label="/status JSON", visible=False)
    return summary, table, raw, key, buttons, refresh
