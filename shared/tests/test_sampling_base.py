"""Sampling interface: params, scripted backend, backend table and ``auto`` resolution, env.json description."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import mlrepro.sampling as sampling
from mlrepro.sampling import (
    Completion,
    Sampler,
    SamplingParams,
    ScriptedSampler,
    apply_stop,
    describe_sampler,
    get_sampler,
    register_backend,
    resolve_backend,
    row_seed,
)


def test_params_validation():
    assert SamplingParams(temperature=0).greedy and not SamplingParams().greedy
    for bad in ({"n": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"max_new_tokens": 0}):
        with pytest.raises(ValueError):
            SamplingParams(**bad)


def test_apply_stop_and_row_seed():
    assert apply_stop("a STOP b END c", ["END", "STOP"]) == ("a ", True)
    assert apply_stop("abc", ["x", ""]) == ("abc", False)
    assert apply_stop("abc", None) == ("abc", False)
    assert row_seed(1, 2, 3) == row_seed(1, 2, 3)
    assert len({row_seed(s, i, j) for s in range(3) for i in range(3) for j in range(3)}) == 27
    assert 0 <= row_seed(123, 4, 5) < 2**63


def test_completion_num_tokens():
    assert Completion("a b", token_ids=[1, 2]).num_tokens == 2
    assert Completion("a b", n_tokens=7).num_tokens == 7
    assert Completion("").num_tokens == 0


def test_scripted_fn_responses_stop_and_length():
    s = ScriptedSampler(fn=lambda p, params, j: f"{p} #{j} END tail")
    out = s.generate(["x", "y"], SamplingParams(n=2, stop=["END"]))
    assert [[c.text for c in r] for r in out] == [["x #0 ", "x #1 "], ["y #0 ", "y #1 "]]
    assert all(c.finish_reason == "stop" for r in out for c in r)
    s = ScriptedSampler(responses=["one two three four", "five"])
    out = s.generate(["a", "b"], SamplingParams(max_new_tokens=2))
    assert out[0][0].text == "one two" and out[0][0].finish_reason == "length"
    assert out[1][0].text == "five" and out[1][0].finish_reason == "stop"
    assert isinstance(s, Sampler)
    with pytest.raises(ValueError):
        ScriptedSampler()


def test_backend_table_and_register(monkeypatch):
    assert {"scripted", "hf", "vllm", "openai"} <= set(sampling.available_backends())
    with pytest.raises(ValueError, match="unknown sampling backend"):
        get_sampler("nope")
    monkeypatch.setattr(sampling, "_BACKENDS", dict(sampling._BACKENDS))  # keep the global table clean
    register_backend("echo_test", lambda **kw: ScriptedSampler(fn=lambda p, params, j: str(p), **kw))
    s = get_sampler("echo_test")
    assert s.generate(["hi"], SamplingParams())[0][0].text == "hi"
    assert describe_sampler(s) == {"backend": "scripted", "source": "fn", "requested": "echo_test"}


def test_auto_resolution(monkeypatch):
    import torch

    real_find_spec = importlib.util.find_spec

    def fake_find_spec(name, *a, **k):
        return object() if name == "vllm" else real_find_spec(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto") == "vllm"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_backend("auto") == "hf"  # vllm importable but no CUDA
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name == "vllm" else real_find_spec(name))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto") == "hf"  # CUDA but no vllm
    assert resolve_backend("openai") == "openai"


def test_auto_records_choice(monkeypatch):
    # `auto` resolves to hf here (no vllm/CUDA); the built sampler remembers what was asked for
    monkeypatch.setitem(sampling._BACKENDS, "hf", lambda **kw: ScriptedSampler(responses=["x"]))
    monkeypatch.setattr(sampling, "resolve_backend", lambda b: "hf" if b == "auto" else b)
    s = get_sampler("auto")
    info = describe_sampler(s)
    assert info["requested"] == "auto" and info["backend"] == "scripted"
    json.dumps(info)


def test_import_is_light():
    code = ("import sys, mlrepro.sampling as s; s.ScriptedSampler(responses=['a']);"
            "print(sorted(m for m in ('torch', 'transformers', 'vllm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
