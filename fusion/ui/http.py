"""HTTP hardening in front of the whole Gradio server: security headers, a cap on request bodies, and uploads
refused while the temporary folder is full.

A plain ASGI middleware (given to ``launch(app_kwargs={"middleware": ...})`` by ``app.py``), so that it sees every
route, Gradio's own included, and leaves streamed responses (server-sent events, file downloads) untouched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from types import SimpleNamespace
from typing import Any

from fusion import messages
from fusion.housekeeping import TempSpace
from fusion.ui.i18n import request_language, translate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Request bodies of everything but uploads: prompts and options are small (a prompt is at most 4,000 characters);
#: a 9 MB labels string is not a request anyone needs to send.
MAX_BODY_BYTES = 1 << 20
UPLOAD_PATH_SUFFIX = "/gradio_api/upload"
#: Gradio's page needs inline scripts and styles (its config, its theme) and compiles ``js=`` event functions at
#: run time; everything else comes from this server, fonts from Google's, and only Hugging Face may frame it.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
        "font-src 'self' data: https://fonts.gstatic.com",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self' https://huggingface.co https://*.hf.space",
    )
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
)
TOO_LARGE = "The request is larger than this app accepts ({limit} KB)."
UPLOADS_PAUSED = "Uploads are paused: the server's temporary space is full. Try again in a few minutes."


class Hardening:
    """ASGI middleware: adds :data:`SECURITY_HEADERS`, refuses oversized bodies (413) and, while ``space`` is
    full, uploads (507)."""

    def __init__(self, app: ASGIApp, *, space: TempSpace | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.space = space
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].endswith(UPLOAD_PATH_SUFFIX)
        if upload and self.space is not None and self.space.full():
            await _refuse(scope, send, 507, UPLOADS_PAUSED)
            return
        if not upload and int(_header(scope, b"content-length") or 0) > self.max_body:
            await _refuse(scope, send, 413, messages.Message(TOO_LARGE, limit=self.max_body >> 10))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _value in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in SECURITY_HEADERS if name not in present),
                ]
            await send(message)

        await self.app(scope, receive if upload else _capped(receive, self.max_body), send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    value = next((value for key, value in scope.get("headers", []) if key == name), None)
    return None if value is None else value.decode("latin-1")


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` that ends the request as a disconnect once a body without a declared length passes ``limit``."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
        return message

    return capped


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """Answer with ``message`` in the language the request asks for, as Gradio answers its own refusals."""
    language = request_language(SimpleNamespace(headers={"accept-language": _header(scope, b"accept-language") or ""}))
    body = json.dumps({"detail": translate(message, language)}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
