"""The one check for numbers that users and API clients type: finite, or a ValueError that names the field."""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float; strings like ``"7.5"`` are accepted, ``nan``, ``inf`` and words are not."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}.") from None
    except OverflowError:  # an integer beyond float's range
        raise ValueError(f"{what} must be a finite number, got one beyond ±1e308.") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}.")
    return number
