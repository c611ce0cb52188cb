"""The Ask planning step: time from a message to the first tool call, and tokens per second, with constrained
decoding and every tool's schema in the prompt.

Measured through the real cache and :func:`fusion.agent.planner.plan_turn` (``tool_choice="required"``, greedy,
the same request each time, with an image attached): the cold turn computes the shared prefix (system turn and
tool list) once, the warm turns reuse it, as every later request does. Beside it, the same number of tokens
generated without the grammar shows what the constraint costs.

``--arch tiny`` (default) uses the tiny twin on one CPU thread: it proves the path. ``--arch real`` builds
Qwen3-1.7B from its published configuration with random weights (nothing is downloaded; on a GPU in
bfloat16): the timing of the real architecture. Its tokenizer is the real one when ``Qwen/Qwen3-1.7B`` is in
the local Hugging Face cache, else the tiny twin's (a prompt of more, shorter tokens, and a 1,044-token
vocabulary for xgrammar's masks instead of 151,669). Goal on an H200: ≤ 0.5 s from message to first call.

    python benchmarks/agent.py [--arch tiny|real] [--device auto|cpu|cuda] [--threads N] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face library is imported

import argparse
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._random_weights import random_weight_spec
from benchmarks._report import table, write_section
from fusion.agent.loop import SYSTEM_PROMPT
from fusion.agent.planner import ASSISTANT_KEY, PlannerOptions, plan_turn
from fusion.agent.tools import build_tools
from fusion.cache import ModelCache, resolve_device
from fusion.config import Settings
from fusion.registry import ModelBundle
from fusion.tiny.assistant import assistant_tokenizer

GOAL_S = 0.5
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "agent.md"
REQUEST = "Find the edges of this photo, then paint that edge map as a watercolour."
#: Qwen/Qwen3-1.7B's config.json.
QWEN3_1_7B = {
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}


def _tokenizer() -> tuple[Any, str]:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained("Qwen/Qwen3-1.7B"), "Qwen/Qwen3-1.7B (from the local cache)"
    except OSError:
        return assistant_tokenizer(), "the tiny twin's (Qwen3-1.7B's is not in the local cache)"


def qwen3_bundle(device: torch.device, dtype: torch.dtype) -> ModelBundle:
    """Qwen3-1.7B with random weights; bfloat16 on a GPU, as the registry's loader picks."""
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    tokenizer, _name = _tokenizer()
    eos = [tokenizer.convert_tokens_to_ids(token) for token in ("<|im_end|>", "<|endoftext|>")]
    config = Qwen3Config(**{**QWEN3_1_7B, "eos_token_id": eos, "pad_token_id": tokenizer.pad_token_id})
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    dtype = torch.bfloat16 if device.type == "cuda" else dtype
    return ModelBundle(model=model.to(dtype).eval(), processor=tokenizer)


def make_cache(arch: str, device_name: str, folder: Path) -> ModelCache:
    if arch == "tiny":
        return ModelCache(Settings(models="tiny", tiny_dir=folder, device=device_name, memory_budget=1 << 30))
    registry = {ASSISTANT_KEY: random_weight_spec(ASSISTANT_KEY, qwen3_bundle)}
    return ModelCache(Settings(device=device_name, memory_budget=64 << 30), registry=registry)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@dataclass(frozen=True)
class Planning:
    """One planning step, timed: what the prompt held, what the model called, and how long it took."""

    tools: int
    prompt_tokens: int
    first_call: str
    tokens: int
    cold_s: float
    warm_s: float
    unconstrained_s: float
    on_gpu: bool

    def rows(self, repeats: int) -> list[tuple[str, str]]:
        rows = [
            ("tools in the prompt / prompt tokens", f"{self.tools} / {self.prompt_tokens}"),
            ("first call (greedy, random weights)", f"`{self.first_call}`, {self.tokens} tokens"),
            ("message → first tool call, cold (prefix cache computed)", f"{self.cold_s * 1000:.0f} ms"),
            (f"message → first tool call, warm (median of {repeats})", f"{self.warm_s * 1000:.0f} ms"),
            ("tokens/s, constrained (whole turn)", f"{self.tokens / self.warm_s:.1f}"),
            (
                "tokens/s, same tokens unconstrained (whole turn, prefix cached likewise)",
                f"{self.tokens / self.unconstrained_s:.1f}",
            ),
        ]
        if self.on_gpu:
            rows.append((f"goal ≤ {GOAL_S} s message → first call (GPU)", "met" if self.warm_s <= GOAL_S else "missed"))
        return rows


def measure(cache: ModelCache, repeats: int) -> Planning:
    """Time the Ask model's first turn for :data:`REQUEST` with every tool in the prompt: once cold (the tool
    list's prefix computed), then ``repeats`` times warm; and the same tokens without the grammar."""
    tools = list(build_tools(cache).values())
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT.format(language="English")},
        {"role": "user", "content": f"{REQUEST}\n[attached: image-1, 640x480]"},
    ]
    bundle = cache.get(ASSISTANT_KEY)
    device = bundle.model.device
    prompt = bundle.processor.apply_chat_template(
        messages, tools=[tool.schema() for tool in tools], add_generation_prompt=True, enable_thinking=False,
        return_dict=True,
    )["input_ids"]
    greedy = PlannerOptions()

    def turn() -> tuple[float, Any]:
        started = time.perf_counter()
        result = plan_turn(messages, tools, ("image-1",), cache=cache, choice="required", options=greedy)
        _synchronise(device)
        return time.perf_counter() - started, result

    cold_s, first = turn()
    warm_s = statistics.median(seconds for seconds, _turn in (turn() for _ in range(repeats)))
    free_s = _unconstrained_seconds(bundle, messages, tools, first.tokens, device)
    return Planning(
        len(tools), len(prompt), first.call.name, first.tokens, cold_s, warm_s, free_s, device.type == "cuda"
    )


def _unconstrained_seconds(bundle: ModelBundle, messages: list, tools: list, tokens: int, device: torch.device):
    """The same turn's token count generated without the grammar, from the same cached prefix."""
    from fusion.agent import planner

    shown = [tool.schema() for tool in tools]
    request = planner.TurnRequest(messages, ("image-1",))
    prefix = planner.tool_list_prefix(bundle, messages[0], shown)  # computed once, as the cache keeps it
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        input_ids, attention_mask, past = planner.batch_inputs(bundle, [request], shown, prefix)
        with torch.inference_mode():
            bundle.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                cache=past,
                do_sample=False,
                min_new_tokens=tokens,
                max_new_tokens=tokens,
                pad_token_id=bundle.processor.pad_token_id,
            )
        _synchronise(device)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: 1 tiny, torch default real)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads or (1 if args.arch == "tiny" else torch.get_num_threads()))
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        cache = make_cache(args.arch, args.device, Path(folder))
        rows = measure(cache, args.repeats).rows(args.repeats)
    name = "tiny twin" if args.arch == "tiny" else "Qwen3-1.7B architecture, random weights"
    title = f"{name} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}"
    tokenizer = "tiny twin's" if args.arch == "tiny" else _tokenizer()[1]
    header = (
        f"{platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); "
        f"tokenizer: {tokenizer}. `python benchmarks/agent.py --arch {args.arch} --device {args.device}`"
    )
    section = table(title, header, rows)
    write_section(args.out, title, section, heading="Ask planning step")
    print(section)


if __name__ == "__main__":
    main()
