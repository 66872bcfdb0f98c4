"""Data pipeline: prompt loading, generation through mlrepro.sampling, pairing, tokenization with prompt masking,
the concatenated batch."""

from __future__ import annotations

import json

import pytest
import torch
from mlrepro_distillm2 import data as D

from mlrepro.sampling import ScriptedSampler


@pytest.fixture(scope="module")
def tok(tiny_lm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm_path)


def test_extract_prompt_variants():
    assert D.extract_prompt({"prompt": "hi"}) == "hi"
    conv = [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "a"}]
    assert D.extract_prompt({"generated": conv}, "generated") == "q?"
    assert D.extract_prompt({"query": "2+2"}) == "2+2"
    assert D.extract_prompt({"other": 1}) is None


def test_load_prompts_from_file(tmp_path):
    rows = [{"generated": [{"role": "user", "content": f"prompt {i % 7}"}, {"role": "assistant", "content": "x"}]}
            for i in range(20)] + [{"generated": None}]
    f = tmp_path / "spin.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a = D.load_prompts(str(f), field="generated", seed=1)
    b = D.load_prompts(str(f), field="generated", seed=1)
    assert a == b and sorted(a) == sorted(f"prompt {i}" for i in range(7))  # deduplicated, seeded shuffle
    assert len(D.load_prompts(str(f), field="generated", limit=3)) == 3
    with pytest.raises(ValueError):
        D.load_prompts(str(f), field="missing")


def test_generate_responses_counts_empty_and_truncated():
    replies = {"a": "fine answer", "b": "", "c": "one two three four five six"}
    sampler = ScriptedSampler(fn=lambda p, params, i: replies[p[-1]["content"]])
    texts, stats = D.generate_responses(sampler, ["a", "b", "c"], D.GenerationConfig(max_new_tokens=4))
    assert texts[0] == "fine answer" and texts[1] == ""
    assert stats.to_dict() == {"n": 3, "empty": 1, "truncated": 1}


def test_pair_records_and_reformat():
    recs, dropped = D.pair_records(["p1", "p2", "p3"], ["t1", None, "t3"], ["s1", "s2", "  "])
    assert dropped == 2 and len(recs) == 1
    r = recs[0]
    assert r["chosen"] == [{"role": "user", "content": "p1"}, {"role": "assistant", "content": "t1"}]
    assert r["rejected"][-1] == {"role": "assistant", "content": "s1"}
    teacher = [{"prompt": "a", "generated_text": "ta"}, {"prompt": "b", "generated_text": "tb"},
               {"prompt": "c", "generated_text": "tc"}]
    student = [{"prompt": "b", "generated_text": "sb"}, {"prompt": "a", "generated_text": "sa"}]
    recs, dropped = D.reformat(teacher, student)
    assert [x["prompt"] for x in recs] == ["a", "b"] and dropped == 1
    train, test = D.split_train_test(list(range(10)), 3, held_out=False)
    assert test == [0, 1, 2] and len(train) == 10  # the code's test split is inside train
    train, test = D.split_train_test(list(range(10)), 3)
    assert len(train) == 7


def test_tokenize_pair_masks_prompt_and_ends_with_eot(tok):
    rec = D.pair_records(["What is 2+2?"], ["It is 4."], ["Maybe 5."])[0][0]
    f = D.tokenize_pair(tok, rec, max_length=None)
    prompt_text = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], tokenize=False,
                                          add_generation_prompt=True)
    assert tok.decode(f["prompt_ids"]) == prompt_text
    assert tok.decode(f["chosen_ids"]).startswith("It is 4.")
    assert tok.eos_token_id in f["chosen_ids"] and tok.eos_token_id in f["rejected_ids"]
    b = D.concatenated_batch([f], tok.pad_token_id)
    lab = b["labels"]
    n_p = len(f["prompt_ids"])
    assert (lab[:, :n_p] == D.IGNORE_INDEX).all()
    assert lab[0, n_p:n_p + len(f["chosen_ids"])].tolist() == f["chosen_ids"]
    # plain-string mode: prompt string, response + EOS
    f2 = D.tokenize_pair(tok, {"prompt": "2+2=", "chosen": "4", "rejected": "5"}, max_length=None, chat=False)
    assert f2["chosen_ids"][-1] == tok.eos_token_id


def test_tokenize_pair_truncation_keep_end(tok):
    long_prompt = " ".join(f"word{i}" for i in range(200))
    rec = D.pair_records([long_prompt], ["short answer " * 30], ["x"])[0][0]
    f = D.tokenize_pair(tok, rec, max_length=64, max_prompt_length=24)
    assert len(f["prompt_ids"]) == 24
    full = D.tokenize_pair(tok, rec, max_length=None)
    assert f["prompt_ids"] == full["prompt_ids"][-24:]  # keep_end: the generation prompt survives
    assert len(f["chosen_ids"]) == 64 - 24 and f["rejected_ids"] == full["rejected_ids"][:40]
    with pytest.raises(ValueError):
        D.tokenize_pair(tok, rec, max_length=10, max_prompt_length=10)


def test_add_bos(tok):
    class WithBos:
        def __init__(self, t):
            self.t = t
            self.bos_token_id = 5

        def __getattr__(self, k):
            return getattr(self.t, k)

        def __call__(self, *a, **k):
            return self.t(*a, **k)

    rec = {"prompt": "hi", "chosen": "a", "rejected": "b"}
    f = D.tokenize_pair(WithBos(tok), rec, max_length=None, chat=False)
    assert f["prompt_ids"][0] == 5
    f = D.tokenize_pair(WithBos(tok), rec, max_length=None, chat=False, add_bos=False)
    assert f["prompt_ids"][0] != 5


def test_concatenated_batch_matches_trl_collator():
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    feats = [{"prompt_ids": [1, 2, 3], "chosen_ids": [4, 5], "rejected_ids": [6]},
             {"prompt_ids": [7, 8], "chosen_ids": [9], "rejected_ids": [10, 11]}]
    ours = D.concatenated_batch(feats, pad_token_id=0)
    theirs = DataCollatorForPreference(pad_token_id=0)(feats)
    for k in ("input_ids", "attention_mask", "completion_mask"):
        assert torch.equal(ours[k], theirs[k]), k
    assert ours["labels"][0].tolist() == [-100, -100, -100, 4, 5]
    assert D.shift_labels(ours["labels"]).shape == (4, 4)
