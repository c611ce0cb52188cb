"""Messages for people: English text that remembers the template and values it was made from.

A task module says ``raise ValueError(Message("The {what} file was not found: upload it again.", what=what))``.
Everything that treats the message as a string (logs, API clients, tests) reads the English; the UI's translation
engine reads its template, looks that up in a language's catalogue and formats the translation with the same
values (each translated too when it is itself a message or a catalogue entry). So translating never has to work
out, from finished English text, which template made it. No Gradio here: task modules stay free of the UI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class Message(str):
    """``template.format(**values)``, as a ``str``, keeping ``template`` and ``values``."""

    template: str
    values: Mapping[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Message:
        message = super().__new__(cls, template.format(**values))
        message.template = template
        message.values = values
        return message

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """Pickled (and copied) as its template and values: a ZeroGPU worker sends its results back pickled."""
        return _rebuild, (self.template, dict(self.values))


def _rebuild(template: str, values: dict[str, Any]) -> Message:
    return Message(template, **values)


class Lines(str):
    """Several messages, one per line, each translated on its own."""

    items: tuple[str, ...]

    def __new__(cls, items: Iterable[str]) -> Lines:
        kept = tuple(items)
        lines = super().__new__(cls, "\n".join(kept))
        lines.items = kept
        return lines

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return Lines, (self.items,)
