# ruff: noqa: RUF001  (the Chinese examples are written with full-width punctuation, as Chinese is)
"""The Ask tab: a chat in which a small local language model plans which of the app's tools to run, runs them,
shows every step, and answers in the user's language (``fusion/agent``).

API endpoint ``ask``: ``message``, ``image`` (optional) and ``history`` (the chat so far, as the chat shows it;
empty starts a new chat), returning the updated chat. Each step streams in as it happens: a collapsible "Used
tool" entry per call (its arguments and its compact result), the images it made, then the answer. The images of a
chat are kept by handle in the session (``image-1``, ``image-2``, ...), so a later message can use an earlier
result ("now paint that edge map as a watercolour"). The whole request runs as one GPU event: the model and the
tools it calls take their turn in the GPU lane together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from fusion.agent.loop import Answered, Conversation, Event, Planned, Ran, Stopped
from fusion.config import Settings
from fusion.generation import StopSignals
from fusion.gpu import gpu_task
from fusion.messages import Message
from fusion.ui.admission import rate_limited
from fusion.ui.common import (
    GPU_CONCURRENCY_ID,
    GPU_CONCURRENCY_LIMIT,
    current_session,
    decode_upload,
    reports_errors,
    wire_stop,
)
from fusion.ui.files import result_file
from fusion.ui.i18n import localized, plain_example_table, t
from fusion.ui.uploads import check_on_upload

#: ``fusion.agent.ask`` bound to the tools and the cache: (conversation, message, image, cancel=...) -> events.
AskFn = Callable[..., Iterator[Event]]
#: A chat keeps at most this many images (each up to 2048 px a side, about 12 MB): past it, start a new chat.
MAX_CHAT_IMAGES = 24
#: The time budget of a request, plus loading the model and a margin (ZeroGPU's duration).
GPU_SECONDS = 150
EXAMPLES = (
    ("Find the edges of this photo, then paint that edge map as a watercolour.", "chelsea.png"),
    ("What is in this picture? Answer in one sentence.", "astronaut.png"),
    ("Is this a cat, a dog or a car? Then explain which features decided it.", "chelsea.png"),
    ("这张图片里有什么？再告诉我它的主色调。", "coffee.png"),
    ("找出这张照片的角点，并数一数有多少个。", "camera.png"),
    ("画一座黄昏时湖边的红房子。", None),
)
ASSETS = Path(__file__).resolve().parents[2] / "assets"
CHAT_HEIGHT = 440
ATTACHED = "The picture attached to this message"
NO_ANSWER = "(The assistant finished without a written answer: the steps above are what it did.)"


@dataclass(frozen=True)
class AskPanel:
    chat: gr.Chatbot
    message: gr.Textbox
    image: gr.Image


def _tool_message(event: Planned) -> dict[str, Any]:
    arguments = json.dumps(dict(event.arguments), ensure_ascii=False)
    return {
        "role": "assistant",
        "content": localized(Message("Arguments: {arguments}", arguments=arguments)),
        "metadata": {
            "title": localized(Message("Used tool: {tool}", tool=event.tool)),
            "status": "pending",
            "id": f"step-{event.step}",
        },
    }


def _finish_tool_message(message: dict[str, Any], event: Ran) -> dict[str, Any]:
    outcome = json.dumps(dict(event.result), ensure_ascii=False)
    content = message["content"] + "\n\n" + localized(Message("Result: {outcome}", outcome=outcome))
    metadata = {**message["metadata"], "status": "done", "duration": round(event.seconds, 2)}
    return {**message, "content": content, "metadata": metadata}


def _image_message(conversation: Conversation, handle: str) -> dict[str, Any]:
    picture = {
        "path": result_file(conversation.images[handle], name=handle),
        "alt_text": localized(Message("The picture {handle}, made by the step above", handle=handle)),
    }
    return {"role": "assistant", "content": picture}


def make_ask_event(settings: Settings, ask_fn: AskFn, stop_signals: StopSignals) -> Callable[..., Iterator[Any]]:
    """The streaming event function (also the ``ask`` API), bound to the agent loop."""

    @gpu_task(duration=GPU_SECONDS)
    @reports_errors
    def ask(
        message: str | None,
        image: Any = None,
        history: list[dict[str, Any]] | None = None,
        conversation: Conversation | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], Conversation]]:
        """Ask the app's assistant, in English or Chinese: it plans which of the app's tools to run (classical
        operations, captions, visual questions, classification, text to image, edges to image, re-imagine, report
        card), runs them, and answers.

        Args:
            message: what you want, for example "find the edges of this photo".
            image: an image the request is about (optional).
            history: the chat so far, as returned by the previous call (its text is enough: the session keeps the
                images); empty starts a new chat.

        Returns:
            the updated chat: the messages, every tool used with its arguments and result, the images made, and
            the answer.
        """
        chat = list(history or [])
        conversation = conversation if chat and conversation is not None else Conversation()
        decoded = None if image is None else decode_upload(image, settings, what="attached image")
        if len(conversation.images) + (decoded is not None) > MAX_CHAT_IMAGES:
            raise ValueError(
                Message("This chat already holds {count} images: start a new chat to add more.", count=MAX_CHAT_IMAGES)
            )
        text = "" if message is None else str(message)
        chat.append({"role": "user", "content": text})
        if decoded is not None:
            attached = {"path": result_file(decoded.pixels, name="attached"), "alt_text": localized(ATTACHED)}
            chat.append({"role": "user", "content": attached})
        yield chat, conversation
        steps: dict[int, int] = {}
        with stop_signals.running(current_session()) as cancel:
            for event in ask_fn(conversation, text, None if decoded is None else decoded.pixels, cancel=cancel):
                if isinstance(event, Planned):
                    steps[event.step] = len(chat)
                    chat.append(_tool_message(event))
                elif isinstance(event, Ran):
                    chat[steps[event.step]] = _finish_tool_message(chat[steps[event.step]], event)
                    chat.extend(_image_message(conversation, handle) for handle in event.images)
                elif isinstance(event, Answered | Stopped):
                    chat.append({"role": "assistant", "content": event.text.strip() or localized(NO_ANSWER)})
                yield chat, conversation

    return ask


def build(settings: Settings, *, ask_fn: AskFn) -> AskPanel:
    """The tab; ``ask_fn`` is ``fusion.agent.ask`` bound to the tools and the cache (``partial``)."""
    stop_signals = StopSignals()
    conversation = gr.State(None)  # a Conversation once the chat starts (Gradio puts a dataclass default in its config)
    gr.Markdown(
        t(
            "Type what you want, in English or Chinese, with or without an image. A small language model running "
            "here picks the app's tools, runs them and shows every step: open a step to see what it was given "
            "and what came back."
        )
    )
    chat = gr.Chatbot(label=t("Chat"), height=CHAT_HEIGHT, elem_id="ask-chat", buttons=["copy"])
    with gr.Row(equal_height=True):
        message = gr.Textbox(
            label=t("Message"),
            placeholder="Find the edges of this photo · 这张图片里有什么？",
            lines=2,
            scale=4,
            max_length=2000,
            elem_id="ask-message",
        )
        image = gr.Image(
            label=t("Image (optional)"), type="filepath", sources=["upload", "clipboard"], height=120, scale=1,
            elem_id="ask-image",
        )
    with gr.Row():
        send = gr.Button(t("Send"), variant="primary", elem_id="ask-send")
        stop = gr.Button(t("Stop"), variant="stop", elem_id="ask-stop")
        clear = gr.Button(t("New chat"), elem_id="ask-clear")
    _examples(message, image)
    check_on_upload(settings, image, what="attached image")
    asking = gr.on(
        triggers=[send.click, message.submit],
        fn=rate_limited(make_ask_event(settings, ask_fn, stop_signals)),
        inputs=[message, image, chat, conversation],
        outputs=[chat, conversation],
        api_name="ask",
        preprocess=False,
        concurrency_id=GPU_CONCURRENCY_ID,
        concurrency_limit=GPU_CONCURRENCY_LIMIT,
    )
    asking.then(lambda: ("", None), outputs=[message, image], api_visibility="private", queue=False)
    wire_stop(stop, asking, stop_signals)
    clear.click(lambda: ([], None), outputs=[chat, conversation], api_visibility="private", queue=False)
    return AskPanel(chat=chat, message=message, image=image)



def _examples(message: gr.Textbox, image: gr.Image) -> None:
    """Requests to start from, in English and Chinese, as one compact set of buttons."""
    examples = gr.Examples(
        examples=[[text, None if name is None else str(ASSETS / name)] for text, name in EXAMPLES],
        example_labels=[text if name is None else f"{text} ({name})" for text, name in EXAMPLES],
        inputs=[message, image],
        label=t("Examples (English and Chinese)"),
        cache_examples=False,
        elem_id="ask-examples",
    )
    plain_example_table(examples)
