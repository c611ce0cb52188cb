"""How a run stops early: one :class:`Stop` per run, which the run checks between its steps.

There are two reasons to stop, and both are the same stop: someone asked (the Stop button, through
:class:`StopSignals`; a consumer closing the stream) or the run's deadline passed. Either way the step in progress
finishes, diffusers' ``callback_on_step_end`` sets ``pipe._interrupt``, and the partly denoised image is still
decoded, checked and returned with a notice that says which reason it was. A run that has not started here (still
queued, or running in a ZeroGPU worker process) is out of a Stop's reach: the panel withdraws it through Gradio.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

StopReason = Literal["cancel", "deadline"]


class Stop(threading.Event):
    """An event that is set when someone asks a run to stop, with the run's clock and deadline."""

    def __init__(self) -> None:
        super().__init__()
        self._started = time.monotonic()
        self._deadline_s: float | None = None

    def start(self, deadline_s: float | None) -> None:
        """Start the clock of a run's denoising, which may last ``deadline_s`` seconds (``None``: no limit)."""
        self._started = time.monotonic()
        self._deadline_s = deadline_s

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def reason(self) -> StopReason | None:
        """Why the run should stop after its current step, if it should: asked, or out of time."""
        if self.is_set():
            return "cancel"
        if self._deadline_s is not None and self.elapsed_s() >= self._deadline_s:
            return "deadline"
        return None


class StopSignals:
    """The :class:`Stop` of each session's run in progress, so that a Stop button (a request of its own) can end
    that run after its current step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Stop] = {}

    @contextmanager
    def running(self, session: str | None) -> Iterator[Stop]:
        """A fresh :class:`Stop` for one run, findable by :meth:`stop` while the run lasts."""
        stop = Stop()
        if session:
            with self._lock:
                self._running[session] = stop
        try:
            yield stop
        finally:
            if session:
                with self._lock:
                    if self._running.get(session) is stop:
                        del self._running[session]

    def stop(self, session: str | None) -> bool:
        """Ask the session's run in progress to stop; whether there was one."""
        with self._lock:
            stop = self._running.get(session or "")
        if stop is None:
            return False
        stop.set()
        return True
