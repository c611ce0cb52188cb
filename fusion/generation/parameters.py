"""A1111's PNG ``parameters`` text: written into every generated image, read back from a dropped PNG.

The format is the prompt, an optional ``Negative prompt:`` line, then ``Key: value`` pairs; values with commas,
colons or quotes are JSON-quoted. Reading keeps only what it recognises, so a PNG from another tool restores what
it can.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from fusion.generation.options import GenerationOptions
from fusion.generation.schedulers import SCHEDULERS

#: The PNG text chunk A1111 and most Stable Diffusion tools read and write.
PARAMETERS_CHUNK = "parameters"


def format_parameters(options: GenerationOptions, seed: int) -> str:
    """A1111's ``parameters`` text of resolved options: prompt, negative prompt, ``Key: value`` pairs."""
    pairs = {
        "Steps": options.steps,
        "Sampler": options.scheduler,
        "CFG scale": f"{options.guidance:g}",
        "Seed": seed,
        "Size": f"{options.width}x{options.height}",
        "Model": options.model,
    }
    if options.init_image is not None:
        pairs["Denoising strength"] = f"{options.strength:g}"
    if options.decoder != "vae":
        pairs["Decoder"] = options.decoder
    lines = [options.prompt]
    if options.negative_prompt:
        lines.append(f"Negative prompt: {options.negative_prompt}")
    lines.append(", ".join(f"{key}: {_quote(str(value))}" for key, value in pairs.items()))
    return "\n".join(lines)


def _quote(value: str) -> str:
    return json.dumps(value) if any(char in value for char in ',:"\n') else value


_PARAMETER = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEGATIVE_PREFIX = "Negative prompt:"


def parse_parameters(text: str) -> dict[str, Any]:
    """Read A1111 ``parameters`` text back into option names (``prompt``, ``steps``, ``seed``, ...).

    Only recognised values are returned; keys it cannot read (or values that are not numbers where numbers are
    expected) are left out, so a PNG from another tool restores what it can.
    """
    lines = text.rstrip("\n").split("\n")
    pairs: dict[str, str] = {}
    if lines and len(_PARAMETER.findall(lines[-1])) >= 3:
        pairs = {key.strip(): _unquote(value) for key, value in _PARAMETER.findall(lines.pop())}
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    for line in lines:
        if negative_lines or line.startswith(_NEGATIVE_PREFIX):
            negative_lines.append(line.removeprefix(_NEGATIVE_PREFIX).lstrip() if not negative_lines else line)
        else:
            prompt_lines.append(line)
    parsed: dict[str, Any] = {"prompt": "\n".join(prompt_lines), "negative_prompt": "\n".join(negative_lines)}
    readers: dict[str, tuple[str, Callable[[str], Any]]] = {
        "Steps": ("steps", int),
        "CFG scale": ("guidance", float),
        "Seed": ("seed", int),
        "Denoising strength": ("strength", float),
        "Sampler": ("scheduler", str),
        "Model": ("model", str),
        "Decoder": ("decoder", str),
    }
    for key, (name, read) in readers.items():
        if key in pairs:
            try:
                parsed[name] = read(pairs[key])
            except ValueError:
                continue
    size = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", pairs.get("Size", ""))
    if size:
        parsed["width"], parsed["height"] = int(size[1]), int(size[2])
    if pairs.get("Schedule type", "").lower() == "karras" and f"{parsed.get('scheduler')} Karras" in SCHEDULERS:
        parsed["scheduler"] = f"{parsed['scheduler']} Karras"
    return parsed


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write a generated image as PNG with its text chunks (``parameters``, a run card; Pillow drops ``info``
    on save), as Gradio writes them."""
    info = PngInfo()
    for key, value in image.info.items():
        if isinstance(value, str):
            info.add_text(key, value)
    image.save(path, format="PNG", pnginfo=info)
    return Path(path)

