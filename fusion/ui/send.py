"""Send-to wiring between panels: images and text travel between tabs (and the browser follows); no model runs.

A send-to button first asks the server whether there is something usable to send (a private, queued check: the
file gate and the image header, as an upload is checked), and says why not when there is not: nothing yet, or a
file that is not a picture. Only then does the copy happen, in the browser (``js=``, no server function): the
value that arrives in the other panel is the upload (or result) the page already holds, which that panel's events
pass through the file gate like any other.

Panels expose the components others need through their panel dataclasses; this module is the one place that
connects them, so no panel imports another.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from fusion import flows
from fusion.config import Settings
from fusion.ui import captioning as captioning_ui
from fusion.ui import classification as classification_ui
from fusion.ui import features as features_ui
from fusion.ui import flows as flows_ui
from fusion.ui import generation as generation_ui
from fusion.ui.common import user_error
from fusion.ui.i18n import t
from fusion.ui.uploads import problem

NOTHING_TO_SEND = "There is no image to send yet: upload or generate one first."
NO_CAPTION = "There is no caption to send yet: caption an image first."
#: JavaScript: the first picture of a gallery value (or ``null``).
FIRST_OF_GALLERY = "(gallery) => (gallery && gallery.length ? (gallery[0].image ?? gallery[0]) : null)"
IDENTITY = "(value) => value"
COPY = {"api_visibility": "private", "queue": False}
#: The check before a copy goes through the queue: only a queued event's ``gr.Error`` reaches the page as a message.
CHECK = {"api_visibility": "private", "concurrency_limit": None, "preprocess": False, "show_progress": "hidden"}


def _elem_id(panel: str, label: str) -> str:
    return "send-" + panel + "-" + "-".join(re.findall(r"[a-z0-9]+", label.lower()))


def _switch_to(tab: str) -> str:
    """JavaScript for a ``gr.Tabs`` output: select ``tab``."""
    return json.dumps({"__type__": "update", "selected": tab})


def _copy_js(tab: str, value: str = IDENTITY) -> str:
    """JavaScript returning ``value``'s result for the target, then the tab switch."""
    return f"(...inputs) => [({value})(...inputs), {_switch_to(tab)}]"


def first_of_gallery(value: Any) -> Any:
    """The first picture of a gallery value as the browser sends it (``None`` for an empty gallery)."""
    if not isinstance(value, list | tuple) or not value:
        return None
    first = value[0]
    if isinstance(first, dict) and "image" in first:
        return first["image"]
    return first[0] if isinstance(first, list | tuple) else first


def image_check(settings: Settings, *, gallery: bool = False) -> Callable[[Any], None]:
    """The check before an image is sent: something is there, and it is a picture this app reads."""

    def check_image_to_send(value: Any) -> None:
        upload = first_of_gallery(value) if gallery else value
        if upload is None:
            raise user_error(NOTHING_TO_SEND)
        message = problem(upload, settings)
        if message is not None:
            raise user_error(message)

    return check_image_to_send


def check_caption(text: Any) -> None:
    if not str(text or "").strip():
        raise user_error(NO_CAPTION)


def _send(
    button: gr.Button,
    check: Callable[[Any], None],
    source: Any,
    target: Any,
    tabs: gr.Tabs,
    tab: str,
    value: str = IDENTITY,
) -> Any:
    """Check, then copy (and switch tabs) in the browser; returns the copy, for steps that follow it."""
    return button.click(check, source, None, **CHECK).success(
        None, source, [target, tabs], js=_copy_js(tab, value), **COPY
    )


def send_between_panels(
    tabs: gr.Tabs,
    captioner: captioning_ui.CaptioningPanel,
    generator: generation_ui.GenerationPanel,
    classifier: classification_ui.ClassificationPanel,
) -> None:
    """Wire the send-to buttons: a caption becomes a prompt, suggested labels become the classifier's labels."""
    _send(captioner.use_as_prompt, check_caption, captioner.caption, generator.prompt, tabs, "generation")
    captioner.labels.change(None, captioner.labels, classifier.labels, js="(text) => text", **COPY)


@dataclass(frozen=True)
class SendButtons:
    """A row of send-to buttons under a panel, by (English) label; each has the elem_id ``send-<panel>-<label>``."""

    buttons: dict[str, gr.Button]

    @classmethod
    def row(cls, panel: str, *labels: str, into: gr.Row | None = None) -> SendButtons:
        """The buttons, in ``into`` (a panel's place for them, under its result) or a new row here."""
        with into if into is not None else gr.Row(elem_classes=["fusion-send"]):
            return cls({label: gr.Button(t(label), size="sm", elem_id=_elem_id(panel, label)) for label in labels})

    def __getitem__(self, label: str) -> gr.Button:
        return self.buttons[label]


@dataclass(frozen=True)
class Panels:
    features: features_ui.FeaturesPanel
    captioner: captioning_ui.CaptioningPanel
    generator: generation_ui.GenerationPanel
    classifier: classification_ui.ClassificationPanel
    fusion: flows_ui.FusionPanel


def send_across_fusion(tabs: gr.Tabs, panels: Panels, sends: dict[str, SendButtons], settings: Settings) -> None:
    """Images travel between panels (and the browser switches to the receiving tab); no model runs, except the
    report card a "Report card" button asks the Fusion tab for."""
    image_targets = {
        "Classify this": (panels.classifier.image, "classification"),
        "Caption this": (panels.captioner.image, "captioning"),
        "Use as img2img input": (panels.generator.init_image, "generation"),
    }
    features, fusion, generator = panels.features, panels.fusion, panels.generator
    check_image, check_gallery = image_check(settings), image_check(settings, gallery=True)
    edge_operations = json.dumps(list(flows.EDGE_OPERATIONS))
    sends["features"]["Edges → generate"].click(check_image, features.image, None, **CHECK).success(
        None,
        [features.image, features.operation],
        [fusion.image, fusion.operation, tabs],
        js=f"(image, operation) => [image, {edge_operations}.includes(operation) ? operation : "
        f"{json.dumps(flows.DEFAULT_EDGE_OPERATION)}, {_switch_to('fusion')}]",
        **COPY,
    )
    for label, button in sends["features"].buttons.items():
        if label in image_targets:
            target, tab = image_targets[label]
            _send(button, check_image, features.image, target, tabs, tab)
    for label, button in sends["generation"].buttons.items():
        if label in image_targets:
            target, tab = image_targets[label]
            _send(button, check_gallery, generator.gallery, target, tabs, tab, FIRST_OF_GALLERY)
    if "Report card" in sends["generation"].buttons:
        copy = (
            sends["generation"]["Report card"]
            .click(check_gallery, generator.gallery, None, **CHECK)
            .success(
                None,
                [generator.gallery, generator.prompt],
                [fusion.image, fusion.prompt, tabs],
                js=f"(gallery, prompt) => [({FIRST_OF_GALLERY})(gallery), prompt, {_switch_to('fusion')}]",
                **COPY,
            )
        )
        fusion.report_after(copy)
    for label, button in sends["fusion"].buttons.items():
        target, tab = image_targets[label]
        _send(button, check_image, fusion.result, target, tabs, tab)
    panels.captioner.use_as_prompt.click(None, panels.captioner.caption, fusion.prompt, js="(text) => text", **COPY)
