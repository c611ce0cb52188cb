"""The assistant's tiny twin and constrained decoding: every turn is a call that matches its tool's schema, or an
answer, even with random weights.

The twin goes through the registry -> cache -> ``from_pretrained`` path like every other model. Calls are
checked with ``jsonschema`` (an independent validator) against the schema the tool publishes, and classical
operations' arguments with the API's own ``validate_params``.
"""

from __future__ import annotations

import random
import threading
import time

import jsonschema
import pytest
import xgrammar as xgr

from fusion import features
from fusion.agent import planner
from fusion.agent.planner import PlannerOptions, TurnRequest, plan_turn, plan_turns
from fusion.agent.tools import build_tools, tool_name
from fusion.tiny.assistant import MARKUP_TOKENS, SPECIAL_TOKENS

REQUESTS_EN = ("Find the edges", "Blur it and caption it", "What is this?", "Paint a lighthouse", "Classify it")
REQUESTS_ZH = ("找出边缘", "把它模糊一下,再写个描述", "这是什么?", "画一座灯塔", "给它分类")
SYSTEM = {"role": "system", "content": "You plan tool calls."}
OPTIONS = PlannerOptions(max_answer_tokens=8, sample=True)
FEATURE_TOOLS = {tool_name(name): name for name in features.OPERATIONS}


@pytest.fixture(scope="module")
def tools(tiny_cache) -> list:
    return list(build_tools(tiny_cache, max_text_chars=16, max_labels=3).values())


@pytest.fixture(scope="module")
def bundle(tiny_cache):
    return tiny_cache.get("assistant")


def test_the_twin_loads_through_the_registry_with_a_real_vocabulary(tiny_cache, bundle) -> None:
    tokenizer = bundle.processor
    assert type(bundle.model).__name__ == "Qwen3ForCausalLM"
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert len(tokenizer) > 512 and len(tokenizer) == bundle.model.config.vocab_size
    for token in (*SPECIAL_TOKENS, *MARKUP_TOKENS):
        assert len(tokenizer.encode(token)) == 1, token
    for text in ("找出这张照片的边缘,然后画成水彩画。", "Find the edges 🙂 of image-1"):
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text
    assert len(tokenizer.encode("Find the edges of this photo")) < len("Find the edges of this photo") / 2
    assert tiny_cache.stats().models[list(tiny_cache.registry).index("assistant")].loads == 1


def _complete(bundle, compiled, text: str) -> bool:
    """Whether ``text`` followed by the end of the turn is a whole sentence of the grammar."""
    matcher = xgr.GrammarMatcher(compiled)
    end = bundle.processor.convert_tokens_to_ids("<|im_end|>")
    return matcher.accept_string(text) and matcher.accept_token(end) and matcher.is_terminated()


def test_the_chat_template_writes_calls_the_grammar_accepts(bundle, tools) -> None:
    """The template (how calls are shown back) and xgrammar's Qwen format (how calls are decoded) agree."""
    tokenizer = bundle.processor
    call = {"name": "canny_edges", "arguments": {"image": "image-1", "canny_low": 50}}
    messages = [SYSTEM, {"role": "user", "content": "edges"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    history = [*messages, {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]}]
    rendered = tokenizer.apply_chat_template(history, tokenize=False, enable_thinking=False)
    assert rendered.startswith(prompt)
    written = rendered[len(prompt) :].removesuffix("<|im_end|>\n")
    schemas = [tool.schema(["image-1"]) for tool in tools]
    compiled = planner.grammar_compiler(bundle).compile_structural_tag(
        planner.turn_grammar("qwen3", schemas, "required", OPTIONS)
    )
    assert _complete(bundle, compiled, written), written
    assert not _complete(bundle, compiled, written[:-1])
    assert tokenizer.apply_chat_template(messages, tools=schemas, tokenize=False).count('"name": "canny_edges"') == 1


def test_the_grammar_accepts_a_valid_call(bundle, tools) -> None:
    compiled = planner.grammar_compiler(bundle).compile_structural_tag(
        planner.turn_grammar("qwen3", [tool.schema(["image-1"]) for tool in tools], "auto", OPTIONS)
    )
    call = '<tool_call>\n{"name": "canny_edges", "arguments": {"image": "image-1", "canny_low": 500}}\n</tool_call>'
    assert _complete(bundle, compiled, call)
    assert _complete(bundle, compiled, "A plain answer.")


@pytest.mark.parametrize(
    "call",
    [
        '<tool_call>\n{"name": "canny_edges", "arguments": {"image": "image-2"}}\n</tool_call>',  # unknown handle
        '<tool_call>\n{"name": "canny_edges", "arguments": {"image": "image-1", "canny_low": 501}}\n</tool_call>',
        '<tool_call>\n{"name": "canny_edges", "arguments": {"image": "image-1", "low": 5}}\n</tool_call>',
        '<tool_call>\n{"name": "no_such_tool", "arguments": {}}\n</tool_call>',
        '<tool_call>\n{"name": "caption", "arguments": {}}\n</tool_call>',  # a required argument is missing
        '<tool_call>\n{"name": "answer_question", "arguments": {"image": "image-1", "question": "这是什么"}}\n'
        "</tool_call>",  # the image models read English
    ],
)
def test_the_grammar_refuses_calls_outside_the_schemas(bundle, tools, call: str) -> None:
    compiled = planner.grammar_compiler(bundle).compile_structural_tag(
        planner.turn_grammar("qwen3", [tool.schema(["image-1"]) for tool in tools], "auto", OPTIONS)
    )
    assert not _complete(bundle, compiled, call)


def _validate(turn: planner.Turn, request: TurnRequest, tools: list, limit: int) -> None:
    available = {tool.name: tool for tool in tools if tool.available(request.handles)}
    assert turn.stopped is None
    if turn.call is None:
        assert turn.tokens <= OPTIONS.max_answer_tokens + 1
        return
    tool = available[turn.call.name]
    schema = tool.schema(request.handles)["function"]["parameters"]
    jsonschema.Draft202012Validator(schema).validate(dict(turn.call.arguments))
    jsonschema.Draft202012Validator(planner.grammar_schema(schema)).validate(dict(turn.call.arguments))
    assert turn.tokens <= limit
    if tool.name in FEATURE_TOOLS:
        params = {name: value for name, value in turn.call.arguments.items() if name not in tool.images}
        features.validate_params(FEATURE_TOOLS[tool.name], params)


def test_two_hundred_random_requests_give_only_valid_turns(tiny_cache, tools) -> None:
    """Each batch offers one eighth of the tools (a shorter prompt; the grammar is per tool), all of them over
    the eight batches."""
    rng = random.Random(0)
    handle_sets = [(), ("image-1",), ("image-1", "image-2"), ("image-1", "image-2", "image-3")]
    limit = planner.max_call_tokens([tool.schema(handle_sets[-1]) for tool in tools])
    turns = 0
    calls: set[str] = set()
    for batch in range(8):
        offered = tools[batch::8]
        pool = REQUESTS_ZH if batch % 2 else REQUESTS_EN
        requests = [
            TurnRequest([SYSTEM, {"role": "user", "content": rng.choice(pool)}], rng.choice(handle_sets))
            for _ in range(25)
        ]
        choice = "auto" if batch % 4 == 3 else "required"
        options = PlannerOptions(max_answer_tokens=8, sample=True, seed=batch)
        for turn, request in zip(plan_turns(requests, offered, cache=tiny_cache, choice=choice, options=options),
                                 requests, strict=True):
            _validate(turn, request, offered, limit)
            turns += 1
            if turn.call is not None:
                calls.add(turn.call.name)
    assert turns == 200
    assert len(calls) >= len(tools) * 2 // 3, sorted(set(tool.name for tool in tools) - calls)


def test_a_batch_and_a_full_prefill_decode_alike(tiny_cache, tools) -> None:
    """The shared prefix cache and the padding between it and each request change nothing (greedy)."""
    tools = tools[::6]
    requests = [TurnRequest([SYSTEM, {"role": "user", "content": text}], ("image-1",)) for text in REQUESTS_ZH[:3]]
    greedy = PlannerOptions(max_answer_tokens=8)
    batched = plan_turns(requests, tools, cache=tiny_cache, choice="required", options=greedy)
    alone = [plan_turns([request], tools, cache=tiny_cache, choice="required", options=greedy)[0]
             for request in requests]
    unshared = [  # no system turn: no prefix to share, the whole prompt is prefilled
        plan_turn(request.messages[1:], tools, ("image-1",), cache=tiny_cache, choice="required", options=greedy)
        for request in requests
    ]
    assert [turn.raw for turn in batched] == [turn.raw for turn in alone]
    without_system = [TurnRequest(request.messages[1:], request.handles) for request in requests]
    assert [turn.raw for turn in plan_turns(without_system, tools, cache=tiny_cache, choice="required",
                                            options=greedy)] == [turn.raw for turn in unshared]


def test_none_forces_an_answer_and_a_pattern_shapes_it(tiny_cache, tools) -> None:
    messages = [SYSTEM, {"role": "user", "content": "Find the edges"}]
    turn = plan_turn(messages, tools, ("image-1",), cache=tiny_cache, choice="none", options=OPTIONS)
    assert turn.call is None and turn.tokens <= OPTIONS.max_answer_tokens + 1
    shaped = PlannerOptions(max_answer_tokens=12, answer_pattern="[a-z ]{1,12}", sample=True, seed=1)
    answer = plan_turn(messages, [], (), cache=tiny_cache, choice="none", options=shaped).answer
    assert answer and all(character.islower() or character == " " for character in answer)


def test_cancel_stops_generation_at_the_next_token(tiny_cache, tools) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    long_answer = PlannerOptions(max_answer_tokens=100_000)
    turn = plan_turn([SYSTEM, {"role": "user", "content": "hi"}], tools, (), cache=tiny_cache, choice="none",
                     options=long_answer, cancel=cancel)
    assert turn.stopped == "cancel"
    assert time.monotonic() - started < 5
    timed = plan_turn([SYSTEM, {"role": "user", "content": "hi"}], tools, (), cache=tiny_cache, choice="none",
                      options=long_answer, deadline=time.monotonic() + 0.3)
    assert timed.stopped == "time"
