"""The Ask loop end to end on the tiny twin: multi-step plans run, Stop and the time budget end them, state
stays in its own conversation, bad input gets a clear message; and the smaller uses and the evaluation harness."""

from __future__ import annotations

import copy
import dataclasses
import threading

import numpy as np
import pytest

from fusion import images
from fusion.agent import evaluate
from fusion.agent.loop import Answered, AskOptions, Conversation, Planned, Ran, Stopped, ask, detect_language
from fusion.agent.planner import PlannerOptions
from fusion.agent.tools import ToolOutput, build_tools
from fusion.agent.writing import PROMPT_CHARS, enhance_prompt, summarise_report

IMAGE = (np.random.default_rng(1).random((40, 56, 3)) * 255).astype(np.uint8)
#: Cheap tools, so random plans run in milliseconds.
CHEAP = ("canny_edges", "grayscale", "gaussian_blur", "median_blur", "otsu_threshold", "colour_histograms", "caption")


@pytest.fixture(scope="module")
def tools(tiny_cache):
    every = build_tools(tiny_cache, max_text_chars=16, max_labels=3)
    return {name: every[name] for name in CHEAP}


def _options(steps: int, seed: int = 0, **changes) -> AskOptions:
    planner = PlannerOptions(max_answer_tokens=8, sample=True, seed=seed)
    return AskOptions(max_steps=steps, tool_choice="required", planner=planner, **changes)


def test_a_multi_step_request_runs_end_to_end(tiny_cache, tools) -> None:
    conversation = Conversation()
    events = list(ask(conversation, "Find the edges, then blur them", IMAGE, tools=tools, cache=tiny_cache,
                      options=_options(3)))
    kinds = [type(event) for event in events]
    assert kinds == [Planned, Ran] * 3 + [Answered]
    for planned, ran in zip(events[0:6:2], events[1:6:2], strict=True):
        assert planned.tool == ran.tool and planned.step == ran.step
        assert ran.error is None
        for handle in ran.images:
            assert conversation.images[handle].shape[2] == 3
            assert conversation.sources[handle].startswith(ran.tool)
    assert conversation.handles[0] == "image-1" and conversation.sources["image-1"] == "uploaded"
    roles = [message["role"] for message in conversation.messages]
    assert roles == ["user", *["assistant", "tool"] * 3, "assistant"]
    assert "[attached: image-1, 56x40]" in conversation.messages[0]["content"]


def test_a_later_request_uses_the_images_of_earlier_ones(tiny_cache, tools) -> None:
    conversation = Conversation()
    list(ask(conversation, "Find the edges", IMAGE, tools=tools, cache=tiny_cache, options=_options(2)))
    before = conversation.handles
    follow_up = "现在把那张边缘图模糊一下"
    events = list(ask(conversation, follow_up, tools=tools, cache=tiny_cache, options=_options(2, seed=5)))
    used = {value for event in events if isinstance(event, Planned) for value in event.arguments.values()}
    assert used & set(before), "the second request can only refer to handles made by the first"
    assert events[-1].language == "zh"


def test_stop_ends_a_long_plan_between_steps(tiny_cache, tools) -> None:
    cancel = threading.Event()
    seen = []
    for event in ask(Conversation(), "do everything", IMAGE, tools=tools, cache=tiny_cache, options=_options(50),
                     cancel=cancel):
        seen.append(event)
        if isinstance(event, Ran) and event.step == 2:
            cancel.set()
    assert isinstance(seen[-1], Stopped) and seen[-1].reason == "cancel" and seen[-1].steps == 2
    assert sum(isinstance(event, Planned) for event in seen) == 2


def test_the_time_budget_ends_a_plan(tiny_cache, tools) -> None:
    events = list(ask(Conversation(), "do everything", IMAGE, tools=tools, cache=tiny_cache,
                      options=_options(50, time_budget_s=1.0)))
    assert isinstance(events[-1], Stopped) and events[-1].reason == "time"
    assert "1 s" in events[-1].text


def test_a_tool_error_goes_back_to_the_model_and_the_plan_goes_on(tiny_cache, tools) -> None:
    def refuse(**_arguments) -> ToolOutput:
        raise ValueError("This image is too small for that.")

    broken = {name: dataclasses.replace(tool, run=refuse) for name, tool in tools.items()}
    conversation = Conversation()
    events = list(ask(conversation, "edges", IMAGE, tools=broken, cache=tiny_cache, options=_options(2)))
    errors = [event for event in events if isinstance(event, Ran)]
    assert len(errors) == 2 and all(event.error == "This image is too small for that." for event in errors)
    assert '"error": "This image is too small for that."' in conversation.messages[2]["content"]
    assert isinstance(events[-1], Answered)


@pytest.mark.parametrize("message", ["", "   ", None])
def test_an_empty_message_is_refused_with_a_clear_message(tiny_cache, tools, message) -> None:
    with pytest.raises(ValueError, match="Type a request first"):
        ask(Conversation(), message, tools=tools, cache=tiny_cache)


def test_a_bad_image_is_refused_with_a_clear_message(tiny_cache, tools) -> None:
    with pytest.raises(images.ImageError, match="not an image this app can read"):
        ask(Conversation(), "edges", b"definitely not a picture", tools=tools, cache=tiny_cache)


def test_a_chat_runs_one_request_at_a_time(tiny_cache, tools) -> None:
    conversation = Conversation()
    first = ask(conversation, "edges", IMAGE, tools=tools, cache=tiny_cache, options=_options(3))
    next(first)
    with pytest.raises(ValueError, match="still working"):
        next(ask(conversation, "blur", tools=tools, cache=tiny_cache))
    first.close()
    assert isinstance(next(ask(conversation, "blur", tools=tools, cache=tiny_cache, options=_options(1))), Planned)


def test_two_concurrent_chats_keep_their_own_state(tiny_cache, tools) -> None:
    chats = {"en": Conversation(), "zh": Conversation()}
    pictures = {"en": IMAGE, "zh": IMAGE[:, ::-1].copy()}
    requests = {"en": "Find the edges", "zh": "找出这张照片的边缘"}
    results: dict[str, list] = {}

    def run(name: str) -> None:
        results[name] = list(ask(chats[name], requests[name], pictures[name], tools=tools, cache=tiny_cache,
                                 options=_options(3, seed=len(name))))

    threads = [threading.Thread(target=run, args=(name,)) for name in chats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for name, chat in chats.items():
        assert np.array_equal(chat.images["image-1"], pictures[name])
        assert chat.messages[0]["content"].startswith(requests[name])
        # What each chat was told is its own request only (the model's own turns are random text, which may by
        # chance spell any words of its vocabulary, so they are not searched for the other request).
        told = [message["content"] for message in chat.messages if message["role"] == "user"]
        assert len(told) == 1 and told[0].startswith(requests[name])
        assert requests["zh" if name == "en" else "en"] not in told[0]
        assert isinstance(results[name][-1], Answered) and results[name][-1].language == name
        assert len(chat.handles) == 1 + sum(len(event.images) for event in results[name] if isinstance(event, Ran))


def test_a_conversation_copies_with_a_lock_of_its_own(tiny_cache, tools) -> None:
    """Gradio deep-copies a ``gr.State`` value for each session."""
    original = Conversation()
    list(ask(original, "edges", IMAGE, tools=tools, cache=tiny_cache, options=_options(1)))
    copied = copy.deepcopy(original)
    assert copied.messages == original.messages and copied.messages is not original.messages
    assert copied.handles == original.handles and copied._busy is not original._busy


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Find the edges", "en"),
        ("找出边缘", "zh"),
        ("把 image-2 画成水彩画", "zh"),
        ("Paint image-1 as 水彩", "en"),
        ("", "en"),
    ],
)
def test_the_answer_language_follows_the_request(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_enhance_prompt_writes_a_bounded_english_prompt(tiny_cache) -> None:
    options = PlannerOptions(max_answer_tokens=24, sample=True, seed=2)
    prompt = enhance_prompt("一只猫坐在窗台上", cache=tiny_cache, options=options)
    assert prompt and len(prompt) <= min(PROMPT_CHARS, 24) and prompt.isascii()
    with pytest.raises(ValueError, match="short description"):
        enhance_prompt("  ", cache=tiny_cache)


def test_summarise_report_answers_in_the_language_asked(tiny_cache) -> None:
    card = {"caption": "a cat", "zero_shot": {"cat": 0.9}, "sharpness": 120.5, "colour_histogram": {"red": [0.1]}}
    text = summarise_report(card, "zh", cache=tiny_cache, options=PlannerOptions(max_answer_tokens=8))
    assert isinstance(text, str)
    with pytest.raises(KeyError):
        summarise_report(card, "fr", cache=tiny_cache)


def test_the_evaluation_set_and_harness(tiny_cache, tools, capsys, monkeypatch) -> None:
    cases = evaluate.load_cases()
    assert len(cases) >= 40
    assert sum(detect_language(case.request) == "zh" for case in cases) * 2 == len(cases)
    names = set(build_tools(tiny_cache))
    assert all(set(case.tools) <= names for case in cases), "every expected tool exists"
    assert all(case.image is None or (evaluate.ASSETS / case.image).is_file() for case in cases)
    monkeypatch.setattr("fusion.cache.get_cache", lambda: tiny_cache)
    monkeypatch.setattr(evaluate, "build_tools", lambda cache: tools)
    assert evaluate.main(["--limit", "2", "--plan-only", "--max-steps", "1"]) == 0
    printed = capsys.readouterr().out
    assert "plan accuracy:" in printed and "meaningless" in printed
