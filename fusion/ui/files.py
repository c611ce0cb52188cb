"""Files in and out of the app: one gate for every file that enters, one writer for every result that leaves.

**In.** A client may send any file input as ``{"path": "/any/file"}``. Gradio 6.31 checks that such a path is an
upload only when the dict carries ``meta`` (``SECURITY.md``), so every event hands its raw file inputs to
:func:`accepted_path` first: a path is accepted only if it resolves (symlinks followed) inside Gradio's upload
folder, its examples cache or the app's own example assets. Anything else gets the same answer as an upload that
has gone, so the answer does not tell which files exist.

**Out.** Gradio saves an image result under a hash of its bytes and rewrites that file every time, even while
another request is still downloading it: identical results from concurrent requests cut each other's downloads
short. :func:`result_file` writes each result to a file of its own, inside Gradio's folder (which Gradio then
serves as it is, without copying it) and swept with it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from gradio.processing_utils import get_pil_metadata
from gradio.utils import get_cache_folder, get_upload_folder
from PIL import Image

from fusion.images import ImageError
from fusion.messages import Message

#: The example pictures shipped with the app (``assets/``).
ASSETS = Path(__file__).resolve().parents[2] / "assets"
#: Sub-folder of Gradio's folder that holds result files.
RESULTS_FOLDER = "fusion-results"
GONE = "The {what} file was not found: upload it again."


def allowed_folders() -> tuple[Path, ...]:
    """Where files a client may name live: Gradio's uploads, its examples cache and the app's example assets.

    Read at every call, because Gradio reads ``GRADIO_TEMP_DIR`` at every call too.
    """
    return tuple(folder.resolve() for folder in (Path(get_upload_folder()), get_cache_folder(), ASSETS))


def accepted_path(upload: Any, *, what: str = "image") -> Path | None:
    """The real path of an uploaded file (a FileData dict or a path), or ``None`` when nothing was sent.

    Raises :class:`fusion.images.ImageError` with the same message for a file that does not exist and for one
    outside the allowed folders.
    """
    raw = upload.get("path") if isinstance(upload, Mapping) else upload
    if upload is None or (isinstance(upload, Mapping) and not raw):
        return None
    if not isinstance(raw, str | os.PathLike):
        raise ImageError(Message(GONE, what=what))
    try:
        path = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL byte, a name too long
        raise ImageError(Message(GONE, what=what)) from None
    if not path.is_file() or not any(path.is_relative_to(folder) for folder in allowed_folders()):
        raise ImageError(Message(GONE, what=what))
    return path


def new_result_path(filename: str) -> Path:
    """A path no other result has, named ``filename`` (what a download is called), in Gradio's folder."""
    folder = Path(get_upload_folder()) / RESULTS_FOLDER / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder / filename


def result_file(image: Image.Image | np.ndarray, *, name: str = "result", image_format: str = "png") -> str:
    """Write a result picture to a new file of its own and return its path (text chunks kept in a PNG)."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    path = new_result_path(f"{name}.{image_format}")
    options = {"pnginfo": get_pil_metadata(picture)} if image_format == "png" else {}
    picture.save(path, format=image_format, **options)
    return str(path)
