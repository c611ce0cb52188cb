"""Tiny random-weight BLIP twins (captioning and VQA) with a WordPiece tokenizer built in code.

Sizes follow transformers' own BLIP tests (hidden 32, 2 layers); the special-token layout follows the
real checkpoints (``[DEC]`` is the decoder's start token, ``[SEP]`` ends a caption), so every code path that
runs on Salesforce's models runs here too. Captions decode to real words, but which words is noise.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipForQuestionAnswering,
    BlipProcessor,
)
from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

from fusion.tiny import SEED

IMAGE_SIZE = 32
PATCH_SIZE = 8
MAX_TEXT_LENGTH = 512
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]")
#: Words that captions, prompts and questions commonly use, so they tokenize as whole words.
_WORD_TEXT = """
a an the of in on at with and or to from by for near under over behind next front top side into its his her
their is are was be being has have there this that what which who how many much where color colour does do
it they one two three four five six seven eight nine ten some several group couple pair lot photo photograph
photography picture image painting drawing close up view black white red blue green yellow orange purple
pink brown gray grey dark light bright small large big little old young tall long short man woman men women
person people boy girl child children baby player crowd family friends cat cats dog dogs horse horses bird
birds cow cows sheep elephant elephants giraffe zebra bear bears animal animals car cars truck bus train
bike bicycle motorcycle boat plane airplane street road city building buildings house room kitchen table
chair couch bed window door wall floor field grass tree trees flowers flower sky water beach ocean sea lake
river mountain mountains snow sand park sign clock food pizza plate bowl cake sandwich cup glass bottle
laptop computer phone book umbrella bag shirt hat ball kite frisbee skateboard surfboard skis tennis racket
standing sitting walking running riding playing holding eating looking lying laying flying parked covered
filled wearing made background middle top bottom yes no
"""
_WORDS = _WORD_TEXT.split()


def _vocabulary() -> dict[str, int]:
    """Special tokens, characters and ``##`` continuations (so any word tokenizes), then whole words."""
    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = [
        *SPECIAL_TOKENS,
        *characters,
        *(f"##{c}" for c in string.ascii_lowercase + string.digits),
        *_WORDS,
    ]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def blip_tokenizer() -> BertTokenizer:
    """BLIP's tokenizer layout: lower-case WordPiece with ``[DEC]`` as the beginning-of-sequence token."""
    vocab = _vocabulary()
    tokenizer = BertTokenizer(
        vocab=vocab,
        do_lower_case=True,
        bos_token="[DEC]",
        extra_special_tokens=["[ENC]"],
        model_max_length=MAX_TEXT_LENGTH,
    )
    if len(tokenizer) != len(vocab) or tokenizer.convert_tokens_to_ids("photo") != vocab["photo"]:
        raise RuntimeError(f"tiny BLIP tokenizer has {len(tokenizer)} tokens, expected {len(vocab)}")
    return tokenizer


def _config(tokenizer: BertTokenizer) -> BlipConfig:
    vocab = tokenizer.get_vocab()
    text_config = {
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": MAX_TEXT_LENGTH,
        "bos_token_id": vocab["[DEC]"],
        "pad_token_id": vocab["[PAD]"],
        "sep_token_id": vocab["[SEP]"],
        "eos_token_id": vocab["[SEP]"],
    }
    vision_config = {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
    }
    return BlipConfig(text_config=text_config, vision_config=vision_config, projection_dim=32)


def _processor(tokenizer: BertTokenizer) -> BlipProcessor:
    image_processor = BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def _build(model_class: type, folder: Path) -> None:
    tokenizer = blip_tokenizer()
    torch.manual_seed(SEED)
    model = model_class(_config(tokenizer)).eval()
    model.save_pretrained(folder, safe_serialization=True)
    _processor(tokenizer).save_pretrained(folder)


def build_caption(folder: Path) -> None:
    """Write a tiny ``BlipForConditionalGeneration`` and its ``BlipProcessor`` into ``folder``."""
    _build(BlipForConditionalGeneration, folder)


def build_vqa(folder: Path) -> None:
    """Write a tiny ``BlipForQuestionAnswering`` and its ``BlipProcessor`` into ``folder``."""
    _build(BlipForQuestionAnswering, folder)
