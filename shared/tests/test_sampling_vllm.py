"""``vllm`` backend. The mapping to vLLM is tested here against a stand-in ``vllm`` module (no GPU needed); the
real engine test is marked ``vllm`` and runs only where vllm and CUDA are present."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest

from mlrepro.sampling import SamplingParams, describe_sampler, get_sampler, row_seed
from mlrepro.sampling.vllm_backend import shard, to_vllm_params


@dataclass
class _Logprob:
    logprob: float


@dataclass
class _Out:
    index: int
    text: str
    token_ids: list[int]
    logprobs: list[dict] | None
    finish_reason: str


@dataclass
class _ReqOut:
    outputs: list[_Out] = field(default_factory=list)


def _fake_vllm():
    """A stand-in for the parts of vllm the backend touches (LLM, SamplingParams)."""
    mod = types.ModuleType("vllm")
    mod.__version__ = "0.0-fake"
    mod.calls = []

    class FakeSamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class FakeLLM:
        def __init__(self, **kw):
            mod.llm_kwargs = kw

        def generate(self, prompts, sps, use_tqdm=True):
            mod.calls.append((prompts, [sp.kw for sp in sps]))
            res = []
            for p, sp in zip(prompts, sps):
                ids = p["prompt_token_ids"]
                outs = []
                for i in reversed(range(sp.kw["n"])):  # out of order on purpose
                    toks = [ids[-1], 7 + i, 9]
                    lps = [{t: _Logprob(-0.1 * (k + 1)), 999: _Logprob(-9.0)} for k, t in enumerate(toks)]
                    outs.append(_Out(i, f"gen{i}", toks, lps if "logprobs" in sp.kw else None,
                                     "length" if sp.kw["max_tokens"] <= 3 else "stop"))
                res.append(_ReqOut(outs))
            return res

    mod.LLM = FakeLLM
    mod.SamplingParams = FakeSamplingParams
    return mod


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = _fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
    """A tokenizer folder with a chat template (no model weights needed by the fake engine)."""
    try:
        from mlrepro.testing import build_tokenizer
    except ImportError:
        pytest.skip("mlrepro.testing.build_tokenizer not available")
    path = tmp_path_factory.mktemp("vllm_tok")
    build_tokenizer().save_pretrained(path)
    return path


def test_to_vllm_params_mapping():
    p = SamplingParams(n=4, temperature=0.7, top_p=0.9, top_k=20, max_new_tokens=33, stop=["\n\n", ""], seed=1,
                       logprobs=True)
    assert to_vllm_params(p, 5) == {"n": 4, "temperature": 0.7, "top_p": 0.9, "top_k": 20, "max_tokens": 33,
                                    "stop": ["\n\n"], "seed": 5, "logprobs": 0}
    g = to_vllm_params(SamplingParams(n=3, temperature=0, top_k=-1), 5)
    assert g == {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 256}  # greedy: one request, no seed


def test_shard():
    assert shard(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shard(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    assert shard(0, 2) == [(0, 0), (0, 0)]


def test_engine_args_prompts_and_outputs(fake_vllm, tok_path):
    s = get_sampler("vllm", model=str(tok_path), tensor_parallel_size=2, gpu_memory_utilization=0.5,
                    max_model_len=1024, chat_template_kwargs={"enable_thinking": False})
    kw = fake_vllm.llm_kwargs
    assert kw["tensor_parallel_size"] == 2 and kw["gpu_memory_utilization"] == 0.5 and kw["max_model_len"] == 1024
    msgs = [{"role": "user", "content": "2 + 2?"}]
    out = s.generate(["The answer is", msgs], SamplingParams(n=2, temperature=1.0, max_new_tokens=8, seed=3,
                                                             logprobs=True))
    prompts, sps = fake_vllm.calls[-1]
    tok = s.tokenizer
    assert prompts[0]["prompt_token_ids"] == tok("The answer is")["input_ids"]
    templ = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert prompts[1]["prompt_token_ids"] == tok(templ, add_special_tokens=False)["input_ids"]
    assert tok.decode(prompts[1]["prompt_token_ids"]).count("<|im_start|>assistant") == 1
    assert [sp["seed"] for sp in sps] == [row_seed(3, 0, 0) % (2**31 - 1), row_seed(3, 1, 0) % (2**31 - 1)]
    assert [[c.text for c in r] for r in out] == [["gen0", "gen1"], ["gen0", "gen1"]]  # sorted by index
    c = out[1][1]
    assert c.token_ids == [prompts[1]["prompt_token_ids"][-1], 8, 9] and c.finish_reason == "stop"
    assert c.logprobs == pytest.approx([-0.1, -0.2, -0.3])
    info = describe_sampler(s)
    assert info["backend"] == "vllm" and info["requested"] == "vllm" and info["tensor_parallel_size"] == 2


def test_greedy_n_copies_and_length(fake_vllm, tok_path):
    s = get_sampler("vllm", model=str(tok_path))
    out = s.generate(["a", "b"], SamplingParams(n=3, temperature=0, max_new_tokens=3))
    _, sps = fake_vllm.calls[-1]
    assert all(sp["n"] == 1 and "seed" not in sp for sp in sps)
    assert all(len(r) == 3 and len({tuple(c.token_ids) for c in r}) == 1 for r in out)
    assert all(c.finish_reason == "length" and c.logprobs is None for r in out for c in r)


@pytest.mark.vllm
def test_real_vllm_matches_hf_greedy(tmp_path):
    """Real engine on a tiny model (head dim 64 for vLLM's attention kernels): greedy agrees with hf."""
    from mlrepro.testing import tiny_lm

    path = tiny_lm(arch="qwen2", hidden=256, heads=4, kv_heads=2, cache_dir=tmp_path)
    prompts = ["The answer is", [{"role": "user", "content": "What is 2 + 2?"}]]
    p = SamplingParams(n=2, temperature=0, max_new_tokens=8, logprobs=True)
    v = get_sampler("vllm", model=str(path), gpu_memory_utilization=0.3, max_model_len=512, dtype="float32",
                    enforce_eager=True)
    vout = v.generate(prompts, p)
    sampled = v.generate(prompts, SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=0))
    assert all(len(r) == 3 for r in sampled)
    v.close()
    del v
    h = get_sampler("hf", model=str(path), dtype="float32")
    hout = h.generate(prompts, p)
    # a random tiny model has near-tied logits: compare the first tokens and the logprobs loosely
    for vr, hr in zip(vout, hout):
        assert vr[0].token_ids[:3] == hr[0].token_ids[:3]
        assert vr[0].logprobs[:3] == pytest.approx(hr[0].logprobs[:3], abs=1e-2)
