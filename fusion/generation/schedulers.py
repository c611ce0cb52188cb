"""The samplers a run can use, under the names A1111 gives them. A new one is a line in :data:`SCHEDULERS`: the
panel's choices, the option check, the PNG parameters and the tests all read this table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fusion.numbers import one_of

#: The scheduler option's value for "the model's own" (see ``ModelPreset.scheduler``).
DEFAULT_SCHEDULER = "default"

#: Scheduler name (as A1111 calls it) -> diffusers class and the config values that make it that sampler.
SCHEDULERS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}


def check_scheduler(name: str | None) -> str:
    """A known scheduler name or :data:`DEFAULT_SCHEDULER` (for an empty one), else a ValueError that lists them."""
    scheduler = name or DEFAULT_SCHEDULER
    return scheduler if scheduler == DEFAULT_SCHEDULER else one_of(scheduler, SCHEDULERS, "scheduler")


def make_scheduler(name: str, base_config: Mapping[str, Any], overrides: Mapping[str, Any] = {}) -> Any:
    """A fresh scheduler of the named kind, built from a model's scheduler config."""
    import diffusers

    class_name, settings = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **{**settings, **overrides})
