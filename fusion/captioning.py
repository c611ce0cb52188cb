"""BLIP captions (greedy, beam search, nucleus sampling; unconditional or after a text prefix) and BLIP VQA.

Every model call is transformers' own ``generate`` on the bundle the cache holds; this module only validates
the options, batches the images (one ``generate`` per batch) and decodes with the processor. Out-of-range
numbers are clamped to :data:`CAPTION_BOUNDS` with a notice instead of failing, because sliders and API
callers routinely send values a model cannot use (a prefix longer than anyone types, more candidates than
beams, ...).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from PIL import Image

from fusion import compiled, static_greedy
from fusion.images import load as load_image
from fusion.messages import Message
from fusion.numbers import clamped, finite_number, one_of, whole_number

if TYPE_CHECKING:
    from fusion.cache import ModelCache
    from fusion.config import Settings
    from fusion.registry import ModelBundle

log = logging.getLogger(__name__)

ModelChoice = Literal["base", "large"]
DecodingMode = Literal["greedy", "beam", "sampling"]
ImageInput = np.ndarray | Image.Image

#: Caption model choice -> registry key.
CAPTION_MODEL_KEYS: dict[str, str] = {"base": "caption", "large": "caption-large"}
VQA_MODEL_KEY = "vqa"
DECODING_MODES: tuple[str, ...] = ("greedy", "beam", "sampling")
#: Longer prefixes and questions are cut (with a notice): BLIP was trained on short texts and its decoder
#: holds 512 positions, which the prefix and the new tokens share.
MAX_PREFIX_CHARS = 300
MAX_QUESTION_CHARS = 300
MAX_SEED = 2**63 - 1

#: Documented bounds of every numeric caption option: values outside are clamped to them with a notice.
CAPTION_BOUNDS: dict[str, tuple[float, float]] = {
    "num_beams": (1, 8),
    "length_penalty": (-2.0, 2.0),
    "top_p": (0.05, 1.0),
    "temperature": (0.05, 2.0),
    "min_new_tokens": (0, 100),
    "max_new_tokens": (1, 100),
    "repetition_penalty": (1.0, 3.0),
    "no_repeat_ngram_size": (0, 10),
    "num_candidates": (1, 8),
    "batch_size": (1, 32),
}
ANSWER_BOUNDS: dict[str, tuple[float, float]] = {"max_new_tokens": (1, 30), "num_beams": (1, 8)}


@dataclass(frozen=True)
class CaptionOptions:
    """How to caption. Options that a mode does not use (``top_p`` in beam search, ...) are ignored."""

    model: ModelChoice = "base"
    #: Text the caption must start with ("a photography of"); empty for an unconditional caption.
    prefix: str = ""
    mode: DecodingMode = "greedy"
    num_beams: int = 3
    length_penalty: float = 1.0
    top_p: float = 0.9
    temperature: float = 1.0
    min_new_tokens: int = 0
    max_new_tokens: int = 20
    repetition_penalty: float = 1.0
    #: 0 switches the n-gram ban off.
    no_repeat_ngram_size: int = 0
    #: Captions returned per image (beam search: the best beams; sampling: independent samples).
    num_candidates: int = 1
    #: Sampling seeds torch's generator once per call, so a call with the same images and options repeats.
    seed: int = 0
    #: Images per ``generate`` call when several images are captioned.
    batch_size: int = 8


@dataclass(frozen=True)
class CaptionResult:
    """``captions[i]`` holds image ``i``'s candidates, best first (beam search) or in sampling order."""

    captions: tuple[tuple[str, ...], ...]
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerOptions:
    max_new_tokens: int = 10
    num_beams: int = 1


@dataclass(frozen=True)
class AnswerResult:
    answer: str
    #: The question as it was asked of the model (stripped, possibly shortened).
    question: str
    notices: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------ validation
def _clamp_fields(options: Any, bounds: dict[str, tuple[float, float]]) -> tuple[dict[str, Any], list[str]]:
    """Clamp each bounded field of a dataclass; integer fields stay integers."""
    types = {f.name: f.type for f in fields(options)}
    changes: dict[str, Any] = {}
    notices: list[str] = []
    for name, (low, high) in bounds.items():
        raw = getattr(options, name)
        if types[name] in ("int", int):
            changes[name] = clamped(whole_number(raw, name), int(low), int(high), name, notices)
        else:
            changes[name] = clamped(finite_number(raw, name), low, high, name, notices)
    return changes, notices


def _shorten(text: str, limit: int, what: str) -> tuple[str, list[str]]:
    text = text.strip()
    if len(text) <= limit:
        return text, []
    return text[:limit].rstrip(), [
        Message(
            "The {what} was {length:,} characters; only the first {limit} were used.",
            what=what,
            length=len(text),
            limit=limit,
        )
    ]


def validate_caption_options(options: CaptionOptions) -> tuple[CaptionOptions, tuple[str, ...]]:
    """Options a model can run, and a notice for every value that was changed to get there.

    Unknown models or modes, non-numbers and impossible seeds are refused with a ValueError; everything else
    is clamped to :data:`CAPTION_BOUNDS` or made consistent with the decoding mode.
    """
    one_of(options.model, CAPTION_MODEL_KEYS, "caption model")
    one_of(options.mode, DECODING_MODES, "decoding mode")
    if not isinstance(options.prefix, str):
        raise ValueError(Message("The prefix must be text, got {kind}.", kind=type(options.prefix).__name__))
    seed = whole_number(options.seed, "seed")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(
            Message("The seed must be between 0 and {maximum}, got {seed}.", maximum=MAX_SEED, seed=options.seed)
        )
    changes, notices = _clamp_fields(options, CAPTION_BOUNDS)
    changes["prefix"], prefix_notices = _shorten(options.prefix, MAX_PREFIX_CHARS, "prefix")
    changes["seed"] = seed
    notices += prefix_notices
    if changes["min_new_tokens"] > changes["max_new_tokens"]:
        notices.append(
            Message("min_new_tokens was above max_new_tokens; used {value} for both.", value=changes["max_new_tokens"])
        )
        changes["min_new_tokens"] = changes["max_new_tokens"]
    if options.mode == "greedy" and changes["num_candidates"] > 1:
        notices.append("Greedy decoding gives one caption per image; use beam search or sampling for several.")
        changes["num_candidates"] = 1
    if options.mode == "beam":
        if changes["num_beams"] < 2:
            notices.append("Beam search needs at least 2 beams; used 2.")
            changes["num_beams"] = 2
        if changes["num_candidates"] > changes["num_beams"]:
            notices.append(
                Message(
                    "Beam search returns at most one caption per beam; used {count} candidates.",
                    count=changes["num_beams"],
                )
            )
            changes["num_candidates"] = changes["num_beams"]
    return replace(options, **changes), tuple(notices)


def generation_kwargs(options: CaptionOptions) -> dict[str, Any]:
    """The ``generate`` keyword arguments of validated options (nucleus sampling switches top-k off)."""
    kwargs: dict[str, Any] = {
        "min_new_tokens": options.min_new_tokens,
        "max_new_tokens": options.max_new_tokens,
        "repetition_penalty": options.repetition_penalty,
        "no_repeat_ngram_size": options.no_repeat_ngram_size,
        "num_return_sequences": options.num_candidates,
    }
    if options.mode == "greedy":
        kwargs.update(do_sample=False, num_beams=1)
    elif options.mode == "beam":
        kwargs.update(do_sample=False, num_beams=options.num_beams, length_penalty=options.length_penalty)
    else:
        kwargs.update(do_sample=True, num_beams=1, top_p=options.top_p, temperature=options.temperature, top_k=0)
    return kwargs


# -------------------------------------------------------------------------------------------------- captions
def _as_pil(image: ImageInput) -> Image.Image:
    """An RGB PIL image; anything but an already decoded RGB uint8 array goes through the one image decoder.

    PIL rather than an array: the processor guesses an array's channel axis, and a 3x3 array looks CHW.
    """
    decoded = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape[2:] == (3,)
    return Image.fromarray(image if decoded else load_image(image).pixels)


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch for the block (``None``: leave it alone) and restore every generator state afterwards."""
    if seed is None:
        yield
        return
    accelerator = device.type if device.type != "cpu" else None
    with torch.random.fork_rng(devices=None if accelerator else [], device_type=accelerator):
        torch.manual_seed(seed)
        yield


def _inputs(bundle: ModelBundle, batch: Sequence[Image.Image], text: str | None) -> Any:
    texts = None if text is None else [text] * len(batch)
    # A processor with transformers' torchvision backend resizes on the model's device; the PIL one on the CPU.
    inputs = bundle.processor(images=list(batch), text=texts, return_tensors="pt", device=bundle.model.device)
    return inputs.to(bundle.model.device, dtype=bundle.model.dtype)


def uses_cuda_graphs(settings: Settings, device: torch.device, options: CaptionOptions) -> bool:
    """Greedy captions replay CUDA graphs on a dedicated CUDA GPU: 218 ms for 20 tokens through ``generate`` on
    an H200 (``benchmarks/GPU.md``). Not on ZeroGPU, whose worker processes would record them again and again."""
    return settings.caption_graphs and not settings.zero_gpu and device.type == "cuda" and options.mode == "greedy"


def _generate(
    bundle: ModelBundle,
    inputs: Any,
    options: CaptionOptions,
    cuda_graphs: bool,
    keeper: static_greedy.GraphKeeper | None = None,
) -> torch.Tensor:
    """Token ids from the CUDA-graph loop where it applies and records (its graphs kept by ``keeper``), else from
    transformers' ``generate``."""
    if cuda_graphs and static_greedy.can_record(bundle.model):
        try:
            return static_greedy.greedy_caption_ids(
                bundle.model,
                inputs["pixel_values"],
                inputs.get("input_ids"),
                max_new_tokens=options.max_new_tokens,
                min_new_tokens=options.min_new_tokens,
                repetition_penalty=options.repetition_penalty,
                no_repeat_ngram_size=options.no_repeat_ngram_size,
                cuda_graphs=True,
                keeper=keeper,
            )
        except static_greedy.RecordingError as error:
            log.warning("Captions go through generate from now on: %s", error)
    return bundle.model.generate(**inputs, **generation_kwargs(options))


def caption(
    images: Sequence[ImageInput], options: CaptionOptions = CaptionOptions(), *, cache: ModelCache
) -> CaptionResult:
    """Caption every image (RGB uint8 arrays or PIL images) in batches of ``options.batch_size``."""
    if not images:
        raise ValueError("No image to caption: upload at least one picture.")
    options, notices = validate_caption_options(options)
    pictures = [_as_pil(image) for image in images]
    prefix = options.prefix or None
    seed = options.seed if options.mode == "sampling" else None
    step = options.num_candidates
    captions: list[tuple[str, ...]] = []
    key = CAPTION_MODEL_KEYS[options.model]
    keeper = static_greedy.kept_by(cache, key)
    with (
        compiled.collect_notices() as uncompiled,
        cache.use(key) as bundle,
        _seeded(seed, bundle.model.device),
        torch.inference_mode(),
    ):
        graphs = uses_cuda_graphs(cache.settings, bundle.model.device, options)
        for batch in _batches(pictures, options.batch_size):
            inputs = _inputs(bundle, batch, prefix)
            ids = cache.run(lambda inputs=inputs: _generate(bundle, inputs, options, graphs, keeper))
            texts = bundle.processor.batch_decode(ids, skip_special_tokens=True)
            captions += [tuple(texts[i : i + step]) for i in range(0, len(texts), step)]
    return CaptionResult(captions=tuple(captions), notices=(*notices, *uncompiled))


# ------------------------------------------------------------------------------------------------------- VQA
def require_question(question: str | None) -> str:
    """The question stripped, or a ValueError telling the user to type one (panels check before the GPU)."""
    text = "" if question is None else str(question).strip()
    if not text:
        raise ValueError('Type a question about the image first, for example "What colour is the car?".')
    return text


def answer(
    image: ImageInput, question: str, options: AnswerOptions = AnswerOptions(), *, cache: ModelCache
) -> AnswerResult:
    """Answer a question about an image with BLIP VQA (short answers: "yes", "2", "red")."""
    question, notices = _shorten(require_question(question), MAX_QUESTION_CHARS, "question")
    changes, clamp_notices = _clamp_fields(options, ANSWER_BOUNDS)
    notices += clamp_notices
    picture = _as_pil(image)
    with compiled.collect_notices() as uncompiled, cache.use(VQA_MODEL_KEY) as bundle, torch.inference_mode():
        inputs = _inputs(bundle, [picture], question)
        ids = cache.run(lambda: bundle.model.generate(**inputs, **changes))
        text = bundle.processor.batch_decode(ids, skip_special_tokens=True)[0]
    return AnswerResult(answer=text.strip(), question=question, notices=(*notices, *uncompiled))


# ---------------------------------------------------------------------------------------------------- labels
#: Words that are never labels: articles, prepositions, pronouns, numbers, colours, sizes, common verbs and
#: the framing words of prompted captions ("a photography of ...").
_NOT_LABEL_WORDS = """
    a an the of in on at with and or but to from by for near under over behind beside between into onto
    through next front top bottom side middle back left right up down out off around above below across
    along against is are was were be been being has have had do does did it its this that these those
    there here their his her he she they them we you i my our your what which who whom how where when
    while as so very too also just one two three four five six seven eight nine ten some several many much
    lot lots group couple pair bunch few other another each every all both only black white red blue green
    yellow orange purple pink brown gray grey dark light bright colorful colourful small large big little
    huge tiny old young new tall long short wide full empty open closed photo photograph photography
    picture image painting drawing view close closeup shot scene illustration background foreground
    rendering render arafed araffe there's it's
"""
_NOT_LABELS = frozenset(_NOT_LABEL_WORDS.split())
#: Nouns that end like verbs or adverbs.
_NOUN_WORDS_IN_ING_OR_LY = """
building ceiling clothing king ring wing thing string swing wedding sibling pudding icing topping railing
lily fly jelly belly family butterfly
"""
_NOUNS_IN_ING_OR_LY = frozenset(_NOUN_WORDS_IN_ING_OR_LY.split())
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _singular(word: str) -> str:
    """Regular English plurals -> singular (no dictionary: 'people' and 'mice' stay as they are)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def suggest_labels(caption_text: str, *, max_labels: int = 8) -> str:
    """Candidate class labels from a caption, comma-separated for the classification panel's labels box.

    A heuristic, not a parser (no NLP model is downloaded): lower-case words minus a stop list of function
    words, numbers, colours and sizes, minus verbs in -ing and adverbs in -ly, singularised and
    deduplicated in order.
    """
    if not isinstance(caption_text, str):
        raise ValueError(
            Message("Labels are suggested from a caption's text, got {kind}.", kind=type(caption_text).__name__)
        )
    if max_labels < 1:
        raise ValueError(Message("max_labels must be at least 1, got {value}.", value=max_labels))
    labels: list[str] = []
    for word in _WORD.findall(caption_text.lower()):
        verb_or_adverb = word.endswith(("ing", "ly")) and word not in _NOUNS_IN_ING_OR_LY
        if word in _NOT_LABELS or len(word) < 3 or verb_or_adverb:
            continue
        label = _singular(word)
        if label not in labels and label not in _NOT_LABELS:
            labels.append(label)
        if len(labels) == max_labels:
            break
    return ", ".join(labels)
