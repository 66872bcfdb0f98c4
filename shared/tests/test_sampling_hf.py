"""``hf`` backend on a tiny offline Qwen2 model: batching, n, stop strings, logprobs, seeds, chat prompts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from mlrepro.sampling import SamplingParams, describe_sampler, get_sampler, resolve_backend  # noqa: E402
from mlrepro.sampling.hf import HFSampler  # noqa: E402

PROMPTS = [
    "The answer is",
    "12 + 30 = 42. 7 * 6 =",
    "a",
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}],
    "Step 1: buy three apples and two books, then sell one box of coins",
]


def _build_inline(root):
    """Tiny Qwen2 + byte-level BPE tokenizer with a ChatML template, for when mlrepro.testing.tiny_lm is absent."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    corpus = [f"{a} + {b} = {a + b}. The answer is {a + b}. Step one, then two." for a in range(60) for b in range(5)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=special, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|pad|>",
                                   additional_special_tokens=["<|endoftext|>", "<|im_start|>"])
    fast.chat_template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
                          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(fast), hidden_size=16, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                         pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id))
    path = root / "inline-tiny-qwen2"
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine they cost 10x or more."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def tiny_path(request, tmp_path_factory):
    """The session's shared tiny Qwen2 (plugin fixture ``tiny_lm_path``), else one built inline."""
    try:
        from mlrepro.testing import tiny_lm  # noqa: F401
    except ImportError:
        return _build_inline(tmp_path_factory.mktemp("tiny_sampling"))
    return request.getfixturevalue("tiny_lm_path")


@pytest.fixture(scope="module")
def sampler(tiny_path):
    return HFSampler(tiny_path, device="cpu", batch_size=8)


def _ids(rows):
    return [[c.token_ids for c in r] for r in rows]


def test_shapes_greedy_n_and_length(sampler):
    out = sampler.generate(PROMPTS, SamplingParams(n=3, temperature=0, max_new_tokens=6))
    assert len(out) == len(PROMPTS) and all(len(r) == 3 for r in out)
    for r in out:
        assert r[0].token_ids == r[1].token_ids == r[2].token_ids  # greedy: n identical copies
        for c in r:
            assert c.finish_reason in ("stop", "length") and c.logprobs is None
            assert len(c.token_ids) <= 6 and isinstance(c.text, str)
            if c.finish_reason == "length":
                assert len(c.token_ids) == 6


def test_batched_equals_one_by_one_greedy(sampler, tiny_path):
    p = SamplingParams(temperature=0, max_new_tokens=10)
    batched = sampler.generate(PROMPTS, p)
    single = HFSampler(sampler.model, tokenizer=sampler.tokenizer, batch_size=1)
    one_by_one = [single.generate([q], p)[0] for q in PROMPTS]
    assert _ids(batched) == _ids(one_by_one)
    assert [r[0].text for r in batched] == [r[0].text for r in one_by_one]


def test_sampling_seeded_reproducible_and_batch_invariant(sampler):
    p = SamplingParams(n=4, temperature=1.0, max_new_tokens=8, seed=123)
    a = sampler.generate(PROMPTS, p)
    b = sampler.generate(PROMPTS, p)
    assert _ids(a) == _ids(b)
    small = HFSampler(sampler.model, tokenizer=sampler.tokenizer, batch_size=3)
    assert _ids(small.generate(PROMPTS, p)) == _ids(a)  # a sample depends on its seed, not its batch
    assert len({tuple(c.token_ids) for c in a[0]}) > 1  # the n samples differ
    c = sampler.generate(PROMPTS, SamplingParams(n=4, temperature=1.0, max_new_tokens=8, seed=124))
    assert _ids(c) != _ids(a)
    # seed=None draws from torch's global RNG, so seeding torch makes it reproducible too
    torch.manual_seed(7)
    d1 = sampler.generate(PROMPTS[:2], SamplingParams(n=2, max_new_tokens=6))
    torch.manual_seed(7)
    d2 = sampler.generate(PROMPTS[:2], SamplingParams(n=2, max_new_tokens=6))
    assert _ids(d1) == _ids(d2)


def test_top_k_1_and_tiny_top_p_are_greedy(sampler):
    g = sampler.generate(PROMPTS, SamplingParams(temperature=0, max_new_tokens=8))
    k1 = sampler.generate(PROMPTS, SamplingParams(temperature=1.5, top_k=1, max_new_tokens=8, seed=1))
    p0 = sampler.generate(PROMPTS, SamplingParams(temperature=1.5, top_p=1e-6, max_new_tokens=8, seed=2))
    assert _ids(k1) == _ids(g) == _ids(p0)


def test_stop_strings_cut_text_and_finish_reason(sampler):
    p = SamplingParams(temperature=0, max_new_tokens=16)
    full = sampler.generate(PROMPTS, p)
    checked = 0
    for prompt, row in zip(PROMPTS, full):
        text = row[0].text
        stop = text[len(text) // 2: len(text) // 2 + 2]
        if len(text) < 6 or not stop.strip():
            continue
        cut = sampler.generate([prompt], SamplingParams(temperature=0, max_new_tokens=16, stop=["@@never@@", stop]))[0][0]
        assert cut.finish_reason == "stop"
        assert cut.text == text[: text.find(stop)]
        assert stop not in cut.text
        assert len(cut.token_ids) < len(row[0].token_ids)
        assert cut.token_ids == row[0].token_ids[: len(cut.token_ids)]
        checked += 1
    assert checked >= 2


def test_eos_gives_stop(tiny_path):
    base = HFSampler(tiny_path, batch_size=4)
    g = base.generate(["The answer is"], SamplingParams(temperature=0, max_new_tokens=12))[0][0]
    tok3 = g.token_ids[2]
    k = g.token_ids.index(tok3)  # first occurrence
    s = HFSampler(base.model, tokenizer=base.tokenizer, eos_token_ids=[tok3])
    c = s.generate(["The answer is"], SamplingParams(temperature=0, max_new_tokens=12))[0][0]
    assert c.finish_reason == "stop" and c.token_ids == g.token_ids[: k + 1]


def test_logprobs_match_forward_pass(sampler):
    p = SamplingParams(n=2, temperature=0.8, top_k=50, max_new_tokens=7, seed=5, logprobs=True)
    out = sampler.generate(PROMPTS, p)
    model = sampler.model
    for prompt, row in zip(PROMPTS, out):
        pid = sampler.encode_prompt(prompt)
        for c in row:
            assert c.logprobs is not None and len(c.logprobs) == len(c.token_ids) > 0
            ids = torch.tensor([pid + c.token_ids])
            with torch.no_grad():
                logits = model(ids).logits[0, len(pid) - 1: -1].float()
            ref = logits.log_softmax(-1).gather(1, torch.tensor(c.token_ids)[:, None]).squeeze(1)
            assert torch.allclose(torch.tensor(c.logprobs), ref, atol=1e-4), (c.logprobs, ref.tolist())
            assert all(lp <= 0 for lp in c.logprobs)


def test_chat_template_applied_once(sampler):
    msgs = PROMPTS[3]
    ids = sampler.encode_prompt(msgs)
    text = sampler.tokenizer.decode(ids)
    assert text.count("<|im_start|>assistant") == 1 and text.count("<|im_start|>system") == 1
    templated = sampler.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert text == templated
    p = SamplingParams(temperature=0, max_new_tokens=6)
    assert _ids(sampler.generate([msgs], p)) == _ids(sampler.generate([templated], p))


def test_loaded_object_and_get_sampler(sampler, tiny_path):
    p = SamplingParams(temperature=0, max_new_tokens=5)
    s = get_sampler("hf", model=str(tiny_path), batch_size=2)
    assert _ids(s.generate(PROMPTS, p)) == _ids(sampler.generate(PROMPTS, p))
    info = describe_sampler(s)
    assert info["backend"] == "hf" and info["requested"] == "hf" and info["device"] == "cpu"
    assert info["dtype"] == "float32"
    if resolve_backend("auto") == "hf":
        auto = get_sampler("auto", model=sampler.model, tokenizer=sampler.tokenizer)
        assert isinstance(auto, HFSampler) and describe_sampler(auto)["requested"] == "auto"
    with pytest.raises(TypeError):
        sampler.generate("not a list", p)
