"""API round trip of ``/features`` on the whole app against a minimal Gradio app that wraps the bare library call.

Both servers run in this process on loopback; calls alternate between them so machine load hits both alike. The
minimal app takes a ``gr.Image(type="numpy")`` (Gradio decodes the upload), runs the bare OpenCV / scikit-image
call of ``benchmarks/features.py`` and returns a PNG ``gr.Image``, which is what our panel returns besides its
numbers and notices.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
from gradio_client import Client, handle_file

from benchmarks.features import BARE, photo

#: Operations whose bare call returns the displayed picture, from cheap to expensive.
OPERATIONS = ("Canny edges", "Gaussian blur", "CLAHE", "ORB keypoints", "Morphology")
GOAL = 1.10


@dataclass(frozen=True)
class ApiRow:
    operation: str
    size: int
    minimal_ms: float
    ours_ms: float

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.minimal_ms


def minimal_app() -> gr.Blocks:
    """The smallest app that serves the same picture: decode, bare call, PNG out."""

    def bare(image: np.ndarray, operation: str) -> np.ndarray:
        second = cv2.warpAffine(image, np.float32([[1, 0, 5], [0, 1, 5]]), image.shape[1::-1])
        return BARE[operation](image, second)

    with gr.Blocks() as demo:
        image = gr.Image(type="numpy")
        operation = gr.Textbox()
        result = gr.Image(format="png")
        gr.Button().click(bare, [image, operation], result, api_name="features")
    demo.queue(api_open=False)
    return demo


def _launch(demo: gr.Blocks) -> Client:
    _app, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, ssr_mode=False)
    return Client(url, verbose=False)


def _call_ms(client: Client, path: str, operation: str) -> float:
    started = time.perf_counter()
    client.predict(image=handle_file(path), operation=operation, api_name="/features")
    return (time.perf_counter() - started) * 1000


def measure_api(sizes: Sequence[int], repeats: int) -> list[ApiRow]:
    """Median round trip per operation and size, alternating between the two servers."""
    os.environ.setdefault("FUSION_MODELS", "tiny")
    from app import build_demo
    from fusion.config import settings_from_env

    ours = _launch(build_demo(settings_from_env()))
    minimal = _launch(minimal_app())
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = str(Path(folder) / f"astronaut-{size}.png")
            cv2.imwrite(path, cv2.cvtColor(photo(size), cv2.COLOR_RGB2BGR))
            for operation in OPERATIONS:
                _call_ms(ours, path, operation), _call_ms(minimal, path, operation)  # warm-up
                pairs = [(_call_ms(minimal, path, operation), _call_ms(ours, path, operation)) for _ in range(repeats)]
                rows.append(
                    ApiRow(
                        operation,
                        size,
                        statistics.median(m for m, _ in pairs),
                        statistics.median(o for _, o in pairs),
                    )
                )
    return rows


def format_api_table(rows: Sequence[ApiRow]) -> str:
    lines = [
        "| operation | size | minimal app ms | fusion ms | ratio | goal ≤ 1.10 |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        verdict = "ok" if row.ratio <= GOAL else "OVER"
        timings = f"{row.minimal_ms:.1f} | {row.ours_ms:.1f} | {row.ratio:.3f}"
        lines.append(f"| {row.operation} | {row.size}² | {timings} | {verdict} |")
    return "\n".join(lines)
