"""One model turn under constrained decoding: a tool call that matches its tool's schema, or a final answer.

The grammar is xgrammar's structural tag for the Qwen tool-call format (``get_model_structural_tag``), with the
tools that can run now and their image arguments narrowed to the handles that exist, in an ``or`` with a plain
answer of at most ``max_answer_tokens`` tokens. xgrammar's transformers ``LogitsProcessor`` masks every token
that would leave the grammar, so even random weights produce a runnable plan. Every part of a call is bounded
(enums, integer and number ranges, text lengths), so :func:`max_call_tokens` gives a length no call can exceed:
generation is never cut inside a call, except by Stop or the time budget.

Two narrowings for the grammar only, both stricter than the schema the model is shown: free text is printable
ASCII without quotes or backslashes (the image models read English; and xgrammar 0.2.9 lets control characters
into strings that have a ``maxLength``, which is invalid JSON), and at most one whitespace character where JSON
allows any (a random model otherwise wanders in blanks).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
import xgrammar as xgr
from transformers import DynamicCache, GenerationConfig, StoppingCriteria, StoppingCriteriaList
from xgrammar.contrib.hf import LogitsProcessor
from xgrammar.structural_tag import AnyTextFormat, OrFormat, RegexFormat, StructuralTag

from fusion.captioning import _seeded
from fusion.messages import Message

if TYPE_CHECKING:
    from fusion.agent.tools import Tool
    from fusion.cache import ModelCache
    from fusion.registry import ModelBundle

ASSISTANT_KEY = "assistant"
ToolChoice = Literal["auto", "required", "none"]
#: xgrammar's structural-tag format for each model family's tool calls (Qwen2.5 and Qwen3 write the same).
CALL_FORMATS = {"qwen2": "qwen_3", "qwen3": "qwen_3"}
#: Markup an answer may not contain (a call inside an answer would be neither).
ANSWER_EXCLUDES = (
    "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>", "<|im_start|>",
    "<|endoftext|>",
)
#: Printable ASCII without ``"`` and ``\\``: one byte per character, nothing to escape.
TEXT_CHARACTERS = r"[ !#-\[\]-~]"
MAX_WHITESPACE = 1
#: Decimals xgrammar allows in a number with a range.
NUMBER_DECIMALS = 6
#: Tokens at the end of a prompt that hold the generation prompt (``<|im_start|>assistant`` and an empty think).
PROMPT_TAIL = 32


@dataclass(frozen=True)
class PlannerOptions:
    """How the model decodes. Greedy by default: plans should repeat; sampling is for tests and variety."""

    max_answer_tokens: int = 384
    #: A regular expression the whole answer must match instead of free text (keep it within the token limit).
    answer_pattern: str | None = None
    sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.8
    #: Sampling seed for the turn (``None``: torch's current state).
    seed: int | None = None


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Turn:
    """What one model turn produced: a call, an answer, or (``stopped``) neither because Stop or time came."""

    call: ToolCall | None
    answer: str
    tokens: int
    seconds: float
    #: Set when generation was interrupted before the turn was complete.
    stopped: Literal["cancel", "time"] | None = None
    raw: str = field(default="", repr=False)


class InvalidTurn(RuntimeError):
    """The model's output ended before its turn did (its text is the message): a bug in the grammar's length
    bound, never the user's fault."""


# --------------------------------------------------------------------------------------------- grammar
def grammar_schema(schema: Any) -> Any:
    """The schema the grammar enforces: free text as bounded printable ASCII (see the module's notes)."""
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    narrowed = {key: grammar_schema(value) for key, value in schema.items()}
    if narrowed.get("type") == "string" and "maxLength" in narrowed and "enum" not in narrowed:
        low, high = narrowed.pop("minLength", 0), narrowed.pop("maxLength")
        narrowed["pattern"] = f"^{TEXT_CHARACTERS}{{{low},{high}}}$"
    return narrowed


def value_bytes(schema: Mapping[str, Any]) -> int:
    """An upper bound on the bytes of any JSON value the grammar allows for ``schema`` (whitespace included)."""
    if "enum" in schema:
        return max(len(json.dumps(value, ensure_ascii=False).encode()) for value in schema["enum"])
    kind = schema["type"]
    if kind == "boolean":
        return len("false")
    if kind == "string":
        return 2 + schema["maxLength"]
    if kind == "integer":
        return max(len(str(int(schema["minimum"]))), len(str(int(schema["maximum"]))))
    if kind == "number":
        whole = max(abs(schema["minimum"]), abs(schema["maximum"]))
        return len("-.") + len(str(int(whole))) + NUMBER_DECIMALS
    if kind == "array":
        item = value_bytes(schema["items"]) + len(", ") + 2 * MAX_WHITESPACE
        return 2 + 2 * MAX_WHITESPACE + schema["maxItems"] * item
    members = sum(  # an object: the only other kind the tools use
        len(json.dumps(name)) + len(": , ") + 4 * MAX_WHITESPACE + value_bytes(value)
        for name, value in schema["properties"].items()
    )
    return 2 + 2 * MAX_WHITESPACE + members


def max_call_tokens(schemas: Sequence[Mapping[str, Any]]) -> int:
    """No call to these tools can be longer (every token is at least one byte), end of turn included."""
    if not schemas:
        return 0
    frame = len('<tool_call>\n{"name": "", "arguments": }\n</tool_call>')
    return 1 + max(
        frame + len(schema["function"]["name"]) + value_bytes(schema["function"]["parameters"]) for schema in schemas
    )


def call_format(model_type: str) -> str:
    """xgrammar's name for the family's tool-call format; other families are refused before any work."""
    if model_type not in CALL_FORMATS:
        raise ValueError(
            Message(
                "The Ask assistant must be a Qwen2.5 or Qwen3 instruct model, not a {model_type} model: set "
                "FUSION_ASSISTANT_MODEL to one.",
                model_type=model_type,
            )
        )
    return CALL_FORMATS[model_type]


def turn_grammar(
    model_type: str, schemas: Sequence[Mapping[str, Any]], choice: ToolChoice, options: PlannerOptions
) -> StructuralTag:
    """A call to one of ``schemas`` (xgrammar's format for the family), or an answer, or either."""
    family = call_format(model_type)
    answer = (
        AnyTextFormat(excludes=list(ANSWER_EXCLUDES), max_tokens=options.max_answer_tokens)
        if options.answer_pattern is None
        else RegexFormat(pattern=options.answer_pattern)
    )
    if choice == "none" or not schemas:
        return StructuralTag(format=answer)
    calls = xgr.get_model_structural_tag(
        family,
        tools=[grammar_schema(schema) for schema in schemas],
        tool_choice="required",
        reasoning="disabled",
        parallel_tool_calls=False,
        max_whitespace_cnt=MAX_WHITESPACE,
    ).format
    return StructuralTag(format=calls if choice == "required" else OrFormat(elements=[calls, answer]))


def grammar_compiler(bundle: ModelBundle) -> xgr.GrammarCompiler:
    """A compiler (and its cache of compiled grammars) for a loaded tokenizer; :func:`plan_turns` keeps one per
    model with the model cache, which drops it with the model (its host memory, a few MB, is not counted)."""
    info = xgr.TokenizerInfo.from_huggingface(bundle.processor, vocab_size=bundle.model.config.vocab_size)
    return xgr.GrammarCompiler(info)


# --------------------------------------------------------------------------------------------- decoding
class _Cancelled(StoppingCriteria):
    """Ends generation at the next token once ``cancel`` is set."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.cancel.is_set(), dtype=torch.bool, device=input_ids.device)


def response_template(bundle: ModelBundle) -> dict[str, Any]:
    """How transformers parses this family's replies: the tokenizer's own template, else transformers' fallback
    for its model type (Qwen's tokenizers ship none; :func:`call_format` admits only families it has)."""
    from transformers.cli.serving.utils import get_response_template

    return get_response_template(bundle.processor, bundle.model)


def prompt_inputs(bundle: ModelBundle, messages: Sequence[Mapping[str, Any]], schemas: Sequence[Any]) -> Any:
    """The chat template applied with the tools and thinking off, as tensors on the model's device."""
    return bundle.processor.apply_chat_template(
        list(messages),
        tools=list(schemas) or None,
        add_generation_prompt=True,
        enable_thinking=False,
        return_dict=True,
        return_tensors="pt",
    ).to(bundle.model.device)


#: Tool-list prefixes kept per model: the English and the Chinese system turn.
PREFIXES_KEPT = 2


@dataclass(frozen=True)
class ToolListPrefix:
    """The token ids of the system turn and the tool list, and the attention cache computed over them."""

    ids: torch.Tensor
    past: DynamicCache


def tool_list_prefix(bundle: ModelBundle, system: Mapping[str, Any], schemas: Sequence[Any]) -> ToolListPrefix:
    """The token ids and the attention cache of the system turn and the tool list, computed once per model and
    language and kept by the model cache (copied for each turn: never generate into it).

    That prefix is the same in every turn of every conversation in one language and is most of the prompt (the
    tool list is thousands of tokens), so a turn prefills only its own messages. It holds about 112 KiB per prefix
    token for Qwen3-1.7B in bfloat16, counted in the cache's budget and dropped with the model.
    """
    prefix = bundle.processor.apply_chat_template(
        [dict(system)], tools=list(schemas), tokenize=True, return_dict=True, return_tensors="pt"
    )["input_ids"].to(bundle.model.device)
    past = DynamicCache(config=bundle.model.config)
    with torch.inference_mode():
        bundle.model(input_ids=prefix, cache=past, use_cache=True)
    return ToolListPrefix(prefix[0], past)


def prefix_bytes(prefix: ToolListPrefix) -> int:
    """The bytes of a :func:`tool_list_prefix`: its token ids and every layer's keys and values."""
    layers = prefix.past.layers
    tensors = [prefix.ids, *(tensor for layer in layers for tensor in (layer.keys, layer.values) if tensor is not None)]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


@dataclass(frozen=True)
class TurnRequest:
    """One conversation's next turn: its messages (system first) and the image handles it has."""

    messages: Sequence[Mapping[str, Any]]
    handles: Sequence[str] = ()


def batch_inputs(
    bundle: ModelBundle,
    requests: Sequence[TurnRequest],
    shown: Sequence[Any],
    shared_prefix: ToolListPrefix | None,
) -> tuple[torch.Tensor, torch.Tensor, DynamicCache | None]:
    """Input ids, attention mask and cache of a batch: ``[prefix | padding | own messages]`` over a copy of
    the shared prefix's cache when every prompt starts with it, else left-padded prompts and no cache."""
    tokenizer, device = bundle.processor, bundle.model.device
    prompts = [prompt_inputs(bundle, request.messages, shown)["input_ids"][0] for request in requests]
    pad = tokenizer.pad_token_id
    prefix, cached = (None, None) if shared_prefix is None else (shared_prefix.ids, shared_prefix.past)
    starts_with_prefix = prefix is not None and all(
        len(ids) > len(prefix) and torch.equal(ids[: len(prefix)], prefix) for ids in prompts
    )
    if starts_with_prefix:
        tails = [ids[len(prefix) :] for ids in prompts]
        width = max(len(tail) for tail in tails)
        rows, masks = [], []
        for tail in tails:
            gap = width - len(tail)
            rows.append(torch.cat([prefix, torch.full((gap,), pad, device=device), tail]))
            masks.append(torch.cat([torch.ones(len(prefix)), torch.zeros(gap), torch.ones(len(tail))]))
        past = copy.deepcopy(cached)
        if len(requests) > 1:
            past.batch_repeat_interleave(len(requests))
        return torch.stack(rows), torch.stack(masks).to(device, torch.long), past
    width = max(len(ids) for ids in prompts)
    rows = [torch.cat([torch.full((width - len(ids),), pad, device=device), ids]) for ids in prompts]
    masks = [torch.cat([torch.zeros(width - len(ids)), torch.ones(len(ids))]) for ids in prompts]
    return torch.stack(rows), torch.stack(masks).to(device, torch.long), None


def plan_turns(
    requests: Sequence[TurnRequest],
    tools: Sequence[Tool],
    *,
    cache: ModelCache,
    choice: ToolChoice = "auto",
    options: PlannerOptions = PlannerOptions(),
    cancel: threading.Event | None = None,
    deadline: float | None = None,
) -> list[Turn]:
    """Let the model take the next turn of each request, in one batch (each with its own grammar).

    The prompt lists every tool (the same text every turn); each request's grammar allows the tools that can
    run with its handles. ``deadline`` is a ``time.monotonic()`` instant; ``cancel`` stops generation at the
    next token.
    """
    if not requests:
        return []
    started = time.monotonic()
    runnable = [
        [tool.schema(request.handles) for tool in tools if tool.available(request.handles)] for request in requests
    ]
    shown = [tool.schema() for tool in tools]
    system = requests[0].messages[0]
    shared = system["role"] == "system" and all(request.messages[0] == system for request in requests)
    prefix_key = json.dumps([system, shown], sort_keys=True)
    with (
        cache.use(ASSISTANT_KEY) as bundle,
        cache.borrow("grammar compiler", None, grammar_compiler, depends_on=(ASSISTANT_KEY,)) as compiler,
        cache.borrow(
            "tool-list prefix",
            prefix_key,
            lambda model: tool_list_prefix(model, system, shown),
            depends_on=(ASSISTANT_KEY,),
            size=prefix_bytes,
            keep=PREFIXES_KEPT,
        )
        if shared
        else contextlib.nullcontext() as shared_prefix,
    ):
        model, tokenizer = bundle.model, bundle.processor
        compiled = [
            compiler.compile_structural_tag(turn_grammar(model.config.model_type, schemas, choice, options))
            for schemas in runnable
        ]
        call_limit = max(max_call_tokens(schemas) for schemas in runnable) if choice != "none" else 0
        answers = choice != "required" or not all(runnable)
        limit = 1 + max(call_limit, options.max_answer_tokens if answers else 0)
        config = GenerationConfig(
            max_new_tokens=limit,
            do_sample=options.sample,
            temperature=options.temperature if options.sample else None,
            top_p=options.top_p if options.sample else None,
            top_k=None,
            eos_token_id=model.generation_config.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            max_time=None if deadline is None else max(deadline - time.monotonic(), 0.001),
        )
        stop = cancel or threading.Event()
        input_ids, attention_mask, past = batch_inputs(bundle, requests, shown, shared_prefix)
        with _seeded(options.seed if options.sample else None, model.device), torch.inference_mode():
            output = cache.run(
                lambda: model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    cache=past,
                    generation_config=config,
                    logits_processor=[LogitsProcessor(compiled)],
                    stopping_criteria=StoppingCriteriaList([_Cancelled(stop)]),
                )
            )
        template = response_template(bundle)
        eos = _eos_ids(model)
        turns = []
        for prompt, row in zip(input_ids, output[:, input_ids.shape[1] :].tolist(), strict=True):
            end = next((index for index, token in enumerate(row) if token in eos), None)
            new = row if end is None else row[: end + 1]
            raw = tokenizer.decode(new, skip_special_tokens=False)
            if end is None:  # cut short: only Stop or the time budget may do that
                turns.append(_unfinished(raw, len(new), stop, deadline))
                continue
            # The parser reads the prompt's tail for where the reply starts (and what the template wrote of it).
            tail = tokenizer.decode(prompt[-PROMPT_TAIL:], skip_special_tokens=False)
            message = tokenizer.parse_response(raw, schema=template, prefix=tail)
            calls = message.get("tool_calls") or []
            call = ToolCall(calls[0]["function"]["name"], dict(calls[0]["function"]["arguments"])) if calls else None
            answer = "" if calls else str(message.get("content") or "").strip()
            turns.append(Turn(call, answer, len(new), 0.0, raw=raw))
    seconds = time.monotonic() - started
    return [dataclasses.replace(turn, seconds=seconds) for turn in turns]


def _unfinished(raw: str, tokens: int, stop: threading.Event, deadline: float | None) -> Turn:
    if stop.is_set():
        return Turn(None, "", tokens, 0.0, stopped="cancel", raw=raw)
    if deadline is not None and time.monotonic() >= deadline:
        return Turn(None, "", tokens, 0.0, stopped="time", raw=raw)
    raise InvalidTurn(raw[:200])


def plan_turn(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Tool],
    handles: Sequence[str],
    **kwargs: Any,
) -> Turn:
    """One conversation's next turn (see :func:`plan_turns`)."""
    return plan_turns([TurnRequest(messages, handles)], tools, **kwargs)[0]


def _eos_ids(model: Any) -> set[int]:
    eos = model.generation_config.eos_token_id
    return set(eos) if isinstance(eos, list) else {eos}
