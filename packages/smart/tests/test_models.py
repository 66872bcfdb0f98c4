"""Step generation through mlrepro.sampling and the PRM scorer, on a fake sampler and the tiny offline LM."""

from __future__ import annotations

import math

import pytest
from mlrepro_smart.method import ConfidenceScorer, SearchParams, Step, StepRequest, search
from mlrepro_smart.models import (
    PRMScorer,
    PromptBuilder,
    SamplerStepGenerator,
    label_positions,
    prm_conversation,
)
from mlrepro_smart.reproduce import load_tokenizer

from mlrepro.sampling import Completion


class FakeSampler:
    """Returns canned completions in the mlrepro.sampling format; token id 99 is the end-of-sequence token."""

    name = "fake"
    eos_token_ids = [99]

    def __init__(self, completions):
        self.completions = completions
        self.prompts, self.params = [], []

    def generate(self, prompts, params):
        self.prompts += prompts
        self.params.append(params)
        return [[self.completions[i % len(self.completions)]] for i in range(len(prompts))]


def test_step_generator_maps_finish_reasons():
    comps = [Completion("1 + 2 = 3", [5, 6, 7], [-0.1, -0.2, -0.3], "stop"),  # stopped at the blank line
             Completion("\\boxed{3}", [8, 99], [-0.1, -0.05], "stop"),  # ended with EOS
             Completion("1 + 1 =", [5, 6], [-0.1, -0.1], "length"),
             Completion("", [4], [-0.1], "stop")]  # a blank step
    s = FakeSampler(comps)
    gen = SamplerStepGenerator(s, "slm", PromptBuilder("plain"), temperature=0.8, max_step_tokens=7,
                               max_final_tokens=9)
    steps = gen.generate_steps([StepRequest("q", "")] * 4, final=False, seed=3)
    assert [st.text for st in steps] == ["1 + 2 = 3\n\n", "\\boxed{3}", "1 + 1 =", "\n\n"]
    assert [st.finish_reason for st in steps] == ["step", "eos", "length", "empty"]
    assert [st.finished for st in steps] == [False, True, True, True]
    assert steps[0].n_tokens == 3 and steps[0].logprobs == [-0.1, -0.2, -0.3]
    p = s.params[-1]
    assert p.stop == ["\n\n"] and p.max_new_tokens == 7 and p.seed == 3 and p.logprobs and p.n == 1
    assert s.prompts[0] == "q\n"
    steps = gen.generate_steps([StepRequest("q", "a\n\n")], final=True, seed=4)
    assert s.params[-1].stop is None and s.params[-1].max_new_tokens == 9
    assert steps[0].finished and steps[0].finish_reason == "eos" and s.prompts[-1] == "q\na\n\n"
    assert gen.generate_steps([], final=False, seed=0) == []


def test_prompt_builder(tiny_lm_path):
    tok = load_tokenizer(str(tiny_lm_path))
    pb = PromptBuilder("chat", tok, system_prompt="Be brief.")
    text = pb("What is 2 + 2?", "Step 1\n\n")
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\nStep 1\n\n")
    assert PromptBuilder("plain", template="Q: {question}\nA: ")("x", "y") == "Q: x\nA: y"
    with pytest.raises(ValueError):
        PromptBuilder("chat")
    with pytest.raises(ValueError):
        PromptBuilder("plain", template="no placeholder")


def test_label_positions_point_at_plus(tiny_lm_path):
    tok = load_tokenizer(str(tiny_lm_path))
    steps = ["1 + 2 = 3", "3 - 1 = 2", "\\boxed{2}"]
    ids, pos = label_positions(tok, "1 + 2 - 1", steps)
    plus = tok.convert_tokens_to_ids("+")
    assert len(pos) == 3 and all(ids[p + 1] == plus for p in pos)
    text = tok.apply_chat_template(prm_conversation("1 + 2 - 1", steps), tokenize=False)
    assert text.count("<|im_start|>assistant\n+<|im_end|>") == 3
    assert text.startswith("<|im_start|>user\n1 + 2 - 1 1 + 2 = 3<|im_end|>")


@pytest.mark.parametrize("style", ["rlhflow", "math_shepherd"])
def test_prm_scorer_batched_equals_one_by_one(tiny_lm_path, style):
    import torch

    tok = load_tokenizer(str(tiny_lm_path))
    prm = PRMScorer(str(tiny_lm_path), tokenizer=tok, style=style, batch_size=3, device="cpu",
                    step_tag="#" if style == "math_shepherd" else "ки")
    sols = [["1 + 2 = 3\n\n", "\\boxed{3}"], ["4 - 1 = 3\n\n"], ["2 + 2 = 5\n\n", "5 + 1 = 6\n\n", "\\boxed{6}"],
            ["9 - 9 = 0\n\n"]]
    qs = ["1 + 2", "4 - 1", "2 + 2 + 1", "9 - 9"]
    batched = prm.score(qs, [[Step(s, 1) for s in sol] for sol in sols])
    assert [len(x) for x in batched] == [2, 1, 3, 1]
    for q, sol, got in zip(qs, sols, batched):
        ids, pos = prm.encode(q, [s for s in sol])
        with torch.inference_mode():
            logits = prm.model(input_ids=torch.tensor([ids])).logits[0]
        want = [torch.softmax(logits[p, [prm.good_id, prm.bad_id]], -1)[0].item() for p in pos]
        assert got == pytest.approx(want, abs=1e-5)
        assert all(0 < x < 1 and math.isfinite(x) for x in got)
    assert prm.score(["q"], [[]]) == [[]]


def test_hf_step_generation_and_search_on_tiny_lm(tiny_lm_path):
    from mlrepro.sampling import get_sampler

    tok = load_tokenizer(str(tiny_lm_path))
    s1 = get_sampler("hf", model=str(tiny_lm_path), tokenizer=tok, batch_size=8)
    gen = SamplerStepGenerator(s1, "slm", PromptBuilder("chat", tok), max_step_tokens=5, max_final_tokens=5)
    steps = gen.generate_steps([StepRequest("1 + 1", ""), StepRequest("2 + 2", "4\n\n")], final=False, seed=0)
    assert len(steps) == 2
    for st in steps:
        assert 1 <= st.n_tokens <= 5 and len(st.logprobs) == st.n_tokens
        assert all(lp <= 1e-6 for lp in st.logprobs)
    again = gen.generate_steps([StepRequest("1 + 1", ""), StepRequest("2 + 2", "4\n\n")], final=False, seed=0)
    assert [a.text for a in again] == [b.text for b in steps]  # seeded
    llm = SamplerStepGenerator(s1, "llm", PromptBuilder("chat", tok), max_step_tokens=5, max_final_tokens=5)
    res = search(["1 + 1", "3 - 2"], gen, ConfidenceScorer(), SearchParams(n=2, tau=1.01, num_iterations=2),
                 helper=llm, seed=0)
    for r in res:
        assert len(r.completions) == 2 and r.generated_tokens["slm"] > 0
        assert all(0 <= x <= 1 for x in r.scores)


def test_world_tokenizer_round_trip_in_a_qwen2_folder(tmp_path):
    from mlrepro_smart.trainer import build_world_tokenizer

    from mlrepro.testing import build_model

    tok = build_world_tokenizer(["12 + 3 = 15\n\n15 - 2 = 13\n\n\\boxed{13}"] * 30, 300)
    assert tok.tokenize("12 + 3 = 15") == ["12", "Ġ+", "Ġ3", "Ġ=", "Ġ15"]  # numbers are single tokens
    build_model(tok, layers=1, hidden=8, heads=2, kv_heads=1).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again = load_tokenizer(str(tmp_path))
    text = "<|im_start|>user\n12 + 3<|im_end|>\n15 - 2 = 13\n\n"
    assert again(text)["input_ids"] == tok(text)["input_ids"]
