"""The Ask tab through the API, as a script would use it: a multi-step request, a follow-up that uses an earlier
result, clear messages for bad input, and two chats that do not share state."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@pytest.fixture(scope="module")
def ask_url(tiny_settings, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    """The app whose Ask model (random weights) must call tools until its last step, so that it makes a plan."""
    from app import build_demo, launch_options

    settings = replace(tiny_settings, ask_tool_choice="required")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-temp-ask")))
        demo = build_demo(settings, tiny_cache)
        options = launch_options(settings) | {"server_port": None, "quiet": True, "prevent_thread_lock": True}
        _app, url, _share = demo.launch(**options)
        yield url
        demo.close()


def _tools_used(chat: list[dict]) -> list[str]:
    return [m["metadata"]["title"] for m in chat if (m.get("metadata") or {}).get("title")]


def _text(message: dict) -> str:
    """A chat message's text (Gradio sends content as a list of typed parts)."""
    content = message["content"]
    parts = content if isinstance(content, list) else [content]
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in parts)


def _files(message: dict) -> list[str]:
    content = message["content"]
    parts = content if isinstance(content, list) else [content]
    files = [part["file"] for part in parts if isinstance(part, dict) and part.get("type") == "file"]
    return [file["path"] if isinstance(file, dict) else file for file in files]


def test_a_request_with_an_image_runs_tools_and_answers(ask_url: str) -> None:
    client = Client(ask_url, verbose=False)
    chat = client.predict(
        message="Find the edges of this photo", image=handle_file(ASSETS / "chelsea.png"), history=[], api_name="/ask"
    )
    assert chat[0]["role"] == "user" and _text(chat[0]) == "Find the edges of this photo"
    assert chat[1]["role"] == "user" and _files(chat[1]), "the attached image is shown"
    steps = _tools_used(chat)
    assert steps and all(title.startswith("Used tool: ") for title in steps)
    assert all(m["metadata"]["status"] == "done" for m in chat if m.get("metadata") and m["metadata"].get("title"))
    assert chat[-1]["role"] == "assistant" and _text(chat[-1]).strip()
    text_only = [message for message in chat if not _files(message)]  # the session keeps the images themselves
    follow_up = client.predict(message="Now describe the last image", image=None, history=text_only, api_name="/ask")
    assert [_text(message) for message in follow_up[: len(text_only)]] == [_text(message) for message in text_only]
    later_steps = [_text(m) for m in follow_up[len(text_only) :] if (m.get("metadata") or {}).get("title")]
    handles = {f"image-{n}" for n in range(2, len(_tools_used(chat)) + 2)}
    assert any(handle in step for step in later_steps for handle in handles | {"image-1"}), (
        "the follow-up works on the images of the first request, kept in the session"
    )


def test_an_empty_message_and_a_bad_image_get_clear_messages(ask_url: str, tmp_path: Path) -> None:
    client = Client(ask_url, verbose=False)
    with pytest.raises(AppError, match="Type a request first"):
        client.predict(message="  ", image=None, history=[], api_name="/ask")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image" * 20)
    with pytest.raises(AppError, match=r"not an image this app can read|damaged"):
        client.predict(message="what is this?", image=handle_file(broken), history=[], api_name="/ask")


def test_two_chats_at_once_keep_their_own_images(ask_url: str) -> None:
    def chat_with(picture: str) -> list[dict]:
        client = Client(ask_url, verbose=False)
        return client.predict(
            message="Describe this image", image=handle_file(ASSETS / picture), history=[], api_name="/ask"
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(chat_with, ["chelsea.png", "camera.png"])
    for chat in (first, second):
        steps = [_text(m) for m in chat if (m.get("metadata") or {}).get("title")]
        assert steps, "each chat ran its own plan"
        # Each chat starts at image-1 (its upload): a shared state would have numbered the second chat's from 2 on.
        assert all("image-1" in step for step in steps[:1])


def test_stop_ends_a_plan_through_the_pages_protocol(ask_url: str) -> None:
    """Join /ask as the page does, press the tab's Stop (a queue-less private event of the same session) while it
    plans, and the chat ends with the loop's stop message."""
    import json
    import threading
    import uuid

    import httpx

    client = Client(ask_url, verbose=False)
    config = client.config
    ask_event = next(d for d in config["dependencies"] if d.get("api_name") == "ask")
    stop_button = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "ask-stop")
    stop_event = next(d for d in config["dependencies"] if [t[0] for t in d["targets"]] == [stop_button])
    session = uuid.uuid4().hex
    body = {"data": ["describe every detail", None, [], None], "fn_index": ask_event["id"], "session_hash": session}
    assert httpx.post(f"{ask_url}gradio_api/queue/join", json=body, timeout=30).status_code == 200
    last: dict = {}

    def read() -> None:
        with httpx.stream("GET", f"{ask_url}gradio_api/queue/data", params={"session_hash": session}, timeout=120) as s:
            for line in s.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_generating" and len(message["output"]["data"][0]) > 1:
                        last["running"] = True
                    if message.get("msg") == "process_completed":
                        last.update(message)
                        return

    reader = threading.Thread(target=read)
    reader.start()
    while reader.is_alive() and not last.get("running"):
        reader.join(0.05)
    stopped = httpx.post(
        f"{ask_url}gradio_api/run/predict",
        json={"data": [0], "fn_index": stop_event["id"], "session_hash": session},
        timeout=30,
    )
    assert stopped.status_code == 200
    reader.join(120)
    chat = last["output"]["data"][0]
    final = _text(chat[-1])
    assert final.startswith("Stopped, as asked, after"), final
