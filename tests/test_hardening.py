"""Replays of what a hostile visitor tried (issue 15), through gradio_client, raw ``queue/join`` and the page's
queue-less ``run/<event>`` route: every one must now be refused, and the app must keep serving."""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError, ValidationError
from PIL import Image

from fusion.config import Settings
from fusion.ui import files
from fusion.ui.files import GONE

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
#: An image on the server that no client uploaded (the README's screenshot).
SERVER_IMAGE = ROOT / "docs" / "screenshot.png"
MISSING = GONE.format(what="image")


@pytest.fixture(scope="module")
def secret_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image elsewhere on the server (outside every folder the app serves from), and a JSON file beside it."""
    folder = tmp_path_factory.mktemp("server-files")
    Image.new("RGB", (32, 32), (200, 10, 10)).save(folder / "secret.png")
    (folder / "secret.json").write_text(json.dumps({"format": "fusion-run-card/1", "settings": {"x": 1}}))
    return folder / "secret.png"


# ---------------------------------------------------------------------------------------------- raw protocol
def _dependency(config: dict[str, Any], api_name: str | None = None, fn_name: str | None = None) -> dict[str, Any]:
    for dependency in config["dependencies"]:
        if api_name and dependency.get("api_name") == api_name:
            return dependency
        if fn_name and dependency.get("api_name", "").startswith(fn_name):
            return dependency
    raise KeyError(api_name or fn_name)


def _payload(config: dict[str, Any], dependency: dict[str, Any], overrides: dict[int, Any]) -> list[Any]:
    """The event's data as the page would send it: every input's current value, some replaced."""
    values = {component["id"]: component.get("props", {}).get("value") for component in config["components"]}
    return [overrides.get(index, values.get(component)) for index, component in enumerate(dependency["inputs"])]


def join_and_wait(url: str, fn_index: int, data: list[Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """``POST queue/join`` then read the session's event stream until the event completes; its last message."""
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = httpx.post(f"{url}gradio_api/queue/join", json=body, headers=headers, timeout=30)
    if joined.status_code != 200:
        return {"status": joined.status_code, "detail": joined.json().get("detail")}
    event_id = joined.json()["event_id"]
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event never completed")


# ---------------------------------------------------------------------------------- 1. reading server files
IMAGE_INPUTS = [
    ("/features", "image", {"operation": "Grayscale"}),
    ("/features", "second_image", {"image": "upload", "operation": "Feature matching"}),
    ("/caption", "image", {}),
    ("/answer", "image", {"question": "what is it?"}),
    ("/classify", "image", {"labels": "cat, dog"}),
    ("/explain", "image", {"labels": "cat, dog"}),
    ("/report", "image", {"prompt": ""}),
    ("/generate", "init_image", {"prompt": "a cat", "steps": 1}),
    ("/edges_to_image", "image", {"prompt": "a cat", "steps": 1}),
    ("/reimagine", "image", {"prompt": "a cat", "steps": 1}),
]


def _refusal(call) -> str:
    with pytest.raises(AppError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize(("api_name", "field", "others"), IMAGE_INPUTS)
def test_no_image_input_reads_a_server_file(
    client: Client, secret_image: Path, api_name: str, field: str, others: dict[str, Any]
) -> None:
    upload = handle_file(ASSETS / "camera.png")
    arguments = {name: upload if value == "upload" else value for name, value in others.items()}

    def call(path: str):
        return lambda: client.predict(**arguments, **{field: {"path": path}}, api_name=api_name)

    refused = _refusal(call(str(secret_image)))
    assert refused == _refusal(call(str(secret_image.with_name("no-such-file.png")))), "existence is not revealed"
    what = {"second_image": "second image", "init_image": "init image"}.get(field, "image")
    assert refused == GONE.format(what=what)
    assert _refusal(call(str(SERVER_IMAGE))) == refused


def test_a_batch_of_files_reads_no_server_file(app_url: str, client: Client, secret_image: Path) -> None:
    config = client.config
    batch = _dependency(config, "caption_batch")
    meta = {"_type": "gradio.FileData"}
    forged = [{"path": str(secret_image), "meta": meta}, {"path": "/etc/passwd", "meta": meta}]
    for files_value in (forged, [{"path": str(secret_image)}]):  # Gradio checks file lists itself; the gate too
        message = join_and_wait(app_url, batch["id"], _payload(config, batch, {0: files_value}))
        assert message["success"] is False
        assert "root:" not in json.dumps(message) and "data" not in message["output"]
    with pytest.raises(ValueError, match="was not found"):
        from fusion.ui.common import decode_upload

        decode_upload(forged[0], Settings())


def test_a_symlink_in_the_upload_folder_to_a_server_file_is_refused(client: Client, secret_image: Path) -> None:
    from gradio.utils import get_upload_folder

    link = Path(get_upload_folder()) / uuid.uuid4().hex / "innocent.png"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret_image)
    with pytest.raises(AppError, match=MISSING):
        client.predict(image={"path": str(link)}, operation="Grayscale", api_name="/features")


def test_a_real_upload_still_works(client: Client) -> None:
    _image, stats, _notices = client.predict(
        image=handle_file(ASSETS / "camera.png"), operation="Canny edges", api_name="/features"
    )
    assert stats["edge_pixels"] > 0


def test_raw_queue_join_cannot_read_a_server_file(app_url: str, client: Client, secret_image: Path) -> None:
    config = client.config
    features = _dependency(config, "features")
    message = join_and_wait(app_url, features["id"], _payload(config, features, {0: {"path": str(secret_image)}}))
    assert message["success"] is False
    assert message["output"]["error"] == MISSING
    assert "data" not in message["output"]


def test_private_events_echo_no_server_file(app_url: str, client: Client, secret_image: Path) -> None:
    """The queue-less route (``run/<event>``) of the page's private events, and the queued ones, with forged
    gallery values: nothing is copied into Gradio's folder and served."""
    config = client.config
    forged_gallery = [{"image": {"path": str(secret_image)}, "caption": None}]
    img2img = _dependency(config, fn_name="result_for_img2img")
    reply = httpx.post(
        f"{app_url}gradio_api/run/predict",
        json={"data": [None, forged_gallery], "fn_index": img2img["id"], "session_hash": uuid.uuid4().hex},
        timeout=30,
    )
    assert reply.status_code >= 400 and "not found" in reply.text and str(secret_image) not in reply.text
    history = _dependency(config, fn_name="add_to_history")
    message = join_and_wait(app_url, history["id"], _payload(config, history, {0: forged_gallery}))
    assert str(secret_image.name) not in json.dumps(message.get("output", {}))
    for dependency in config["dependencies"]:  # send-to buttons copy in the browser: no server function to call
        if dependency.get("js") and not dependency.get("backend_fn"):
            reply = httpx.post(
                f"{app_url}gradio_api/run/predict",
                json={"data": [{"path": str(secret_image)}], "fn_index": dependency["id"], "session_hash": "x"},
                timeout=30,
            )
            assert reply.status_code >= 400 and "secret" not in reply.text


def test_restore_and_teach_events_read_no_server_file(tiny_settings, secret_image: Path) -> None:
    from fusion.ui import flows as flows_ui
    from fusion.ui.classification import make_teach_events, make_train_events

    json_file = secret_image.with_suffix(".json")
    for call in (
        lambda: flows_ui.restore_settings({"path": str(json_file)}, tiny_settings),
        lambda: make_teach_events(tiny_settings)[1]([], {"path": str(json_file)}, "cat"),
        lambda: make_train_events(tiny_settings, None, None)[2]({"path": str(json_file)}),
    ):
        with pytest.raises(Exception, match="was not found: upload it again") as caught:
            call()
        assert "fusion-run-card" not in str(caught.value)


def test_the_file_route_still_refuses_server_files(app_url: str) -> None:
    response = httpx.get(f"{app_url}gradio_api/file={SERVER_IMAGE}", timeout=30)
    assert response.status_code in {403, 404}


# ------------------------------------------------------------------------------------------ 2. the queue
@pytest.fixture
def door(tiny_settings, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    """The app with the default queue caps, telling clients apart by X-Forwarded-For (as on a Space), whose
    generations wait until the test releases them (so that the queue stays as the flood left it)."""
    import threading

    from app import build_demo, launch_options
    from fusion import generation

    release = threading.Event()

    def held_generation(options: Any, **_: Any):
        release.wait(60)
        raise ValueError("released")
        yield  # a generator, like the real stream

    settings = replace(tiny_settings, client_queue=Settings.client_queue, trust_forwarded_for=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-temp-door")))
        patch.setattr(generation, "generate_stream", held_generation)
        demo = build_demo(settings, tiny_cache)
        options = launch_options(settings) | {"server_port": None, "quiet": True, "prevent_thread_lock": True}
        _app, url, _share = demo.launch(**options)
        yield url, release
        release.set()
        demo.close()


def test_one_client_flooding_generation_blocks_nobody(door) -> None:
    door_url, release = door
    flooder = Client(door_url, verbose=False, headers={"X-Forwarded-For": "203.0.113.66"})
    generate = _dependency(flooder.config, "generate")
    data = _payload(flooder.config, generate, {0: "a red house", 3: 1})
    headers = {"X-Forwarded-For": "203.0.113.66"}

    def join(_: int) -> httpx.Response:
        body = {"data": data, "fn_index": generate["id"], "session_hash": uuid.uuid4().hex, "event_data": None}
        return httpx.post(f"{door_url}gradio_api/queue/join", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(join, range(40)))
    admitted = [reply for reply in replies if reply.status_code == 200]
    refused = [reply for reply in replies if reply.status_code == 422]
    assert len(admitted) + len(refused) == 40
    assert len(admitted) == Settings.client_queue + 1, "its waiting share, plus the one running"
    assert "requests waiting here" in json.dumps(refused[0].json())
    other = Client(door_url, verbose=False, headers={"X-Forwarded-For": "198.51.100.7"})
    _image, stats, _notices = other.predict(image=handle_file(ASSETS / "camera.png"), api_name="/features")
    assert stats["edge_pixels"] > 0, "another visitor's CPU panel is answered"
    _image, stats, _notices = flooder.predict(image=handle_file(ASSETS / "camera.png"), api_name="/features")
    assert stats, "the CPU lane is not the GPU lane: even the flooder's own features request gets in"
    with pytest.raises(ValidationError, match="requests waiting here"):
        flooder.predict(prompt="again", steps=1, api_name="/generate")
    newcomer = Client(door_url, verbose=False, headers={"X-Forwarded-For": "198.51.100.8"})
    job = newcomer.submit(prompt="mine", steps=1, api_name="/generate")
    release.set()
    with pytest.raises(AppError, match="released"):
        job.result(timeout=60)  # another client got a place in the GPU lane and its turn came


# ---------------------------------------------------------------------------------------------- 3. memory
def _declared_png(width: int, height: int) -> bytes:
    """A small PNG that declares a huge flat picture (the attack: 62 KB for 7999 x 7999)."""
    image = Image.new("RGB", (width, height), (90, 90, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def test_a_small_file_declaring_a_huge_picture_is_refused_before_decoding(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_declared_png(7999, 7999))
    assert bomb.stat().st_size < 1_000_000
    decoded: list[int] = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size[0]) or real_load(self))
    with pytest.raises(AppError, match=r"7999x7999 pixels: decoding it would take about \d+ MB"):
        client.predict(image=handle_file(bomb), api_name="/features")
    assert 7999 not in decoded, "refused from the header alone"


def test_a_zip_of_huge_pictures_stops_early(tiny_settings, uploaded, tmp_path: Path) -> None:
    from fusion.ui.classification import make_teach_events

    archive = tmp_path / "examples.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        big = _declared_png(5000, 5000)
        for index in range(60):
            bundle.writestr(f"cats/{index}.png", big)
        Image.new("RGB", (40, 40)).save(small := tmp_path / "small.png")
        for index in range(5):
            bundle.write(small, f"dogs/{index}.png")
    add_zip = make_teach_events(tiny_settings)[1]
    examples, *_rest, notices = add_zip([], {"path": uploaded(archive)}, "cats, dogs")
    assert [label for label, _ in examples] == ["dogs"] * 5
    assert "Skipped 60 file(s)" in notices


# ------------------------------------------------------------------------------------------- 4. downloads
def test_identical_results_are_separate_files_and_download_whole(app_url: str) -> None:
    clients = [Client(app_url, verbose=False, download_files=False) for _ in range(8)]

    def run(client: Client) -> list[tuple[str, int]]:
        got = []
        for _ in range(4):
            image, _stats, _notices = client.predict(
                image=handle_file(ASSETS / "coffee.png"), operation="Canny edges", api_name="/features"
            )
            reply = httpx.get(image["url"], timeout=60)
            reply.raise_for_status()
            assert len(reply.content) == int(reply.headers["content-length"])
            Image.open(io.BytesIO(reply.content)).load()
            got.append((image["path"], len(reply.content)))
        return got

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = [item for batch in pool.map(run, clients) for item in batch]
    assert len({path for path, _ in results}) == len(results), "every result has a file of its own"
    assert len({size for _, size in results}) == 1, "and they are the same picture"


def test_result_files_are_new_files_inside_gradios_folder() -> None:
    from gradio.utils import get_upload_folder

    picture = np.full((8, 8, 3), 7, np.uint8)
    first, second = files.result_file(picture), files.result_file(picture)
    assert first != second
    assert Path(first).resolve().is_relative_to(Path(get_upload_folder()).resolve())
    np.testing.assert_array_equal(np.asarray(Image.open(first)), picture)


# ----------------------------------------------------------------------------------------------- 5. leaks
def test_the_page_and_files_carry_security_headers(app_url: str) -> None:
    for path in ("", "gradio_api/info", "config"):
        headers = httpx.get(f"{app_url}{path}", timeout=30).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "frame-ancestors 'self' https://huggingface.co" in headers["content-security-policy"]
        assert "object-src 'none'" in headers["content-security-policy"]


def test_an_oversized_request_body_is_refused(app_url: str, client: Client) -> None:
    classify = _dependency(client.config, "classify")
    data = _payload(client.config, classify, {1: "cat, " * 2_000_000})
    body = {"data": data, "fn_index": classify["id"], "session_hash": "big", "event_data": None}
    reply = httpx.post(f"{app_url}gradio_api/queue/join", json=body, timeout=60)
    assert reply.status_code == 413
    assert client.predict(api_name="/status")["models_source"] == "tiny"


def test_a_long_labels_text_is_refused_with_a_message(client: Client) -> None:
    with pytest.raises(AppError, match="at most 20,000 are read"):
        client.predict(image=handle_file(ASSETS / "camera.png"), labels="cat, " * 10_000, api_name="/classify")


def test_uploads_are_refused_while_the_temporary_space_is_full(tiny_settings, tiny_cache, tmp_path: Path) -> None:
    from app import build_demo, launch_options
    from fusion.housekeeping import TempSpace

    space = TempSpace(tmp_path, max_bytes=1000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
        demo = build_demo(tiny_settings, tiny_cache)
        options = launch_options(tiny_settings, space)
        options |= {"server_port": None, "quiet": True, "prevent_thread_lock": True}
        _app, url, _share = demo.launch(**options)
        try:
            upload = {"files": ("a.png", (ASSETS / "camera.png").read_bytes(), "image/png")}
            assert httpx.post(f"{url}gradio_api/upload", files=upload, timeout=30).status_code == 200
            assert space.measure() >= 1000
            refused = httpx.post(f"{url}gradio_api/upload", files=upload, timeout=30)
            assert refused.status_code == 507 and "temporary space is full" in refused.text
        finally:
            demo.close()


def test_ordinary_messages_reach_api_clients_without_html_entities(client: Client) -> None:
    _gallery, _seed, _parameters, notices, _preview = client.predict(
        prompt="一只猫", steps=1, seed=1, api_name="/generate"
    )
    assert "Stable Diffusion's text encoder" in notices and "&#x27;" not in notices
    with pytest.raises(AppError) as caught:
        client.predict(image=handle_file(ASSETS / "camera.png"), operation="x's", api_name="/features")
    assert "Unknown operation \"x's\"" in str(caught.value) and "&#" not in str(caught.value)


@pytest.mark.parametrize(("field", "value"), [("steps", -5), ("guidance", -3), ("width", -64)])
def test_negative_generation_numbers_are_refused_not_defaulted(client: Client, field: str, value: float) -> None:
    with pytest.raises(AppError, match=f"{field.capitalize()} {value:g} is too low"):
        client.predict(prompt="a cat", **{field: value}, api_name="/generate")


def test_a_user_error_is_one_log_line_without_a_traceback(client: Client, capfd, caplog) -> None:
    caplog.set_level(logging.INFO, logger="fusion")
    with pytest.raises(AppError, match="Type at least one label"):
        client.predict(image=handle_file(ASSETS / "camera.png"), labels=" , ", api_name="/classify")
    output = capfd.readouterr()
    assert "Traceback" not in output.err + output.out
    assert [record.levelname for record in caplog.records if "Type at least one label" in record.getMessage()] == [
        "INFO"
    ]


def test_files_outside_the_gate_are_refused_even_as_plain_strings(secret_image: Path) -> None:
    for raw in (str(secret_image), {"path": str(secret_image), "meta": {"_type": "gradio.FileData"}}, 42, b"x"):
        with pytest.raises(ValueError, match="was not found"):
            files.accepted_path(raw)
    assert files.accepted_path(None) is None and files.accepted_path({"path": None}) is None
    assert files.accepted_path(str(ASSETS / "camera.png")) == (ASSETS / "camera.png").resolve()
    assert os.path.isfile(files.accepted_path({"path": str(ASSETS / "camera.png")}))
