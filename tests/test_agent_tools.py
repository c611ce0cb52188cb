"""The Ask tools' schemas against the specs and options that define the API, and every tool run once.

Each schema property must come from a real parameter: a classical operation's ``ParamSpec`` or a field of the
task's options dataclass, with the same default and range. The ranges are also checked against the API's own
validation, which must accept both ends and refuse (or clamp, with a notice) the values just outside.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

from fusion import captioning, features, flows, generation
from fusion.agent import tools as agent_tools
from fusion.classification import labels as label_limits
from fusion.classification import zeroshot

IMAGE = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
#: Model tools -> the options dataclass whose fields their non-image arguments are (edge parameters aside).
OPTIONS = {
    "caption": captioning.CaptionOptions,
    "classify": zeroshot.ZeroShotOptions,
    "generate_image": generation.GenerationOptions,
    "edges_to_image": generation.GenerationOptions,
    "reimagine": generation.GenerationOptions,
}
#: Arguments that are not options fields, and where they come from.
OTHER_ARGUMENTS = {
    "answer_question": {"question"},  # captioning.answer(image, question)
    "classify": {"labels"},  # zero_shot(image, labels)
    "explain_classification": {"labels"},  # zero_shot_head(labels)
    "edges_to_image": {"edge_operation"} | {spec.name for name in flows.EDGE_OPERATIONS
                                            for spec in features.get_operation(name).params},
    "reimagine": {"mode"},  # reimagine(..., mode=)
    "report_card": {"prompt", "labels"},  # report_card(prompt=, labels=)
}


@pytest.fixture(scope="module")
def tools(tiny_cache) -> dict[str, agent_tools.Tool]:
    return agent_tools.build_tools(tiny_cache)


def test_every_classical_operation_is_a_tool_with_exactly_its_specs(tools) -> None:
    for operation in features.OPERATIONS.values():
        tool = tools[agent_tools.tool_name(operation.name)]
        images = {"image", "second_image"} if operation.needs_second_image else {"image"}
        assert set(tool.properties) == images | {spec.name for spec in operation.params}
        assert tool.description == operation.description
        for spec in operation.params:
            schema = tool.properties[spec.name]
            assert schema["default"] == spec.default
            if spec.kind == "choice":
                assert schema["enum"] == list(spec.choices)
            elif spec.kind == "bool":
                assert schema["type"] == "boolean"
            elif "enum" in schema:  # stepped integers: every allowed value, and only those
                assert schema["enum"][0] == spec.minimum and schema["enum"][-1] <= spec.maximum
                for value in schema["enum"]:
                    features.coerce_param(spec, value)
                with pytest.raises(ValueError):
                    features.coerce_param(spec, schema["enum"][0] + 1)
            else:
                assert (schema["minimum"], schema["maximum"]) == (spec.minimum, spec.maximum)
                features.coerce_param(spec, spec.minimum)
                features.coerce_param(spec, spec.maximum)
                with pytest.raises(ValueError):
                    features.coerce_param(spec, spec.maximum + 1)


def test_model_tool_arguments_are_option_fields_with_their_defaults(tools) -> None:
    for name, tool in tools.items():
        if name in {agent_tools.tool_name(operation) for operation in features.OPERATIONS}:
            continue
        owner = OPTIONS.get(name)
        fields = {} if owner is None else {field.name: field for field in dataclasses.fields(owner)}
        for argument, schema in tool.properties.items():
            if argument in tool.images:
                continue
            if argument in OTHER_ARGUMENTS.get(name, ()):
                continue
            assert argument in fields, f"{name}.{argument} is no field of {owner}"
            default = fields[argument].default
            if default in (None, ""):
                assert "default" not in schema, f"{name}.{argument}: the API's default is the model's own"
            else:
                assert schema["default"] == default, f"{name}.{argument}"
            hint = typing.get_type_hints(owner)[argument]
            if typing.get_origin(hint) is typing.Literal:
                assert schema["enum"] == list(typing.get_args(hint))


def test_caption_ranges_are_the_bounds_the_api_clamps_to(tools) -> None:
    schema = tools["caption"].properties
    for name in ("num_beams", "max_new_tokens"):
        low, high = captioning.CAPTION_BOUNDS[name]
        assert (schema[name]["minimum"], schema[name]["maximum"]) == (low, high)
        _options, notices = captioning.validate_caption_options(captioning.CaptionOptions(**{name: high}))
        assert not [notice for notice in notices if name in notice]
        _options, notices = captioning.validate_caption_options(captioning.CaptionOptions(**{name: high + 1}))
        assert [notice for notice in notices if name in notice]
    assert schema["prefix"]["maxLength"] <= captioning.MAX_PREFIX_CHARS


def test_generation_ranges_are_the_ones_generation_clamps_to(tools) -> None:
    schema = tools["generate_image"].properties
    inside = {name: schema[name]["maximum"] for name in ("guidance", "width", "height", "num_images", "strength")}
    init = {"init_image": IMAGE}  # strength is checked for img2img only
    resolved, notices = generation.normalise_options(generation.GenerationOptions(**inside, **init), native_size=512)
    assert not [notice for notice in notices if any(name in notice.lower() for name in ("guidance", "strength"))]
    for name in ("guidance", "num_images", "strength"):
        assert getattr(resolved, name) == inside[name]
    outside = {name: value * 2 for name, value in inside.items()}
    resolved, _notices = generation.normalise_options(generation.GenerationOptions(**outside, **init), native_size=512)
    for name in ("guidance", "num_images", "strength"):
        assert getattr(resolved, name) == inside[name], f"{name} beyond the schema's maximum is clamped to it"
    assert schema["model"]["enum"] == list(generation.MODELS)
    assert schema["scheduler"]["enum"] == list(generation.SCHEDULERS)
    assert schema["steps"]["maximum"] == max(preset.max_steps for preset in generation.MODELS.values())
    assert schema["prompt"]["maxLength"] <= generation.MAX_PROMPT_CHARS


def test_classify_threshold_range_is_the_one_the_options_accept(tools) -> None:
    schema = tools["classify"].properties
    zeroshot.ZeroShotOptions(threshold=schema["threshold"]["minimum"])
    zeroshot.ZeroShotOptions(threshold=schema["threshold"]["maximum"])
    with pytest.raises(ValueError):
        zeroshot.ZeroShotOptions(threshold=schema["threshold"]["maximum"] + 0.01)
    labels = schema["labels"]
    assert labels["maxItems"] <= label_limits.MAX_LABELS
    assert labels["items"]["maxLength"] <= label_limits.MAX_LABEL_LENGTH


def test_image_arguments_become_an_enum_of_the_handles_that_exist(tools) -> None:
    canny = tools["canny_edges"]
    assert canny.schema()["function"]["parameters"]["properties"]["image"] == agent_tools.image_schema()
    narrowed = canny.schema(["image-1", "image-3"])["function"]["parameters"]["properties"]["image"]
    assert narrowed["enum"] == ["image-1", "image-3"]
    assert not canny.available(())
    generate = tools["generate_image"]
    assert generate.available(())
    assert "init_image" not in generate.schema(())["function"]["parameters"]["properties"]


def test_every_classical_tool_runs_and_returns_rgb_images(tools) -> None:
    for operation in features.OPERATIONS:
        output = tools[agent_tools.tool_name(operation)].run(image=IMAGE)
        assert output.images and all(image.ndim == 3 and image.shape[2] == 3 for image in output.images)
        assert output.data


def test_every_model_tool_runs_on_the_tiny_models(tools) -> None:
    outputs = {
        "caption": tools["caption"].run(image=IMAGE),
        "answer_question": tools["answer_question"].run(image=IMAGE, question="what is it?"),
        "classify": tools["classify"].run(image=IMAGE, labels=["cat", "dog"]),
        "explain_classification": tools["explain_classification"].run(image=IMAGE, labels=["cat", "dog"]),
        "generate_image": tools["generate_image"].run(prompt="a cat", model="sd-turbo", width=64, height=64),
        "edges_to_image": tools["edges_to_image"].run(image=IMAGE, prompt="a cat", steps=1, canny_auto=True),
        "reimagine": tools["reimagine"].run(image=IMAGE, steps=1),
        "report_card": tools["report_card"].run(image=IMAGE, prompt="a cat", labels=["cat", "dog"]),
    }
    assert set(outputs["classify"].data["scores"]) == {"cat", "dog"}
    assert len(outputs["edges_to_image"].images) == 2  # the edge map, then the painting
    assert outputs["generate_image"].images[0].shape == (64, 64, 3)
    assert isinstance(outputs["report_card"].data["caption"], str)
    assert all(tools[name].gpu for name in outputs)


def test_what_goes_back_to_the_model_stays_short_whatever_a_request_carried() -> None:
    """A report card sent to the summary event by a script may hold any text: the prompt stays bounded."""
    huge = "x" * 500_000
    report = {"caption": huge, "zero_shot": {str(n) + huge: 0.5 for n in range(100)}, "sharpness": 1.23456789}
    shown = agent_tools.compact(report)
    assert len(shown["caption"]) == agent_tools.MAX_REPORTED_CHARS and shown["caption"].endswith("...")
    assert len(shown["zero_shot"]) == agent_tools.MAX_REPORTED
    assert all(len(key) <= agent_tools.MAX_REPORTED_CHARS for key in shown["zero_shot"])
    assert shown["sharpness"] == 1.2346
