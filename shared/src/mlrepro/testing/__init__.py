"""Testing helpers: tiny offline LMs and tokenizers built in code, a loopback OpenAI-compatible endpoint
(``openai_stub``), and the pytest plugin (``mlrepro.testing.plugin``)."""

from .openai_stub import openai_stub
from .tiny import (
    CHATML_TEMPLATE,
    SPECIAL_TOKENS,
    build_model,
    build_tokenizer,
    check_tokenizer_roundtrip,
    default_corpus,
    load_tiny,
    tiny_lm,
)

__all__ = ["tiny_lm", "openai_stub", "check_tokenizer_roundtrip", "load_tiny", "build_tokenizer", "build_model", "default_corpus", "CHATML_TEMPLATE", "SPECIAL_TOKENS"]
