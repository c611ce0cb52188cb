"""An upload is checked the moment it arrives: a file that cannot be used is named, said why, and taken out of the
input at once, rather than failing later when a button is pressed (or silently, in a send-to button).

The check is the one every event makes before it decodes: the file gate (``fusion/ui/files.py``), then the image
header (format, pixels, decode memory: :func:`fusion.images.check_header`). It reads no pixels, so it answers in
milliseconds. The message is a warning toast in the request's language; the check is a private, queued event
(only a queued event's messages reach the page), outside the GPU lane.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from fusion import images
from fusion.config import Settings
from fusion.messages import Lines, Message
from fusion.ui.common import as_text, message_of
from fusion.ui.files import accepted_path
from fusion.ui.i18n import localized

log = logging.getLogger(__name__)
#: How long the warning stays (seconds): long enough to read, then it goes by itself.
WARNING_SECONDS = 12
PRIVATE = {"api_visibility": "private", "preprocess": False, "concurrency_limit": None, "show_progress": "hidden"}


def problem(upload: Any, settings: Settings, *, what: str = "image") -> str | None:
    """Why an uploaded image cannot be used (a message for the user), or ``None`` when it can (or nothing came)."""
    try:
        path = accepted_path(upload, what=what)
        if path is not None:
            images.check_header(path, max_side=settings.max_image_side, max_bytes=settings.decode_memory, what=what)
    except images.ImageError as error:
        return message_of(error)
    return None


def warn(message: str) -> None:
    """Show ``message`` (English, a catalogue entry or a template) as a warning toast in the request's language."""
    gr.Warning(as_text(localized(message)), duration=WARNING_SECONDS)


def checked_image(settings: Settings, *, what: str = "image") -> Callable[[Any], Any]:
    """An ``.upload`` event function: the upload stays when it is usable; otherwise a warning, and it is removed."""

    def check_image_upload(upload: Any) -> Any:
        message = problem(upload, settings, what=what)
        if message is None:
            return gr.skip()
        log.info("refused an upload: %s", message)
        warn(message)
        return None

    return check_image_upload


def checked_files(settings: Settings) -> Callable[[Any], Any]:
    """An ``.upload`` event function for a multi-file input: unusable files are named and removed, the rest stay."""

    def check_file_uploads(uploads: Any) -> Any:
        files = list(uploads or []) if isinstance(uploads, list) else [uploads]
        kept, refused = [], []
        for index, upload in enumerate(files):
            message = problem(upload, settings, what=Message("file {number}", number=index + 1))
            (kept if message is None else refused).append(upload if message is None else message)
        if not refused:
            return gr.skip()
        log.info("refused %d of %d uploaded files", len(refused), len(files))
        warn(
            Message(
                "Removed {count} file(s) that cannot be used:\n{reasons}", count=len(refused), reasons=Lines(refused)
            )
        )
        return [upload["path"] if isinstance(upload, dict) else upload for upload in kept] or None

    return check_file_uploads


def check_on_upload(settings: Settings, *inputs: gr.Image | gr.File, what: str = "image") -> None:
    """Check every upload into each of ``inputs`` as it arrives (image inputs, or multi-file inputs of images).

    An image input is checked on ``.input`` (what the visitor put there): Gradio's image input fires no ``.upload``
    for a file its preview cannot show, which is the very upload to refuse. A file input is checked on
    ``.upload``. Values the page sets (examples, send-to copies) are not: a send-to checks before it copies.
    """
    for component in inputs:
        if isinstance(component, gr.File):
            component.upload(checked_files(settings), component, component, **PRIVATE)
        else:
            component.input(checked_image(settings, what=what), component, component, **PRIVATE)
