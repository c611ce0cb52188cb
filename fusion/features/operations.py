"""Every classical operation behind the UI dropdown and the API, collected from the modules that define them,
with the validation and dispatch they share.

Public parameter names are globally unique (`canny_low`, `morph_kernel_size`, ...) so one flat set of controls
can serve every operation; each operation's `Binding` maps them onto the scikit-image-style keyword options of
the standalone function (`canny(image, low=...)`). To add an operation, write its function and its entry in the
`OPERATIONS` of its group's module (`edges.py`, `preprocess.py`, ...): nothing here changes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fusion.features import colour, edges, keypoints, matching, preprocess, texture, threshold
from fusion.features.core import FeatureResult, Operation, ParamSpec, ParamValue
from fusion.messages import Message
from fusion.numbers import finite_number, one_of, shown

#: Every operation, in the dropdown's order: each module of an operation group declares its own (``OPERATIONS``
#: at its end, beside the functions), this one only collects them.
OPERATIONS: dict[str, Operation] = {
    entry.name: entry
    for module in (edges, preprocess, threshold, keypoints, matching, texture, colour)
    for entry in module.OPERATIONS
}


def coerce_param(spec: ParamSpec, value: object) -> ParamValue:
    """Validate one value against its spec, accepting only lossless conversions (5.0 → 5, 1 → True, 8 → "8").

    Integer specs with a step above 1 only accept minimum + n x step (step 2 from an odd minimum: odd sizes).
    """
    what, name = spec.label, spec.name
    if spec.kind == "choice":
        text = (
            str(value).strip().lower()
            if isinstance(value, str | int) and not isinstance(value, bool)
            else None
        )
        for choice in spec.choices:
            if text == choice.lower():
                return choice
        raise ValueError(
            Message(
                "{what} must be one of {choices}, got {value!r} (parameter {name}).",
                what=what,
                choices=", ".join(spec.choices),
                value=value,
                name=name,
            )
        )
    if spec.kind == "bool":
        if isinstance(value, bool | np.bool_) or (isinstance(value, int | np.integer) and value in (0, 1)):
            return bool(value)
        raise ValueError(
            Message(
                "{what} must be true or false, got {value!r} (parameter {name}).",
                what=what,
                value=value,
                name=name,
            )
        )
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(
            Message("{what} must be a number, got {value!r} (parameter {name}).", what=what, value=value, name=name)
        )
    number: int | float = finite_number(value, what, parameter=name)
    if spec.kind == "int":
        if not number.is_integer():
            raise ValueError(
                Message(
                    "{what} must be a whole number, got {value!r} (parameter {name}).",
                    what=what,
                    value=value,
                    name=name,
                )
            )
        number = int(value)
    if not spec.minimum <= number <= spec.maximum:
        raise ValueError(
            Message(
                "{what} must be between {low} and {high}, got {value} (parameter {name}).",
                what=what,
                low=shown(spec.minimum),
                high=shown(spec.maximum),
                value=shown(number),
                name=name,
            )
        )
    if spec.kind == "int" and spec.step > 1 and (number - spec.minimum) % spec.step:
        if spec.step == 2 and spec.minimum % 2 == 1:
            raise ValueError(
                Message(
                    "{what} must be an odd number, got {value} (parameter {name}).",
                    what=what,
                    value=number,
                    name=name,
                )
            )
        raise ValueError(
            Message(
                "{what} must be {start} + n x {step}, got {value} (parameter {name}).",
                what=what,
                start=spec.minimum,
                step=spec.step,
                value=number,
                name=name,
            )
        )
    return number


def get_operation(name: str) -> Operation:
    """The registered operation called `name`, or a ValueError listing the valid names."""
    return OPERATIONS[one_of(name, OPERATIONS, "operation")]


def validate_params(operation: str, params: Mapping[str, object]) -> dict[str, ParamValue]:
    """All parameters of `operation` coerced and range-checked; missing ones take their defaults."""
    specs = get_operation(operation).params
    known = {spec.name for spec in specs}
    unknown = sorted(set(params) - known)
    if unknown:
        valid = ", ".join(spec.name for spec in specs) or "none"
        raise ValueError(
            Message(
                "Unknown parameter(s) {names} for {operation!r}; valid parameters: {valid}.",
                names=", ".join(unknown),
                operation=operation,
                valid=valid,
            )
        )
    return {
        spec.name: coerce_param(spec, params[spec.name]) if spec.name in params else spec.default
        for spec in specs
    }


def params_for(operation: str, values: Mapping[str, object]) -> dict[str, object]:
    """The entries of `values` that are parameters of `operation`.

    For callers holding one value per control of every operation (a UI): `run_operation` itself rejects
    names the operation does not take, so typos in API calls are not silently ignored.
    """
    names = {spec.name for spec in get_operation(operation).params}
    return {name: value for name, value in values.items() if name in names}


def run_operation(
    image: np.ndarray, operation: str, second_image: np.ndarray | None = None, **params: object
) -> FeatureResult:
    """Run a registered operation with validated parameters.

    `second_image` is used by operations that need one (matching; None = synthetic warp) and ignored
    by the others, so a UI can always pass its second upload.
    """
    entry = get_operation(operation)
    values = validate_params(operation, params)
    if entry.needs_second_image:
        return entry.function(image, second_image, **values)
    return entry.function(image, **values)
