# ruff: noqa: E402  (imports follow the naming of the temporary folder, which Gradio reads when imported)
"""fusion: classical image processing and multimodal models working together.

The composition root, and the only module that sees both the UI and the models: settings -> cache -> panels ->
Blocks -> launch. Importing it builds nothing and loads no model; it only names Gradio's temporary folder.
"""

from __future__ import annotations

from fusion import housekeeping

#: The app's own Gradio temporary folder, swept below; named before Gradio is imported, which reads it then.
OWN_TEMP_DIR = housekeeping.claim_temp_dir()

# isort: split
from fusion import gpu  # noqa: F401  (on ZeroGPU `spaces` must be imported before torch)

# isort: split
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
from huggingface_hub import constants as hf_constants
from starlette.middleware import Middleware

from fusion import captioning, download, flows, generation, images, precompile, quantization
from fusion.allocator import fix_mmap_threshold
from fusion.cache import ModelCache, get_cache
from fusion.classification import evaluation, hybrid, zeroshot
from fusion.config import Settings, get_settings
from fusion.registry import REGISTRY
from fusion.ui import captioning as captioning_ui
from fusion.ui import classification as classification_ui
from fusion.ui import features as features_ui
from fusion.ui import flows as flows_ui
from fusion.ui import generation as generation_ui
from fusion.ui import system as system_ui
from fusion.ui.admission import Door
from fusion.ui.common import model_banner
from fusion.ui.http import Hardening
from fusion.ui.i18n import I18N, english_api_labels, t
from fusion.ui.mcp import name_tools_after_endpoints, tolerate_stripped_state_outputs
from fusion.ui.send import Panels, SendButtons, send_across_fusion, send_between_panels
from fusion.ui.style import CSS, theme

log = logging.getLogger("fusion")
TITLE = "fusion: classical vision meets multimodal models"
TITLE_MARKDOWN = f"# {TITLE}"
INTRO = (
    "Classical features (OpenCV, scikit-image) and large multimodal models (CLIP, BLIP, Stable Diffusion) in one "
    "place, feeding each other. Every panel is also an API endpoint: see *Use via API* at the bottom of the page."
)
#: Gradio's ``delete_cache`` (every 10 minutes, files older than an hour), also the schedule of the app's own sweep.
DELETE_CACHE = (600, 3600)


def build_demo(settings: Settings | None = None, cache: ModelCache | None = None) -> gr.Blocks:
    """Build the whole app: every panel wired to the one shared model cache."""
    settings = settings or get_settings()
    cache = cache or get_cache()
    if settings.ignored_variables:
        log.warning(
            "FUSION_MODELS=tiny replaces every model with a random-weight stand-in, so %s %s ignored.",
            ", ".join(settings.ignored_variables),
            "is" if len(settings.ignored_variables) == 1 else "are",
        )
    if settings.preload:
        cache.preload(settings.preload)
    if settings.zero_gpu or settings.aot == "build":
        # Ahead-of-time packages for the resident models, compiled if missing (FUSION_AOT=build, ZeroGPU's default,
        # there in one GPU call: just-in-time compilation does not survive ZeroGPU's short-lived workers).
        precompile.build_at_startup(cache)
    images.DECODE_BUDGET.set_total(2 * settings.decode_memory)
    # Every 10 minutes, delete the uploads and results this app wrote over an hour ago (all of them at shutdown);
    # without it Gradio's temporary folder only grows. A sweep over 10,000 files takes about 0.14 s.
    with gr.Blocks(title="fusion", delete_cache=DELETE_CACHE) as demo:
        _header(settings)
        with gr.Tabs() as tabs:
            panels, sends = _panels(settings, cache)
        send_between_panels(tabs, panels.captioner, panels.generator, panels.classifier)
        send_across_fusion(tabs, panels, sends, settings)
    name_tools_after_endpoints(demo)
    english_api_labels(demo)
    if settings.mcp_server:
        tolerate_stripped_state_outputs()
    # Gradio's own size limit counts both lanes together; the door (fusion/ui/admission.py) keeps each lane's.
    demo.queue(
        api_open=False,
        max_size=2 * settings.queue_max_size,
        default_concurrency_limit=settings.cpu_concurrency,
    )
    Door.for_settings(settings).install(demo)
    return demo


def _header(settings: Settings) -> None:
    """Title, one line of introduction (left out on a phone), and a banner when the models are not the real ones
    (tiny mode) or not all downloaded yet (found in the local cache, without any network call)."""
    gr.Markdown(t(TITLE_MARKDOWN), elem_id="fusion-title")
    gr.Markdown(t(INTRO), elem_id="fusion-intro")
    missing = []
    if settings.models == "hub":
        missing = download.missing_from_cache(settings, download.app_keys(ask=settings.ask))
    names = [f"{REGISTRY[key].title} (`{settings.model_id(key)}`)" for key in missing]
    model_banner(settings, names, offline=hf_constants.HF_HUB_OFFLINE)


def _panels(settings: Settings, cache: ModelCache) -> tuple[Panels, dict[str, SendButtons]]:
    """Every tab, each with its panel; send-to buttons go where each panel keeps a place for them."""
    with gr.Tab(t("Classical features"), id="features"):
        featurer = features_ui.build(settings)
        features_sends = SendButtons.row(
            "features", "Edges → generate", "Classify this", "Caption this", "Use as img2img input",
            into=featurer.sends,
        )
    with gr.Tab(t("Captioning"), id="captioning"):
        captioner = captioning_ui.build(
            settings,
            caption_fn=partial(captioning.caption, cache=cache),
            answer_fn=partial(captioning.answer, cache=cache),
            suggest_labels_fn=captioning.suggest_labels,
        )
    with gr.Tab(t("Text to image"), id="generation"):
        generator = generation_ui.build(
            settings,
            generate_fn=partial(generation.generate_stream, cache=cache),
            enhance_fn=prompt_enhancer(cache) if settings.ask else None,
        )
        generation_sends = SendButtons.row(
            "generation", "Classify this", "Caption this", "Report card", into=generator.sends
        )
    with gr.Tab(t("Classification"), id="classification"):
        classifier = classification_ui.build(
            settings,
            classify_fn=partial(zeroshot.zero_shot, cache=cache),
            explain_fn=partial(hybrid.explain, cache=cache),
            zero_shot_head_fn=partial(hybrid.zero_shot_head, cache=cache),
            train_fn=partial(hybrid.train_head, cache=cache),
            ablation_fn=partial(evaluation.cross_validate, cache=cache),
        )
    with gr.Tab(t("Fusion"), id="fusion"):
        fusion = flows_ui.build(
            settings,
            edges_fn=partial(flows.edges_to_image, cache=cache),
            reimagine_fn=partial(flows.reimagine, cache=cache),
            report_fn=partial(flows.report_card, cache=cache),
            caption_fn=partial(captioning.caption, cache=cache),
            summary_fn=report_summariser(cache) if settings.ask else None,
        )
        fusion_sends = SendButtons.row(
            "fusion", "Use as img2img input", "Classify this", "Caption this", into=fusion.sends
        )
    if settings.ask:
        with gr.Tab(t("Ask"), id="ask"):
            build_ask_tab(settings, cache)
    with gr.Tab(t("System"), id="system") as system_tab:
        system = system_ui.build(
            settings,
            status_fn=partial(system_status, cache),
            evict_fn=cache.evict,
            evict_unused_fn=cache.evict_unused,
            pin_fn=cache.pin,
            unpin_fn=cache.unpin,
            model_keys=list(cache.registry),
        )
    gr.on([system_tab.select], system.show, outputs=list(system.outputs), api_visibility="private", queue=False)
    gr.on(None, system.show, outputs=list(system.outputs), api_visibility="private", queue=False)  # page load
    panels = Panels(featurer, captioner, generator, classifier, fusion)
    return panels, {"features": features_sends, "generation": generation_sends, "fusion": fusion_sends}


def system_status(cache: ModelCache) -> dict[str, Any]:
    """What ``/status`` returns: the cache's statistics, whether text decoders run with int8 weights here, and the
    ahead-of-time compiled packages on disk."""
    int8 = quantization.int8_decoders_active(cache.settings, cache.device, cache.dtype)
    return {**cache.stats().to_dict(), "int8_text_decoders": int8, "compiled": precompile.status(cache)}


def prompt_enhancer(cache: ModelCache) -> Callable[[str], str]:
    """The Ask model's prompt expansion, bound to the cache (imported only when Ask is on)."""
    from fusion.agent.writing import enhance_prompt

    return partial(enhance_prompt, cache=cache)


def report_summariser(cache: ModelCache) -> Callable[[Any, str], str]:
    """The Ask model's plain-language report summary, bound to the cache (imported only when Ask is on)."""
    from fusion.agent.writing import summarise_report

    return partial(summarise_report, cache=cache)


def build_ask_tab(settings: Settings, cache: ModelCache) -> None:
    """The Ask tab, imported only when it is on: its planner brings transformers and xgrammar with it."""
    from fusion.agent.loop import AskOptions, ask
    from fusion.agent.tools import build_tools
    from fusion.ui import ask as ask_ui

    options = AskOptions(tool_choice=settings.ask_tool_choice)
    ask_ui.build(settings, ask_fn=partial(ask, tools=build_tools(cache), cache=cache, options=options))


def launch_options(settings: Settings, space: housekeeping.TempSpace | None = None) -> dict[str, Any]:
    """Launch settings that keep a public or local server tight (see README, "What a public Space exposes");
    ``space`` is the temporary folder's measured size, when a sweeper measures it."""
    return {
        "server_name": settings.server_name,
        "server_port": settings.server_port,
        "max_file_size": settings.max_file_size,
        "ssr_mode": False,
        "enable_monitoring": False,
        "run_history": False,
        "show_error": False,
        # Gradio keeps each session's state (~0.4 MB here, benchmarks/results/load.md) until this many newer
        # sessions exist; its default of 10,000 would allow ~4 GB.
        "state_session_capacity": 1000,
        # Soft, with readable contrast; the cards, the send-to rows and the phone layout (fusion/ui/style.py).
        "theme": theme(),
        "css": CSS,
        "mcp_server": settings.mcp_server,
        # English and every language of fusion/ui/locales/, as the browser prefers (fusion/ui/i18n.py).
        "i18n": I18N,
        # Security headers, a cap on request bodies, uploads refused while the temporary folder is full.
        "app_kwargs": {"middleware": [Middleware(Hardening, space=space)]},
    }


if __name__ == "__main__":
    fix_mmap_threshold()
    current = get_settings()
    temp_space = housekeeping.TempSpace(Path(get_upload_folder()), current.temp_max_size)
    every_s, age_s = DELETE_CACHE
    housekeeping.start_sweeper(temp_space, own=OWN_TEMP_DIR is not None, every_s=every_s, age_s=age_s)
    build_demo(current).launch(**launch_options(current, temp_space))
