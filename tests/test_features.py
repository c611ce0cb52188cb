"""fusion.features against the OpenCV / scikit-image calls it wraps, on real photos from skimage.data."""

from __future__ import annotations

import inspect
import json
import keyword
import math

import cv2
import numpy as np
import pytest
from skimage import data
from skimage.feature import hog, local_binary_pattern

from fusion import features
from fusion.charts import PlotData
from fusion.features import OPERATIONS, FeatureResult, run_operation
from fusion.features.core import Binding, to_uint8
from fusion.features.matching import corner_error, find_matches, synthetic_warp
from fusion.features.texture import gabor_kernels

CHELSEA = data.chelsea()  # 300 x 451 cat photo
ASTRONAUT = cv2.resize(data.astronaut(), (320, 320), interpolation=cv2.INTER_AREA)
COFFEE = data.coffee()
GROUPS = {
    "Preprocessing",
    "Edges",
    "Threshold & morphology",
    "Keypoints",
    "Matching",
    "HOG",
    "Texture",
    "Colour",
}
RNG = np.random.default_rng(0)
TINY_IMAGES = {
    "8x8": RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8),
    "one column": RNG.integers(0, 256, (64, 1, 3), dtype=np.uint8),
    "one row": RNG.integers(0, 256, (1, 64, 3), dtype=np.uint8),
    "single pixel": RNG.integers(0, 256, (1, 1, 3), dtype=np.uint8),
}


def gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def run(operation: str, image: np.ndarray = CHELSEA, **params: object) -> FeatureResult:
    return run_operation(image, operation, **params)


def check_result(result: FeatureResult, image: np.ndarray) -> None:
    """The display contract: uint8 gray or RGB, JSON-safe stats, a consistent plot."""
    assert isinstance(result, FeatureResult)
    assert result.image.dtype == np.uint8
    assert result.image.ndim == 2 or (result.image.ndim == 3 and result.image.shape[2] == 3)
    assert result.image.size > 0
    json.dumps(result.stats)
    # Text may be a Message (a str that keeps its template, for translation); no bools, arrays or numpy scalars.
    assert all(
        isinstance(value, int | float | str) and type(value) is not bool and not isinstance(value, np.generic)
        for value in result.stats.values()
    ), result.stats
    if result.plot is not None:
        assert result.plot.kind in ("line", "bar")
        assert all(
            np.isfinite(np.asarray(values, dtype=float)).all() for values in result.plot.series.values()
        )


# --- every operation, defaults ------------------------------------------------------------------------------


def test_default_operation_is_canny_and_groups_are_known() -> None:
    assert next(iter(OPERATIONS)) == "Canny edges"
    assert {operation.group for operation in OPERATIONS.values()} == GROUPS
    assert all(operation.description for operation in OPERATIONS.values())


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operation_runs_with_defaults_and_leaves_input_alone(name: str) -> None:
    image = COFFEE.copy()
    result = run(name, image)
    check_result(result, image)
    np.testing.assert_array_equal(image, COFFEE)


@pytest.mark.parametrize("size", list(TINY_IMAGES))
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_tiny_images_give_a_result_or_a_clear_value_error(name: str, size: str) -> None:
    image = TINY_IMAGES[size]
    try:
        result = run(name, image)
    except ValueError as error:
        message = str(error)
        assert len(message) > 30 and ("image" in message or "larger" in message), message
    else:
        check_result(result, image)


def test_opencv_failure_becomes_value_error_naming_the_call() -> None:
    with pytest.raises(ValueError, match="medianBlur") as caught:
        features.median_blur(CHELSEA, kernel_size=4)
    assert isinstance(caught.value.__cause__, cv2.error)


@pytest.mark.parametrize(
    "image",
    [CHELSEA[..., 0], CHELSEA.astype(np.float32), np.zeros((0, 4, 3), np.uint8), CHELSEA.tolist(), None],
    ids=["gray", "float", "empty", "list", "none"],
)
def test_bad_images_are_rejected_with_value_error(image: object) -> None:
    with pytest.raises(ValueError, match=r"RGB uint8|numpy array"):
        run_operation(image, "Canny edges")


# --- parameter specs and validation -------------------------------------------------------------------------


def all_specs() -> list[features.ParamSpec]:
    return [spec for operation in OPERATIONS.values() for spec in operation.params]


def test_param_names_are_unique_identifiers_with_one_meaning() -> None:
    by_name: dict[str, features.ParamSpec] = {}
    for spec in all_specs():
        assert spec.name.isidentifier() and not keyword.iskeyword(spec.name)
        assert by_name.setdefault(spec.name, spec) == spec, (
            f"{spec.name} is declared twice with different specs"
        )
    for operation in OPERATIONS.values():
        names = [spec.name for spec in operation.params]
        assert len(names) == len(set(names)), operation.name


@pytest.mark.parametrize("spec", all_specs(), ids=lambda spec: spec.name)
def test_defaults_are_valid_values_of_their_spec(spec: features.ParamSpec) -> None:
    assert spec.label and spec.kind in ("int", "float", "bool", "choice")
    assert features.coerce_param(spec, spec.default) == spec.default
    assert type(features.coerce_param(spec, spec.default)) is type(spec.default)
    if spec.kind in ("int", "float"):
        assert spec.minimum is not None and spec.maximum is not None and spec.minimum < spec.maximum
        assert spec.step is not None and spec.step > 0
    if spec.kind == "choice":
        assert len(spec.choices) >= 2 and spec.default in spec.choices


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_specs_map_onto_the_function_keywords_with_the_same_defaults(name: str) -> None:
    operation = OPERATIONS[name]
    assert isinstance(operation.function, Binding)
    parameters = inspect.signature(operation.function.implementation).parameters
    assert set(operation.function.keywords) == {spec.name for spec in operation.params}
    for spec in operation.params:
        parameter = parameters[operation.function.keywords[spec.name]]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default == spec.default, spec.name
    positional = [p.name for p in parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == (["image", "second_image"] if operation.needs_second_image else ["image"])


def test_missing_params_take_defaults_and_match_the_standalone_function() -> None:
    np.testing.assert_array_equal(run("Canny edges").image, features.canny(CHELSEA).image)
    assert features.validate_params("Canny edges", {})["canny_low"] == 100


def test_unknown_operation_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown operation 'Cany'.*Canny edges.*Dominant colours"):
        run("Cany")


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ValueError, match=r"canny_lo\b.*valid parameters: canny_low"):
        run("Canny edges", canny_lo=3)
    with pytest.raises(ValueError, match=r"sobel_ksize.*valid parameters: gradient_direction"):
        run("Scharr gradients", sobel_ksize=3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"canny_low": 900},
            r"^Canny low threshold must be between 0 and 500, got 900 \(parameter canny_low\)\.$",
        ),
        ({"canny_low": 5.5}, "must be a whole number.*canny_low"),
        ({"canny_low": "100"}, "must be a number.*canny_low"),
        ({"canny_low": True}, "must be a number.*canny_low"),
        ({"canny_aperture": 4}, "must be an odd number, got 4.*canny_aperture"),
        ({"canny_sigma": math.nan}, "finite.*canny_sigma"),
        ({"canny_l2_gradient": 2}, "true or false.*canny_l2_gradient"),
        ({"canny_l2_gradient": "yes"}, "true or false.*canny_l2_gradient"),
    ],
)
def test_invalid_values_are_value_errors_naming_the_parameter(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run("Canny edges", **params)


def test_choice_must_be_one_of_the_choices() -> None:
    with pytest.raises(ValueError, match=r"must be one of magnitude, x, y.*gradient_direction"):
        run("Sobel gradients", gradient_direction="diagonal")


def test_lossless_conversions_are_accepted() -> None:
    values = features.validate_params(
        "Canny edges",
        {"canny_low": 50.0, "canny_high": np.int64(150), "canny_l2_gradient": 1, "canny_sigma": 1},
    )
    assert values["canny_low"] == 50 and type(values["canny_low"]) is int
    assert type(values["canny_high"]) is int and values["canny_l2_gradient"] is True
    assert values["canny_sigma"] == 1.0 and type(values["canny_sigma"]) is float
    assert features.validate_params("Connected components", {"cc_connectivity": 4})["cc_connectivity"] == "4"
    assert (
        features.validate_params("Feature matching", {"match_detector": "sift"})["match_detector"] == "SIFT"
    )


def test_params_for_picks_the_operation_params_from_every_control() -> None:
    every_control = {spec.name: spec.default for spec in all_specs()} | {"canny_low": 50}
    picked = features.params_for("Canny edges", every_control)
    assert set(picked) == {spec.name for spec in OPERATIONS["Canny edges"].params}
    assert run("Canny edges", **picked).stats["low_threshold"] == 50
    assert len({hash(operation) for operation in OPERATIONS.values()}) == len(OPERATIONS)


def test_non_matching_operations_ignore_a_second_image() -> None:
    np.testing.assert_array_equal(
        run_operation(CHELSEA, "Canny edges", COFFEE).image, run("Canny edges").image
    )


# --- preprocessing ------------------------------------------------------------------------------------------


def test_grayscale_matches_cvtcolor_and_its_histogram() -> None:
    result = run("Grayscale")
    expected = gray(CHELSEA)
    np.testing.assert_array_equal(result.image, expected)
    np.testing.assert_array_equal(result.plot.series["gray"], np.bincount(expected.ravel(), minlength=256))
    assert result.stats["mean_intensity"] == pytest.approx(expected.mean(), abs=1e-3)
    assert result.stats["std_intensity"] == pytest.approx(expected.std(), abs=1e-3)


@pytest.mark.parametrize("interpolation", ["area", "cubic", "nearest"])
def test_resize_by_scale_and_long_side(interpolation: str) -> None:
    flag = {"area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}[interpolation]
    result = run("Resize", resize_scale=0.5, resize_interpolation=interpolation)
    np.testing.assert_array_equal(result.image, cv2.resize(CHELSEA, (226, 150), interpolation=flag))
    by_side = run("Resize", resize_mode="long side", resize_long_side=200, resize_interpolation=interpolation)
    assert by_side.image.shape == (133, 200, 3)
    np.testing.assert_array_equal(by_side.image, cv2.resize(CHELSEA, (200, 133), interpolation=flag))


def test_resize_refuses_huge_outputs() -> None:
    with pytest.raises(ValueError, match="8192-pixel limit"):
        run("Resize", resize_scale=4.0, image=np.zeros((3000, 10, 3), np.uint8))


def test_blurs_match_opencv() -> None:
    np.testing.assert_array_equal(
        run("Gaussian blur", gaussian_kernel=7, gaussian_sigma=1.5).image,
        cv2.GaussianBlur(CHELSEA, (7, 7), 1.5),
    )
    assert run("Gaussian blur").stats["sigma"] == pytest.approx(0.3 * ((5 - 1) * 0.5 - 1) + 0.8)
    np.testing.assert_array_equal(run("Median blur", median_kernel=7).image, cv2.medianBlur(CHELSEA, 7))
    np.testing.assert_array_equal(
        run(
            "Bilateral filter", bilateral_diameter=7, bilateral_sigma_color=40, bilateral_sigma_space=20
        ).image,
        cv2.bilateralFilter(CHELSEA, 7, 40, 20),
    )


def test_non_local_means_matches_opencv() -> None:
    crop = np.ascontiguousarray(CHELSEA[100:196, 150:246])
    result = run("Non-local means denoise", crop, nlm_strength=7, nlm_search_size=11)
    expected = cv2.fastNlMeansDenoisingColored(crop, None, 7, 10, 7, 11)
    np.testing.assert_array_equal(result.image, expected)
    assert result.stats["mean_abs_change"] == pytest.approx(
        np.abs(crop.astype(int) - expected).mean(), abs=1e-3
    )


def lightness_reference(image: np.ndarray, equalise: object) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = equalise(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def test_equalisation_and_clahe_work_on_lightness() -> None:
    result = run("Histogram equalisation", COFFEE)
    np.testing.assert_array_equal(result.image, lightness_reference(COFFEE, cv2.equalizeHist))
    assert result.stats["lightness_std_after"] > result.stats["lightness_std_before"]
    clahe = run("CLAHE", COFFEE, clahe_clip_limit=3.0, clahe_tile_grid=4)
    np.testing.assert_array_equal(
        clahe.image, lightness_reference(COFFEE, cv2.createCLAHE(3.0, (4, 4)).apply)
    )
    assert set(clahe.plot.series) == {"before", "after"}


def test_tone_curve_is_a_lut_and_identity_when_neutral() -> None:
    result = run("Gamma / contrast / brightness", tone_gamma=0.5, tone_contrast=1.5, tone_brightness=-20)
    levels = np.arange(256) / 255.0
    lut = np.clip(np.rint(1.5 * 255 * levels**0.5 - 20), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(result.image, cv2.LUT(CHELSEA, lut))
    np.testing.assert_array_equal(result.plot.series["curve"], lut)
    neutral = run("Gamma / contrast / brightness", tone_gamma=1, tone_contrast=1, tone_brightness=0)
    np.testing.assert_array_equal(neutral.image, CHELSEA)


def test_unsharp_mask_matches_add_weighted_and_threshold_keeps_flat_areas() -> None:
    blurred = cv2.GaussianBlur(CHELSEA, (0, 0), 3.0)
    expected = cv2.addWeighted(CHELSEA, 2.5, blurred, -1.5, 0)
    np.testing.assert_array_equal(run("Unsharp mask", unsharp_amount=1.5, unsharp_radius=3.0).image, expected)
    thresholded = run("Unsharp mask", unsharp_amount=1.5, unsharp_radius=3.0, unsharp_threshold=10).image
    low_contrast = cv2.absdiff(CHELSEA, blurred) < 10
    np.testing.assert_array_equal(thresholded[low_contrast], CHELSEA[low_contrast])
    np.testing.assert_array_equal(thresholded[~low_contrast], expected[~low_contrast])


# --- edges --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aperture", "l2", "low", "high"), [(3, False, 100, 200), (5, True, 300, 500), (7, False, 450, 500)]
)
def test_canny_matches_opencv(aperture: int, l2: bool, low: int, high: int) -> None:
    params = {"canny_low": low, "canny_high": high, "canny_aperture": aperture, "canny_l2_gradient": l2}
    result = run("Canny edges", **params)
    expected = cv2.Canny(gray(CHELSEA), low, high, apertureSize=aperture, L2gradient=l2)
    np.testing.assert_array_equal(result.image, expected)
    assert result.stats["edge_pixels"] == np.count_nonzero(expected)
    assert result.stats["edge_density"] == pytest.approx(np.count_nonzero(expected) / expected.size, abs=1e-5)


def test_canny_automatic_thresholds_come_from_the_median() -> None:
    result = run("Canny edges", COFFEE, canny_auto=True, canny_sigma=0.4)
    values = np.sort(gray(COFFEE).ravel())
    median = int(values[(values.size - 1) // 2])
    low, high = int(max(0, 0.6 * median)), int(min(255, 1.4 * median))
    assert (result.stats["low_threshold"], result.stats["high_threshold"]) == (low, high)
    assert str(median) in result.stats["thresholds"]
    np.testing.assert_array_equal(result.image, cv2.Canny(gray(COFFEE), low, high))


@pytest.mark.parametrize("direction", ["magnitude", "x", "y"])
def test_sobel_and_scharr_match_opencv(direction: str) -> None:
    source = gray(ASTRONAUT)
    dx, dy = cv2.Sobel(source, cv2.CV_32F, 1, 0, ksize=5), cv2.Sobel(source, cv2.CV_32F, 0, 1, ksize=5)
    sx, sy = cv2.Scharr(source, cv2.CV_32F, 1, 0), cv2.Scharr(source, cv2.CV_32F, 0, 1)
    expected = {"magnitude": (cv2.magnitude(dx, dy), cv2.magnitude(sx, sy)), "x": (dx, sx), "y": (dy, sy)}[
        direction
    ]
    sobel = run("Sobel gradients", ASTRONAUT, gradient_direction=direction, sobel_ksize=5)
    scharr = run("Scharr gradients", ASTRONAUT, gradient_direction=direction)
    for result, response in zip((sobel, scharr), expected, strict=True):
        np.testing.assert_array_equal(result.image, to_uint8(response))
        assert result.stats["max_gradient"] == pytest.approx(np.abs(response).max(), abs=1e-3)
        assert result.stats["mean_gradient"] == pytest.approx(np.abs(response).mean(), rel=1e-4)
        _assert_strengths(result.plot, response)


def _assert_strengths(plot: PlotData, response: np.ndarray) -> None:
    """The strength chart is the histogram of |response| from 0 to its peak, as shares of the pixels."""
    peak = float(np.abs(response).max())
    expected, _edges = np.histogram(np.abs(response), bins=len(plot.x), range=(0.0, peak * (1 + 1e-6)))
    np.testing.assert_allclose(plot.series["pixels"], expected / response.size, atol=2e-5)
    assert plot.x[0] == pytest.approx(peak / len(plot.x) / 2)


def test_laplacian_matches_opencv_and_reports_focus() -> None:
    response = cv2.Laplacian(gray(CHELSEA), cv2.CV_32F, ksize=5)
    result = run("Laplacian", laplacian_ksize=5, laplacian_smoothing=0)
    np.testing.assert_array_equal(result.image, to_uint8(response))
    assert result.stats["laplacian_variance"] == pytest.approx(response.var(), rel=1e-4)
    _assert_strengths(result.plot, response)
    smoothed = cv2.Laplacian(cv2.GaussianBlur(gray(CHELSEA), (0, 0), 2.0), cv2.CV_32F, ksize=3)
    np.testing.assert_array_equal(run("Laplacian", laplacian_smoothing=2.0).image, to_uint8(smoothed))
    blurred = run("Laplacian", cv2.GaussianBlur(CHELSEA, (9, 9), 0), laplacian_smoothing=0)
    assert blurred.stats["laplacian_variance"] < result.stats["laplacian_variance"]


def test_display_scaling_saturates_only_the_top_of_the_range() -> None:
    response = np.linspace(-1000.0, 1000.0, 256 * 256, dtype=np.float32).reshape(256, 256)
    display = to_uint8(response)
    assert display.max() == 255 and display.min() == 0
    assert 0.003 < np.mean(display == 255) < 0.02
    np.testing.assert_array_equal(to_uint8(np.zeros((4, 4), np.float32)), np.zeros((4, 4), np.uint8))


# --- thresholds and morphology ------------------------------------------------------------------------------


@pytest.mark.parametrize("invert", [False, True])
def test_otsu_matches_opencv(invert: bool) -> None:
    kind = cv2.THRESH_BINARY_INV if invert else cv2.THRESH_BINARY
    level, expected = cv2.threshold(gray(COFFEE), 0, 255, kind | cv2.THRESH_OTSU)
    result = run("Otsu threshold", COFFEE, binary_invert=invert)
    assert result.stats["threshold"] == int(level)
    np.testing.assert_array_equal(result.image, expected)
    assert result.stats["foreground_fraction"] == pytest.approx(np.mean(expected > 0), abs=1e-5)


@pytest.mark.parametrize("method", ["mean", "gaussian"])
def test_adaptive_threshold_matches_opencv(method: str) -> None:
    flag = cv2.ADAPTIVE_THRESH_MEAN_C if method == "mean" else cv2.ADAPTIVE_THRESH_GAUSSIAN_C
    result = run("Adaptive threshold", adaptive_method=method, adaptive_block_size=15, adaptive_c=3)
    np.testing.assert_array_equal(result.image, cv2.adaptiveThreshold(gray(CHELSEA), 255, flag, 0, 15, 3))


def _eroded(image: np.ndarray, kernel: np.ndarray, times: int) -> np.ndarray:
    return cv2.erode(image, kernel, iterations=times)


def _dilated(image: np.ndarray, kernel: np.ndarray, times: int) -> np.ndarray:
    return cv2.dilate(image, kernel, iterations=times)


#: Each operation from its definition in terms of OpenCV's erosion and dilation (not from its MORPH_ constant).
MORPH = {
    "erode": _eroded,
    "dilate": _dilated,
    "open": lambda image, kernel, n: _dilated(_eroded(image, kernel, n), kernel, n),
    "close": lambda image, kernel, n: _eroded(_dilated(image, kernel, n), kernel, n),
    "gradient": lambda image, kernel, n: cv2.subtract(_dilated(image, kernel, n), _eroded(image, kernel, n)),
    "top-hat": lambda image, kernel, n: cv2.subtract(image, MORPH["open"](image, kernel, n)),
    "black-hat": lambda image, kernel, n: cv2.subtract(MORPH["close"](image, kernel, n), image),
}


def test_every_morphology_operation_is_offered() -> None:
    spec = next(spec for spec in features.OPERATIONS["Morphology"].params if spec.name == "morph_operation")
    assert set(spec.choices) == set(MORPH)


@pytest.mark.parametrize("operation", list(MORPH))
def test_morphology_matches_opencv(operation: str) -> None:
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (7, 7))
    params = {
        "morph_operation": operation,
        "morph_shape": "cross",
        "morph_kernel_size": 7,
        "morph_iterations": 2,
    }
    expected = MORPH[operation](gray(CHELSEA), kernel, 2)
    np.testing.assert_array_equal(run("Morphology", **params).image, expected)
    colour = run("Morphology", **params, morph_source="colour").image
    np.testing.assert_array_equal(colour, MORPH[operation](CHELSEA, kernel, 2))


def test_morphology_on_the_otsu_mask() -> None:
    binary = cv2.threshold(gray(CHELSEA), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    result = run("Morphology", morph_operation="open", morph_shape="rect", morph_source="binary (Otsu)")
    np.testing.assert_array_equal(result.image, cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel))


@pytest.mark.parametrize(
    ("mask", "retrieval"), [("otsu", "external"), ("adaptive", "all"), ("canny", "external")]
)
def test_contours_count_and_areas_match_opencv(mask: str, retrieval: str) -> None:
    source = gray(COFFEE)
    binary = {
        "otsu": cv2.threshold(source, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1],
        "adaptive": cv2.adaptiveThreshold(
            source, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 31, 5
        ),
        "canny": cv2.Canny(source, 100, 200),
    }[mask]
    mode = cv2.RETR_EXTERNAL if retrieval == "external" else cv2.RETR_LIST
    found, _ = cv2.findContours(binary, mode, cv2.CHAIN_APPROX_SIMPLE)
    areas = np.array([cv2.contourArea(contour) for contour in found])
    kept = areas[areas >= 50]
    result = run("Contours", COFFEE, contour_threshold=mask, contour_retrieval=retrieval, contour_min_area=50)
    assert result.stats["contours_found"] == len(found)
    assert result.stats["contours"] == kept.size > 0
    assert result.stats["contour_area_max"] == pytest.approx(kept.max())
    assert result.stats["contour_area_total"] == pytest.approx(kept.sum())
    assert result.plot.series["regions"].sum() == kept.size
    assert not np.array_equal(result.image, COFFEE)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_connected_components_match_opencv(connectivity: int) -> None:
    binary = cv2.threshold(gray(COFFEE), 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=connectivity)
    areas = stats[1:, cv2.CC_STAT_AREA]
    result = run(
        "Connected components", COFFEE, cc_connectivity=str(connectivity), cc_min_area=30, binary_invert=True
    )
    assert result.stats["components_found"] == count - 1
    assert result.stats["components"] == np.count_nonzero(areas >= 30)
    assert result.stats["component_area_max"] == areas.max()
    hidden = np.isin(labels, np.flatnonzero(areas < 30) + 1) | (labels == 0)
    assert not result.image[hidden].any()
    assert result.image[~hidden].any(axis=-1).all()


# --- keypoints ----------------------------------------------------------------------------------------------


def test_orb_count_matches_opencv_and_is_drawn() -> None:
    keypoints = cv2.ORB_create(300, 1.3, 6, fastThreshold=15).detect(gray(ASTRONAUT), None)
    result = run(
        "ORB keypoints",
        ASTRONAUT,
        orb_features=300,
        orb_scale_factor=1.3,
        orb_levels=6,
        orb_fast_threshold=15,
    )
    assert result.stats["keypoints"] == len(keypoints) > 100
    assert result.stats["mean_size"] == pytest.approx(
        np.mean([keypoint.size for keypoint in keypoints]), abs=1e-3
    )
    # Drawn: the 100 strongest (by response), so that each circle stays legible; the stats count all of them.
    drawn = sorted(keypoints, key=lambda keypoint: -keypoint.response)[:100]
    expected = cv2.drawKeypoints(
        ASTRONAUT, drawn, None, (0, 255, 0), cv2.DRAW_MATCHES_FLAGS_DRAW_RICH_KEYPOINTS
    )
    np.testing.assert_array_equal(result.image, expected)
    assert result.notices == (
        f"The picture shows the 100 strongest of the {len(keypoints)} keypoints found, so that each stays legible; "
        "the numbers count all of them.",
    )
    assert result.plot.series["keypoints"].sum() == len(keypoints)


def test_few_keypoints_are_all_drawn_without_a_notice() -> None:
    keypoints = cv2.ORB_create(40).detect(gray(ASTRONAUT), None)
    result = run("ORB keypoints", ASTRONAUT, orb_features=40)
    expected = cv2.drawKeypoints(
        ASTRONAUT, keypoints, None, (0, 255, 0), cv2.DRAW_MATCHES_FLAGS_DRAW_RICH_KEYPOINTS
    )
    np.testing.assert_array_equal(result.image, expected)
    assert result.notices == ()


def test_sift_count_matches_opencv() -> None:
    keypoints = cv2.SIFT_create(0, 4, 0.03, 8.0).detect(gray(ASTRONAUT), None)
    result = run(
        "SIFT keypoints",
        ASTRONAUT,
        sift_features=0,
        sift_octave_layers=4,
        sift_contrast_threshold=0.03,
        sift_edge_threshold=8.0,
    )
    assert result.stats["keypoints"] == len(keypoints) > 100


@pytest.mark.parametrize(("nonmax", "neighbourhood"), [(True, "9/16"), (False, "7/12"), (True, "5/8")])
def test_fast_count_matches_opencv(nonmax: bool, neighbourhood: str) -> None:
    kind = {
        "9/16": cv2.FAST_FEATURE_DETECTOR_TYPE_9_16,
        "7/12": cv2.FAST_FEATURE_DETECTOR_TYPE_7_12,
        "5/8": cv2.FAST_FEATURE_DETECTOR_TYPE_5_8,
    }[neighbourhood]
    keypoints = cv2.FastFeatureDetector_create(10, nonmax, kind).detect(gray(CHELSEA), None)
    result = run("FAST corners", fast_threshold=10, fast_nonmax=nonmax, fast_type=neighbourhood)
    assert result.stats["keypoints"] == len(keypoints) > 0


def test_shi_tomasi_count_matches_opencv() -> None:
    corners = cv2.goodFeaturesToTrack(gray(ASTRONAUT), 200, 0.02, 5.0, blockSize=5)
    params = {"shi_tomasi_max_corners": 200, "shi_tomasi_quality": 0.02, "shi_tomasi_min_distance": 5.0}
    result = run("Shi-Tomasi corners", ASTRONAUT, **params, shi_tomasi_block_size=5)
    assert result.stats["corners"] == len(corners) == 200


def test_harris_counts_thresholded_local_maxima() -> None:
    response = cv2.cornerHarris(gray(ASTRONAUT), 3, 5, 0.05)
    maxima = (response == cv2.dilate(response, np.ones((3, 3), np.uint8))) & (
        response > 0.05 * response.max()
    )
    params = {"harris_block_size": 3, "harris_ksize": 5, "harris_k": 0.05, "harris_threshold": 0.05}
    result = run("Harris corners", ASTRONAUT, **params)
    assert result.stats["corners"] == np.count_nonzero(maxima) > 10
    assert (
        run("Harris corners", ASTRONAUT, **params | {"harris_threshold": 0.2}).stats["corners"]
        < result.stats["corners"]
    )


# --- matching -----------------------------------------------------------------------------------------------


def homography_from_corners(width: int, height: int) -> np.ndarray:
    """A perspective warp unrelated to the synthetic one: corners pulled in by different amounts."""
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    moved = corners + np.float32([[30, 10], [-20, 25], [-35, -15], [15, -30]])
    return cv2.getPerspectiveTransform(corners, moved)


@pytest.mark.parametrize("detector", ["ORB", "SIFT"])
def test_matching_recovers_a_known_homography(detector: str) -> None:
    height, width = ASTRONAUT.shape[:2]
    known = homography_from_corners(width, height)
    warped = cv2.warpPerspective(ASTRONAUT, known, (width, height))
    matches = find_matches(
        ASTRONAUT, warped, detector=detector, n_features=1000, ratio=0.75, ransac_threshold=3.0
    )
    assert matches.homography is not None
    assert matches.inliers.sum() >= 50 and matches.inliers.mean() > 0.8
    estimated = matches.homography / matches.homography[2, 2]
    np.testing.assert_allclose(estimated[:2, :2], known[:2, :2], atol=0.02)
    np.testing.assert_allclose(estimated[:2, 2], known[:2, 2], atol=1.0)
    np.testing.assert_allclose(estimated[2, :2], known[2, :2], atol=1e-4)
    assert corner_error(matches.homography, known, ASTRONAUT) < 2.0


def test_matching_without_second_image_uses_the_synthetic_warp() -> None:
    result = run("Feature matching", ASTRONAUT, match_detector="SIFT")
    assert result.stats["second_image"].startswith("synthetic warp")
    assert result.stats["homography"] == "found" and result.stats["inlier_ratio"] > 0.8
    assert result.stats["corner_error_px"] < 2.0
    assert result.image.shape == (320, 640, 3)
    assert np.all(result.image == (0, 255, 0), axis=-1).any(), "inlier matches are drawn in green"
    funnel = [result.stats[key] for key in ("keypoints_first", "keypoints_second", "good_matches", "inliers")]
    np.testing.assert_array_equal(result.plot.series["count"], funnel)
    warped, known = synthetic_warp(ASTRONAUT)
    np.testing.assert_array_equal(warped, cv2.warpPerspective(ASTRONAUT, known, (320, 320)))


def test_matching_unrelated_photos_finds_few_inliers() -> None:
    result = run_operation(ASTRONAUT, "Feature matching", cv2.resize(COFFEE, (320, 320)))
    assert result.stats["second_image"] == "uploaded" and "corner_error_px" not in result.stats
    assert result.stats["inliers"] < 30
    assert result.image.shape == (320, 640, 3)


# --- HOG and texture ----------------------------------------------------------------------------------------


def test_hog_matches_skimage() -> None:
    descriptor, visual = hog(gray(CHELSEA), 12, (8, 8), (3, 3), "L1", visualize=True)
    result = run(
        "HOG", hog_orientations=12, hog_pixels_per_cell=8, hog_cells_per_block=3, hog_block_norm="L1"
    )
    assert result.stats["descriptor_length"] == descriptor.size
    np.testing.assert_array_equal(result.image, to_uint8(visual))
    np.testing.assert_allclose(result.plot.series["energy"], descriptor.reshape(-1, 12).mean(axis=0))


def test_hog_too_small_says_how_big() -> None:
    with pytest.raises(ValueError, match="at least 32x32 pixels"):
        run("HOG", CHELSEA[:20, :20].copy())


@pytest.mark.parametrize(
    ("method", "points", "radius"), [("uniform", 8, 1.0), ("default", 8, 2.0), ("ror", 12, 2.5)]
)
def test_lbp_matches_skimage(method: str, points: int, radius: float) -> None:
    codes = local_binary_pattern(gray(CHELSEA), points, radius, method)
    result = run("LBP texture", lbp_points=points, lbp_radius=radius, lbp_method=method)
    np.testing.assert_array_equal(result.image, to_uint8(codes))
    counts = result.plot.series["pixels"]
    assert counts.sum() == codes.size
    if method == "uniform":
        np.testing.assert_array_equal(counts, np.bincount(codes.astype(int).ravel(), minlength=points + 2))
    else:
        assert counts.size == 256


@pytest.mark.parametrize("contrast", [1, 32], ids=["photo", "low contrast"])
def test_lbp_variance_histogram_bins_the_float_values(contrast: int) -> None:
    image = CHELSEA // contrast
    variance = np.nan_to_num(local_binary_pattern(gray(image), 8, 1.0, "var")).astype(np.float32)
    result = run("LBP texture", image, lbp_method="var")
    counts = result.plot.series["pixels"]
    expected, _ = np.histogram(variance, bins=64, range=(0.0, float(variance.max()) * (1 + 1e-6)))
    assert counts.sum() == variance.size
    assert np.abs(counts - expected).sum() <= variance.size * 1e-3
    assert result.image.max() == 255


def test_gabor_energy_matches_filter2d() -> None:
    source = gray(ASTRONAUT).astype(np.float32)
    params = {"gabor_orientations": 4, "gabor_wavelength": 8.0, "gabor_sigma": 3.0, "gabor_kernel_size": 21}
    result = run("Gabor filter bank", ASTRONAUT, **params)
    energies = []
    for index in range(4):
        kernel = cv2.getGaborKernel((21, 21), 3.0, np.pi * index / 4, 8.0, 0.5, 0.0, cv2.CV_32F)
        kernel -= kernel.mean()
        response = cv2.filter2D(source, cv2.CV_32F, kernel / np.abs(kernel).sum())
        energies.append(np.mean(response.astype(np.float64) ** 2))
    np.testing.assert_allclose(result.plot.series["energy"], energies, rtol=1e-4)
    np.testing.assert_array_equal(result.plot.x, [0, 45, 90, 135])
    assert result.stats["dominant_orientation_deg"] == [0, 45, 90, 135][int(np.argmax(energies))]
    assert result.image.shape == (320, 320)
    assert all(abs(kernel.sum()) < 1e-4 for kernel in gabor_kernels(4, 8.0, 3.0, 21, 0.5))


# --- colour -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", ["RGB", "HSV"])
def test_colour_histograms_match_calchist(space: str) -> None:
    source = CHELSEA if space == "RGB" else cv2.cvtColor(CHELSEA, cv2.COLOR_RGB2HSV_FULL)
    result = run("Colour histograms", hist_bins=32, hist_space=space)
    pixels = CHELSEA.shape[0] * CHELSEA.shape[1]
    for channel, values in enumerate(result.plot.series.values()):
        expected = cv2.calcHist([source], [channel], None, [32], [0, 256]).ravel() / pixels
        np.testing.assert_allclose(values, expected)
    assert set(result.plot.colors) == set(result.plot.series)
    np.testing.assert_array_equal(result.image, CHELSEA)
    assert not result.image.flags.writeable


def test_dominant_colours_recover_flat_regions_exactly() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[:50] = (200, 30, 30)
    image[50:80] = (20, 160, 40)
    image[80:] = (250, 250, 250)
    result = run("Dominant colours", image, kmeans_k=3)
    assert [result.stats[f"colour_{rank}"] for rank in (1, 2, 3)] == ["#c81e1e", "#14a028", "#fafafa"]
    assert [result.stats[f"colour_{rank}_percent"] for rank in (1, 2, 3)] == [50.0, 30.0, 20.0]
    assert result.plot.bar_colors == ("#c81e1e", "#14a028", "#fafafa")
    assert result.image.shape == (160, 640, 3)
    top_row = result.image[0]
    np.testing.assert_array_equal(
        top_row[[0, 319, 320, 511, 512, 639]], [image[0, 0]] * 2 + [image[60, 0]] * 2 + [image[90, 0]] * 2
    )


def test_dominant_colours_are_reproducible_and_sampled_small() -> None:
    first, second = run("Dominant colours", COFFEE), run("Dominant colours", COFFEE)
    assert first.stats == second.stats
    assert first.stats["sampled_pixels"] == 128 * 85
    assert sum(first.stats[f"colour_{rank}_percent"] for rank in range(1, 6)) == pytest.approx(
        100.0, abs=0.05
    )


# --- plots as data ------------------------------------------------------------------------------------------


def test_plot_data_rejects_inconsistent_series() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        PlotData("line", "t", "x", "y", {"a": np.zeros(3), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="bar_colors"):
        PlotData("bar", "t", "x", "y", {"a": np.zeros(3)}, bar_colors=("red",))


# --- handcrafted vector -------------------------------------------------------------------------------------


def test_handcrafted_vector_layout() -> None:
    vector = features.handcrafted_vector(CHELSEA)
    assert vector.values.dtype == np.float32 and vector.values.ndim == 1
    assert list(vector.blocks) == ["hog", "lbp", "color", "edges"]
    starts = [block.start for block in vector.blocks.values()]
    stops = [block.stop for block in vector.blocks.values()]
    assert starts[0] == 0 and stops[-1] == vector.values.size and starts[1:] == stops[:-1]
    assert np.isfinite(vector.values).all()
    hog_block = hog(gray(cv2.resize(CHELSEA, (128, 128), interpolation=cv2.INTER_AREA)), 9, (32, 32), (2, 2))
    np.testing.assert_allclose(vector.values[vector.blocks["hog"]], hog_block, rtol=1e-6)
    np.testing.assert_allclose(
        vector.values[vector.blocks["color"]].reshape(3, -1).sum(axis=1), 1.0, rtol=1e-5
    )


def test_handcrafted_vector_is_deterministic_and_size_independent() -> None:
    lengths = {
        features.handcrafted_vector(image).values.size for image in (CHELSEA, COFFEE, *TINY_IMAGES.values())
    }
    assert len(lengths) == 1
    assert {features.handcrafted_vector(CHELSEA, size=size).values.size for size in (32, 64, 256)} == lengths
    np.testing.assert_array_equal(
        features.handcrafted_vector(COFFEE).values, features.handcrafted_vector(COFFEE).values
    )
    difference = features.handcrafted_vector(CHELSEA).values - features.handcrafted_vector(COFFEE).values
    assert np.abs(difference).sum() > 1.0


def test_handcrafted_vector_rejects_too_small_sizes() -> None:
    with pytest.raises(ValueError, match="size >= 16"):
        features.handcrafted_vector(CHELSEA, size=8)
