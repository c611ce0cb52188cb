"""Greedy BLIP captions with every decoding step at one fixed shape, so that CUDA graphs can replay them.

transformers' BLIP decoder has no static cache: ``generate`` feeds it one token more at each step (with a
growing key/value cache), so no step can be recorded as a CUDA graph, and on an H200 a 20-token caption takes
218 ms, nearly all of it kernel launches (``benchmarks/GPU.md``). Here the decoder reads the whole sequence,
padded to its final length, at every step. Its attention is causal, so the padding cannot change the positions
before it: each step picks the token ``generate`` picks, and every step has the same shape. The prompt (what
BLIP's own ``generate`` feeds its decoder), the logits processors and the stopping rule are transformers';
only the loop is written here. Recorded graphs hold memory of their own: the model cache keeps them with their
model (:func:`kept_by`), counts them and drops them when it drops the model.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import TYPE_CHECKING, Any

import torch

from fusion.cuda_graphs import CapturedCall

if TYPE_CHECKING:
    from transformers import LogitsProcessorList

    from fusion.cache import ModelCache

#: Padded lengths are rounded up to a multiple of this, so that prompts of similar length share one graph.
LENGTH_STEP = 16
#: Recorded graphs kept per model (least recently used dropped first); each holds its own activation memory.
MAX_GRAPHS_PER_MODEL = 8

#: ``keeper(key, record)`` lends the graph kept under ``key``, recording it with ``record()`` the first time.
GraphKeeper = Callable[[tuple[Any, ...], Callable[..., CapturedCall]], AbstractContextManager[CapturedCall]]

#: Models whose calls could not be recorded (a library whose forward syncs with the host, an old driver, ...): a
#: weak set, which keeps no model alive.
_unrecordable: weakref.WeakSet[Any] = weakref.WeakSet()
#: One caption at a time per process may replay graphs: their buffers are shared by every call.
_replay_lock = threading.Lock()


class RecordingError(RuntimeError):
    """A model's call could not be recorded as a CUDA graph; callers fall back to ``generate``."""


def kept_by(cache: ModelCache, key: str) -> GraphKeeper:
    """The keeper of the cached model ``key``'s graphs: the cache lends them, counts their memory and drops them
    with the model."""
    return functools.partial(
        cache.borrow, "CUDA graph", depends_on=(key,), size=lambda call: call.bytes, keep=MAX_GRAPHS_PER_MODEL
    )


def can_record(model: Any) -> bool:
    """False once recording one of ``model``'s calls has failed: it is not tried again."""
    return model not in _unrecordable


def decoder_prompt(model: Any, input_ids: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
    """What ``BlipForConditionalGeneration.generate`` feeds its decoder: ``[DEC]`` alone, or the tokenised
    prefix with ``[DEC]`` for its ``[CLS]`` and without its closing ``[SEP]``."""
    bos = model.config.text_config.bos_token_id
    if input_ids is None:
        return torch.full((batch, 1), bos, dtype=torch.long, device=device)
    prompt = input_ids[:, :-1].clone()
    prompt[:, 0] = bos
    return prompt


def greedy_caption_ids(
    model: Any,
    pixel_values: torch.Tensor,
    input_ids: torch.Tensor | None = None,
    *,
    max_new_tokens: int,
    min_new_tokens: int = 0,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    cuda_graphs: bool = False,
    keeper: GraphKeeper | None = None,
) -> torch.Tensor:
    """The token ids ``model.generate(pixel_values=..., input_ids=..., do_sample=False, num_beams=1, ...)``
    returns for a BLIP captioner (prompt included), computed at fixed shapes; with ``cuda_graphs`` the vision
    encoder and the decoder steps are replayed from recorded CUDA graphs, kept by ``keeper`` (see :func:`kept_by`;
    without one they are recorded for this call only)."""
    text_config = model.config.text_config
    eos, pad = text_config.sep_token_id, text_config.pad_token_id
    batch, device = pixel_values.shape[0], pixel_values.device
    prompt = decoder_prompt(model, input_ids, batch, device)
    start = prompt.shape[1]
    padded = -(-(start + max_new_tokens) // LENGTH_STEP) * LENGTH_STEP
    ids = torch.full((batch, padded), pad, dtype=torch.long, device=device)
    ids[:, :start] = prompt
    processors = _logits_processors(start, min_new_tokens, repetition_penalty, no_repeat_ngram_size, eos, device)
    with _replay_lock if cuda_graphs else nullcontext(), ExitStack() as loans:
        recorded = functools.partial(_recorded, loans, model, keeper=keeper, enabled=cuda_graphs)
        encode = recorded(("vision", *pixel_values.shape), _vision(model), pixel_values)
        image_embeds = encode(pixel_values)
        decode = recorded(("decoder", *ids.shape), _decoder(model), ids, image_embeds)
        unfinished = torch.ones(batch, dtype=torch.bool, device=device)
        end = start
        for position in range(start, start + max_new_tokens):
            logits = decode(ids, image_embeds)
            scores = processors(ids[:, :position], logits[:, position - 1].to(torch.float32))
            tokens = torch.where(unfinished, scores.argmax(-1), pad)
            ids[:, position] = tokens
            unfinished &= tokens != eos
            end = position + 1
            if not unfinished.any():
                break
    return ids[:, :end]


def _logits_processors(
    prompt_length: int, min_new_tokens: int, repetition_penalty: float, ngram: int, eos: int, device: torch.device
) -> LogitsProcessorList:
    """The processors ``generate`` builds for these options, in its order."""
    from transformers import (  # imported on first use, like every model library (the app starts without them)
        LogitsProcessorList,
        MinNewTokensLengthLogitsProcessor,
        NoRepeatNGramLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
    )

    processors = LogitsProcessorList()
    if min_new_tokens > 0:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_length, min_new_tokens, eos, device=device))
    if repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(penalty=repetition_penalty))
    if ngram > 0:
        processors.append(NoRepeatNGramLogitsProcessor(ngram))
    return processors


def _vision(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda pixel_values: model.vision_model(pixel_values=pixel_values)[0]


def _decoder(model: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def logits(ids: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        output = model.text_decoder(
            input_ids=ids, encoder_hidden_states=image_embeds, encoder_attention_mask=image_mask, use_cache=False
        )
        return output.logits

    return logits


def _recorded(
    loans: ExitStack,
    model: Any,
    key: tuple[Any, ...],
    fn: Callable[..., torch.Tensor],
    *examples: torch.Tensor,
    keeper: GraphKeeper | None,
    enabled: bool,
) -> Callable[..., torch.Tensor]:
    """``fn`` itself, or its CUDA graph for these shapes (recorded on first use, kept by ``keeper`` and on loan
    until ``loans`` closes)."""
    if not enabled:
        return fn

    def record(*_models: Any) -> CapturedCall:
        try:
            return CapturedCall(fn, *examples)
        except RuntimeError as error:
            _unrecordable.add(model)
            raise RecordingError(f"{type(model).__name__} could not be recorded as a CUDA graph: {error}") from error

    if keeper is None:
        return record()
    # A graph replays fixed addresses: weights that were moved or cast since it was recorded need a new one.
    key = (*key, examples[0].dtype, model.dtype, next(model.parameters()).data_ptr())
    return loans.enter_context(keeper(key, record))
