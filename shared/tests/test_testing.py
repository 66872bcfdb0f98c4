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


def test_openai_stub_serves_the_openai_backend(monkeypatch):
    from mlrepro.sampling import SamplingParams, get_sampler
    from mlrepro.testing import openai_stub

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    bodies = []

    def reply(body):
        bodies.append(body)
        return "same" if body["messages"][-1]["content"] == "a" else ["x", "y"]

    with openai_stub(reply, usage_tokens=7) as url:
        s = get_sampler("openai", model="m", base_url=url, max_retries=0)
        out = s.generate(["a", "b"], SamplingParams(n=2, temperature=0.5, max_new_tokens=4))
        one = s.generate(["a"], SamplingParams(n=1, temperature=0.0, max_new_tokens=4))
    assert [[c.text for c in row] for row in out] == [["same", "same"], ["x", "y"]]
    assert one[0][0].text == "same" and one[0][0].n_tokens == 7
    assert {b["model"] for b in bodies} == {"m"}
