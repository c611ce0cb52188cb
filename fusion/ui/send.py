"""Send-to wiring between panels: images and text travel between tabs (and the browser follows); no model runs.

The copies happen in the browser (``js=``, no server function): a send-to button makes no request that could
name a server file, and the value that arrives in the other panel is the upload (or result) the page already
holds, which that panel's events pass through the file gate like any other. A private follow-up step says so
when there was nothing to send.

Panels expose the components others need through their panel dataclasses; this module is the one place that
connects them, so no panel imports another.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr

from fusion import flows
from fusion.ui import captioning as captioning_ui
from fusion.ui import classification as classification_ui
from fusion.ui import features as features_ui
from fusion.ui import flows as flows_ui
from fusion.ui import generation as generation_ui
from fusion.ui.common import user_error
from fusion.ui.i18n import t

NOTHING_TO_SEND = "There is no image to send yet: upload or generate one first."
#: JavaScript: the first picture of a gallery value (or ``null``).
FIRST_OF_GALLERY = "(gallery) => (gallery && gallery.length ? (gallery[0].image ?? gallery[0]) : null)"
IDENTITY = "(value) => value"
COPY = {"api_visibility": "private", "queue": False}
#: The check after a copy goes through the queue: only a queued event's ``gr.Error`` reaches the page as a message.
CHECK = {"api_visibility": "private", "concurrency_limit": None}


def _elem_id(panel: str, label: str) -> str:
    return "send-" + panel + "-" + "-".join(re.findall(r"[a-z0-9]+", label.lower()))


def _switch_to(tab: str) -> str:
    """JavaScript for a ``gr.Tabs`` output: select ``tab``."""
    return json.dumps({"__type__": "update", "selected": tab})


def _copy_js(tab: str, value: str = IDENTITY) -> str:
    """JavaScript returning ``value``'s result for the target, then the tab switch."""
    return f"(...inputs) => [({value})(...inputs), {_switch_to(tab)}]"


def _require_sent(value: Any) -> None:
    """After a copy: an error when nothing arrived (the raw value is only looked at, never read as a file)."""
    if value is None:
        raise user_error(NOTHING_TO_SEND)


def _send(button: gr.Button, source: Any, target: Any, tabs: gr.Tabs, tab: str, value: str = IDENTITY) -> None:
    button.click(None, source, [target, tabs], js=_copy_js(tab, value), **COPY).then(
        _require_sent, target, None, preprocess=False, **CHECK
    )


def send_between_panels(
    tabs: gr.Tabs,
    captioner: captioning_ui.CaptioningPanel,
    generator: generation_ui.GenerationPanel,
    classifier: classification_ui.ClassificationPanel,
) -> None:
    """Wire the send-to buttons: a caption becomes a prompt, suggested labels become the classifier's labels."""
    captioner.use_as_prompt.click(None, captioner.caption, [generator.prompt, tabs], js=_copy_js("generation"), **COPY)
    captioner.labels.change(None, captioner.labels, classifier.labels, js="(text) => text", **COPY)


@dataclass(frozen=True)
class SendButtons:
    """A row of send-to buttons under a panel, by (English) label; each has the elem_id ``send-<panel>-<label>``."""

    buttons: dict[str, gr.Button]

    @classmethod
    def row(cls, panel: str, *labels: str) -> SendButtons:
        with gr.Row():
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


def send_across_fusion(tabs: gr.Tabs, panels: Panels, sends: dict[str, SendButtons]) -> None:
    """Images travel between panels (and the browser switches to the receiving tab); no model runs."""
    image_targets = {
        "Classify this": (panels.classifier.image, "classification"),
        "Caption this": (panels.captioner.image, "captioning"),
        "Use as img2img input": (panels.generator.init_image, "generation"),
        "Report card": (panels.fusion.image, "fusion"),
    }
    features, fusion = panels.features, panels.fusion
    edge_operations = json.dumps(list(flows.EDGE_OPERATIONS))
    sends["features"]["Edges → generate"].click(
        None,
        [features.image, features.operation],
        [fusion.image, fusion.operation, tabs],
        js=f"(image, operation) => [image, {edge_operations}.includes(operation) ? operation : "
        f"{json.dumps(flows.DEFAULT_EDGE_OPERATION)}, {_switch_to('fusion')}]",
        **COPY,
    ).then(_require_sent, fusion.image, None, preprocess=False, **CHECK)
    for label, button in sends["features"].buttons.items():
        if label in image_targets:
            target, tab = image_targets[label]
            _send(button, features.image, target, tabs, tab)
    for label, button in sends["generation"].buttons.items():
        target, tab = image_targets[label]
        _send(button, panels.generator.gallery, target, tabs, tab, FIRST_OF_GALLERY)
    for label, button in sends["fusion"].buttons.items():
        target, tab = image_targets[label]
        _send(button, fusion.result, target, tabs, tab)
    panels.captioner.use_as_prompt.click(None, panels.captioner.caption, fusion.prompt, js="(text) => text", **COPY)
