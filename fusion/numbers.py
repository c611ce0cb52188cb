"""The one reader of numbers that users and API clients send: every panel, task and option parser calls it.

Widgets and API clients send numbers as floats, integers, numeric strings, empty strings or ``None``; JSON also
allows integers far beyond a float's range. Each reader here either returns a number a caller can use or raises a
``ValueError`` that names the field. Clamping into a documented range is also here, with the notice that says so,
and the one check of a named choice (a model, a scheduler, a mode) against the values it may take.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, TypeVar

from fusion.messages import Message

N = TypeVar("N", int, float)


def finite_number(value: Any, what: str, *, parameter: str | None = None) -> float:
    """``value`` as a finite float; strings like ``"7.5"`` are accepted, ``nan``, ``inf``, booleans and words are
    not. ``parameter`` names the API parameter in the message, for a field whose label is not its name."""
    if isinstance(value, bool):
        raise ValueError(_not_a_number(value, what, parameter))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(_not_a_number(value, what, parameter)) from None
    except OverflowError:  # an integer beyond float's range
        if parameter is None:
            raise ValueError(Message("{what} must be a finite number, got one beyond ±1e308.", what=what)) from None
        raise ValueError(
            Message(
                "{what} must be a finite number, got one beyond ±1e308 (parameter {name}).", what=what, name=parameter
            )
        ) from None
    if not math.isfinite(number):
        if parameter is None:
            raise ValueError(Message("{what} must be a finite number, got {value!r}.", what=what, value=value))
        raise ValueError(
            Message(
                "{what} must be a finite number, got {value!r} (parameter {name}).",
                what=what,
                value=value,
                name=parameter,
            )
        )
    return number


def _not_a_number(value: Any, what: str, parameter: str | None) -> Message:
    if parameter is None:
        return Message("{what} must be a number, got {value!r}.", what=what, value=value)
    return Message("{what} must be a number, got {value!r} (parameter {name}).", what=what, value=value, name=parameter)


def optional_number(value: Any, what: str) -> float | None:
    """A number as a widget or API client sent it; ``None`` or an empty string gives ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return finite_number(value, what)


def whole_number(value: Any, what: str) -> int:
    """A finite number rounded to the nearest integer (halves up, as a slider's step does)."""
    return math.floor(finite_number(value, what) + 0.5)


def optional_whole_number(value: Any, what: str) -> int | None:
    """:func:`whole_number`, or ``None`` for an empty value."""
    number = optional_number(value, what)
    return None if number is None else math.floor(number + 0.5)


def number_or(value: Any, what: str, default: N) -> float | N:
    """:func:`optional_number`, with ``default`` for an empty value."""
    number = optional_number(value, what)
    return default if number is None else number


def clamped(value: N, low: N, high: N, what: str, notices: list[str]) -> N:
    """``value`` brought into ``[low, high]``, with a notice when it had to move."""
    inside = min(max(value, low), high)
    if inside != value:
        notices.append(
            Message(
                "{what} {value:g} is outside {low:g}-{high:g}; using {used:g}.",
                what=what,
                value=value,
                low=low,
                high=high,
                used=inside,
            )
        )
    return inside


def shown(value: float) -> str:
    """A number as a message shows it: ``5`` rather than ``5.0``, ``0.25`` as it is."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def one_of(value: Any, choices: Collection[str], what: str) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` that lists them (``what``: "scheduler",
    "caption model", ..., an entry of the translation catalogues)."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(
        Message(
            "Unknown {what} {value!r}; choose one of: {choices}.", what=what, value=value, choices=", ".join(choices)
        )
    )
