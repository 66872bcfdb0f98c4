"""Prompt layout: golden strings for headers, blank lines, placeholders per backbone and their counts."""

import pytest
from mlrepro_flexjudge import prompts as P

VL_IMG = "<|vision_start|><|image_pad|><|vision_end|>"
VL_VID = "<|vision_start|><|video_pad|><|vision_end|>"
OMNI_IMG = "<|vision_start|><|IMAGE|><|vision_end|>"
OMNI_AUD = "<|audio_bos|><|AUDIO|><|audio_eos|>"


def test_pair_golden():
    jp = P.pair_prompt("Q", "A1", "A2")
    assert jp.user == "[Question]\nQ\n\n[Assistant 1's Answer]\nA1\n\n[Assistant 2's Answer]\nA2"
    assert "<answer>3</answer><answer>5</answer>" in jp.system and "1 to 10" in jp.system
    assert "<think>" in jp.system and "order" in jp.system
    img = P.pair_prompt("Q", "A1", "A2", backbone="qwen2.5-vl", media=[("image", "IMG")])
    assert img.user == VL_IMG + "\n\n" + jp.user
    assert img.images() == ["IMG"]


def test_score_golden_and_bias_list():
    jp = P.score_prompt("Q", "A", backbone="qwen2.5-vl", media=[("image", 1)])
    assert jp.user == VL_IMG + "\n\n[Question]\nQ\n\n[Assistant's Answer]\nA"
    assert "<answer>3</answer>" in jp.system and "1 to 5" in jp.system
    assert "order" not in jp.system  # "order" dropped from the bias list
    assert "an AI assistant" in jp.system


def test_batch_golden():
    jp = P.batch_prompt("Q", ["x", "y", "z", "w"])
    assert jp.user == ("[Question]\nQ\n\n[Assistant 1's Answer]\nx\n\n[Assistant 2's Answer]\ny\n\n"
                       "[Assistant 3's Answer]\nz\n\n[Assistant 4's Answer]\nw")
    assert "<answer>3</answer><answer>8</answer><answer>6</answer>" in jp.system
    assert "same score" in jp.system
    with pytest.raises(ValueError):
        P.batch_prompt("Q", ["only"])


def test_chatml_render():
    s = P.render_chatml("S", "U", assistant_prefix="<think>\n")
    assert s == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n<think>\n"
    assert P.render_chatml("S", "U", add_generation_prompt=False).endswith("U<|im_end|>\n")
    assert P.render_llama3("S", "U").endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


@pytest.mark.parametrize("task,ph,noun", [("image_generation", VL_IMG, "Image"), ("video_generation", VL_VID, "Video")])
def test_genai_generation(task, ph, noun):
    jp = P.genai_prompt(task, "a cat", "A", "B")
    assert jp.user == f"[Question]\na cat\n\n[Assistant A's {noun}]\n{ph}\n\n[Assistant B's {noun}]\n{ph}"
    for v in ("[[A>B]]", "[[B>A]]", "[[A=B=Good]]", "[[A=B=Bad]]", "<answer>[[B>A]]</answer>"):
        assert v in jp.system
    assert P.count_placeholders(jp.user + jp.system, "qwen2.5-vl")["video" if noun == "Video" else "image"] == 2


def test_genai_edit_layout():
    jp = P.genai_prompt("image_edition", "make it red", "A", "B", source_prompt="s", target_prompt="t",
                        source_image="S")
    assert jp.user == (f"[Source Image Prompt]\ns\n\n[Target Image Prompt]\nt\n\n[Editing Prompt]\nmake it red\n\n"
                       f"[Source Image]\n{VL_IMG}\n\n[Assistant A's Edited Image]\n{VL_IMG}\n\n"
                       f"[Assistant B's Edited Image]\n{VL_IMG}")
    assert jp.images() == ["S", "A", "B"]
    with pytest.raises(ValueError):
        P.genai_prompt("image_edition", "p", "A", "B")


@pytest.mark.parametrize("backbone,ph", [("qwen2.5-vl", VL_IMG), ("qwen2.5-omni", OMNI_IMG)])
def test_mjbench_placeholders(backbone, ph):
    jp = P.mjbench_prompt("cap", 1, 2, split="safety", backbone=backbone)
    assert jp.user == f"[Question]\ncap\n\n[Assistant 1's Image]\n{ph}\n\n[Assistant 2's Image]\n{ph}"
    assert jp.user.count(ph) == len(jp.images()) == 2
    with pytest.raises(ValueError):
        P.mjbench_prompt("cap", 1, 2, split="bias")


def test_audio_prompts():
    a = P.audio_mos_prompt("wav")
    assert a.user.startswith("\n\n[Question]\n") and a.user.endswith(OMNI_AUD)
    assert "\n\n[Assistant's Answer]\n" in a.user and "<answer>3.8</answer>" in a.system
    b = P.bvcc_prompt("wav")
    assert b.user.startswith(OMNI_AUD + "\n") and "<answer>X</answer>" in b.user and "<answer>3.1</answer>" in b.system
    v = P.voxsim_prompt("w1", "w2")
    assert f"(1) {OMNI_AUD} (2) {OMNI_AUD}" in v.user and v.audios() == ["w1", "w2"]
    assert "\n\n[Assistant's Answer]\n" in v.user
    with pytest.raises(ValueError):
        P.audio_mos_prompt("wav", backbone="qwen2.5-vl")  # Qwen2.5-VL has no audio input


def test_molecule_prompts():
    jp = P.molecule_score_prompt("Is it permeable?", "It is. Final answer: yes")
    assert "Molecule " + "<mol>" * 8 + "\n\n[Assistant's Answer]\nIt is." in jp.user
    assert "Final answer" not in jp.user
    assert "1.0 to 10.0" in jp.system and "lipophilicity" in jp.system
    pj = P.molecule_pair_prompt("Describe", "r1", "r2")
    assert "Ties are not allowed" in pj.system and "[Assistant 2's Answer]\nr2" in pj.user


def test_pandalm_and_placeholder_errors():
    assert P.pandalm_question("Do X", "data") == "(Instruction:) Do X (Input:) data"
    with pytest.raises(ValueError):
        P.placeholder("gpt", "image")
    assert P.count_placeholders(VL_IMG * 3, "qwen2.5-vl") == {"image": 3, "video": 0}


def test_compact_style_keeps_format():
    c = P.pair_prompt("Q", "a", "b", style="compact", scale=5)
    assert "1-5" in c.system and "<answer>2</answer><answer>4</answer>" in c.system and "<think>" in c.system
    assert c.user == P.pair_prompt("Q", "a", "b").user
