"""Turning what the user typed into candidate labels and prompt templates, with notices for every fix-up.

One parser serves the browser, the API and the command line, so "cat, dog" means the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fusion.messages import Message

#: Enough for ImageNet's 1,000 classes; beyond that a request is almost certainly a paste by mistake.
MAX_LABELS = 1000
#: Characters of label text read at all: far more than MAX_LABELS labels of sensible length.
MAX_LABELS_TEXT = 20_000
#: CLIP reads at most 77 tokens per prompt; 100 characters leaves room for the template around the label.
MAX_LABEL_LENGTH = 100
MAX_TEMPLATES = 32
MAX_TEMPLATE_LENGTH = 200

#: A small subset of CLIP's ImageNet prompt ensemble (Radford et al., 2021, notebook "Prompt Engineering").
DEFAULT_TEMPLATES = (
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a close-up photo of a {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
    "a drawing of a {}.",
)
PLACEHOLDER = "{}"
_SEPARATORS = re.compile(r"[,\n\r]+")
_SPACES = re.compile(r"\s+")


def parse_labels(
    text: str | Sequence[str] | None, *, max_labels: int = MAX_LABELS, max_length: int = MAX_LABEL_LENGTH
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split on commas and newlines, trim, drop empties and case-insensitive duplicates (first spelling wins).

    A list is taken as already split (its items may contain commas). Labels longer than ``max_length``
    characters are cut (with a notice); no labels at all, or more than ``max_labels``, is a ``ValueError``
    that says what to type instead.
    """
    if isinstance(text, str) and len(text) > MAX_LABELS_TEXT:
        raise ValueError(
            Message(
                "The labels are {length:,} characters long; at most {limit:,} are read. Type fewer or shorter labels.",
                length=len(text),
                limit=MAX_LABELS_TEXT,
            )
        )
    if text is None or isinstance(text, str):
        split = _SEPARATORS.split(text or "")
    elif isinstance(text, list | tuple):
        split = text
    else:
        raise ValueError(
            Message("Labels must be text (for example: cat, dog, car) or a list, not {kind}.", kind=type(text).__name__)
        )
    pieces = [_SPACES.sub(" ", str(piece)).strip() for piece in split]
    pieces = [piece for piece in pieces if piece]
    if not pieces:
        raise ValueError(
            "Type at least one label, separated by commas or new lines (for example: cat, dog, car)."
        )
    notices: list[str] = []
    long_ones = [piece for piece in pieces if len(piece) > max_length]
    if long_ones:
        notices.append(
            Message(
                "{count} label(s) longer than {limit} characters were shortened (for example {example!r}...).",
                count=len(long_ones),
                limit=max_length,
                example=long_ones[0][:40],
            )
        )
        pieces = [piece[:max_length].rstrip() for piece in pieces]
    labels: dict[str, str] = {}
    duplicates: list[str] = []
    for piece in pieces:
        if piece.casefold() in labels:
            duplicates.append(piece)
        else:
            labels[piece.casefold()] = piece
    if duplicates:
        shown = ", ".join(repr(label) for label in duplicates[:5]) + ("..." if len(duplicates) > 5 else "")
        notices.append(Message("Removed {count} duplicate label(s): {labels}", count=len(duplicates), labels=shown))
    if len(labels) > max_labels:
        raise ValueError(
            Message(
                "{count} labels were given; at most {limit} can be scored at once. Remove some labels or split them "
                "over several requests.",
                count=len(labels),
                limit=max_labels,
            )
        )
    return tuple(labels.values()), tuple(notices)


def parse_templates(text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """One template per line, each with exactly one ``{}`` where the label goes; empty means the defaults."""
    lines = [_SPACES.sub(" ", line).strip() for line in (text or "").splitlines()]
    lines = list(dict.fromkeys(line for line in lines if line))
    if not lines:
        return DEFAULT_TEMPLATES, ("No prompt templates were given: using the default ensemble.",)
    for line in lines:
        if line.count(PLACEHOLDER) != 1:
            raise ValueError(
                Message(
                    "The prompt template {template!r} must contain exactly one {{}} where the label goes, for example: "
                    "a photo of a {{}}.",
                    template=line[:60],
                )
            )
        if len(line) > MAX_TEMPLATE_LENGTH:
            raise ValueError(
                Message(
                    "Prompt templates are limited to {limit} characters; shorten {template!r}...",
                    limit=MAX_TEMPLATE_LENGTH,
                    template=line[:40],
                )
            )
    if len(lines) > MAX_TEMPLATES:
        raise ValueError(
            Message("{count} prompt templates were given; use at most {limit}.", count=len(lines), limit=MAX_TEMPLATES)
        )
    return tuple(lines), ()


def fill(template: str, label: str) -> str:
    """The prompt for one label; ``str.replace`` so braces in a label or template are never interpreted."""
    return template.replace(PLACEHOLDER, label)
