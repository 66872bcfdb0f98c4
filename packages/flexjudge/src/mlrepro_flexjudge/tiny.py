"""Tiny offline judges built from config classes (mini, smoke, dry runs and tests; never used by the paper recipe).

* :func:`build_judge_tokenizer`: a byte-level BPE tokenizer trained in code on the judge corpus
  (``mlrepro.testing.build_tokenizer``) plus the judge tags ``<think>``, ``</think>``, ``<answer>``,
  ``</answer>`` as single (non-special, so they survive decoding) tokens and the Qwen2.5-VL vision tokens
  ``<|vision_start|>``, ``<|vision_end|>``, ``<|image_pad|>``, ``<|video_pad|>`` as special tokens.
* :func:`build_tiny_vl`: a randomly initialised ``Qwen2_5_VLForConditionalGeneration`` from
  ``Qwen2_5_VLConfig`` (text: ``hidden`` wide, ``layers`` deep; vision tower: one block, patch 14, merge 2), and a
  ``Qwen2_5_VLProcessor`` over the PIL image processor, so images drawn in code flow through the real processor.
  The processor is built without a video processor when torchvision is missing (transformers' video processors
  need it); images work either way.
* :func:`save_tiny_vl` / :func:`load_vl`: a folder usable in place of a hub id.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["JUDGE_TAGS", "VISION_TOKENS", "build_judge_tokenizer", "build_tiny_vl", "save_tiny_vl", "load_vl",
           "make_processor", "vision_token_ids"]

JUDGE_TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def build_judge_tokenizer(corpus: Iterable[str], vocab_size: int = 600, model_max_length: int = 1024):
    from mlrepro.testing import build_tokenizer

    tok = build_tokenizer(list(corpus), vocab_size=vocab_size, model_max_length=model_max_length)
    tok.add_tokens(JUDGE_TAGS)
    tok.add_tokens(VISION_TOKENS, special_tokens=True)
    return tok


def vision_token_ids(tokenizer) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids(VISION_TOKENS)
    return dict(zip(("vision_start", "vision_end", "image", "video"), ids))


def _processor_class():
    from transformers import Qwen2_5_VLProcessor

    class TolerantQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
        """Qwen2.5-VL processor that accepts ``video_processor=None`` (no torchvision on CPU CI)."""

        def check_argument_for_proper_class(self, argument_name, argument):
            if argument is None and argument_name == "video_processor":
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    return TolerantQwen2_5_VLProcessor


def make_processor(tokenizer, image_processor=None, min_pixels: int = 28 * 28, max_pixels: int = 56 * 56):
    """A Qwen2.5-VL processor over ``tokenizer`` and the PIL Qwen2-VL image processor (video processor when
    importable, else none)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    ip = image_processor or Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    video = None
    try:
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        video = Qwen2VLVideoProcessor()
    except Exception:  # torchvision missing: images only
        video = None
    return _processor_class()(image_processor=ip, tokenizer=tokenizer, video_processor=video,
                              chat_template=getattr(tokenizer, "chat_template", None))


def build_tiny_vl(tokenizer, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                  vision_hidden: int = 32, seed: int = 0, max_position: int = 1024,
                  min_pixels: int = 28 * 28, max_pixels: int = 56 * 56) -> tuple[Any, Any]:
    """(model, processor): a tiny random Qwen2.5-VL sized to ``tokenizer`` (which must hold the vision tokens)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = vision_token_ids(tokenizer)
    if any(v is None or v == tokenizer.unk_token_id for v in ids.values()):
        raise ValueError("tokenizer lacks the Qwen2.5-VL vision tokens; build it with build_judge_tokenizer")
    head_dim = hidden // heads
    if head_dim % 2 or hidden % heads:
        raise ValueError("hidden / heads must be an even integer")
    half = head_dim // 2  # mrope sections (temporal, height, width) sum to head_dim / 2
    t = max(1, half // 4)
    h = (half - t) // 2
    mrope = [t, h, half - t - h]
    cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=4 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=max_position, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                         rope_parameters={"rope_type": "default", "mrope_section": mrope, "rope_theta": 10000.0}),
        vision_config=dict(depth=1, hidden_size=vision_hidden, intermediate_size=2 * vision_hidden,
                           num_heads=2, out_hidden_size=hidden, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, window_size=56, fullatt_block_indexes=[0]),
        image_token_id=ids["image"], video_token_id=ids["video"], vision_start_token_id=ids["vision_start"],
        vision_end_token_id=ids["vision_end"], tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.eval()
    return model, make_processor(tokenizer, min_pixels=min_pixels, max_pixels=max_pixels)


def save_tiny_vl(model, processor, path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.tokenizer.save_pretrained(path)
    processor.image_processor.save_pretrained(path)
    return path


def load_vl(path: str | Path, dtype: Any = None, device: str | None = None):
    """(model, processor) from a hub id or folder, without remote code. The model through
    ``AutoModelForImageTextToText`` (Qwen2.5-VL, Omni thinker), or for a full Qwen2.5-Omni checkpoint its thinker.
    ``AutoProcessor`` first; when it cannot be built here (no torchvision for the video processor), the tokenizer and
    the PIL image processor of the folder."""
    from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    kw: dict[str, Any] = {"trust_remote_code": False}
    if dtype is not None:
        kw["dtype"] = dtype
    try:
        model = AutoModelForImageTextToText.from_pretrained(str(path), **kw)
    except ValueError:  # a full Qwen2.5-Omni checkpoint: judge with its thinker (text out; no talker needed)
        from transformers import AutoModelForMultimodalLM

        model = AutoModelForMultimodalLM.from_pretrained(str(path), **kw)
        model = getattr(model, "thinker", model)
    if device is not None:
        model.to(device)
    model.eval()
    try:
        processor = AutoProcessor.from_pretrained(str(path), trust_remote_code=False)
        if not hasattr(processor, "image_processor"):
            raise TypeError("not a multimodal processor")
    except Exception:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        processor = make_processor(tok, Qwen2VLImageProcessorPil.from_pretrained(str(path)))
    return model, processor
