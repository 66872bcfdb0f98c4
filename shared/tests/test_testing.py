import torch

from mlrepro.testing import load_tiny


def test_tiny_lm_builds_and_chats(tiny_lm_path):
    model, tok = load_tiny(tiny_lm_path)
    assert len(tok) == model.config.vocab_size
    assert model.config.hidden_size == 16 and model.config.num_hidden_layers == 2
    msgs = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "5"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n5<|im_end|>\n")
    enc = tok.apply_chat_template(msgs, return_assistant_tokens_mask=True, return_dict=True)
    assert sum(enc["assistant_masks"]) >= 2  # "5<|im_end|>" is trained, the rest is not
    ids = tok("12 + 345 = 357", return_tensors="pt").input_ids
    assert tok.decode(ids[0]) == "12 + 345 = 357"
    with torch.no_grad():
        out = model(ids)
    assert torch.isfinite(out.logits).all()


def test_tiny_lm_cached(tiny_lm_path):
    from mlrepro.testing import tiny_lm

    assert tiny_lm(cache_dir=tiny_lm_path.parent) == tiny_lm_path


def test_saved_tokenizer_reloads_identically(tmp_path):
    """A tiny model trained with the in-memory tokenizer must see the same tokens after AutoTokenizer reloads it."""
    from transformers import AutoTokenizer

    from mlrepro.testing import build_model, build_tokenizer, check_tokenizer_roundtrip

    corpus = [f"Ada has {i} apples. {i} + 3 = {i + 3}. The answer is {i + 3}." for i in range(200)]
    tok = build_tokenizer(corpus, vocab_size=320)
    build_model(tok).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    check_tokenizer_roundtrip(tok, tmp_path, corpus[:50])
    re = AutoTokenizer.from_pretrained(tmp_path)
    assert re.eos_token == "<|im_end|>" and re.pad_token == "<|pad|>" and re.chat_template == tok.chat_template
