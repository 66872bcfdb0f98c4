"""Evaluation runners on test-made records with scripted judges (exact expected metrics), and test-time scaling."""

import re

import numpy as np
import pytest
from mlrepro_flexjudge import evaluate as E
from mlrepro_flexjudge import method as M
from mlrepro_flexjudge.inference import TextJudge
from mlrepro_flexjudge.tts import budget_forced, majority_curve

from mlrepro.sampling import Completion, SamplingParams, get_sampler

P = SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=64)


def oracle(prompt, params, i):
    """Scores each shown answer 9 if it contains 'good', else 2 (reads the rendered prompt)."""
    user = prompt.split("<|im_start|>user\n", 1)[1].split("<|im_end|>")[0]
    answers = re.findall(r"\[Assistant(?: \d+| A| B)?'s (?:Answer|Image)\]\n(.*?)(?=\n\n\[|$)", user, re.S)
    return "<think>check</think>" + "".join(f"<answer>{9 if 'good' in a else 2}</answer>" for a in answers)


def test_vlrb_swaps_are_undone():
    items = [{"id": str(i), "question": "q", "responses": ["good one", "bad one"] if i % 2 == 0 else
              ["bad one", "good one"], "image": None, "human_ranking": [0, 1] if i % 2 == 0 else [1, 0],
              "category": ["general", "hallucination", "reasoning"][i % 3]} for i in range(12)]
    m, samples = E.eval_vlrb(TextJudge(get_sampler("scripted", fn=oracle)), items, P, runs=3)
    assert m["overall"] == 1.0 and m["macro"] == 1.0 and m["parse_fail_rate"] == 0.0
    assert any(s["swapped"] for s in samples) and not all(s["swapped"] for s in samples)
    bad = get_sampler("scripted", fn=lambda p, s, i: "<answer>5</answer><answer>5</answer>")
    m, _ = E.eval_vlrb(TextJudge(bad), items, P, runs=2)
    assert m["overall"] == 0.0  # ties are always wrong


def test_mjbench_reversed_run_flips():
    items = [{"id": str(i), "caption": "c", "image0": None, "image1": None, "label": 0} for i in range(4)]
    first = get_sampler("scripted", fn=lambda p, s, i: "<answer>8</answer><answer>3</answer>")  # position bias
    m, _ = E.eval_mjbench(TextJudge(first), items, P, image_size=None)
    assert m["w_tie"] == 0.5 and m["wo_tie"] == 0.5
    tie = get_sampler("scripted", fn=lambda p, s, i: "<answer>4</answer><answer>4</answer>")
    m, _ = E.eval_mjbench(TextJudge(tie), items, P, image_size=None)
    assert m["w_tie"] == 0.0 and np.isnan(m["wo_tie"])


def test_genai_accuracy_and_majority():
    items = [{"id": "0", "task": "image_generation", "prompt": "p", "a": None, "b": None, "vote_type": "leftvote"},
             {"id": "1", "task": "image_generation", "prompt": "p", "a": None, "b": None, "vote_type": "tievote"}]
    # run-major order: run0 item0, item1; run1 ...; run2 ...
    resp = ["<answer>[[A>B]]</answer>", "<answer>[[A=B=Good]]</answer>",
            "<answer>[[B>A]]</answer>", "nothing",
            "<answer>[[B<A]]</answer>", "<answer>[[A=B=Bad]]</answer>"]
    judge = TextJudge(get_sampler("scripted", responses=resp))
    m, _ = E.eval_genai(judge, items, P, runs=3, image_size=None)
    assert m["per_run"] == [1.0, 0.0, 0.5]
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["majority"] == 1.0  # item0: left, right, left -> left; item1: tie / None / bothbad -> first seen (tie)
    assert m["parse_fail_rate"] == pytest.approx(1 / 6)


def test_audio_fallback_and_system_level():
    items = [{"id": str(i), "audio": f"{i}.wav", "score": float(i + 1), "system": "s1" if i < 2 else "s2"}
             for i in range(3)]
    judge = TextJudge(get_sampler("scripted", responses=["<answer>1.0</answer>", "<answer>2.0</answer>", "none"]))
    m, _ = E.eval_audio(judge, items, P, kind="nisqa", audio_loader=lambda p: p,
                        system_means={"s1": 1.5, "s2": 3.0})
    assert m["lcc"] == pytest.approx(1.0) and m["parse_fail_rate"] == pytest.approx(1 / 3)
    assert m["mse"] == pytest.approx(0.0)  # fallback 3.0 equals the third gold
    judge = TextJudge(get_sampler("scripted", responses=["x", "y", "z"]))
    m, _ = E.eval_audio(judge, [dict(it, audio=("a", "b")) for it in items], P, kind="voxsim", audio_loader=lambda p: p)
    assert m["lcc"] == 0.0 and m["mse"] == pytest.approx(np.mean([(3.5 - g) ** 2 for g in (1, 2, 3)]))


def test_audio_loader_resamples(tmp_path):
    import soundfile as sf

    wav = np.stack([np.sin(np.linspace(0, 100, 8000)), np.zeros(8000)], 1).astype("float32")
    sf.write(tmp_path / "x.wav", wav, 8000)
    arr, sr = E.load_audio(str(tmp_path / "x.wav"))
    assert sr == 16000 and arr.dtype == np.int16 and abs(len(arr) - 16000) < 10


def test_text_judge_and_pampa():
    items = [{"id": "0", "question": "q", "answer1": "good", "answer2": "bad", "ref": [9, 2]},
             {"id": "1", "question": "q", "answer1": "bad", "answer2": "good", "ref": [2, 9]},
             {"id": "2", "question": "q", "answer1": "bad", "answer2": "bad", "ref": [3, 3]}]
    m, _ = E.eval_text_judge(TextJudge(get_sampler("scripted", fn=oracle)), items, P)
    assert m["agreement"] == 1.0 and m["f1"] == 1.0
    mol = [{"question": "q", "responses": ["r1", "r2", "r3"], "correct": [False, True, False]}]
    judge = TextJudge(get_sampler("scripted", responses=["<answer>3.0</answer>", "<answer>9.5</answer>", "x"]))
    r = E.pampa_best_of_n(judge, mol, P, trials=4)
    assert r["accuracy"] == 1.0 and r["parse_fail_rate"] == pytest.approx(1 / 3)


def _mllm_items():
    return [{"id": str(i), "subset": "s1" if i < 4 else "s2", "image": None, "question": "q",
             "answers": ["good" if i % 2 else "bad", "bad" if i % 2 else "good"], "human": "A" if i % 2 else "B"}
            for i in range(8)]


def test_mllm_judge_pair_both_aggregations():
    items = _mllm_items()
    judge = TextJudge(get_sampler("scripted", fn=oracle))
    for agg in ("paper", "code"):
        m, samples = E.eval_mllm_judge(judge, items, "pair", P, seeds=(0, 1, 2), aggregation=agg, image_size=None)
        assert m["w_tie"] == 1.0 and m["wo_tie"] == 1.0 and set(m["per_subset"]) == {"s1", "s2"}
        assert len(samples) == 24
    # one run in three says tie on everything: paper averages (2/3), code majority ignores it (1.0)
    def flaky(prompt, params, i):
        return "<answer>5</answer><answer>5</answer>" if params.seed == 1 else oracle(prompt, params, i)

    m_p, _ = E.eval_mllm_judge(TextJudge(get_sampler("scripted", fn=flaky)), items, "pair", P, aggregation="paper",
                               image_size=None)
    m_c, _ = E.eval_mllm_judge(TextJudge(get_sampler("scripted", fn=flaky)), items, "pair", P, aggregation="code",
                               image_size=None)
    assert m_p["w_tie"] == pytest.approx(2 / 3) and m_c["w_tie"] == 1.0
    assert m_p["other_aggregation"]["w_tie"] == 1.0 and m_c["other_aggregation"]["w_tie"] == pytest.approx(2 / 3)


def test_mllm_judge_score_and_batch():
    items = [{"id": str(i), "subset": "s", "image": None, "question": "q", "answers": ["good" if i % 2 else "bad"],
              "human": 5 if i % 2 else 1} for i in range(6)]
    m, _ = E.eval_mllm_judge(TextJudge(get_sampler("scripted", fn=oracle)), items, "score", P, seeds=(0,),
                             image_size=None)
    assert m["pearson"] == pytest.approx(1.0)
    batch = [{"id": "0", "subset": "s", "image": None, "question": "q", "answers": ["bad", "good", "bad x"],
              "human": "BCA"}]
    m, _ = E.eval_mllm_judge(TextJudge(get_sampler("scripted", fn=oracle)), batch, "batch", P, seeds=(0, 1),
                             image_size=None)
    assert m["levenshtein"] == 0.0  # scores 2, 9, 2 -> "BCA" (tie breaks to the later letter)


class StubJudge:
    """Continues a prefix deterministically: thinks twice before trying to stop, then answers."""

    def judge(self, prompts, params, prefixes=None):
        out = []
        for i, p in enumerate(prompts):
            prefix = prefixes[i] if prefixes else ""
            if params.stop:
                text, fin = (f"t{len(prefix)} ", "stop") if p % 3 else ("x" * 5, "length")
            else:
                text, fin = "</think><answer>4</answer><answer>1</answer>", "stop"
            out.append([Completion(text=text, finish_reason=fin)])
        return out


@pytest.mark.parametrize("n", [0, 1, 3])
def test_budget_forced_equals_pure_control_flow(n):
    prompts = list(range(6))
    res = budget_forced(StubJudge(), prompts, P, n)
    for i, r in enumerate(res):
        def gen(prefix, stop, i=i):
            c = StubJudge().judge([prompts[i]], SamplingParams(stop=stop), [prefix])[0][0]
            return c.text, c.finish_reason

        assert r == M.budget_force(gen, n)


def test_majority_curve_hand_values():
    texts = [["<answer>9</answer><answer>1</answer>", "<answer>1</answer><answer>9</answer>",
              "<answer>1</answer><answer>9</answer>"],
             ["<answer>9</answer><answer>1</answer>", "<answer>9</answer><answer>1</answer>", "x"]]
    curve = majority_curve(texts, ["B", "A"], lambda t: M.parse_pair(t).value, [1, 3])
    assert curve == {1: 0.5, 3: 1.0}
    scores = [["<answer>4</answer>", "<answer>5</answer>", "<answer>5</answer>"]]
    assert majority_curve(scores, [5], lambda t: M.parse_score(t).value, [1, 3], vote="mean",
                          correct=lambda v, g: round(v) == g) == {1: 0.0, 3: 1.0}
    with pytest.raises(ValueError):
        majority_curve(texts, ["B", "A"], lambda t: t, [5])
