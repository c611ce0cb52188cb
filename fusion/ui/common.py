"""What every panel shares: decoding uploads, turning our errors into ``gr.Error``, notices, the GPU queue id.

Panels hand uploads to :func:`decode_upload` with ``preprocess=False`` on their events, because Gradio's own image
preprocessing fails on a broken file with a bare "Error" before any of our code runs.
"""

from __future__ import annotations

import contextlib
import functools
import html
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ParamSpec, TypeVar

import gradio as gr

from fusion import images
from fusion.config import Settings
from fusion.i18n import localized, t
from fusion.numbers import finite_number
from fusion.ui.requests import current_request

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

#: Every event that runs a model on the GPU joins this one queue (hysts' Spaces do the same).
GPU_CONCURRENCY_ID = "gpu"
GPU_CONCURRENCY_LIMIT = 1

TINY_BANNER = (
    "**Smoke-test mode (`FUSION_MODELS=tiny`)**: every model here has tiny *random* weights, so captions, labels "
    "and generated images are noise. Unset `FUSION_MODELS` to use the real models."
)


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` in the request's language whose text is escaped (Gradio renders it as HTML)."""
    return gr.Error(html.escape(localized(message), quote=False))


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn our user-facing errors (``ValueError``, ``ModelLoadError``) into ``gr.Error`` for the browser and API.

    Anything else is a bug: it is logged with its traceback and the user gets a short, honest message rather than
    Gradio's bare "Error". Generator functions (streaming events) are covered while they iterate.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            with _errors_reported(fn):
                yield from fn(*args, **kwargs)

        return generator_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _errors_reported(fn):
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _errors_reported(fn: Callable[..., Any]) -> Iterator[None]:
    from fusion.cache import ModelLoadError

    try:
        yield
    except gr.Error as error:
        # Raised in a ZeroGPU worker, where there is no request to take the language from: translate it here.
        error.message = localized(error.message)
        raise
    except (ValueError, ModelLoadError) as error:
        raise user_error(str(error)) from None
    except Exception as error:
        log.exception("Unexpected failure in %s", getattr(fn, "__name__", fn))
        raise user_error(
            f"Something went wrong inside the app ({type(error).__name__}). The request was not completed; "
            "please try again, and report it if it happens again."
        ) from None


def raw_number(value: Any, what: str) -> float | None:
    """A number as a widget or API client sent it (events use ``preprocess=False``); empty gives ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return finite_number(value, what)


def decode_upload(upload: Any, settings: Settings, *, what: str = "image") -> images.DecodedImage:
    """Decode a raw upload (FileData dict, path, PIL image or array) with the app's size limits."""
    return images.load(upload, max_side=settings.max_image_side, max_pixels=settings.max_image_pixels, what=what)


def current_session() -> str | None:
    """The session hash of the request Gradio is serving in this thread (``None`` outside a request)."""
    return getattr(current_request(), "session_hash", None)


def notices_markdown(notices: Iterable[str]) -> str:
    """Notices in the request's language as a Markdown bullet list (escaped), or an empty string."""
    return "\n".join(f"- {html.escape(localized(notice))}" for notice in notices)


def model_banner(settings: Settings) -> gr.Markdown:
    """A visible warning in tiny mode; invisible otherwise."""
    return gr.Markdown(t(TINY_BANNER), visible=settings.models == "tiny", elem_classes=["fusion-tiny-banner"])
