"""The Ask loop: plan -> run a tool -> feed back a compact result -> next step or answer. No Gradio here.

:func:`ask` yields a dataclass for every step, so a UI can show each call and result as it happens. A request
is bounded by a step limit (the turn after the last allowed call must answer) and a time budget, and stops
between steps, or at the next generated token, once ``cancel`` is set. A :class:`Conversation` keeps the
messages and the images by handle, so a later request can use an earlier result ("now paint that edge map as
a watercolour"); each chat has its own, and one request at a time runs in it.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fusion import images
from fusion.agent.planner import PlannerOptions, ToolChoice, plan_turn

if TYPE_CHECKING:
    from fusion.agent.tools import Tool
    from fusion.cache import ModelCache

Language = Literal["en", "zh"]
StopReason = Literal["cancel", "time"]
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "Simplified Chinese (简体中文)"}
SYSTEM_PROMPT = (
    "You are Ask, the assistant of fusion, an app that combines classical image processing (OpenCV, "
    "scikit-image) with image models (BLIP captions and answers, CLIP classification, Stable Diffusion). Do what "
    "the user asks with the tools, one call at a time; each result comes back as JSON. Images are referred to by "
    "handles such as image-1: pass handles to the tools. Tools that make images return new handles. Text for the "
    "image models (prompts, labels, questions) must be in English. When the request is done, answer briefly in "
    "{language}, with the numbers, captions and image handles the tools returned."
)
#: What the loop itself says when it ends a request, in the user's language.
STOP_MESSAGES: dict[str, dict[str, str]] = {
    "cancel": {"en": "Stopped, as asked, after {steps} step(s).", "zh": "已按要求停止,共执行了 {steps} 步。"},
    "time": {
        "en": "Stopped after {steps} step(s): the time budget of {budget:g} s ran out.",
        "zh": "已执行 {steps} 步后停止:{budget:g} 秒的时间预算已用完。",
    },
}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> Language:
    """``zh`` when Chinese characters carry the message (one Han character says about as much as four letters)."""
    han = len(_HAN.findall(text))
    return "zh" if han and 4 * han >= len(_LATIN.findall(text)) else "en"


@dataclass(frozen=True)
class AskOptions:
    max_steps: int = 6
    time_budget_s: float = 120.0
    #: ``required`` makes every turn but the last a call (evaluation, tests); the last turn always answers.
    tool_choice: ToolChoice = "auto"
    planner: PlannerOptions = field(default_factory=PlannerOptions)


# ---------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Planned:
    """The model chose a call (``seconds``: its thinking time)."""

    step: int
    tool: str
    arguments: Mapping[str, Any]
    seconds: float


@dataclass(frozen=True)
class Ran:
    """A tool ran: its compact result as the model saw it, the handles of new images, or the error it raised."""

    step: int
    tool: str
    result: Mapping[str, Any]
    images: tuple[str, ...]
    seconds: float
    error: str | None = None
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answered:
    text: str
    language: Language
    steps: int


@dataclass(frozen=True)
class Stopped:
    reason: StopReason
    text: str
    language: Language
    steps: int


Event = Planned | Ran | Answered | Stopped


# ---------------------------------------------------------------------------------------- conversation
@dataclass
class Conversation:
    """One chat's state: chat messages (without the system turn) and its images by handle."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    #: Where each image came from ("uploaded", "canny_edges(image-1)"), for the UI and the model.
    sources: dict[str, str] = field(default_factory=dict)
    _busy: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def handles(self) -> tuple[str, ...]:
        return tuple(self.images)

    def __deepcopy__(self, memo: dict[int, Any]) -> Conversation:
        """A copy with a lock of its own (Gradio deep-copies a ``gr.State``'s value for each session)."""
        return Conversation(copy.deepcopy(self.messages, memo), dict(self.images), dict(self.sources))

    def add_image(self, pixels: np.ndarray, source: str) -> str:
        handle = f"image-{len(self.images) + 1}"
        self.images[handle] = pixels
        self.sources[handle] = source
        return handle


def _user_content(message: str, handle: str | None, conversation: Conversation) -> str:
    if handle is None:
        return message
    height, width = conversation.images[handle].shape[:2]
    return f"{message}\n[attached: {handle}, {width}x{height}]".strip()


def _arguments(tool: Tool, arguments: Mapping[str, Any], conversation: Conversation) -> dict[str, Any]:
    """The call's arguments with image handles replaced by their pixels."""
    return {
        name: conversation.images[value] if name in tool.images else value for name, value in arguments.items()
    }


def _run(tool: Tool, arguments: Mapping[str, Any], conversation: Conversation, step: int) -> Ran:
    """Run one call; a ``ValueError`` (a bad combination of values, an image too small) goes back to the model."""
    started = time.monotonic()
    try:
        output = tool.run(**_arguments(tool, arguments, conversation))
    except ValueError as error:
        return Ran(step, tool.name, {"error": str(error)}, (), time.monotonic() - started, error=str(error))
    inputs = ", ".join(str(arguments[name]) for name in tool.images if name in arguments)
    handles = tuple(conversation.add_image(pixels, f"{tool.name}({inputs})") for pixels in output.images)
    result = {
        **({"images": list(handles)} if handles else {}),
        **output.data,
        **({"notices": list(output.notices)} if output.notices else {}),
    }
    return Ran(step, tool.name, result, handles, time.monotonic() - started, notices=output.notices)


def ask(
    conversation: Conversation,
    message: str,
    image: images.ImageSource | None = None,
    *,
    tools: Mapping[str, Tool],
    cache: ModelCache,
    options: AskOptions = AskOptions(),
    cancel: threading.Event | None = None,
) -> Iterator[Event]:
    """Handle one request of a chat, yielding every planned call, every result, then the answer or the stop.

    ``image`` is any upload :func:`fusion.images.load` reads; it becomes the chat's next handle. An empty
    request, a bad image, or a chat already busy with another request raise ``ValueError`` with a message for
    the user (the first two at once, the last when iteration starts).
    """
    text = message.strip() if isinstance(message, str) else ""
    if not text and image is None:
        raise ValueError('Type a request first, for example "Find the edges of this photo" or "这张图片里有什么?".')
    pixels = None if image is None else images.load(image, what="attached image").pixels
    return _one_at_a_time(conversation, text, pixels, tools, cache, options, cancel or threading.Event())


def _one_at_a_time(conversation: Conversation, *args: Any) -> Iterator[Event]:
    if not conversation._busy.acquire(blocking=False):
        raise ValueError("This chat is still working on the previous request: wait for it, or press Stop.")
    try:
        yield from _steps(conversation, *args)
    finally:
        conversation._busy.release()


def _steps(
    conversation: Conversation,
    text: str,
    pixels: np.ndarray | None,
    tools: Mapping[str, Tool],
    cache: ModelCache,
    options: AskOptions,
    cancel: threading.Event,
) -> Iterator[Event]:
    deadline = time.monotonic() + options.time_budget_s
    language = detect_language(text)
    handle = None if pixels is None else conversation.add_image(pixels, "uploaded")
    conversation.messages.append({"role": "user", "content": _user_content(text, handle, conversation)})
    system = {"role": "system", "content": SYSTEM_PROMPT.format(language=LANGUAGE_NAMES[language])}
    steps = 0

    def stopped(reason: StopReason) -> Stopped:
        note = STOP_MESSAGES[reason][language].format(steps=steps, budget=options.time_budget_s)
        conversation.messages.append({"role": "assistant", "content": note})
        return Stopped(reason, note, language, steps)

    while True:
        if cancel.is_set():
            yield stopped("cancel")
            return
        if time.monotonic() >= deadline:
            yield stopped("time")
            return
        turn = plan_turn(
            [system, *conversation.messages],
            list(tools.values()),
            conversation.handles,
            cache=cache,
            choice=options.tool_choice if steps < options.max_steps else "none",
            options=options.planner if options.planner.seed is None else replace(
                options.planner, seed=options.planner.seed + steps
            ),
            cancel=cancel,
            deadline=deadline,
        )
        if turn.stopped is not None:
            yield stopped(turn.stopped)
            return
        if turn.call is None:
            conversation.messages.append({"role": "assistant", "content": turn.answer})
            yield Answered(turn.answer, language, steps)
            return
        steps += 1
        call = {"type": "function", "function": {"name": turn.call.name, "arguments": dict(turn.call.arguments)}}
        conversation.messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        yield Planned(steps, turn.call.name, turn.call.arguments, turn.seconds)
        ran = _run(tools[turn.call.name], turn.call.arguments, conversation, steps)
        conversation.messages.append({"role": "tool", "content": json.dumps(ran.result, ensure_ascii=False)})
        yield ran
