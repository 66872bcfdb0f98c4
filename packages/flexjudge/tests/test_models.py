"""Tiny models: the SFT mask and trl training, and the multimodal path end to end (images drawn here -> prompts ->
Qwen2.5-VL processor -> model -> parser). Structure and finiteness only; quality belongs to the mini recipe."""

import pytest
import torch
from mlrepro_flexjudge import curate as C
from mlrepro_flexjudge import data as D
from mlrepro_flexjudge import method as M
from mlrepro_flexjudge.inference import TextJudge, VLJudge
from mlrepro_flexjudge.prompts import pair_prompt, render_chatml, score_prompt
from mlrepro_flexjudge.tiny import build_judge_tokenizer, build_tiny_vl, load_vl, save_tiny_vl
from mlrepro_flexjudge.trainer import paper_accelerate_config, sft_train, tokenize_sft

from mlrepro.sampling import SamplingParams, get_sampler


@pytest.fixture(scope="module")
def world():
    torch.set_num_threads(1)
    recs = D.judgelm_world(60, seed=2)
    rows = D.generate_seed_traces(recs, D.make_teacher(noise=0.0), [SamplingParams(seed=13)], style="compact")
    ex, _ = C.curate(rows, n_pair=20, n_single=20, min_pair_tokens=0, min_single_tokens=0, rescale_fraction=0.5,
                     seed=0)
    train = [C.render_example(e, style="compact") for e in ex]
    tok = build_judge_tokenizer([r["prompt"] + r["completion"] for r in train], vocab_size=400)
    return train, tok


@pytest.fixture(scope="module")
def tiny(world):
    _, tok = world
    return build_tiny_vl(tok, hidden=32, layers=1, seed=0)


def test_mask_matches_prompt_completion_boundary(world):
    train, tok = world
    ex, stats = tokenize_sft(tok, train[:10])
    assert stats["no_template"] == 0 and stats["truncated"] == 0
    for r, e in zip(train[:10], ex):
        n_prompt = len(tok(r["prompt"], add_special_tokens=False)["input_ids"])
        assert e["labels"][:n_prompt] == [-100] * n_prompt          # everything up to "<|im_start|>assistant\n"
        assert e["labels"][n_prompt:] == e["input_ids"][n_prompt:]   # "<think>\n" ... "<|im_end|>" trained
        assert tok.decode(e["input_ids"][n_prompt:n_prompt + 1]) == "<think>"
    short, st = tokenize_sft(tok, train[:3], max_length=20)
    assert st["truncated"] == 3 and st["no_template"] == 3 and all(len(x["input_ids"]) == 20 for x in short)


def test_masked_positions_get_no_gradient(world, tiny):
    train, tok = world
    model, _ = tiny
    ex, _ = tokenize_sft(tok, train[:1])
    ids = torch.tensor([ex[0]["input_ids"]])
    labels = torch.tensor([ex[0]["labels"]])
    model.train()
    out = model(input_ids=ids)
    out.logits.retain_grad()
    loss = torch.nn.functional.cross_entropy(out.logits[0, :-1], labels[0, 1:], ignore_index=-100)
    loss.backward()
    g = out.logits.grad[0].abs().sum(-1)
    masked_next = (labels[0, 1:] == -100)
    assert torch.all(g[:-1][masked_next] == 0) and torch.all(g[:-1][~masked_next] > 0)
    model.zero_grad()
    model.eval()


def test_trl_sft_loss_falls(world, tmp_path, cpu_trainer_kwargs):
    train, tok = world
    model, _ = build_tiny_vl(tok, hidden=32, layers=1, seed=1)
    ex, _ = tokenize_sft(tok, train)
    args = dict(cpu_trainer_kwargs, learning_rate=5e-3, max_steps=25, per_device_train_batch_size=8,
                logging_steps=1, lr_scheduler_type="constant")
    args.pop("output_dir")
    res = sft_train(model, tok, ex, args, tmp_path / "t", max_length=256)
    losses = [h["loss"] for h in res["log_history"] if "loss" in h]
    assert res["steps"] == 25 and all(map(torch.isfinite, map(torch.tensor, losses)))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    # vision tower gets no gradient signal from text-only data: its weights are unchanged
    base, _ = build_tiny_vl(tok, hidden=32, layers=1, seed=1)
    assert torch.equal(model.model.visual.patch_embed.proj.weight, base.model.visual.patch_embed.proj.weight)


def test_images_flow_through_processor_model_and_parser(tiny, tmp_path):
    model, proc = tiny
    imgs = [D.draw_scene(k, size=56, seed=k) for k in (2, 5)]
    jp = pair_prompt("How many dots?", "2", "5", backbone="qwen2.5-vl", media=[("image", imgs[0])])
    jp2 = score_prompt("How many dots?", "5", backbone="qwen2.5-vl", media=[("image", imgs[1])])
    texts = [render_chatml(j.system, j.user) for j in (jp, jp2)]
    proc.tokenizer.padding_side = "left"
    enc = proc(text=texts, images=[jp.images()[0], jp2.images()[0]], padding=True, return_tensors="pt")
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    # 56x56 -> 4x4 patches of 14 -> 2x2 merge -> 4 tokens per image, one image per prompt
    assert (enc["input_ids"] == image_id).sum(1).tolist() == [4, 4]
    assert enc["pixel_values"].shape[0] == 2 * 16 and enc["image_grid_thw"].tolist() == [[1, 4, 4]] * 2
    with torch.no_grad():
        logits = model(**enc).logits
    assert torch.isfinite(logits).all()
    judge = VLJudge(model, proc, batch_size=2)
    outs = judge.judge([jp, jp2], SamplingParams(temperature=0.7, max_new_tokens=6, seed=3, n=2))
    assert [len(o) for o in outs] == [2, 2] and all(c.num_tokens <= 6 for o in outs for c in o)
    parsed = [M.parse_pair(outs[0][0].text), M.parse_score(outs[1][0].text)]
    assert parsed[0].value in ("A", "B", "C") and isinstance(parsed[1].value, int)
    # save / reload as a folder usable in place of a hub id (no video processor needed)
    path = save_tiny_vl(model, proc, tmp_path / "vl")
    m2, p2 = load_vl(path)
    enc2 = p2(text=texts[:1], images=[imgs[0]], return_tensors="pt")
    assert (enc2["input_ids"] == image_id).sum() == 4


def test_text_judge_with_hf_sampler(tiny):
    model, proc = tiny
    proc.tokenizer.padding_side = "left"
    judge = TextJudge(get_sampler("hf", model=model, tokenizer=proc.tokenizer, batch_size=4))
    outs = judge.judge([pair_prompt("q", "a", "b", style="compact")] * 3, SamplingParams(temperature=0, max_new_tokens=5))
    assert len(outs) == 3 and outs[0][0].text == outs[1][0].text


def test_paper_accelerate_config():
    cfg = paper_accelerate_config(4)
    ds = cfg["deepspeed_config"]
    assert ds["zero_stage"] == 3 and ds["offload_optimizer_device"] == "cpu"
    assert ds["offload_param_device"] == "none" and ds["zero3_init_flag"] is False and ds["zero3_save_16bit_model"]
    assert cfg["num_processes"] == 4 and cfg["mixed_precision"] == "bf16" and cfg["distributed_type"] == "DEEPSPEED"
