"""Shared by the benchmarks that build published architectures with random weights: a registry entry for one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from fusion.registry import ModelSpec


def random_weight_spec(key: str, build: Callable[[torch.device, torch.dtype], Any]) -> ModelSpec:
    """A cache entry for ``key`` that builds the model with ``build(device, dtype)`` instead of loading weights."""
    title = f"{key} (published architecture, random weights)"
    return ModelSpec(key, title, lambda _source, device, dtype: build(device, dtype), "", 0, ())
