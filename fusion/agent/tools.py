"""The Ask tools: every operation of the app as a callable with a JSON schema, built from the API's own specs.

Each argument's schema is derived from what defines the API: a classical operation's :class:`ParamSpec` (type,
default, range, step, choices), or a field of the task's options dataclass (its type hint, default and the
module's bounds constant). Nothing is typed twice, so the schemas cannot drift from the API; the tests check
each property against the spec it came from and against the API's own validation.

The model sees images only as handles ("image-1"): a tool's image arguments are handles in its schema and
arrays when it runs, and the images it returns get new handles from the conversation. Free text the model
writes for the image models (prompts, labels, questions) is capped at ``max_text_chars`` (never above the
API's own limit), and must be English: BLIP, CLIP and Stable Diffusion read English only.

Tools are plain callables bound to the cache; ``gpu`` marks those that run a model, so a UI can route their
``run`` through its GPU queue.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from fusion import captioning, features, flows, generation
from fusion.classification import hybrid, labels, zeroshot
from fusion.features.core import Operation, ParamSpec

if TYPE_CHECKING:
    from fusion.cache import ModelCache

#: Default cap on the characters of free text the model writes into one argument.
TEXT_CHARS = 200
#: Default cap on the labels the model passes to one classification.
LABELS = 10
#: Decimals kept in the numbers a tool reports back to the model.
DIGITS = 4
#: A tool reports at most this many numbers or labels back (the model's context is short).
MAX_REPORTED = 16
#: ... and at most this many characters of any text (a caption, a label typed by a user).
MAX_REPORTED_CHARS = 300
IMAGE_DESCRIPTION = "Image handle, like image-1."
Schema = dict[str, Any]
#: The JSON type of each option type a tool argument can have.
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


@dataclass(frozen=True)
class ToolOutput:
    """What a tool returns: a compact JSON-safe summary for the model, and new images (RGB uint8 arrays)."""

    data: Mapping[str, Any]
    images: tuple[np.ndarray, ...] = ()
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tool:
    """One function the model may call. ``run(**arguments)`` gets image arguments as arrays."""

    name: str
    description: str
    #: JSON schema of each argument; image arguments are named in ``images``.
    properties: Mapping[str, Schema]
    required: tuple[str, ...]
    run: Callable[..., ToolOutput] = field(repr=False)
    images: tuple[str, ...] = ()
    #: Runs a model (a UI routes it through its GPU queue); classical operations do not.
    gpu: bool = False

    def available(self, handles: Sequence[str]) -> bool:
        """Whether the tool can run with these images (every required image argument needs one)."""
        return bool(handles) or not any(name in self.required for name in self.images)

    def schema(self, handles: Sequence[str] | None = None) -> Schema:
        """The function's chat-template schema. With ``handles`` image arguments are an enum of exactly those
        (the decoding grammar's view); without, a described string (the prompt's view, the same every turn)."""
        properties: dict[str, Schema] = {}
        for name, schema in self.properties.items():
            if name in self.images and handles is not None:
                if not handles:
                    continue
                schema = {**schema, "enum": list(handles)}
            properties[name] = schema
        parameters = {
            "type": "object",
            "properties": properties,
            "required": [name for name in self.required if name in properties],
            "additionalProperties": False,
        }
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }


# ------------------------------------------------------------------------------------------- schemas
def image_schema() -> Schema:
    return {"type": "string", "description": IMAGE_DESCRIPTION}


def text_schema(description: str, max_chars: int) -> Schema:
    return {"type": "string", "maxLength": max_chars, "description": description}


def spec_schema(spec: ParamSpec) -> Schema:
    """A classical operation's parameter: its kind, default and range; stepped integers as the allowed values."""
    description = f"{spec.label}. {spec.info}".strip()
    if spec.kind == "choice":
        return {"type": "string", "enum": list(spec.choices), "default": spec.default, "description": description}
    if spec.kind == "bool":
        return {"type": "boolean", "default": spec.default, "description": description}
    if spec.kind == "int" and spec.step and spec.step > 1:
        allowed = list(range(int(spec.minimum), int(spec.maximum) + 1, int(spec.step)))
        return {"type": "integer", "enum": allowed, "default": spec.default, "description": description}
    kind = "integer" if spec.kind == "int" else "number"
    return {
        "type": kind,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "default": spec.default,
        "description": description,
    }


def field_schema(
    owner: type,
    name: str,
    description: str,
    *,
    bounds: tuple[float, float] | None = None,
    max_chars: int | None = None,
) -> Schema:
    """A field of an options dataclass: the JSON type of its hint, its default, and ``bounds`` for numbers.

    ``X | None`` fields mean "the model's own default" when left out, so they get no default of their own.
    """
    hint = typing.get_type_hints(owner)[name]
    default = {item.name: item.default for item in dataclasses.fields(owner)}[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is Literal:
        schema: Schema = {"type": "string", "enum": list(typing.get_args(hint))}
    else:
        schema = {"type": JSON_TYPES[hint]}  # a KeyError names a type the tools cannot describe
    if schema["type"] in ("integer", "number"):
        schema["minimum"], schema["maximum"] = bounds  # numbers need their bounds
    if schema["type"] == "string" and "enum" not in schema:
        schema["maxLength"] = int(max_chars)  # and text its length limit
    if default not in (None, "", dataclasses.MISSING):
        schema["default"] = default
    schema["description"] = description
    return schema


def choices_schema(values: Sequence[str], description: str, default: str | None = None) -> Schema:
    schema: Schema = {"type": "string", "enum": list(values), "description": description}
    if default is not None:
        schema["default"] = default
    return schema


# ------------------------------------------------------------------------------------------- results
def compact(value: Any) -> Any:
    """JSON-safe, short: floats rounded, at most :data:`MAX_REPORTED` items per mapping or list and
    :data:`MAX_REPORTED_CHARS` characters per text or key (whatever a request carried, the prompt stays short)."""
    if isinstance(value, str):
        return _clipped(value)
    if isinstance(value, bool | int | type(None)):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return round(number, DIGITS) if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Mapping):
        return {_clipped(str(key)): compact(item) for key, item in list(value.items())[:MAX_REPORTED]}
    if isinstance(value, Sequence | np.ndarray):
        return [compact(item) for item in list(value)[:MAX_REPORTED]]
    return _clipped(str(value))


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_REPORTED_CHARS else text[: MAX_REPORTED_CHARS - 3] + "..."


def rgb(image: np.ndarray | Image.Image) -> np.ndarray:
    """An RGB uint8 array of a result (grayscale maps are repeated over three channels), so tools chain."""
    pixels = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    return np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels


def tool_name(operation: str) -> str:
    """``Gamma / contrast / brightness`` -> ``gamma_contrast_brightness``."""
    return re.sub(r"[^a-z0-9]+", "_", operation.lower()).strip("_")


# ------------------------------------------------------------------------------------- classical tools
def feature_tool(operation: Operation) -> Tool:
    """One classical operation: its parameters are exactly its :class:`ParamSpec` s."""
    properties: dict[str, Schema] = {"image": image_schema()}
    images = ("image",)
    if operation.needs_second_image:
        properties["second_image"] = {**image_schema(), "description": "Image to match against (optional)."}
        images = ("image", "second_image")
    properties.update({spec.name: spec_schema(spec) for spec in operation.params})

    def run(image: np.ndarray, second_image: np.ndarray | None = None, **params: Any) -> ToolOutput:
        result = features.run_operation(image, operation.name, second_image=second_image, **params)
        return ToolOutput(data=compact(result.stats), images=(rgb(result.image),))

    return Tool(tool_name(operation.name), operation.description, properties, ("image",), run, images)


# ------------------------------------------------------------------------------------------ model tools
def _caption_tool(cache: ModelCache, max_chars: int) -> Tool:
    options = captioning.CaptionOptions
    bounds = captioning.CAPTION_BOUNDS
    properties = {
        "image": image_schema(),
        "model": field_schema(options, "model", "BLIP base (fast) or large."),
        "prefix": field_schema(
            options,
            "prefix",
            "Text the caption must start with, in English (empty: unconditional).",
            max_chars=min(max_chars, captioning.MAX_PREFIX_CHARS),
        ),
        "mode": field_schema(options, "mode", "Decoding: greedy, beam search or nucleus sampling."),
        "num_beams": field_schema(options, "num_beams", "Beams for beam search.", bounds=bounds["num_beams"]),
        "max_new_tokens": field_schema(
            options, "max_new_tokens", "Longest caption in tokens.", bounds=bounds["max_new_tokens"]
        ),
    }

    def run(image: np.ndarray, **arguments: Any) -> ToolOutput:
        result = captioning.caption([image], options(**arguments), cache=cache)
        return ToolOutput(data={"caption": result.captions[0][0]}, notices=result.notices)

    return Tool("caption", "Describe an image in one English sentence (BLIP).", properties, ("image",), run,
                ("image",), gpu=True)


def _answer_tool(cache: ModelCache, max_chars: int) -> Tool:
    properties = {
        "image": image_schema(),
        "question": text_schema(
            "A short question about the image, in English.", min(max_chars, captioning.MAX_QUESTION_CHARS)
        ),
    }

    def run(image: np.ndarray, question: str) -> ToolOutput:
        result = captioning.answer(image, question, cache=cache)
        return ToolOutput(data={"question": result.question, "answer": result.answer}, notices=result.notices)

    return Tool("answer_question", "Answer a short question about an image (BLIP VQA: yes/no, colours, counts).",
                properties, ("image", "question"), run, ("image",), gpu=True)


def labels_schema(max_chars: int, max_labels: int) -> Schema:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": min(max_chars, labels.MAX_LABEL_LENGTH)},
        "minItems": 1,
        "maxItems": min(max_labels, labels.MAX_LABELS),
        "description": "Candidate labels in English, like [\"cat\", \"dog\"].",
    }


def _classify_tool(cache: ModelCache, max_chars: int, max_labels: int) -> Tool:
    options = zeroshot.ZeroShotOptions
    properties = {
        "image": image_schema(),
        "labels": labels_schema(max_chars, max_labels),
        "mode": field_schema(
            options, "mode", "softmax: which one is it; independent: is each label present."
        ),
        "include_none": field_schema(options, "include_none", "Add a 'none of these' class (softmax)."),
        "threshold": field_schema(
            options, "threshold", "Independent mode: labels scoring at least this are present.", bounds=(0.0, 1.0)
        ),
    }

    def run(image: np.ndarray, labels: Sequence[str], **arguments: Any) -> ToolOutput:
        result = zeroshot.zero_shot(image, tuple(labels), options(**arguments), cache=cache)
        ranked = dict(sorted(result.confidences().items(), key=lambda item: -item[1]))
        data = {"top_label": result.top_label, "scores": compact(ranked)}
        if result.mode == "independent":
            data["present"] = list(result.present)
        return ToolOutput(data=data, notices=result.notices)

    return Tool("classify", "Score an image against candidate labels with CLIP zero-shot.", properties,
                ("image", "labels"), run, ("image",), gpu=True)


def _explain_tool(cache: ModelCache, max_chars: int, max_labels: int) -> Tool:
    properties = {"image": image_schema(), "labels": labels_schema(max_chars, max_labels)}

    def run(image: np.ndarray, labels: Sequence[str]) -> ToolOutput:
        head = hybrid.zero_shot_head(tuple(labels), cache=cache)
        result = hybrid.explain(image, head, cache=cache)
        data = {
            "top_label": result.top_label,
            "confidences": compact(result.confidences),
            "contributions": compact(result.contributions),
        }
        heatmap = () if result.heatmap is None else (result.heatmap,)
        return ToolOutput(data=data, images=heatmap, notices=result.notices)

    return Tool(
        "explain_classification",
        "Classify an image among labels and show where CLIP sees the top label (a heatmap image) and how much "
        "each feature family (colour, texture, edges, CLIP) contributed.",
        properties, ("image", "labels"), run, ("image",), gpu=True,
    )


def _generation_properties(max_chars: int, *names: str) -> dict[str, Schema]:
    """Schemas of :class:`GenerationOptions` fields, with the bounds ``fusion.generation`` clamps to."""
    options = generation.GenerationOptions
    text_chars = min(max_chars, generation.MAX_PROMPT_CHARS)
    steps = (1, max(preset.max_steps for preset in generation.MODELS.values()))
    schemas = {
        "prompt": field_schema(options, "prompt", "What to paint, in English.", max_chars=text_chars),
        "negative_prompt": field_schema(options, "negative_prompt", "What to avoid, in English.", max_chars=text_chars),
        "model": choices_schema(tuple(generation.MODELS), "sd15 (quality) or sd-turbo (one step).", options.model),
        "scheduler": choices_schema(tuple(generation.SCHEDULERS), "Sampler; left out: the model's own."),
        "steps": field_schema(options, "steps", "Denoising steps; left out: the model's own.", bounds=steps),
        "guidance": field_schema(
            options, "guidance", "Prompt guidance; left out: the model's own.", bounds=generation.GUIDANCE_RANGE
        ),
        "width": field_schema(options, "width", "Width in pixels.", bounds=generation.SIZE_RANGE),
        "height": field_schema(options, "height", "Height in pixels.", bounds=generation.SIZE_RANGE),
        "seed": field_schema(options, "seed", "Seed; -1 draws a random one.", bounds=(-1, generation.SEED_LIMIT - 1)),
        "num_images": field_schema(options, "num_images", "Images to make.", bounds=(1, generation.MAX_IMAGES)),
        "strength": field_schema(
            options, "strength", "img2img: how far to move from the init image.", bounds=generation.STRENGTH_RANGE
        ),
        "control_scale": field_schema(
            options, "control_scale", "How strictly to follow the edge map.", bounds=generation.CONTROL_SCALE_RANGE
        ),
    }
    return {name: schemas[name] for name in names}


def _generate_tool(cache: ModelCache, max_chars: int) -> Tool:
    properties = {
        **_generation_properties(
            max_chars, "prompt", "negative_prompt", "model", "scheduler", "steps", "guidance", "width", "height",
            "seed", "num_images",
        ),
        "init_image": {**image_schema(), "description": "Start from this image (img2img); left out: from noise."},
        **_generation_properties(max_chars, "strength"),
    }

    def run(prompt: str, init_image: np.ndarray | None = None, **arguments: Any) -> ToolOutput:
        options = generation.GenerationOptions(prompt=prompt, init_image=init_image, **arguments)
        result = generation.generate(options, cache=cache)
        data = {"seeds": list(result.seeds), "steps": result.steps_done, "size": [result.options.width,
                result.options.height], "flagged_by_safety_checker": sum(result.flagged)}
        return ToolOutput(data=data, images=tuple(rgb(image) for image in result.images), notices=result.notices)

    return Tool("generate_image", "Paint new images from an English prompt with Stable Diffusion, optionally "
                "starting from an image (img2img).", properties, ("prompt",), run, ("init_image",), gpu=True)


def _edge_properties() -> dict[str, Schema]:
    """The edge operation and every parameter of the edge operations, from their specs."""
    properties = {
        "edge_operation": choices_schema(
            flows.EDGE_OPERATIONS, "Classical operation that draws the edge map.", flows.DEFAULT_EDGE_OPERATION
        )
    }
    for name in flows.EDGE_OPERATIONS:
        properties.update({spec.name: spec_schema(spec) for spec in features.get_operation(name).params})
    return properties


def _edges_tool(cache: ModelCache, max_chars: int) -> Tool:
    edge_names = set(_edge_properties()) - {"edge_operation"}
    properties = {
        "image": image_schema(),
        **_generation_properties(max_chars, "prompt", "negative_prompt", "steps", "guidance", "seed", "control_scale"),
        **_edge_properties(),
    }

    def run(
        image: np.ndarray, prompt: str, edge_operation: str = flows.DEFAULT_EDGE_OPERATION, **arguments: Any
    ) -> ToolOutput:
        edge_params = {name: value for name, value in arguments.items() if name in edge_names}
        options = {name: value for name, value in arguments.items() if name not in edge_names}
        result = flows.edges_to_image(
            image,
            generation.GenerationOptions(prompt=prompt, model="sd15", **options),
            edges=flows.EdgeSettings(edge_operation, edge_params),
            cache=cache,
        )
        reports = [{"caption": report.caption, "edge_f1": report.fidelity.edges.f1} for report in result.reports]
        images = (result.control, *(rgb(image) for image in result.generation.images))
        return ToolOutput(data=compact({"images": reports}), images=images, notices=result.notices)

    return Tool(
        "edges_to_image",
        "Draw an image's edge map with a classical edge operation, then paint a new image that follows those edges "
        "(ControlNet + Stable Diffusion 1.5). Returns the edge map, then the painting.",
        properties, ("image", "prompt"), run, ("image",), gpu=True,
    )


def _reimagine_tool(cache: ModelCache, max_chars: int) -> Tool:
    properties = {
        "image": image_schema(),
        "mode": choices_schema(
            typing.get_args(flows.ReimagineMode),
            "txt2img: from its caption; img2img: from the image.",
            inspect.signature(flows.reimagine).parameters["mode"].default,
        ),
        **_generation_properties(max_chars, "prompt", "steps", "guidance", "seed", "strength"),
    }
    properties["prompt"] = {**properties["prompt"], "description": "Prompt; left out: the image's own caption."}

    def run(image: np.ndarray, **arguments: Any) -> ToolOutput:
        mode = arguments.pop("mode", properties["mode"]["default"])
        result = flows.reimagine(image, generation.GenerationOptions(**arguments), mode=mode, cache=cache)
        data = {
            "caption": result.caption,
            "prompt": result.prompt,
            "new_caption": result.new_caption,
            "image_similarity": result.image_similarity,
            "text_similarity": result.text_similarity,
        }
        return ToolOutput(data=compact(data), images=(rgb(result.generation.images[0]),), notices=result.notices)

    return Tool("reimagine", "Caption an image, paint a new one from that caption (or a prompt), and say how "
                "close it came back.", properties, ("image",), run, ("image",), gpu=True)


def _report_tool(cache: ModelCache, max_chars: int, max_labels: int) -> Tool:
    properties = {
        "image": image_schema(),
        "prompt": text_schema("Prompt to score the image against (CLIPScore), in English.", max_chars),
        "labels": {**labels_schema(max_chars, max_labels), "description": "Labels to score (optional)."},
    }

    def run(image: np.ndarray, prompt: str = "", labels: Sequence[str] = ()) -> ToolOutput:
        card = flows.report_card(image, prompt=prompt, labels=", ".join(labels), cache=cache)
        data = {
            "caption": card.caption,
            "zero_shot": card.zero_shot,
            "clip_score": card.clip_score,
            "sharpness": card.sharpness,
            "edge_density": card.edge_density,
            "colour_means": card.colour_means,
        }
        return ToolOutput(data=compact(data), notices=card.notices)

    return Tool("report_card", "Measure an image: caption, zero-shot scores, CLIP score against a prompt, "
                "sharpness, edge density and colours.", properties, ("image",), run, ("image",), gpu=True)


def build_tools(cache: ModelCache, *, max_text_chars: int = TEXT_CHARS, max_labels: int = LABELS) -> dict[str, Tool]:
    """Every tool, by name: the classical operations first, then the model tools."""
    tools = [
        *(feature_tool(operation) for operation in features.OPERATIONS.values()),
        _caption_tool(cache, max_text_chars),
        _answer_tool(cache, max_text_chars),
        _classify_tool(cache, max_text_chars, max_labels),
        _explain_tool(cache, max_text_chars, max_labels),
        _generate_tool(cache, max_text_chars),
        _edges_tool(cache, max_text_chars),
        _reimagine_tool(cache, max_text_chars),
        _report_tool(cache, max_text_chars, max_labels),
    ]
    return {tool.name: tool for tool in tools}
