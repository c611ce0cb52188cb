"""The ZeroGPU shim: ``spaces.GPU`` where it applies, the identity elsewhere.

Import this module before torch on ZeroGPU (``app.py`` does), as the ``spaces`` package requires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fusion.config import get_settings

F = TypeVar("F", bound=Callable[..., Any])

if get_settings().zero_gpu:  # pragma: no cover - only on a ZeroGPU Space
    import spaces
else:
    spaces = None


def gpu_task(duration: int | Callable[..., int] = 60) -> Callable[[F], F]:
    """Decorate a function that needs the GPU; ``duration`` may be a callable of the same arguments."""

    def decorate(fn: F) -> F:
        if spaces is None:
            return fn
        return spaces.GPU(duration=duration)(fn)

    return decorate
