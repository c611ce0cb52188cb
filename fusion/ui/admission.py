"""The queue's door: which requests may join, decided when they join rather than when their turn comes.

Gradio keeps one queue for the whole app with one size limit, and the generation rate limit used to be checked
when a request's turn came: 40 ``/generate`` joins from one client filled the queue, and every other visitor got
"Queue is full" on ``/features`` too. Now every join is asked :meth:`Door.refusal` first:

- **lanes**: the GPU lane (every event in :data:`GPU_CONCURRENCY_ID`) and the CPU lane (every other queued event)
  each hold ``queue_max_size`` waiting requests, so diffusion never fills the room CPU panels wait in;
- **per client**: at most ``client_queue`` waiting requests in the GPU lane, and half the CPU lane;
- **generation rate limit**: counted at the join of every event marked :func:`rate_limited`.

A refused join is answered the way Gradio answers a failed validator (HTTP 422 with the message): the page shows
it at the event's first input, ``gradio_client`` raises ``ValidationError`` with it. Gradio has no hook for this,
so the door wraps the queue's ``push``, the one method every join goes through (the page, ``gradio_client``, raw
``queue/join`` calls and the MCP server). Its check and reservation run on the event loop without awaiting, so
joins arriving together cannot all pass before any of them is counted.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from fusion.config import Settings
from fusion.messages import Message
from fusion.ratelimit import RateLimit, RateLimiter, client_id, window_seconds
from fusion.ui.common import GPU_CONCURRENCY_ID
from fusion.ui.i18n import request_language, translate
from fusion.ui.requests import request_header

F = TypeVar("F", bound=Callable[..., Any])
RATE_LIMITED = "fusion_rate_limited"
LANE_FULL = "The app is busy: {count} requests are already waiting for the {lane}. Try again in a minute."
CLIENT_FULL = "You already have {count} requests waiting here; wait for them to finish before sending more."
LIMIT_REACHED = "Generation limit reached: {limit} per user. Try again in {wait}."
#: Units for describing a window or a wait, largest first: (seconds, name).
DURATION_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def rate_limited(fn: F) -> F:
    """Mark an event function that runs a diffusion model: the generation rate limit counts its joins."""
    setattr(fn, RATE_LIMITED, True)
    return fn


class Door:
    """Admission to the queue, per lane and per client (see the module docstring)."""

    def __init__(
        self,
        *,
        lane_size: int,
        client_gpu: int,
        client_cpu: int,
        generation_rate: RateLimit | None = None,
        trust_forwarded_for: bool = False,
    ) -> None:
        self.lane_size = lane_size
        self.client_caps = {"gpu": client_gpu, "cpu": client_cpu}
        self.limiter = RateLimiter(generation_rate) if generation_rate else None
        self.trust_forwarded_for = trust_forwarded_for
        #: Joins admitted but not yet in Gradio's queue, by (client, lane).
        self._joining: Counter[tuple[str, str]] = Counter()

    @classmethod
    def for_settings(cls, settings: Settings) -> Door:
        return cls(
            lane_size=settings.queue_max_size,
            client_gpu=settings.client_queue,
            client_cpu=max(1, settings.queue_max_size // 2),
            generation_rate=settings.generation_rate,
            trust_forwarded_for=settings.trust_forwarded_for,
        )

    def install(self, demo: gr.Blocks) -> None:
        """Put the door in front of ``demo``'s queue (after ``demo.queue(...)``)."""
        queue = demo._queue
        push = queue.push

        async def guarded_push(body: Any, request: Any, username: str | None) -> tuple[bool, Any, str]:
            fn = demo.fns.get(body.fn_index) if body.fn_index is not None else None
            if fn is None:
                return await push(body=body, request=request, username=username)
            client, lane = self.client(request, username), self.lane(fn)
            refusal = self.refusal(queue, fn, client, lane)
            if refusal is not None:
                return False, [_invalid(fn, translate(refusal, request_language(request)))], "validator_error"
            self._joining[client, lane] += 1
            try:
                return await push(body=body, request=request, username=username)
            finally:
                self._joining[client, lane] -= 1

        queue.push = guarded_push

    def client(self, request: Any, username: str | None) -> str:
        """The client key of a request: its logged-in user, else its (forwarded) address."""
        host = getattr(getattr(request, "client", None), "host", None)
        forwarded = request_header(request, "x-forwarded-for")
        return client_id(username, host, forwarded, trust_forwarded_for=self.trust_forwarded_for)

    @staticmethod
    def lane(fn: Any) -> str:
        return "gpu" if fn.concurrency_id == GPU_CONCURRENCY_ID else "cpu"

    def refusal(self, queue: Any, fn: Any, client: str, lane: str) -> str | None:
        """Why this join is refused, or ``None``; an admitted join of a rate-limited event counts one use."""
        waiting = [
            event for events in queue.event_queue_per_concurrency_id.values() for event in events.queue
            if self.lane(event.fn) == lane
        ]
        joining = sum(count for (_client, joining_lane), count in self._joining.items() if joining_lane == lane)
        if len(waiting) + joining >= self.lane_size:
            return Message(LANE_FULL, count=len(waiting) + joining, lane="GPU" if lane == "gpu" else "CPU")
        mine = self._joining[client, lane] + sum(
            1 for event in waiting if self.client(event.request, event.username) == client
        )
        if mine >= self.client_caps[lane]:
            return Message(CLIENT_FULL, count=mine)
        if self.limiter is not None and getattr(fn.fn, RATE_LIMITED, False):
            wait_s = self.limiter.acquire(client)
            if wait_s > 0:
                return Message(LIMIT_REACHED, limit=describe_limit(self.limiter.limit), wait=describe_wait(wait_s))
        return None


def _invalid(fn: Any, message: str) -> dict[str, Any]:
    """Gradio's validation result for an event's first input, carrying ``message``."""
    names = fn.input_parameter_names or list(inspect.signature(fn.fn).parameters)
    return {"__type__": "validate", "is_valid": False, "message": message, "parameter_name": (names or ["input"])[0]}


def describe_limit(limit: RateLimit) -> Message:
    """``10 per hour``, ``5 per 10 minutes``."""
    window_s = window_seconds(limit)
    for seconds, unit in DURATION_UNITS:
        amount = window_s / seconds
        if amount >= 1 and amount == int(amount):
            window = unit if amount == 1 else duration(int(amount), unit)
            return Message("{count} per {window}", count=limit.amount, window=window)
    return Message("{count} per {window:g} seconds", count=limit.amount, window=window_s)


def describe_wait(seconds: float) -> Message:
    """A wait rounded up (never too early): seconds below 90 s, minutes below 90 min, then hours."""
    unit_s, unit = next(units for units in DURATION_UNITS[1:] if seconds >= 1.5 * units[0] or units[0] == 1)
    return duration(max(1, math.ceil(seconds / unit_s)), unit)


def duration(amount: int, unit: str) -> Message:
    """``1 minute``, ``3 minutes``: a template for each unit and number, so that each language words them its way."""
    one = amount == 1
    match unit:
        case "day":
            return Message("{amount} day" if one else "{amount} days", amount=amount)
        case "hour":
            return Message("{amount} hour" if one else "{amount} hours", amount=amount)
        case "minute":
            return Message("{amount} minute" if one else "{amount} minutes", amount=amount)
        case _:
            return Message("{amount} second" if one else "{amount} seconds", amount=amount)
