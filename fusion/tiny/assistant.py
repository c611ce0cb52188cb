"""The tiny twin of the assistant (Qwen3): a random-weight ``Qwen3ForCausalLM``, its tokenizer and chat template.

Built from the same config class as ``Qwen/Qwen3-1.7B`` (hidden 32, 2 layers, as transformers' own tests size
it). The tokenizer is Qwen's byte-level BPE class, trained here on a few paragraphs of English, Chinese and
JSON-schema text, so any text (Chinese included) round-trips and the tool list in the prompt stays a few
thousand tokens. The chat template has the real one's shape: tools listed in ``<tools>`` in the system turn,
calls as ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``, tool results as ``<tool_response>`` in a
user turn, and an empty ``<think>`` block when thinking is off. What it generates is noise.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import AddedToken
from transformers import GenerationConfig, Qwen2Tokenizer, Qwen3Config, Qwen3ForCausalLM

from fusion.tiny import SEED

VOCAB_SIZE = 2048
MAX_POSITIONS = 32768
#: Special tokens of Qwen3's tokenizer (control tokens, skipped when decoding).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: Added tokens that are kept in decoded text, as in Qwen3's tokenizer.
MARKUP_TOKENS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")

#: Text the BPE merges are learnt from: the words the system prompt, the tool schemas and requests use.
_CORPUS = """
You are the assistant of an image-processing app. Plan which tools to run, one call at a time, then answer.
Images are referred to by handles such as image-1 and image-2; tools return new handles for new images.
Find the edges of this photo, blur it, sharpen it, denoise it, caption it and answer questions about it.
Classify the image with CLIP zero-shot labels, explain the classification, generate a new image from a prompt,
paint the edge map as a watercolour, re-imagine the photo, and write a report card with the caption and scores.
Canny edges, Sobel gradients, Scharr gradients, Laplacian, grayscale, resize, Gaussian blur, median blur,
bilateral filter, non-local means denoise, histogram equalisation, CLAHE, gamma contrast brightness, unsharp mask,
Otsu threshold, adaptive threshold, morphology, contours, connected components, ORB keypoints, SIFT keypoints,
FAST corners, Shi-Tomasi corners, Harris corners, feature matching, HOG, LBP texture, Gabor filter bank,
colour histograms, dominant colours, stable diffusion, ControlNet, img2img, txt2img, a photo of a cat, a dog.
{"type": "function", "function": {"name": "canny_edges", "description": "Thin, connected edges.",
"parameters": {"type": "object", "properties": {"image": {"type": "string", "description": "Image handle"},
"canny_low": {"type": "integer", "minimum": 0, "maximum": 500, "default": 100, "description": "threshold"},
"canny_sigma": {"type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.33},
"canny_auto": {"type": "boolean", "default": false}, "mode": {"type": "string", "enum": ["greedy", "beam"]},
"prompt": {"type": "string", "maxLength": 300}}, "required": ["image"], "additionalProperties": false}}}
<tool_call>
{"name": "caption", "arguments": {"image": "image-1"}}
</tool_call>
<tool_response>
{"image": "image-2", "caption": "a cat sitting on a table", "edge_density": 0.125}
</tool_response>
找出这张照片的边缘,然后把边缘图画成水彩画。这张图片里有什么?给这张照片写一段描述。
请把图片分类为猫、狗或汽车,并解释原因。把它变得更清晰,去掉噪点,生成一张新的图片。
回答用户的问题,用中文回答。你好,我是图像助手。颜色、纹理、关键点、直方图、阈值、轮廓、报告卡。
"""


def _tokenizer() -> Qwen2Tokenizer:
    """Qwen's tokenizer class with byte-level BPE merges learnt from :data:`_CORPUS`."""
    base = Qwen2Tokenizer(vocab={"<|endoftext|>": 0}, merges=[], eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer = base.train_new_from_iterator(
        [line for line in _CORPUS.splitlines() if line] * 4,
        vocab_size=VOCAB_SIZE,
        new_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in MARKUP_TOKENS])
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = MAX_POSITIONS
    return tokenizer


def assistant_tokenizer() -> Qwen2Tokenizer:
    """The tiny twin's tokenizer, checked: a learnt vocabulary, every markup token whole, Chinese round-trips."""
    tokenizer = _tokenizer()
    sample = "找出这张照片的边缘 and blur it"
    problems = []
    if len(tokenizer) < 512:
        problems.append(f"only {len(tokenizer)} tokens: the merges were not learnt")
    if any(len(tokenizer.encode(token)) != 1 for token in (*SPECIAL_TOKENS, *MARKUP_TOKENS)):
        problems.append("a markup token is split")
    if tokenizer.decode(tokenizer.encode(sample)) != sample:
        problems.append("Chinese text does not round-trip")
    if problems:
        raise RuntimeError(f"tiny assistant tokenizer is broken: {'; '.join(problems)}")
    return tokenizer


def build_assistant(folder: Path) -> None:
    """Write a tiny ``Qwen3ForCausalLM``, its tokenizer (with chat template) and generation config."""
    tokenizer = assistant_tokenizer()
    eos = [tokenizer.convert_tokens_to_ids(token) for token in ("<|im_end|>", "<|endoftext|>")]
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(SEED)
    model = Qwen3ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


#: Qwen3's chat format, written for this twin: tools in the system turn, calls in ``<tool_call>``, results in
#: ``<tool_response>``, an empty think block in a closing assistant turn of the current request and, with
#: ``enable_thinking=False``, in the generation prompt.
CHAT_TEMPLATE = """
{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}
{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n' }}
{{- 'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within ' }}
{{- '<tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": ' }}
{{- '<args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- set ns = namespace(last_query=-1) %}
{%- for message in messages %}
{%- if message.role == 'user' %}{%- set ns.last_query = loop.index0 %}{%- endif %}
{%- endfor %}
{%- for message in messages %}
{%- set content = message.content if message.content is string else '' %}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant\\n' }}
{%- if loop.last and loop.index0 > ns.last_query %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}
{{- content }}
{%- for call in message.tool_calls or [] %}
{%- set call = call.function if call.function else call %}
{%- if content or not loop.first %}{{- '\\n' }}{%- endif %}
{{- '<tool_call>\\n{"name": "' + call.name + '", "arguments": ' }}
{{- call.arguments if call.arguments is string else (call.arguments | tojson) }}
{{- '}\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\\n' }}
{%- elif message.role == 'tool' %}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\\n<tool_response>\\n' + content + '\\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}
{%- endif %}
""".strip()
