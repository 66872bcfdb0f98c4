"""Synthetic judge world, rule-based teacher through mlrepro.sampling, and the real loaders on test-written files."""

import json
import random

import numpy as np
import pytest
from mlrepro_flexjudge import curate as C
from mlrepro_flexjudge import data as D
from mlrepro_flexjudge import method as M

from mlrepro.sampling import SamplingParams


def test_world_is_seeded_and_labelled():
    a, b = D.judgelm_world(30, seed=3), D.judgelm_world(30, seed=3)
    assert a == b
    assert len({r["question"] for r in a}) == 30
    for r in a:
        assert r["ref"] == [D.REF_SCORES[c] for c in r["categories"]]
        for ans, cat in zip(r["answers"], r["categories"]):
            val = int(ans.rsplit("answer is ", 1)[1].rstrip("."))
            assert (val == r["gold_answer"]) == (cat in ("good", "bare_right"))
            assert ("=" in ans) == (cat in ("good", "slip"))


def test_eval_world_is_held_out_and_gold_is_right():
    train = D.judgelm_world(50, seed=1)
    ev = D.eval_world(20, 20, 10, 5, seed=9, exclude={r["question"] for r in train})
    assert not {r["question"] for v in ev.values() for r in v} & {r["question"] for r in train}
    assert all(r["gold"] == M.pair_from_scores(*r["ref"]) for r in ev["text_pair"])
    assert all(r["gold"] == C.rescale_score(r["ref"][0]) for r in ev["text_score"])
    assert all(sorted(r["gold"]) == ["A", "B", "C"] for r in ev["text_batch"])
    assert all("image_seed" in r for r in ev["image_pair"] + ev["image_score"])


def test_teacher_without_noise_matches_reference():
    recs = D.judgelm_world(60, seed=5)
    teacher = D.make_teacher(noise=0.0, malformed=0.0)
    rows = D.generate_seed_traces(recs, teacher, [SamplingParams(temperature=0.1, seed=13)], style="compact")
    assert all(C.passes_exact_match(r["text"], r["ref"]) for r in rows)
    assert all(r["prompt"].endswith("<|im_start|>assistant\n<think>\n") for r in rows)
    r = rows[0]
    assert "</think>" in r["text"] and r["n_tokens"] == len(r["text"].split())
    # each trace splits into an Assistant-1 part for the single-score conversion
    assert all(C.to_single_reasoning(M.split_think(x["text"])[0]) for x in rows)


def test_teacher_noise_and_seeds():
    recs = D.judgelm_world(200, seed=6)
    teacher = D.make_teacher(noise=0.3, malformed=0.1)
    rows = D.generate_seed_traces(recs, teacher, [SamplingParams(seed=13), SamplingParams(seed=79)])
    kept, stats = C.filter_exact_match(rows)
    assert 0.4 * len(rows) < stats["exact_match"] < 0.95 * len(rows)
    again = D.generate_seed_traces(recs, teacher, [SamplingParams(seed=13)])
    assert [r["text"] for r in again] == [r["text"] for r in rows[:200]]
    assert [r["text"] for r in rows[:200]] != [r["text"] for r in rows[200:]]


def test_solve_question():
    assert D.solve_question("Ada has 5 apples. Ada gets 2 more apples. Ada gives away 3 apples. How many?") == [
        (5, "+", 2, 7), (7, "-", 3, 4)]
    assert D.solve_question("nothing here") is None


def test_draw_scene():
    img = D.draw_scene(4, size=56, seed=1)
    assert img.size == (56, 56)
    arr = np.asarray(img)
    assert (arr.sum(-1) < 600).any()  # dots drawn
    assert np.array_equal(arr, np.asarray(D.draw_scene(4, size=56, seed=1)))


def test_load_judgelm_local(tmp_path):
    p = tmp_path / "judgelm.jsonl"
    rows = [{"question_id": 7, "question_body": "q", "answer1_body": "a", "answer2_body": "b", "score": [8.0, 3.0]}]
    p.write_text("\n".join(json.dumps(r) for r in rows))
    assert D.load_judgelm(str(p)) == [{"id": "7", "question": "q", "answer1": "a", "answer2": "b", "ref": [8, 3]}]


def test_load_vlrb_mjbench_genai_local(tmp_path):
    p = tmp_path / "vlrb.json"
    p.write_text(json.dumps([{"id": "x", "query": "q", "response": ["r0", "r1"], "image": None,
                              "human_ranking": [0, 1], "query_source": "RLAIF-V"}]))
    v = D.load_vlrb(str(p))
    assert v[0]["category"] == "hallucination" and v[0]["responses"] == ["r0", "r1"]
    assert D.vlrb_category("mmmu-pro_x") == "reasoning" and D.vlrb_category("wildvision") == "general"
    p = tmp_path / "mj.json"
    p.write_text(json.dumps([{"caption": "c", "image0": "i0", "image1": "i1", "label": 0}]))
    assert D.load_mjbench(str(p), "safety")[0]["split"] == "safety"
    p = tmp_path / "genai.jsonl"
    p.write_text(json.dumps({"source_prompt": "s", "target_prompt": "t", "instruct_prompt": "i", "source_image": "S",
                             "left_output_image": "L", "right_output_image": "R", "vote_type": "leftvote"}))
    g = D.load_genai(str(p), "image_edition")[0]
    assert (g["prompt"], g["a"], g["b"], g["source_image"]) == ("i", "L", "R", "S")
    p.write_text(json.dumps({"prompt": "p", "left_video": "l.mp4", "right_video": "r.mp4", "vote_type": "tievote"}))
    assert D.load_genai(str(p), "video_generation", video_folder="/v")[0]["a"] == "/v/l.mp4"


def test_load_mllm_judge_folder(tmp_path):
    d = tmp_path / "mllm" / "pair"
    d.mkdir(parents=True)
    (d / "COCO.json").write_text(json.dumps([{"image_path": "img/1.jpg", "instruction": "q", "answer1": "a",
                                              "answer2": "b", "human": "A"}]))
    items = D.load_mllm_judge(str(tmp_path / "mllm"), "pair")
    assert items[0]["answers"] == ["a", "b"] and items[0]["subset"] == "COCO"
    assert items[0]["image"].endswith("img/1.jpg")
    with pytest.raises(FileNotFoundError):
        D.load_mllm_judge(str(tmp_path / "nothing"), "pair")


def test_load_audio_items(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"audio": "x.wav", "mos": 3.5, "system": "sysA"}))
    assert D.load_audio_items(str(p)) == [{"id": "0", "audio": "x.wav", "score": 3.5, "system": "sysA"}]


def test_make_answer_categories():
    from mlrepro.tasks import make_problem

    p = make_problem(random.Random(0), 1, max_value=15, max_operand=3, kinds=("add", "sub"))
    for cat in D.CATEGORIES:
        a = D.make_answer(p, cat, random.Random(1))
        assert a.endswith(".") and "answer is" in a
    with pytest.raises(ValueError):
        D.make_answer(p, "great", random.Random(0))


def test_trace_diagnostics():
    it = D.eval_world(3, 0, 0, 0, seed=5)["text_pair"][0]
    rec = dict(it, answer1=it["answers"][0], answer2=it["answers"][1])
    t = D.teacher_reply(D.seed_prompt(rec, "compact"), 1, noise=0.0)
    d = D.trace_diagnostics(t, it)
    assert d["solve"] == [True] and all(d["copy"]) and all(d["diff"]) and all(d["verdict"]) and len(d["diff"]) == 2
    bad = t.replace("so it is wrong", "so it is correct")
    assert not all(D.trace_diagnostics(bad, it)["verdict"]) or "wrong" not in t
    assert D.trace_diagnostics("garbage", it) == {"solve": [False], "copy": [], "diff": [], "verdict": []}
