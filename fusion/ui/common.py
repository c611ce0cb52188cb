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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar

import gradio as gr

from fusion import images
from fusion.config import Settings
from fusion.errors import ModelLoadError, new_error_id
from fusion.messages import Message
from fusion.ui.files import accepted_path
from fusion.ui.i18n import localized, t
from fusion.ui.requests import current_request

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

#: Every event that runs a model on the GPU joins this one queue (hysts' Spaces do the same).
GPU_CONCURRENCY_ID = "gpu"
GPU_CONCURRENCY_LIMIT = 1
#: The attribute of a ``gr.Error`` made by :func:`user_error` that keeps its message untranslated.
UNTRANSLATED = "fusion_message"

#: The names Gradio gave these notices outputs in the API description when they had no label of their own
#: (``value_<component id>``). Clients see them in ``view_api()`` (``tests/data/api_snapshot.json``), so they keep
#: them as explicit labels, whatever components the page now builds before them. Markdown shows no label.
FEATURES_NOTICES_LABEL = "value_100"
FUSION_NOTICES_LABEL = "value_326"

TINY_BANNER = (
    "**Smoke-test mode (`FUSION_MODELS=tiny`)**: every model here has tiny *random* weights, so captions, labels "
    "and generated images are noise. Unset `FUSION_MODELS` to use the real models."
)


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` in the request's language, without a traceback in the log (it is the user's error, not the
    app's). Gradio's toast renders the text as HTML, so :func:`as_text` keeps markup a user typed inert.

    The error keeps ``message`` as it was given (a :class:`~fusion.messages.Message` survives pickling): raised in
    a ZeroGPU worker, where there is no request and so no language, it is translated again where it is caught.
    """
    error = gr.Error(as_text(localized(message)), print_exception=False)
    setattr(error, UNTRANSLATED, message)
    return error


def as_text(message: str) -> str:
    """``message`` safe to render as HTML: ``&``, ``<`` and ``>`` escaped, and nothing else (apostrophes and
    quotes stay as they are, so API clients read ordinary messages unchanged)."""
    return html.escape(message, quote=False)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn our user-facing errors (``ValueError``, ``ModelLoadError``) into ``gr.Error`` for the browser and API.

    A user's error is logged as one line. Anything else is a bug: it is logged with its traceback under an error
    id, and the user gets a short, honest message with that id rather than Gradio's bare "Error" (and no exception
    text, which may name server paths). Generator functions (streaming events) are covered while they iterate.
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
    name = getattr(fn, "__name__", fn)
    try:
        yield
    except gr.Error as error:
        # Raised in a ZeroGPU worker, where there is no request to take the language from: translate it here.
        untranslated = getattr(error, UNTRANSLATED, None)
        error.message = localized(error.message) if untranslated is None else as_text(localized(untranslated))
        error.print_exception = False
        raise
    except (ValueError, ModelLoadError) as error:
        log.info("%s refused a request: %s", name, error)
        raise user_error(message_of(error)) from None
    except Exception:
        error_id = new_error_id()
        log.exception("Unexpected failure in %s [error %s]", name, error_id)
        raise user_error(
            Message(
                "Something went wrong inside the app (error {error_id}). The request was not completed; please try "
                "again, and report it with this error id if it happens again.",
                error_id=error_id,
            )
        ) from None


def message_of(error: BaseException) -> str:
    """The message an exception was raised with, a :class:`~fusion.messages.Message` included (``str(error)``
    would give its English as plain text)."""
    return error.args[0] if len(error.args) == 1 and isinstance(error.args[0], str) else str(error)


def decode_upload(upload: Any, settings: Settings, *, what: str = "image") -> images.DecodedImage:
    """Decode a raw upload (a FileData dict or a path) that passes the file gate, with the app's size limits."""
    return images.load(
        accepted_path(upload, what=what), max_side=settings.max_image_side, max_bytes=settings.decode_memory, what=what
    )


def current_session() -> str | None:
    """The session hash of the request Gradio is serving in this thread (``None`` outside a request)."""
    return getattr(current_request(), "session_hash", None)


def notices_markdown(notices: Iterable[str]) -> str:
    """Notices in the request's language as a Markdown bullet list (markup made inert), or an empty string."""
    return "\n".join(f"- {as_text(localized(notice))}" for notice in notices)


MISSING_BANNER = (
    "**Not downloaded yet**: {models}. The first request that needs one of them downloads it (which takes a "
    "while), or fails on a machine without internet. To fetch them all now, run `python -m fusion download`."
)
MISSING_OFFLINE_BANNER = (
    "**Not downloaded yet, and this server is offline** (`HF_HUB_OFFLINE`): {models}. The panels that need them "
    "answer with an error until they are fetched with `python -m fusion download` on a machine with internet."
)


def model_banner(settings: Settings, missing: Sequence[str] = (), *, offline: bool = False) -> gr.Markdown:
    """A visible note when the models are not real (tiny mode) or not all there yet (hub mode, ``missing`` names
    them: their titles and Hub ids); invisible otherwise."""
    if settings.models == "tiny":
        return gr.Markdown(t(TINY_BANNER), elem_classes=["fusion-banner"], elem_id="fusion-banner")
    if missing:
        text = t(Message(MISSING_OFFLINE_BANNER if offline else MISSING_BANNER, models=", ".join(missing)))
        return gr.Markdown(text, elem_classes=["fusion-banner"], elem_id="fusion-banner")
    return gr.Markdown(visible=False, elem_id="fusion-banner")


def raw_data(elem_id: str | None = None) -> gr.Accordion:
    """The collapsed section holding an event's raw JSON (what the API returns), under its readable card."""
    return gr.Accordion(t("Raw data"), open=False, elem_id=elem_id, elem_classes=["fusion-raw"])


def wire_stop(stop_button: gr.Button, running: Any, stop_signals: Any) -> None:
    """Stop sets the session's run's stop signal (``fusion.generation.StopSignals``: the run ends after its
    current step); with no run of the session here, a change of ``withdraw`` cancels the event through Gradio (a
    queued run, or one in a ZeroGPU worker)."""
    withdraw = gr.State(0)
    stop_button.click(
        lambda count: gr.skip() if stop_signals.stop(current_session()) else count + 1,
        inputs=withdraw,
        outputs=withdraw,
        api_visibility="private",
        queue=False,
    )
    withdraw.change(None, cancels=[running], api_visibility="private")
