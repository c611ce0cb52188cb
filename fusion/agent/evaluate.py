"""``python -m fusion evaluate-agent``: does the Ask model plan the tool chain each request needs?

Runs every request of a committed set (``data/requests.jsonl``: half English, half Chinese, each with the
image it comes with and the chain of tools it should produce) through the real loop, and prints the plan
accuracy: the share of requests whose calls were exactly the expected chain, in order. With
``FUSION_MODELS=tiny`` the assistant has random weights and the number means nothing: it only shows the
harness runs. ``--plan-only`` replaces every tool by a stand-in that returns its input image, to score plans
without running the image models.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusion import images
from fusion.agent.loop import AskOptions, Conversation, Planned, Stopped, ask, detect_language
from fusion.agent.tools import Tool, ToolOutput, build_tools

if TYPE_CHECKING:
    from fusion.cache import ModelCache

DATA = Path(__file__).with_name("data") / "requests.jsonl"
ASSETS = Path(__file__).resolve().parents[2] / "assets"
MEANINGLESS = (
    "FUSION_MODELS=tiny: the assistant has random weights, so this accuracy is meaningless; it only shows that "
    "the harness runs. Run it with the real model (python -m fusion download first)."
)


@dataclass(frozen=True)
class Case:
    request: str
    image: str | None
    tools: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    case: Case
    planned: tuple[str, ...]
    seconds: float
    stopped: str | None = None

    @property
    def correct(self) -> bool:
        return self.planned == self.case.tools


def load_cases(path: Path = DATA) -> list[Case]:
    """The requests of a JSON-lines file: ``{"request": ..., "image": file in assets/ or null, "tools": [...]}``."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(Case(row["request"], row.get("image"), tuple(row["tools"])))
    return cases


def stand_in(tool: Tool) -> Tool:
    """The tool with its work replaced: it hands back its first input image (or none) and a note."""

    def run(**arguments: Any) -> ToolOutput:
        pictures = tuple(arguments[name] for name in tool.images if arguments.get(name) is not None)
        return ToolOutput(data={"note": "plan-only run: the tool was not executed"}, images=pictures[:1])

    return dataclasses.replace(tool, run=run)


def run_case(case: Case, tools: dict[str, Tool], cache: ModelCache, options: AskOptions) -> Outcome:
    started = time.monotonic()
    image = None if case.image is None else images.load(ASSETS / case.image).pixels
    planned: list[str] = []
    stopped = None
    for event in ask(Conversation(), case.request, image, tools=tools, cache=cache, options=options):
        if isinstance(event, Planned):
            planned.append(event.tool)
        elif isinstance(event, Stopped):
            stopped = event.reason
    return Outcome(case, tuple(planned), time.monotonic() - started, stopped)


def report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Plan accuracy overall, per language and for the first call alone."""

    def share(selected: Sequence[Outcome], correct: Any) -> float:
        return sum(map(correct, selected)) / len(selected) if selected else float("nan")

    by_language = {
        language: [outcome for outcome in outcomes if detect_language(outcome.case.request) == language]
        for language in ("en", "zh")
    }
    return {
        "requests": len(outcomes),
        "plan_accuracy": share(outcomes, lambda outcome: outcome.correct),
        "first_tool_accuracy": share(outcomes, lambda outcome: outcome.planned[:1] == outcome.case.tools[:1]),
        **{f"plan_accuracy_{language}": share(selected, lambda o: o.correct) for language, selected in
           by_language.items()},
        "seconds_per_request": sum(outcome.seconds for outcome in outcomes) / max(len(outcomes), 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusion evaluate-agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="JSON-lines requests (default: the committed set)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N requests")
    parser.add_argument("--max-steps", type=int, default=4, help="tool calls allowed per request")
    parser.add_argument("--plan-only", action="store_true", help="score plans without running the image models")
    args = parser.parse_args(argv)
    from fusion.cache import get_cache

    cache = get_cache()
    tools = build_tools(cache)
    if args.plan_only:
        tools = {name: stand_in(tool) for name, tool in tools.items()}
    cases = load_cases(args.data)[: args.limit or None]
    options = AskOptions(max_steps=args.max_steps, time_budget_s=600.0)
    outcomes = []
    for case in cases:
        outcome = run_case(case, tools, cache, options)
        outcomes.append(outcome)
        mark = "ok  " if outcome.correct else "miss"
        print(f"{mark} {case.request[:50]:<50} expected {' > '.join(case.tools)}; planned "
              f"{' > '.join(outcome.planned) or '(no call)'}", flush=True)
    summary = report(outcomes)
    print(json.dumps(summary, indent=2))
    print(f"plan accuracy: {summary['plan_accuracy']:.1%} of {len(outcomes)} requests")
    if cache.settings.models == "tiny":
        print(MEANINGLESS)
    return 0
