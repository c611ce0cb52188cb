"""Tokenizers built from vocabularies written in code (the libraries' own test suites fetch theirs from the Hub)."""

from __future__ import annotations

from tokenizers.pre_tokenizers import ByteLevel
from transformers import CLIPTokenizer

CLIP_MAX_LENGTH = 77
#: A few merges so common words become single tokens; everything else falls back to byte-level pieces.
_CLIP_WORDS = ("a", "photo", "of", "the", "cat", "dog", "car", "house", "tree", "red", "blue", "painting")


def _merges_for(word: str) -> list[tuple[str, str]]:
    """Left-to-right merges that assemble ``word</w>`` from its characters."""
    symbols = [*word[:-1], word[-1] + "</w>"]
    merges = []
    while len(symbols) > 1:
        merges.append((symbols[0], symbols[1]))
        symbols = [symbols[0] + symbols[1], *symbols[2:]]
    return merges


def clip_tokenizer() -> CLIPTokenizer:
    """A byte-level BPE CLIP tokenizer of about 560 tokens with CLIP's special tokens and 77-token limit."""
    characters = sorted(ByteLevel.alphabet())
    vocab_tokens = characters + [c + "</w>" for c in characters]
    merges: list[tuple[str, str]] = []
    for word in _CLIP_WORDS:
        for pair in _merges_for(word):
            if pair not in merges:
                merges.append(pair)
    vocab_tokens += ["".join(pair) for pair in merges if "".join(pair) not in vocab_tokens]
    vocab_tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(vocab_tokens))}
    tokenizer = CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        model_max_length=CLIP_MAX_LENGTH,
    )
    if len(tokenizer) != len(vocab):
        raise RuntimeError(f"tiny CLIP tokenizer has {len(tokenizer)} tokens, expected {len(vocab)}")
    return tokenizer
