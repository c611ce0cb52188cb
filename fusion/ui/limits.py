"""The generation rate limit in the UI: who a request comes from, and what a refused one is told.

``app.py`` builds one :class:`GenerationGate` (when ``FUSION_GENERATION_RATE`` is set) and hands it to every panel
whose events run a diffusion model; the panels wrap those events with :func:`admitted`. All the text a user sees
about the limit is here.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from fusion.ratelimit import RateLimit, RateLimiter, client_id
from fusion.ui.common import user_error
from fusion.ui.requests import request_header

#: Asked before every request that runs a diffusion model; raises ``gr.Error`` to refuse it.
Admit = Callable[[gr.Request | None], None]

LIMIT_REACHED = "Generation limit reached: {limit} per user. Try again in {wait}."
#: Units for describing a window or a wait, largest first: (seconds, singular, plural).
DURATION_UNITS = ((86400, "day", "days"), (3600, "hour", "hours"), (60, "minute", "minutes"), (1, "second", "seconds"))


@dataclass(frozen=True)
class GenerationGate:
    """Counts one use per generation request for its client, and refuses the request past the limit."""

    limiter: RateLimiter
    #: Read the client address from ``X-Forwarded-For`` (only behind a proxy that sets it; see ``client_id``).
    trust_forwarded_for: bool = False

    def __call__(self, request: gr.Request | None) -> None:
        wait_s = self.limiter.acquire(self.client(request))
        if wait_s > 0:
            raise user_error(LIMIT_REACHED.format(limit=describe_limit(self.limiter.limit), wait=describe_wait(wait_s)))

    def client(self, request: gr.Request | None) -> str:
        """The request's client key: its logged-in user, else its (forwarded) IP address."""
        if request is None:
            return client_id(None, None, None, trust_forwarded_for=False)
        forwarded = request_header(request, "x-forwarded-for")
        host = getattr(getattr(request, "client", None), "host", None)
        return client_id(request.username, host, forwarded, trust_forwarded_for=self.trust_forwarded_for)


def admitted(fn: Callable[..., Any], admit: Admit | None) -> Callable[..., Any]:
    """``fn`` as an event function that asks ``admit`` first; ``fn`` itself when there is no limit.

    The wrapper gains a ``request: gr.Request`` parameter, which Gradio fills because of its annotation and keeps
    out of the API; ``fn`` never sees it. The check runs here, in the server process, and not inside ``fn``: on
    ZeroGPU a ``gpu_task`` runs in a forked worker, where a counted use would be forgotten.
    """
    if admit is None:
        return fn
    signature = inspect.signature(fn)
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    with_request = signature.replace(parameters=[*signature.parameters.values(), request])

    def admit_and_bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        bound = with_request.bind(*args, **kwargs)
        admit(bound.arguments.pop("request", None))
        return bound

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def event(*args: Any, **kwargs: Any) -> Any:
            bound = admit_and_bind(args, kwargs)
            yield from fn(*bound.args, **bound.kwargs)

    else:

        @functools.wraps(fn)
        def event(*args: Any, **kwargs: Any) -> Any:
            bound = admit_and_bind(args, kwargs)
            return fn(*bound.args, **bound.kwargs)

    event.__signature__ = with_request  # type: ignore[attr-defined]
    event.__annotations__ = {**fn.__annotations__, "request": gr.Request}
    return event


def describe_limit(limit: RateLimit) -> str:
    """``10 per hour``, ``5 per 10 minutes``."""
    for seconds, singular, plural in DURATION_UNITS:
        amount = limit.window_s / seconds
        if amount >= 1 and amount == int(amount):
            window = singular if amount == 1 else f"{int(amount)} {plural}"
            return f"{limit.count} per {window}"
    return f"{limit.count} per {limit.window_s:g} seconds"


def describe_wait(seconds: float) -> str:
    """A wait rounded up (never too early): seconds below 90 s, minutes below 90 min, then hours."""
    unit, singular, plural = next(units for units in DURATION_UNITS[1:] if seconds >= 1.5 * units[0] or units[0] == 1)
    amount = max(1, math.ceil(seconds / unit))
    return f"{amount} {singular if amount == 1 else plural}"
