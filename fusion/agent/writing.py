"""Smaller uses of the Ask model: a short description expanded into a Stable Diffusion prompt, and a report
card told in plain words.

Both are single constrained turns without tools. The prompt expansion (as Fooocus expands prompts before
generating) must be printable English of at most :data:`PROMPT_CHARS` characters, because Stable Diffusion's
CLIP text encoder reads English and only its first 77 tokens; so a request typed in Chinese comes back as an
English prompt. The summary is free text in the language asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fusion.agent.loop import LANGUAGE_NAMES
from fusion.agent.planner import TEXT_CHARACTERS, PlannerOptions, plan_turn
from fusion.agent.tools import compact

if TYPE_CHECKING:
    from fusion.cache import ModelCache

#: About 60 English words: what CLIP's 77 tokens hold.
PROMPT_CHARS = 320
SUMMARY_TOKENS = 160
ENHANCE_OPTIONS = PlannerOptions(max_answer_tokens=PROMPT_CHARS)
SUMMARY_OPTIONS = PlannerOptions(max_answer_tokens=SUMMARY_TOKENS)
MAX_INPUT_CHARS = 1000
ENHANCE_SYSTEM = (
    "You write prompts for Stable Diffusion. Expand the user's short description into one detailed prompt in "
    "English: the subject first, then setting, lighting, colours, style and camera, as comma-separated phrases, "
    "at most 60 words. Keep everything the user asked for and invent nothing that contradicts it. Reply with the "
    "prompt only."
)
SUMMARY_SYSTEM = (
    "You explain image measurements to people who are not experts. Summarise the report card below in two or "
    "three sentences in {language}: what the image shows (the caption), the most likely labels, and what the "
    "numbers say about sharpness, edges and colour. Use only the numbers given."
)


def enhance_prompt(
    text: str, *, cache: ModelCache, options: PlannerOptions = ENHANCE_OPTIONS
) -> str:
    """A detailed English prompt for Stable Diffusion from a short description in any language."""
    short = text.strip() if isinstance(text, str) else ""
    if not short:
        raise ValueError('Type a short description first, for example "a cat on a windowsill".')
    messages = [{"role": "system", "content": ENHANCE_SYSTEM}, {"role": "user", "content": short[:MAX_INPUT_CHARS]}]
    pattern = f"{TEXT_CHARACTERS}{{1,{min(PROMPT_CHARS, options.max_answer_tokens)}}}"
    turn = plan_turn(messages, [], (), cache=cache, choice="none", options=replace(options, answer_pattern=pattern))
    return turn.answer.strip() or short


def summarise_report(
    report: Mapping[str, Any],
    language: str = "en",
    *,
    cache: ModelCache,
    options: PlannerOptions = SUMMARY_OPTIONS,
) -> str:
    """A plain-language summary of a report card (``ReportCard.to_dict()``) in ``language``: ``en`` or ``zh``."""
    shown = {key: value for key, value in report.items() if key != "colour_histogram"}
    messages = [
        {"role": "system", "content": SUMMARY_SYSTEM.format(language=LANGUAGE_NAMES[language])},  # en or zh
        {"role": "user", "content": json.dumps(compact(shown), ensure_ascii=False)},
    ]
    return plan_turn(messages, [], (), cache=cache, choice="none", options=options).answer

