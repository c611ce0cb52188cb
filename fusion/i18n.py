# ruff: noqa: RUF001  (the Chinese text is written with full-width punctuation, as Chinese is)
"""The interface in English and Simplified Chinese (``zh-CN``), chosen by the browser's language.

Gradio 6.31 translates only the page it is built with, so the text takes one of two roads:

- **Built into the page** (labels, info, placeholders, buttons, Markdown, tab and accordion titles, choice labels):
  panels wrap the English text in :func:`t`, which gives a ``gr.I18n`` key; ``launch(i18n=I18N)`` sends both
  languages and the browser shows the one Gradio picked: ``navigator.language`` when Gradio knows it (``zh-CN``
  does), else its primary subtag, else English. Keys are short hashes, because Gradio's frontend cannot read a
  key holding ``}`` and its own translations already use plain words such as ``label`` as namespaces.
- **Made on the server while an event runs** (``gr.Error``/``gr.Info`` messages, notices, summaries, gallery
  captions, progress text, table headers, hints updated at run time): Gradio shows these exactly as sent, and a
  ``gr.I18n`` key in them stays a raw ``__i18n__{...}`` string. They are translated on the server with
  :func:`localized`, for the language of the request being served (its ``Accept-Language`` header, read from
  Gradio's request context and resolved the way Gradio's frontend resolves ``navigator.language``).
  ``fusion.ui.common`` does it for every error and notice, so task modules stay gradio-free and English.

Messages are matched against the English templates of :data:`MESSAGES` (``{name}`` stands for any text) and
rebuilt from the Chinese template. A captured value is translated too when it is itself an entry of the catalogue
or matches one of the :data:`FRAGMENTS` (the ``what`` of "No image was given" reads "图像", a wait "2 分钟");
anything else (numbers, file names, the user's labels, lists of values an API accepts) is kept as it is. Text
without a translation stays English. API clients that send no ``Accept-Language`` (``gradio_client``) therefore
get English, and the values sent through the API (choice values, parameter names) are English in every language.

What stays English: a ``gr.Error`` toast's title, "Error" (6.31's frontend reads a ``_title`` field that its client
never sets); example tables (``gr.Examples``), whose headers and choice names the browser does not translate
(:func:`plain_example_table`; ``gr.Dataframe`` headers are not translated either, so tables get them translated
from the server, :func:`localized_table`). Charts (titles, axes, series) and cards are made while an event runs,
so they are translated like any message. Choosing a language in Gradio's settings menu changes the page but not the
server's messages.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.i18n import I18nData

from fusion.messages import Lines, Message
from fusion.ui.requests import current_request, request_header

ENGLISH = "en"
CHINESE = "zh-CN"

#: What ``launch(i18n=...)`` takes. :func:`t` fills it while the page is built; both languages hold every key.
I18N = gr.I18n(**{ENGLISH: {}, CHINESE: {}})

_MARKER = "__i18n__"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: Templates with fewer literal characters than this ("{name}: {notice}") match nearly anything: they apply only to
#: a whole line (never to a captured value), and only when they translate one of its parts.
_LOOSE_BELOW = 4


def t(text: str) -> str | I18nData:
    """Text the page is built with: a key the browser shows in its language, or ``text`` when it has none.

    Names and English examples (:data:`UNTRANSLATED`), numbers and any text without a translation are
    returned as they are; ``tests/test_i18n.py`` reports English text left without one.
    """
    chinese = _to_chinese(text)
    if chinese == text:
        return text
    key = "fusion_" + hashlib.blake2s(text.encode(), digest_size=8).hexdigest()
    I18N.translations[ENGLISH][key] = text
    I18N.translations[CHINESE][key] = chinese
    return I18N(key)


def english(value: Any) -> Any:
    """The English text behind a key made by :func:`t`, also once Gradio made it a ``__i18n__{...}`` string."""
    key = key_of(value)
    return value if key is None else I18N.translations[ENGLISH].get(key, key)


def key_of(value: Any) -> str | None:
    """The ``gr.I18n`` key a value stands for (an ``I18nData``, or its ``__i18n__{...}`` string), else ``None``."""
    if isinstance(value, I18nData):
        return value.key
    if isinstance(value, str) and value.startswith(_MARKER):
        with contextlib.suppress(ValueError):
            return json.loads(value.removeprefix(_MARKER)).get("key")
    return None


def localized(text: str) -> str:
    """``text`` in the language of the request being served; English outside a request or without a match."""
    return translate(text, current_language())


def translate(text: str, language: str) -> str:
    """English ``text`` (a :class:`~fusion.messages.Message`, a catalogue entry or a message matching a template)
    in ``language``."""
    if language != CHINESE or not text:
        return text
    if isinstance(text, Lines):
        return "\n".join(translate(item, language) for item in text.items)
    if isinstance(text, Message):
        chinese = INTERFACE.get(text.template) or MESSAGES.get(text.template) or FRAGMENTS.get(text.template)
        if chinese is not None:
            return chinese.format(**{name: _value(value, language) for name, value in text.values.items()})
    return _to_chinese(text)


def _value(value: Any, language: str) -> Any:
    """A message's value in ``language``: messages and catalogue entries are translated, anything else kept."""
    if isinstance(value, Message | Lines):
        return translate(value, language)
    if isinstance(value, str):
        return INTERFACE.get(value) or FRAGMENTS.get(value) or MESSAGES.get(value) or value
    return value


def current_language() -> str:
    """The language of the request Gradio is serving in this thread (English when there is none)."""
    return request_language(current_request())


def request_language(request: Any) -> str:
    """:data:`CHINESE` when the request's preferred language is zh-CN, as Gradio's frontend decides, else English.

    Gradio picks the browser's first language when it ships a translation for it (``zh-CN`` yes; ``zh`` or
    ``zh-SG`` no, and those fall back to English there), so the server does the same with the first tag of
    ``Accept-Language``, which browsers fill from the same list.
    """
    accepted = request_header(request, "accept-language") or ""
    return CHINESE if preferred_tag(accepted).lower() == CHINESE.lower() else ENGLISH


def preferred_tag(accept_language: str) -> str:
    """The language tag with the highest quality in an ``Accept-Language`` header (the first on a tie)."""
    best, best_quality = "", 0.0
    for item in accept_language.split(","):
        tag, _, parameters = item.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if tag and quality > best_quality:
            best, best_quality = tag.strip(), quality
    return best


def localized_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """A ``gr.Dataframe`` value whose headers are in the request's language (browsers do not translate them)."""
    return {"headers": [localized(header) for header in headers], "data": [list(row) for row in rows]}


def english_api_labels(demo: gr.Blocks) -> None:
    """Keep the API documentation in English: Gradio names an endpoint's parameters and results after the labels
    (``/gradio_api/info``, ``Client.view_api()``, the "Use via API" page), which would otherwise show keys."""
    get_api_info = demo.get_api_info

    @functools.wraps(get_api_info)
    def api_info(*args: Any, **kwargs: Any) -> Any:
        info = get_api_info(*args, **kwargs)
        for endpoints in info.values():
            for endpoint in endpoints.values():
                for item in (*endpoint["parameters"], *endpoint["returns"]):
                    item["label"] = english(item["label"])
        return info

    demo.get_api_info = api_info  # type: ignore[method-assign]


def plain_example_table(examples: gr.Examples) -> None:
    """Give an example table English headers and choice names instead of keys it would show raw.

    Gradio's example table (a ``gr.Dataset``) copies its inputs' labels and choices but never translates them.
    """
    dataset = examples.dataset
    dataset.headers = [english(header) for header in dataset.headers]
    for props in dataset.component_props:
        if "choices" in props:
            props["choices"] = [(english(label), value) for label, value in props["choices"]]


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    chinese: str
    literal_length: int


@functools.cache
def _templates(*, in_values: bool) -> tuple[_Template, ...]:
    """The templates that may match a whole text (or, ``in_values``, a captured value), most specific first."""
    compiled = []
    for english_text, chinese in (MESSAGES | FRAGMENTS if in_values else MESSAGES).items():
        parts = _PLACEHOLDER.split(english_text)
        if len(parts) == 1:
            continue
        regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.*?)" for index, part in enumerate(parts))
        compiled.append(_Template(re.compile(regex, re.DOTALL), chinese, sum(len(part) for part in parts[::2])))
    return tuple(sorted(compiled, key=lambda template: -template.literal_length))


@functools.lru_cache(maxsize=4096)
def _to_chinese(text: str, *, as_value: bool = False) -> str:
    """``text`` in Chinese: an exact entry, else the most specific template, else line by line, else unchanged."""
    exact = INTERFACE.get(text) or MESSAGES.get(text) or FRAGMENTS.get(text)
    if exact is not None:
        return exact
    for template in _templates(in_values=as_value):
        loose = template.literal_length < _LOOSE_BELOW
        if loose and (as_value or "\n" in text):
            break  # the loose templates come last; several lines are translated one by one below
        match = template.pattern.fullmatch(text)
        if not match:
            continue
        values = {name: _to_chinese(value, as_value=True) for name, value in match.groupdict().items()}
        if loose and values == match.groupdict():
            continue  # "{name}: {notice}" says nothing by itself: it must translate a part
        return _PLACEHOLDER.sub(lambda hole, values=values: values[hole[1]], template.chinese)
    if "\n" in text:
        return "\n".join(_to_chinese(line, as_value=as_value) for line in text.split("\n"))
    return text


#: Shown as they are in every language: names (models, algorithms, formats, units) and examples of model input
#: (the models read English). ``tests/test_i18n.py`` accepts these, and only these, untranslated on the page.
UNTRANSLATED = frozenset(
    {
        "x", "y", "4", "8", "9/16", "7/12", "5/8", "C", "MB", "PNG",
        "ORB", "SIFT", "RGB", "HSV", "HOG", "CLAHE", "L1", "L2", "L1-sqrt", "L2-Hys", "Top-p", "Harris k",
        "CLIP ViT-B/32", "CLIP ViT-L/14", "Stable Diffusion 1.5", "SD-Turbo", "ControlNet Canny (SD 1.5)",
        "DPM++ 2M", "DPM++ 2M Karras", "Euler a", "Euler", "DDIM", "UniPC", "txt2img", "img2img",
        # The API names of two notices outputs (fusion/ui/common.py), which a Markdown never shows.
        "value_100", "value_326", "CLIP",
        "a photography of", "What colour is the car?", "a photo of a red house by a lake, golden hour",
        "blurry, low quality", "cat, dog, car", "Find the edges of this photo · 这张图片里有什么？",
    }
)

#: Text built into the page (and words that messages use as values), English -> Simplified Chinese.
INTERFACE: dict[str, str] = {
    # The page and its tabs
    "# fusion: classical vision meets multimodal models": "# fusion：经典视觉与多模态大模型的融合",
    "Classical features (OpenCV, scikit-image) and large multimodal models (CLIP, BLIP, Stable Diffusion) in one "
    "place, feeding each other. Every panel is also an API endpoint: see *Use via API* at the bottom of the page.": (
        "经典特征（OpenCV、scikit-image）与多模态大模型（CLIP、BLIP、Stable Diffusion）汇聚一处、相互配合。"
        "每个面板同时也是一个 API 端点：见页面底部的 *通过 API 使用*。"
    ),
    "**Smoke-test mode (`FUSION_MODELS=tiny`)**: every model here has tiny *random* weights, so captions, labels "
    "and generated images are noise. Unset `FUSION_MODELS` to use the real models.": (
        "**冒烟测试模式（`FUSION_MODELS=tiny`）**：这里的每个模型都只有极小的*随机*权重，所以标题、标签和生成的"
        "图像都只是噪声。取消设置 `FUSION_MODELS` 即可使用真实模型。"
    ),
    "Classical features": "经典特征",
    "Captioning": "图像标题",
    "Text to image": "文生图",
    "Classification": "分类",
    "Fusion": "融合",
    "System": "系统",
    "Chat": "对话",
    "Message": "消息",
    "Image (optional)": "图像（可选）",
    "Send": "发送",
    "New chat": "新对话",
    "Examples (English and Chinese)": "示例（英文和中文）",
    "Type what you want, in English or Chinese, with or without an image. A small language model running here "
    "picks the app's tools, runs them and shows every step: open a step to see what it was given and what came "
    "back.": (
        "用中文或英文输入你想做的事，可以附带图像，也可以不附带。一个在这里运行的小型语言模型会挑选本应用的工具、"
        "运行它们并展示每一步：展开某一步即可看到它收到了什么、返回了什么。"
    ),
    "Edges → generate": "边缘 → 生成",
    "Classify this": "分类此图",
    "Caption this": "为此图生成标题",
    "Use as img2img input": "用作图生图输入",
    "Report card": "报告卡",
    # Classical features
    "Image": "图像",
    "Operation": "操作",
    "Second image (matching; empty = a known warp of the first)": "第二张图像（用于匹配；留空 = 第一张图像的已知变形）",
    "Run": "运行",
    "Parameters": "参数",
    "Result": "结果",
    "Numbers": "数值",
    "Examples (cached: click one to see its result)": "示例（已缓存：点击一个即可查看结果）",
    "Canny edges": "Canny 边缘",
    "Sobel gradients": "Sobel 梯度",
    "Scharr gradients": "Scharr 梯度",
    "Laplacian": "拉普拉斯",
    "Grayscale": "灰度",
    "Resize": "缩放",
    "Gaussian blur": "高斯模糊",
    "Median blur": "中值模糊",
    "Bilateral filter": "双边滤波",
    "Non-local means denoise": "非局部均值去噪",
    "Histogram equalisation": "直方图均衡化",
    "Gamma / contrast / brightness": "伽马 / 对比度 / 亮度",
    "Unsharp mask": "USM 锐化",
    "Otsu threshold": "Otsu 阈值",
    "Adaptive threshold": "自适应阈值",
    "Morphology": "形态学",
    "Contours": "轮廓",
    "Connected components": "连通域",
    "ORB keypoints": "ORB 关键点",
    "SIFT keypoints": "SIFT 关键点",
    "FAST corners": "FAST 角点",
    "Shi-Tomasi corners": "Shi-Tomasi 角点",
    "Harris corners": "Harris 角点",
    "Feature matching": "特征匹配",
    "LBP texture": "LBP 纹理",
    "Gabor filter bank": "Gabor 滤波器组",
    "Colour histograms": "颜色直方图",
    "Dominant colours": "主色调",
    "Canny low threshold": "Canny 低阈值",
    "Weaker gradients are never edges.": "低于它的梯度一律不算边缘。",
    "Canny high threshold": "Canny 高阈值",
    "Stronger gradients are always edges.": "高于它的梯度一律算作边缘。",
    "Sobel aperture": "Sobel 孔径",
    "3, 5 or 7; larger needs higher thresholds.": "3、5 或 7；越大需要越高的阈值。",
    "L2 gradient": "L2 梯度",
    "Exact magnitude instead of |dx| + |dy|.": "用精确幅值代替 |dx| + |dy|。",
    "Automatic thresholds": "自动阈值",
    "Derive both thresholds from the median.": "由中位数推出两个阈值。",
    "Auto-threshold spread": "自动阈值幅度",
    "(1 ∓ spread) x median.": "(1 ∓ 幅度) x 中位数。",
    "Gradient direction": "梯度方向",
    "|d/dx|, |d/dy| or both.": "|d/dx|、|d/dy| 或两者。",
    "magnitude": "幅值",
    "Sobel kernel size": "Sobel 核大小",
    "Odd; larger kernels smooth more.": "奇数；核越大越平滑。",
    "Laplacian kernel size": "拉普拉斯核大小",
    "Odd aperture size.": "奇数孔径。",
    "Pre-smoothing sigma": "预平滑 sigma",
    "0 = no blur.": "0 = 不模糊。",
    "Resize by": "缩放方式",
    "Factor or longest side.": "按倍数或按长边。",
    "scale": "倍数",
    "long side": "长边",
    "Scale factor": "缩放倍数",
    "Used when resizing by scale.": "按倍数缩放时使用。",
    "Longest side (px)": "长边（像素）",
    "Used for 'long side'.": "用于“长边”方式。",
    "Interpolation": "插值",
    "area for shrinking.": "缩小时用“区域”。",
    "area": "区域",
    "linear": "线性",
    "cubic": "三次",
    "lanczos": "Lanczos",
    "nearest": "最近邻",
    "Gaussian kernel size": "高斯核大小",
    "Odd size in pixels.": "奇数，单位为像素。",
    "Gaussian sigma": "高斯 sigma",
    "0 = derived from kernel size.": "0 = 由核大小推出。",
    "Median kernel size": "中值核大小",
    "Neighbourhood diameter": "邻域直径",
    "Pixels; slow above 15.": "像素；超过 15 会变慢。",
    "Colour sigma": "颜色 sigma",
    "Colour tolerance.": "颜色容差。",
    "Space sigma": "空间 sigma",
    "Spatial reach.": "空间范围。",
    "Luminance strength": "亮度去噪强度",
    "Higher removes more noise.": "越高去除的噪声越多。",
    "Colour strength": "颜色去噪强度",
    "Chroma noise.": "色度噪声。",
    "Patch size": "图块大小",
    "Odd; compared patch size.": "奇数；用于比较的图块大小。",
    "Search window": "搜索窗口",
    "Odd; time grows with its square.": "奇数；耗时随它的平方增长。",
    "Clip limit": "裁剪上限",
    "Higher = more contrast.": "越高 = 对比度越强。",
    "Tile grid": "分块网格",
    "Tiles per side.": "每边的分块数。",
    "Gamma": "伽马",
    "Below 1 brightens shadows.": "小于 1 会提亮暗部。",
    "Contrast": "对比度",
    "Multiplier; 1 = unchanged.": "乘数；1 = 不变。",
    "Brightness": "亮度",
    "Offset in levels.": "色阶偏移量。",
    "Amount": "强度",
    "Strength of the sharpening.": "锐化的强度。",
    "Radius (sigma)": "半径（sigma）",
    "Size of the enhanced details.": "被增强细节的大小。",
    "Threshold": "阈值",
    "Leave differences below it alone.": "低于它的差异保持不变。",
    "Invert mask": "反转掩码",
    "Swap foreground and background (objects darker than the background).": "交换前景与背景（物体比背景暗时使用）。",
    "Local mean": "局部均值",
    "gaussian": "高斯加权",
    "mean": "算术平均",
    "Block size": "块大小",
    "Odd neighbourhood size.": "奇数邻域大小。",
    "Offset C": "偏移量 C",
    "Subtracted from the local mean.": "从局部均值中减去。",
    "erode": "腐蚀",
    "dilate": "膨胀",
    "open": "开运算",
    "close": "闭运算",
    "gradient": "形态学梯度",
    "top-hat": "顶帽",
    "black-hat": "黑帽",
    "Kernel shape": "核形状",
    "rect": "矩形",
    "ellipse": "椭圆",
    "cross": "十字",
    "Kernel size": "核大小",
    "Kernel width and height.": "核的宽和高。",
    "Iterations": "迭代次数",
    "Repeat the operation.": "重复执行该操作。",
    "Apply to": "应用于",
    "grayscale": "灰度图",
    "binary (Otsu)": "二值图（Otsu）",
    "colour": "彩色图",
    "Mask from": "掩码来源",
    "otsu": "Otsu",
    "adaptive": "自适应",
    "canny": "Canny",
    "external": "仅最外层",
    "all": "全部",
    "Minimum area (px)": "最小面积（像素）",
    "Drop smaller ones.": "丢弃更小的轮廓。",
    "Connectivity": "连通性",
    "Neighbours.": "邻居数。",
    "Hide smaller components.": "隐藏更小的连通域。",
    "Max keypoints": "最大关键点数",
    "Strongest ones are kept.": "保留最强的那些。",
    "Pyramid scale": "金字塔缩放比",
    "Between levels.": "相邻两层之间。",
    "Pyramid levels": "金字塔层数",
    "FAST threshold": "FAST 阈值",
    "Corner contrast.": "角点对比度。",
    "0 keeps all.": "0 表示全部保留。",
    "Contrast threshold": "对比度阈值",
    "Drops weak blobs.": "丢弃弱斑点。",
    "Edge threshold": "边缘阈值",
    "Drops edges.": "丢弃边缘响应。",
    "Layers per octave": "每组层数",
    "Intensity threshold": "强度阈值",
    "Contrast to the circle.": "与圆周像素的对比度。",
    "Non-max suppression": "非极大值抑制",
    "Keep only local maxima.": "只保留局部极大值。",
    "Circle test": "圆周测试",
    "Max corners": "最大角点数",
    "Quality level": "质量水平",
    "x best corner.": "x 最佳角点。",
    "Min distance (px)": "最小间距（像素）",
    "Neighbourhood size.": "邻域大小。",
    "Odd derivative aperture.": "奇数导数孔径。",
    "Typically 0.04-0.06.": "通常为 0.04-0.06。",
    "Relative threshold": "相对阈值",
    "x max response.": "x 最大响应。",
    "Descriptor": "描述子",
    "ORB fast, SIFT robust.": "ORB 快，SIFT 稳健。",
    "Max keypoints per image": "每张图像的最大关键点数",
    "Lowe ratio": "Lowe 比率",
    "Lower = stricter matches.": "越低 = 匹配越严格。",
    "RANSAC threshold (px)": "RANSAC 阈值（像素）",
    "Inlier distance.": "内点距离。",
    "Orientations": "方向数",
    "Bins over 0-180°.": "0-180° 内的分箱数。",
    "Cell size (px)": "单元大小（像素）",
    "Cells per block": "每块单元数",
    "Normalisation block.": "归一化块。",
    "Block norm": "块归一化",
    "Neighbours P": "邻点数 P",
    "Sampling points on the circle.": "圆周上的采样点。",
    "Radius R": "半径 R",
    "Circle radius in pixels.": "圆的半径（像素）。",
    "Method": "方法",
    "uniform = rotation invariant.": "uniform = 旋转不变。",
    "uniform": "uniform（旋转不变均匀模式）",
    "default": "default（原始模式）",
    "ror": "ror（旋转不变）",
    "var": "var（局部方差）",
    "Evenly spaced over 180°.": "在 180° 内均匀分布。",
    "Wavelength λ (px)": "波长 λ（像素）",
    "Stripe period.": "条纹周期。",
    "Sigma (px)": "Sigma（像素）",
    "Gaussian envelope width.": "高斯包络宽度。",
    "Odd; about 6 x sigma.": "奇数；约为 6 x sigma。",
    "Bins": "分箱数",
    "Colour space": "颜色空间",
    "Colours k": "颜色数 k",
    "k-means restarts": "k-means 重启次数",
    "Best of several runs.": "多次运行取最优。",
    # Captioning
    "BLIP base": "BLIP 基础版",
    "BLIP large": "BLIP 大型版",
    "Greedy": "贪心",
    "Beam search": "束搜索",
    "Nucleus sampling": "核采样",
    "Decoding options": "解码选项",
    "Model": "模型",
    "Prefix (optional)": "前缀（可选）",
    "The caption continues this text; leave empty for an unconditional caption.": (
        "标题会接着这段文字（英文）续写；留空则生成无条件标题。"
    ),
    "Decoding": "解码方式",
    "Beams": "束数",
    "Length penalty": "长度惩罚",
    ">0 favours longer captions": ">0 倾向于更长的标题",
    "Temperature": "温度",
    "Seed": "种子",
    "Min new tokens": "最少新词元数",
    "Max new tokens": "最多新词元数",
    "Repetition penalty": "重复惩罚",
    "No-repeat n-gram size": "禁止重复的 n-gram 长度",
    "0 = off": "0 = 关闭",
    "Candidates": "候选数",
    # A button and the label of the box it fills: "生成标题" reads as both "caption it" and "the caption".
    "Caption": "生成标题",
    "All candidates": "全部候选",
    "Use as prompt": "用作提示词",
    "Suggest labels": "推荐标签",
    "Suggested labels": "推荐的标签",
    "Question": "问题（英文）",
    "Ask": "提问",
    "Answer": "回答",
    "Caption a gallery": "批量生成标题",
    "Images": "图像",
    "Images per batch": "每批图像数",
    "Caption all": "全部生成标题",
    "Captioned images": "已生成标题的图像",
    "Captions (file: caption)": "标题（文件：标题）",
    # Text to image
    "Prompt": "提示词",
    "Negative prompt": "反向提示词",
    "Generate": "生成",
    "Stop": "停止",
    "Scheduler": "调度器",
    "Steps": "步数",
    "Guidance (CFG scale)": "引导系数（CFG）",
    "Width": "宽度",
    "Height": "高度",
    "-1: random": "-1：随机",
    "🎲 Random": "🎲 随机",
    "♻️ Last seed": "♻️ 上次的种子",
    "Number of images": "图像数量",
    "Image to image": "图生图",
    "Init image": "初始图像",
    "Strength": "强度",
    "How far to move away from the init image (1: ignore it)": "偏离初始图像的程度（1：完全忽略它）",
    "Use the selected result as init image": "将选中的结果用作初始图像",
    "Restore settings from a PNG": "从 PNG 恢复设置",
    "Drop a PNG generated here": "拖入在这里生成的 PNG",
    "Live preview (small)": "实时预览（小图）",
    "Seed used": "实际使用的种子",
    "Parameters (also stored in each PNG)": "参数（也保存在每个 PNG 中）",
    "Notices": "提示",
    "History (this session)": "历史记录（本次会话）",
    "Denoising": "去噪",
    "steps": "步",
    # Classification
    "Softmax: which one is it?": "Softmax：它是哪一个？",
    "Independent: is each one present?": "独立：每个是否出现？",
    "Labels": "标签",
    "Separate labels with commas or new lines.": "用逗号或换行分隔标签（CLIP 读英文）。",
    "Prompts and scoring": "提示词与评分",
    "Prompt templates (one per line, {} is the label)": "提示词模板（每行一个，{} 代表标签）",
    "Several templates are averaged (prompt ensembling).": "多个模板的结果取平均（提示词集成）。",
    "Scoring": "评分方式",
    "Threshold (independent scoring)": "阈值（独立评分）",
    'Add a "none of these" class (softmax scoring)': "添加“以上都不是”类别（Softmax 评分）",
    "Show the top k labels": "显示得分最高的 k 个标签",
    "Classify": "分类",
    "Zero-shot scores": "零样本得分",
    "Scores": "得分",
    "Explain with the hybrid head": "用混合分类头解释",
    "Explain": "解释",
    "CLIP patch similarity to the top label": "CLIP 图块与最高分标签的相似度",
    "Hybrid head": "混合分类头",
    "Feature family contributions": "各特征族的贡献",
    "Teach by example": "用示例教学",
    "Add a few images per label (or a zip of folders named after the labels), then train: the head starts from "
    "CLIP zero-shot and combines it with HOG, LBP, colour and edge features.": (
        "为每个标签添加几张图像（或上传一个 zip，其中的文件夹以标签命名），然后训练：分类头从 CLIP 零样本出发，"
        "并结合 HOG、LBP、颜色和边缘特征。"
    ),
    "These images show": "这些图像的标签",
    "Example images": "示例图像",
    "Add examples": "添加示例",
    "...or an ImageFolder zip (<label>/<images>)": "……或一个 ImageFolder 格式的 zip（<标签>/<图像>）",
    "Examples": "示例",
    "Clear examples": "清空示例",
    "CLIP weight": "CLIP 权重",
    "C (higher = fits the examples more closely)": "C（越高越贴合示例）",
    "Start from CLIP zero-shot (works with 0 examples)": "从 CLIP 零样本出发（没有示例也能用）",
    "Train head": "训练分类头",
    "Cross-validate heads": "交叉验证分类头",
    "Trained head (.safetensors)": "训练好的分类头（.safetensors）",
    "Load a head": "加载分类头",
    "Held-out accuracy": "留出集准确率",
    "Ablation": "消融实验",
    "label": "标签",
    "examples": "示例数",
    "head": "分类头",
    "accuracy": "准确率",
    "± (folds)": "±（各折）",
    "features": "特征",
    "fit ms": "拟合耗时（毫秒）",
    "classical": "经典特征",
    "zero-shot": "零样本",
    "linear probe": "线性探针",
    "fused": "融合",
    "none": "无",
    # Fusion
    "Source image": "源图像",
    "Prompt (empty for re-imagine: the caption)": "提示词（重新想象时留空：使用标题）",
    "Caption → prompt": "标题 → 提示词",
    "Report labels (zero-shot)": "报告卡标签（零样本）",
    "Edge operation": "边缘操作",
    "Canny low": "Canny 低阈值",
    "Canny high": "Canny 高阈值",
    "Control scale": "控制强度",
    "Mode": "模式",
    "Strength (img2img)": "强度（图生图）",
    "Re-imagine": "重新想象",
    "Report card of the source image": "源图像的报告卡",
    "Restore from a run card": "从运行卡恢复",
    "Drop a run card (.json) or a PNG made here": "拖入运行卡（.json）或在这里生成的 PNG",
    "Control map": "控制图",
    "Caption of the source": "源图像的标题",
    "Round-trip similarity": "往返相似度",
    "Run card (also in the PNG)": "运行卡（也保存在 PNG 中）",
    # System
    "Models": "模型",
    "Evict": "卸载",
    "Pin": "固定",
    "Unpin": "取消固定",
    "Evict all unused": "卸载所有未使用的模型",
    "Refresh": "刷新",
    "model": "模型",
    "key": "键",
    "resident": "已加载",
    "pinned": "已固定",
    "in use": "使用中",
    "loads": "加载次数",
    "hits": "命中次数",
    "evictions": "卸载次数",
    "load s": "加载耗时（秒）",
    "source": "来源",
    "BLIP captioning (base)": "BLIP 标题生成（基础版）",
    "BLIP captioning (large)": "BLIP 标题生成（大型版）",
    "BLIP visual question answering": "BLIP 视觉问答",
    "Tiny autoencoder (previews)": "微型自编码器（预览用）",
    "Safety checker": "安全检查器",
    "Qwen3 1.7B assistant (Ask)": "Qwen3 1.7B 助手（Ask）",
    # Words that messages name (the "what" of an error), and units
    "image": "图像",
    "second image": "第二张图像",
    "init image": "初始图像",
    "prompt": "提示词",
    "negative prompt": "反向提示词",
    "prefix": "前缀",
    "question": "问题",
    "Guidance": "引导系数",
    "Low threshold": "低阈值",
    "High threshold": "高阈值",
    "day": "天",
    "hour": "小时",
    "minute": "分钟",
    "second": "秒",
    # The page's layout (issue 17): group picker, cards, charts, raw data
    "Group": "类别",
    "Edges": "边缘",
    "Preprocessing": "预处理",
    "Threshold & morphology": "阈值与形态学",
    "Keypoints": "关键点",
    "Matching": "匹配",
    "Texture": "纹理",
    "Colour": "颜色",
    "Chart": "图表",
    "The operation's result": "操作的结果",
    "The picture attached to this message": "随这条消息附上的图片",
    "The generated picture": "生成的图片",
    "The edge map that steered the generation": "引导生成的边缘图",
    "Where CLIP saw the top label: a heatmap over the picture": "CLIP 在哪里看到了得分最高的标签：叠在图片上的热力图",
    "Raw data": "原始数据",
    "Colour histogram": "颜色直方图",
    "Edges → image settings": "边缘 → 图像 设置",
    "Re-imagine settings": "重新想象设置",
    "Seed, steps and report labels": "种子、步数与报告标签",
    "**Weight of each feature family** (0 leaves it out)": "**各特征族的权重**（0 表示不使用）",
    "colour histogram": "颜色直方图",
    "edges": "边缘",
    # What each classical operation does
    "Thin, connected edges by Canny's hysteresis thresholding of the gradient.": (
        "用 Canny 的滞后阈值处理梯度，得到细而连贯的边缘。"
    ),
    "First derivatives of intensity with a Sobel kernel.": "用 Sobel 核求亮度的一阶导数。",
    "First derivatives with the 3x3 Scharr kernel (more accurate orientation than Sobel 3x3).": (
        "用 3x3 Scharr 核求一阶导数（方向比 3x3 Sobel 更准确）。"
    ),
    "Second derivative (blob and edge response); its variance measures focus.": (
        "二阶导数（对斑点和边缘有响应）；其方差可衡量对焦清晰度。"
    ),
    "Luma grayscale (BT.601) with its histogram.": "亮度灰度图（BT.601）及其直方图。",
    "Resize by a factor or to a target longest side.": "按比例或按目标最长边缩放。",
    "Gaussian smoothing.": "高斯平滑。",
    "Median filter: removes salt-and-pepper noise, keeps edges.": "中值滤波：去除椒盐噪声，保留边缘。",
    "Edge-preserving smoothing that averages only similar colours.": "保边平滑：只对相近的颜色求平均。",
    "Non-local means denoising of colour images (slow on large images).": "彩色图像的非局部均值去噪（大图较慢）。",
    "Global histogram equalisation of lightness (LAB L channel).": "对明度（LAB 的 L 通道）做全局直方图均衡化。",
    "Contrast-limited adaptive histogram equalisation of lightness (LAB L channel).": (
        "对明度（LAB 的 L 通道）做限制对比度的自适应直方图均衡化。"
    ),
    "Tone curve contrast x 255 x (v / 255)^gamma + brightness, applied as one lookup table.": (
        "色调曲线 对比度 x 255 x (v / 255)^伽马 + 亮度，以一张查找表完成。"
    ),
    "Sharpening: adds back the difference between the image and its blur.": "锐化：把图像与其模糊版本的差加回去。",
    "Global binarisation at the threshold chosen by Otsu's method.": "按 Otsu 法选出的阈值做全局二值化。",
    "Local binarisation against the mean of each pixel's neighbourhood (uneven lighting).": (
        "以每个像素邻域的均值为准做局部二值化（适合光照不均）。"
    ),
    "Erode, dilate, open, close, gradient, top-hat or black-hat with a chosen kernel.": (
        "用选定的核做腐蚀、膨胀、开运算、闭运算、形态学梯度、顶帽或黑帽。"
    ),
    "Outlines of the regions of a binary mask, with area statistics.": "二值掩码中各区域的轮廓，以及面积统计。",
    "Label the Otsu foreground's connected regions in distinct colours.": "用不同颜色标出 Otsu 前景中的各个连通区域。",
    "Oriented FAST keypoints over an image pyramid (circle = scale, line = orientation).": (
        "在图像金字塔上检测带方向的 FAST 关键点（圆 = 尺度，线 = 方向）。"
    ),
    "Scale-invariant difference-of-Gaussians keypoints (circle = scale, line = orientation).": (
        "尺度不变的高斯差分关键点（圆 = 尺度，线 = 方向）。"
    ),
    "FAST segment-test corners (very fast, no scale or orientation).": "FAST 分段测试角点（非常快，没有尺度和方向）。",
    "Good features to track: strongest minimum-eigenvalue corners, spaced apart.": (
        "适合跟踪的特征：最小特征值最强、彼此间隔开的角点。"
    ),
    "Harris corner response, local maxima above a fraction of the strongest.": (
        "Harris 角点响应中，高于最强响应一定比例的局部极大值。"
    ),
    "Match descriptors between two images (ratio test + RANSAC homography). Without a second image, the first is "
    "matched against a known synthetic warp of itself.": (
        "在两张图像之间匹配描述子（比率检验 + RANSAC 单应性）。没有第二张图像时，第一张与它自身的一个已知合成变形匹配。"
    ),
    "Histogram of oriented gradients: one glyph of gradient orientations per cell.": (
        "方向梯度直方图：每个单元格一个表示梯度方向的图形。"
    ),
    "Local binary patterns: each pixel coded by which neighbours are brighter; histogram = texture.": (
        "局部二值模式：按哪些邻居更亮为每个像素编码；其直方图即纹理。"
    ),
    "Responses of oriented Gabor filters, one tile per orientation, with energy per orientation.": (
        "各方向 Gabor 滤波器的响应，每个方向一块，并给出每个方向的能量。"
    ),
    "Per-channel RGB or HSV histograms.": "逐通道的 RGB 或 HSV 直方图。",
    "Main colours by k-means on a 128-pixel copy, shown as a palette with their shares.": (
        "在 128 像素的副本上用 k-means 找出主要颜色，以调色板显示并给出各自占比。"
    ),
    # The numbers of the classical operations (cards)
    "Thresholds": "阈值",
    "Set by hand, or derived from the picture's median brightness.": "手动设置，或由图片的亮度中位数推出。",
    "Gradients weaker than this are never edges.": "低于此值的梯度一律不算边缘。",
    "Gradients stronger than this are always edges.": "高于此值的梯度一律算作边缘。",
    "Edge pixels": "边缘像素",
    "Pixels marked as edges.": "被标记为边缘的像素。",
    "Edge density": "边缘密度",
    "Share of the picture on edges: busy pictures score high.": "图片中边缘所占的比例：画面越繁杂越高。",
    "Strongest gradient": "最强梯度",
    "The sharpest change of brightness.": "亮度变化最剧烈之处。",
    "Mean gradient": "平均梯度",
    "Average change of brightness: texture and detail.": "亮度的平均变化：反映纹理与细节。",
    "Focus (Laplacian variance)": "清晰度（拉普拉斯方差）",
    "Higher is sharper; blur lowers it.": "越高越清晰；模糊会使它降低。",
    "Mean brightness": "平均亮度",
    "0 is black, 255 white.": "0 为黑，255 为白。",
    "Contrast (std. dev.)": "对比度（标准差）",
    "Spread of brightness around the mean.": "亮度围绕均值的离散程度。",
    "Original width": "原始宽度",
    "Original height": "原始高度",
    "Scale": "缩放比例",
    "New size over old size.": "新尺寸与原尺寸之比。",
    "Width of the filter window.": "滤波窗口的宽度。",
    "Sigma": "sigma 值",
    "Spread of the Gaussian: more is blurrier.": "高斯的扩散程度：越大越模糊。",
    "Diameter": "直径",
    "Neighbourhood the filter averages.": "滤波器求平均的邻域。",
    "Mean change": "平均变化",
    "How much the filter changed a pixel, on average (0-255).": "滤波平均改变了每个像素多少（0-255）。",
    "Contrast before": "处理前对比度",
    "Spread of lightness (LAB L) before.": "处理前明度（LAB L）的离散程度。",
    "Contrast after": "处理后对比度",
    "Spread of lightness (LAB L) after.": "处理后明度（LAB L）的离散程度。",
    "Black point": "黑场",
    "What black becomes.": "黑色被映射成的值。",
    "White point": "白场",
    "What white becomes.": "白色被映射成的值。",
    "How strongly edges are sharpened.": "边缘被锐化的程度。",
    "Radius": "半径",
    "Size of the detail that is sharpened.": "被锐化的细节的大小。",
    "Brightness that splits foreground from background.": "区分前景与背景的亮度。",
    "Foreground": "前景",
    "Share of pixels above the threshold.": "高于阈值的像素所占比例。",
    "Kernel": "核",
    "Shape of the structuring element.": "结构元素的形状。",
    "How many times the operation was applied.": "操作执行的次数。",
    "Contours kept": "保留的轮廓",
    "Outlines at least as large as the minimum area.": "面积不小于最小面积的轮廓。",
    "Contours found": "找到的轮廓",
    "All outlines, small ones included.": "所有轮廓，包括小的。",
    "Smallest area": "最小面积",
    "Median area": "面积中位数",
    "Largest area": "最大面积",
    "Total area": "总面积",
    "Area inside the kept outlines.": "保留轮廓内的面积。",
    "Regions kept": "保留的区域",
    "Connected regions at least as large as the minimum area.": "面积不小于最小面积的连通区域。",
    "Regions found": "找到的区域",
    "All connected regions, small ones included.": "所有连通区域，包括小的。",
    "Area of the kept regions.": "保留区域的面积。",
    "Distinctive points found (corners, blobs).": "找到的显著点（角点、斑点）。",
    "Mean size": "平均大小",
    "Average diameter of the keypoints' neighbourhoods.": "关键点邻域的平均直径。",
    "Corners": "角点",
    "Corner points found.": "找到的角点。",
    "Detector": "检测器",
    "Second image": "第二张图像",
    "Keypoints (first)": "关键点（第一张）",
    "Found in the first image.": "在第一张图像中找到的。",
    "Keypoints (second)": "关键点（第二张）",
    "Found in the second image.": "在第二张图像中找到的。",
    "Good matches": "良好匹配",
    "Pairs that pass the ratio test.": "通过比率检验的匹配对。",
    "Inliers": "内点",
    "Matches consistent with one perspective warp (RANSAC).": "与同一个透视变换一致的匹配（RANSAC）。",
    "Inlier ratio": "内点比例",
    "Share of good matches that agree: near 100 % is a clean match.": (
        "彼此一致的良好匹配所占比例：接近 100 % 说明匹配干净。"
    ),
    "Homography": "单应性",
    "The perspective warp between the images.": "两张图像之间的透视变换。",
    "Corner error": "角点误差",
    "How far the estimated warp moves the corners from the true one.": "估计的变换把图像角点移离真实位置的距离。",
    "Descriptor length": "描述子长度",
    "Numbers in the HOG feature vector.": "HOG 特征向量中的数值个数。",
    "Cells": "单元格",
    "Columns x rows of cells.": "单元格的列数 x 行数。",
    "Histogram bins": "直方图区间数",
    "Distinct texture codes counted.": "统计到的不同纹理编码数。",
    "Texture entropy": "纹理熵",
    "Variety of local patterns: higher is busier.": "局部模式的多样性：越高越繁杂。",
    "Dominant orientation": "主方向",
    "Direction of the strongest texture.": "最强纹理的方向。",
    "Strongest response": "最强响应",
    "Mean Gabor energy at that orientation.": "该方向上的平均 Gabor 能量。",
    "Colours": "颜色数",
    "Clusters k-means looked for.": "k-means 寻找的聚类数。",
    "Pixels sampled": "采样像素数",
    "manual": "手动",
    "found": "已找到",
    "uploaded": "已上传",
    # Report, run and round-trip cards
    "Prompt match (CLIPScore)": "与提示词的匹配度（CLIPScore）",
    "No prompt was given, so there is nothing to match.": "没有给出提示词，因此无从比较。",
    "100 × CLIP cosine of picture and prompt; with real CLIP about 30 or more is a good match.": (
        "图片与提示词的 CLIP 余弦相似度 × 100；用真实的 CLIP 时，约 30 或以上即为匹配良好。"
    ),
    "Sharpness": "清晰度",
    "Variance of the Laplacian: higher is crisper; below about 100 looks blurred.": (
        "拉普拉斯方差：越高越清晰；低于约 100 看起来就模糊了。"
    ),
    "Share of pixels on Canny edges: busy pictures score high.": "位于 Canny 边缘上的像素比例：画面越繁杂越高。",
    "Edges kept (F1)": "边缘保留（F1）",
    "Keypoint agreement": "关键点一致性",
    "Colour distance": "颜色距离",
    "Between the colour histograms of source and result: 0 same colours, 1 none shared.": (
        "源图像与结果的颜色直方图之间的距离：0 表示颜色相同，1 表示毫无共同之处。"
    ),
    "Size": "尺寸",
    "Edge map": "边缘图",
    "Round trip": "往返",
    "Picture similarity": "图片相似度",
    "CLIP cosine of the source and the new picture: 1 is the same picture.": (
        "源图像与新图片的 CLIP 余弦相似度：1 表示同一张图。"
    ),
    "Prompt vs new caption": "提示词与新标题",
    "CLIP cosine of the prompt and what BLIP sees in the new picture.": (
        "提示词与 BLIP 对新图片所作描述的 CLIP 余弦相似度。"
    ),
    # Chart titles, axes, series and categories
    "Intensity histogram": "亮度直方图",
    "Lightness histogram (LAB L)": "明度直方图（LAB L）",
    "Tone curve": "色调曲线",
    "Contour areas": "轮廓面积",
    "Component areas": "连通区域面积",
    "Keypoint sizes": "关键点大小",
    "Mean HOG energy per orientation": "各方向的平均 HOG 能量",
    "Mean Gabor energy per orientation": "各方向的平均 Gabor 能量",
    "Gradient strengths": "梯度强度分布",
    "Laplacian strengths": "拉普拉斯响应强度分布",
    "From keypoints to inliers": "从关键点到内点",
    "Zero-shot softmax scores": "零样本 softmax 得分",
    "Zero-shot independent scores": "零样本独立得分",
    "intensity": "亮度",
    "pixels": "像素数",
    "input level": "输入值",
    "output level": "输出值",
    "log10(area in pixels)": "log10（以像素计的面积）",
    "regions": "区域数",
    "diameter (pixels)": "直径（像素）",
    "keypoints": "关键点",
    "corners": "角点",
    "gradient orientation (degrees)": "梯度方向（度）",
    "mean normalised energy": "归一化后的平均能量",
    "orientation (degrees)": "方向（度）",
    "mean energy": "平均能量",
    "code": "编码",
    "channel value": "通道值",
    "fraction of pixels": "像素占比",
    "cluster colour": "聚类颜色",
    "share of pixels (%)": "像素占比（%）",
    "share of pixels": "像素占比",
    "strength": "强度",
    "step": "步骤",
    "count": "数量",
    "score": "得分",
    "feature family": "特征族",
    "logit contribution": "logit 贡献",
    "contribution": "贡献",
    "gray": "灰度",
    "before": "处理前",
    "after": "处理后",
    "curve": "曲线",
    "energy": "能量",
    "share": "占比",
    "red": "红",
    "green": "绿",
    "blue": "蓝",
    "hue": "色相",
    "saturation": "饱和度",
    "value": "明度",
    "keypoints (first image)": "关键点（第一张图像）",
    "keypoints (second image)": "关键点（第二张图像）",
    "good matches": "良好匹配",
    "RANSAC inliers": "RANSAC 内点",
}

#: Text made on the server (errors, notices, info): English template -> Chinese template, ``{name}`` for any text.
MESSAGES: dict[str, str] = {
    # Uploads (fusion/images.py, fusion/ui/common.py)
    "The {what} has no pixels ({width}x{height}): upload a real picture.": (
        "{what}没有像素（{width}x{height}）：请上传一张真正的图片。"
    ),
    "Pixels of type {dtype} are not supported: use 8- or 16-bit integers or floats.": (
        "不支持 {dtype} 类型的像素：请使用 8 位或 16 位整数，或浮点数。"
    ),
    "The {what} has shape {shape}; expected (height, width), (height, width, 3) or (height, width, 4).": (
        "{what}的形状是 {shape}；应为 (高, 宽)、(高, 宽, 3) 或 (高, 宽, 4)。"
    ),
    "The {what} file is damaged or truncated and could not be decoded ({error}). Re-export it or try another "
    "file.": "{what}文件已损坏或不完整，无法解码（{error}）。请重新导出，或换一个文件。",
    "The {what} upload carried no file: upload it again.": "{what}的上传没有带上文件：请重新上传。",
    "The {what} file is empty (0 bytes): upload a real picture.": "{what}文件是空的（0 字节）：请上传一张真正的图片。",
    "The {what} must be a file path, bytes, a PIL image or an array, not {kind}.": (
        "{what}必须是文件路径、字节、PIL 图像或数组，而不是 {kind}。"
    ),
    "The {what} {name} declares far too many pixels to decode safely (a guard against decompression bombs): "
    "downscale it first.": "{what} {name} 声明的像素多到无法安全解码（用于防范解压炸弹）：请先缩小它。",
    "{name} is not an image this app can read. Upload a PNG, JPEG, WebP, BMP, GIF or TIFF file.": (
        "{name} 不是本应用能读取的图像。请上传 PNG、JPEG、WebP、BMP、GIF 或 TIFF 文件。"
    ),
    "The {what} file {name} is empty (0 bytes): upload a real picture.": (
        "{what}文件 {name} 是空的（0 字节）：请上传一张真正的图片。"
    ),
    "Rotated according to the photo's EXIF orientation.": "已按照片的 EXIF 方向信息旋转。",
    "Transparent areas were placed on a white background.": "透明区域已放到白色背景上。",
    "Converted from CMYK to RGB.": "已从 CMYK 转换为 RGB。",
    "Reduced from 16 bits to 8 bits per channel.": "已从每通道 16 位降为 8 位。",
    "Downscaled from {width}x{height} to {new_width}x{new_height} (the limit is {max_side} px).": (
        "已从 {width}x{height} 缩小到 {new_width}x{new_height}（上限为 {max_side} 像素）。"
    ),
    # Numbers (fusion/numbers.py, fusion/features/operations.py)
    "{what} must be a number, got {value}.": "{what}必须是数字，收到的是 {value}。",
    "{what} must be a finite number, got one beyond ±1e308.": "{what}必须是有限的数字，收到的数超出了 ±1e308。",
    "{what} must be a finite number, got {value}.": "{what}必须是有限的数字，收到的是 {value}。",
    "{what} must be one of {choices}, got {value} (parameter {name}).": (
        "{what}必须是 {choices} 之一，收到的是 {value}（参数 {name}）。"
    ),
    "{what} must be true or false, got {value} (parameter {name}).": (
        "{what}必须是 true 或 false，收到的是 {value}（参数 {name}）。"
    ),
    "{what} must be a number, got {value} (parameter {name}).": "{what}必须是数字，收到的是 {value}（参数 {name}）。",
    "{what} must be a finite number, got one beyond ±1e308 (parameter {name}).": (
        "{what}必须是有限的数字，收到的数超出了 ±1e308（参数 {name}）。"
    ),
    "{what} must be a finite number, got {value} (parameter {name}).": (
        "{what}必须是有限的数字，收到的是 {value}（参数 {name}）。"
    ),
    "{what} must be a whole number, got {value} (parameter {name}).": (
        "{what}必须是整数，收到的是 {value}（参数 {name}）。"
    ),
    "{what} must be between {low} and {high}, got {value} (parameter {name}).": (
        "{what}必须在 {low} 到 {high} 之间，收到的是 {value}（参数 {name}）。"
    ),
    "{what} must be an odd number, got {value} (parameter {name}).": (
        "{what}必须是奇数，收到的是 {value}（参数 {name}）。"
    ),
    "{what} must be {start} + n x {step}, got {value} (parameter {name}).": (
        "{what}必须是 {start} + n x {step}，收到的是 {value}（参数 {name}）。"
    ),
    "Unknown operation {name}; choose one of: {choices}.": "未知的操作 {name}；请从以下选择：{choices}。",
    "Unknown parameter(s) {names} for {operation}; valid parameters: {valid}.": (
        "{operation} 没有参数 {names}；有效的参数为：{valid}。"
    ),
    # Classical features (fusion/features)
    "The {what} must be a numpy array, got {kind}; upload an image first.": (
        "{what}必须是 numpy 数组，收到的是 {kind}；请先上传一张图像。"
    ),
    "The {what} must be a non-empty RGB uint8 array of shape (H, W, 3), got dtype {dtype} and shape {shape}; "
    "convert it with the image loader before running an operation.": (
        "{what}必须是形状为 (H, W, 3) 的非空 RGB uint8 数组，收到的 dtype 为 {dtype}、形状为 {shape}；"
        "运行操作前请先用图像加载器转换。"
    ),
    "{name} failed on this {width}x{height} image: OpenCV reported '{error}' in {where}. Try a larger image or "
    "smaller parameters.": (
        "{name} 在这张 {width}x{height} 的图像上失败：OpenCV 在 {where} 中报告“{error}”。请换一张更大的图像或调小参数。"
    ),
    "a filter": "某个滤波器",
    "ORB with {levels} pyramid levels at scale {scale} needs images of at least {needed} pixels on each side, got "
    "{width}x{height}; use a larger image or fewer levels.": (
        "ORB 在 {levels} 层金字塔、缩放比 {scale} 下，要求图像每边至少 {needed} 像素，收到的是 {width}x{height}；"
        "请换更大的图像或减少层数。"
    ),
    "HOG needs an image of at least {needed}x{needed_height} pixels for {cell}-pixel cells and {block}-cell blocks, "
    "got {width}x{height}; use smaller cells or a larger image.": (
        "在 {cell} 像素的单元和 {block} 个单元的块下，HOG 需要至少 {needed}x{needed_height} 像素的图像，"
        "收到的是 {width}x{height}；请用更小的单元或更大的图像。"
    ),
    "Resizing to {width}x{height} exceeds the {limit}-pixel limit; choose a smaller scale factor or long side.": (
        "缩放到 {width}x{height} 会超过 {limit} 像素的上限；请选择更小的缩放倍数或长边。"
    ),
    "The handcrafted vector needs positive counts and a positive LBP radius, got {values}.": (
        "手工特征向量需要正的数量和正的 LBP 半径，收到的是 {values}。"
    ),
    "The handcrafted vector needs size >= {minimum} and hog_cells >= {cells}, got size {size} and hog_cells "
    "{hog_cells}; raise size.": (
        "手工特征向量需要 size >= {minimum} 且 hog_cells >= {cells}，收到的是 size {size}、hog_cells {hog_cells}；"
        "请增大 size。"
    ),
    "lbp_grid and edge_grid cannot exceed size {size} (one pixel per cell at least).": (
        "lbp_grid 和 edge_grid 不能超过 size {size}（每个单元至少一个像素）。"
    ),
    # Captioning (fusion/captioning.py, fusion/ui/captioning.py)
    "The {what} was {length} characters; only the first {limit} were used.": (
        "{what}有 {length} 个字符；只使用了前 {limit} 个。"
    ),
    "Unknown caption model {model}: choose one of {choices}.": "未知的标题模型 {model}：请从 {choices} 中选择。",
    "Unknown decoding mode {mode}: choose one of {choices}.": "未知的解码方式 {mode}：请从 {choices} 中选择。",
    "The prefix must be text, got {kind}.": "前缀必须是文本，收到的是 {kind}。",
    "The seed must be between 0 and {maximum}, got {seed}.": "种子必须在 0 到 {maximum} 之间，收到的是 {seed}。",
    "{name} {value} is outside {low}..{high}; used {used}.": "{name} {value} 超出了 {low}..{high}；已改用 {used}。",
    "min_new_tokens was above max_new_tokens; used {value} for both.": (
        "min_new_tokens 大于 max_new_tokens；两者都改用了 {value}。"
    ),
    "Greedy decoding gives one caption per image; use beam search or sampling for several.": (
        "贪心解码每张图像只给出一个标题；要得到多个标题，请用束搜索或采样。"
    ),
    "Beam search needs at least 2 beams; used 2.": "束搜索至少需要 2 束；已改用 2。",
    "Beam search returns at most one caption per beam; used {count} candidates.": (
        "束搜索每束最多返回一个标题；已改用 {count} 个候选。"
    ),
    "No image to caption: upload at least one picture.": "没有要生成标题的图像：请至少上传一张图片。",
    'Type a question about the image first, for example "What colour is the car?".': (
        "请先输入一个关于图像的问题（英文），例如“What colour is the car?”。"
    ),
    "Labels are suggested from a caption's text, got {kind}.": "标签是根据标题文本推荐的，收到的却是 {kind}。",
    "max_labels must be at least 1, got {value}.": "max_labels 至少为 1，收到的是 {value}。",
    "No images to caption: upload one or more picture files.": "没有要生成标题的图像：请上传一个或多个图片文件。",
    "{count} files were given; only the first {limit} were captioned.": (
        "收到 {count} 个文件；只为前 {limit} 个生成了标题。"
    ),
    "{name}: {notice}": "{name}：{notice}",
    "Skipped {name}: {reason}": "已跳过 {name}：{reason}",
    "None of the files could be read as an image:\n{details}": "没有一个文件能作为图像读取：\n{details}",
    # Text to image (fusion/generation.py, fusion/ui/generation.py)
    "Unknown generation model {model}; choose one of: {choices}.": "未知的生成模型 {model}；请从以下选择：{choices}。",
    "Unknown scheduler {scheduler}; choose one of: {choices}.": "未知的调度器 {scheduler}；请从以下选择：{choices}。",
    "The {what} is {length} characters long; the text encoder reads only about 75 words (77 tokens). Shorten it "
    "to under {limit} characters.": (
        "{what}长达 {length} 个字符；文本编码器只读取大约 75 个单词（77 个词元）。请缩短到 {limit} 个字符以内。"
    ),
    "The init image must be RGB uint8 of shape (height, width, 3), got {dtype} {shape}; decode uploads with "
    "fusion.images.load.": (
        "初始图像必须是形状为 (高, 宽, 3) 的 RGB uint8，收到的是 {dtype} {shape}；请用 fusion.images.load 解码上传。"
    ),
    "{what} {value} is outside {low}-{high}; using {used}.": "{what} {value} 超出了 {low}-{high}；改用 {used}。",
    "Seed {seed} is negative, which means random.": "种子 {seed} 是负数，表示随机。",
    "Seed {seed} is above {maximum}; using {used} (the seed modulo 2^32).": (
        "种子 {seed} 大于 {maximum}；改用 {used}（种子对 2^32 取模）。"
    ),
    "Strength {strength} x {steps} steps would not run a single denoising step; using {needed} steps.": (
        "强度 {strength} x {steps} 步连一步去噪都不会执行；改用 {needed} 步。"
    ),
    "Strength {strength} x {steps} steps would not run a single denoising step; using strength {raised}.": (
        "强度 {strength} x {steps} 步连一步去噪都不会执行；改用强度 {raised}。"
    ),
    "{what} {value} is not a multiple of {multiple}; using {used}.": (
        "{what} {value} 不是 {multiple} 的倍数；改用 {used}。"
    ),
    "Guidance of 1 or less turns classifier-free guidance off, so the negative prompt is ignored.": (
        "引导系数不大于 1 时会关闭无分类器引导，因此反向提示词被忽略。"
    ),
    "SD-Turbo was distilled to run without guidance (0); higher values usually oversaturate.": (
        "SD-Turbo 是为无引导（0）运行而蒸馏的；更高的值通常会导致过饱和。"
    ),
    "The prompt is empty: the image is generated without a text condition.": (
        "提示词为空：图像将在没有文本条件的情况下生成。"
    ),
    "The {what} is {length} tokens long but the text encoder reads {limit}, so it was truncated; ignored: "
    "{ignored}.": "{what}长达 {length} 个词元，但文本编码器只读取 {limit} 个，因此被截断；被忽略的部分：{ignored}。",
    "The prompt uses non-Latin script. Stable Diffusion's text encoder was trained mostly on English captions, so "
    "such prompts often work poorly: an English translation usually does better.": (
        "提示词使用了非拉丁文字。Stable Diffusion 的文本编码器主要用英文标题训练，这类提示词效果往往不好："
        "翻译成英文通常会更好。"
    ),
    "The init image was resized from {width}x{height} to {new_width}x{new_height}.": (
        "初始图像已从 {width}x{height} 调整为 {new_width}x{new_height}。"
    ),
    "The control image must be RGB uint8 of shape (height, width, 3), got {dtype} {shape}.": (
        "控制图必须是形状为 (高, 宽, 3) 的 RGB uint8，收到的是 {dtype} {shape}。"
    ),
    "ControlNet-Canny is trained for Stable Diffusion 1.5: choose the sd15 model.": (
        "ControlNet-Canny 是为 Stable Diffusion 1.5 训练的：请选择 sd15 模型。"
    ),
    "Control scale must lie between 0 and {maximum}, got {value}.": (
        "控制强度必须在 0 到 {maximum} 之间，收到的是 {value}。"
    ),
    "The safety checker was turned off for this run: the images are unchecked.": (
        "本次运行关闭了安全检查器：图像未经检查。"
    ),
    "The safety checker flagged {flagged} of {count} image(s); they are shown blurred. Try another prompt or "
    "seed.": "安全检查器标记了 {count} 张图像中的 {flagged} 张，已模糊显示。请换一个提示词或种子。",
    "Stopped after {done} of {total} steps: the {limit} s time limit passed, so the image is unfinished. Use fewer "
    "steps, a smaller size or fewer images.": (
        "在 {total} 步中的第 {done} 步后停止：已超过 {limit} 秒的时间上限，图像尚未完成。请减少步数、缩小尺寸或减少"
        "图像数量。"
    ),
    "Stopped after {done} of {total} steps, as asked; the image is unfinished.": (
        "已按要求在 {total} 步中的第 {done} 步后停止；图像尚未完成。"
    ),
    "This image carries no generation parameters: drop a PNG made here (or by A1111-style tools), which stores "
    "them in a 'parameters' text chunk.": (
        "这张图像不含生成参数：请拖入在这里（或用 A1111 类工具）生成的 PNG，它们把参数存放在“parameters”文本块中。"
    ),
    "Model {model} is not available here; the model was left unchanged.": "这里没有模型 {model}；模型保持不变。",
    "Sampler {sampler} is not available here; it was left unchanged.": "这里没有采样器 {sampler}；它保持不变。",
    "Settings restored from the PNG.": "已从 PNG 恢复设置。",
    "Generate an image first (or upload one as the init image).": "请先生成一张图像（或上传一张作为初始图像）。",
    "seed {seed}": "种子 {seed}",
    "Model default ({scheduler})": "模型默认（{scheduler}）",
    "0: the model's default ({steps}); at most {maximum}": "0：模型默认值（{steps}）；最多 {maximum}",
    "-1: the model's default ({guidance}); {low}-{high}, 0 or 1 turns guidance off": (
        "-1：模型默认值（{guidance}）；范围 {low}-{high}，0 或 1 关闭引导"
    ),
    "{low}-{high}, a multiple of 8; 0: the model's own size": "{low}-{high}，须为 8 的倍数；0：模型自身的尺寸",
    # The generation rate limit (fusion/ui/admission.py), whose wording is in FRAGMENTS
    # Ask (fusion/agent/)
    'Type a request first, for example "Find the edges of this photo" or "这张图片里有什么?".': (
        "请先输入请求，例如“找出这张照片的边缘”或“这张图片里有什么？”。"
    ),
    "This chat is still working on the previous request: wait for it, or press Stop.": (
        "这个对话仍在处理上一个请求：请等待，或按“停止”。"
    ),
    'Type a short description first, for example "a cat on a windowsill".': "请先输入简短描述，例如“窗台上的一只猫”。",
    "The Ask assistant must be a Qwen2.5 or Qwen3 instruct model, not a {model_type} model: set "
    "FUSION_ASSISTANT_MODEL to one.": (
        "Ask 助手必须是 Qwen2.5 或 Qwen3 指令模型，而不是 {model_type} 模型：请将 FUSION_ASSISTANT_MODEL 设为其中之一。"
    ),
    "Used tool: {tool}": "使用了工具：{tool}",
    "Arguments: {arguments}": "参数：{arguments}",
    "Result: {outcome}": "结果：{outcome}",
    "(The assistant finished without a written answer: the steps above are what it did.)": (
        "（助手没有写出回答就结束了：上面的步骤就是它所做的。）"
    ),
    "This chat already holds {count} images: start a new chat to add more.": (
        "这个对话已经有 {count} 张图像：请开始新对话再添加。"
    ),
    # Hardening (issue 15): the file gate, the decoder's memory cap, the queue's door, model-load failures
    "No {what} was given: upload a picture (PNG, JPEG, WebP, ...).": (
        "没有提供{what}：请上传一张图片（PNG、JPEG、WebP 等）。"
    ),
    "The {what} file was not found: upload it again.": "找不到{what}文件：请重新上传。",
    "The {what} is {width}x{height} pixels: decoding it would take about {needed} MB, more than the {allowed} MB "
    "this app allows for one image. Downscale it first (a JPEG of any size works).": (
        "{what}有 {width}x{height} 像素：解码它大约需要 {needed} MB，超过了本应用为单张图像允许的 {allowed} MB。"
        "请先缩小它（任意尺寸的 JPEG 都可以）。"
    ),
    "This is an animated image: only its first frame was used.": "这是一张动图：只使用了它的第一帧。",
    "Something went wrong inside the app (error {error_id}). The request was not completed; please try again, and "
    "report it with this error id if it happens again.": (
        "应用内部出了问题（错误 {error_id}）。请求没有完成；请重试，如果再次发生，请附上这个错误编号报告。"
    ),
    "{title} is not available: {cause}. The server's owner can fix it (`python -m fusion download` fetches the "
    "default models). (error {error_id})": (
        "{title} 不可用：{cause}。服务器的所有者可以修复它（`python -m fusion download` 会下载默认模型）。"
        "（错误 {error_id}）"
    ),
    "{title} is not available: its tiny stand-in could not be built (error {error_id}; the server log has the "
    "details).": "{title} 不可用：无法构建它的小型替身模型（错误 {error_id}；详情见服务器日志）。",
    "Not enough {memory} memory to load {title}, even after freeing every model not in use. Try again when fewer "
    "requests are running.": (
        "即使释放了所有未使用的模型，{memory} 内存仍不足以加载 {title}。请在运行中的请求变少时再试。"
    ),
    "Used the first {used} of the {count} images; the rest were not read.": (
        "使用了 {count} 张图像中的前 {used} 张；其余的没有读取。"
    ),
    "The labels are {length} characters long; at most {limit} are read. Type fewer or shorter labels.": (
        "标签共有 {length} 个字符；最多只读取 {limit} 个。请输入更少或更短的标签。"
    ),
    "There are already {count} examples: clear some before adding a zip.": (
        "已经有 {count} 个示例：添加 zip 之前请先清除一些。"
    ),
    "Drop a run card (.json) or a PNG made in the Fusion tab.": "请拖入一张运行卡（.json），或在“融合”页生成的 PNG。",
    "This run card is larger than {size} KB: drop the JSON a result came with.": (
        "这张运行卡大于 {size} KB：请拖入结果附带的 JSON。"
    ),
    "This run card is not UTF-8 text: drop the JSON a result came with.": (
        "这张运行卡不是 UTF-8 文本：请拖入结果附带的 JSON。"
    ),
    "{what} {value} is too low: {sentinel} means the model's default.": (
        "{what} {value} 太小：{sentinel} 表示模型的默认值。"
    ),
    "The app is busy: {count} requests are already waiting for the {lane}. Try again in a minute.": (
        "应用正忙：已有 {count} 个请求在等待 {lane}。请一分钟后再试。"
    ),
    "You already have {count} requests waiting here; wait for them to finish before sending more.": (
        "你已有 {count} 个请求在这里等待；请等它们完成后再发送更多。"
    ),
    "The request is larger than this app accepts ({limit} KB).": "请求大于本应用接受的大小（{limit} KB）。",
    "Uploads are paused: the server's temporary space is full. Try again in a few minutes.": (
        "上传已暂停：服务器的临时空间已满。请几分钟后再试。"
    ),
    "Generation limit reached: {limit} per user. Try again in {wait}.": (
        "已达到生成次数上限：每位用户 {limit}。请在 {wait}后再试。"
    ),
    # Classification (fusion/classification, fusion/ui/classification.py)
    "Type at least one label, separated by commas or new lines (for example: cat, dog, car).": (
        "请至少输入一个标签，用逗号或换行分隔（例如：cat, dog, car）。"
    ),
    "Labels must be text (for example: cat, dog, car) or a list, not {kind}.": (
        "标签必须是文本（例如：cat, dog, car）或列表，而不是 {kind}。"
    ),
    "{count} label(s) longer than {limit} characters were shortened (for example {example}...).": (
        "有 {count} 个标签超过 {limit} 个字符，已被截短（例如 {example}...）。"
    ),
    "Removed {count} duplicate label(s): {labels}": "已移除 {count} 个重复的标签：{labels}",
    "{count} labels were given; at most {limit} can be scored at once. Remove some labels or split them over "
    "several requests.": "收到 {count} 个标签；一次最多只能评分 {limit} 个。请删掉一些标签，或分成几次请求。",
    "No prompt templates were given: using the default ensemble.": "没有提供提示词模板：使用默认的模板集成。",
    "The prompt template {template} must contain exactly one {} where the label goes, for example: a photo of a "
    "{}.": "提示词模板 {template} 必须恰好包含一个 {}，表示标签的位置，例如：a photo of a {}.",
    "Prompt templates are limited to {limit} characters; shorten {template}...": (
        "提示词模板最多 {limit} 个字符；请缩短 {template}..."
    ),
    "{count} prompt templates were given; use at most {limit}.": "收到 {count} 个提示词模板；最多使用 {limit} 个。",
    "Unknown scoring mode {mode}; choose one of {choices}.": "未知的评分方式 {mode}；请从 {choices} 中选择。",
    "Give at least one prompt template, for example: a photo of a {}.": (
        "请至少提供一个提示词模板，例如：a photo of a {}."
    ),
    "The threshold must be a number between 0 and 1, got {value}.": "阈值必须是 0 到 1 之间的数字，收到的是 {value}。",
    "The threshold must lie between 0 and 1, got {value}.": "阈值必须在 0 到 1 之间，收到的是 {value}。",
    "Independent scoring needs the neutral prompt embedding.": "独立评分需要中性提示词的嵌入。",
    "With a single label a softmax always gives it 100%, so it was scored on its own against a neutral prompt "
    "instead (independent mode). Add more labels to compare them.": (
        "只有一个标签时，Softmax 总会给它 100%，因此改为让它单独与中性提示词比较（独立模式）。添加更多标签即可相互"
        "比较。"
    ),
    "{label} is already one of your labels, so it was not added a second time.": (
        "{label} 已经是你的标签之一，所以没有再添加一次。"
    ),
    "Unknown CLIP model {model}; choose clip or clip-large.": "未知的 CLIP 模型 {model}；请选择 clip 或 clip-large。",
    "The {family} weight": "{family} 权重",
    "Present at threshold {threshold}: {labels}": "阈值 {threshold} 下出现的标签：{labels}",
    "The taught head knows other labels than those typed, so CLIP zero-shot was used.": (
        "教学得到的分类头所知的标签与输入的不同，因此改用了 CLIP 零样本。"
    ),
    "Type at least two labels to explain a choice between them.": "请至少输入两个标签，才能解释在它们之间的选择。",
    "Choose or type the label these example images show, then add them.": (
        "请选择或输入这些示例图像所对应的标签，再添加它们。"
    ),
    "Upload one or more example images for this label first.": "请先为这个标签上传一张或多张示例图像。",
    "Kept the first {limit} examples; the rest were not added.": "只保留了前 {limit} 个示例；其余的没有添加。",
    "Skipped file {number}: {reason}": "已跳过文件 {number}：{reason}",
    "Upload a .zip of folders named after the labels, each holding example images.": (
        "请上传一个 .zip，其中的文件夹以标签命名，每个文件夹里放示例图像。"
    ),
    "Kept {kept} of the {count} images (at most {limit} examples).": (
        "保留了 {count} 张图像中的 {kept} 张（最多 {limit} 个示例）。"
    ),
    "Type the labels to teach, separated by commas, then add examples of each.": (
        "请输入要教的标签（用逗号分隔），然后为每个标签添加示例。"
    ),
    "Trained on {examples} example(s) of {labels} labels in {seconds} s{accuracy}. Explain now uses this head.": (
        "已用 {labels} 个标签的 {examples} 个示例训练，耗时 {seconds} 秒{accuracy}。“解释”现在使用这个分类头。"
    ),
    "Upload a .safetensors head saved by this app.": "请上传本应用保存的 .safetensors 分类头。",
    "Loaded a head for {labels} ({examples} examples). Explain uses it.": (
        "已加载标签为 {labels} 的分类头（{examples} 个示例）。“解释”将使用它。"
    ),
    "{root} has no class folders: an ImageFolder dataset is ROOT/<label>/<images>, for example ROOT/cat/1.png and "
    "ROOT/dog/2.png (or ROOT/train/... plus ROOT/test/...).": (
        "{root} 中没有类别文件夹：ImageFolder 数据集的结构是 ROOT/<标签>/<图像>，例如 ROOT/cat/1.png 和 "
        "ROOT/dog/2.png（或 ROOT/train/... 加 ROOT/test/...）。"
    ),
    "{root} has classes the training split lacks: {classes}.": "{root} 中有训练集所没有的类别：{classes}。",
    "Skipped {count} file(s) that are not readable images: {names}": "已跳过 {count} 个无法读取为图像的文件：{names}",
    "No readable images were found in the class folders of {root}.": "在 {root} 的类别文件夹中没有找到可读取的图像。",
    "Both sets must have the same labels in the same order.": "两个数据集必须有相同顺序的相同标签。",
    "The examples file is not a readable zip archive ({error}).": "示例文件不是可读取的 zip 压缩包（{error}）。",
    "The zip holds more than {files} files or {megabytes} MB; upload a smaller set of examples.": (
        "这个 zip 包含超过 {files} 个文件或 {megabytes} MB；请上传更小的示例集。"
    ),
    "Unknown offline dataset {name}; choose one of {choices}.": "未知的离线数据集 {name}；请从 {choices} 中选择。",
    "Cross-validation needs examples of at least two labels.": "交叉验证至少需要两个标签的示例。",
    "Every label needs at least 2 examples to cross-validate (one to train, one to test).": (
        "每个标签至少需要 2 个示例才能交叉验证（一个训练，一个测试）。"
    ),
    "Used {used} folds: the smallest label has only {smallest} examples.": (
        "使用了 {used} 折：最少的标签只有 {smallest} 个示例。"
    ),
    "The train and test splits must share their labels.": "训练集和测试集必须有相同的标签。",
    "Unknown head {name}; choose from {choices}.": "未知的分类头 {name}；请从 {choices} 中选择。",
    "Skipped {name}: it needs CLIP.": "已跳过 {name}：它需要 CLIP。",
    "Skipped classical: every handcrafted weight is 0.": "已跳过经典特征：所有手工特征的权重都是 0。",
    "The regularisation C must be a positive number, got {value}.": "正则化系数 C 必须是正数，收到的是 {value}。",
    "With no examples the head has only CLIP's zero-shot text embeddings to go on: give CLIP a weight above 0, or "
    "add examples of each label.": (
        "没有示例时，分类头只能依靠 CLIP 的零样本文本嵌入：请给 CLIP 一个大于 0 的权重，或为每个标签添加示例。"
    ),
    "Every feature weight is 0: give at least one family (for example CLIP) a weight.": (
        "所有特征权重都是 0：请至少给一个特征族（例如 CLIP）设置权重。"
    ),
    "This head expects {expected} feature values but got {got}; the CLIP model differs from the one it was trained "
    "with: train it again.": (
        "这个分类头需要 {expected} 个特征值，但收到 {got} 个；CLIP 模型与训练时的不同：请重新训练。"
    ),
    "This head expects {expected} {family} values but the features have {got}; it was trained with other feature "
    "settings: train it again.": (
        "这个分类头需要 {expected} 个 {family} 特征值，但特征有 {got} 个；它是用其他特征设置训练的：请重新训练。"
    ),
    "{name} is damaged: its weights do not match its labels and layout.": "{name} 已损坏：它的权重与标签和布局不匹配。",
    "The {family} weight must be a number from 0 to {maximum}, got {value}.": (
        "{family} 权重必须是 0 到 {maximum} 之间的数字，收到的是 {value}。"
    ),
    "These features were extracted without CLIP; set the CLIP weight to 0.": (
        "这些特征是在没有 CLIP 的情况下提取的；请把 CLIP 权重设为 0。"
    ),
    "{name} is not a classifier head saved by this app (a .safetensors file from 'Download head'); train a head "
    "and download it again.": (
        "{name} 不是本应用保存的分类头（“下载分类头”得到的 .safetensors 文件）；请训练一个分类头并重新下载。"
    ),
    "No images were given to featurise.": "没有提供要提取特征的图像。",
    "CLIP features need the model cache; set the CLIP weight to 0 to go without CLIP.": (
        "CLIP 特征需要模型缓存；把 CLIP 权重设为 0 即可不用 CLIP。"
    ),
    "Teach at least two labels: a classifier needs something to tell apart.": (
        "请至少教两个标签：分类器需要区分的对象。"
    ),
    "These labels have no examples: {labels}. Add examples of them, or keep CLIP's weight above 0 with the "
    "zero-shot start so CLIP's text embeddings stand in for them.": (
        "这些标签没有示例：{labels}。请为它们添加示例，或保持 CLIP 权重大于 0 并从零样本出发，让 CLIP 的文本嵌入代"
        "替它们。"
    ),
    "No examples yet for {labels}: CLIP's zero-shot prior stands in.": (
        "{labels} 还没有示例：由 CLIP 的零样本先验代替。"
    ),
    "This head was trained on features of {model_id}, but {key} is now {current}: train it again with this model.": (
        "这个分类头是用 {model_id} 的特征训练的，但 {key} 现在是 {current}：请用这个模型重新训练。"
    ),
    "No examples taught yet: this is CLIP zero-shot, so only the CLIP family contributes.": (
        "还没有教过示例：这是 CLIP 零样本，因此只有 CLIP 特征族有贡献。"
    ),
    "This head does not use CLIP; the heatmap shows where CLIP would see the top label.": (
        "这个分类头不使用 CLIP；热力图显示的是 CLIP 会在哪里看到最高分标签。"
    ),
    # Fusion (fusion/flows.py, fusion/ui/flows.py)
    "Edge maps differ in size: {size} vs {other_size}.": "边缘图的尺寸不同：{size} 与 {other_size}。",
    "{operation} is not an edge operation; choose one of: {choices}.": (
        "{operation} 不是边缘操作；请从以下选择：{choices}。"
    ),
    "This run card is not valid JSON ({error}, position {position}).": (
        "这张运行卡不是有效的 JSON（{error}，位置 {position}）。"
    ),
    "This is not a fusion run card (expected format {expected}): load the JSON or PNG that a result of the Fusion "
    "tab came with.": "这不是 fusion 的运行卡（应为格式 {expected}）：请加载“融合”页某个结果附带的 JSON 或 PNG。",
    "The run card has no settings to restore.": "这张运行卡里没有可恢复的设置。",
    "Unknown re-imagine mode {mode}; choose txt2img or img2img.": (
        "未知的重新想象模式 {mode}；请选择 txt2img 或 img2img。"
    ),
    "This image carries no run card: drop a PNG made in the Fusion tab, or its JSON.": (
        "这张图像不含运行卡：请拖入在“融合”页生成的 PNG，或它的 JSON。"
    ),
    "Settings restored from the run card.": "已从运行卡恢复设置。",
    "There is no image to send yet: upload or generate one first.": "还没有可发送的图像：请先上传或生成一张。",
    # System and the model cache (fusion/ui/system.py, fusion/cache.py)
    "Pick a model first.": "请先选择一个模型。",
    "{key} is not resident or is in use right now; nothing was evicted.": (
        "{key} 未加载或正在使用中；没有卸载任何模型。"
    ),
    "**Device** `{device}` · **dtype** `{dtype}` · **models** `{models}` · **memory** {used} GB of a {budget} GB "
    "budget": (
        "**设备** `{device}` · **数据类型** `{dtype}` · **模型** `{models}` · **内存** 已用 {used} GB，预算 {budget"
        "} GB"
    ),



    "The {memory} ran out of memory even after freeing every model not in use. Try a smaller size, fewer images or "
    "steps, or wait for other requests to finish.": (
        "即使释放了所有未使用的模型，{memory} 内存仍然不足。请尝试更小的尺寸、更少的图像或步数，或等待其他请求完成。"
    ),
    "Unknown model {key}; known models: {choices}": "未知的模型 {key}；已知的模型：{choices}",
    "FUSION_DEVICE=cuda but no CUDA GPU is visible; use FUSION_DEVICE=auto or cpu.": (
        "FUSION_DEVICE=cuda，但看不到任何 CUDA GPU；请使用 FUSION_DEVICE=auto 或 cpu。"
    ),
    "Preloading failed for {failed} of {count} models. {details}": (
        "{count} 个模型中有 {failed} 个预加载失败。{details}"
    ),
    "PlotData needs kind 'line' or 'bar' and equal-length series, got {kind}": (
        "PlotData 需要 'line' 或 'bar' 类型以及等长的序列，收到的是 {kind}"
    ),
    "PlotData.x must have one value per series point": "PlotData.x 必须为序列的每个点提供一个值",
    "PlotData.bar_colors needs exactly one series and one colour per bar": (
        "PlotData.bar_colors 需要恰好一个序列，并为每个柱提供一种颜色"
    ),
    # The page's layout (issue 17): banners, cards, charts, uploads checked as they arrive
    "**Not downloaded yet**: {models}. The first request that needs one of them downloads it (which takes a "
    "while), or fails on a machine without internet. To fetch them all now, run `python -m fusion download`.": (
        "**尚未下载**：{models}。第一个需要其中某个模型的请求会下载它（需要一些时间），在没有网络的机器上则会失败。"
        "要现在一次下载全部，请运行 `python -m fusion download`。"
    ),
    "**Not downloaded yet, and this server is offline** (`HF_HUB_OFFLINE`): {models}. The panels that need them "
    "answer with an error until they are fetched with `python -m fusion download` on a machine with internet.": (
        "**尚未下载，且本服务器处于离线状态**（`HF_HUB_OFFLINE`）：{models}。在有网络的机器上用 "
        "`python -m fusion download` 下载之前，需要它们的面板都会报错。"
    ),
    "The picture shows the {shown} strongest of the {found} {what} found, so that each stays legible; the numbers "
    "count all of them.": (
        "图中只画出了找到的 {found} 个{what}中最强的 {shown} 个，以便每个都看得清；数值统计的是全部。"
    ),
    "Removed {count} file(s) that cannot be used:\n{reasons}": "已移除 {count} 个无法使用的文件：\n{reasons}",
    "There is no caption to send yet: caption an image first.": "还没有可发送的标题：请先为一张图像生成标题。",
    "Mean {channel}": "{channel}均值",
    "The picture {handle}, made by the step above": "图片 {handle}，由上面的步骤生成",
    "BLIP sees: “{caption}”": "BLIP 看到的是：“{caption}”",
    "BLIP sees in the new picture: “{caption}”": "BLIP 在新图片中看到的是：“{caption}”",
    "How well the result's edges follow the control map (IoU {iou}): 1 is the same edges.": (
        "结果的边缘与控制图的吻合程度（IoU {iou}）：1 表示边缘完全相同。"
    ),
    "{inliers} of {matches} ORB matches with the source fit one perspective warp.": (
        "与源图像的 {matches} 个 ORB 匹配中，有 {inliers} 个符合同一个透视变换。"
    ),
    "Mean colour {code} (R {red} · G {green} · B {blue})": "平均颜色 {code}（R {red} · G {green} · B {blue}）",
    "Intensity histogram (Otsu threshold {threshold})": "亮度直方图（Otsu 阈值 {threshold}）",
    "LBP histogram ({method})": "LBP 直方图 · {method}",
    "{space} histograms": "{space} 直方图",
    "What pushed {label} above the average label": "是什么让 {label} 高于平均标签",
    "Held-out accuracy ({protocol})": "留出集准确率（{protocol}）",
    "automatic: median {median} ± {sigma}": "自动：中位数 {median} ± {sigma}",
    "synthetic warp of the first image (rotated {angle}°, scaled {scale}, top edge narrowed {keystone} per side)": (
        "第一张图像的合成变形（旋转 {angle}°，缩放 {scale}，上边每侧收窄 {keystone}）"
    ),
    "not found: RANSAC needs ≥ {count} consistent good matches": "未找到：RANSAC 需要至少 {count} 个一致的良好匹配",
}

#: Parts of messages (a wait, a limit, a piece of advice): matched only inside what a message template captured.
FRAGMENTS: dict[str, str] = {
    "its tiny stand-in on this server is unreadable": "它在本服务器上的小型替身模型无法读取",
    "its repository on the Hub is gated or private": "它在 Hub 上的仓库受限或为私有",
    "its weights on this server are incomplete": "它在本服务器上的权重不完整",
    "its weights are not on this server": "它的权重不在本服务器上",
    "its repository was not found on the Hub": "在 Hub 上找不到它的仓库",
    "the server's disk is full": "服务器的磁盘已满",
    "its weights are not on this server and the Hub cannot be reached": "它的权重不在本服务器上，且无法连接 Hub",
    "loading it failed": "加载失败",
    "run card": "运行卡",
    "zip": "zip 文件",
    "result": "结果",
    "file {name}": "文件 {name}",
    ", {share} right on its examples": "，在训练示例上的正确率为 {share}",
    "{count} per {window} seconds": "{count} 次/{window} 秒",
    "{count} per {window}": "{count} 次/{window}",
    "{amount} days": "{amount} 天",
    "{amount} day": "{amount} 天",
    "{amount} hours": "{amount} 小时",
    "{amount} hour": "{amount} 小时",
    "{amount} minutes": "{amount} 分钟",
    "{amount} minute": "{amount} 分钟",
    "{amount} seconds": "{amount} 秒",
    "{amount} second": "{amount} 秒",
    "{folds}-fold stratified cross-validation": "{folds} 折分层交叉验证",
    "held-out test split": "留出测试集",
}
