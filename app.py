"""fusion: classical image processing and multimodal models working together.

The composition root, and the only module that sees both the UI and the models: settings -> cache -> panels ->
Blocks -> launch. Importing it builds nothing and loads no model.
"""

from __future__ import annotations

from fusion import gpu  # noqa: F401  (first: on ZeroGPU `spaces` must be imported before torch)

# isort: split
from functools import partial
from typing import Any

import gradio as gr

from fusion import captioning, generation
from fusion.cache import ModelCache, get_cache
from fusion.classification import evaluation, hybrid, zeroshot
from fusion.config import Settings, get_settings
from fusion.ui import captioning as captioning_ui
from fusion.ui import classification as classification_ui
from fusion.ui import features as features_ui
from fusion.ui import generation as generation_ui
from fusion.ui import system as system_ui
from fusion.ui.common import model_banner

TITLE = "fusion: classical vision meets multimodal models"
INTRO = (
    "Classical features (OpenCV, scikit-image) and large multimodal models (CLIP, BLIP, Stable Diffusion) in one "
    "place, feeding each other. Every panel is also an API endpoint: see *Use via API* at the bottom of the page."
)


def build_demo(settings: Settings | None = None, cache: ModelCache | None = None) -> gr.Blocks:
    """Build the whole app: every panel wired to the one shared model cache."""
    settings = settings or get_settings()
    cache = cache or get_cache()
    if settings.preload:
        cache.preload(settings.preload)
    with gr.Blocks(title="fusion") as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        model_banner(settings)
        with gr.Tabs() as tabs:
            with gr.Tab("Classical features", id="features"):
                features_ui.build(settings)
            with gr.Tab("Captioning", id="captioning"):
                captioner = captioning_ui.build(
                    settings,
                    caption_fn=partial(captioning.caption, cache=cache),
                    answer_fn=partial(captioning.answer, cache=cache),
                    suggest_labels_fn=captioning.suggest_labels,
                )
            with gr.Tab("Text to image", id="generation"):
                generator = generation_ui.build(settings, generate_fn=partial(generation.generate_stream, cache=cache))
            with gr.Tab("Classification", id="classification"):
                classifier = classification_ui.build(
                    settings,
                    classify_fn=partial(zeroshot.zero_shot, cache=cache),
                    explain_fn=partial(hybrid.explain, cache=cache),
                    zero_shot_head_fn=partial(hybrid.zero_shot_head, cache=cache),
                    train_fn=partial(hybrid.train_head, cache=cache),
                    ablation_fn=partial(evaluation.cross_validate, cache=cache),
                )
            with gr.Tab("System", id="system") as system_tab:
                system = system_ui.build(
                    settings,
                    status_fn=lambda: cache.stats().to_dict(),
                    evict_fn=cache.evict,
                    evict_unused_fn=cache.evict_unused,
                    pin_fn=cache.pin,
                    unpin_fn=cache.unpin,
                    model_keys=list(cache.registry),
                )
        send_between_panels(tabs, captioner, generator, classifier)
        for trigger in (demo.load, system_tab.select):
            trigger(system.show, outputs=list(system.outputs), api_visibility="private", queue=False)
    demo.queue(
        api_open=False,
        max_size=settings.queue_max_size,
        default_concurrency_limit=settings.cpu_concurrency,
    )
    return demo


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


def launch_options(settings: Settings) -> dict[str, Any]:
    """Launch settings that keep a public or local server tight (see README, Security)."""
    return {
        "server_name": settings.server_name,
        "server_port": settings.server_port,
        "max_file_size": settings.max_file_size,
        "ssr_mode": False,
        "enable_monitoring": False,
        "run_history": False,
        "show_error": False,
        "theme": gr.themes.Soft(),
    }


if __name__ == "__main__":
    current = get_settings()
    build_demo(current).launch(**launch_options(current))
