"""Send-to wiring between panels: images and text travel between tabs (and the browser follows); no model runs.

Panels expose the components others need through their panel dataclasses; this module is the one place that
connects them, so no panel imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from fusion import flows
from fusion.i18n import t
from fusion.ui import captioning as captioning_ui
from fusion.ui import classification as classification_ui
from fusion.ui import features as features_ui
from fusion.ui import flows as flows_ui
from fusion.ui import generation as generation_ui


def send_between_panels(
    tabs: gr.Tabs,
    captioner: captioning_ui.CaptioningPanel,
    generator: generation_ui.GenerationPanel,
    classifier: classification_ui.ClassificationPanel,
) -> None:
    """Wire the send-to buttons: a caption becomes a prompt, suggested labels become the classifier's labels."""
    copy = {"api_visibility": "private", "queue": False}
    captioner.use_as_prompt.click(
        lambda text: (text, gr.Tabs(selected="generation")), captioner.caption, [generator.prompt, tabs], **copy
    )
    captioner.labels.change(lambda text: text, captioner.labels, classifier.labels, **copy)


@dataclass(frozen=True)
class SendButtons:
    """A row of send-to buttons under a panel, by (English) label."""

    buttons: dict[str, gr.Button]

    @classmethod
    def row(cls, *labels: str) -> SendButtons:
        with gr.Row():
            return cls({label: gr.Button(t(label), size="sm") for label in labels})

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
    copy = {"api_visibility": "private", "queue": False}

    def to(tab: str) -> Callable[[Any], tuple[Any, gr.Tabs]]:
        return lambda value: (value, gr.Tabs(selected=tab))

    def gallery_to(tab: str) -> Callable[[Any], tuple[Any, gr.Tabs]]:
        return lambda gallery: (flows_ui.first_image(gallery), gr.Tabs(selected=tab))

    image_targets = {
        "Classify this": (panels.classifier.image, "classification"),
        "Caption this": (panels.captioner.image, "captioning"),
        "Use as img2img input": (panels.generator.init_image, "generation"),
        "Report card": (panels.fusion.image, "fusion"),
    }
    features, fusion = panels.features, panels.fusion
    sends["features"]["Edges → generate"].click(
        lambda image, operation: (
            image,
            operation if operation in flows.EDGE_OPERATIONS else flows.DEFAULT_EDGE_OPERATION,
            gr.Tabs(selected="fusion"),
        ),
        [features.image, features.operation],
        [fusion.image, fusion.operation, tabs],
        **copy,
    )
    for label, button in sends["features"].buttons.items():
        if label in image_targets:
            target, tab = image_targets[label]
            button.click(to(tab), features.image, [target, tabs], **copy)
    for label, button in sends["generation"].buttons.items():
        target, tab = image_targets[label]
        button.click(gallery_to(tab), panels.generator.gallery, [target, tabs], **copy)
    for label, button in sends["fusion"].buttons.items():
        target, tab = image_targets[label]
        button.click(to(tab), fusion.result, [target, tabs], **copy)
    panels.captioner.use_as_prompt.click(lambda text: text, panels.captioner.caption, fusion.prompt, **copy)
