"""Flows across panels: fidelity metrics on cases with known answers, ControlNet against diffusers, every flow
through gradio_client on the whole app, run cards, and the MCP tools an agent sees."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from fusion import features, flows, generation
from fusion.ui.common import GPU_CONCURRENCY_ID

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _asset(name: str, side: int = 96) -> np.ndarray:
    image = Image.open(ASSETS / name).convert("RGB")
    image.thumbnail((side, side))
    return np.asarray(image)


def _lines(*rows: int, columns: slice = slice(10, 50)) -> np.ndarray:
    edges = np.zeros((64, 64), np.uint8)
    for row in rows:
        edges[row, columns] = 255
    return edges


# ------------------------------------------------------------------------------------- pure metrics
def test_identical_edge_maps_agree_perfectly() -> None:
    edges = _lines(10, 30)
    assert flows.edge_agreement(edges, edges) == flows.EdgeAgreement(1.0, 1.0, 1.0, 1.0)


def test_disjoint_edge_maps_share_nothing() -> None:
    agreement = flows.edge_agreement(_lines(10), _lines(40))
    assert agreement == flows.EdgeAgreement(0.0, 0.0, 0.0, 0.0)


def test_half_the_edges_give_known_scores() -> None:
    reference = _lines(10, 40)
    predicted = _lines(10)
    agreement = flows.edge_agreement(predicted, reference)
    assert agreement.precision == 1.0
    assert agreement.recall == pytest.approx(0.5)
    assert agreement.iou == pytest.approx(0.5)
    assert agreement.f1 == pytest.approx(2 / 3)


def test_a_one_pixel_shift_is_within_tolerance_but_not_without() -> None:
    assert flows.edge_agreement(_lines(11), _lines(10)).f1 == 1.0
    assert flows.edge_agreement(_lines(11), _lines(10), tolerance_px=0).f1 == 0.0


def test_edge_maps_of_different_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        flows.edge_agreement(np.zeros((8, 8), np.uint8), np.zeros((9, 8), np.uint8))


def test_a_known_homography_is_recovered_with_inliers() -> None:
    image = _asset("chelsea.png", 320)
    warped, _homography = features.synthetic_warp(image)
    agreement = flows.keypoint_agreement(image, warped)
    assert agreement.matches >= 20
    assert agreement.inlier_ratio > 0.5
    noise = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    assert flows.keypoint_agreement(image, noise).inliers < agreement.inliers


def test_histogram_distance_is_zero_for_the_same_colours_and_one_for_disjoint_ones() -> None:
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((16, 16, 3), np.uint8)
    blue[..., 2] = 255
    assert flows.histogram_distance(red, red) == pytest.approx(0.0, abs=1e-6)
    # Green is 0 in both, so two of the three channels are disjoint.
    assert flows.histogram_distance(red, blue) == pytest.approx(2 / 3)


def test_the_cosine_of_equal_or_opposite_vectors_stays_within_one() -> None:
    vector = np.random.default_rng(3).standard_normal(512).astype(np.float32)  # its cosine with itself: 1 + 1e-7
    vector /= np.linalg.norm(vector)
    assert flows.cosine(vector, vector) == 1.0 and flows.cosine(vector, -vector) == -1.0
    assert flows.cosine(vector, np.zeros_like(vector)) == 0.0


def test_sharpness_and_edge_density_follow_the_classical_operations() -> None:
    image = _asset("camera.png")
    flat = np.full_like(image, 128)
    blurred = np.asarray(Image.fromarray(image).resize((24, 24)).resize(image.shape[1::-1]))
    assert flows.sharpness(flat) == 0.0
    assert flows.sharpness(image) > flows.sharpness(blurred) > 0
    assert flows.edge_density(image) == features.canny(image).stats["edge_density"]


def test_control_map_is_the_classical_edge_map_in_rgb() -> None:
    image = _asset("coffee.png")
    control = flows.control_map(
        image, flows.EdgeSettings("Canny edges", {"canny_low": 50, "canny_high": 120})
    )
    expected = features.canny(image, low=50, high=120).image
    assert control.shape == (*expected.shape, 3)
    np.testing.assert_array_equal(control[..., 1], expected)
    with pytest.raises(ValueError, match="Unknown edge operation"):
        flows.control_map(image, flows.EdgeSettings("Otsu threshold"))


def test_run_card_round_trip_and_bad_cards() -> None:
    card = flows.run_card({"generation": {"prompt": "a cat", "seed": 3}}, {"sd15": "some/model"})
    assert card["versions"]["torch"] and card["models"] == {"sd15": "some/model"}
    assert flows.restore_run_card(json.dumps(card)) == {"generation": {"prompt": "a cat", "seed": 3}}
    assert flows.restore_run_card({flows.RUN_CARD_CHUNK: json.dumps(card)})["generation"]["seed"] == 3
    with pytest.raises(ValueError, match="not valid JSON"):
        flows.restore_run_card("{")
    with pytest.raises(ValueError, match="not a fusion run card"):
        flows.restore_run_card('{"format": "other"}')


# ----------------------------------------------------------------------------------- ControlNet
def test_controlnet_generation_matches_the_diffusers_pipeline(tiny_cache) -> None:
    import torch
    from diffusers import StableDiffusionControlNetPipeline

    control = np.zeros((64, 64, 3), np.uint8)
    control[16:48, 32] = 255
    options = generation.GenerationOptions(
        prompt="a house", seed=7, steps=2, width=64, height=64, control_image=control, safety_checker=False
    )
    ours = np.asarray(generation.generate(options, cache=tiny_cache).images[0])
    with tiny_cache.use("sd15", generation.CONTROLNET_KEY) as (base, controlnet):
        scheduler = generation.make_scheduler("DPM++ 2M", base.scheduler.config)
        pipe = StableDiffusionControlNetPipeline.from_pipe(base, controlnet=controlnet, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        theirs = pipe(
            "a house",
            image=Image.fromarray(control),
            num_inference_steps=2,
            guidance_scale=7.0,
            height=64,
            width=64,
            generator=[torch.Generator().manual_seed(7)],
        ).images[0]
    np.testing.assert_array_equal(ours, np.asarray(theirs))


def test_controlnet_needs_sd15(tiny_cache) -> None:
    options = generation.GenerationOptions(model="sd-turbo", control_image=np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"Stable Diffusion 1\.5"):
        generation.generate(options, cache=tiny_cache)


# ---------------------------------------------------------------------------------- through the app
def test_edges_to_image_through_the_api(client) -> None:
    result, control, report, card, _notices = client.predict(
        image=handle_file(ASSETS / "coffee.png"),
        prompt="a cup of tea",
        canny_low=60,
        canny_high=150,
        seed=5,
        steps=2,
        labels="cup, dog",
        api_name="/edges_to_image",
    )
    source = np.asarray(Image.open(ASSETS / "coffee.png").convert("RGB"))
    expected = flows.control_map(
        source, flows.EdgeSettings("Canny edges", {"canny_low": 60, "canny_high": 150})
    )
    np.testing.assert_array_equal(np.asarray(Image.open(control).convert("RGB")), expected)
    assert set(report["zero_shot"]) == {"cup", "dog"}
    assert report["clip_score"] >= 0 and report["caption"]
    fidelity = report["fidelity"]
    assert 0 <= fidelity["edges"]["iou"] <= 1 and 0 <= fidelity["histogram_distance"] <= 1
    assert card["settings"]["edges"] == {"operation": "Canny edges", "canny_low": 60, "canny_high": 150}
    png = Image.open(result)
    # Sized as an img2img init image would be: the source's aspect ratio, each side a multiple of 8.
    assert png.width % 8 == png.height % 8 == 0
    assert abs(png.width / png.height - source.shape[1] / source.shape[0]) < 0.05
    assert json.loads(png.text[flows.RUN_CARD_CHUNK]) == card
    assert generation.parse_parameters(png.text[generation.PARAMETERS_CHUNK])["seed"] == 5
    assert flows.restore_run_card(png.text)["generation"]["prompt"] == "a cup of tea"


def test_reimagine_through_the_api(client, tiny_cache) -> None:
    from fusion import captioning

    result, caption, prompt, similarity, report, card, _notices = client.predict(
        image=handle_file(ASSETS / "astronaut.png"),
        prompt="",
        mode="img2img",
        seed=3,
        steps=4,
        strength=0.5,
        api_name="/reimagine",
    )
    source = np.asarray(Image.open(ASSETS / "astronaut.png").convert("RGB"))
    assert caption == captioning.caption([source], cache=tiny_cache).captions[0][0]
    assert prompt == caption == card["settings"]["generation"]["prompt"]
    assert -1 <= similarity["image_image"] <= 1 and -1 <= similarity["prompt_vs_new_caption"] <= 1
    assert report["caption"] == similarity["new_caption"]
    assert card["settings"]["reimagine"]["mode"] == "img2img"
    assert Image.open(result).text[flows.RUN_CARD_CHUNK]


def test_report_through_the_api_matches_the_task_function(client, tiny_cache) -> None:
    report = client.predict(
        image=handle_file(ASSETS / "rocket.png"), prompt="a rocket", labels="rocket, cat", api_name="/report"
    )
    source = np.asarray(Image.open(ASSETS / "rocket.png").convert("RGB"))
    expected = flows.report_card(source, prompt="a rocket", labels="rocket, cat", cache=tiny_cache).to_dict()
    assert report["caption"] == expected["caption"]
    assert report["zero_shot"] == pytest.approx(expected["zero_shot"], abs=1e-5)
    assert report["clip_score"] == pytest.approx(expected["clip_score"], abs=1e-3)
    assert report["sharpness"] == pytest.approx(flows.sharpness(source))
    assert report["colour_means"] == pytest.approx(expected["colour_means"])
    assert report["fidelity"] is None


# ------------------------------------------------------------------ the report card's summary (Ask)
REPORT = {"caption": "a rocket on a launch pad", "zero_shot": {"rocket": 0.9, "cat": 0.1}, "sharpness": 812.5}


@contextlib.contextmanager
def _visitor(language: str | None) -> Iterator[None]:
    """The request of a browser whose language is ``language`` (``None``: an API client that sends none)."""
    import gradio as gr
    from gradio.context import LocalContext

    headers = {} if language is None else {"Accept-Language": language}
    token = LocalContext.request.set(gr.Request(headers=headers))
    try:
        yield
    finally:
        LocalContext.request.reset(token)


def test_the_summary_is_written_in_the_visitors_language() -> None:
    from fusion.ui import flows as flows_ui

    asked: list[tuple[dict, str]] = []

    def summary_fn(report, language):
        asked.append((report, language))
        return {"en": "  A sharp photo of a rocket.\n", "zh": "一张清晰的火箭照片。"}[language]

    summarise = flows_ui.make_summary_event(summary_fn)
    with _visitor("zh-CN,zh;q=0.9,en;q=0.8"):
        chinese = summarise(REPORT)
    with _visitor(None):
        english = summarise(REPORT)
    assert [language for _report, language in asked] == ["zh", "en"]
    assert asked[0][0] == REPORT
    assert chinese == {"__type__": "update", "value": "一张清晰的火箭照片。", "visible": True}
    assert english["value"] == "A sharp photo of a rocket." and english["visible"] is True
    assert [flows_ui.summary_language(tag) for tag in ("zh", "zh-TW", "ZH-cn", "en-US", "fr")] == [
        "zh", "zh", "zh", "en", "en"
    ]  # fmt: skip


def test_a_failed_or_empty_summary_says_so_in_its_place(caplog: pytest.LogCaptureFixture) -> None:
    from fusion.ui import flows as flows_ui

    def failing(report, language):
        raise RuntimeError("CUDA error: device-side assert at /srv/secret/path")

    failed = flows_ui.make_summary_event(failing)
    with _visitor(None):
        notice = failed(REPORT)
    assert notice["visible"] is True
    error_id = re.fullmatch(
        r"No summary this time: the Ask model could not write one \(error ([0-9a-f]{8})\)\.", notice["value"]
    ).group(1)
    assert f"[error {error_id}]" in caplog.text and "device-side assert" in caplog.text  # the details: in the log
    with _visitor("zh-CN"):
        assert failed(REPORT)["value"].startswith("本次没有通俗解读")
    with _visitor(None):
        empty = flows_ui.make_summary_event(lambda report, language: " \n")(REPORT)
    assert empty == {"__type__": "update", "value": flows_ui.SUMMARY_EMPTY, "visible": True}


def test_the_tiny_assistant_summarises_a_real_report(tiny_cache) -> None:
    """The Ask model as app.py binds it, on a report card the task function made: the summary shows (random
    weights may write nothing: then the notice says so), and nothing failed on the way."""
    from app import report_summariser
    from fusion.ui import flows as flows_ui

    report = flows.report_card(_asset("rocket.png"), prompt="a rocket", labels="rocket, cat", cache=tiny_cache)
    with _visitor(None):
        shown = flows_ui.make_summary_event(report_summariser(tiny_cache))(report.to_dict())
    assert shown["visible"] is True and shown["value"].strip()
    assert not shown["value"].startswith("No summary this time: the Ask model could not")


def _summary_steps(settings, cache) -> tuple[list[dict], object]:
    """The whole app's page: the events that write into the report card's summary, and the built demo."""
    from app import build_demo

    demo = build_demo(settings, cache)
    config = demo.get_config_file()
    summary = [c["id"] for c in config["components"] if c["props"].get("elem_id") == "fusion-report-summary"]
    steps = [d for d in config["dependencies"] if set(summary) & set(d["outputs"])]
    return steps, demo


def test_every_report_card_is_followed_by_its_summary_only_with_ask_on(tiny_settings, tiny_cache) -> None:
    steps, demo = _summary_steps(tiny_settings, tiny_cache)
    written = [step for step in steps if step["backend_fn"]]
    emptied = [step for step in steps if not step["backend_fn"]]
    # Edges -> image, re-imagine, the report button and the Text-to-image tab's "Report card": each shows a report
    # card, then (only if that worked) writes its summary, in the GPU lane, privately.
    assert len(written) == 4
    for step in written:
        shown = demo.fns[step["trigger_after"]]
        assert shown.fn.__name__ in {"show_cards", "show_report"} and step["trigger_only_on_success"]
        event = demo.fns[step["id"]]
        assert event.concurrency_id == GPU_CONCURRENCY_ID and event.api_visibility == "private"
        assert event.fn.__name__ == "summarise"
    # Each of those runs empties the last summary (in the browser) the moment it starts.
    assert len(emptied) == 4 and all(step["js"] and not step["queue"] for step in emptied)
    off_steps, off_demo = _summary_steps(replace(tiny_settings, ask=False), tiny_cache)
    assert off_steps == []
    assert not any(fn.fn is not None and fn.fn.__name__ == "summarise" for fn in off_demo.fns.values())


def test_every_panel_has_its_send_to_buttons(client) -> None:
    from fusion.ui.i18n import english

    buttons = [english(c["props"].get("value")) for c in client.config["components"] if c["type"] == "button"]
    for label, count in {
        "Edges → generate": 2,
        "Classify this": 3,
        "Caption this": 3,
        "Use as img2img input": 2,
        "Report card": 1,
        "Use as prompt": 1,
    }.items():
        assert buttons.count(label) == count, label


def test_a_bad_edge_operation_is_a_clear_error(client) -> None:
    with pytest.raises(AppError, match="Unknown edge operation"):
        client.predict(
            image=handle_file(ASSETS / "coffee.png"),
            prompt="",
            operation="Otsu threshold",
            api_name="/edges_to_image",
        )


# ------------------------------------------------------------------------------------------------ MCP
@pytest.fixture(scope="module")
def mcp_url(tiny_settings, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    from app import build_demo, launch_options

    settings = replace(tiny_settings, mcp_server=True)
    demo = build_demo(settings, tiny_cache)
    options = launch_options(settings) | {"server_port": None, "quiet": True, "prevent_thread_lock": True}
    _app, url, _share = demo.launch(**options)
    yield url + "gradio_api/mcp/"
    demo.close()


def _data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


async def _mcp_session(url: str) -> tuple[list, object, object]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        image = _data_url(ASSETS / "camera.png")
        edges = await session.call_tool("features", {"image": image, "operation": "Canny edges"})
        caption = await session.call_tool("caption", {"image": image})
        return tools, edges, caption


def test_mcp_tools_are_listed_and_callable(mcp_url: str, tiny_cache) -> None:
    from fusion import captioning

    tools, edges, caption = asyncio.run(_mcp_session(mcp_url))
    by_name = {tool.name: tool for tool in tools}
    assert {"features", "caption", "edges_to_image", "reimagine", "report", "generate"} <= set(by_name)
    assert "ControlNet" in by_name["edges_to_image"].description
    assert "control_scale" in by_name["edges_to_image"].inputSchema["properties"]
    assert not edges.isError
    camera = np.asarray(Image.open(ASSETS / "camera.png").convert("RGB"))
    expected = features.canny(camera).stats["edge_pixels"]
    assert str(expected) in json.dumps([getattr(item, "text", "") for item in edges.content])
    assert not caption.isError
    text = captioning.caption([camera], cache=tiny_cache).captions[0][0]
    assert text in json.dumps([getattr(item, "text", "") for item in caption.content])


def test_a_run_card_png_restores_the_fusion_controls(tmp_path: Path, tiny_settings, uploaded) -> None:
    from fusion.ui import flows as flows_ui

    card = flows.run_card(
        {
            "edges": {"operation": "Sobel gradients"},
            "generation": {"prompt": "a boat", "seed": 9, "steps": 3},
        },
        {},
    )
    picture = flows.attach_run_card(Image.new("RGB", (16, 16)), card)
    path = generation.save_png(picture, tmp_path / "card.png")
    restored = flows_ui.restore_settings({"path": uploaded(path)}, tiny_settings)
    values = dict(zip(flows_ui.RESTORED, restored[:-1], strict=True))
    assert values[("edges", "operation")] == "Sobel gradients"
    assert values[("generation", "prompt")] == "a boat"
    assert values[("generation", "seed")] == 9
    (tmp_path / "card.json").write_text(json.dumps(card))
    assert flows_ui.restore_settings(uploaded(tmp_path / "card.json"), tiny_settings)[3] == "a boat"


def test_a_control_scale_out_of_range_is_refused(tiny_cache) -> None:
    options = generation.GenerationOptions(control_image=np.zeros((8, 8, 3), np.uint8), control_scale=-1)
    with pytest.raises(ValueError, match="Control scale"):
        generation.generate(options, cache=tiny_cache)


def test_cosine_stays_within_minus_one_and_one_despite_rounding() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((200, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert all(-1.0 <= flows.cosine(v, w) <= 1.0 for v in vectors for w in (v, -v, vectors[0]))
    assert flows.cosine(vectors[1], vectors[1]) == pytest.approx(1.0, abs=1e-6)
