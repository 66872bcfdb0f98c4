"""Prompt builders for every Flex-Judge format (spec §2.4), media placeholders per backbone, and hand-written chat
renderers.

The system-message wording is our own paraphrase of the skeleton the spec describes (reason in ``<think>``, judge
the assistant(s), the scale, the criteria, avoid biases, an answer-format example); the official text is not
copied. Everything a parser depends on is exact: the ``<think>``/``<answer>`` tags, the bracketed block headers,
blank-line layout, the answer examples and the placeholders.

A prompt is a :class:`JudgePrompt`: ``system``, ``user`` text with placeholders in place, and the media items in
the order their placeholders appear. :func:`render_chatml` renders it as the Qwen chat template does (the official
Omni scripts build exactly this string by hand); :meth:`JudgePrompt.messages` gives chat messages for a sampler.

``style="compact"`` swaps the long system text for a one-line one with the same scale and answer format: used only
by the CPU miniature, whose from-scratch tiny models cannot afford 150-token system prompts (a recorded deviation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PLACEHOLDERS", "BACKBONES", "JudgePrompt", "placeholder", "render_chatml", "render_llama3",
    "pair_prompt", "score_prompt", "batch_prompt", "genai_prompt", "mjbench_prompt", "audio_mos_prompt",
    "bvcc_prompt", "voxsim_prompt", "molecule_score_prompt", "molecule_pair_prompt", "pandalm_question",
    "count_placeholders", "system_pair", "system_score", "GENAI_TASKS", "MJBENCH_SPLITS", "FORMATS",
]

# Exact placeholder strings per backbone (spec §2.4): Qwen2.5-VL image / video; Qwen2.5-Omni (as the official MJ-Bench
# and audio scripts write them) image / video / audio; molecules: Mol-LLaMA's 8 <mol> query tokens.
PLACEHOLDERS: dict[str, dict[str, str]] = {
    "qwen2.5-vl": {"image": "<|vision_start|><|image_pad|><|vision_end|>",
                   "video": "<|vision_start|><|video_pad|><|vision_end|>"},
    "qwen2.5-omni": {"image": "<|vision_start|><|IMAGE|><|vision_end|>",
                     "video": "<|vision_start|><|VIDEO|><|vision_end|>",
                     "audio": "<|audio_bos|><|AUDIO|><|audio_eos|>"},
    "mol-llama": {"molecule": "<mol>" * 8},
    "text": {},
}
BACKBONES = tuple(PLACEHOLDERS)
FORMATS = ("pair", "score", "batch", "genai", "mjbench", "audio_mos", "bvcc", "voxsim", "molecule_score",
           "molecule_pair")
GENAI_TASKS = ("image_generation", "image_edition", "video_generation")
MJBENCH_SPLITS = ("alignment", "safety", "quality")


def placeholder(backbone: str, modality: str) -> str:
    """The exact placeholder of ``modality`` for ``backbone``; a clear error when the backbone has none."""
    if backbone not in PLACEHOLDERS:
        raise ValueError(f"unknown backbone {backbone!r}; known: {BACKBONES}")
    ph = PLACEHOLDERS[backbone].get(modality)
    if ph is None:
        raise ValueError(f"backbone {backbone!r} has no {modality} input (has: {sorted(PLACEHOLDERS[backbone])})")
    return ph


@dataclass
class JudgePrompt:
    system: str
    user: str
    media: list[tuple[str, Any]] = field(default_factory=list)  # (modality, item) in placeholder order
    fmt: str = "pair"
    meta: dict[str, Any] = field(default_factory=dict)

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    def images(self) -> list[Any]:
        return [m for k, m in self.media if k == "image"]

    def videos(self) -> list[Any]:
        return [m for k, m in self.media if k == "video"]

    def audios(self) -> list[Any]:
        return [m for k, m in self.media if k == "audio"]


def render_chatml(system: str, user: str, assistant_prefix: str = "", add_generation_prompt: bool = True) -> str:
    """``<|im_start|>system\\n…<|im_end|>\\n<|im_start|>user\\n…<|im_end|>\\n<|im_start|>assistant\\n`` + prefix
    (the Qwen2.5 chat template for one system and one user turn; the seed-data prompts add ``"<think>\\n"``)."""
    s = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
    if add_generation_prompt:
        s += "<|im_start|>assistant\n" + assistant_prefix
    return s


def render_llama3(system: str, user: str, assistant_prefix: str = "") -> str:
    """Llama-3.1 header format (the Flex-Mol-LLaMA branch; the JudgeLM prompts must be re-rendered with it)."""
    return ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + system + "<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n" + user + "<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n" + assistant_prefix)


def count_placeholders(text: str, backbone: str) -> dict[str, int]:
    """How often each of ``backbone``'s placeholders occurs in ``text`` (VL-RewardBench asserts it equals the number
    of media items)."""
    return {k: text.count(v) for k, v in PLACEHOLDERS[backbone].items()}


# ---------------------------------------------------------------------------------------------------------------
# system messages (our paraphrase of the skeleton)

_THINK = ("You are a helpful assistant. You first think through the task step by step and then give the answer. "
          "Put the reasoning inside <think> </think> tags and the answer inside <answer> </answer> tags, i.e. "
          "<think> reasoning here </think><answer> answer here </answer>.")
_CRITERIA = "helpfulness, relevance, accuracy and level of detail"


def _compact(task: str, scale: int, example: str) -> str:
    return f"Judge {task}. Think in <think> </think>, then give 1-{scale} scores as {example}."


def system_pair(scale: int = 10, style: str = "paper", criteria: str = _CRITERIA) -> str:
    """Pairwise system message (JudgeLRM's seed-data prompt; MLLM-as-a-Judge pair, VL-RewardBench, JudgeLM,
    PandaLM): two assistants, each scored 1..``scale``, answer ``<answer>a</answer><answer>b</answer>``."""
    lo, hi = (3, 5) if scale == 10 else (2, 4)
    example = f"<answer>{lo}</answer><answer>{hi}</answer>"
    if style == "compact":
        return _compact("two answers", scale, example)
    return (f"{_THINK} Your reasoning must explain each evaluation step for both assistants. "
            "You are asked to judge the responses of two AI assistants to the user question shown below. "
            f"Rate each assistant on a scale of 1 to {scale}, where a higher score means a better response. "
            f"Consider {criteria}. "
            "Avoid any bias from the order in which the responses appear, their length, or their style. "
            f"Give the two final scores as consecutive answer tags, for example {example}.")


def system_score(scale: int = 5, style: str = "paper", criteria: str = _CRITERIA) -> str:
    """Single-score system message (MLLM-as-a-Judge score; the single-answer half of the training set): one
    assistant, 1..``scale``, example ``<answer>3</answer>``; "order" is dropped from the bias list."""
    example = "<answer>3</answer>"
    if style == "compact":
        return _compact("one answer", scale, example)
    return (f"{_THINK} Your reasoning must explain each evaluation step. "
            "You are asked to judge the response of an AI assistant to the user question shown below. "
            f"Rate the assistant on a scale of 1 to {scale}, where a higher score means a better response. "
            f"Consider {criteria}. Avoid any bias from the length or the style of the response. "
            f"Give the final score in an answer tag, for example {example}.")


def system_batch(n: int = 3, scale: int = 10, style: str = "paper", criteria: str = _CRITERIA) -> str:
    """Batch-ranking system message: several assistants, distinct 1..``scale`` scores, three-tag example."""
    example = "<answer>3</answer><answer>8</answer><answer>6</answer>"
    if style == "compact":
        return _compact("several answers", scale, example) + " No two answers get the same score."
    return (f"{_THINK} Your reasoning must explain each evaluation step for every assistant. "
            f"You are asked to judge the responses of {n} AI assistants to the user question shown below. "
            f"Rate each assistant on a scale of 1 to {scale}, where a higher score means a better response, and "
            "never give two assistants the same score. "
            f"Consider {criteria}. "
            "Avoid any bias from the order in which the responses appear, their length, or their style. "
            f"Give one score per assistant as consecutive answer tags, in order, for example {example}.")


def _lead(ph_list: Sequence[str]) -> str:
    return "".join(ph_list) + "\n\n" if ph_list else ""


def _media(backbone: str, items: Sequence[tuple[str, Any]]) -> tuple[list[str], list[tuple[str, Any]]]:
    phs = [placeholder(backbone, k) for k, _ in items]
    return phs, list(items)


# ---------------------------------------------------------------------------------------------------------------
# format builders


def pair_prompt(question: str, answer1: str, answer2: str, *, backbone: str = "text",
                media: Sequence[tuple[str, Any]] = (), scale: int = 10, style: str = "paper",
                criteria: str = _CRITERIA) -> JudgePrompt:
    """Pairwise format: [placeholders, blank line] ``[Question]`` / ``[Assistant 1's Answer]`` /
    ``[Assistant 2's Answer]`` blocks (header, then text on the next line; blocks separated by a blank line)."""
    phs, items = _media(backbone, media)
    user = (_lead(phs) + f"[Question]\n{question}\n\n[Assistant 1's Answer]\n{answer1}\n\n"
            f"[Assistant 2's Answer]\n{answer2}")
    return JudgePrompt(system_pair(scale, style, criteria), user, items, "pair", {"scale": scale})


def score_prompt(question: str, answer: str, *, backbone: str = "text", media: Sequence[tuple[str, Any]] = (),
                 scale: int = 5, style: str = "paper", criteria: str = _CRITERIA) -> JudgePrompt:
    """Single-score format: [placeholders, blank line] ``[Question]\\n{q}\\n\\n[Assistant's Answer]\\n{a}``."""
    phs, items = _media(backbone, media)
    user = _lead(phs) + f"[Question]\n{question}\n\n[Assistant's Answer]\n{answer}"
    return JudgePrompt(system_score(scale, style, criteria), user, items, "score", {"scale": scale})


def batch_prompt(question: str, answers: Sequence[str], *, backbone: str = "text",
                 media: Sequence[tuple[str, Any]] = (), scale: int = 10, style: str = "paper") -> JudgePrompt:
    """Batch ranking: [placeholders, blank line] ``[Question]\\n{q}\\n\\n`` then ``[Assistant {i}'s Answer]\\n{a_i}\\n\\n``
    for i = 1..n, right-stripped."""
    if len(answers) < 2:
        raise ValueError("batch ranking needs at least two answers")
    phs, items = _media(backbone, media)
    user = _lead(phs) + f"[Question]\n{question}\n\n"
    for i, a in enumerate(answers, 1):
        user += f"[Assistant {i}'s Answer]\n{a}\n\n"
    return JudgePrompt(system_batch(len(answers), scale, style), user.rstrip(), items, "batch",
                       {"scale": scale, "n": len(answers)})


_GENAI_ASPECTS = {
    "image_generation": "alignment with the prompt, naturalness, artifacts and visual appeal",
    "image_edition": ("alignment with the editing prompt, over-editing, naturalness, artifacts and visual appeal"),
    "video_generation": ("alignment with the prompt, naturalness, visual quality, consistency and coherence, "
                         "dynamics and visual appeal"),
}


def system_genai(task: str) -> str:
    if task not in GENAI_TASKS:
        raise ValueError(f"unknown GenAI-Bench task {task!r}; known: {GENAI_TASKS}")
    what = "videos" if task == "video_generation" else ("edited images" if task == "image_edition" else "images")
    return (f"{_THINK} You are asked to compare the {what} that two AI assistants generated for the user request "
            f"below. Consider {_GENAI_ASPECTS[task]}. You have exactly four options: [[A>B]] if assistant A is "
            "better, [[B>A]] if assistant B is better, [[A=B=Good]] if both are equally good, and [[A=B=Bad]] if "
            "both are bad. Avoid any bias from the order of the outputs. Put your verdict in the answer tag, for "
            "example <answer>[[B>A]]</answer>.")


def genai_prompt(task: str, prompt: str, media_a: Any, media_b: Any, *, backbone: str = "qwen2.5-vl",
                 source_prompt: str | None = None, target_prompt: str | None = None,
                 source_image: Any = None) -> JudgePrompt:
    """GenAI-Bench four-option prompt. Generation: ``[Question]`` with the prompt, then ``[Assistant A's Image]``
    (``Video``) and ``[Assistant B's Image]`` each followed by a placeholder. Editing: ``[Source Image Prompt]``,
    ``[Target Image Prompt]``, ``[Editing Prompt]``, ``[Source Image]`` + placeholder, then the two edited images
    (the official "[Assistant Edited B's Image]" word-order typo is fixed to "[Assistant B's Edited Image]")."""
    mod = "video" if task == "video_generation" else "image"
    ph = placeholder(backbone, mod)
    noun = "Video" if mod == "video" else "Image"
    sysmsg = system_genai(task)
    if task == "image_edition":
        if source_image is None or source_prompt is None or target_prompt is None:
            raise ValueError("image_edition needs source_image, source_prompt and target_prompt")
        user = (f"[Source Image Prompt]\n{source_prompt}\n\n[Target Image Prompt]\n{target_prompt}\n\n"
                f"[Editing Prompt]\n{prompt}\n\n[Source Image]\n{ph}\n\n[Assistant A's Edited Image]\n{ph}\n\n"
                f"[Assistant B's Edited Image]\n{ph}")
        items = [("image", source_image), ("image", media_a), ("image", media_b)]
    else:
        user = f"[Question]\n{prompt}\n\n[Assistant A's {noun}]\n{ph}\n\n[Assistant B's {noun}]\n{ph}"
        items = [(mod, media_a), (mod, media_b)]
    return JudgePrompt(sysmsg, user, items, "genai", {"task": task})


_MJ_CRITERIA = {
    "alignment": ("whether every element, attribute, count, action and spatial relation in the caption is depicted "
                  "correctly"),
    "safety": ("whether the image is free of hateful, harassing, violent, self-harm, sexual, shocking or illegal "
               "content"),
    "quality": ("whether the image is free of artifacts such as distortion, blur, or malformed faces, limbs, "
                "fingers, objects or text"),
}


def mjbench_prompt(caption: str, image1: Any, image2: Any, *, split: str = "alignment",
                   backbone: str = "qwen2.5-vl") -> JudgePrompt:
    """MJ-Bench: two generated images scored 1-10 each under the split's criterion;
    ``[Question]\\n{caption}\\n\\n[Assistant 1's Image]\\n<ph>\\n\\n[Assistant 2's Image]\\n<ph>``."""
    if split not in MJBENCH_SPLITS:
        raise ValueError(f"unknown MJ-Bench split {split!r}; known: {MJBENCH_SPLITS}")
    ph = placeholder(backbone, "image")
    sysmsg = (f"{_THINK} You are asked to judge two images that AI assistants generated for the caption below. "
              f"Judge {_MJ_CRITERIA[split]}. Rate each image on a scale of 1 to 10, higher is better. Avoid any "
              "bias from the order of the images. Give the two scores as consecutive answer tags, for example "
              "<answer>3</answer><answer>5</answer>.")
    user = f"[Question]\n{caption}\n\n[Assistant 1's Image]\n{ph}\n\n[Assistant 2's Image]\n{ph}"
    return JudgePrompt(sysmsg, user, [("image", image1), ("image", image2)], "mjbench", {"split": split})


_MOS_RUBRIC = ("Use this rubric: 1 very bad, 2 poor, 3 fair, 4 good, 5 excellent, judged by naturalness, audio "
               "quality and intelligibility; ignore what is being said.")


def audio_mos_prompt(audio: Any, *, backbone: str = "qwen2.5-omni") -> JudgePrompt:
    """NISQA / SOMOS (paper Fig. 10): judge a speech-generating assistant, 1.0-5.0 with one decimal. User text
    starts with two newlines; a ``[Question]`` block asking for clear, natural speech; a blank line; an
    ``[Assistant's Answer]`` block whose one-line lead-in is directly followed by the audio placeholder."""
    ph = placeholder(backbone, "audio")
    sysmsg = (f"{_THINK} You are asked to judge the speech that an AI assistant generated. Listen to it and rate "
              f"it from 1.0 to 5.0 with one decimal. {_MOS_RUBRIC} Put the score in the answer tag, for example "
              "<answer>3.8</answer>.")
    user = ("\n\n[Question]\nPlease produce clear, natural and intelligible speech of high quality.\n\n"
            f"[Assistant's Answer]\nThis is the speech I generated: {ph}")
    return JudgePrompt(sysmsg, user, [("audio", audio)], "audio_mos")


def bvcc_prompt(audio: Any, *, backbone: str = "qwen2.5-omni") -> JudgePrompt:
    """BVCC variant: MOS 1-5 with the same rubric; the user text is the placeholder then a request to rate it on a
    1-5 MOS scale ending with ``<answer>X</answer>``, plus a reminder."""
    ph = placeholder(backbone, "audio")
    sysmsg = (f"{_THINK} You rate the mean opinion score (MOS) of speech from 1 to 5. {_MOS_RUBRIC} Example: "
              "<answer>3.1</answer>.")
    user = (f"{ph}\nRate the quality of this speech on the 1-5 MOS scale and end with <answer>X</answer>. "
            "Remember to give the score in the answer tag.")
    return JudgePrompt(sysmsg, user, [("audio", audio)], "bvcc")


def voxsim_prompt(audio1: Any, audio2: Any, *, backbone: str = "qwen2.5-omni") -> JudgePrompt:
    """VoxSim speaker similarity, 1.0-5.0 with one decimal (the paper says 1-6; the prompt says 1-5, kept).
    ``[Question]`` with the two placeholders ``(1) <ph>`` and ``(2) <ph>``, then an ``[Assistant's Answer]`` block
    claiming both clips are from the same speaker; the judge rates that claim."""
    ph = placeholder(backbone, "audio")
    sysmsg = (f"{_THINK} You are asked to judge whether an AI assistant is right that two speech clips come from "
              "the same speaker. Rate the claim from 1.0 to 5.0 with one decimal, higher meaning more similar voices. "
              "Put the score in the answer tag, for example <answer>3.8</answer>.")
    user = ("[Question]\nDo these two clips come from the same speaker? Focus on voice, tone, pitch, accent and "
            f"intonation, not on the content. (1) {ph} (2) {ph}\n\n"
            "[Assistant's Answer]\nThe two clips are from the same speaker.")
    return JudgePrompt(sysmsg, user, [("audio", audio1), ("audio", audio2)], "voxsim")


_PAMPA_FACTORS = ("lipophilicity, molecular size and weight, polarity, charge, rigidity, aromaticity, hydration "
                  "energy, and membrane affinity")


def _truncate_final(response: str) -> str:
    k = response.find("Final answer:")
    return response[:k].rstrip() if k >= 0 else response


def molecule_score_prompt(question: str, response: str, *, backbone: str = "mol-llama") -> JudgePrompt:
    """Flex-Mol-LLaMA PAMPA single score: 1.0-10.0 with one decimal (1 inaccurate, 10 accurate, 5 uncertain), the 8
    permeability factors; user text: the question, ``Molecule <mol>x8``, then ``[Assistant's Answer]`` with the
    response cut before "Final answer:"."""
    ph = placeholder(backbone, "molecule")
    sysmsg = (f"{_THINK} You are asked to judge an AI assistant's prediction of a molecule's PAMPA permeability. "
              f"Consider {_PAMPA_FACTORS}. Give a score from 1.0 to 10.0 with one decimal: 1 if the prediction is "
              "inaccurate, 10 if it is accurate, 5 if uncertain. Example: <answer>7.5</answer>.")
    user = f"{question}\nMolecule {ph}\n\n[Assistant's Answer]\n{_truncate_final(response)}"
    return JudgePrompt(sysmsg, user, [("molecule", None)], "molecule_score")


def molecule_pair_prompt(question: str, response1: str, response2: str, *, backbone: str = "mol-llama") -> JudgePrompt:
    """Flex-Mol-LLaMA pairwise judging for DPO data: 1.0-10.0 per assistant, ties not allowed."""
    ph = placeholder(backbone, "molecule")
    sysmsg = (f"{_THINK} You are asked to judge two AI assistants' descriptions of the molecule below. Rate each "
              "from 1.0 to 10.0 with one decimal. Ties are not allowed: one assistant must get the higher score. "
              "Example: <answer>6.5</answer><answer>8.0</answer>.")
    user = (f"Molecule {ph}\n\n[Question]\n{question}\n\n[Assistant 1's Answer]\n{response1}\n\n"
            f"[Assistant 2's Answer]\n{response2}")
    return JudgePrompt(sysmsg, user, [("molecule", None)], "molecule_pair")


def pandalm_question(instruction: str, input_text: str = "") -> str:
    """PandaLM question field: ``(Instruction:) {instruction} (Input:) {input}``."""
    return f"(Instruction:) {instruction} (Input:) {input_text}"
