"""Tiny offline causal LMs and tokenizers, built from config classes (conventions §9).

``tiny_lm()`` trains a byte-level BPE tokenizer in-process (special tokens ``<|endoftext|>``,
``<|im_start|>``, ``<|im_end|>``, ``<|pad|>`` and a minimal ChatML chat template), builds a randomly initialised
``Qwen2Config``/``LlamaConfig`` model and saves both to a folder whose path can replace a hub id anywhere
(``AutoModelForCausalLM.from_pretrained(path)``). Results are cached by their arguments.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]

# Minimal ChatML template: each message as <|im_start|>role\ncontent<|im_end|>\n; the generation prompt
# opens an assistant turn. `{% generation %}` marks let trl/transformers build assistant-only masks.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def default_corpus() -> list[str]:
    """In-repo sentences for tokenizer training: made in code (numbers, arithmetic, a few plain words)."""
    import random

    rng = random.Random(0)
    words = ("the a of to and is in that it for on with as was at by be this are from or have an they which "
             "one you were her all she there would their we him been has when who will more no if out so said "
             "what up its about into than them can only other new some could time these two may then do first "
             "any my now such like our over man me even most made after also did many before must through back "
             "years where much your way well down should because each just those people how too little state "
             "good very make world still own see men work long get here between both life being under never day "
             "same another know while last might us great old year off come since against go came right used "
             "take three answer question step total left each buys sells has gives apples coins books boxes "
             "score judge better response assistant user system move game player win lose buy sell price deal "
             "offer accept reject think therefore so first then finally final").split()
    out = []
    for _ in range(400):
        n = rng.randint(4, 14)
        out.append(" ".join(rng.choice(words) for _ in range(n)).capitalize() + rng.choice([".", "?", "!"]))
        a, b = rng.randint(0, 999), rng.randint(0, 99)
        out.append(f"{a} + {b} = {a + b}. {a} - {b} = {a - b}. {a} * {b} = {a * b}. The answer is {a + b}. #### {a - b}")
        out.append(f"\\boxed{{{a}}} ({a}, {b}) [{b}] {{x: {a}}} <think> </think> Step {b % 9 + 1}: {a}/{b or 1}")
    return out


# Qwen2's pre-tokenization (transformers' Qwen2Tokenizer): words, single digits, punctuation runs, whitespace.
QWEN2_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def build_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 300, model_max_length: int = 2048,
                    split_digits: bool = True):
    """Train a byte-level BPE tokenizer on ``corpus`` and wrap it as a ``PreTrainedTokenizerFast``.

    It uses Qwen2's normalizer and pre-tokenizer (numbers split into single digits), because
    ``AutoTokenizer.from_pretrained`` reloads a folder holding a qwen2 ``config.json`` as a ``Qwen2Tokenizer``,
    which rebuilds that pipeline around the saved vocabulary and merges: training with the same pipeline makes
    the reloaded tokenizer encode exactly as the in-memory one (checked by :func:`tiny_lm`).

    ``split_digits=False`` gives plain byte-level BPE (whole numbers can become single tokens). Such a tokenizer must
    be reloaded with ``PreTrainedTokenizerFast.from_pretrained`` (or passed as an object), not ``AutoTokenizer``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = list(corpus) if corpus is not None else default_corpus()
    tok = Tokenizer(models.BPE())
    if split_digits:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|endoftext|>", "<|im_start|>"],
        model_max_length=model_max_length,
        padding_side="left",
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_model(tokenizer, arch: str = "qwen2", layers: int = 2, hidden: int = 16, heads: int = 4, kv_heads: int = 2,
                intermediate: int | None = None, max_position: int = 2048, seed: int = 0, tie_word_embeddings: bool = False):
    """Randomly initialised tiny causal LM sized to ``tokenizer``'s vocabulary."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    cls = {"qwen2": Qwen2Config, "llama": LlamaConfig}.get(arch)
    if cls is None:
        raise ValueError(f"unknown tiny arch {arch!r} (qwen2 or llama)")
    if hidden % heads or heads % kv_heads:
        raise ValueError("hidden must be divisible by heads and heads by kv_heads")
    cfg = cls(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate or 4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_position,
        tie_word_embeddings=tie_word_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def _cache_root() -> Path:
    return Path(os.environ.get("MLREPRO_CACHE", Path.home() / ".cache" / "mlrepro"))


def tiny_lm(arch: str = "qwen2", vocab: int = 300, layers: int = 2, hidden: int = 16, heads: int = 4, kv_heads: int = 2,
            seed: int = 0, corpus: Iterable[str] | None = None, cache_dir: str | os.PathLike | None = None,
            max_position: int = 2048) -> Path:
    """Build (or reuse) a tiny model + tokenizer folder and return its path (usable in place of a hub id)."""
    corpus = list(corpus) if corpus is not None else None
    key = json.dumps(["tok-v2", arch, vocab, layers, hidden, heads, kv_heads, seed, max_position,
                      hashlib.sha1("\n".join(corpus).encode()).hexdigest() if corpus else None])
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    root = Path(cache_dir) if cache_dir is not None else _cache_root() / "tiny_lm"
    path = root / f"{arch}-v{vocab}-l{layers}-h{hidden}-s{seed}-{digest}"
    if (path / "DONE").exists():
        return path
    tokenizer = build_tokenizer(corpus, vocab_size=vocab, model_max_length=max_position)
    model = build_model(tokenizer, arch=arch, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                        seed=seed, max_position=max_position)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    check_tokenizer_roundtrip(tokenizer, tmp)
    (tmp / "DONE").write_text(key + "\n")
    try:
        tmp.rename(path)
    except OSError:  # another process won the race
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return path


def check_tokenizer_roundtrip(tokenizer, path: str | os.PathLike, texts: Iterable[str] | None = None) -> None:
    """Raise if ``AutoTokenizer.from_pretrained(path)`` encodes ``texts`` differently from ``tokenizer`` (a model
    trained with one and sampled with the other would see unfamiliar tokens)."""
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(str(path))
    for t in texts or ["Ada has 14 apples. 14 + 3 = 17\n#### 17", "<|im_start|>user\nHi?<|im_end|>\n"]:
        a = tokenizer(t, add_special_tokens=False)["input_ids"]
        b = reloaded(t, add_special_tokens=False)["input_ids"]
        if a != b:
            raise RuntimeError(f"tokenizer saved at {path} reloads as {type(reloaded).__name__} and encodes "
                               f"{t!r} differently ({a} vs {b})")


def load_tiny(path: str | os.PathLike):
    """Load (model, tokenizer) from a folder made by :func:`tiny_lm` (no remote code)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=False)
    return model, tok
