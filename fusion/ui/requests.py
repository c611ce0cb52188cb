"""The request Gradio is serving, for code that needs it without taking a ``gr.Request`` parameter (translations,
Stop, the rate limit)."""

from __future__ import annotations

from typing import Any

import gradio as gr


def current_request() -> gr.Request | None:
    """The request Gradio is serving in this thread, from its request context (as Gradio's own caching reads it)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def request_header(request: Any, name: str) -> str | None:
    """A header of a ``gr.Request`` (or of ``None``, which has none), whatever the case of its name."""
    headers = getattr(request, "headers", None) or {}
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)
